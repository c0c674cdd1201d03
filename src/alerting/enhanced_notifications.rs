//! Notification channels by name, as the monitoring reference imports them
//! (`alerting::enhanced_notifications::*`).
//!
//! Issue 5 provides the [`Notifier`] trait, the in-memory and log notifiers, and minimal
//! PagerDuty (Events API v2) and Slack (incoming webhook) senders. Retries, rate limits,
//! Teams, e-mail, SMS and generic webhooks are issue 6.

pub use super::notify::{InMemoryNotifier, LogNotifier, Notification, Notifier, NotifyError};

use crate::semconv::AlertChannel;
use serde_json::json;
use std::time::Duration;

const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build()
}

async fn post(channel: &'static str, url: &str, body: serde_json::Value) -> Result<(), NotifyError> {
    let client = client().map_err(|e| NotifyError::Config { channel, reason: e.to_string() })?;
    let resp = client
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| NotifyError::Transport { channel, reason: e.to_string() })?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        let text = resp.text().await.unwrap_or_default();
        Err(NotifyError::Http { channel, status: status.as_u16(), body: text.chars().take(200).collect() })
    }
}

/// Sends to PagerDuty's Events API v2: one `trigger` per firing alert and one `resolve` per
/// resolved alert, with the alert fingerprint as `dedup_key` so PagerDuty deduplicates too.
#[derive(Clone, Debug)]
pub struct PagerDutyNotifier {
    routing_key: String,
    url: String,
}

impl PagerDutyNotifier {
    /// A notifier for the integration (routing) key of a PagerDuty service.
    pub fn new(integration_key: String) -> Self {
        PagerDutyNotifier { routing_key: integration_key, url: PAGERDUTY_EVENTS_URL.to_string() }
    }

    /// Sends to another endpoint (a proxy, or a test server).
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }
}

fn pd_severity(s: super::AlertSeverity) -> &'static str {
    match s {
        super::AlertSeverity::Info | super::AlertSeverity::Low => "info",
        super::AlertSeverity::Medium => "warning",
        super::AlertSeverity::High => "error",
        super::AlertSeverity::Critical => "critical",
    }
}

#[async_trait::async_trait]
impl Notifier for PagerDutyNotifier {
    fn kind(&self) -> AlertChannel {
        AlertChannel::Pagerduty
    }
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        if self.routing_key.is_empty() {
            return Err(NotifyError::Config { channel: "pagerduty", reason: "empty integration key".into() });
        }
        for a in &n.firing {
            let body = json!({
                "routing_key": self.routing_key,
                "event_action": "trigger",
                "dedup_key": a.fingerprint.to_string(),
                "payload": {
                    "summary": format!("{}: {}", a.rule, a.description),
                    "source": a.labels.get("node_id").or_else(|| a.labels.get("instance")).cloned().unwrap_or_else(|| "bitcraps".into()),
                    "severity": pd_severity(a.severity),
                    "custom_details": a.labels,
                },
            });
            post("pagerduty", &self.url, body).await?;
        }
        for a in &n.resolved {
            let body = json!({
                "routing_key": self.routing_key,
                "event_action": "resolve",
                "dedup_key": a.fingerprint.to_string(),
            });
            post("pagerduty", &self.url, body).await?;
        }
        Ok(())
    }
}

/// Posts one message per notification to a Slack incoming webhook.
#[derive(Clone, Debug)]
pub struct SlackNotifier {
    webhook_url: String,
    channel: String,
}

impl SlackNotifier {
    /// A notifier for an incoming-webhook URL, posting to `channel` (e.g. `#alerts`; the
    /// webhook's default channel when empty).
    pub fn new(webhook_url: String, channel: String) -> Self {
        SlackNotifier { webhook_url, channel }
    }
}

#[async_trait::async_trait]
impl Notifier for SlackNotifier {
    fn kind(&self) -> AlertChannel {
        AlertChannel::Slack
    }
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        if !self.webhook_url.starts_with("http") {
            return Err(NotifyError::Config { channel: "slack", reason: "webhook URL must be http(s)".into() });
        }
        let mut text = format!("*{}*", n.title());
        for a in &n.firing {
            text.push_str(&format!("\n:rotating_light: *{}* ({}) {}", a.rule, a.severity, a.description));
        }
        for a in &n.resolved {
            text.push_str(&format!("\n:white_check_mark: *{}* resolved", a.rule));
        }
        let mut body = json!({ "text": text });
        if !self.channel.is_empty() {
            body["channel"] = json!(self.channel);
        }
        post("slack", &self.webhook_url, body).await
    }
}
