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

/// Septets of one GSM-7 SMS segment.
const GSM7_SEGMENT: usize = 160;
/// UTF-16 code units of one UCS-2 SMS segment (any character outside GSM-7 forces UCS-2).
const UCS2_SEGMENT: usize = 70;
/// Twilio's limit for `Body`.
const TWILIO_BODY_MAX: usize = 1600;

/// GSM 03.38's basic character set: one septet each.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Its extension table: two septets each (an escape, then the character).
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{c}";

/// Septets `s` takes in GSM-7, or `None` when a character is not in GSM-7 (the SMS is then
/// sent as UCS-2, 70 characters a segment).
///
/// ```
/// use bitcraps_otel::alerting::channels::gsm7_septets;
/// assert_eq!(gsm7_septets("CPU > 85 [node-7]"), Some(19)); // `[` and `]` take two septets
/// assert_eq!(gsm7_septets("45 °C"), None);
/// ```
pub fn gsm7_septets(s: &str) -> Option<usize> {
    s.chars().try_fold(0, |n, c| {
        if GSM7_BASIC.contains(c) {
            Some(n + 1)
        } else if GSM7_EXTENSION.contains(c) {
            Some(n + 2)
        } else {
            None
        }
    })
}

/// `text` cut to one segment: 160 septets when all of it is GSM-7 (cut with `...`, which is
/// GSM-7 too), else 70 UTF-16 units (cut with `…`).
pub(crate) fn one_segment(text: &str) -> String {
    if gsm7_septets(text).is_some_and(|n| n <= GSM7_SEGMENT) {
        return text.to_string();
    }
    if gsm7_septets(text).is_some() {
        let mut out = String::new();
        let mut used = 0;
        for c in text.chars() {
            let w = if GSM7_EXTENSION.contains(c) { 2 } else { 1 };
            if used + w > GSM7_SEGMENT - 3 {
                break;
            }
            used += w;
            out.push(c);
        }
        out.push_str("...");
        return out;
    }
    if text.encode_utf16().count() <= UCS2_SEGMENT {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + c.len_utf16() > UCS2_SEGMENT - 1 {
            break;
        }
        used += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

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
    /// `None`: one segment (see [`one_segment`]).
    max_chars: Option<usize>,
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
            max_chars: None,
            delivery: Delivery::new(AlertChannel::Sms),
        }
    }

    /// Another API base (a regional edge, a test server); the path is appended.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Longest body in characters, over several segments (at most Twilio's 1,600). The
    /// default is one segment: 160 characters of GSM-7, or 70 when the text needs UCS-2.
    pub fn with_max_chars(mut self, max_chars: usize) -> Self {
        self.max_chars = Some(max_chars.clamp(20, TWILIO_BODY_MAX));
        self
    }

    /// The text for `n`: headline, then `rule severity value (threshold)` per alert, cut to
    /// the limit.
    pub(crate) fn text(&self, n: &Notification) -> String {
        let mut parts = vec![headline(n)];
        // Which node: on a phone screen, without it an alert from one of many nodes says little.
        let on =
            |a: &crate::alerting::AlertNotice| a.labels.get("node_id").map(|n| format!(" on {n}")).unwrap_or_default();
        for a in &n.firing {
            parts.push(format!(
                "{} {} {} ({}){}",
                a.rule,
                a.severity,
                value_text(a.value),
                threshold_text(a.threshold),
                on(a)
            ));
        }
        for a in &n.resolved {
            parts.push(format!("{} resolved{}", a.rule, on(a)));
        }
        let text = parts.join("; ");
        match self.max_chars {
            Some(max) => truncate(&text, max),
            None => one_segment(&text),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_segment_is_160_septets_of_gsm7_or_70_units_of_ucs2() {
        let ascii = "x".repeat(200);
        let cut = one_segment(&ascii);
        assert_eq!((gsm7_septets(&cut), cut.ends_with("...")), (Some(160), true));
        // Extension characters take two septets.
        let braces = "{".repeat(100);
        assert_eq!(gsm7_septets(&one_segment(&braces)), Some(159));
        // One character outside GSM-7 (°, …) and the whole text is UCS-2: 70 units.
        let hot = format!("Device temperature above 45 °C {}", "x".repeat(100));
        let cut = one_segment(&hot);
        assert_eq!((cut.encode_utf16().count(), cut.ends_with('…')), (70, true));
        assert_eq!(one_segment("short é"), "short é");
    }
}
