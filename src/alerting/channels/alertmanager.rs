//! A Prometheus Alertmanager as a channel: alerts are posted to its `POST /api/v2/alerts`
//! with the engine's labels, so a node's own notification and the fleet's (Prometheus
//! evaluating the exported rules) are one alert to Alertmanager and are notified once.
//!
//! The protocol is the one Prometheus follows: a firing alert is re-sent every
//! `resend_interval` (default 1 minute) with `endsAt` four intervals ahead, so if the node
//! dies its alerts end by themselves; a resolved alert is sent with `endsAt` set to when it
//! resolved, and re-sent for 15 minutes in case Alertmanager missed it. Labels with empty
//! values are left out (Prometheus has none, and Alertmanager's identity would differ).

use super::delivery::{ChannelStats, Delivery, DeliveryOptions};
use super::http::{HttpMessage, HttpTransport};
use super::{value_text, Secret};
use crate::alerting::wallclock;
use crate::alerting::{AlertNotice, DeliveryReport, Fingerprint, Notification, Notifier, NotifyError};
use crate::semconv::AlertChannel;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

/// How often firing alerts are re-sent by default (Prometheus' `--rules.alert.resend-delay`).
pub const DEFAULT_RESEND_INTERVAL: Duration = Duration::from_secs(60);

/// How long a resolved alert keeps being re-sent (what Prometheus does).
pub const RESOLVED_RESEND_FOR: Duration = Duration::from_secs(15 * 60);

/// Most alerts one channel tracks for re-sending; more are sent once and not re-sent.
pub const MAX_TRACKED_ALERTS: usize = 10_000;

/// Alerts per request when re-sending many.
const BATCH: usize = 500;

/// `endsAt` of a firing alert sent at `now` by a rule evaluated every `every`: four re-send
/// periods ahead, as Prometheus does, so a sender that stops sending lets it expire.
pub(crate) fn firing_ends_at(now: SystemTime, every: Duration) -> SystemTime {
    let period = every.max(DEFAULT_RESEND_INTERVAL);
    now.checked_add(period.saturating_mul(4)).unwrap_or(now)
}

/// The annotations both runtimes put on an alert: `summary` (the rule's description),
/// `value`, and `tags` when the rule has any.
pub(crate) fn annotations_of(description: &str, tags: &[String], value: f64) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    if !description.is_empty() {
        a.insert("summary".to_string(), description.to_string());
    }
    a.insert("value".to_string(), value_text(value));
    if !tags.is_empty() {
        a.insert("tags".to_string(), tags.join(","));
    }
    a
}

/// Alertmanager's `postableAlert`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert<'a> {
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    #[serde(with = "wallclock::rfc3339")]
    starts_at: SystemTime,
    #[serde(with = "wallclock::rfc3339")]
    ends_at: SystemTime,
    #[serde(rename = "generatorURL", skip_serializing_if = "str::is_empty")]
    generator_url: &'a str,
}

#[derive(Debug)]
struct Tracked {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    starts_at: SystemTime,
    resolved_at: Option<SystemTime>,
}

#[derive(Debug)]
struct Inner {
    alerts_url: Secret,
    token: Option<Secret>,
    generator_url: String,
    resend_interval: Duration,
    delivery: Delivery<HttpTransport>,
    tracked: Mutex<BTreeMap<Fingerprint, Tracked>>,
    /// The channel's name, learnt from the first notification (re-sends are logged under it).
    channel: Mutex<Option<String>>,
}

/// Posts alerts to an Alertmanager and keeps them alive there.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::alerting::channels::AlertmanagerNotifier;
///
/// let am = AlertmanagerNotifier::new("http://alertmanager:9093")
///     .with_bearer_token("t0ken")
///     .with_resend_interval(Duration::from_secs(30));
/// assert!(!format!("{am:?}").contains("t0ken"));
/// ```
#[derive(Debug)]
pub struct AlertmanagerNotifier {
    inner: Arc<Inner>,
    resender: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl AlertmanagerNotifier {
    /// A channel posting to the Alertmanager at `base_url` (e.g. `http://alertmanager:9093`;
    /// `/api/v2/alerts` is appended).
    pub fn new(base_url: impl Into<String>) -> Self {
        let base: String = base_url.into();
        let alerts_url = format!("{}/api/v2/alerts", base.trim_end_matches('/'));
        AlertmanagerNotifier {
            inner: Arc::new(Inner {
                alerts_url: Secret::new(alerts_url),
                token: None,
                generator_url: String::new(),
                resend_interval: DEFAULT_RESEND_INTERVAL,
                delivery: Delivery::new(AlertChannel::Alertmanager),
                tracked: Mutex::new(BTreeMap::new()),
                channel: Mutex::new(None),
            }),
            resender: Mutex::new(None),
        }
    }

    fn configure(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        // Builders run before the first notification shares `inner`.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            f(inner);
        }
        self
    }

