//! Reliable delivery shared by every channel: a bounded queue per channel drained by one
//! worker task, retries with exponential backoff and jitter for failures worth retrying
//! (connect errors, timeouts, 5xx, 408, 429 with its `Retry-After`), none for the rest, a
//! timeout on every attempt, and counters in-process and in the semconv metrics.
//!
//! A queued channel's [`Notifier::deliver`](crate::alerting::Notifier::deliver) renders the
//! notification, puts it on the queue and waits for the worker's verdict: which alerts the
//! remote side accepted. The alert engine waits for that verdict in a task of its own, so a
//! slow channel delays neither the engine nor another channel, and an alert counts as told
//! only once delivery is confirmed. A full queue refuses at once (counted as dropped and
//! failed, logged, and told to the engine, which offers it again later).

use crate::alerting::{DeliveryReport, Fingerprint, NotifyError};
use crate::semconv::{metric, AlertChannel, AttributeEnum};
use opentelemetry::metrics::{Counter, Meter};
use opentelemetry::KeyValue;
use rand::Rng;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How a channel queues, retries and times out. The defaults suit a remote SaaS endpoint.
/// Every field has an upper bound ([`DeliveryOptions::validate`]); the rules file rejects a
/// value past it, and a channel built in code clamps to it.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::alerting::channels::DeliveryOptions;
///
/// let fast = DeliveryOptions { max_attempts: 3, initial_backoff: Duration::from_millis(50), ..Default::default() };
/// assert_eq!(fast.queue_capacity, DeliveryOptions::default().queue_capacity);
/// assert!(fast.validate().is_ok());
/// let huge = DeliveryOptions { queue_capacity: 3_000_000_000_000_000_000, ..Default::default() };
/// assert_eq!(huge.validate().unwrap_err().0, "queue_capacity");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Notifications waiting for the worker; one more is dropped (and counted). 1 to
    /// [`DeliveryOptions::MAX_QUEUE_CAPACITY`].
    pub queue_capacity: usize,
    /// Attempts per request, the first included. 1 to [`DeliveryOptions::MAX_ATTEMPTS`].
    pub max_attempts: u32,
    /// Wait before the first retry; doubles each retry, with jitter. At most
    /// [`DeliveryOptions::MAX_WAIT`].
    pub initial_backoff: Duration,
    /// Longest wait between two attempts computed by backoff. At most
    /// [`DeliveryOptions::MAX_WAIT`].
    pub max_backoff: Duration,
    /// Longest a `Retry-After` answer can make the worker wait; longer asks are capped. At
    /// most [`DeliveryOptions::MAX_WAIT`].
    pub max_retry_after: Duration,
    /// Time limit of one attempt (connect, send, answer). Above zero, at most
    /// [`DeliveryOptions::MAX_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            queue_capacity: 256,
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl DeliveryOptions {
    /// Largest `queue_capacity`.
    pub const MAX_QUEUE_CAPACITY: usize = 65_536;
    /// Largest `max_attempts`.
    pub const MAX_ATTEMPTS: u32 = 100;
    /// Largest `initial_backoff`, `max_backoff` and `max_retry_after`.
    pub const MAX_WAIT: Duration = Duration::from_secs(3600);
    /// Largest `request_timeout`.
    pub const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

    /// Checks every bound; the error names the field (as the rules file spells it) and
    /// says why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=Self::MAX_QUEUE_CAPACITY).contains(&self.queue_capacity) {
            return Err(("queue_capacity", format!("must be 1 to {}", Self::MAX_QUEUE_CAPACITY)));
        }
        if !(1..=Self::MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(("max_attempts", format!("must be 1 to {}", Self::MAX_ATTEMPTS)));
        }
        for (field, d) in [
            ("initial_backoff", self.initial_backoff),
            ("max_backoff", self.max_backoff),
            ("max_retry_after", self.max_retry_after),
        ] {
            if d > Self::MAX_WAIT {
                return Err((field, format!("must be at most {}", humantime::format_duration(Self::MAX_WAIT))));
            }
        }
        if self.request_timeout.is_zero() || self.request_timeout > Self::MAX_REQUEST_TIMEOUT {
            return Err((
                "timeout",
                format!("must be above zero and at most {}", humantime::format_duration(Self::MAX_REQUEST_TIMEOUT)),
            ));
        }
        Ok(())
    }

    /// These options with every field brought within its bounds.
    pub(crate) fn clamped(&self) -> DeliveryOptions {
        DeliveryOptions {
            queue_capacity: self.queue_capacity.clamp(1, Self::MAX_QUEUE_CAPACITY),
            max_attempts: self.max_attempts.clamp(1, Self::MAX_ATTEMPTS),
            initial_backoff: self.initial_backoff.min(Self::MAX_WAIT),
            max_backoff: self.max_backoff.min(Self::MAX_WAIT),
            max_retry_after: self.max_retry_after.min(Self::MAX_WAIT),
            request_timeout: self.request_timeout.clamp(Duration::from_millis(1), Self::MAX_REQUEST_TIMEOUT),
        }
    }

    /// The wait before retry number `retry` (1 for the first): `initial_backoff × 2^(retry-1)`,
    /// capped at `max_backoff`, of which the upper half is random ("equal jitter"), so
    /// channels that failed together do not retry together.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self.initial_backoff.saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        let full = exp.min(self.max_backoff);
        let half = full / 2;
        let jitter_ns = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::rng().random_range(0..=jitter_ns))
    }

    /// The wait before retry number `retry`: what the server asked for (`Retry-After`),
    /// capped at `max_retry_after`, or the backoff when it asked nothing.
    pub fn retry_wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(asked) => asked.min(self.max_retry_after),
            None => self.backoff(retry),
        }
    }
}

