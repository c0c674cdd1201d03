//! The HTTP propagator `OTEL_PROPAGATORS` selects: [`build`] makes it, [`install`] makes it
//! the one [`http`] returns and the OpenTelemetry global (so third-party crates that inject
//! through the global, e.g. `reqwest-tracing`, write the same headers).
//!
//! ```
//! use std::collections::HashMap;
//! use bitcraps_otel::config::Propagator;
//! use bitcraps_otel::trace::propagators;
//! use opentelemetry::propagation::TextMapPropagator;
//! use opentelemetry::trace::TraceContextExt;
//!
//! let b3 = propagators::build(&[Propagator::B3]);
//! let mut headers = HashMap::new();
//! headers.insert("b3".to_string(), "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1".to_string());
//! let cx = b3.extract(&headers);
//! assert_eq!(cx.span().span_context().trace_id().to_string(), "80f198ee56343ba864fe8b2a57d3eff7");
//! ```

use super::b3::B3Propagator;
use crate::config::Propagator;
use opentelemetry::propagation::{Extractor, Injector, TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use std::sync::{Arc, RwLock};

/// A propagator, shareable.
pub type SharedPropagator = Arc<dyn TextMapPropagator + Send + Sync>;

/// The composite propagator for `list` (in order); an empty list propagates nothing.
pub fn build(list: &[Propagator]) -> TextMapCompositePropagator {
    let parts = list
        .iter()
        .map(|p| -> Box<dyn TextMapPropagator + Send + Sync> {
            match p {
                Propagator::TraceContext => Box::new(StrictTraceContext(TraceContextPropagator::new())),
                Propagator::Baggage => Box::new(BaggagePropagator::new()),
                Propagator::B3 => Box::new(B3Propagator::single()),
                Propagator::B3Multi => Box::new(B3Propagator::multi()),
            }
        })
        .collect();
    TextMapCompositePropagator::new(parts)
}

static CURRENT: RwLock<Option<SharedPropagator>> = RwLock::new(None);

/// Makes `list` the propagator [`http`] returns and the OpenTelemetry global one.
pub fn install(list: &[Propagator]) {
    let shared: SharedPropagator = Arc::new(build(list));
    *CURRENT.write().unwrap_or_else(|e| e.into_inner()) = Some(shared);
    opentelemetry::global::set_text_map_propagator(build(list));
}

/// The propagator the HTTP middleware and [`crate::logging::propagation`] use: the installed
/// one, else `tracecontext,baggage`.
pub fn http() -> SharedPropagator {
    if let Some(p) = CURRENT.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return p.clone();
    }
    Arc::new(build(Propagator::DEFAULT))
}

/// The SDK's W3C propagator behind a check of the `traceparent` grammar: the SDK accepts ids
/// shorter than the specification's 32 and 16 hex digits (it parses them as numbers), which
/// would let a malformed header pick a trace.
#[derive(Debug)]
struct StrictTraceContext(TraceContextPropagator);

/// `traceparent` as W3C Trace Context level 1 defines it: `vv-{32 hex}-{16 hex}-ff`, lowercase,
/// version `ff` forbidden, and nothing after the flags in version `00`.
fn valid_traceparent(value: &str) -> bool {
    let lower_hex =
        |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let parts: Vec<&str> = value.trim().splitn(5, '-').collect();
    let [version, trace, span, flags, rest @ ..] = parts.as_slice() else { return false };
    lower_hex(version, 2)
        && *version != "ff"
        && (*version != "00" || rest.is_empty())
        && lower_hex(trace, 32)
        && lower_hex(span, 16)
        && lower_hex(flags, 2)
}

impl TextMapPropagator for StrictTraceContext {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        self.0.inject_context(cx, injector);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match extractor.get("traceparent") {
            Some(v) if valid_traceparent(v) => self.0.extract_with_context(cx, extractor),
            _ => cx.clone(),
        }
    }

    fn fields(&self) -> opentelemetry::propagation::text_map_propagator::FieldIter<'_> {
        self.0.fields()
    }
}
