//! Zipkin B3 propagation, single header (`b3: {trace}-{span}-{sampled}`) and multiple
//! headers (`X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled`, `X-B3-Flags`), written here because
//! the OpenTelemetry Rust family ships it only inside the Zipkin exporter crate.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;
use std::sync::OnceLock;

const B3: &str = "b3";
const TRACE_ID: &str = "x-b3-traceid";
const SPAN_ID: &str = "x-b3-spanid";
const SAMPLED: &str = "x-b3-sampled";
const FLAGS: &str = "x-b3-flags";

/// B3 in one header (`single`) or several.
#[derive(Clone, Copy, Debug)]
pub(crate) struct B3Propagator {
    single: bool,
}

impl B3Propagator {
    pub(crate) fn single() -> Self {
        B3Propagator { single: true }
    }
    pub(crate) fn multi() -> Self {
        B3Propagator { single: false }
    }
}

/// A 16- or 32-digit lowercase-or-uppercase hex trace id (16 digits are left-padded).
fn trace_id(s: &str) -> Option<TraceId> {
    if !(s.len() == 16 || s.len() == 32) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    TraceId::from_hex(s).ok().filter(|t| *t != TraceId::INVALID)
}

fn span_id(s: &str) -> Option<SpanId> {
    if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    SpanId::from_hex(s).ok().filter(|s| *s != SpanId::INVALID)
}

/// `1`, `true` and debug (`d`) sample; `0`, `false` do not; anything else is malformed.
fn sampled(s: &str) -> Option<bool> {
    match s {
        "1" | "d" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

fn remote(trace: TraceId, span: SpanId, sampled: bool) -> SpanContext {
    let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
    SpanContext::new(trace, span, flags, true, TraceState::default())
}

impl B3Propagator {
    fn extract_single(&self, value: &str) -> Option<SpanContext> {
        if value.len() > 128 {
            return None;
        }
        let mut parts = value.split('-');
        let trace = trace_id(parts.next()?)?;
        let span = span_id(parts.next()?)?;
        let is_sampled = match parts.next() {
            Some(s) => sampled(s)?,
            None => true,
        };
        // A fourth part is the parent span id; nothing may follow it.
        if let Some(parent) = parts.next() {
            span_id(parent)?;
        }
        if parts.next().is_some() {
            return None;
        }
        Some(remote(trace, span, is_sampled))
    }

    fn extract_multi(&self, ex: &dyn Extractor) -> Option<SpanContext> {
        let trace = trace_id(ex.get(TRACE_ID)?.trim())?;
        let span = span_id(ex.get(SPAN_ID)?.trim())?;
        let debug = ex.get(FLAGS).map(str::trim) == Some("1");
        let is_sampled = match ex.get(SAMPLED) {
            Some(s) => sampled(s.trim())?,
            None => true,
        };
        Some(remote(trace, span, debug || is_sampled))
    }
}

impl TextMapPropagator for B3Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let sc = span.span_context();
        if !sc.is_valid() {
            return;
        }
        let flag = if sc.is_sampled() { "1" } else { "0" };
        if self.single {
            injector.set(B3, format!("{}-{}-{flag}", sc.trace_id(), sc.span_id()));
        } else {
            injector.set(TRACE_ID, sc.trace_id().to_string());
            injector.set(SPAN_ID, sc.span_id().to_string());
            injector.set(SAMPLED, flag.to_string());
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        // Either header form is read, whichever this propagator writes: senders differ.
        let found =
            extractor.get(B3).and_then(|v| self.extract_single(v.trim())).or_else(|| self.extract_multi(extractor));
        match found {
            Some(sc) => cx.with_remote_span_context(sc),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> opentelemetry::propagation::text_map_propagator::FieldIter<'_> {
        static SINGLE: OnceLock<Vec<String>> = OnceLock::new();
        static MULTI: OnceLock<Vec<String>> = OnceLock::new();
        let fields = match self.single {
            true => SINGLE.get_or_init(|| vec![B3.to_string()]),
            false => MULTI.get_or_init(|| [TRACE_ID, SPAN_ID, SAMPLED].map(String::from).to_vec()),
        };
        opentelemetry::propagation::text_map_propagator::FieldIter::new(fields)
    }
}