/// Why one attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth another attempt: no connection, a timeout, a 5xx or a 429.
    #[error("{reason}")]
    Retryable {
        /// What happened (never contains a secret).
        reason: String,
        /// How long the server asked us to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Another attempt would fail the same way: a 4xx other than 408/429, a bad address.
    #[error("{reason}")]
    Permanent {
        /// What happened (never contains a secret).
        reason: String,
    },
}

/// Sends one rendered message of a channel (an HTTP request, an e-mail).
#[async_trait::async_trait]
pub(crate) trait Transport: Send + Sync + 'static {
    /// What the channel renders a notification into; one notification may need several.
    type Message: Send + Sync + 'static;
    /// One attempt.
    async fn send(&self, message: &Self::Message) -> Result<(), SendError>;
}

/// What a channel has done so far (this process, this channel instance).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Notifications taken into the queue.
    pub accepted: u64,
    /// Notifications whose every request the remote side accepted.
    pub delivered: u64,
    /// Notifications given up on (a permanent error, or attempts exhausted), drops included.
    pub failed: u64,
    /// Notifications refused because the queue was full.
    pub dropped: u64,
    /// Attempts made, first attempts included.
    pub attempts: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Notifications waiting in the queue or being delivered now.
    pub pending: u64,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    pending: AtomicU64,
    last_drop_log: Mutex<Option<Instant>>,
}

/// The semconv instruments of delivery outcomes.
#[derive(Clone, Debug)]
pub(crate) struct DeliveryMetrics {
    sent: Counter<u64>,
    failed: Counter<u64>,
    dropped: Counter<u64>,
    retries: Counter<u64>,
}

impl DeliveryMetrics {
    pub(crate) fn new(meter: &Meter) -> DeliveryMetrics {
        let counter = |d: &'static crate::semconv::MetricDef| {
            meter.u64_counter(d.name).with_description(d.brief).with_unit(d.unit).build()
        };
        DeliveryMetrics {
            sent: counter(&metric::ALERTING_NOTIFICATIONS_SENT),
            failed: counter(&metric::ALERTING_NOTIFICATIONS_FAILED),
            dropped: counter(&metric::ALERTING_NOTIFICATIONS_DROPPED),
            retries: counter(&metric::ALERTING_NOTIFICATIONS_RETRIES),
        }
    }

    /// Zeros for `channels`, so "no drops, no retries" is a value rather than a missing series.
    pub(crate) fn announce(meter: &Meter, channels: &[AlertChannel]) {
        let m = DeliveryMetrics::new(meter);
        for c in channels {
            m.dropped.add(0, &attr(*c));
            m.retries.add(0, &attr(*c));
        }
    }
}

