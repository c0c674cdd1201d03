//! `bitcraps_otel::http::ServerLayer` against the two axum peers, on the same router and
//! handler, in one criterion loop per group (the method of `benches/http_layer.rs` in the main
//! package: every iteration calls each case once, timing each call, so the machine's drift
//! hits them alike; the entries of a group are the sides of one loop).
//!
//! - `metrics/*`, no tracer provider and no `tracing` subscriber installed: the bare router;
//!   ours (its two metrics; OTel's no-op span); axum-otel-metrics as its README sets it up (an
//!   SDK `MeterProvider` of OpenTelemetry 0.32 with a reader (a `ManualReader`: what is recorded
//!   per request does not depend on the reader; the README's periodic OTLP export runs off the
//!   request path), installed globally, then the
//!   builder's defaults: duration, active requests, request and response body sizes).
//! - `traces/*`, an SDK tracer provider sampling every span (its processor drops them), the
//!   W3C propagator and an incoming sampled `traceparent`: the bare router; ours; the
//!   `OtelAxumLayer` of axum-tracing-opentelemetry under a `tracing` registry whose only layer
//!   is tracing-opentelemetry's, on a tracer of the same provider, with the extras our span
//!   has no equivalent for turned off (code location, thread, target, busy/idle times); and the
//!   SDK span alone (what any of them must pay for the span itself).
//!
//! Before measuring, one request through each traced router checks that it exported a span
//! continuing the incoming trace.
//!
//! Run from the repository root: `scripts/bench-http-peers.sh`. Instruction counts per request:
//! `HTTP_PEERS_SOLO=1 valgrind --tool=callgrind <bench binary> --bench --profile-time 2 <entry>`
//! (the entry's case alone), the total divided by the calls of `call`.

#[path = "../../../support/interleaved.rs"]
mod interleaved;
#[path = "../../../support/sdk_span.rs"]
mod sdk_span;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use bitcraps_otel::http::ServerLayer;
use bitcraps_otel::metrics::Metrics;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use futures_util::FutureExt as _;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{global, InstrumentationScope};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanProcessor};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt as _;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn router() -> Router {
    Router::new().route("/games/{id}", get(|| async { "ok" }))
}

/// Calls `app` once; the handler is ready at once, so one poll completes the request.
#[inline]
fn call(app: &Router, traceparent: bool) {
    let mut request = Request::get("/games/7");
    if traceparent {
        request = request.header("traceparent", TRACEPARENT);
    }
    let request = request.body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).now_or_never().expect("ready at once").expect("infallible");
    black_box(response);
}

/// Keeps only the last ended span's name and ids (for the check before measuring).
#[derive(Debug, Default, Clone)]
struct Discard(Arc<Mutex<Option<(String, String, String)>>>);

impl SpanProcessor for Discard {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}
    fn on_end(&self, span: SpanData) {
        if let Ok(mut last) = self.0.try_lock() {
            if last.is_none() {
                *last = Some((
                    span.name.to_string(),
                    span.span_context.trace_id().to_string(),
                    span.parent_span_id.to_string(),
                ));
            }
        }
        black_box(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

impl Discard {
    /// Calls `app` once with the `traceparent` and asserts the span it exported continues it.
    fn check(&self, who: &str, app: &Router) {
        if let Ok(mut last) = self.0.lock() {
            *last = None;
        }
        call(app, true);
        let last = self.0.lock().ok().and_then(|mut l| l.take());
        let (name, trace, parent) = last.unwrap_or_else(|| panic!("{who}: no span ended"));
        assert_eq!(name, "GET /games/{id}", "{who}: span name");
        assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736", "{who}: trace id");
        assert_eq!(parent, "00f067aa0ba902b7", "{who}: parent span id");
    }
}

fn peers(c: &mut Criterion) {
    let mut g = c.benchmark_group("http_peers");
    let bare = router();

    let solo = std::env::var_os("HTTP_PEERS_SOLO").is_some();
    // Metrics only: nothing traces yet.
    let ours_metrics = Metrics::new(&SdkMeterProvider::builder().build(), Default::default());
    let ours = router().layer(ServerLayer::new(&ours_metrics));
    let provider32 = otel32_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(otel32_sdk::metrics::ManualReader::builder().build())
        .build();
    otel32::global::set_meter_provider(provider32.clone());
    let otel_metrics = router().layer(axum_otel_metrics::HttpMetricsLayerBuilder::new().build());
    interleaved::together(
        &mut g,
        &["metrics/bare", "metrics/ours_no_tracer", "metrics/axum_otel_metrics"],
        &[&|| call(&bare, false), &|| call(&ours, false), &|| call(&otel_metrics, false)],
        solo,
    );

    // Traces: one provider sampling every span, the W3C propagator, an incoming traceparent.
    let spans = Discard::default();
    let provider = SdkTracerProvider::builder().with_span_processor(spans.clone()).build();
    global::set_text_map_propagator(TraceContextPropagator::new());
    global::set_tracer_provider(provider.clone());
    let otel_layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("axum-tracing-opentelemetry"))
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel_layer)).expect("first subscriber");
    let tracing_otel = router().layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default());
    spans.check("ours", &ours);
    spans.check("axum-tracing-opentelemetry", &tracing_otel);

    let parent =
        TraceContextPropagator::new().extract(&HashMap::from([("traceparent".to_owned(), TRACEPARENT.to_owned())]));
    let scope = InstrumentationScope::builder("bench").build();
    interleaved::together(
        &mut g,
        &["traces/bare", "traces/ours_sampled", "traces/axum_tracing_opentelemetry", "traces/sdk_span_alone"],
        &[&|| call(&bare, true), &|| call(&ours, true), &|| call(&tracing_otel, true), &|| {
            sdk_span::sdk_span_alone(&parent, &scope)
        }],
        solo,
    );
    g.finish();
    drop(provider32);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = peers
}
criterion_main!(benches);
