//! The HTTP layer's SERVER span: named `{method} {route}`, continuing the caller's
//! `traceparent` through the global propagator, and the duration's exemplar pointing at it.
//! One test per process: it installs the global propagator and tracer provider.

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use bitcraps_otel::config::ExemplarFilter;
use bitcraps_otel::http::ServerLayer;
use bitcraps_otel::metrics::{Metrics, MetricsOptions};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// Keeps every exported span.
#[derive(Clone, Debug, Default)]
struct Spans(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Spans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().expect("spans").extend(batch);
        Ok(())
    }
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn the_server_span_continues_the_incoming_traceparent_and_is_the_exemplar() {
    let spans = Spans::default();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(
        SdkTracerProvider::builder().with_simple_exporter(spans.clone()).build(),
    );
    let metrics = Metrics::new(
        &SdkMeterProvider::builder().build(),
        MetricsOptions { exemplar_filter: ExemplarFilter::TraceBased, ..Default::default() },
    );
    let app: Router = Router::new()
        .route(
            "/games/{id}",
            get(|| async {
                // The handler runs inside the server span.
                let cx = opentelemetry::Context::current();
                cx.span().span_context().trace_id().to_string()
            }),
        )
        .route("/fail", get(|| async { axum::http::StatusCode::BAD_GATEWAY }))
        .route("/health", get(|| async { "ok" }))
        .layer(ServerLayer::new(&metrics));

    let request = Request::get("/games/42")
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01"))
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let body = axum::body::to_bytes(response.into_body(), 1024).await.expect("body");
    assert_eq!(body, TRACE_ID, "the handler's current span is in the caller's trace");

    let request = Request::get("/fail").body(Body::empty()).expect("request");
    app.clone().oneshot(request).await.expect("infallible");
    let request = Request::get("/health").body(Body::empty()).expect("request");
    app.clone().oneshot(request).await.expect("infallible");

    let exported = spans.0.lock().expect("spans").clone();
    assert_eq!(exported.len(), 2, "one span per instrumented request, none for /health: {exported:#?}");
    let game = exported.iter().find(|s| s.name == "GET /games/{id}").expect("span named {method} {route}");
    assert_eq!(game.span_kind, SpanKind::Server);
    assert_eq!(game.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(game.parent_span_id.to_string(), PARENT_SPAN_ID);
    assert!(game.parent_span_is_remote);
    let attr =
        |s: &SpanData, key: &str| s.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string());
    assert_eq!(attr(game, "http.route").as_deref(), Some("/games/{id}"));
    assert_eq!(attr(game, "url.path").as_deref(), Some("/games/42"));
    assert_eq!(attr(game, "http.response.status_code").as_deref(), Some("200"));
    assert_eq!(game.status, Status::Unset);

    let failed = exported.iter().find(|s| s.name == "GET /fail").expect("the 502 span");
    assert_ne!(failed.span_context.trace_id().to_string(), TRACE_ID, "no traceparent: a new trace");
    assert_eq!(attr(failed, "error.type").as_deref(), Some("502"));
    assert!(matches!(failed.status, Status::Error { .. }));

    // The duration recorded inside the sampled server span kept it as its exemplar.
    let mut families = Vec::new();
    metrics.histogram_source().collect(&mut families);
    let duration = families.iter().find(|f| f.def.name == "http.server.request.duration").expect("family");
    let point = duration
        .points
        .iter()
        .find(|p| p.attributes.iter().any(|kv| kv.value.as_str() == "/games/{id}"))
        .expect("the /games/{id} series");
    let exemplar = point.exemplars.first().expect("an exemplar");
    assert_eq!(exemplar.trace_id, game.span_context.trace_id().to_bytes());
    assert_eq!(exemplar.span_id, game.span_context.span_id().to_bytes());
}