fn attr(c: AlertChannel) -> [KeyValue; 1] {
    [KeyValue::new(AlertChannel::DEF.id, c.as_str())]
}

/// The queue's sending side and the instruments, once the worker runs.
type Running<M> = (mpsc::Sender<Job<M>>, DeliveryMetrics);

/// One rendered message and the alert it is about (`None`: every alert of the notification).
pub(crate) type Rendered<M> = (M, Option<Fingerprint>);

struct Job<M> {
    channel: String,
    messages: Vec<Rendered<M>>,
    /// Every alert of the notification.
    alerts: Vec<Fingerprint>,
    verdict: oneshot::Sender<DeliveryReport>,
}

/// One channel's queue and worker. The worker starts with the first notification (inside
/// the caller's tokio runtime) and ends when the channel is dropped and its queue drained.
pub(crate) struct Delivery<T: Transport> {
    kind: AlertChannel,
    pub(crate) options: DeliveryOptions,
    pub(crate) meter: Option<Meter>,
    counters: Arc<Counters>,
    sender: Mutex<Option<Running<T::Message>>>,
}

impl<T: Transport> fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery").field("kind", &self.kind.as_str()).field("options", &self.options).finish()
    }
}

impl<T: Transport> Delivery<T> {
    pub(crate) fn new(kind: AlertChannel) -> Self {
        Delivery {
            kind,
            options: DeliveryOptions::default(),
            meter: None,
            counters: Arc::default(),
            sender: Mutex::new(None),
        }
    }

