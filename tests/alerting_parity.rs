//! One rule set, two runtimes: the same synthetic series go through the in-process engine (on
//! tokio's paused clock, one evaluation per step) and, as a `promtool test rules` file, through
//! the exported Prometheus rules. The engine's firing alerts at every step — labels included —
//! become promtool's expectations, so promtool passes only if Prometheus fires the same alerts
//! at the same evaluations. The rules cover every condition: thresholds, a histogram's mean,
//! rates (with a counter reset), ratios with and without a window, `absent_for` plus `for`,
//! anomalies on a gauge and on a counter total that resets, a derived metric, `by`, `!=`,
//! extra labels and `keep_firing_for`.

mod common;

use bitcraps_otel::alerting::*;
use bitcraps_otel::semconv;
use opentelemetry::metrics::{Histogram, Meter, MeterProvider};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Seconds between two steps (the engine's evaluations, Prometheus' samples).
const STEP: u64 = 15;
/// Steps simulated: 35 minutes.
const STEPS: u64 = 140;

const RULES: &str = r#"
predefined: false
rules:
  - name: CpuHigh
    metric: bitcraps.cpu.usage
    condition: { greater_than: 85 }
    severity: high
    category: system
    for: 30s
    labels: { team: core }
  - name: LatencyHigh
    metric: bitcraps.network.latency
    condition: { greater_than: 0.25 }
    severity: medium
    category: network
    for: 30s
  - name: CriticalErrors
    metric: bitcraps.errors
    match: { severity: critical }
    condition: { rate_over: 1m, greater_than: 0.05 }
    severity: high
    category: reliability
    aggregate: sum
  - name: SendRateHigh
    metric: bitcraps.network.messages.sent
    match: { transport: "!=wifi" }
    condition: { rate_over: 1m, greater_than: 1 }
    severity: low
    category: network
  - name: CacheHitRatioLow
    metric: bitcraps.cache.hits
    match: { cache: game_state }
    condition: { ratio_to: bitcraps.cache.misses, window: 2m, less_than: 1 }
    severity: low
    category: mobile
    for: 15s
  - name: RejectionsOverall
    metric: bitcraps.consensus.proposals.rejected
    condition: { ratio_to: bitcraps.consensus.proposals.accepted, greater_than: 0.5 }
    severity: medium
    category: consensus
  - name: ForksSilent
    metric: bitcraps.consensus.forks
    condition: { absent_for: 1m }
    severity: low
    category: consensus
    for: 30s
  - name: ConnectionsLost
    metric: bitcraps.network.active_connections
    match: { transport: "!=wifi" }
    condition: { less_than: 1 }
    severity: critical
    category: network
    aggregate: sum
    by: [transport]
    keep_firing_for: 30s
  - name: TemperatureAnomaly
    metric: bitcraps.device.temperature
    condition: { anomaly: { deviations: 3, alpha: 0.2, warmup: 10 } }
    severity: medium
    category: mobile
  - name: DisputeSpike
    metric: bitcraps.game.disputes
    condition: { anomaly: { deviations: 4, alpha: 0.1, warmup: 10 } }
    severity: medium
    category: gaming
    aggregate: sum
    every: 30s
  - name: GameErrorsHigh
    metric: gaming_error_rate
    condition: { greater_than: 0.1 }
    severity: high
    category: gaming
    every: 30s
    keep_firing_for: 30s
"#;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Gauge,
    Counter,
    UpDown,
    /// One observation per step (or none); the value is the observation.
    Histogram,
}

/// One synthetic series: its OTel metric, attributes, and value at each step (`None`: absent).
struct Series {
    metric: &'static str,
    kind: Kind,
    attrs: &'static [(&'static str, &'static str)],
    value: fn(u64) -> Option<f64>,
}

/// A counter growing by `per_step(k)` at each step (0 at step 0).
fn total(k: u64, per_step: impl Fn(u64) -> f64) -> f64 {
    (1..=k).map(per_step).sum()
}