    /// Sends `Authorization: Bearer <token>` (an Alertmanager behind an authenticating proxy).
    pub fn with_bearer_token(self, token: impl Into<String>) -> Self {
        let token = Secret::new(token.into());
        self.configure(|i| i.token = (!token.is_empty()).then_some(token))
    }

    /// How often firing alerts are re-sent (at least 1 s).
    pub fn with_resend_interval(self, every: Duration) -> Self {
        self.configure(|i| i.resend_interval = every.max(Duration::from_secs(1)))
    }

    /// A link back to where the alert comes from (a node's dashboard), as `generatorURL`.
    pub fn with_generator_url(self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.configure(|i| i.generator_url = url)
    }

    /// Queue size, retries, backoff and per-request timeout (before the first notification).
    pub fn with_delivery(self, options: DeliveryOptions) -> Self {
        self.configure(|i| i.delivery.options = options)
    }

    /// Records delivery metrics on `meter` instead of the global meter provider's.
    pub fn with_meter(self, meter: opentelemetry::metrics::Meter) -> Self {
        self.configure(|i| i.delivery.meter = Some(meter))
    }

    /// What this channel has done so far (re-sends included).
    pub fn stats(&self) -> ChannelStats {
        self.inner.delivery.stats()
    }

    /// How many alerts it keeps alive in Alertmanager now (firing, or resolved within 15 min).
    pub fn tracked(&self) -> usize {
        self.inner.tracked.lock().map(|t| t.len()).unwrap_or(0)
    }

    fn start_resender(&self) {
        let mut slot = self.resender.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let every = self.inner.resend_interval;
        *slot = Some(runtime.spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                if let Err(e) = inner.resend() {
                    tracing::warn!(target: "bitcraps_otel::alerting", kind = "alertmanager", error = %e, "re-send not queued");
                }
            }
        }));
    }
}

