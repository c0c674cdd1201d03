//! The HTTP layer with no tracer provider installed (OTel's no-op tracer), where it builds no
//! span of its own: the caller's trace context must still reach the handler, and a span the
//! caller has open must be left as it was. This process never installs a tracer provider; it
//! installs only the W3C propagator.

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use bitcraps_otel::http::ServerLayer;
use bitcraps_otel::metrics::Metrics;
use opentelemetry::trace::{SpanContext, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanProcessor};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A router whose handler answers with the span context current while it runs.
fn app(metrics: &Metrics) -> Router {
    Router::new()
        .route(
            "/games/{id}",
            get(|| async {
                let cx = Context::current();
                let span = cx.span();
                let sc = span.span_context();
                format!("{}-{}-{}", sc.trace_id(), sc.span_id(), sc.is_sampled())
            }),
        )
        .layer(ServerLayer::new(metrics))
}

async fn body(app: &Router, request: Request<Body>) -> String {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let bytes = axum::body::to_bytes(response.into_body(), 1024).await.expect("body");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

#[tokio::test]
async fn without_a_tracer_provider_the_incoming_traceparent_reaches_the_handler() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let metrics = Metrics::new(&SdkMeterProvider::builder().build(), Default::default());
    let app = app(&metrics);
    let request = Request::get("/games/1").header("traceparent", TRACEPARENT).body(Body::empty()).expect("request");
    assert_eq!(body(&app, request).await, "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-true");
    let request = Request::get("/games/1").body(Body::empty()).expect("request");
    assert_eq!(
        body(&app, request).await,
        format!("{}-{}-false", SpanContext::NONE.trace_id(), SpanContext::NONE.span_id())
    );
}

/// Keeps the spans that end.
#[derive(Clone, Debug, Default)]
struct Ended(Arc<Mutex<Vec<SpanData>>>);

impl SpanProcessor for Ended {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &Context) {}
    fn on_end(&self, span: SpanData) {
        self.0.lock().expect("spans").push(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

#[tokio::test]
async fn without_a_tracer_provider_the_callers_open_span_is_neither_ended_nor_annotated() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let metrics = Metrics::new(&SdkMeterProvider::builder().build(), Default::default());
    let app = app(&metrics);
    // A provider of the caller's own, never made global: the layer's tracer stays the no-op one.
    let ended = Ended::default();
    let provider = SdkTracerProvider::builder().with_span_processor(ended.clone()).build();
    let tracer = provider.tracer("caller");
    let caller = Context::current_with_span(tracer.start("caller"));
    let expected = {
        let sc = caller.span().span_context().clone();
        format!("{}-{}-true", sc.trace_id(), sc.span_id())
    };

    let request = Request::get("/games/1").body(Body::empty()).expect("request");
    let answered = {
        let _attached = caller.clone().attach();
        body(&app, request).await
    };
    assert_eq!(answered, expected, "the handler runs inside the caller's span");
    assert!(ended.0.lock().expect("spans").is_empty(), "the layer ended the caller's span");

    caller.span().end();
    let spans = ended.0.lock().expect("spans");
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "caller");
    assert!(spans[0].attributes.is_empty(), "the layer annotated the caller's span: {:?}", spans[0].attributes);
    assert!(matches!(spans[0].status, opentelemetry::trace::Status::Unset));
}
