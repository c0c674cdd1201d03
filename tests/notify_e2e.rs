//! End to end: the node's metrics (through `init`'s pipeline and the alert reader) cross a
//! threshold, the rule from a rules file fires, and the Slack and PagerDuty channels of the
//! same file (secrets from `${ENV}`) each get exactly one notification on loopback; the
//! metric recovers and each gets exactly one resolution.

mod notify_support;

use bitcraps_otel::alerting::channels::register_channels;
use bitcraps_otel::alerting::*;
use bitcraps_otel::semconv::PeerTransport;
use bitcraps_otel::{Config, TelemetryBuilder};
use notify_support::{counter, ok, Receiver};
use std::time::Duration;

const RULES: &str = r##"
predefined: false
rules:
  - name: Too Many Peers
    description: More peers than this node should hold
    metric: bitcraps_network_active_connections
    condition: { greater_than: 3 }
    severity: critical
    category: network
    every: 200ms
default_route:
  group_wait: 0s
  group_interval: 0s
  repeat_interval: 1h
channels:
  slack:
    type: slack
    webhook_url: ${E2E_SLACK_WEBHOOK}
    channel: "#bitcraps-alerts"
    initial_backoff: 50ms
  pagerduty:
    type: pagerduty
    routing_key: ${E2E_PD_ROUTING_KEY}
    url: ${E2E_PD_URL}
    timeout: 2s
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threshold_crossed_fires_once_per_channel_then_resolves_once_per_channel() {
    let slack_rx = Receiver::start(ok(200)).await;
    let pd_rx = Receiver::start(ok(202)).await;
    std::env::set_var("E2E_SLACK_WEBHOOK", slack_rx.url("/services/T0/B0/E2ESECRET"));
    std::env::set_var("E2E_PD_ROUTING_KEY", "E2EROUTINGKEY000000000000000000");
    std::env::set_var("E2E_PD_URL", pd_rx.url("/v2/enqueue"));
    let set = parse_rules("e2e.yml", RULES).expect("rules file");
    assert_eq!(set.channels.len(), 2);

    let config = Config::builder().without_prometheus().without_health().build().expect("config");
    let telemetry = TelemetryBuilder::new(config).alerting(true).start().expect("telemetry");
    let reader = AlertReader::global().expect("alert reader");
    let mut alerting = AlertingSystem::new(AlertingConfig {
        predefined_rules: false,
        tick: Duration::from_millis(100),
        ..Default::default()
    });
    alerting.apply(&set).expect("apply");
    assert_eq!(register_channels(&alerting, &set.channels).expect("channels"), 2);
    alerting.attach(reader.clone());
    // All five connections exist before the first evaluation can run: started earlier, an
    // evaluation could land between two calls and fire on 4.
    let net = telemetry.metrics().network();
    for _ in 0..5 {
        net.connection_opened(PeerTransport::Tcp);
    }
    alerting.start().await.expect("start");
    let slack = slack_rx.wait_for(1, Duration::from_secs(10)).await;
    let pd = pd_rx.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!((slack.len(), pd.len()), (1, 1), "each channel is told once");
    let m = slack[0].json();
    assert_eq!(m["blocks"][0]["text"]["text"], "[FIRING:1] Too Many Peers");
    assert_eq!(m["channel"], "#bitcraps-alerts");
    let trigger = pd[0].json();
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["routing_key"], "E2EROUTINGKEY000000000000000000");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["custom_details"]["value"], "5");
    // Still above the threshold for a while: no repeats (repeat_interval is an hour).
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!((slack_rx.requests().len(), pd_rx.requests().len()), (1, 1), "no duplicate while firing");

    for _ in 0..5 {
        net.connection_closed(PeerTransport::Tcp);
    }
    let slack = slack_rx.wait_for(2, Duration::from_secs(10)).await;
    let pd = pd_rx.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!((slack.len(), pd.len()), (2, 2), "each channel is told of the resolution");
    assert_eq!(slack[1].json()["blocks"][0]["text"]["text"], "[RESOLVED:1] Too Many Peers");
    let resolve = pd[1].json();
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], trigger["dedup_key"], "the resolve closes the incident the trigger opened");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!((slack_rx.requests().len(), pd_rx.requests().len()), (2, 2), "nothing more once resolved");
    assert!(alerting.alerts().is_empty());
    // The channels count a notification once its answer is in, just after the receiver saw it.
    let counted = || {
        counter(&reader, "bitcraps.alerting.notifications.sent", "slack") == 2
            && counter(&reader, "bitcraps.alerting.notifications.sent", "pagerduty") == 2
    };
    let start = std::time::Instant::now();
    while !counted() && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(counter(&reader, "bitcraps.alerting.notifications.sent", "slack"), 2);
    assert_eq!(counter(&reader, "bitcraps.alerting.notifications.sent", "pagerduty"), 2);
    assert_eq!(counter(&reader, "bitcraps.alerting.notifications.failed", "pagerduty"), 0);
    alerting.stop();
    drop(telemetry);
}

