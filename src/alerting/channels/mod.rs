//! Notification channels that speak their provider's documented API: PagerDuty Events API
//! v2, Slack incoming webhooks (Block Kit), Microsoft Teams workflow webhooks (Adaptive
//! Cards), e-mail over SMTP, Twilio SMS, a generic JSON webhook with an HMAC-SHA256
//! signature, and a Prometheus Alertmanager (API v2, with its re-send protocol).
//!
//! Every channel is a [`Notifier`](super::Notifier) whose `notify` renders the notification
//! and queues it (see [`DeliveryOptions`]): a bounded queue per channel and a worker that
//! retries connect errors, timeouts, 5xx and 429 (honouring `Retry-After`) with exponential
//! backoff and jitter, and gives up at once on other 4xx. A dead channel therefore never
//! slows the alert engine or another channel; its failures and overflows are logged and
//! counted (`bitcraps.alerting.notifications.{sent,failed,dropped,retries}` by `channel`).
//! Keys, tokens, webhook URLs and passwords are [`Secret`]s: they never appear in `Debug`,
//! logs or errors. Every endpoint is configurable, so tests point channels at loopback.
//!
//! Channels are built in code or from the `channels:` section of the rules YAML
//! ([`ChannelConfig`], with `${ENV_VAR}` substitution for secrets):
//!
//! ```
//! use std::sync::Arc;
//! use bitcraps_otel::alerting::channels::{PagerDutyNotifier, SlackNotifier};
//! use bitcraps_otel::alerting::{AlertingConfig, AlertingSystem};
//!
//! let alerting = AlertingSystem::new(AlertingConfig::default());
//! let pagerduty = PagerDutyNotifier::new("your-integration-key".to_string());
//! let slack = SlackNotifier::new("https://hooks.slack.com/services/T0/B0/XYZ".to_string(), "#alerts".to_string());
//! assert!(!format!("{slack:?}").contains("XYZ"));
//! alerting.add_notifier("pagerduty", Arc::new(pagerduty));
//! alerting.add_notifier("slack", Arc::new(slack));
//! ```

// The rendering helpers below serve the provider channels; with every kind compiled out
// (`alerting` alone) only the Alertmanager channel is left, and they go unused.
#![cfg_attr(
    not(any(
        feature = "email",
        feature = "pagerduty",
        feature = "slack",
        feature = "sms",
        feature = "teams",
        feature = "webhook"
    )),
    allow(dead_code, unused_macros, unused_imports)
)]

mod alertmanager;
mod config;
mod delivery;
#[cfg(feature = "email")]
mod email;
mod error;
mod http;
#[cfg(feature = "pagerduty")]
mod pagerduty;
mod schema;
mod secret;
#[cfg(feature = "slack")]
mod slack;
#[cfg(feature = "sms")]
mod sms;
mod smtp;
#[cfg(feature = "teams")]
mod teams;
#[cfg(feature = "webhook")]
mod webhook;

pub(crate) use alertmanager::{annotations_of, firing_ends_at};
pub use alertmanager::{AlertmanagerNotifier, DEFAULT_RESEND_INTERVAL, MAX_TRACKED_ALERTS, RESOLVED_RESEND_FOR};
pub(crate) use config::parse_channels;
pub use config::{register_channels, ChannelConfig, ChannelSpec};
pub use delivery::{ChannelStats, DeliveryOptions, SendError};
#[cfg(feature = "email")]
pub use email::EmailNotifier;
pub use error::ChannelError;
#[cfg(feature = "pagerduty")]
pub use pagerduty::{PagerDutyNotifier, PAGERDUTY_EVENTS_URL};
pub use secret::Secret;
#[cfg(feature = "slack")]
pub use slack::SlackNotifier;
#[cfg(feature = "sms")]
pub use sms::{gsm7_septets, SmsNotifier, TWILIO_API_BASE};
pub use smtp::SmtpSecurity;
#[cfg(feature = "teams")]
pub use teams::TeamsNotifier;
#[cfg(feature = "webhook")]
pub use webhook::{WebhookNotifier, SIGNATURE_HEADER, TIMESTAMP_HEADER, WEBHOOK_SCHEMA};

pub(crate) use delivery::DeliveryMetrics;

use super::{AlertNotice, AlertSeverity, Notification, Threshold};

/// A link shown with a notification (dashboard, runbook, alert list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// What the button or link says.
    pub text: String,
    /// Where it goes.
    pub url: String,
}

/// `FIRING:2`, `RESOLVED:1` or `FIRING:1 RESOLVED:1`.
pub(crate) fn status(n: &Notification) -> String {
    match (n.firing.len(), n.resolved.len()) {
        (f, 0) => format!("FIRING:{f}"),
        (0, r) => format!("RESOLVED:{r}"),
        (f, r) => format!("FIRING:{f} RESOLVED:{r}"),
    }
}

