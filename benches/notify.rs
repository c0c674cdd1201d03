//! Notification channels under load, on loopback.
//!
//! - `notify/throughput/*`: notifications per second one channel sustains against a loopback
//!   axum receiver (render + queue + HTTP POST + 2xx), 64 in flight (`notify` waits for the
//!   receiver's answer).
//! - `notify/evaluate/*`: the alert engine's cycle as the background loop runs it (collect,
//!   evaluate, route, hand off; the channels' verdicts come later) with
//!   every channel up, and with one channel down (connection refused, retrying) or hanging
//!   (accepts, never answers). Each iteration flips 50 alerts between firing and resolved so
//!   every cycle produces notifications for every channel.
//! - then a bounded run prints the cycle time of the first and the last 200 of 2,000 cycles
//!   with a hanging channel whose queue has long overflowed: it must not grow.
//!
//! Run: `cargo bench --bench notify`.

#[path = "../tests/notify_support/mod.rs"]
mod support;

use bitcraps_otel::alerting::channels::{DeliveryOptions, PagerDutyNotifier, SlackNotifier, WebhookNotifier};
use bitcraps_otel::alerting::*;
use criterion::{criterion_group, Criterion, Throughput};
use opentelemetry::metrics::{Gauge, MeterProvider};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{dead_addr, firing, ok, Receiver, Reply};