mod common;

/// The node binary: `--alert-rules` with a `channels:` section, the webhook URL from the
/// environment, a rule on the simulated traffic; the Slack receiver hears it fire. The rule
/// sums over game types, so it is one alert however many types have played by the first
/// evaluation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_binary_notifies_the_channels_of_its_rules_file() {
    let slack_rx = Receiver::start(ok(200)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("alerts.yml");
    std::fs::write(
        &path,
        r##"
predefined: false
rules:
  - name: Games Are Played
    metric: bitcraps_games_total
    aggregate: sum
    condition: { greater_than: 0 }
    severity: info
    category: gaming
    every: 1s
default_route:
  group_wait: 0s
channels:
  chat:
    type: slack
    webhook_url: ${NODE_SLACK_WEBHOOK}
"##,
    )
    .expect("write rules");
    let url = slack_rx.url("/services/T0/B0/NODESECRET");
    let path_arg = path.display().to_string();
    let _node = common::start_node(&[("NODE_SLACK_WEBHOOK", url.as_str())], &["--alert-rules", path_arg.as_str()]);
    let got = slack_rx.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1, "the node's Slack channel was told");
    assert_eq!(got[0].path, "/services/T0/B0/NODESECRET");
    assert_eq!(got[0].json()["blocks"][0]["text"]["text"], "[FIRING:1] Games Are Played");
}

/// Node identity: the same rule firing on two nodes is two alerts, two PagerDuty incidents
/// (two `dedup_key`s), each with its node as `source` and in its labels; and each node's
/// resolve closes only its own incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_firing_the_same_rule_open_two_pagerduty_incidents() {
    use opentelemetry::metrics::MeterProvider;
    use opentelemetry::KeyValue;
    use opentelemetry_sdk::metrics::SdkMeterProvider;
    use opentelemetry_sdk::Resource;
    use std::sync::Arc;

    let pd_rx = Receiver::start(ok(202)).await;
    let node = |id: &str| {
        let reader = AlertReader::new();
        let resource = Resource::builder_empty()
            .with_attributes([KeyValue::new("bitcraps.node.id", id.to_string()), KeyValue::new("region", "eu-west")])
            .build();
        let provider = SdkMeterProvider::builder().with_resource(resource).with_reader(reader.clone()).build();
        let cpu = provider.meter("bitcraps").f64_gauge("bitcraps.cpu.usage").build();
        let mut routing = RoutingConfig::default();
        routing.default_route.group_wait = Duration::ZERO;
        routing.default_route.group_interval = Duration::ZERO;
        let alerting = AlertingSystem::new(AlertingConfig { predefined_rules: false, routing, ..Default::default() });
        let rule = AlertRule {
            name: "HotCpu".into(),
            metric_name: "bitcraps.cpu.usage".into(),
            condition: AlertCondition::GreaterThan(80.0),
            severity: AlertSeverity::Critical,
            evaluation_interval: Duration::from_millis(1),
            ..Default::default()
        };
        alerting.add_rule(rule).expect("rule");
        alerting.attach(reader);
        // Its own meter: the global one belongs to the other test of this file, which counts.
        let pd = channels::PagerDutyNotifier::new("KEY".into())
            .with_url(pd_rx.url("/v2/enqueue"))
            .with_meter(provider.meter("bitcraps"));
        alerting.add_notifier("pagerduty", Arc::new(pd));
        (provider, cpu, alerting)
    };
    let (_pa, cpu_a, a) = node("node-a");
    let (_pb, cpu_b, b) = node("node-b");
    cpu_a.record(99.0, &[]);
    cpu_b.record(99.0, &[]);
    a.evaluate_now().await.expect("cycle");
    b.evaluate_now().await.expect("cycle");
    let got = pd_rx.requests();
    assert_eq!(got.len(), 2);
    let (ta, tb) = (got[0].json(), got[1].json());
    assert_ne!(ta["dedup_key"], tb["dedup_key"], "two nodes, two incidents");
    assert_eq!((ta["payload"]["source"].as_str(), tb["payload"]["source"].as_str()), (Some("node-a"), Some("node-b")));
    assert_eq!(ta["payload"]["custom_details"]["labels"]["node_id"], "node-a");
    assert_eq!(ta["payload"]["custom_details"]["labels"]["region"], "eu-west");
    assert_eq!(a.alerts()[0].labels["node_id"], "node-a");

    // node-a recovers: its resolve names its own incident only. (The sleep makes the
    // 1 ms rule due again; it is not a wait for anything.)
    cpu_a.record(10.0, &[]);
    tokio::time::sleep(Duration::from_millis(5)).await;
    a.evaluate_now().await.expect("cycle");
    let got = pd_rx.requests();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].json()["event_action"], "resolve");
    assert_eq!(got[2].json()["dedup_key"], ta["dedup_key"]);
    assert_eq!(b.alerts().len(), 1, "node-b still fires");
}
