//! One alert evaluation cycle — 200 rules over 10,000 series — against the SDK's own
//! `collect()` of the same data, in the same run; plus the memory both hold.
//!
//! The cycle is what the background task does each tick: collect through the alert reader,
//! flatten into series, evaluate every due rule, route (nothing fires here, so no notifier
//! is called). The clock is tokio's paused clock, advanced by each rule's 15 s interval, so
//! rate windows hold the ~20 samples they hold in production.
//! Also: loading large rules files, and saving the alert state with 1,000 firing alerts.
//! Run: `cargo bench --bench alerting`.

use bitcraps_otel::alerting::*;
use bitcraps_otel::export::prometheus::PrometheusBridge;
use bitcraps_otel::metrics::{Metrics, MetricsOptions};
use criterion::{black_box, Criterion};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{Instrument, SdkMeterProvider, Stream};
use opentelemetry_sdk::Resource;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts live heap bytes, their high-water mark, and every byte ever allocated.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const SERIES_PER_METRIC: usize = 1000;
const GAUGES: [&str; 4] =
    ["bitcraps.cpu.usage", "bitcraps.battery.level", "bitcraps.device.temperature", "bitcraps.uptime"];
const COUNTERS: [&str; 6] = [
    "bitcraps.network.messages.sent",
    "bitcraps.network.messages.received",
    "bitcraps.bets",
    "bitcraps.games",
    "bitcraps.cache.hits",
    "bitcraps.cache.misses",
];
const TRANSPORTS: [&str; 4] = ["ble", "tcp", "udp", "wifi_direct"];

fn attrs(i: usize) -> [KeyValue; 2] {
    [
        KeyValue::new("bitcraps.peer.transport", TRANSPORTS[i % 4]),
        KeyValue::new("bitcraps.peer.id", format!("peer-{i}")),
    ]
}

/// 10 metrics x 1,000 series, recorded once each.
fn provider(reader: &AlertReader) -> SdkMeterProvider {
    let provider = SdkMeterProvider::builder()
        .with_reader(reader.clone())
        .with_view(|_: &Instrument| Stream::builder().with_cardinality_limit(5000).build().ok())
        .build();
    let meter = provider.meter("bitcraps");
    for name in GAUGES {
        let g = meter.f64_gauge(name).build();
        for i in 0..SERIES_PER_METRIC {
            g.record(20.0 + (i % 50) as f64, &attrs(i));
        }
    }
    for name in COUNTERS {
        let c = meter.u64_counter(name).build();
        for i in 0..SERIES_PER_METRIC {
            c.add(1 + (i % 7) as u64, &attrs(i));
        }
    }
    provider
}

fn base(name: String, metric: &str, condition: AlertCondition) -> AlertRule {
    AlertRule {
        name,
        metric_name: metric.into(),
        condition,
        severity: AlertSeverity::Medium,
        category: "bench".into(),
        evaluation_interval: Duration::from_secs(15),
        ..Default::default()
    }
}

/// 200 rules: 80 per-series thresholds, 40 matched + aggregated, 40 per-series rates over
/// 5 min, 20 ratios, 10 derived metrics, 10 anomaly detectors. None fires.
fn rules() -> Vec<RuleDefinition> {
    let mut out = Vec::new();
    for i in 0..80 {
        out.push(base(format!("t{i}"), GAUGES[i % 4], AlertCondition::GreaterThan(1e6)).into());
    }
    for i in 0..40 {
        let mut d: RuleDefinition = base(format!("a{i}"), GAUGES[i % 4], AlertCondition::GreaterThan(1e9)).into();
        d.options.matchers = vec![LabelMatcher::eq("transport", TRANSPORTS[i % 4])];
        d.options.aggregation = Some(Aggregation { op: AggregationOp::Sum, by: vec!["transport".into()] });
        out.push(d);
    }
    for i in 0..40 {
        let window = Duration::from_secs(300);
        out.push(
            base(
                format!("r{i}"),
                COUNTERS[i % 6],
                AlertCondition::Rate { window, threshold: Threshold::GreaterThan(1e6) },
            )
            .into(),
        );
    }
    for i in 0..20 {
        let cond = AlertCondition::Ratio {
            denominator: "bitcraps.cache.misses".into(),
            window: Some(Duration::from_secs(300)),
            threshold: Threshold::LessThan(-1.0),
        };
        out.push(base(format!("q{i}"), "bitcraps.cache.hits", cond).into());
    }
    for i in 0..10 {
        out.push(base(format!("d{i}"), "bitcraps.network.message_rate", AlertCondition::LessThan(-1.0)).into());
    }
    for i in 0..10 {
        let mut d: RuleDefinition =
            base(format!("n{i}"), GAUGES[i % 4], AlertCondition::Anomaly { deviations: 1e6, alpha: 0.1, warmup: 5 })
                .into();
        d.options.aggregation = Some(Aggregation { op: AggregationOp::Avg, by: vec!["transport".into()] });
        out.push(d);
    }
    out
}

