//! A generic JSON webhook: the alert group in a documented, versioned schema, custom
//! headers, and an optional HMAC-SHA256 signature so receivers can check the sender.
//!
//! # Schema `bitcraps.alerting.webhook/v1`
//!
//! `POST` with `Content-Type: application/json`:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `schema` | string | always `bitcraps.alerting.webhook/v1`; a breaking change gets a new version |
//! | `status` | string | `firing` if any alert fires, else `resolved` |
//! | `title` | string | e.g. `[FIRING:2] High Game Error Rate` |
//! | `channel` | string | the channel name the engine knows this webhook by |
//! | `group` | object | the labels the group's alerts share (`group_by`) |
//! | `escalation_tier` | integer | 0 for the first tier |
//! | `sent_at` | integer | Unix seconds when the notification was rendered |
//! | `firing`, `resolved` | array of alert | the alerts, see below |
//!
//! An alert: `fingerprint` (16 hex digits, stable per alert), `rule`, `severity` (`info`,
//! `low`, `medium`, `high`, `critical`), `description`, `value` (number, or `null` when the
//! metric is absent), `threshold` (the comparison as text, e.g. `> 0.05` or
//! `outside [10, 90]`; `null` for `absent` and `anomaly` rules), `labels` (object), `tags`
//! (array of strings).
//!
//! # Signature
//!
//! With a secret set, two headers are added: `X-Bitcraps-Timestamp` (the `sent_at` Unix
//! seconds) and `X-Bitcraps-Signature: sha256=<hex>`, the HMAC-SHA256 with the secret of the
//! bytes `<timestamp>.<body>`. Receivers recompute it over the raw body, compare in constant
//! time, and refuse old timestamps to stop replays. Retries resend the same bytes.

use super::delivery::Delivery;
use super::http::{HttpMessage, HttpTransport};
use super::{delivery_methods, headline, threshold_text, Secret};
use crate::alerting::{AlertNotice, DeliveryReport, Notification, Notifier, NotifyError};
use crate::semconv::AlertChannel;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// The payload's `schema` value.
pub const WEBHOOK_SCHEMA: &str = "bitcraps.alerting.webhook/v1";

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-bitcraps-signature";
/// Header carrying the signed timestamp.
pub const TIMESTAMP_HEADER: &str = "x-bitcraps-timestamp";

/// Posts the alert group as JSON to any URL.
///
/// ```
/// use bitcraps_otel::alerting::channels::WebhookNotifier;
///
/// let hook = WebhookNotifier::new("https://ops.example/hooks/bitcraps".to_string())
///     .with_header("Authorization", "Bearer t0ken")
///     .with_hmac_secret("shared-secret");
/// let dbg = format!("{hook:?}");
/// assert!(!dbg.contains("t0ken") && !dbg.contains("shared-secret"));
/// // The same value as `openssl dgst -sha256 -hmac shared-secret` of `1700000000.{}`:
/// assert_eq!(
///     WebhookNotifier::signature(b"shared-secret", 1700000000, b"{}"),
///     "sha256=5d7dd1c193d93142945a3676ff4e73821d15a61c43677e189398a6c1e5b63a75"
/// );
/// ```
#[derive(Debug)]
pub struct WebhookNotifier {
    url: Secret,
    headers: Vec<(String, Secret)>,
    hmac_secret: Option<Secret>,
    delivery: Delivery<HttpTransport>,
}

delivery_methods!(WebhookNotifier);

type HmacSha256 = Hmac<Sha256>;

impl WebhookNotifier {
    /// A webhook posting to `url` (treated as a secret: URLs often carry tokens).
    pub fn new(url: String) -> Self {
        WebhookNotifier {
            url: Secret::new(url),
            headers: Vec::new(),
            hmac_secret: None,
            delivery: Delivery::new(AlertChannel::Webhook),
        }
    }

    /// A header sent with every request; its value is kept secret.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), Secret::new(value.into())));
        self
    }

    /// Signs every request with HMAC-SHA256 under `secret` (see the module docs).
    pub fn with_hmac_secret(mut self, secret: impl Into<String>) -> Self {
        self.hmac_secret = Some(Secret::new(secret.into()));
        self
    }

    /// The signature header value for `body` sent at `timestamp`: `sha256=<hex>` of
    /// HMAC-SHA256(`secret`, `"<timestamp>.<body>"`).
    pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac = match HmacSha256::new_from_slice(secret) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(7 + 64);
        out.push_str("sha256=");
        for b in digest.iter() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// The payload for `n` (schema v1).
    pub(crate) fn payload(n: &Notification, sent_at: u64) -> Value {
        json!({
            "schema": WEBHOOK_SCHEMA,
            "status": if n.firing.is_empty() { "resolved" } else { "firing" },
            "title": headline(n),
            "channel": n.channel,
            "group": n.group,
            "escalation_tier": n.escalation_tier,
            "sent_at": sent_at,
            "firing": n.firing.iter().map(alert).collect::<Vec<_>>(),
            "resolved": n.resolved.iter().map(alert).collect::<Vec<_>>(),
        })
    }
}

fn alert(a: &AlertNotice) -> Value {
    json!({
        "fingerprint": a.fingerprint.to_string(),
        "rule": a.rule,
        "severity": a.severity.as_str(),
        "description": a.description,
        "value": if a.value.is_finite() { json!(a.value) } else { Value::Null },
        "threshold": a.threshold.map(|t| threshold_text(Some(t))),
        "labels": a.labels,
        "tags": a.tags,
    })
}

#[async_trait::async_trait]
impl Notifier for WebhookNotifier {
    fn kind(&self) -> AlertChannel {
        AlertChannel::Webhook
    }

    fn reports_own_delivery(&self) -> bool {
        true
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        self.deliver(n).await.into_result()
    }

    async fn deliver(&self, n: &Notification) -> DeliveryReport {
        let config = |reason: String| NotifyError::Config { channel: "webhook", reason };
        if !self.url.expose().starts_with("http") {
            return DeliveryReport::none(config("URL must be http(s)".into()));
        }
        let render = || {
            let sent_at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            let mut message = HttpMessage::json(&self.url, &Self::payload(n, sent_at)).map_err(config)?;
            for (name, value) in &self.headers {
                let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| config(format!("`{name}` is not a valid header name")))?;
                if reqwest::header::HeaderValue::from_str(value.expose()).is_err() {
                    return Err(config(format!("the value of header `{name}` is not a valid header value")));
                }
                message.headers.push((name, value.clone()));
            }
            if let Some(secret) = &self.hmac_secret {
                let super::http::Body::Json(body) = &message.body else {
                    return Err(config("unexpected body encoding".into()));
                };
                let signature = Self::signature(secret.expose().as_bytes(), sent_at, body);
                message.headers.push((
                    reqwest::header::HeaderName::from_static(TIMESTAMP_HEADER),
                    Secret::new(sent_at.to_string()),
                ));
                message
                    .headers
                    .push((reqwest::header::HeaderName::from_static(SIGNATURE_HEADER), Secret::new(signature)));
            }
            Ok(vec![(message, None)])
        };
        self.delivery.deliver(&n.channel, super::fingerprints(n), render, HttpTransport::new).await
    }
}
