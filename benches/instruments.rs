//! Hot-path cost of the typed instruments against every peer at its best, measured side by
//! side in one run: the OpenTelemetry SDK's bound instruments (same attribute set, 1 and 3
//! readers), tikv `prometheus` pre-bound, metrics-rs with a pre-resolved handle and its
//! Prometheus recorder, and a relaxed atomic add (the floor). Plus the cost of an exemplar and
//! of rendering `/metrics` in each format.
//!
//! Run: `cargo bench --bench instruments`. BENCHMARKS.md explains the groups.

use bitcraps_otel::alerting::AlertReader;
use bitcraps_otel::export::prometheus::PrometheusBridge;
use bitcraps_otel::metrics::{Metrics, MetricsOptions};
use bitcraps_otel::semconv::{metric, AttributeEnum, ErrorCategory, ErrorSeverity, GameType, PeerTransport};
use bitcraps_otel::sim::{SimConfig, Simulator};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A node's consumers: the Prometheus bridge alone (1 reader), or the bridge, an OTLP-style
/// periodic reader (a manual reader stands in: per recording, readers cost the same whatever
/// they export to) and the alert reader (3 readers). Our histograms are attached to every
/// consumer that reads them.
struct Node {
    provider: SdkMeterProvider,
    bridge: PrometheusBridge,
    metrics: Metrics,
}

fn node(readers: usize, system_metrics: bool) -> Node {
    let (bridge, reader) = PrometheusBridge::new([("node_id".to_string(), "bench".to_string())]).expect("bridge");
    let mut builder = SdkMeterProvider::builder().with_reader(reader);
    let alert = AlertReader::new();
    if readers == 3 {
        builder = builder.with_reader(ManualReader::builder().build()).with_reader(alert.clone());
    }
    let provider = builder.build();
    let metrics = Metrics::new(&provider, MetricsOptions { system_metrics, ..Default::default() });
    bridge.attach(&metrics);
    alert.attach_histograms(metrics.histogram_source());
    Node { provider, bridge, metrics }
}

/// CPU time this thread has used. The figures are CPU time per operation rather than wall
/// time, because the machine is shared: a thread that is descheduled mid-sample inflates wall
/// time by whole scheduler slices, while CPU time still counts every stall an operation
/// causes itself (cache-line transfers between cores included).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer and the clock id exists on every Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "CLOCK_THREAD_CPUTIME_ID");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `op` `iters` times on each of `threads` threads, all released together, and returns
/// the mean CPU time per thread, which criterion divides by `iters`: the cost of one operation
/// to each caller, contention included. One thread runs inline.
fn per_thread(threads: usize, iters: u64, op: &(impl Fn() + Sync)) -> Duration {
    let run = || {
        let start = thread_cpu();
        for _ in 0..iters {
            op();
        }
        thread_cpu() - start
    };
    if threads == 1 {
        return run();
    }
    let barrier = std::sync::Barrier::new(threads);
    let total: Duration = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    run()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("bench thread")).sum()
    });
    total / threads as u32
}

fn two_attrs() -> [KeyValue; 2] {
    [
        KeyValue::new(ErrorCategory::DEF.id, ErrorCategory::Network.as_str()),
        KeyValue::new(ErrorSeverity::DEF.id, ErrorSeverity::Warning.as_str()),
    ]
}

/// metrics-rs at its best: handles resolved once from its own Prometheus recorder.
fn metrics_rs() -> (metrics_exporter_prometheus::PrometheusRecorder, metrics::Counter, metrics::Histogram) {
    use metrics::{Key, Label, Metadata, Recorder};
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(metric::CONSENSUS_LATENCY.buckets)
        .expect("buckets")
        .build_recorder();
    let meta = Metadata::new("bench", metrics::Level::INFO, None);
    let labels = vec![Label::new("category", "network"), Label::new("severity", "warning")];
    let counter = recorder.register_counter(&Key::from_parts("bitcraps_errors_total", labels), &meta);
    let histogram = recorder.register_histogram(&Key::from_name("bitcraps_consensus_latency_seconds"), &meta);
    (recorder, counter, histogram)
}

fn counters(c: &mut Criterion) {
    let one = node(1, false);
    let three = node(3, false);
    let sdk = |n: &Node| n.provider.meter("raw").u64_counter(metric::ERRORS.name).build().bind(&two_attrs());
    let (sdk1, sdk3) = (sdk(&one), sdk(&three));
    let tikv = prometheus::IntCounterVec::new(
        prometheus::Opts::new("bitcraps_errors_total", "Errors."),
        &["category", "severity"],
    )
    .expect("tikv counter")
    .with_label_values(&["network", "warning"]);
    let (_recorder, rs_counter, _) = metrics_rs();
    let atomic = AtomicU64::new(0);

    for threads in [1usize, 2] {
        let mut g = c.benchmark_group(format!("counter_increment/{threads}_thread"));
        g.bench_function("atomic_fetch_add", |b| {
            b.iter_custom(|n| {
                per_thread(threads, n, &|| {
                    atomic.fetch_add(black_box(1), Ordering::Relaxed);
                })
            })
        });
        for (readers, node) in [(1, &one), (3, &three)] {
            g.bench_function(format!("bitcraps_errors_record/{readers}_readers"), |b| {
                b.iter_custom(|n| {
                    per_thread(threads, n, &|| {
                        node.metrics
                            .errors()
                            .record(black_box(ErrorCategory::Network), black_box(ErrorSeverity::Warning))
                    })
                })
            });
        }
        g.bench_function("bitcraps_proposal_accepted/3_readers", |b| {
            b.iter_custom(|n| per_thread(threads, n, &|| three.metrics.consensus().proposal_accepted()))
        });
        for (readers, bound) in [(1, &sdk1), (3, &sdk3)] {
            g.bench_function(format!("sdk_bound_counter_2_attrs/{readers}_readers"), |b| {
                b.iter_custom(|n| per_thread(threads, n, &|| bound.add(black_box(1))))
            });
        }
        g.bench_function("tikv_prometheus_prebound", |b| b.iter_custom(|n| per_thread(threads, n, &|| tikv.inc())));
        g.bench_function("metrics_rs_handle", |b| {
            b.iter_custom(|n| per_thread(threads, n, &|| rs_counter.increment(black_box(1))))
        });
        g.finish();
    }
}

