//! Slack through an incoming webhook: one message per notification, with Block Kit blocks
//! (header, one section per alert with severity, value and labels, links as buttons) and a
//! plain `text` fallback for notifications and clients that do not render blocks.

use super::delivery::Delivery;
use super::http::{HttpMessage, HttpTransport};
use super::{alerts, delivery_methods, headline, labels_text, threshold_text, top_severity, truncate, value_text};
use super::{Link, Secret};
use crate::alerting::{AlertSeverity, DeliveryReport, Notification, Notifier, NotifyError};
use crate::semconv::AlertChannel;
use serde_json::{json, Value};

/// Alerts detailed in one message; the rest are counted in a context line (Slack allows 50
/// blocks per message).
const MAX_ALERT_SECTIONS: usize = 20;

/// Posts one message per notification to a Slack incoming webhook.
///
/// ```
/// use bitcraps_otel::alerting::channels::SlackNotifier;
///
/// let slack = SlackNotifier::new("https://hooks.slack.com/services/T0/B0/SECRET".to_string(), "#alerts".to_string())
///     .with_link("Grafana", "https://grafana.example/d/bitcraps");
/// assert!(!format!("{slack:?}").contains("SECRET"));
/// ```
#[derive(Debug)]
pub struct SlackNotifier {
    webhook_url: Secret,
    channel: String,
    username: Option<String>,
    links: Vec<Link>,
    delivery: Delivery<HttpTransport>,
}

delivery_methods!(SlackNotifier);

impl SlackNotifier {
    /// A notifier for an incoming-webhook URL, posting to `channel` (e.g. `#alerts`; the
    /// webhook's own channel when empty; newer app webhooks always use their own).
    pub fn new(webhook_url: String, channel: String) -> Self {
        SlackNotifier {
            webhook_url: Secret::new(webhook_url),
            channel,
            username: None,
            links: Vec::new(),
            delivery: Delivery::new(AlertChannel::Slack),
        }
    }

    /// The name the message is posted under (legacy webhooks honour it).
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// A button under every message (dashboard, runbook).
    pub fn with_link(mut self, text: impl Into<String>, url: impl Into<String>) -> Self {
        self.links.push(Link { text: text.into(), url: url.into() });
        self
    }

    /// The webhook body for `n`.
    fn message(&self, n: &Notification) -> Value {
        let title = headline(n);
        let mut blocks = vec![json!({
            "type": "header",
            "text": { "type": "plain_text", "text": truncate(&title, 150), "emoji": true },
        })];
        let mut fallback = vec![title.clone()];
        for (a, firing) in alerts(n).take(MAX_ALERT_SECTIONS) {
            let mark = match (firing, a.severity) {
                (false, _) => ":white_check_mark:",
                (true, AlertSeverity::Critical | AlertSeverity::High) => ":rotating_light:",
                (true, _) => ":warning:",
            };
            let state = if firing { "firing" } else { "resolved" };
            let mut text = format!("{mark} *{}* {state}", escape(&a.rule));
            if !a.description.is_empty() {
                text.push_str(&format!("\n{}", escape(&a.description)));
            }
            let labels = labels_text(a);
            blocks.push(json!({
                "type": "section",
                "text": { "type": "mrkdwn", "text": truncate(&text, 3000) },
                "fields": [
                    { "type": "mrkdwn", "text": format!("*Severity*\n{}", a.severity) },
                    { "type": "mrkdwn", "text": format!("*Value*\n{}", value_text(a.value)) },
                    { "type": "mrkdwn", "text": format!("*Threshold*\n{}", escape(&threshold_text(a.threshold))) },
                    { "type": "mrkdwn", "text": format!("*Labels*\n{}", truncate(&escape(if labels.is_empty() { "-" } else { &labels }), 1900)) },
                    { "type": "mrkdwn", "text": format!("*Fingerprint*\n`{}`", a.fingerprint) },
                ],
            }));
            fallback.push(format!(
                "{} {state} ({}) value {} threshold {}",
                a.rule,
                a.severity,
                value_text(a.value),
                threshold_text(a.threshold)
            ));
        }
        let total = n.firing.len() + n.resolved.len();
        let mut context = format!("severity {} · escalation tier {}", top_severity(n), n.escalation_tier);
        if total > MAX_ALERT_SECTIONS {
            context.push_str(&format!(" · {} more alerts not shown", total - MAX_ALERT_SECTIONS));
        }
        blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": context }] }));
        if !self.links.is_empty() {
            let buttons: Vec<Value> = self
                .links
                .iter()
                .take(25)
                .map(|l| json!({ "type": "button", "text": { "type": "plain_text", "text": truncate(&l.text, 75) }, "url": l.url }))
                .collect();
            blocks.push(json!({ "type": "actions", "elements": buttons }));
        }
        let mut body = json!({ "text": truncate(&fallback.join("\n"), 3000), "blocks": blocks });
        if !self.channel.is_empty() {
            body["channel"] = json!(self.channel);
        }
        if let Some(u) = &self.username {
            body["username"] = json!(u);
        }
        body
    }
}

/// Slack's three control characters in mrkdwn text.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[async_trait::async_trait]
impl Notifier for SlackNotifier {
    fn kind(&self) -> AlertChannel {
        AlertChannel::Slack
    }

    fn reports_own_delivery(&self) -> bool {
        true
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        self.deliver(n).await.into_result()
    }

    async fn deliver(&self, n: &Notification) -> DeliveryReport {
        let config = |reason: String| NotifyError::Config { channel: "slack", reason };
        if !self.webhook_url.expose().starts_with("http") {
            return DeliveryReport::none(config("webhook URL must be http(s)".into()));
        }
        let render = || HttpMessage::json(&self.webhook_url, &self.message(n)).map(|m| vec![(m, None)]).map_err(config);
        self.delivery.deliver(&n.channel, super::fingerprints(n), render, HttpTransport::new).await
    }
}
