//! Crash-safe alert state. In process, on tokio's paused clock: what a restart restores
//! (alerts, what each channel was told, acknowledgements, silences), how a restored rate
//! alert waits for its window, and that a corrupt, foreign or stale snapshot is a clean
//! start. With the node binary and `kill -9`: no second page within `repeat_interval`, and a
//! condition that cleared while the node was down gets exactly one resolve.

mod common;
mod notify_support;

use bitcraps_otel::alerting::*;
use notify_support::{ok, Receiver};
use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::Resource;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::advance;

struct Engine {
    _provider: SdkMeterProvider,
    meter: Meter,
    alerting: AlertingSystem,
    inbox: InMemoryNotifier,
}

fn engine(dir: &Path, node: &str, rules: Vec<RuleDefinition>) -> Engine {
    let reader = AlertReader::new();
    let resource =
        Resource::builder_empty().with_attributes([KeyValue::new("bitcraps.node.id", node.to_string())]).build();
    let provider = SdkMeterProvider::builder().with_resource(resource).with_reader(reader.clone()).build();
    let meter = provider.meter("bitcraps");
    let mut routing = RoutingConfig::default();
    routing.default_route.group_wait = Duration::ZERO;
    routing.default_route.group_interval = Duration::ZERO;
    routing.default_route.repeat_interval = Duration::from_secs(3600);
    let config =
        AlertingConfig { predefined_rules: false, routing, state_dir: Some(dir.to_path_buf()), ..Default::default() };
    let alerting = AlertingSystem::new(config);
    alerting.replace_rules(rules, None).expect("rules");
    alerting.attach(reader);
    let inbox = InMemoryNotifier::new();
    alerting.add_notifier("inbox", Arc::new(inbox.clone()));
    Engine { _provider: provider, meter, alerting, inbox }
}

fn rule(name: &str, metric: &str, condition: AlertCondition) -> RuleDefinition {
    AlertRule {
        name: name.into(),
        description: format!("{name} test rule"),
        metric_name: metric.into(),
        condition,
        severity: AlertSeverity::High,
        category: "test".into(),
        evaluation_interval: Duration::from_secs(1),
        tags: vec![],
    }
    .into()
}

fn hot() -> RuleDefinition {
    rule("HotCpu", "bitcraps.cpu.usage", AlertCondition::GreaterThan(80.0))
}

async fn run(e: &Engine, secs: u64, cpu: f64) {
    let g = e.meter.f64_gauge("bitcraps.cpu.usage").build();
    for _ in 0..secs {
        g.record(cpu, &[]);
        e.alerting.evaluate_now().await.expect("cycle");
        advance(Duration::from_secs(1)).await;
    }
}

fn told(inbox: &InMemoryNotifier) -> Vec<(usize, usize)> {
    inbox.take().iter().map(|n| (n.firing.len(), n.resolved.len())).collect()
}

#[tokio::test(start_paused = true)]
async fn a_restart_restores_what_was_told_acknowledged_and_silenced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = engine(dir.path(), "node-1", vec![hot()]);
    run(&first, 3, 99.0).await;
    assert_eq!(told(&first.inbox), [(1, 0)]);
    let fp = first.alerting.alerts()[0].fingerprint;
    assert!(first.alerting.acknowledge(fp));
    let silence = first
        .alerting
        .silence(vec![Matcher::eq("alertname", "Other").expect("matcher")], Duration::from_secs(3600), "maint")
        .expect("silence");
    first.alerting.start().await.expect("start");
    first.alerting.stop(); // writes the snapshot
    drop(first);
    let text = std::fs::read_to_string(dir.path().join(STATE_FILE)).expect("a snapshot");
    assert!(text.contains("\"state\":\"firing\"") && text.contains("\"inbox\""), "{text}");

    let mut second = engine(dir.path(), "node-1", vec![hot()]);
    second.alerting.start().await.expect("start restores");
    second.alerting.stop();
    let alerts = second.alerting.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!((alerts[0].fingerprint, alerts[0].acknowledged), (fp, true));
    assert_eq!(second.alerting.silences()[0].id, silence);
    run(&second, 600, 99.0).await;
    assert!(told(&second.inbox).is_empty(), "told before the restart: no second page within repeat_interval");
    run(&second, 5, 10.0).await;
    assert_eq!(told(&second.inbox), [(0, 1)], "the channel that heard it fire hears it resolve");
}