fn series() -> Vec<Series> {
    vec![
        Series { metric: "bitcraps.uptime", kind: Kind::Gauge, attrs: &[], value: |k| Some((k * STEP) as f64) },
        // Hot for 10 steps; then a 2-step blip that `for: 30s` must not let fire.
        Series {
            metric: "bitcraps.cpu.usage",
            kind: Kind::Gauge,
            attrs: &[],
            value: |k| Some(if (20..30).contains(&k) || (60..62).contains(&k) { 92.0 } else { 40.0 }),
        },
        // Round trips of 0.1 s, then 0.5 s for 20 steps: the 5-minute mean crosses 0.25.
        Series {
            metric: "bitcraps.network.latency",
            kind: Kind::Histogram,
            attrs: &[],
            value: |k| Some(if (40..60).contains(&k) { 0.5 } else { 0.1 }),
        },
        // Critical errors, one a step for 10 steps; the node restarts at step 80 (reset).
        Series {
            metric: "bitcraps.errors",
            kind: Kind::Counter,
            attrs: &[("category", "network"), ("severity", "critical")],
            value: |k| {
                let burst = |j: u64| if (30..40).contains(&j) { 1.0 } else { 0.0 };
                Some(if k < 80 { total(k, burst) } else { total(k - 80, |_| 0.0) })
            },
        },
        Series {
            metric: "bitcraps.errors",
            kind: Kind::Counter,
            attrs: &[("category", "gaming"), ("severity", "low")],
            value: |k| Some(total(k, |j| if (100..112).contains(&j) { 3.0 } else { 0.0 })),
        },
        Series {
            metric: "bitcraps.games",
            kind: Kind::Counter,
            attrs: &[("game_type", "cash")],
            value: |k| Some(total(k, |_| 10.0)),
        },
        Series {
            metric: "bitcraps.network.messages.sent",
            kind: Kind::Counter,
            attrs: &[("transport", "ble")],
            value: |k| Some(total(k, |j| if (70..90).contains(&j) { 30.0 } else { 6.0 })),
        },
        Series {
            metric: "bitcraps.network.messages.sent",
            kind: Kind::Counter,
            attrs: &[("transport", "wifi")],
            value: |k| Some(total(k, |_| 60.0)),
        },
        Series {
            metric: "bitcraps.cache.hits",
            kind: Kind::Counter,
            attrs: &[("cache", "game_state")],
            value: |k| Some(total(k, |j| if (50..70).contains(&j) { 1.0 } else { 3.0 })),
        },
        Series {
            metric: "bitcraps.cache.misses",
            kind: Kind::Counter,
            attrs: &[("cache", "game_state")],
            value: |k| Some(total(k, |j| if (50..70).contains(&j) { 3.0 } else { 1.0 })),
        },
        Series {
            metric: "bitcraps.consensus.proposals.accepted",
            kind: Kind::Counter,
            attrs: &[],
            value: |k| Some(total(k, |_| 2.0)),
        },
        Series {
            metric: "bitcraps.consensus.proposals.rejected",
            kind: Kind::Counter,
            attrs: &[("reason", "timeout")],
            value: |k| Some(total(k, |j| if j >= 70 { 5.0 } else { 0.0 })),
        },
        // Present from step 10 to 40 only.
        Series {
            metric: "bitcraps.consensus.forks",
            kind: Kind::Counter,
            attrs: &[],
            value: |k| (10..=40).contains(&k).then_some(0.0),
        },
        Series {
            metric: "bitcraps.network.active_connections",
            kind: Kind::UpDown,
            attrs: &[("transport", "ble")],
            value: |k| Some(if (20..40).contains(&k) { 0.0 } else { 2.0 }),
        },
        Series {
            metric: "bitcraps.network.active_connections",
            kind: Kind::UpDown,
            attrs: &[("transport", "tcp")],
            value: |_| Some(3.0),
        },
        Series {
            metric: "bitcraps.network.active_connections",
            kind: Kind::UpDown,
            attrs: &[("transport", "wifi")],
            value: |_| Some(0.0),
        },
        // 40 °C with a little noise, a jump at steps 50-51.
        Series {
            metric: "bitcraps.device.temperature",
            kind: Kind::Gauge,
            attrs: &[],
            value: |k| Some(if (50..52).contains(&k) { 48.0 } else { 40.0 + if k % 2 == 0 { 0.5 } else { -0.5 } }),
        },
        // Two steady dispute counters; the node restarts just after step 58, so at step 60 both
        // totals are back near zero (no event lost); a spike at step 100.
        Series {
            metric: "bitcraps.game.disputes",
            kind: Kind::Counter,
            attrs: &[("reason", "timeout")],
            value: |k| {
                let inc = |j: u64| if j == 100 { 40.0 } else { 1.0 + (j % 3) as f64 };
                Some(if k < 60 { total(k, inc) } else { (59..=k).map(inc).sum() })
            },
        },
        Series {
            metric: "bitcraps.game.disputes",
            kind: Kind::Counter,
            attrs: &[("reason", "other")],
            value: |k| Some(if k < 60 { total(k, |j| (j % 2) as f64) } else { (59..=k).map(|j| (j % 2) as f64).sum() }),
        },
    ]
}

fn attrs(s: &Series) -> Vec<KeyValue> {
    s.attrs.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect()
}