impl Drop for AlertmanagerNotifier {
    fn drop(&mut self) {
        if let Some(task) = self.resender.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

impl Inner {
    fn config_error(reason: String) -> NotifyError {
        NotifyError::Config { channel: "alertmanager", reason }
    }

    /// The request posting `alerts` (already in Alertmanager's shape).
    fn message(&self, alerts: &[PostableAlert<'_>]) -> Result<HttpMessage, NotifyError> {
        let value = serde_json::to_value(alerts).map_err(|e| Self::config_error(e.to_string()))?;
        let mut m = HttpMessage::json(&self.alerts_url, &value).map_err(Self::config_error)?;
        if let Some(t) = &self.token {
            m.headers.push((reqwest::header::AUTHORIZATION, Secret::new(format!("Bearer {}", t.expose()))));
        }
        Ok(m)
    }

    fn postable<'a>(&'a self, t: &'a Tracked, now: SystemTime) -> PostableAlert<'a> {
        PostableAlert {
            labels: &t.labels,
            annotations: &t.annotations,
            starts_at: t.starts_at,
            ends_at: t.resolved_at.unwrap_or_else(|| firing_ends_at(now, self.resend_interval)),
            generator_url: &self.generator_url,
        }
    }

    /// Records what `n` says and returns the fingerprints it carries.
    fn track(&self, n: &Notification, now: SystemTime) -> Vec<Fingerprint> {
        let mut tracked = self.tracked.lock().unwrap_or_else(|p| p.into_inner());
        let mut fps = Vec::with_capacity(n.firing.len() + n.resolved.len());
        for (a, firing) in n.firing.iter().map(|a| (a, true)).chain(n.resolved.iter().map(|a| (a, false))) {
            let full = tracked.len() >= MAX_TRACKED_ALERTS && !tracked.contains_key(&a.fingerprint);
            if full {
                continue;
            }
            let entry = tracked.entry(a.fingerprint).or_insert_with(|| Tracked {
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
                starts_at: now,
                resolved_at: None,
            });
            entry.labels = labels_of(a);
            entry.annotations = annotations_of(&a.description, &a.tags, a.value);
            if firing {
                // A re-fire after a resolve is a new alert to Alertmanager.
                if entry.resolved_at.take().is_some() {
                    entry.starts_at = now;
                }
            } else if entry.resolved_at.is_none() {
                entry.resolved_at = Some(now);
            }
            fps.push(a.fingerprint);
        }
        fps
    }

    /// Messages for `fps` (all tracked when `None`), in batches.
    fn messages(&self, fps: Option<&[Fingerprint]>, now: SystemTime) -> Result<Vec<HttpMessage>, NotifyError> {
        let tracked = self.tracked.lock().unwrap_or_else(|p| p.into_inner());
        let alerts: Vec<PostableAlert<'_>> = match fps {
            Some(fps) => fps.iter().filter_map(|fp| tracked.get(fp)).map(|t| self.postable(t, now)).collect(),
            None => tracked.values().map(|t| self.postable(t, now)).collect(),
        };
        alerts.chunks(BATCH).map(|chunk| self.message(chunk)).collect()
    }

    /// Re-sends every tracked alert; forgets those resolved long enough ago.
    fn resend(&self) -> Result<(), NotifyError> {
        let now = wallclock::now();
        {
            let mut tracked = self.tracked.lock().unwrap_or_else(|p| p.into_inner());
            tracked.retain(|_, t| {
                t.resolved_at.is_none_or(|r| now.duration_since(r).unwrap_or_default() < RESOLVED_RESEND_FOR)
            });
            if tracked.is_empty() {
                return Ok(());
            }
        }
        let channel = self.channel.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
        self.delivery.enqueue(&channel, || self.messages(None, now), HttpTransport::new)
    }
}

/// The labels to post: the alert's, without empty values.
fn labels_of(a: &AlertNotice) -> BTreeMap<String, String> {
    a.labels.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[async_trait::async_trait]
impl Notifier for AlertmanagerNotifier {
    fn kind(&self) -> AlertChannel {
        AlertChannel::Alertmanager
    }

    fn reports_own_delivery(&self) -> bool {
        true
    }

    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        self.deliver(n).await.into_result()
    }

    async fn deliver(&self, n: &Notification) -> DeliveryReport {
        if !self.inner.alerts_url.expose().starts_with("http") {
            return DeliveryReport::none(Inner::config_error("the Alertmanager URL must be http(s)".into()));
        }
        if n.firing.is_empty() && n.resolved.is_empty() {
            return DeliveryReport::default();
        }
        {
            let mut channel = self.inner.channel.lock().unwrap_or_else(|p| p.into_inner());
            if channel.is_none() {
                *channel = Some(n.channel.clone());
            }
        }
        let now = wallclock::now();
        let fps = self.inner.track(n, now);
        self.start_resender();
        // Alerts past the tracking cap are not in `fps`: they count as undelivered.
        let render = || self.inner.messages(Some(&fps), now).map(|ms| ms.into_iter().map(|m| (m, None)).collect());
        self.inner.delivery.deliver(&n.channel, fps.clone(), render, HttpTransport::new).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::AlertSeverity;

    fn notice(fp: u64, labels: &[(&str, &str)]) -> AlertNotice {
        AlertNotice {
            fingerprint: Fingerprint(fp),
            rule: "R".into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            description: "d".into(),
            severity: AlertSeverity::High,
            value: 1.5,
            threshold: None,
            tags: vec!["a".into(), "b".into()],
        }
    }

    #[test]
    fn firing_then_resolved_alerts_carry_alertmanagers_times() {
        let am = AlertmanagerNotifier::new("http://am:9093/");
        assert_eq!(am.inner.alerts_url.expose(), "http://am:9093/api/v2/alerts");
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut n = Notification {
            channel: "fleet".into(),
            group: BTreeMap::new(),
            firing: vec![notice(1, &[("alertname", "R"), ("node_id", "n1"), ("empty", "")])],
            resolved: vec![],
            escalation_tier: 0,
        };
        let fps = am.inner.track(&n, t0);
        let body = |fps: &[Fingerprint], at| {
            let tracked = am.inner.tracked.lock().expect("lock");
            let alerts: Vec<_> = fps.iter().filter_map(|f| tracked.get(f)).map(|t| am.inner.postable(t, at)).collect();
            serde_json::to_value(&alerts).expect("json")
        };
        let v = body(&fps, t0);
        assert_eq!(v[0]["labels"], serde_json::json!({"alertname": "R", "node_id": "n1"}));
        assert_eq!(v[0]["annotations"], serde_json::json!({"summary": "d", "value": "1.5", "tags": "a,b"}));
        assert_eq!(v[0]["startsAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v[0]["endsAt"], "2023-11-14T22:17:20.000Z", "four minutes ahead");
        n.resolved = std::mem::take(&mut n.firing);
        let t1 = t0 + Duration::from_secs(90);
        let fps = am.inner.track(&n, t1);
        let v = body(&fps, t1 + Duration::from_secs(60));
        assert_eq!(v[0]["startsAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v[0]["endsAt"], "2023-11-14T22:14:50.000Z", "when it resolved, on every re-send");
    }
}