#[tokio::test(start_paused = true)]
async fn a_condition_that_cleared_while_down_resolves_once_and_a_removed_rules_alert_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other = rule("HotBattery", "bitcraps.battery.level", AlertCondition::LessThan(20.0));
    let mut first = engine(dir.path(), "node-1", vec![hot(), other.clone()]);
    first.meter.f64_gauge("bitcraps.battery.level").build().record(5.0, &[]);
    run(&first, 3, 99.0).await;
    assert_eq!(told(&first.inbox), [(2, 0)]);
    first.alerting.start().await.expect("start");
    first.alerting.stop();
    drop(first);
    // Back with the CPU cool and the battery rule gone from the rules.
    let mut second = engine(dir.path(), "node-1", vec![hot()]);
    second.alerting.start().await.expect("start");
    second.alerting.stop();
    run(&second, 30, 10.0).await;
    let sent = second.inbox.take();
    let resolved: Vec<&str> = sent.iter().flat_map(|n| n.resolved.iter().map(|a| a.rule.as_str())).collect();
    let firing: usize = sent.iter().map(|n| n.firing.len()).sum();
    assert_eq!((firing, resolved.len()), (0, 2), "{sent:#?}");
    assert!(resolved.contains(&"HotCpu") && resolved.contains(&"HotBattery"));
    assert!(second.alerting.alerts().is_empty(), "nothing left over");
}

#[tokio::test(start_paused = true)]
async fn a_restored_rate_alert_waits_for_its_window_before_it_can_resolve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rate = rule(
        "Forks",
        "bitcraps.consensus.forks",
        AlertCondition::Rate { window: Duration::from_secs(60), threshold: Threshold::GreaterThan(0.5) },
    );
    let mut first = engine(dir.path(), "node-1", vec![rate.clone()]);
    let forks = first.meter.u64_counter("bitcraps.consensus.forks").build();
    // A fork a second: the 60 s rate reaches 1/s once the window is full.
    for _ in 0..70 {
        forks.add(1, &[]);
        first.alerting.evaluate_now().await.expect("cycle");
        advance(Duration::from_secs(1)).await;
    }
    assert_eq!(told(&first.inbox), [(1, 0)]);
    first.alerting.start().await.expect("start");
    first.alerting.stop();
    drop(first);
    let mut second = engine(dir.path(), "node-1", vec![rate]);
    second.alerting.start().await.expect("start");
    second.alerting.stop();
    let forks = second.meter.u64_counter("bitcraps.consensus.forks").build();
    // Still forking at the same pace: the new process has no window yet (its rate reads
    // well under 0.5 for half a minute), which must not read as "cleared".
    for _ in 0..120 {
        forks.add(1, &[]);
        second.alerting.evaluate_now().await.expect("cycle");
        advance(Duration::from_secs(1)).await;
    }
    assert!(told(&second.inbox).is_empty(), "no resolve (and no second page) while it still holds");
    assert_eq!(second.alerting.alerts().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_corrupt_foreign_or_stale_snapshot_is_a_clean_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(STATE_FILE);
    for garbage in ["", "{not json", "{\"format\":\"something-else/9\"}", "[1,2,3]"] {
        std::fs::write(&path, garbage).expect("write");
        let mut e = engine(dir.path(), "node-1", vec![hot()]);
        e.alerting.start().await.expect("a corrupt snapshot does not stop the engine");
        e.alerting.stop();
        assert!(e.alerting.alerts().is_empty(), "{garbage:?}");
    }
    // A real snapshot of node-1, read by node-2: not restored.
    let mut first = engine(dir.path(), "node-1", vec![hot()]);
    run(&first, 3, 99.0).await;
    first.alerting.start().await.expect("start");
    first.alerting.stop();
    drop(first);
    let mut foreign = engine(dir.path(), "node-2", vec![hot()]);
    foreign.alerting.start().await.expect("start");
    foreign.alerting.stop();
    assert!(foreign.alerting.alerts().is_empty(), "another node's alerts are not this node's");
    // The same node, two days later: older than the 24 h tolerance.
    let mut first = engine(dir.path(), "node-1", vec![hot()]);
    run(&first, 3, 99.0).await;
    first.alerting.start().await.expect("start");
    first.alerting.stop();
    drop(first);
    advance(Duration::from_secs(48 * 3600)).await;
    let mut late = engine(dir.path(), "node-1", vec![hot()]);
    late.alerting.start().await.expect("start");
    late.alerting.stop();
    assert!(late.alerting.alerts().is_empty(), "a stale snapshot is not restored");
}

