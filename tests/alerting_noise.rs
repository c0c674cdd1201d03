//! Noise control, on tokio's paused clock: inhibition (Alertmanager's model, and the
//! predefined rules' own: losing the network pages once), per-channel `send_resolved` and
//! rate limits, and routes without an escalation policy telling the default channels only.

use bitcraps_otel::alerting::*;
use bitcraps_otel::metrics::{Metrics, MetricsOptions};
use bitcraps_otel::semconv::PeerTransport;
use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::advance;

fn cpu_rule(name: &str, threshold: f64, severity: AlertSeverity) -> RuleDefinition {
    AlertRule {
        name: name.into(),
        metric_name: "bitcraps.cpu.usage".into(),
        condition: AlertCondition::GreaterThan(threshold),
        severity,
        category: "system".into(),
        evaluation_interval: Duration::from_secs(1),
        ..Default::default()
    }
    .into()
}

fn fast(mut routing: RoutingConfig) -> RoutingConfig {
    routing.default_route.group_wait = Duration::ZERO;
    routing.default_route.group_interval = Duration::ZERO;
    routing.default_route.repeat_interval = Duration::from_secs(3600);
    routing
}

struct Rig {
    _provider: SdkMeterProvider,
    meter: Meter,
    alerting: AlertingSystem,
}

fn rig(rules: Vec<RuleDefinition>, routing: RoutingConfig, channels: &[(&str, &InMemoryNotifier)]) -> Rig {
    let reader = AlertReader::new();
    let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
    let meter = provider.meter("bitcraps");
    let alerting =
        AlertingSystem::new(AlertingConfig { predefined_rules: false, routing: fast(routing), ..Default::default() });
    alerting.replace_rules(rules, None).expect("rules");
    alerting.attach(reader);
    for (name, inbox) in channels {
        alerting.add_notifier(*name, Arc::new((*inbox).clone()));
    }
    Rig { _provider: provider, meter, alerting }
}

async fn run(r: &Rig, secs: u64, mut each: impl FnMut(u64)) {
    for s in 0..secs {
        each(s);
        r.alerting.evaluate_now().await.expect("cycle");
        advance(Duration::from_secs(1)).await;
    }
}

/// `rule firing|resolved` of everything `inbox` got since last asked, in order.
fn told(inbox: &InMemoryNotifier) -> Vec<String> {
    let mut out = Vec::new();
    for n in inbox.take() {
        out.extend(n.firing.iter().map(|a| format!("{} firing", a.rule)));
        out.extend(n.resolved.iter().map(|a| format!("{} resolved", a.rule)));
    }
    out
}

fn m(text: &str) -> Matcher {
    Matcher::parse(text).expect("matcher")
}

#[tokio::test(start_paused = true)]
async fn an_inhibition_suppresses_the_target_and_releases_it_when_the_source_resolves() {
    let inbox = InMemoryNotifier::new();
    let mut routing = RoutingConfig::default();
    routing.inhibit_rules.push(InhibitRule {
        source: vec![m("alertname=CpuCritical")],
        target: vec![m("alertname=CpuHigh")],
        equal: vec!["transport".into()],
    });
    let r = rig(
        vec![cpu_rule("CpuCritical", 95.0, AlertSeverity::Critical), cpu_rule("CpuHigh", 80.0, AlertSeverity::High)],
        routing,
        &[("inbox", &inbox)],
    );
    let g = r.meter.f64_gauge("bitcraps.cpu.usage").build();
    let ble = [KeyValue::new("transport", "ble")];
    let tcp = [KeyValue::new("transport", "tcp")];
    // ble: critical (so its high is inhibited); tcp: only high, which nothing inhibits.
    run(&r, 5, |_| {
        g.record(99.0, &ble);
        g.record(85.0, &tcp);
    })
    .await;
    let mut got = told(&inbox);
    got.sort();
    assert_eq!(got, ["CpuCritical firing", "CpuHigh firing"], "the tcp one only");
    let inhibited: Vec<Alert> = r.alerting.alerts().into_iter().filter(|a| a.inhibited).collect();
    assert_eq!(inhibited.len(), 1);
    assert_eq!((inhibited[0].rule.as_str(), inhibited[0].labels["transport"].as_str()), ("CpuHigh", "ble"));
    // The cause clears, the symptom stays: released, and told.
    run(&r, 5, |_| {
        g.record(90.0, &ble);
        g.record(85.0, &tcp);
    })
    .await;
    let mut got = told(&inbox);
    got.sort();
    assert_eq!(got, ["CpuCritical resolved", "CpuHigh firing"]);
    assert!(r.alerting.alerts().iter().all(|a| !a.inhibited));
}