fn histograms(c: &mut Criterion) {
    let one = node(1, false);
    let three = node(3, false);
    let def = &metric::CONSENSUS_LATENCY;
    let sdk = |n: &Node| {
        n.provider.meter("raw").f64_histogram(def.name).with_boundaries(def.buckets.to_vec()).build().bind(&[])
    };
    let (sdk1, sdk3) = (sdk(&one), sdk(&three));
    let tikv = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new(def.prometheus_name, def.brief).buckets(def.buckets.to_vec()),
    )
    .expect("tikv histogram");
    let (recorder, _, rs_histogram) = metrics_rs();
    let handle = recorder.handle();
    let atomic = AtomicU64::new(0);
    let d = Duration::from_millis(42);

    for threads in [1usize, 2] {
        let mut g = c.benchmark_group(format!("histogram_record/{threads}_thread"));
        g.bench_function("atomic_fetch_add", |b| {
            b.iter_custom(|n| {
                per_thread(threads, n, &|| {
                    atomic.fetch_add(black_box(1), Ordering::Relaxed);
                })
            })
        });
        for (readers, node) in [(1, &one), (3, &three)] {
            g.bench_function(format!("bitcraps_consensus_record_latency/{readers}_readers"), |b| {
                b.iter_custom(|n| per_thread(threads, n, &|| node.metrics.consensus().record_latency(black_box(d))))
            });
        }
        for (readers, bound) in [(1, &sdk1), (3, &sdk3)] {
            g.bench_function(format!("sdk_bound_histogram/{readers}_readers"), |b| {
                b.iter_custom(|n| per_thread(threads, n, &|| bound.record(black_box(d).as_secs_f64())))
            });
        }
        g.bench_function("tikv_prometheus_prebound", |b| {
            b.iter_custom(|n| per_thread(threads, n, &|| tikv.observe(black_box(d).as_secs_f64())))
        });
        g.bench_function("metrics_rs_handle", |b| {
            b.iter_custom(|n| {
                let took = per_thread(threads, n, &|| rs_histogram.record(black_box(d).as_secs_f64()));
                // metrics-rs keeps every raw value until its upkeep drains them: drain outside
                // the timed part, as its exporter's background upkeep would.
                handle.run_upkeep();
                took
            })
        });
        g.finish();
    }
}

fn exemplars(c: &mut Criterion) {
    let node = node(3, false);
    let tracer_provider = SdkTracerProvider::builder().build();
    let tracer = tracer_provider.tracer("bench");
    let d = Duration::from_millis(42);
    let mut g = c.benchmark_group("histogram_record_exemplar");
    let record = || node.metrics.consensus().record_latency(black_box(d));
    g.bench_function("outside_any_span", |b| b.iter_custom(|n| per_thread(1, n, &record)));
    let span = tracer.start("consensus round");
    let _attached = Context::current_with_span(span).attach();
    g.bench_function("inside_sampled_span", |b| b.iter_custom(|n| per_thread(1, n, &record)));
    g.finish();
}

/// The node's registry after a minute of simulated traffic at 1,000 events/s, with an exemplar
/// in every latency bucket.
fn render(c: &mut Criterion) {
    let node = node(3, true);
    let mut sim = Simulator::new(node.metrics.clone(), SimConfig { rate: 1000.0, seed: Some(1) });
    sim.advance(Duration::from_secs(60));
    let tracer_provider = SdkTracerProvider::builder().build();
    let tracer = tracer_provider.tracer("bench");
    for &bound in metric::CONSENSUS_LATENCY.buckets.iter().chain(metric::NETWORK_LATENCY.buckets) {
        tracer.in_span("traced", |_| {
            node.metrics.consensus().record_latency(Duration::from_secs_f64(bound * 0.9));
            node.metrics.network().record_latency(Duration::from_secs_f64(bound * 0.9));
        });
    }
    tracer.in_span("traced", |_| {
        for t in GameType::ALL {
            node.metrics.gaming().game_completed(*t, Duration::from_secs(61));
        }
        node.metrics.network().message_sent(PeerTransport::Ble);
    });
    let (classic, om) = (node.bridge.render().len(), node.bridge.render_openmetrics().len());
    let mut g = c.benchmark_group("render_metrics");
    g.bench_with_input(BenchmarkId::new("classic_text", format!("{classic}_bytes")), &node.bridge, |b, bridge| {
        b.iter(|| black_box(bridge.render()))
    });
    g.bench_with_input(
        BenchmarkId::new("openmetrics_with_exemplars", format!("{om}_bytes")),
        &node.bridge,
        |b, bridge| b.iter(|| black_box(bridge.render_openmetrics())),
    );
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = counters, histograms, exemplars, render
}
criterion_main!(benches);