/// A subject line: `[FIRING:2] High Game Error Rate` when the alerts share a rule, the
/// group's labels otherwise (`[FIRING:3] category=gaming severity=high`).
pub(crate) fn headline(n: &Notification) -> String {
    let mut rules: Vec<&str> = n.firing.iter().chain(&n.resolved).map(|a| a.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    let what = match rules.as_slice() {
        [one] => (*one).to_string(),
        _ if !n.group.is_empty() => n.group.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
        _ => rules.join(", "),
    };
    format!("[{}] {what}", status(n))
}

/// The highest severity among the firing alerts (or the resolved ones when none fires).
pub(crate) fn top_severity(n: &Notification) -> AlertSeverity {
    let pool = if n.firing.is_empty() { &n.resolved } else { &n.firing };
    pool.iter().map(|a| a.severity).max().unwrap_or_default()
}

/// The compared value for humans: `absent` for NaN, otherwise up to 4 decimals.
pub(crate) fn value_text(v: f64) -> String {
    if v.is_nan() {
        "absent".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The comparison for humans: `> 0.05`, `< 15`, `outside [10, 90]`; `-` when the rule has
/// none (`absent`, `anomaly`).
pub(crate) fn threshold_text(t: Option<Threshold>) -> String {
    match t {
        None => "-".into(),
        Some(Threshold::GreaterThan(b)) => format!("> {}", value_text(b)),
        Some(Threshold::LessThan(b)) => format!("< {}", value_text(b)),
        Some(Threshold::Equal(b)) => format!("= {}", value_text(b)),
        Some(Threshold::NotEqual(b)) => format!("!= {}", value_text(b)),
        Some(Threshold::OutsideRange { low, high }) => format!("outside [{}, {}]", value_text(low), value_text(high)),
    }
}

/// `k=v, k=v` of an alert's labels, `alertname` left out (it is the rule).
pub(crate) fn labels_text(a: &AlertNotice) -> String {
    a.labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Alerts in notification order: firing first, then resolved, each with `true` if firing.
pub(crate) fn alerts(n: &Notification) -> impl Iterator<Item = (&AlertNotice, bool)> {
    n.firing.iter().map(|a| (a, true)).chain(n.resolved.iter().map(|a| (a, false)))
}

/// The fingerprints of every alert of `n`, firing then resolved.
pub(crate) fn fingerprints(n: &Notification) -> Vec<super::Fingerprint> {
    alerts(n).map(|(a, _)| a.fingerprint).collect()
}

/// At most `max` characters of `s`, ending in `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Builder methods every queued channel has: delivery options, the meter, statistics.
macro_rules! delivery_methods {
    ($t:ty) => {
        impl $t {
            /// Queue size, retries, backoff and per-request timeout (before the first notification).
            pub fn with_delivery(mut self, options: $crate::alerting::channels::DeliveryOptions) -> Self {
                self.delivery.options = options;
                self
            }

            /// Records delivery metrics on `meter` instead of the global meter provider's.
            pub fn with_meter(mut self, meter: opentelemetry::metrics::Meter) -> Self {
                self.delivery.meter = Some(meter);
                self
            }

            /// What this channel has done so far.
            pub fn stats(&self) -> $crate::alerting::channels::ChannelStats {
                self.delivery.stats()
            }
        }
    };
}
pub(crate) use delivery_methods;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::Fingerprint;
    use std::collections::BTreeMap;

    fn notice(rule: &str) -> AlertNotice {
        AlertNotice {
            fingerprint: Fingerprint(1),
            rule: rule.into(),
            labels: BTreeMap::new(),
            description: String::new(),
            severity: AlertSeverity::High,
            value: 0.07,
            threshold: Some(Threshold::OutsideRange { low: 0.0, high: 0.05 }),
            tags: vec![],
        }
    }

    #[test]
    fn headlines_name_the_rule_or_the_group() {
        let mut n = Notification {
            channel: "c".into(),
            group: [("category".to_string(), "gaming".to_string())].into(),
            firing: vec![notice("High Game Error Rate"), notice("High Game Error Rate")],
            resolved: vec![],
            escalation_tier: 0,
        };
        assert_eq!(headline(&n), "[FIRING:2] High Game Error Rate");
        n.resolved.push(notice("Other"));
        assert_eq!(headline(&n), "[FIRING:2 RESOLVED:1] category=gaming");
        assert_eq!(value_text(f64::NAN), "absent");
        assert_eq!(value_text(0.0700), "0.07");
        assert_eq!(value_text(3.0), "3");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(threshold_text(n.firing[0].threshold), "outside [0, 0.05]");
        assert_eq!(threshold_text(Some(Threshold::GreaterThan(85.0))), "> 85");
        assert_eq!(threshold_text(None), "-");
    }
}
