//! The SDK's own share of an instrumented request: the span the HTTP layer makes, made
//! directly. Shared by the HTTP layer bench and the HTTP peer bench (included with `#[path]`).

use opentelemetry::trace::{Span as _, SpanKind, Tracer as _, TracerProvider as _};
use opentelemetry::{global, InstrumentationScope, KeyValue};

/// What the SDK alone costs for the layer's span: the global tracer (as the layer gets it),
/// a SERVER span with the same name, parent and attributes, its status code, its end. No
/// router, no propagator, no context: the floor under `layer_sampled_span`'s extra time.
#[inline(never)]
pub fn sdk_span_alone(parent: &opentelemetry::Context, scope: &InstrumentationScope) {
    let tracer = global::tracer_provider().tracer_with_scope(scope.clone());
    let mut span = tracer
        .span_builder("GET /games/{id}")
        .with_kind(SpanKind::Server)
        .with_attributes(vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.route", "/games/{id}"),
            KeyValue::new("url.path", String::from("/games/7")),
        ])
        .start_with_context(&tracer, parent);
    span.set_attribute(KeyValue::new("http.response.status_code", 200_i64));
    span.end();
}
