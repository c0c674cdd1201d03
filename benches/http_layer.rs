//! What [`bitcraps_otel::http::ServerLayer`] adds to a request, over the same axum router
//! without it. Every case calls the router in-process with tower's `oneshot` on a handler that
//! answers at once, so the future completes on its first poll and no runtime or socket is
//! timed; the difference between two cases is what the layer costs.
//!
//! The machine is shared, so its speed drifts between two criterion functions run one after
//! the other. Each pair is therefore measured *interleaved*: every iteration calls the router
//! without the layer and then with it, timing each call on its own, and the criterion entries
//! of a group report the sides of the same loop. Drift then hits them alike.
//!
//! - `bare` / `bare_health` / `bare_with_traceparent`: the router alone (the floor), each
//!   interleaved with the case below it.
//! - `layer_noop_tracer`: the layer with no tracer provider installed (metrics only; the span
//!   is OTel's no-op span), as a service that exports no traces runs it.
//! - `layer_sampled_span`: the layer with an SDK tracer provider sampling every span (its
//!   processor drops them, so export is not timed), the W3C propagator, and an incoming
//!   `traceparent`: span creation, context propagation and the exemplar capture included.
//! - `sdk_span_alone`: in the same loop as the two above, only the SDK span the layer makes
//!   (global tracer, same name, parent and attributes, started and ended): the share of
//!   `layer_sampled_span`'s extra time that is the SDK's, not the layer's.
//! - `excluded_path`: a probe path (`/health`) the layer lets through untouched.
//!
//! Run: `cargo bench --bench http_layer`.

#[path = "support/interleaved.rs"]
mod interleaved;
#[path = "support/sdk_span.rs"]
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
use opentelemetry::{global, InstrumentationScope};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanProcessor};
use std::collections::HashMap;
use std::time::Duration;
use tower::ServiceExt;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn router() -> Router {
    Router::new().route("/games/{id}", get(|| async { "ok" })).route("/health", get(|| async { "ok" }))
}

/// Calls `app` once; the handler is ready at once, so one poll completes the request.
#[inline]
fn call(app: &Router, path: &'static str, traceparent: bool) {
    let mut request = Request::get(path);
    if traceparent {
        request = request.header("traceparent", TRACEPARENT);
    }
    let request = request.body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).now_or_never().expect("ready at once").expect("infallible");
    black_box(response);
}

/// Keeps nothing: the span is created, sampled and ended, and export is not what is timed.
#[derive(Debug)]
struct Discard;

impl SpanProcessor for Discard {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}
    fn on_end(&self, span: SpanData) {
        black_box(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

fn layer(c: &mut Criterion) {
    let provider = SdkMeterProvider::builder().build();
    let metrics = Metrics::new(&provider, Default::default());
    let bare = router();
    let ours = router().layer(ServerLayer::new(&metrics));

    let mut g = c.benchmark_group("http_layer");
    interleaved::together(
        &mut g,
        &["bare", "layer_noop_tracer"],
        &[&|| call(&bare, "/games/7", false), &|| call(&ours, "/games/7", false)],
        false,
    );
    interleaved::together(
        &mut g,
        &["bare_health", "excluded_path"],
        &[&|| call(&bare, "/health", false), &|| call(&ours, "/health", false)],
        false,
    );

    // From here on, a real tracer and propagator are installed (process-wide).
    global::set_text_map_propagator(TraceContextPropagator::new());
    global::set_tracer_provider(SdkTracerProvider::builder().with_span_processor(Discard).build());
    let parent =
        TraceContextPropagator::new().extract(&HashMap::from([("traceparent".to_owned(), TRACEPARENT.to_owned())]));
    let scope = InstrumentationScope::builder("bench").build();
    interleaved::together(
        &mut g,
        &["bare_with_traceparent", "layer_sampled_span", "sdk_span_alone"],
        &[&|| call(&bare, "/games/7", true), &|| call(&ours, "/games/7", true), &|| {
            sdk_span::sdk_span_alone(&parent, &scope)
        }],
        false,
    );
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = layer
}
criterion_main!(benches);