#[tokio::test(start_paused = true)]
async fn losing_the_network_pages_once_with_the_predefined_rules() {
    let inbox = InMemoryNotifier::new();
    let reader = AlertReader::new();
    let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
    let metrics = Metrics::new(&provider, MetricsOptions { system_metrics: false, ..Default::default() });
    let mut routing = RoutingConfig::default();
    routing.default_route.group_by = vec!["alertname".into()];
    let alerting =
        AlertingSystem::new(AlertingConfig { predefined_rules: true, routing: fast(routing), ..Default::default() });
    alerting.attach(reader);
    alerting.add_notifier("inbox", Arc::new(inbox.clone()));
    // One peer, some traffic, then the network goes: no peer, no message.
    metrics.network().connection_opened(PeerTransport::Ble);
    for s in 0..600u64 {
        if s < 30 {
            metrics.network().message_sent(PeerTransport::Ble);
        }
        if s == 30 {
            metrics.network().connection_closed(PeerTransport::Ble);
        }
        alerting.evaluate_now().await.expect("cycle");
        advance(Duration::from_secs(1)).await;
    }
    let firing: BTreeSet<String> =
        alerting.alerts().into_iter().filter(|a| a.state == AlertState::Firing).map(|a| a.rule).collect();
    assert!(firing.contains("NoPeerConnections") && firing.contains("NoPeerMessages"), "{firing:?}");
    assert_eq!(told(&inbox), ["NoPeerConnections firing"], "the cause pages; the symptom does not");
}

