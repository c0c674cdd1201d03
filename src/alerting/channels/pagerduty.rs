//! PagerDuty through the Events API v2 (`POST /v2/enqueue`): one `trigger` event per firing
//! alert, one `resolve` per resolved alert, both keyed by the alert fingerprint as
//! `dedup_key`, so PagerDuty keeps one incident per alert and closes it on resolution.

use super::delivery::Delivery;
use super::http::{HttpMessage, HttpTransport};
use super::{delivery_methods, labels_text, threshold_text, truncate, value_text, Link, Secret};
use crate::alerting::{AlertNotice, AlertSeverity, DeliveryReport, Fingerprint, Notification, Notifier, NotifyError};
use crate::semconv::AlertChannel;
use serde_json::{json, Value};

/// The Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// PagerDuty's `payload.summary` limit.
const SUMMARY_MAX: usize = 1024;

/// Sends alerts to a PagerDuty service's Events API v2 integration.
///
/// ```
/// use bitcraps_otel::alerting::channels::{DeliveryOptions, PagerDutyNotifier};
///
/// let pd = PagerDutyNotifier::new("your-integration-key".to_string())
///     .with_url("http://127.0.0.1:9/v2/enqueue")
///     .with_source("node-7")
///     .with_link("Dashboard", "https://grafana.example/d/bitcraps")
///     .with_delivery(DeliveryOptions { max_attempts: 3, ..Default::default() });
/// assert!(!format!("{pd:?}").contains("your-integration-key"));
/// ```
#[derive(Debug)]
pub struct PagerDutyNotifier {
    routing_key: Secret,
    url: String,
    source: Option<String>,
    links: Vec<Link>,
    delivery: Delivery<HttpTransport>,
}

delivery_methods!(PagerDutyNotifier);

impl PagerDutyNotifier {
    /// A notifier for the integration (routing) key of a PagerDuty service.
    pub fn new(integration_key: String) -> Self {
        PagerDutyNotifier {
            routing_key: Secret::new(integration_key),
            url: PAGERDUTY_EVENTS_URL.to_string(),
            source: None,
            links: Vec::new(),
            delivery: Delivery::new(AlertChannel::Pagerduty),
        }
    }

    /// Sends to another enqueue URL (a proxy, the EU endpoint, a test server).
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// `payload.source` when the alert has no `node_id`/`instance` label (default `bitcraps`).
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// A link attached to every event (`links[]`).
    pub fn with_link(mut self, text: impl Into<String>, url: impl Into<String>) -> Self {
        self.links.push(Link { text: text.into(), url: url.into() });
        self
    }

    /// The Events API v2 bodies for `n`, in sending order, each with the alert it is about.
    fn events(&self, n: &Notification) -> Vec<(Value, Fingerprint)> {
        let mut out = Vec::with_capacity(n.firing.len() + n.resolved.len());
        for a in &n.firing {
            out.push((self.trigger(a, n), a.fingerprint));
        }
        for a in &n.resolved {
            let resolve = json!({
                "routing_key": self.routing_key.expose(),
                "event_action": "resolve",
                "dedup_key": a.fingerprint.to_string(),
            });
            out.push((resolve, a.fingerprint));
        }
        out
    }

    fn trigger(&self, a: &AlertNotice, n: &Notification) -> Value {
        let measured = format!("value {}, threshold {}", value_text(a.value), threshold_text(a.threshold));
        let summary = if a.description.is_empty() {
            format!("{} ({measured})", a.rule)
        } else {
            format!("{}: {} ({measured})", a.rule, a.description)
        };
        let source = a
            .labels
            .get("node_id")
            .or_else(|| a.labels.get("instance"))
            .cloned()
            .or_else(|| self.source.clone())
            .unwrap_or_else(|| "bitcraps".into());
        let mut payload = json!({
            "summary": truncate(&summary, SUMMARY_MAX),
            "source": source,
            "severity": severity(a.severity),
            "class": a.rule,
            "custom_details": {
                "description": a.description,
                "value": value_text(a.value),
                "threshold": threshold_text(a.threshold),
                "labels": a.labels,
                "labels_text": labels_text(a),
                "tags": a.tags,
                "fingerprint": a.fingerprint.to_string(),
                "escalation_tier": n.escalation_tier,
            },
        });
        if let Some(category) = a.labels.get("category") {
            payload["group"] = json!(category);
        }
        if let Some(component) = a.labels.get("component") {
            payload["component"] = json!(component);
        }
        let mut event = json!({
            "routing_key": self.routing_key.expose(),
            "event_action": "trigger",
            "dedup_key": a.fingerprint.to_string(),
            "client": "bitcraps-otel",
            "payload": payload,
        });
        if !self.links.is_empty() {
            event["links"] = self.links.iter().map(|l| json!({ "href": l.url, "text": l.text })).collect();
        }
        event
    }
}

/// Our severities on PagerDuty's four: critical, error, warning, info.
pub(crate) fn severity(s: AlertSeverity) -> &'static str {
    match s {
        AlertSeverity::Critical => "critical",
        AlertSeverity::High => "error",
        AlertSeverity::Medium => "warning",
        AlertSeverity::Low | AlertSeverity::Info => "info",
    }
}

#[async_trait::async_trait]
impl Notifier for PagerDutyNotifier {
    fn kind(&self) -> AlertChannel {
        AlertChannel::Pagerduty
    }

    fn reports_own_delivery(&self) -> bool {
        true
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        self.deliver(n).await.into_result()
    }

    async fn deliver(&self, n: &Notification) -> DeliveryReport {
        let config = |reason: String| NotifyError::Config { channel: "pagerduty", reason };
        if self.routing_key.is_empty() {
            return DeliveryReport::none(config("empty integration key".into()));
        }
        if n.firing.is_empty() && n.resolved.is_empty() {
            return DeliveryReport::default();
        }
        let render = || {
            let url = Secret::new(self.url.clone());
            self.events(n)
                .iter()
                .map(|(e, about)| {
                    let mut m = HttpMessage::json(&url, e)?;
                    m.body_secrets.push(self.routing_key.clone());
                    Ok((m, Some(*about)))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(config)
        };
        self.delivery.deliver(&n.channel, super::fingerprints(n), render, HttpTransport::new).await
    }
}