/// 200 rules of the same kinds as [`rules`], no two of which read the same values the same
/// way: distinct thresholds, selections, aggregation operators and windows, so nothing is
/// shared between rules (the derived metrics excepted, which the engine always computes once).
fn distinct_rules() -> Vec<RuleDefinition> {
    const OPS: [AggregationOp; 4] = [AggregationOp::Sum, AggregationOp::Avg, AggregationOp::Max, AggregationOp::Min];
    let mut out = Vec::new();
    for i in 0..80 {
        out.push(base(format!("t{i}"), GAUGES[i % 4], AlertCondition::GreaterThan(1e6 + i as f64)).into());
    }
    for i in 0..40 {
        let cond = AlertCondition::GreaterThan(1e9 + i as f64);
        let mut d: RuleDefinition = base(format!("a{i}"), GAUGES[i % 4], cond).into();
        d.options.matchers = vec![LabelMatcher::eq("transport", TRANSPORTS[(i / 4) % 4])];
        d.options.aggregation = Some(Aggregation { op: OPS[(i / 16) % 4], by: vec!["transport".into()] });
        out.push(d);
    }
    for i in 0..40 {
        let window = Duration::from_secs(300 + 15 * (i / 6) as u64);
        let cond = AlertCondition::Rate { window, threshold: Threshold::GreaterThan(1e6 + i as f64) };
        out.push(base(format!("r{i}"), COUNTERS[i % 6], cond).into());
    }
    for i in 0..20 {
        let cond = AlertCondition::Ratio {
            denominator: "bitcraps.cache.misses".into(),
            window: Some(Duration::from_secs(300 + 15 * i as u64)),
            threshold: Threshold::LessThan(-1.0 - i as f64),
        };
        let mut d: RuleDefinition = base(format!("q{i}"), "bitcraps.cache.hits", cond).into();
        d.options.matchers = vec![LabelMatcher::eq("bitcraps_peer_id", format!("peer-{i}"))];
        out.push(d);
    }
    for i in 0..10 {
        let cond = AlertCondition::LessThan(-1.0 - i as f64);
        out.push(base(format!("d{i}"), "bitcraps.network.message_rate", cond).into());
    }
    for i in 0..10 {
        let cond = AlertCondition::Anomaly { deviations: 1e6, alpha: 0.1, warmup: 5 };
        let mut d: RuleDefinition = base(format!("n{i}"), GAUGES[i % 4], cond).into();
        d.options.aggregation = Some(Aggregation { op: OPS[(i / 4) % 4], by: vec!["transport".into()] });
        out.push(d);
    }
    out
}

/// A rules file of `n` rules, one a line, the way the monitoring reference writes them.
fn rules_file(n: usize) -> String {
    let mut text = String::from("predefined: false\nrules:\n");
    for i in 0..n {
        let metric = GAUGES[i % 4];
        text.push_str(&format!(
            "  - {{ name: Rule{i}, description: \"rule {i}\", metric: {metric}, condition: {{ greater_than: {i} }}, \
             severity: medium, category: bench, every: 15s, for: 2m, match: {{ transport: {} }} }}\n",
            TRANSPORTS[i % 4]
        ));
    }
    text
}

