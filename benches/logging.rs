//! One JSON log event with three fields, through the SDK's subscriber with a correlation
//! context current, against the same event through a plain `tracing_subscriber::fmt().json()`,
//! both to a sink, in the same run. Also both inside a traced span (with tracing-opentelemetry).
//!
//! `cargo bench --bench logging`; results in BENCHMARKS.md.

use bitcraps_otel::logging::{CorrelationContext, LoggingBuilder};
use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::TracerProvider as _;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt as _;

fn event() {
    tracing::info!(bets = 3_u64, winner = "alice", ratio = 0.5_f64, "round settled");
}

fn plain() -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt().json().with_writer(std::io::sink).finish()
}

fn plain_with_otel() -> impl tracing::Subscriber + Send + Sync {
    let tracer = opentelemetry_sdk::trace::SdkTracerProvider::builder().build().tracer("bench");
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::sink)
        .finish()
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
}

fn ours() -> impl tracing::Subscriber + Send + Sync {
    match LoggingBuilder::new().build_subscriber(std::io::sink) {
        Ok(s) => s,
        Err(e) => panic!("subscriber: {e}"),
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("log_event_3_fields_json_to_sink");
    g.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));

    g.bench_function("plain_fmt_json", |b| tracing::subscriber::with_default(plain(), || b.iter(event)));
    g.bench_function("bitcraps_json_with_correlation", |b| {
        tracing::subscriber::with_default(ours(), || {
            let _ctx = CorrelationContext::new().with_user_id("user_123").with_game_id("game_456").enter();
            b.iter(event)
        })
    });
    g.bench_function("plain_fmt_json_otel_in_span", |b| {
        tracing::subscriber::with_default(plain_with_otel(), || {
            let _span = tracing::info_span!("round", round = 5_u64).entered();
            b.iter(event)
        })
    });
    g.bench_function("bitcraps_json_with_correlation_in_span", |b| {
        tracing::subscriber::with_default(ours(), || {
            let _ctx = CorrelationContext::new().with_user_id("user_123").with_game_id("game_456").enter();
            let _span = tracing::info_span!("round", round = 5_u64).entered();
            b.iter(event)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
