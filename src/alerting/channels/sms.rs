//! SMS through Twilio's Messages API: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`,
//! form-encoded `To`, `From`, `Body`, HTTP basic auth with the account SID and auth token.
//! One request per recipient; the body is one line per notification, cut to the SMS limit.

use super::delivery::Delivery;
use super::http::{Body, HttpMessage, HttpTransport};
use super::{delivery_methods, headline, threshold_text, truncate, value_text, Secret};
use crate::alerting::{DeliveryReport, Notification, Notifier, NotifyError};
use crate::semconv::AlertChannel;

/// Twilio's REST API base.
pub const TWILIO_API_BASE: &str = "https://api.twilio.com";

/// Characters of one GSM-7 SMS segment: the default body limit.
const ONE_SEGMENT: usize = 160;
/// Twilio's limit for `Body`.
const TWILIO_BODY_MAX: usize = 1600;

/// Texts alerts to phone numbers through Twilio.
///
/// ```
/// use bitcraps_otel::alerting::channels::SmsNotifier;
///
/// let sms = SmsNotifier::new("AC0123".into(), "auth-token".into(), "+15550000000".into(), vec!["+15551112222".into()])
///     .with_base_url("http://127.0.0.1:9")
///     .with_max_chars(320);
/// assert!(!format!("{sms:?}").contains("auth-token"));
/// ```
#[derive(Debug)]
pub struct SmsNotifier {
    account_sid: String,
    auth_token: Secret,
    from: String,
    to: Vec<String>,
    base_url: String,
    max_chars: usize,
    delivery: Delivery<HttpTransport>,
}

delivery_methods!(SmsNotifier);

impl SmsNotifier {
    /// Sends from `from` (a Twilio number or sender id) to each of `to` (E.164 numbers).
    pub fn new(account_sid: String, auth_token: String, from: String, to: Vec<String>) -> Self {
        SmsNotifier {
            account_sid,
            auth_token: Secret::new(auth_token),
            from,
            to,
            base_url: TWILIO_API_BASE.to_string(),
            max_chars: ONE_SEGMENT,
            delivery: Delivery::new(AlertChannel::Sms),
        }
    }

    /// Another API base (a regional edge, a test server); the path is appended.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Longest body in characters (default 160, one segment; at most Twilio's 1,600).
    pub fn with_max_chars(mut self, max_chars: usize) -> Self {
        self.max_chars = max_chars.clamp(20, TWILIO_BODY_MAX);
        self
    }

    /// The text for `n`: headline, then `rule severity value (threshold)` per alert, cut to
    /// the limit.
    pub(crate) fn text(&self, n: &Notification) -> String {
        let mut parts = vec![headline(n)];
        for a in &n.firing {
            parts.push(format!("{} {} {} ({})", a.rule, a.severity, value_text(a.value), threshold_text(a.threshold)));
        }
        for a in &n.resolved {
            parts.push(format!("{} resolved", a.rule));
        }
        truncate(&parts.join("; "), self.max_chars)
    }
}

#[async_trait::async_trait]
impl Notifier for SmsNotifier {
    fn kind(&self) -> AlertChannel {
        AlertChannel::Sms
    }

    fn reports_own_delivery(&self) -> bool {
        true
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        self.deliver(n).await.into_result()
    }

    async fn deliver(&self, n: &Notification) -> DeliveryReport {
        let config = |reason: String| NotifyError::Config { channel: "sms", reason };
        if self.account_sid.is_empty() || self.auth_token.is_empty() {
            return DeliveryReport::none(config("account SID and auth token are required".into()));
        }
        if self.to.is_empty() || self.from.is_empty() {
            return DeliveryReport::none(config("`from` and at least one `to` number are required".into()));
        }
        let render = || {
            let url = Secret::new(format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                self.base_url.trim_end_matches('/'),
                self.account_sid
            ));
            let text = self.text(n);
            let mut messages = Vec::with_capacity(self.to.len());
            for to in &self.to {
                let form = serde_urlencoded::to_string([
                    ("To", to.as_str()),
                    ("From", self.from.as_str()),
                    ("Body", text.as_str()),
                ])
                .map_err(|e| config(format!("cannot encode the form: {e}")))?;
                let message = HttpMessage {
                    url: url.clone(),
                    body: Body::Form(form.into_bytes()),
                    headers: Vec::new(),
                    basic_auth: Some((self.account_sid.clone(), self.auth_token.clone())),
                    body_secrets: Vec::new(),
                };
                // Each text carries every alert: an alert is told once every recipient has it.
                messages.push((message, None));
            }
            Ok(messages)
        };
        self.delivery.deliver(&n.channel, super::fingerprints(n), render, HttpTransport::new).await
    }
}
