//! The trace-context seam of the mesh: an envelope's trace header is a
//! [`Carrier`] in its binary encoding (W3C trace context plus bounded
//! baggage; see `docs/mesh.md`), at most [`MAX_TRACE`] bytes.

use super::envelope::MAX_TRACE;
use crate::trace::Carrier;
use opentelemetry::Context;

// Every carrier the trace module can encode fits in the header.
const _: () = assert!(MAX_TRACE >= crate::trace::MAX_ENCODED_LEN);

/// `cx` as a trace header: empty when it holds no span context and no baggage.
pub fn inject(cx: &Context) -> Vec<u8> {
    Carrier::from_context(cx).encode()
}

/// The carrier a received trace header holds. Malformed, oversized or hostile headers give an
/// empty carrier (whatever continues from it is a fresh root), never an error.
pub fn extract(header: &[u8]) -> Carrier {
    if header.is_empty() || header.len() > MAX_TRACE {
        return Carrier::default();
    }
    Carrier::decode_or_empty(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

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
        let header = inject(&remote());
        assert!(!header.is_empty() && header.len() <= MAX_TRACE);
        let back = extract(&header).context();
        assert_eq!(back.span().span_context().trace_id(), remote().span().span_context().trace_id());
        assert!(back.span().span_context().is_remote());
        for garbage in [&b"\xff\xfe"[..], b"traceparent", &[1u8; 40], &[7u8; MAX_TRACE + 1]] {
            assert!(!extract(garbage).context().span().span_context().is_valid(), "{garbage:?}");
        }
    }
}