/// A receiver that only counts (the test receiver keeps every request, which a long run
/// would pay for in memory and copying).
async fn counting_receiver() -> (String, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&count);
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let c = Arc::clone(&c);
        async move {
            std::hint::black_box(body);
            c.fetch_add(1, Ordering::Relaxed);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), count)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn throughput(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("notify/throughput");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(8));
    let (base, count) = rt.block_on(counting_receiver());
    let options = DeliveryOptions { queue_capacity: 1024, ..Default::default() };
    let cases: Vec<(&str, Arc<dyn Notifier>)> = vec![
        (
            "webhook",
            Arc::new(WebhookNotifier::new(format!("{base}/hook")).with_hmac_secret("k").with_delivery(options.clone())),
        ),
        (
            "slack",
            Arc::new(SlackNotifier::new(format!("{base}/services/T/B/X"), "#a".into()).with_delivery(options.clone())),
        ),
    ];
    let n = firing("bench");
    for (name, notifier) in cases {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    let before = count.load(Ordering::Relaxed);
                    // `notify` waits for the receiver's answer: keep up to 64 in flight.
                    let mut in_flight = futures_util::stream::FuturesUnordered::new();
                    let mut sent = 0;
                    while sent < iters {
                        while in_flight.len() < 64 && sent + (in_flight.len() as u64) < iters {
                            in_flight.push(notifier.notify(&n));
                        }
                        match futures_util::StreamExt::next(&mut in_flight).await {
                            Some(Ok(())) => sent += 1,
                            Some(Err(_)) => tokio::time::sleep(Duration::from_micros(200)).await, // queue full: back off
                            None => {}
                        }
                    }
                    let target = before + iters;
                    while count.load(Ordering::Relaxed) < target {
                        tokio::time::sleep(Duration::from_micros(200)).await;
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

struct Engine {
    _provider: SdkMeterProvider,
    gauge: Gauge<f64>,
    alerting: AlertingSystem,
    high: bool,
}

/// 50 CPU series under one rule; channels: an in-memory one plus `extra`.
fn engine(extra: Option<Arc<dyn Notifier>>) -> Engine {
    let reader = AlertReader::new();
    let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
    let gauge = provider.meter("bitcraps").f64_gauge("bitcraps.cpu.usage").build();
    let alerting = AlertingSystem::new(AlertingConfig {
        predefined_rules: false,
        routing: RoutingConfig {
            default_route: Route { group_wait: Duration::ZERO, group_interval: Duration::ZERO, ..Route::default() },
            ..Default::default()
        },
        ..Default::default()
    });
    alerting
        .add_rule(AlertRule {
            name: "HighCpu".into(),
            metric_name: "bitcraps_cpu_usage_percent".into(),
            condition: AlertCondition::GreaterThan(85.0),
            severity: AlertSeverity::High,
            evaluation_interval: Duration::from_nanos(1),
            ..Default::default()
        })
        .expect("rule");
    alerting.attach(reader);
    alerting.add_notifier("memory", Arc::new(InMemoryNotifier::new()));
    if let Some(n) = extra {
        alerting.add_notifier("extra", n);
    }
    Engine { _provider: provider, gauge, alerting, high: false }
}

impl Engine {
    /// Flips every series across the threshold and runs one cycle.
    async fn flip(&mut self) -> Duration {
        self.high = !self.high;
        for i in 0..50 {
            self.gauge.record(if self.high { 95.0 } else { 10.0 }, &[KeyValue::new("shard", i)]);
        }
        let start = Instant::now();
        // The background loop's cycle: channels get their notifications, the engine does not
        // wait for their verdicts.
        let _ = self.alerting.dispatch_now();
        let took = start.elapsed();
        tokio::task::yield_now().await;
        took
    }
}

fn slow_options() -> DeliveryOptions {
    DeliveryOptions {
        queue_capacity: 64,
        max_attempts: 5,
        request_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

fn evaluate(c: &mut Criterion) {
    let rt = runtime();
    let up = rt.block_on(Receiver::start(ok(202)));
    let hang = rt.block_on(Receiver::start(Reply::Hang));
    let dead = dead_addr();
    let cases: Vec<(&str, Option<Arc<dyn Notifier>>)> = vec![
        ("memory_only", None),
        (
            "pagerduty_up",
            Some(Arc::new(
                PagerDutyNotifier::new("K".into()).with_url(up.url("/v2/enqueue")).with_delivery(slow_options()),
            )),
        ),
        (
            "pagerduty_refused",
            Some(Arc::new(
                PagerDutyNotifier::new("K".into())
                    .with_url(format!("http://{}/v2/enqueue", dead.addr))
                    .with_delivery(slow_options()),
            )),
        ),
        (
            "pagerduty_hanging",
            Some(Arc::new(
                PagerDutyNotifier::new("K".into()).with_url(hang.url("/v2/enqueue")).with_delivery(slow_options()),
            )),
        ),
    ];
    let mut group = c.benchmark_group("notify/evaluate");
    group.measurement_time(Duration::from_secs(5));
    for (name, extra) in cases {
        let mut e = engine(extra);
        group.bench_function(name, |b| b.iter_custom(|iters| rt.block_on(flips(&mut e, iters))));
    }
    group.finish();
}

async fn flips(e: &mut Engine, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        total += e.flip().await;
    }
    total
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// 2,000 cycles per case: the first 200 against the last 200. With a hanging channel the
/// queue overflows early on; the cycle time must stay that of a healthy channel.
fn growth() {
    let rt = runtime();
    rt.block_on(async {
        let up = Receiver::start(ok(202)).await;
        let hang = Receiver::start(Reply::Hang).await;
        let pd = |url: String| Arc::new(PagerDutyNotifier::new("K".into()).with_url(url).with_delivery(slow_options()));
        let healthy = pd(up.url("/v2/enqueue"));
        let stuck = pd(hang.url("/v2/enqueue"));
        let cases: [(&str, Option<Arc<PagerDutyNotifier>>); 3] =
            [("memory_only", None), ("pagerduty_up", Some(healthy)), ("pagerduty_hanging", Some(stuck))];
        for (name, extra) in cases {
            let mut e = engine(extra.clone().map(|n| n as Arc<dyn Notifier>));
            let mut times = Vec::with_capacity(2000);
            for _ in 0..2000 {
                times.push(e.flip().await);
            }
            let summary = |slice: &[Duration]| {
                let mut s = slice.to_vec();
                s.sort();
                format!("p50 {:?} p99 {:?}", quantile(&s, 0.5), quantile(&s, 0.99))
            };
            println!(
                "notify/growth {name:<18} cycles 1-200: {} | cycles 1801-2000: {}",
                summary(&times[..200]),
                summary(&times[1800..])
            );
            if let Some(n) = extra {
                let st = n.stats();
                println!(
                    "notify/growth {name:<18} channel: accepted {} delivered {} dropped {} pending {}",
                    st.accepted, st.delivered, st.dropped, st.pending
                );
            }
        }
    });
}

criterion_group!(benches, throughput, evaluate);

fn main() {
    benches();
    growth();
    Criterion::default().configure_from_args().final_summary();
}
