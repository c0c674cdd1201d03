//! Reloads that leave no zombie, on tokio's paused clock: a rule whose threshold, severity or
//! existence changes while it fires sends exactly one resolve (and fires again only when the
//! new definition says so); a rules file's channels are replaced with its rules, and a bad
//! file changes nothing.

mod notify_support;

use bitcraps_otel::alerting::*;
use notify_support::{ok, Receiver};
use opentelemetry::metrics::{Gauge, Meter, MeterProvider};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::advance;

struct Rig {
    _provider: SdkMeterProvider,
    meter: Meter,
    alerting: AlertingSystem,
    inbox: InMemoryNotifier,
}

fn rig() -> Rig {
    let reader = AlertReader::new();
    let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
    let meter = provider.meter("bitcraps");
    let mut routing = RoutingConfig::default();
    routing.default_route.group_wait = Duration::ZERO;
    routing.default_route.group_interval = Duration::ZERO;
    let alerting = AlertingSystem::new(AlertingConfig { predefined_rules: false, routing, ..Default::default() });
    alerting.add_rule(hot_cpu(80.0, AlertSeverity::High)).expect("rule");
    alerting.attach(reader);
    let inbox = InMemoryNotifier::new();
    alerting.add_notifier("inbox", Arc::new(inbox.clone()));
    Rig { _provider: provider, meter, alerting, inbox }
}

fn hot_cpu(threshold: f64, severity: AlertSeverity) -> AlertRule {
    AlertRule {
        name: "HotCpu".into(),
        description: "CPU too hot".into(),
        metric_name: "bitcraps.cpu.usage".into(),
        condition: AlertCondition::GreaterThan(threshold),
        severity,
        category: "system".into(),
        evaluation_interval: Duration::from_secs(1),
        tags: vec![],
    }
}

fn cpu(meter: &Meter) -> Gauge<f64> {
    meter.f64_gauge("bitcraps.cpu.usage").build()
}

async fn run(r: &Rig, secs: u64, value: f64) {
    let g = cpu(&r.meter);
    for _ in 0..secs {
        g.record(value, &[]);
        r.alerting.evaluate_now().await.expect("cycle");
        advance(Duration::from_secs(1)).await;
    }
}

/// `(firing, resolved)` rule names and severities of everything the inbox got since last asked.
fn told(inbox: &InMemoryNotifier) -> Vec<(String, String, &'static str)> {
    let mut out = Vec::new();
    for n in inbox.take() {
        for (a, what) in n.firing.iter().map(|a| (a, "firing")).chain(n.resolved.iter().map(|a| (a, "resolved"))) {
            out.push((a.rule.clone(), a.severity.to_string(), what));
        }
    }
    out
}

fn hot(severity: &str, what: &'static str) -> (String, String, &'static str) {
    ("HotCpu".to_string(), severity.to_string(), what)
}

