//! The monitoring reference's alerting snippets, with `bitcraps::monitoring::` written as
//! `bitcraps_otel::` and nothing else changed: an alerting system with the default
//! configuration (predefined rules on), the PagerDuty and Slack notifiers, `start()`, and the
//! custom "High Game Error Rate" rule. Around them, the set-up the reference leaves out
//! (telemetry with the alert reader) and a short demonstration that the rule works.
//!
//! `cargo run --example alerting_seed`. It needs no network: the two notifiers are built, as
//! in the reference, but not registered.

use bitcraps_otel::alerting::{AlertCondition, AlertRule, AlertSeverity};
use bitcraps_otel::semconv::{ErrorCategory, ErrorSeverity, GameType};
use std::time::Duration;

#[tokio::main]
#[allow(unused_variables)] // the reference builds notifiers it never uses
pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Set-up: telemetry with the metric reader the alert engine collects through (registered
    // by default, as `bitcraps_otel::init()` does; `.alerting(true)` only says so).
    let telemetry_config = bitcraps_otel::Config::builder().without_prometheus().without_health().build()?;
    let telemetry = bitcraps_otel::TelemetryBuilder::new(telemetry_config).alerting(true).start()?;

    // ---- Alerting Configuration, 1. Initialize Alerting System ----
    use bitcraps_otel::alerting::enhanced_notifications::*;
    use bitcraps_otel::alerting::{AlertingConfig, AlertingSystem};

    let config = AlertingConfig::default();
    let mut alerting = AlertingSystem::new(config);

    // Add PagerDuty integration
    let pagerduty = PagerDutyNotifier::new("your-integration-key".to_string());

    // Add Slack integration
    let slack = SlackNotifier::new("https://hooks.slack.com/services/...".to_string(), "#alerts".to_string());

    alerting.start().await?;

    // ---- Alerting Configuration, 2. Custom Alert Rules ----
    let custom_rule = AlertRule {
        name: "High Game Error Rate".to_string(),
        description: "Gaming errors above 5%".to_string(),
        metric_name: "gaming_error_rate".to_string(),
        condition: AlertCondition::GreaterThan(0.05),
        severity: AlertSeverity::High,
        category: "gaming".to_string(),
        evaluation_interval: Duration::from_secs(60),
        tags: vec!["gaming".to_string(), "errors".to_string()],
    };

    // ---- Beyond the reference: the rule runs on this node's metrics ----
    alerting.stop(); // evaluate by hand below rather than on the background timer
    alerting.add_rule(custom_rule)?;
    let inbox = InMemoryNotifier::new();
    alerting.add_notifier("inbox", std::sync::Arc::new(inbox.clone()));
    let metrics = telemetry.metrics();
    for _ in 0..20 {
        metrics.gaming().game_completed(GameType::Cash, Duration::from_secs(90));
    }
    alerting.evaluate_now().await?; // baseline of the 5-minute window
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..20 {
        metrics.gaming().game_completed(GameType::Cash, Duration::from_secs(90));
    }
    for _ in 0..3 {
        metrics.errors().record(ErrorCategory::Gaming, ErrorSeverity::High);
    }
    // The rule is due once a minute; a fresh copy is due at once.
    alerting.remove_rule("High Game Error Rate");
    alerting.add_rule(AlertRule {
        name: "High Game Error Rate".to_string(),
        metric_name: "gaming_error_rate".to_string(),
        condition: AlertCondition::GreaterThan(0.05),
        severity: AlertSeverity::High,
        category: "gaming".to_string(),
        ..Default::default()
    })?;
    alerting.evaluate_now().await?;
    let firing: Vec<String> = alerting.alerts().into_iter().map(|a| a.rule).collect();
    println!("{} rules; firing: {firing:?}", alerting.rules().len());
    if !firing.iter().any(|r| r == "High Game Error Rate") {
        return Err("the custom rule did not fire (3 gaming errors in 20 games is 15 %)".into());
    }
    drop(alerting);
    telemetry.shutdown()?;
    Ok(())
}