const NODE_RULES: &str = r##"
predefined: false
rules:
  # Memory in use holds from the first collection of every life (a counter would restart
  # from zero and clear for a moment).
  - name: Memory In Use
    metric: bitcraps.memory.usage
    condition: { greater_than: THRESHOLD }
    severity: info
    category: system
    every: 1s
  # New in each life, firing 2 s after start: once it is heard, everything the node queued
  # before it has been sent (one worker per channel, in order).
  - name: CANARY
    metric: bitcraps_games_total
    aggregate: sum
    condition: { greater_than: -1 }
    severity: low
    category: canary
    every: 1s
    for: 2s
default_route:
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
channels:
  hook:
    type: webhook
    url: "${STATE_TEST_HOOK}"
"##;

/// `(alertname, status)` of every alert the webhook received, in order.
fn heard(rx: &Receiver) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in rx.requests() {
        let v = r.json();
        for status in ["firing", "resolved"] {
            for a in v[status].as_array().cloned().unwrap_or_default() {
                out.push((a["rule"].as_str().unwrap_or_default().to_string(), status.to_string()));
            }
        }
    }
    out
}

fn pair(rule: &str, status: &str) -> (String, String) {
    (rule.to_string(), status.to_string())
}

fn kill_9(node: common::Node) {
    let mut node = node;
    node.child.0.kill().expect("kill -9");
    let _ = node.child.0.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_killed_while_firing_neither_pages_twice_nor_forgets_a_resolve() {
    let rx = Receiver::start(ok(200)).await;
    let state = tempfile::tempdir().expect("tempdir");
    let rules = state.path().join("rules.yml");
    let hook = rx.url("/hook");
    let dir = state.path().to_str().unwrap_or_default().to_string();
    let env = [("STATE_TEST_HOOK", hook.as_str()), ("BITCRAPS_STATE_DIR", dir.as_str())];
    let start = |threshold: &str, canary: &str| {
        std::fs::write(&rules, NODE_RULES.replace("THRESHOLD", threshold).replace("CANARY", canary)).expect("rules");
        common::start_node(&env, &["--alert-rules", rules.to_str().unwrap_or_default()])
    };
    let heard_it = |what: (String, String)| common::wait_for(|| heard(&rx).contains(&what).then_some(())).is_some();
    let games = pair("Memory In Use", "firing");
    let snapshot = state.path().join(STATE_FILE);
    let saved = |canary: &str| {
        common::wait_for(|| {
            let text = std::fs::read_to_string(&snapshot).ok()?;
            (text.contains(canary) && text.contains("\"hook\":")).then_some(())
        })
        .is_some()
    };

    // First life: the rule fires and is told, the snapshot records it; kill -9.
    let node = start("0", "Canary One");
    assert!(heard_it(pair("Canary One", "firing")), "{:?}", heard(&rx));
    assert!(heard(&rx).contains(&games));
    assert!(saved("Canary One"), "the snapshot records what the webhook was told");
    kill_9(node);

    // Second life, the rule still firing: by the time this life's canary is heard, a second
    // page would have been heard before it.
    let node = start("0", "Canary Two");
    assert!(heard_it(pair("Canary Two", "firing")), "{:?}", heard(&rx));
    assert_eq!(heard(&rx).iter().filter(|h| **h == games).count(), 1, "no second page: {:?}", heard(&rx));
    assert!(saved("Canary Two"));
    kill_9(node);

    // Third life: the condition no longer holds (the threshold was raised while the node was
    // down): exactly one resolve, and still one page in three lives.
    let _node = start("1e15", "Canary Three");
    assert!(heard_it(pair("Canary Three", "firing")), "{:?}", heard(&rx));
    let all = heard(&rx);
    assert_eq!(all.iter().filter(|h| **h == games).count(), 1, "{all:?}");
    assert_eq!(all.iter().filter(|h| **h == pair("Memory In Use", "resolved")).count(), 1, "{all:?}");
}