#[tokio::test(start_paused = true)]
async fn a_threshold_raised_above_the_value_while_firing_resolves_once() {
    let r = rig();
    run(&r, 5, 90.0).await;
    assert_eq!(told(&r.inbox), [hot("high", "firing")]);
    r.alerting.add_rule(hot_cpu(95.0, AlertSeverity::High)).expect("new threshold");
    run(&r, 30, 90.0).await;
    assert_eq!(told(&r.inbox), [hot("high", "resolved")], "one resolve, nothing left firing");
    assert!(r.alerting.alerts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_threshold_changed_but_still_crossed_keeps_the_alert_without_a_new_page() {
    let r = rig();
    run(&r, 5, 90.0).await;
    assert_eq!(told(&r.inbox).len(), 1);
    r.alerting.add_rule(hot_cpu(85.0, AlertSeverity::High)).expect("new threshold");
    run(&r, 30, 90.0).await;
    assert!(told(&r.inbox).is_empty(), "same alert, same identity: no resolve, no second page");
    assert_eq!(r.alerting.alerts().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_severity_changed_while_firing_resolves_the_old_alert_and_fires_the_new_one() {
    let r = rig();
    run(&r, 5, 90.0).await;
    assert_eq!(told(&r.inbox), [hot("high", "firing")]);
    r.alerting.add_rule(hot_cpu(80.0, AlertSeverity::Critical)).expect("new severity");
    run(&r, 30, 90.0).await;
    let mut got = told(&r.inbox);
    got.sort();
    assert_eq!(got, [hot("critical", "firing"), hot("high", "resolved")]);
    let alerts = r.alerting.alerts();
    assert_eq!((alerts.len(), alerts[0].severity), (1, AlertSeverity::Critical));
}

#[tokio::test(start_paused = true)]
async fn a_rule_removed_or_disabled_while_firing_sends_one_resolve_with_its_description() {
    let r = rig();
    run(&r, 5, 90.0).await;
    assert_eq!(told(&r.inbox).len(), 1);
    assert!(r.alerting.remove_rule("HotCpu"));
    run(&r, 30, 90.0).await;
    let sent = r.inbox.notifications();
    assert_eq!(told(&r.inbox), [hot("high", "resolved")]);
    assert_eq!(sent[0].resolved[0].description, "CPU too hot");
    assert!(r.alerting.alerts().is_empty());

    let r = rig();
    run(&r, 5, 90.0).await;
    assert_eq!(told(&r.inbox).len(), 1);
    let disabled =
        hot_cpu(80.0, AlertSeverity::High).with_options(RuleOptions { enabled: false, ..Default::default() });
    r.alerting.add_rule(disabled).expect("disable");
    run(&r, 30, 90.0).await;
    assert_eq!(told(&r.inbox), [hot("high", "resolved")]);
    assert!(r.alerting.alerts().is_empty());
}

const FILE: &str = r##"
predefined: false
rules:
  - { name: HotCpu, metric: bitcraps.cpu.usage, condition: { greater_than: THRESHOLD }, severity: high, category: system, every: 1s }
default_route: { group_wait: 0s, group_interval: 0s, escalation: chat }
escalations:
  chat:
    - { after: 0s, channels: [hook] }
channels:
  hook: { type: webhook, url: "URL" }
"##;

fn file(threshold: &str, url: &str) -> RuleSet {
    parse_rules("reload.yml", &FILE.replace("THRESHOLD", threshold).replace("URL", url)).expect("valid file")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_replaces_the_files_channels_with_its_rules_and_a_bad_file_changes_nothing() {
    let first = Receiver::start(ok(200)).await;
    let second = Receiver::start(ok(200)).await;
    let reader = AlertReader::new();
    let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
    let g = cpu(&provider.meter("bitcraps"));
    let alerting = AlertingSystem::new(AlertingConfig { predefined_rules: false, ..Default::default() });
    alerting.attach(reader);
    alerting.apply(&file("80", &first.url("/hook"))).expect("apply");
    g.record(90.0, &[]);
    alerting.evaluate_now().await.expect("cycle");
    assert_eq!(first.requests().len(), 1, "the first file's channel heard the firing");

    // A file whose channel cannot be built: nothing changes, the old channel stays.
    let mut broken = file("95", &second.url("/hook"));
    if let Some(c) = broken.channels.first_mut() {
        c.spec = channels::ChannelSpec::Webhook {
            url: channels::Secret::new(""),
            headers: Default::default(),
            hmac_secret: None,
        };
    }
    assert!(alerting.apply(&broken).is_err());
    assert_eq!(alerting.rules()[0].rule.condition, AlertCondition::GreaterThan(80.0), "old rules in force");

    // The new file: a threshold the value no longer crosses, and the channel elsewhere. The
    // resolve goes to the channel in force now.
    alerting.apply(&file("95", &second.url("/hook"))).expect("apply");
    alerting.evaluate_now().await.expect("cycle");
    let got = second.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["status"], "resolved");
    assert_eq!(first.requests().len(), 1, "the old channel is gone");
    assert!(alerting.alerts().is_empty());
}
