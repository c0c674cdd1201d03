//! The alert engine on a real node: the predefined rules fire through `init`'s pipeline when
//! the metrics cross their thresholds, and `bitcraps-node --alert-rules FILE` logs alerts
//! from a rules file (and refuses a bad one with its line).

mod common;

use bitcraps_otel::alerting::*;
use bitcraps_otel::metrics::probe::{DeviceProbe, DeviceReading};
use bitcraps_otel::semconv::{ConsensusRejectionReason, ErrorCategory, ErrorSeverity, GameType, PeerTransport};
use bitcraps_otel::{Config, TelemetryBuilder};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// A phone in trouble: flat battery, hot, throttling.
#[derive(Debug)]
struct HotPhone;
impl DeviceProbe for HotPhone {
    fn read(&self) -> DeviceReading {
        DeviceReading {
            battery_percent: Some(8.0),
            charging: Some(false),
            temperature_celsius: Some(51.0),
            throttling: Some(true),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn predefined_rules_fire_when_the_node_crosses_their_thresholds() {
    let config =
        Config::builder().prometheus_addr("127.0.0.1:0").without_health().build().expect("valid configuration");
    let telemetry =
        TelemetryBuilder::new(config).alerting(true).device_probe(Arc::new(HotPhone)).start().expect("telemetry");
    let mut routing = RoutingConfig::default();
    routing.default_route.group_wait = Duration::ZERO;
    routing.default_route.group_interval = Duration::from_secs(10);
    let alerting = AlertingSystem::new(AlertingConfig { routing, ..Default::default() });
    let inbox = InMemoryNotifier::new();
    alerting.add_notifier("inbox", Arc::new(inbox.clone()));
    alerting.attach(AlertReader::global().expect("init registered the alert reader"));
    if let Some(p) = telemetry.meter_provider() {
        alerting.instrument(p);
    }
    let m = telemetry.metrics();
    // The last peer leaves; no traffic after that.
    m.network().connection_opened(PeerTransport::Ble);
    m.network().connection_closed(PeerTransport::Ble);
    for s in 0..330u64 {
        // A bad stretch, sustained: every game ends in a gaming error one time in five, most
        // proposals are rejected, a fork a minute, a security error every half minute.
        m.gaming().game_completed(GameType::Cash, Duration::from_secs(60));
        m.consensus().proposal_rejected_for(ConsensusRejectionReason::Timeout);
        if s % 2 == 0 {
            m.consensus().proposal_accepted();
        }
        if s % 5 == 0 {
            m.errors().record(ErrorCategory::Gaming, ErrorSeverity::High);
        }
        if s % 30 == 0 {
            m.errors().record(ErrorCategory::Security, ErrorSeverity::Critical);
        }
        if s % 60 == 0 {
            m.consensus().fork_detected();
        }
        alerting.evaluate_now().await.expect("cycle");
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    let firing: BTreeSet<String> =
        alerting.alerts().into_iter().filter(|a| a.state == AlertState::Firing).map(|a| a.rule).collect();
    for rule in [
        "NoPeerConnections",
        "NoPeerMessages",
        "ConsensusRejectionsHigh",
        "ConsensusForkDetected",
        "HighGameErrorRate",
        "BatteryLow",
        "DeviceOverheating",
        "ThermalThrottling",
        "SecurityIncidents",
    ] {
        assert!(firing.contains(rule), "{rule} should fire; firing: {firing:?}");
    }
    assert!(!firing.contains("HighMemoryUsage"), "{firing:?}");
    let told: BTreeSet<String> = inbox.take().into_iter().flat_map(|n| n.firing).map(|a| a.rule).collect();
    // The symptoms the predefined inhibitions hold back: no peer messages (there is no peer),
    // throttling (the device overheats).
    let inhibited: BTreeSet<String> = alerting.alerts().into_iter().filter(|a| a.inhibited).map(|a| a.rule).collect();
    assert_eq!(inhibited, ["NoPeerMessages".to_string(), "ThermalThrottling".to_string()].into());
    let expected: BTreeSet<String> =
        firing.iter().filter(|r| *r != "HighCpuUsage" && !inhibited.contains(*r)).cloned().collect();
    assert!(told.is_superset(&expected), "{told:?}");
    assert!(told.is_disjoint(&inhibited), "{told:?}");

    // The engine's own metrics go out with the node's.
    let text = telemetry.render_prometheus().expect("bridge");
    let critical = text
        .lines()
        .find(|l| l.starts_with("bitcraps_alerts_firing{") && l.contains("severity=\"critical\""))
        .unwrap_or_default()
        .to_string();
    assert!(critical.ends_with(" 3"), "NoPeerConnections, ConsensusForkDetected, SecurityIncidents: {critical}");
    assert!(text.contains("bitcraps_alerting_evaluations_total"), "{text}");
    assert!(text.contains("bitcraps_alerting_notifications_sent_total{channel=\"memory\""), "{text}");
    assert!(text.contains("bitcraps_alerting_evaluation_duration_seconds_count"), "{text}");
    drop(alerting);
    telemetry.shutdown().expect("clean shutdown");
}

#[test]
fn the_node_loads_alert_rules_and_logs_firing_alerts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "predefined: false
rules:
  - name: BetsFlowing
    description: bets are being placed
    metric: bitcraps_bets_total
    condition: { rate_over: 10s, greater_than: 0 }
    aggregate: sum
    every: 1s
default_route: { group_wait: 0s }
",
    )
    .expect("write rules");
    let mut child = common::KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_bitcraps-node"))
            .args(["--prometheus-addr", "127.0.0.1:0", "--rate", "200", "--seed", "7", "--duration", "40s"])
            .arg("--alert-rules")
            .arg(&rules)
            .env("BITCRAPS_HEALTH_ADDR", "off")
            .env("BITCRAPS_STATE_DIR", "off")
            .env("RUST_LOG", "info")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn bitcraps-node"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("alert firing") && line.contains("BetsFlowing") {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).expect("the node logs the firing alert within 30 s");
    assert!(line.contains("bets are being placed"), "{line}");

    // A bad file stops the node before it starts, naming line and field.
    std::fs::write(&rules, "rules:\n  - name: X\n    metric: bitcraps_nope\n    condition: { greater_than: 1 }\n")
        .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_bitcraps-node"))
        .arg("--alert-rules")
        .arg(&rules)
        .env("BITCRAPS_PROMETHEUS_ADDR", "off")
        .env("BITCRAPS_HEALTH_ADDR", "off")
        .output()
        .expect("run bitcraps-node");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("rules.yml:3: rules[0].metric: unknown metric `bitcraps_nope`"), "{err}");
}