/// Loading rules files: 10,000 rules parsed, checked and put in force (issue 14: under a
/// second), and the worst nesting an attacker can send rejected.
fn load(c: &mut Criterion) {
    let mut g = c.benchmark_group("alerting/load");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let text = rules_file(10_000);
    g.bench_function("10000-rules/parse", |b| b.iter(|| black_box(parse_rules("bench.yml", &text).expect("valid"))));
    g.bench_function("10000-rules/parse-and-apply", |b| {
        b.iter(|| {
            let set = parse_rules("bench.yml", &text).expect("valid");
            let system = AlertingSystem::new(AlertingConfig { predefined_rules: false, ..Default::default() });
            system.apply(&set).expect("apply");
            black_box(system)
        })
    });
    // 100,000 levels in 200 KB, and the same at the 4 MiB cap.
    for (label, depth) in [("200KB", 100_000), ("4MiB", (4 << 20) / 2 - 16)] {
        let deep = format!("rules: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        g.bench_function(format!("reject-deepest-nesting/{label}"), |b| {
            b.iter(|| black_box(parse_rules("deep.yml", &deep).expect_err("too deep")))
        });
    }
    g.finish();
}

/// How many alerts fire in the state-snapshot bench.
const FIRING: usize = 1_000;

/// Saving the alert state with 1,000 firing alerts, each already told to a channel (issue 12:
/// at most 5 ms and 1 MiB), to a directory on disk and to one on tmpfs (the same work without
/// the device's fsync), each beside a bare write + fsync + rename + fsync of the same bytes
/// (the device's share of the save). Returns the memory lines for the summary.
///
/// Through the public API: `stop()` on a started engine writes the snapshot (encode under
/// the engine's lock, write, fsync, rename, fsync the directory). Each iteration first
/// `start_background()`s the engine on a runtime that is never driven, so its loop never
/// runs and only `stop()` is timed; that start restores the previous snapshot (the same
/// 1,000 alerts) outside the timing.
fn state(c: &mut Criterion) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let reader = AlertReader::new();
    let resource = Resource::builder_empty()
        .with_attributes([KeyValue::new("bitcraps.node.id", "node-bench"), KeyValue::new("region", "eu-west")])
        .build();
    let provider = SdkMeterProvider::builder().with_resource(resource).with_reader(reader.clone()).build();
    let cpu = provider.meter("bitcraps").f64_gauge("bitcraps.cpu.usage").build();
    for i in 0..FIRING {
        cpu.record(99.0, &attrs(i));
    }
    let mut routing = RoutingConfig::default();
    routing.default_route.group_wait = Duration::ZERO;
    let disk = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir on disk");
    let shm = std::path::Path::new("/dev/shm");
    let tmpfs = shm.is_dir().then(|| tempfile::tempdir_in(shm).expect("temp dir on tmpfs"));
    let mut dirs = vec![("disk", disk.path().to_path_buf())];
    dirs.extend(tmpfs.as_ref().map(|d| ("tmpfs", d.path().to_path_buf())));

    let mut lines = Vec::new();
    let mut g = c.benchmark_group("alerting/state-snapshot-1000-firing");
    for (label, dir) in dirs {
        let config = AlertingConfig {
            predefined_rules: false,
            routing: routing.clone(),
            state_dir: Some(dir.clone()),
            ..Default::default()
        };
        let mut alerting = AlertingSystem::new(config);
        alerting
            .add_rule(AlertRule {
                name: "PeerCpuHot".into(),
                description: "A peer's CPU above 85 %".into(),
                metric_name: "bitcraps.cpu.usage".into(),
                condition: AlertCondition::GreaterThan(85.0),
                severity: AlertSeverity::High,
                category: "system".into(),
                ..Default::default()
            })
            .expect("rule");
        alerting.attach(reader.clone());
        let inbox = InMemoryNotifier::new();
        alerting.add_notifier("inbox", Arc::new(inbox.clone()));
        let summary = rt.block_on(alerting.evaluate_now()).expect("cycle");
        assert_eq!(summary.fired, FIRING, "{summary:?}");
        let told: usize = inbox.notifications().iter().map(|n| n.firing.len()).sum();
        assert_eq!(told, FIRING, "every alert was told to the channel");

        let _entered = rt.enter();
        alerting.start_background().expect("start");
        let live = LIVE.load(Ordering::Relaxed);
        PEAK.store(live, Ordering::Relaxed);
        let allocated = ALLOCATED.load(Ordering::Relaxed);
        alerting.stop();
        let peak = PEAK.load(Ordering::Relaxed) - live;
        let allocated = ALLOCATED.load(Ordering::Relaxed) - allocated;
        let size = std::fs::metadata(dir.join(STATE_FILE)).expect("snapshot written").len();
        // The restore at each start puts the same alerts back: every iteration saves 1,000.
        alerting.start_background().expect("start");
        alerting.stop();
        let firing = alerting.alerts().iter().filter(|a| a.state == AlertState::Firing).count();
        assert_eq!(firing, FIRING, "the restored state still holds every firing alert");
        lines.push(format!(
            "memory: one state save, 1,000 firing alerts ({label}): transient peak {}, {} allocated in all; file {}",
            mib(peak),
            mib(allocated),
            mib(size as usize)
        ));

        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    alerting.start_background().expect("start");
                    let t = std::time::Instant::now();
                    alerting.stop();
                    timed += t.elapsed();
                }
                timed
            })
        });
        // The device's share: the same bytes written, fsynced, renamed over and the directory
        // fsynced, with nothing encoded, into the same directory.
        let bytes = std::fs::read(dir.join(STATE_FILE)).expect("snapshot");
        g.bench_function(format!("{label}/reference-bare-write-fsync-rename"), |b| {
            b.iter(|| bare_write(&dir, &bytes).expect("bare write"))
        });
    }
    g.finish();
    lines
}