/// Registers every series with `meter`, read at collection time from `step`.
fn instruments(meter: &Meter, step: Arc<AtomicU64>) -> Vec<(usize, Histogram<f64>)> {
    let all = Arc::new(series());
    let mut histograms = Vec::new();
    let mut by_metric: BTreeMap<&'static str, (Kind, Vec<usize>)> = BTreeMap::new();
    for (i, s) in all.iter().enumerate() {
        by_metric.entry(s.metric).or_insert((s.kind, Vec::new())).1.push(i);
    }
    for (metric, (kind, idx)) in by_metric {
        let (all, step) = (Arc::clone(&all), Arc::clone(&step));
        let observe = move |o: &dyn opentelemetry::metrics::AsyncInstrument<f64>| {
            let k = step.load(Ordering::SeqCst);
            for i in &idx {
                if let Some(v) = (all[*i].value)(k) {
                    o.observe(v, &attrs(&all[*i]));
                }
            }
        };
        match kind {
            Kind::Gauge => {
                let _ = meter.f64_observable_gauge(metric).with_callback(move |o| observe(o)).build();
            }
            Kind::Counter => {
                let _ = meter.f64_observable_counter(metric).with_callback(move |o| observe(o)).build();
            }
            Kind::UpDown => {
                let _ = meter.f64_observable_up_down_counter(metric).with_callback(move |o| observe(o)).build();
            }
            Kind::Histogram => {
                let h = meter.f64_histogram(metric).build();
                histograms.extend(
                    series().iter().enumerate().filter(|(_, s)| s.metric == metric).map(|(i, _)| (i, h.clone())),
                );
            }
        }
    }
    histograms
}

type Firing = BTreeMap<String, Vec<BTreeSet<BTreeMap<String, String>>>>;

/// Runs the engine over every step; the firing alerts of each rule after each step.
async fn run_engine(rules: &[RuleDefinition]) -> Firing {
    let reader = AlertReader::new();
    let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
    let meter = provider.meter("bitcraps");
    let step = Arc::new(AtomicU64::new(0));
    let histograms = instruments(&meter, Arc::clone(&step));
    let all = series();
    let alerting = AlertingSystem::new(AlertingConfig { predefined_rules: false, ..Default::default() });
    alerting.replace_rules(rules.to_vec(), None).expect("rules");
    alerting.attach(reader);
    let mut firing: Firing = BTreeMap::new();
    for k in 0..STEPS {
        step.store(k, Ordering::SeqCst);
        for (i, h) in &histograms {
            if let Some(v) = (all[*i].value)(k) {
                h.record(v, &attrs(&all[*i]));
            }
        }
        alerting.evaluate_now().await.expect("cycle");
        for r in rules {
            let now: BTreeSet<_> = alerting
                .alerts()
                .into_iter()
                .filter(|a| a.rule == r.rule.name && a.state == AlertState::Firing)
                .map(|a| a.labels)
                .collect();
            firing.entry(r.rule.name.clone()).or_default().push(now);
        }
        tokio::time::advance(Duration::from_secs(STEP)).await;
    }
    drop(provider);
    firing
}