#[tokio::test(start_paused = true)]
async fn a_channel_without_send_resolved_hears_only_firings() {
    let (chat, sms) = (InMemoryNotifier::new(), InMemoryNotifier::new());
    let mut routing = RoutingConfig::default();
    routing.channel_policies.insert("sms".into(), ChannelPolicy { send_resolved: false, rate_limit: None });
    let r = rig(vec![cpu_rule("CpuHigh", 80.0, AlertSeverity::High)], routing, &[("chat", &chat), ("sms", &sms)]);
    let g = r.meter.f64_gauge("bitcraps.cpu.usage").build();
    run(&r, 20, |s| g.record(if s < 10 { 99.0 } else { 10.0 }, &[])).await;
    assert_eq!(told(&chat), ["CpuHigh firing", "CpuHigh resolved"]);
    assert_eq!(told(&sms), ["CpuHigh firing"]);
    assert!(r.alerting.alerts().is_empty(), "nothing waits on the resolve sms will never get");
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_channel_gets_the_most_severe_first_and_the_rest_when_the_window_has_room() {
    let pager = InMemoryNotifier::new();
    let mut routing = RoutingConfig::default();
    routing.default_route.group_by = vec!["alertname".into()];
    routing.channel_policies.insert(
        "pager".into(),
        ChannelPolicy { send_resolved: true, rate_limit: Some(RateLimit { max: 2, per: Duration::from_secs(60) }) },
    );
    let severities = [AlertSeverity::Low, AlertSeverity::Critical, AlertSeverity::Medium, AlertSeverity::High];
    let rules = severities.iter().enumerate().map(|(i, s)| cpu_rule(&format!("R{i}-{s}"), 50.0, *s)).collect();
    let r = rig(rules, routing, &[("pager", &pager)]);
    let g = r.meter.f64_gauge("bitcraps.cpu.usage").build();
    run(&r, 5, |_| g.record(99.0, &[])).await;
    assert_eq!(told(&pager), ["R1-critical firing", "R3-high firing"], "two in the first minute, most severe first");
    run(&r, 60, |_| g.record(99.0, &[])).await;
    assert_eq!(told(&pager), ["R2-medium firing", "R0-low firing"], "held, not dropped");
}

#[tokio::test(start_paused = true)]
async fn a_route_without_an_escalation_policy_tells_the_default_channels_only() {
    let (log, chat, pager) = (InMemoryNotifier::new(), InMemoryNotifier::new(), InMemoryNotifier::new());
    let mut routing = RoutingConfig::default();
    routing.escalations.insert(
        "page".into(),
        EscalationPolicy::new(vec![EscalationTier { after: Duration::from_secs(600), channels: vec!["pager".into()] }]),
    );
    let channels = [("log", &log), ("chat", &chat), ("pager", &pager)];
    let r = rig(vec![cpu_rule("CpuHigh", 80.0, AlertSeverity::High)], routing.clone(), &channels);
    let g = r.meter.f64_gauge("bitcraps.cpu.usage").build();
    run(&r, 5, |_| g.record(99.0, &[])).await;
    assert_eq!((told(&log).len(), told(&chat).len()), (1, 1));
    assert!(told(&pager).is_empty(), "a pager kept for escalation is not a default channel");

    routing.default_channels = Some(vec!["log".into()]);
    let r = rig(vec![cpu_rule("CpuHigh", 80.0, AlertSeverity::High)], routing, &channels);
    let g = r.meter.f64_gauge("bitcraps.cpu.usage").build();
    run(&r, 5, |_| g.record(99.0, &[])).await;
    assert_eq!((told(&log).len(), told(&chat).len(), told(&pager).len()), (1, 0, 0), "default_channels is the list");
}

#[test]
fn the_rules_file_takes_inhibitions_policies_and_default_channels() {
    let set = parse_rules(
        "noise.yml",
        r#"
predefined: true
default_channels: [log]
inhibit_rules:
  - source_matchers: ['alertname="CpuCritical"']
    target_matchers: ['alertname=~"Cpu.*"', 'severity!="critical"']
    equal: [node_id]
channels:
  sms:
    type: webhook
    url: "https://sms.example/hook"
    send_resolved: false
    rate_limit: { max: 5, per: 1h }
"#,
    )
    .expect("valid");
    let routing = set.effective_routing();
    assert_eq!(routing.default_channels.as_deref(), Some(&["log".to_string()][..]));
    assert_eq!(routing.inhibit_rules[0].target.len(), 2);
    assert_eq!(routing.inhibit_rules.len(), 3, "the file's and the predefined rules' two");
    let sms = routing.channel_policies["sms"];
    assert_eq!(
        sms,
        ChannelPolicy { send_resolved: false, rate_limit: Some(RateLimit { max: 5, per: Duration::from_secs(3600) }) }
    );
    let err = |yaml: &str| parse_rules("noise.yml", yaml).expect_err("invalid").to_string();
    assert_eq!(
        err("inhibit_rules:\n  - source_matchers: ['alertname=\"X\"']\n"),
        "noise.yml:2: inhibit_rules[0].source_matchers: give source_matchers and target_matchers (an empty list would match every alert)"
    );
    assert!(err("default_channels: [pager]\n").starts_with("noise.yml:1: default_channels: no channel named `pager`"));
    assert_eq!(
        err("channels:\n  c: { type: webhook, url: \"https://h\", rate_limit: { max: 0, per: 1h } }\n"),
        "noise.yml:2: channels.c.rate_limit.max: must be 1 to 100000"
    );
}
