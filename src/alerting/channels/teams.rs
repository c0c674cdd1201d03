//! Microsoft Teams through a Workflows (or legacy incoming) webhook: a `message` whose one
//! attachment is an Adaptive Card (`application/vnd.microsoft.card.adaptive`), the only
//! card format Workflows accept.

use super::delivery::Delivery;
use super::http::{HttpMessage, HttpTransport};
use super::{alerts, delivery_methods, headline, labels_text, threshold_text, truncate, value_text, Link, Secret};
use crate::alerting::{DeliveryReport, Notification, Notifier, NotifyError};
use crate::semconv::AlertChannel;
use serde_json::{json, Value};

/// The Adaptive Card schema version used (Teams renders up to 1.5; 1.4 is safe everywhere).
pub(crate) const CARD_VERSION: &str = "1.4";

/// Alerts detailed on one card.
const MAX_ALERTS: usize = 20;

/// Posts an Adaptive Card per notification to a Teams workflow webhook.
///
/// ```
/// use bitcraps_otel::alerting::channels::TeamsNotifier;
///
/// let teams = TeamsNotifier::new("https://prod.westeurope.logic.azure.com/workflows/abc?sig=SECRET".to_string());
/// assert!(!format!("{teams:?}").contains("SECRET"));
/// ```
#[derive(Debug)]
pub struct TeamsNotifier {
    webhook_url: Secret,
    links: Vec<Link>,
    delivery: Delivery<HttpTransport>,
}

delivery_methods!(TeamsNotifier);

impl TeamsNotifier {
    /// A notifier for a workflow webhook URL (it carries its signature: a secret).
    pub fn new(webhook_url: String) -> Self {
        TeamsNotifier {
            webhook_url: Secret::new(webhook_url),
            links: Vec::new(),
            delivery: Delivery::new(AlertChannel::Teams),
        }
    }

    /// An `Action.OpenUrl` button on every card.
    pub fn with_link(mut self, text: impl Into<String>, url: impl Into<String>) -> Self {
        self.links.push(Link { text: text.into(), url: url.into() });
        self
    }

    /// The webhook body for `n`.
    fn message(&self, n: &Notification) -> Value {
        let firing = !n.firing.is_empty();
        let mut body = vec![json!({
            "type": "TextBlock",
            "text": headline(n),
            "size": "Large",
            "weight": "Bolder",
            "wrap": true,
            "color": if firing { "Attention" } else { "Good" },
        })];
        for (a, is_firing) in alerts(n).take(MAX_ALERTS) {
            let state = if is_firing { "firing" } else { "resolved" };
            body.push(json!({
                "type": "TextBlock",
                "text": format!("{} — {state}", a.rule),
                "weight": "Bolder",
                "wrap": true,
                "separator": true,
            }));
            if !a.description.is_empty() {
                body.push(json!({ "type": "TextBlock", "text": truncate(&a.description, 1000), "wrap": true }));
            }
            body.push(json!({
                "type": "FactSet",
                "facts": [
                    { "title": "Severity", "value": a.severity.as_str() },
                    { "title": "Value", "value": value_text(a.value) },
                    { "title": "Threshold", "value": threshold_text(a.threshold) },
                    { "title": "Labels", "value": truncate(&labels_text(a), 1000) },
                    { "title": "Fingerprint", "value": a.fingerprint.to_string() },
                ],
            }));
        }
        let total = n.firing.len() + n.resolved.len();
        if total > MAX_ALERTS {
            body.push(json!({ "type": "TextBlock", "text": format!("{} more alerts not shown", total - MAX_ALERTS), "isSubtle": true }));
        }
        let mut card = json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": CARD_VERSION,
            "msteams": { "width": "Full" },
            "body": body,
        });
        if !self.links.is_empty() {
            card["actions"] =
                self.links.iter().map(|l| json!({ "type": "Action.OpenUrl", "title": l.text, "url": l.url })).collect();
        }
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card,
            }],
        })
    }
}

#[async_trait::async_trait]
impl Notifier for TeamsNotifier {
    fn kind(&self) -> AlertChannel {
        AlertChannel::Teams
    }

    fn reports_own_delivery(&self) -> bool {
        true
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        self.deliver(n).await.into_result()
    }

    async fn deliver(&self, n: &Notification) -> DeliveryReport {
        let config = |reason: String| NotifyError::Config { channel: "teams", reason };
        if !self.webhook_url.expose().starts_with("http") {
            return DeliveryReport::none(config("webhook URL must be http(s)".into()));
        }
        let render = || HttpMessage::json(&self.webhook_url, &self.message(n)).map(|m| vec![(m, None)]).map_err(config);
        self.delivery.deliver(&n.channel, super::fingerprints(n), render, HttpTransport::new).await
    }
}
