//! Typed spans against `tracing::info_span!` through `tracing-opentelemetry`, both exported
//! through the SDK's batch processor to an exporter that drops everything, with the same six
//! attributes, in the same run; an unsampled typed span; and a carrier inject + extract.
//!
//! `cargo bench --bench traces`; results in BENCHMARKS.md.

use bitcraps_otel::config::TraceSampler;
use bitcraps_otel::logging::pipeline::ScrubbingSpanProcessor;
use bitcraps_otel::logging::Redactor;
use bitcraps_otel::semconv::{GameType, MessageKind, PeerTransport};
use bitcraps_otel::trace::{propagators, Carrier, Traces};
use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt as _;

/// Accepts every batch and drops it.
#[derive(Debug)]
struct Noop;

impl SpanExporter for Noop {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

/// Typed spans on a batch provider, knowing its sampler as `init` does.
fn typed(sampler: TraceSampler, scrubbing: bool) -> Traces {
    Traces::with_sampler(&batch_provider(sampler, scrubbing), sampler)
}

fn batch_provider(sampler: TraceSampler, scrubbing: bool) -> SdkTracerProvider {
    let batch = BatchSpanProcessor::builder(Noop).build();
    let builder = SdkTracerProvider::builder().with_sampler(sampler.to_sdk());
    match scrubbing {
        true => builder.with_span_processor(ScrubbingSpanProcessor::new(batch, Redactor::default())).build(),
        false => builder.with_span_processor(batch).build(),
    }
}

fn peer_subscriber(provider: &SdkTracerProvider) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")))
}

/// The peer: the same span, name, kind and attributes as `peer_send`, through tracing.
fn peer_span(peer: &str) {
    let span = tracing::info_span!(
        "bitcraps.peer.send",
        otel.kind = "producer",
        messaging.system = "bitcraps",
        messaging.operation.type = "send",
        bitcraps.peer.id = peer,
        bitcraps.peer.transport = "tcp",
        bitcraps.message.kind = "bet",
        messaging.destination.name = peer,
    );
    drop(black_box(span));
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("span_start_end_sampled_batch_noop");
    g.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    let peer_provider = batch_provider(TraceSampler::AlwaysOn, false);
    g.bench_function("tracing_info_span_via_tracing_opentelemetry", |b| {
        tracing::subscriber::with_default(peer_subscriber(&peer_provider), || b.iter(|| peer_span("peer_9f2c")))
    });
    let ours = typed(TraceSampler::AlwaysOn, false);
    g.bench_function("typed_peer_send", |b| {
        b.iter(|| drop(black_box(ours.peer_send("peer_9f2c", PeerTransport::Tcp, MessageKind::Bet))))
    });
    let unknown = Traces::new(&batch_provider(TraceSampler::AlwaysOn, false));
    g.bench_function("typed_peer_send_sampler_unknown", |b| {
        b.iter(|| drop(black_box(unknown.peer_send("peer_9f2c", PeerTransport::Tcp, MessageKind::Bet))))
    });
    let scrubbed = typed(TraceSampler::AlwaysOn, true);
    g.bench_function("typed_peer_send_with_scrubbing_processor", |b| {
        b.iter(|| drop(black_box(scrubbed.peer_send("peer_9f2c", PeerTransport::Tcp, MessageKind::Bet))))
    });
    g.finish();

    let mut g = c.benchmark_group("span_start_end_unsampled");
    g.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    let off = typed(TraceSampler::ParentBasedAlwaysOff, true);
    g.bench_function("typed_peer_send", |b| {
        b.iter(|| drop(black_box(off.peer_send("peer_9f2c", PeerTransport::Tcp, MessageKind::Bet))))
    });
    g.bench_function("typed_game_with_baggage", |b| b.iter(|| drop(black_box(off.game("game_456", GameType::Cash)))));
    // The SDK decides (a provider whose sampler `Traces` was not told).
    let sdk_off = Traces::new(&batch_provider(TraceSampler::ParentBasedAlwaysOff, true));
    g.bench_function("typed_peer_send_sampler_unknown", |b| {
        b.iter(|| drop(black_box(sdk_off.peer_send("peer_9f2c", PeerTransport::Tcp, MessageKind::Bet))))
    });
    g.finish();

    let mut g = c.benchmark_group("context_inject_extract");
    g.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    let traces = Traces::new(&SdkTracerProvider::builder().build());
    let game = traces.game("game_456", GameType::Cash);
    let round = game.in_scope(|| traces.consensus_round(1042));
    let _current = round.enter();
    g.bench_function("carrier_inject_encode_decode", |b| {
        b.iter(|| {
            let bytes = Carrier::inject_current().encode();
            black_box(Carrier::decode(black_box(&bytes)).ok())
        })
    });
    let w3c = propagators::build(bitcraps_otel::config::Propagator::DEFAULT);
    g.bench_function("w3c_traceparent_baggage_headers_inject_extract", |b| {
        b.iter(|| {
            let mut headers = HashMap::new();
            opentelemetry::Context::map_current(|cx| w3c.inject_context(cx, &mut headers));
            black_box(w3c.extract(black_box(&headers)))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
