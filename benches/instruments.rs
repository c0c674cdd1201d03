//! Hot-path cost of the typed instruments against the raw OpenTelemetry SDK and an atomic
//! floor, measured side by side in one run, plus the cost of rendering `/metrics`.
//!
//! Every provider here has the Prometheus reader, as `init()` builds it by default.
//! Run: `cargo bench --bench instruments`.

use bitcraps_otel::export::prometheus::PrometheusBridge;
use bitcraps_otel::metrics::{Metrics, MetricsOptions};
use bitcraps_otel::semconv::{metric, AttributeEnum, ErrorCategory, ErrorSeverity};
use bitcraps_otel::sim::{SimConfig, Simulator};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn provider() -> (SdkMeterProvider, PrometheusBridge) {
    let (bridge, reader) = PrometheusBridge::new([("node_id".to_string(), "bench".to_string())]).expect("bridge");
    (SdkMeterProvider::builder().with_reader(reader).build(), bridge)
}

fn options() -> MetricsOptions {
    MetricsOptions { system_metrics: false, ..Default::default() }
}

/// Runs `op` `iters` times on each of `threads` threads; returns the mean time per operation
/// per thread (wall time / iters), which is what contention costs each caller. One thread
/// runs inline, so no spawn cost is amortized into the single-thread figures.
fn per_thread(threads: usize, iters: u64, op: &(impl Fn() + Sync)) -> Duration {
    let start = Instant::now();
    if threads == 1 {
        for _ in 0..iters {
            op();
        }
        return start.elapsed();
    }
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..iters {
                    op();
                }
            });
        }
    });
    start.elapsed()
}

fn counters(c: &mut Criterion) {
    let (provider, _bridge) = provider();
    let metrics = Metrics::new(&provider, options());
    let sdk = provider.meter("raw").u64_counter(metric::ERRORS.name).build();
    let two = [
        KeyValue::new(ErrorCategory::DEF.id, ErrorCategory::Network.as_str()),
        KeyValue::new(ErrorSeverity::DEF.id, ErrorSeverity::Warning.as_str()),
    ];
    // What hand-wired code records when the node id is an attribute rather than a constant label.
    let three = [two[0].clone(), two[1].clone(), KeyValue::new("node_id", "bench")];
    let atomic = AtomicU64::new(0);

    for threads in [1usize, 2] {
        let mut g = c.benchmark_group(format!("counter_increment/{threads}_thread"));
        g.bench_function("atomic_fetch_add", |b| {
            b.iter_custom(|n| {
                per_thread(threads, n, &|| {
                    atomic.fetch_add(1, Ordering::Relaxed);
                })
            })
        });
        g.bench_function("bitcraps_errors_record", |b| {
            b.iter_custom(|n| {
                per_thread(threads, n, &|| {
                    metrics.errors().record(black_box(ErrorCategory::Network), black_box(ErrorSeverity::Warning))
                })
            })
        });
        g.bench_function("bitcraps_consensus_proposal_accepted", |b| {
            b.iter_custom(|n| per_thread(threads, n, &|| metrics.consensus().proposal_accepted()))
        });
        g.bench_function("sdk_add_2_attrs", |b| {
            b.iter_custom(|n| per_thread(threads, n, &|| sdk.add(1, black_box(&two))))
        });
        g.bench_function("sdk_add_3_attrs", |b| {
            b.iter_custom(|n| per_thread(threads, n, &|| sdk.add(1, black_box(&three))))
        });
        g.finish();
    }
}

fn histograms(c: &mut Criterion) {
    let (provider, _bridge) = provider();
    let metrics = Metrics::new(&provider, options());
    let sdk = provider
        .meter("raw")
        .f64_histogram(metric::CONSENSUS_LATENCY.name)
        .with_boundaries(metric::CONSENSUS_LATENCY.buckets.to_vec())
        .build();
    let three = [KeyValue::new("node_id", "bench"), KeyValue::new("region", "eu-west"), KeyValue::new("zone", "a")];
    let d = Duration::from_millis(42);
    for threads in [1usize, 2] {
        let mut g = c.benchmark_group(format!("histogram_record/{threads}_thread"));
        g.bench_function("bitcraps_consensus_record_latency", |b| {
            b.iter_custom(|n| per_thread(threads, n, &|| metrics.consensus().record_latency(black_box(d))))
        });
        g.bench_function("sdk_record_3_attrs", |b| {
            b.iter_custom(|n| per_thread(threads, n, &|| sdk.record(black_box(d.as_secs_f64()), black_box(&three))))
        });
        g.bench_function("sdk_record_no_attrs", |b| {
            b.iter_custom(|n| per_thread(threads, n, &|| sdk.record(black_box(d.as_secs_f64()), &[])))
        });
        g.finish();
    }
}

fn render(c: &mut Criterion) {
    let (provider, bridge) = provider();
    let metrics = Metrics::new(&provider, MetricsOptions::default());
    let mut sim = Simulator::new(metrics, SimConfig { rate: 1000.0, seed: Some(1) });
    sim.advance(Duration::from_secs(60));
    let bytes = bridge.render().len();
    let mut g = c.benchmark_group("render_metrics");
    g.bench_with_input(BenchmarkId::new("node_registry", format!("{bytes}_bytes")), &bridge, |b, bridge| {
        b.iter(|| black_box(bridge.render()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = counters, histograms, render
}
criterion_main!(benches);