/// What saving costs without the engine: write `bytes` to a temporary file, fsync it, rename
/// it over the snapshot, fsync the directory.
fn bare_write(dir: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join("bare.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(STATE_FILE))?;
    std::fs::File::open(dir)?.sync_all()
}

/// A named case of [`fastest`].
type Case<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// The fastest of `blocks` × `runs` runs of each case, the cases taking turns block by block.
fn fastest(cases: &mut [Case<'_>], blocks: usize, runs: usize) -> Vec<Duration> {
    let mut best = vec![Duration::MAX; cases.len()];
    for _ in 0..blocks {
        for ((_, case), best) in cases.iter_mut().zip(best.iter_mut()) {
            for _ in 0..runs {
                let t0 = std::time::Instant::now();
                case();
                *best = (*best).min(t0.elapsed());
            }
        }
    }
    best
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(b: usize) -> String {
    format!("{:.2} MiB", b as f64 / (1024.0 * 1024.0))
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async { tokio::time::pause() });
    let reader = AlertReader::new();
    let _provider = provider(&reader);

    let before_engine = LIVE.load(Ordering::Relaxed);
    let alerting = AlertingSystem::new(AlertingConfig { predefined_rules: false, ..Default::default() });
    alerting.replace_rules(rules(), None).expect("valid rules");
    assert_eq!(alerting.rules().len(), 200);
    alerting.attach(reader.clone());
    // Warm up: fill the rate windows and anomaly baselines (25 cycles = 6 min 15 s).
    let cycle = |alerting: &AlertingSystem| {
        rt.block_on(async {
            tokio::time::advance(Duration::from_secs(15)).await;
            alerting.evaluate_now().await.expect("cycle")
        })
    };
    for _ in 0..25 {
        cycle(&alerting);
    }
    let summary = cycle(&alerting);
    assert_eq!((summary.evaluated, summary.series, summary.fired), (200, 10_000, 0), "{summary:?}");
    let engine_state = LIVE.load(Ordering::Relaxed).saturating_sub(before_engine);

    // Transient heap of one collect and of one cycle.
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    black_box(reader.collect().expect("collect"));
    let collect_peak = PEAK.load(Ordering::Relaxed) - live;
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    cycle(&alerting);
    let cycle_peak = PEAK.load(Ordering::Relaxed) - live;

    // The same series under 200 rules that share nothing.
    let before_distinct = LIVE.load(Ordering::Relaxed);
    let distinct = AlertingSystem::new(AlertingConfig { predefined_rules: false, ..Default::default() });
    distinct.replace_rules(distinct_rules(), None).expect("valid rules");
    distinct.attach(reader.clone());
    for _ in 0..28 {
        cycle(&distinct);
    }
    let summary = cycle(&distinct);
    assert_eq!((summary.evaluated, summary.series, summary.fired), (200, 10_000, 0), "{summary:?}");
    let distinct_state = LIVE.load(Ordering::Relaxed).saturating_sub(before_distinct);

    let mut c = Criterion::default().configure_from_args().sample_size(30).measurement_time(Duration::from_secs(8));
    // Each case alone, in a loop of its own: the SDK collect at its best, its caches warm.
    // (Interleaving the cases, as the HTTP benches do, leaves every case's caches cold and
    // slows the collect more than the cycle: it would flatter the ratio.) The SDK's best is a
    // fresh buffer each time: this version fills a reused one more slowly; both are here.
    let mut g = c.benchmark_group("alerting/200-rules-10k-series");
    g.bench_function("sdk-collect-only", |b| b.iter(|| black_box(reader.collect().expect("collect"))));
    let mut reused = ResourceMetrics::default();
    g.bench_function("sdk-collect-only/reused-buffer", |b| {
        b.iter(|| {
            MetricReader::collect(&reader, &mut reused).expect("collect");
            black_box(&reused);
        })
    });
    g.bench_function("evaluation-cycle", |b| b.iter(|| black_box(cycle(&alerting))));
    g.bench_function("evaluation-cycle/no-shared-expressions", |b| b.iter(|| black_box(cycle(&distinct))));
    g.finish();
    // On a shared machine the means above drift from one function to the next. The fastest
    // run of each case, over blocks of runs alternating between the cases, does not: it is
    // each case at its best, caches warm, nothing else in the way.
    // Run with the group, never under `--profile-time` (callgrind counts instructions there).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let profiling = args.iter().any(|a| a == "--profile-time");
    let fastest_lines = if !profiling && (filters.is_empty() || filters.iter().any(|f| f.contains("200-rules"))) {
        let mut reused = ResourceMetrics::default();
        let mut cases: Vec<Case<'_>> = vec![
            ("sdk-collect-only", Box::new(|| drop(black_box(reader.collect().expect("collect"))))),
            (
                "sdk-collect-only/reused-buffer",
                Box::new(|| {
                    MetricReader::collect(&reader, &mut reused).expect("collect");
                    black_box(&reused);
                }),
            ),
            (
                "evaluation-cycle",
                Box::new(|| {
                    black_box(cycle(&alerting));
                }),
            ),
            (
                "evaluation-cycle/no-shared-expressions",
                Box::new(|| {
                    black_box(cycle(&distinct));
                }),
            ),
        ];
        let best = fastest(&mut cases, 40, 10);
        let peer = best[0].min(best[1]);
        cases
            .iter()
            .zip(&best)
            .map(|((name, _), t)| {
                format!(
                    "fastest of 400 runs: {name}: {:.3} ms ({:.2}x the faster SDK collect)",
                    ms(*t),
                    ms(*t) / ms(peer)
                )
            })
            .collect()
    } else {
        Vec::new()
    };

    // What the alert reader, which init() always registers, costs the hot path: the same
    // typed calls with the Prometheus reader alone and with the alert reader beside it.
    let mut g = c.benchmark_group("alerting/hot-path");
    for (label, with_alert) in [("prometheus-reader", false), ("prometheus+alert-reader", true)] {
        let (_bridge, prom) = PrometheusBridge::new([("node_id".to_string(), "bench".to_string())]).expect("bridge");
        let mut builder = SdkMeterProvider::builder().with_reader(prom);
        if with_alert {
            builder = builder.with_reader(AlertReader::new());
        }
        let p = builder.build();
        let m = Metrics::new(&p, MetricsOptions { system_metrics: false, ..Default::default() });
        g.bench_function(format!("counter-inc/{label}"), |b| b.iter(|| m.consensus().proposal_accepted()));
        g.bench_function(format!("histogram-record/{label}"), |b| {
            b.iter(|| m.consensus().record_latency(black_box(Duration::from_millis(40))))
        });
    }
    g.finish();
    load(&mut c);
    let state_lines = state(&mut c);
    c.final_summary();
    for line in fastest_lines {
        println!("{line}");
    }

    println!("memory: engine state after warm-up (200 rules, rate windows full): {}", mib(engine_state));
    println!("memory: the same, 200 rules that share nothing: {}", mib(distinct_state));
    println!("memory: transient peak of one SDK collect: {}", mib(collect_peak));
    println!("memory: transient peak of one evaluation cycle (collect included): {}", mib(cycle_peak));
    for line in state_lines {
        println!("{line}");
    }
}