    pub(crate) fn stats(&self) -> ChannelStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ChannelStats {
            accepted: get(&c.accepted),
            delivered: get(&c.delivered),
            failed: get(&c.failed),
            dropped: get(&c.dropped),
            attempts: get(&c.attempts),
            retries: get(&c.retries),
            pending: get(&c.pending),
        }
    }

    /// Queues the messages `render` makes of one notification (whose alerts are `alerts`)
    /// and waits for the worker's verdict. The worker starts with `make` the first time.
    /// A full queue is an immediate failure, found before `render` runs, so a dead channel
    /// costs the engine less than a live one.
    pub(crate) async fn deliver(
        &self,
        channel: &str,
        alerts: Vec<Fingerprint>,
        render: impl FnOnce() -> Result<Vec<Rendered<T::Message>>, NotifyError>,
        make: impl FnOnce(&DeliveryOptions) -> Result<T, String>,
    ) -> DeliveryReport {
        let verdict = match self.submit(channel, alerts.clone(), render, make) {
            Ok(Some(verdict)) => verdict,
            // Nothing to send is nothing that can fail.
            Ok(None) => return DeliveryReport { delivered: alerts, error: None },
            Err(e) => return DeliveryReport::none(e),
        };
        verdict.await.unwrap_or_else(|_| {
            DeliveryReport::none(NotifyError::Transport {
                channel: self.kind.as_str(),
                reason: "delivery worker stopped before reporting".into(),
            })
        })
    }

    /// Queues messages nobody waits on (a refresh the channel repeats by itself); a full
    /// queue is still an immediate error.
    pub(crate) fn enqueue(
        &self,
        channel: &str,
        render: impl FnOnce() -> Result<Vec<T::Message>, NotifyError>,
        make: impl FnOnce(&DeliveryOptions) -> Result<T, String>,
    ) -> Result<(), NotifyError> {
        let render = || render().map(|ms| ms.into_iter().map(|m| (m, None)).collect());
        self.submit(channel, Vec::new(), render, make).map(drop)
    }

    /// Puts one job on the queue; `None` when there was nothing to send.
    fn submit(
        &self,
        channel: &str,
        alerts: Vec<Fingerprint>,
        render: impl FnOnce() -> Result<Vec<Rendered<T::Message>>, NotifyError>,
        make: impl FnOnce(&DeliveryOptions) -> Result<T, String>,
    ) -> Result<Option<oneshot::Receiver<DeliveryReport>>, NotifyError> {
        let kind = self.kind.as_str();
        let options = self.options.clamped();
        let (tx, metrics) = {
            let mut slot = self.sender.lock().unwrap_or_else(|p| p.into_inner());
            match slot.as_ref() {
                Some((tx, metrics)) => (tx.clone(), metrics.clone()),
                None => {
                    let runtime = tokio::runtime::Handle::try_current()
                        .map_err(|_| NotifyError::Config { channel: kind, reason: "needs a tokio runtime".into() })?;
                    let transport = make(&options).map_err(|reason| NotifyError::Config { channel: kind, reason })?;
                    let meter =
                        self.meter.clone().unwrap_or_else(|| opentelemetry::global::meter(crate::metrics::METER_NAME));
                    let metrics = DeliveryMetrics::new(&meter);
                    DeliveryMetrics::announce(&meter, &[self.kind]);
                    let (tx, rx) = mpsc::channel(options.queue_capacity);
                    let worker = Worker {
                        transport: Arc::new(transport),
                        options: options.clone(),
                        kind: self.kind,
                        counters: Arc::clone(&self.counters),
                        metrics: metrics.clone(),
                    };
                    runtime.spawn(worker.run(rx));
                    *slot = Some((tx.clone(), metrics.clone()));
                    (tx, metrics)
                }
            }
        };
        let permit = match tx.try_reserve() {
            Ok(permit) => permit,
            Err(e) => {
                let full = matches!(e, mpsc::error::TrySendError::Full(()));
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                metrics.failed.add(1, &attr(self.kind));
                if full {
                    let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    metrics.dropped.add(1, &attr(self.kind));
                    self.log_drop(channel, dropped, options.queue_capacity);
                }
                let reason = if full {
                    format!("delivery queue full ({} waiting); notification dropped", options.queue_capacity)
                } else {
                    "delivery worker stopped".to_string()
                };
                return Err(NotifyError::Transport { channel: kind, reason });
            }
        };
        let messages = render()?;
        if messages.is_empty() {
            return Ok(None);
        }
        let (verdict, rx) = oneshot::channel();
        permit.send(Job { channel: channel.to_string(), messages, alerts, verdict });
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        self.counters.pending.fetch_add(1, Ordering::Relaxed);
        Ok(Some(rx))
    }

    /// Logs a drop, at most once a second per channel (the counters have every one).
    fn log_drop(&self, channel: &str, dropped: u64, capacity: usize) {
        let mut last = self.counters.last_drop_log.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            *last = Some(Instant::now());
            tracing::warn!(
                target: "bitcraps_otel::alerting",
                channel, kind = self.kind.as_str(), dropped_total = dropped, capacity,
                "notification queue full: notification dropped"
            );
        }
    }
}

struct Worker<T: Transport> {
    transport: Arc<T>,
    options: DeliveryOptions,
    kind: AlertChannel,
    counters: Arc<Counters>,
    metrics: DeliveryMetrics,
}

