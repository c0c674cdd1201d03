//! Where alerts go: the [`Notifier`] trait channels implement, what they receive
//! ([`Notification`]), and two notifiers that need no network: [`InMemoryNotifier`] (tests,
//! embedding apps) and [`LogNotifier`] (the node's log).

use super::state::Fingerprint;
use super::AlertSeverity;
use crate::semconv::AlertChannel;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One alert inside a notification.
///
/// ```
/// use std::collections::BTreeMap;
/// use bitcraps_otel::alerting::{AlertNotice, AlertSeverity, Fingerprint, Notification, Threshold};
/// let labels = BTreeMap::from([("alertname".to_string(), "BatteryLow".to_string())]);
/// let notice = AlertNotice {
///     fingerprint: Fingerprint::of(&labels),
///     rule: "BatteryLow".into(),
///     labels,
///     description: "Device battery below 15 %".into(),
///     severity: AlertSeverity::Medium,
///     value: 9.0,
///     threshold: Some(Threshold::LessThan(15.0)),
///     tags: Vec::new(),
/// };
/// let n = Notification {
///     channel: "log".into(),
///     group: BTreeMap::from([("category".to_string(), "mobile".to_string())]),
///     firing: vec![notice],
///     resolved: Vec::new(),
///     escalation_tier: 0,
/// };
/// assert_eq!(n.title(), "[FIRING:1] category=mobile");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AlertNotice {
    /// Stable identity; pass it to [`super::AlertingSystem::acknowledge`].
    pub fingerprint: Fingerprint,
    /// Rule name.
    pub rule: String,
    /// All labels of the alert.
    pub labels: BTreeMap<String, String>,
    /// The rule's description.
    pub description: String,
    /// Severity.
    pub severity: AlertSeverity,
    /// Last compared value (NaN for `absent`).
    pub value: f64,
    /// The comparison the value is held to (none for `absent` and `anomaly` rules).
    pub threshold: Option<super::Threshold>,
    /// The rule's tags.
    pub tags: Vec<String>,
}

/// What one channel is told about one group of alerts at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// The channel name (as registered with [`super::AlertingSystem::add_notifier`]).
    pub channel: String,
    /// The labels the group shares (the route's `group_by`).
    pub group: BTreeMap<String, String>,
    /// Alerts firing that this channel is told of now (new, repeated or escalated).
    pub firing: Vec<AlertNotice>,
    /// Alerts that resolved since this channel was told they fired.
    pub resolved: Vec<AlertNotice>,
    /// Highest escalation tier behind this notification (0: the first tier).
    pub escalation_tier: usize,
}

impl Notification {
    /// A one-line summary, e.g. `[FIRING:3] category=gaming severity=high`.
    pub fn title(&self) -> String {
        let status = match (self.firing.is_empty(), self.resolved.is_empty()) {
            (false, true) => format!("FIRING:{}", self.firing.len()),
            (true, false) => format!("RESOLVED:{}", self.resolved.len()),
            _ => format!("FIRING:{} RESOLVED:{}", self.firing.len(), self.resolved.len()),
        };
        let group: Vec<String> = self.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("[{status}] {}", group.join(" "))
    }
}

/// Why a channel could not deliver.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The remote service answered with an error status.
    #[error("{channel}: HTTP {status}: {body}")]
    Http {
        /// Channel kind.
        channel: &'static str,
        /// HTTP status code.
        status: u16,
        /// Start of the response body.
        body: String,
    },
    /// The request did not get an answer (DNS, TLS, connect, timeout).
    #[error("{channel}: {reason}")]
    Transport {
        /// Channel kind.
        channel: &'static str,
        /// What failed.
        reason: String,
    },
    /// The channel is not configured well enough to send.
    #[error("{channel}: not configured: {reason}")]
    Config {
        /// Channel kind.
        channel: &'static str,
        /// What is missing.
        reason: String,
    },
    /// A route or escalation tier names a channel nobody registered.
    #[error("no channel named `{name}` is registered")]
    UnknownChannel {
        /// The name the routing used.
        name: String,
    },
    /// The notifier did not answer within the engine's `notify_timeout`.
    #[error("no verdict within {after:?}")]
    TimedOut {
        /// The limit.
        after: std::time::Duration,
    },
    /// The notifier panicked (caught by the engine).
    #[error("the notifier panicked: {message}")]
    Panicked {
        /// What the panic said.
        message: String,
    },
}

/// What a channel confirmed of one notification: the alerts (firing or resolved) the
/// receiving side accepted, and why the others were not delivered.
///
/// The engine marks an alert as told to a channel only for the fingerprints in
/// `delivered`; the rest are offered again at the route's next `group_interval`, so a
/// notification that fails part-way resumes where it stopped.
///
/// ```
/// use bitcraps_otel::alerting::{DeliveryReport, Fingerprint, NotifyError};
///
/// let partial = DeliveryReport {
///     delivered: vec![Fingerprint(1)],
///     error: Some(NotifyError::Transport { channel: "pagerduty", reason: "HTTP 503".into() }),
/// };
/// assert!(!partial.is_complete());
/// ```
#[derive(Debug, Default)]
pub struct DeliveryReport {
    /// Alerts the channel confirmed.
    pub delivered: Vec<Fingerprint>,
    /// Why the alerts not in `delivered` were not delivered (`None`: everything was).
    pub error: Option<NotifyError>,
}

impl DeliveryReport {
    /// Every alert of `n` delivered.
    pub fn all(n: &Notification) -> DeliveryReport {
        DeliveryReport { delivered: n.firing.iter().chain(&n.resolved).map(|a| a.fingerprint).collect(), error: None }
    }

