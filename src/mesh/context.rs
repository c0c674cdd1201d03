//! The trace-context seam of the mesh: what goes into an envelope's trace header on send, and
//! the context it continues on receive. Encoded as `key=value` lines through the globally
//! installed text-map propagator (W3C `traceparent`/`tracestate` by default), at most
//! [`MAX_TRACE`](super::envelope::MAX_TRACE) bytes.

use super::envelope::MAX_TRACE;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::Context;
use std::collections::BTreeMap;

/// The current context as a trace header; empty when there is nothing to carry or the
/// propagator's fields do not fit in [`MAX_TRACE`] bytes (the message then starts a new trace).
pub fn inject_current() -> Vec<u8> {
    inject(&Context::current())
}

/// `cx` as a trace header (see [`inject_current`]).
pub fn inject(cx: &Context) -> Vec<u8> {
    let mut fields = Fields::default();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(cx, &mut fields));
    let mut out = Vec::new();
    for (k, v) in &fields.0 {
        // A key or value with a separator in it cannot be carried unambiguously.
        if k.contains(['=', '\n']) || v.contains('\n') {
            continue;
        }
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
        out.push(b'\n');
    }
    if out.len() > MAX_TRACE {
        return Vec::new();
    }
    out
}

/// The context a received trace header continues. Malformed, oversized or empty headers give
/// a context with no remote parent (a fresh root), never an error.
pub fn extract(header: &[u8]) -> Context {
    let fields = parse(header).unwrap_or_default();
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&fields))
}

/// The fields of a header; `None` when it is not `key=value` lines of UTF-8.
fn parse(header: &[u8]) -> Option<Fields> {
    if header.len() > MAX_TRACE {
        return None;
    }
    let text = std::str::from_utf8(header).ok()?;
    let mut fields = Fields::default();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (k, v) = line.split_once('=')?;
        fields.0.insert(k.to_ascii_lowercase(), v.to_string());
    }
    Some(fields)
}

/// Propagator fields by lower-case name.
#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Injector for Fields {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_ascii_lowercase(), value);
    }
}

impl Extractor for Fields {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(&key.to_ascii_lowercase()).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    fn remote() -> Context {
        let sc = SpanContext::new(
            TraceId::from(0x0af7651916cd43dd8448eb211c80319c_u128),
            SpanId::from(0xb7ad6b7169203331_u64),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        Context::new().with_remote_span_context(sc)
    }

    #[test]
    fn a_context_survives_the_header_and_garbage_gives_a_fresh_root() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let header = inject(&remote());
        assert!(header.starts_with(b"traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
        let back = extract(&header);
        assert_eq!(back.span().span_context().trace_id(), remote().span().span_context().trace_id());
        assert!(back.span().span_context().is_remote());
        for garbage in [&b"\xff\xfe"[..], b"traceparent", b"traceparent=zz", &[b'a'; MAX_TRACE + 1]] {
            assert!(!extract(garbage).span().span_context().is_valid(), "{garbage:?}");
        }
        assert!(inject(&Context::new()).is_empty());
    }
}