/// The Prometheus samples of every series at steps `0, stride, 2·stride, …`, as promtool's
/// `input_series` (`_` missing, `stale` where a series disappears). Every series also carries
/// labels a scrape adds, which the exported rules must drop.
fn input_series(stride: u64) -> Vec<serde_yaml::Value> {
    let scrape = [("node_id", "parity-node"), ("job", "bitcraps"), ("instance", "10.0.0.7:9090")];
    let mut out = Vec::new();
    for s in series() {
        let def = semconv::lookup(s.metric).expect("registered metric");
        let labels: Vec<String> = s.attrs.iter().chain(scrape.iter()).map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let steps: Vec<u64> = (0..STEPS).step_by(stride as usize).collect();
        let tokens = |f: &dyn Fn(u64) -> Option<f64>| -> String {
            let mut prev = None;
            steps
                .iter()
                .map(|k| {
                    let v = f(*k);
                    let t = match (v, prev) {
                        (Some(v), _) => format!("{v}"),
                        (None, Some(_)) => "stale".to_string(),
                        (None, None) => "_".to_string(),
                    };
                    prev = v;
                    t
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut add = |name: String, values: String| {
            let mut m = serde_yaml::Mapping::new();
            m.insert("series".into(), format!("{name}{{{}}}", labels.join(",")).into());
            m.insert("values".into(), values.into());
            out.push(serde_yaml::Value::Mapping(m));
        };
        if s.kind == Kind::Histogram {
            let value = s.value;
            let sum = move |k: u64| Some((0..=k).filter_map(value).sum::<f64>());
            let count = move |k: u64| Some((0..=k).filter(|j| value(*j).is_some()).count() as f64);
            add(format!("{}_sum", def.prometheus_name), tokens(&sum));
            add(format!("{}_count", def.prometheus_name), tokens(&count));
        } else {
            add(def.prometheus_name.to_string(), tokens(&s.value));
        }
    }
    out
}

/// The exported rules without annotations (promtool compares them too; `{{ $value }}` is not
/// the engine's formatting, and identity is what this test is about).
fn rules_without_annotations(yaml: &str) -> String {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(yaml).expect("exported YAML");
    if let Some(groups) = doc.get_mut("groups").and_then(|g| g.as_sequence_mut()) {
        for g in groups {
            if let Some(rules) = g.get_mut("rules").and_then(|r| r.as_sequence_mut()) {
                for r in rules {
                    if let Some(m) = r.as_mapping_mut() {
                        m.remove("annotations");
                    }
                }
            }
        }
    }
    serde_yaml::to_string(&doc).expect("YAML")
}

#[tokio::test(start_paused = true)]
async fn the_engine_and_the_exported_rules_fire_the_same_alerts_at_the_same_evaluations() {
    if common::tool_missing("promtool") {
        return;
    }
    let set = parse_rules("parity.yml", RULES).expect("valid rules");
    let rules = set.effective_rules(None);
    let firing = run_engine(&rules).await;

    // Not vacuous: every rule fires at some step and is quiet at another.
    for (rule, steps) in &firing {
        assert!(steps.iter().any(|s| !s.is_empty()), "{rule} never fired in the engine");
        assert!(steps.iter().any(BTreeSet::is_empty), "{rule} fired throughout");
    }
    let first = |rule: &str| firing[rule].iter().position(|s| !s.is_empty());
    // The counter reset at step 60 is not a dispute spike; the spike at step 100 is.
    assert_eq!(first("DisputeSpike"), Some(100), "{:?}", firing["DisputeSpike"]);
    // Absent from the start: 1m absent + 30s `for` = 6 steps; back at step 10; gone after 40.
    assert_eq!(first("ForksSilent"), Some(6));
    assert!(firing["ForksSilent"][10].is_empty() && !firing["ForksSilent"][47].is_empty());
    // The 2-step CPU blip at 60 never outlasts `for: 30s`.
    assert!(firing["CpuHigh"][60..64].iter().all(BTreeSet::is_empty));
    // The critical-error counter's reset at step 80 is not a burst of errors.
    assert!(firing["CriticalErrors"][80..90].iter().all(BTreeSet::is_empty));

    // The same series and rules through promtool, one test per evaluation interval (promtool
    // evaluates every group at the file's `evaluation_interval`).
    let dir = tempfile::tempdir().expect("temp dir");
    let mut by_every: BTreeMap<u64, Vec<RuleDefinition>> = BTreeMap::new();
    for r in &rules {
        by_every.entry(r.rule.evaluation_interval.as_secs()).or_default().push(r.clone());
    }
    for (every, subset) in by_every {
        let stride = every / STEP;
        let options = PromExportOptions { identity_labels: Vec::new() };
        let exported = prometheus_rules_with(&subset, &options).expect("export");
        let rules_file = dir.path().join(format!("rules-{every}s.yml"));
        std::fs::write(&rules_file, rules_without_annotations(&exported)).expect("write rules");
        let mut tests = Vec::new();
        for r in &subset {
            for k in (0..STEPS).step_by(stride as usize) {
                let alerts: Vec<serde_yaml::Value> = firing[&r.rule.name][k as usize]
                    .iter()
                    .map(|labels| {
                        let mut exp = serde_yaml::Mapping::new();
                        for (name, value) in labels.iter().filter(|(n, _)| n.as_str() != "alertname") {
                            exp.insert(name.clone().into(), value.clone().into());
                        }
                        let mut a = serde_yaml::Mapping::new();
                        a.insert("exp_labels".into(), serde_yaml::Value::Mapping(exp));
                        serde_yaml::Value::Mapping(a)
                    })
                    .collect();
                let mut t = serde_yaml::Mapping::new();
                t.insert("eval_time".into(), format!("{}s", k * STEP).into());
                t.insert("alertname".into(), r.rule.name.clone().into());
                t.insert("exp_alerts".into(), serde_yaml::Value::Sequence(alerts));
                tests.push(serde_yaml::Value::Mapping(t));
            }
        }
        let test = serde_yaml::to_string(&serde_json::json!({
            "rule_files": [rules_file.file_name().and_then(|f| f.to_str()).expect("name")],
            "evaluation_interval": format!("{every}s"),
            "tests": [{
                "interval": format!("{every}s"),
                "input_series": input_series(stride),
                "alert_rule_test": tests,
            }],
        }))
        .expect("test YAML");
        let test_file = dir.path().join(format!("test-{every}s.yml"));
        std::fs::write(&test_file, test).expect("write test");
        let out = Command::new("promtool").arg("test").arg("rules").arg(&test_file).output().expect("run promtool");
        let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(
            out.status.success(),
            "Prometheus does not fire what the engine fires (every {every}s); rules:\n{exported}\n{report}"
        );
    }
}