impl<T: Transport> Worker<T> {
    async fn run(self, mut rx: mpsc::Receiver<Job<T::Message>>) {
        while let Some(job) = rx.recv().await {
            let report = self.job(&job).await;
            self.counters.pending.fetch_sub(1, Ordering::Relaxed);
            match &report.error {
                None => {
                    self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                    self.metrics.sent.add(1, &attr(self.kind));
                }
                Some(e) => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    self.metrics.failed.add(1, &attr(self.kind));
                    tracing::warn!(
                        target: "bitcraps_otel::alerting",
                        channel = %job.channel, kind = self.kind.as_str(), error = %e,
                        delivered = report.delivered.len(),
                        undelivered = job.alerts.len().saturating_sub(report.delivered.len()),
                        "notification not delivered"
                    );
                }
            }
            // The caller may have stopped waiting (it was dropped); the verdict is then moot.
            let _ = job.verdict.send(report);
        }
    }

    /// Sends a job's messages in order. A message refused for good (a 4xx) does not stop the
    /// others, which are about other alerts; a receiver that stays down after every retry
    /// does, since the rest would wait out the same retries. An alert is delivered when
    /// every message about it is.
    async fn job(&self, job: &Job<T::Message>) -> DeliveryReport {
        let mut failed: Vec<Option<Fingerprint>> = Vec::new();
        let mut first_error = None;
        for (i, (message, about)) in job.messages.iter().enumerate() {
            if let Err(e) = self.deliver(&job.channel, message).await {
                let down = matches!(e, SendError::Retryable { .. });
                failed.push(*about);
                first_error.get_or_insert(e);
                if down {
                    failed.extend(job.messages[i + 1..].iter().map(|(_, about)| *about));
                    break;
                }
            }
        }
        let whole = failed.contains(&None);
        let delivered = job.alerts.iter().filter(|fp| !whole && !failed.contains(&Some(**fp))).copied().collect();
        DeliveryReport {
            delivered,
            error: first_error.map(|e| NotifyError::Transport { channel: self.kind.as_str(), reason: e.to_string() }),
        }
    }

    /// One message, attempted until it goes through, fails for good, or attempts run out.
    async fn deliver(&self, channel: &str, message: &T::Message) -> Result<(), SendError> {
        let max = self.options.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            self.counters.attempts.fetch_add(1, Ordering::Relaxed);
            let result = match tokio::time::timeout(self.options.request_timeout, self.transport.send(message)).await {
                Ok(r) => r,
                Err(_) => Err(SendError::Retryable {
                    reason: format!("no answer within {:?}", self.options.request_timeout),
                    retry_after: None,
                }),
            };
            let (reason, retry_after) = match result {
                Ok(()) => return Ok(()),
                Err(e @ SendError::Permanent { .. }) => return Err(e),
                Err(SendError::Retryable { reason, retry_after }) => (reason, retry_after),
            };
            if attempt >= max {
                return Err(SendError::Retryable {
                    reason: format!("{reason} (gave up after {max} attempts)"),
                    retry_after,
                });
            }
            let wait = self.options.retry_wait(attempt, retry_after);
            tracing::debug!(
                target: "bitcraps_otel::alerting",
                channel, kind = self.kind.as_str(), attempt, error = %reason,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "notification attempt failed; retrying"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            self.metrics.retries.add(1, &attr(self.kind));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_honoured_up_to_its_cap() {
        let o = DeliveryOptions { max_retry_after: Duration::from_secs(5), ..Default::default() };
        assert_eq!(o.retry_wait(1, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(o.retry_wait(1, Some(Duration::from_secs(3600))), Duration::from_secs(5));
        let b = o.retry_wait(1, None);
        assert!(b >= o.initial_backoff / 2 && b <= o.initial_backoff, "{b:?}");
    }

    #[test]
    fn every_bound_is_checked_and_clamped() {
        let d = DeliveryOptions::default();
        for (bad, field) in [
            (DeliveryOptions { queue_capacity: 0, ..d.clone() }, "queue_capacity"),
            (DeliveryOptions { queue_capacity: usize::MAX, ..d.clone() }, "queue_capacity"),
            (DeliveryOptions { max_attempts: 0, ..d.clone() }, "max_attempts"),
            (DeliveryOptions { max_attempts: 101, ..d.clone() }, "max_attempts"),
            (DeliveryOptions { initial_backoff: Duration::MAX, ..d.clone() }, "initial_backoff"),
            (DeliveryOptions { max_backoff: Duration::from_secs(3601), ..d.clone() }, "max_backoff"),
            (DeliveryOptions { max_retry_after: Duration::MAX, ..d.clone() }, "max_retry_after"),
            (DeliveryOptions { request_timeout: Duration::ZERO, ..d.clone() }, "timeout"),
            (DeliveryOptions { request_timeout: Duration::MAX, ..d.clone() }, "timeout"),
        ] {
            assert_eq!(bad.validate().map_err(|e| e.0), Err(field));
            assert!(bad.clamped().validate().is_ok(), "{field}: {:?}", bad.clamped());
        }
    }
}