    /// Nothing delivered, because of `error`.
    pub fn none(error: NotifyError) -> DeliveryReport {
        DeliveryReport { delivered: Vec::new(), error: Some(error) }
    }

    /// Whether nothing failed.
    pub fn is_complete(&self) -> bool {
        self.error.is_none()
    }

    /// `Ok` when nothing failed, else the error.
    pub fn into_result(self) -> Result<(), NotifyError> {
        match self.error {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

/// A notification channel. Implementations must be cheap to call concurrently; the engine
/// calls them outside its locks, one notification at a time per channel and alert group,
/// and never waits for them between two evaluations.
///
/// `notify` returns `Ok` only once the receiving side confirmed the notification: an alert
/// counts as told to a channel only then. A notifier whose notifications can partly fail
/// (one request per alert, say) also implements [`deliver`](Notifier::deliver) to say which
/// alerts got through.
///
/// ```
/// use bitcraps_otel::alerting::{Notification, Notifier, NotifyError};
/// use bitcraps_otel::semconv::AlertChannel;
///
/// #[derive(Debug)]
/// struct Stdout;
/// #[async_trait::async_trait]
/// impl Notifier for Stdout {
///     fn kind(&self) -> AlertChannel {
///         AlertChannel::Other
///     }
///     async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
///         println!("{}", n.title());
///         Ok(())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// The kind of channel, for the `channel` label of the notification metrics.
    fn kind(&self) -> AlertChannel;
    /// Delivers one notification; `Ok` once the receiving side confirmed it.
    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError>;
    /// Delivers one notification and reports which of its alerts got through. The default
    /// is all or nothing, from [`notify`](Notifier::notify).
    async fn deliver(&self, notification: &Notification) -> DeliveryReport {
        match self.notify(notification).await {
            Ok(()) => DeliveryReport::all(notification),
            Err(e) => DeliveryReport::none(e),
        }
    }
    /// True for channels that bound their own time (retries, timeouts) and count their own
    /// sent/failed metrics (the queued channels of [`super::channels`]); the engine then
    /// applies no `notify_timeout` and leaves those two counters to them.
    fn reports_own_delivery(&self) -> bool {
        false
    }
}

/// Keeps every notification in memory; clones share the list. Can be told to fail.
///
/// ```
/// use std::collections::BTreeMap;
/// use bitcraps_otel::alerting::{InMemoryNotifier, Notification, Notifier};
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let inbox = InMemoryNotifier::new();
/// let n = Notification { channel: "test".into(), group: BTreeMap::new(), firing: vec![], resolved: vec![], escalation_tier: 0 };
/// inbox.notify(&n).await?;
/// assert_eq!(inbox.notifications().len(), 1);
/// inbox.set_failing(true); // a channel that is down
/// assert!(inbox.notify(&n).await.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct InMemoryNotifier {
    inner: Arc<Mutex<Inbox>>,
}

#[derive(Debug, Default)]
struct Inbox {
    received: Vec<Notification>,
    fail: bool,
}

impl InMemoryNotifier {
    /// An empty inbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything received so far.
    pub fn notifications(&self) -> Vec<Notification> {
        self.inner.lock().map(|i| i.received.clone()).unwrap_or_default()
    }

    /// Everything received so far, emptying the inbox.
    pub fn take(&self) -> Vec<Notification> {
        self.inner.lock().map(|mut i| std::mem::take(&mut i.received)).unwrap_or_default()
    }

    /// While `fail` is set, deliveries fail (and are not recorded).
    pub fn set_failing(&self, fail: bool) {
        if let Ok(mut i) = self.inner.lock() {
            i.fail = fail;
        }
    }
}

#[async_trait::async_trait]
impl Notifier for InMemoryNotifier {
    fn kind(&self) -> AlertChannel {
        AlertChannel::Memory
    }
    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let mut inbox = self
            .inner
            .lock()
            .map_err(|_| NotifyError::Transport { channel: "memory", reason: "inbox poisoned".into() })?;
        if inbox.fail {
            return Err(NotifyError::Transport { channel: "memory", reason: "told to fail".into() });
        }
        inbox.received.push(notification.clone());
        Ok(())
    }
}

/// Writes notifications to the log through `tracing` (target `bitcraps_otel::alerting`):
/// WARN for firing, INFO for resolved.
///
/// ```
/// use std::sync::Arc;
/// use bitcraps_otel::alerting::{AlertingConfig, AlertingSystem, LogNotifier};
/// // Alerts as WARN lines (labels as a JSON object in JSON logs); resolutions at INFO.
/// let system = AlertingSystem::new(AlertingConfig::default());
/// system.add_notifier("log", Arc::new(LogNotifier));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct LogNotifier;

#[async_trait::async_trait]
impl Notifier for LogNotifier {
    fn kind(&self) -> AlertChannel {
        AlertChannel::Log
    }
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        for a in &n.firing {
            tracing::warn!(
                target: "bitcraps_otel::alerting",
                alertname = %a.rule, severity = %a.severity, fingerprint = %a.fingerprint, value = a.value,
                labels = ?a.labels, tier = n.escalation_tier,
                "alert firing: {}", a.description
            );
        }
        for a in &n.resolved {
            tracing::info!(
                target: "bitcraps_otel::alerting",
                alertname = %a.rule, severity = %a.severity, fingerprint = %a.fingerprint, labels = ?a.labels,
                "alert resolved: {}", a.description
            );
        }
        Ok(())
    }
}
