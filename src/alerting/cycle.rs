//! One evaluation and dispatch cycle and the delivery tasks it starts: collect from the
//! reader, evaluate the due rules, hand each due notification to its channel in a task of
//! its own, and record the channel's verdict when it comes. A panic in a rule, a cycle or a
//! channel is caught, logged with the rule or channel it came from, and counted; the
//! engine goes on.

use super::engine::{panic_message, Evaluator};
use super::labels::LabelCache;
use super::notify::{DeliveryReport, Notifier, NotifyError};
use super::reader::AlertReader;
use super::route::{Outgoing, Router};
use super::selfmetrics::SelfMetrics;
use super::snapshot::Snapshot;
use super::state::Transition;
use super::{AlertError, AlertRule, CycleSummary};
use futures_util::FutureExt;
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Rules, alert states and routing: everything a cycle changes, behind one lock.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) evaluator: Evaluator,
    pub(crate) router: Router,
    pub(crate) metrics: Option<SelfMetrics>,
    /// Series label sets flattened by earlier cycles, reused while the series stay.
    pub(crate) labels: LabelCache,
}

/// What the handle, the background loop and the delivery tasks share.
pub(crate) struct Shared {
    pub(crate) core: Mutex<Core>,
    pub(crate) notifiers: Mutex<BTreeMap<String, Arc<dyn Notifier>>>,
    /// The channels a rules file defined (replaced by the next file), by name.
    pub(crate) file_channels: Mutex<BTreeMap<String, super::channels::ChannelConfig>>,
    pub(crate) reader: Mutex<Option<AlertReader>>,
    pub(crate) tick: Duration,
    pub(crate) notify_timeout: Duration,
    /// When the background loop last finished a cycle, and how: read by the health check.
    pub(crate) last_cycle: Mutex<Option<(Instant, Result<(), String>)>>,
    /// The background loop, while one was started.
    pub(crate) task: Mutex<Option<tokio::task::AbortHandle>>,
    /// Where the state is snapshotted (`None`: it is not).
    pub(crate) state_dir: Option<std::path::PathBuf>,
    /// How old a snapshot may be and still be restored.
    pub(crate) state_max_age: Duration,
    /// Something a snapshot holds changed since the last one.
    pub(crate) dirty: std::sync::atomic::AtomicBool,
    /// A snapshot is being written (the next waits for the next cycle).
    pub(crate) writing: Arc<std::sync::atomic::AtomicBool>,
}

impl Shared {
    /// Notes that the persisted state changed.
    pub(crate) fn touch(&self) {
        self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent-enough state for alerting to go on.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One cycle: collect and evaluate (when a rule is due), then hand out due notifications.
/// Returns the deliveries it started; each records its own verdict when it ends.
pub(crate) fn cycle(shared: &Arc<Shared>) -> Result<(CycleSummary, Vec<JoinHandle<bool>>), AlertError> {
    // Deliveries are tasks: without a runtime there is nowhere to run them.
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| AlertError::NoRuntime)?;
    let now = Instant::now();
    let started = std::time::Instant::now();
    let mut summary = CycleSummary::default();
    let reader = lock(&shared.reader).clone();
    let notifiers: Vec<(String, Arc<dyn Notifier>)> =
        lock(&shared.notifiers).iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect();
    let channels: Vec<String> = notifiers.iter().map(|(k, _)| k.clone()).collect();

    let outgoing = {
        let mut guard = lock(&shared.core);
        // Fields borrowed apart: the snapshot borrows the label cache while the rules run.
        let core = &mut *guard;
        if core.evaluator.any_due(now) {
            let reader = reader.ok_or(AlertError::NoReader)?;
            let wanted = core.evaluator.wanted();
            let labels = &mut core.labels;
            let snap =
                reader.collect_with(|rm, histograms| Snapshot::collect(rm, histograms, Some(&wanted), labels))?;
            summary.series = snap.len();
            if snap.node != core.evaluator.node {
                core.evaluator.node = snap.node.clone();
                core.router.node = snap.node.clone();
            }
            let report = core.evaluator.evaluate(&snap, now);
            summary.evaluated = report.evaluated;
            for (_, t) in &report.transitions {
                match t {
                    Transition::Fired => summary.fired += 1,
                    Transition::Resolved => summary.resolved += 1,
                }
            }
            for (rule, message) in &report.panics {
                tracing::error!(
                    target: "bitcraps_otel::alerting",
                    rule = %rule, panic = %message,
                    "alert rule evaluation panicked; the rule is skipped this cycle, the others go on"
                );
            }
            if let Some(m) = core.metrics.as_ref() {
                for _ in &report.panics {
                    m.panicked();
                }
            }
        }
        let core = &mut *core;
        let rules: HashMap<&str, &AlertRule> =
            core.evaluator.slots.iter().map(|s| (s.compiled.rule.name.as_str(), &s.compiled.rule)).collect();
        let outgoing = core.router.dispatch(&mut core.evaluator.alerts, &rules, &channels, now);
        if summary.fired + summary.resolved > 0 || !outgoing.is_empty() {
            shared.touch();
        }
        if let Some(m) = core.metrics.as_mut() {
            if summary.evaluated > 0 {
                m.cycle(summary.evaluated, started.elapsed(), &core.evaluator.alerts);
            }
        }
        outgoing
    };
    let deliveries = outgoing
        .into_iter()
        .map(|o| {
            let notifier = notifiers.iter().find(|(name, _)| *name == o.notification.channel).map(|(_, n)| n.clone());
            runtime.spawn(deliver(Arc::clone(shared), notifier, o))
        })
        .collect();
    Ok((summary, deliveries))
}

/// Runs one [`cycle`] with panics caught: a panic is an error of that cycle, not the end of
/// the engine.
pub(crate) fn guarded_cycle(shared: &Arc<Shared>) -> Result<(CycleSummary, Vec<JoinHandle<bool>>), AlertError> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| cycle(shared))) {
        Ok(result) => result,
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            tracing::error!(
                target: "bitcraps_otel::alerting",
                panic = %message, "alert evaluation cycle panicked; the engine goes on with the next cycle"
            );
            if let Some(m) = lock(&shared.core).metrics.as_ref() {
                m.panicked();
            }
            Err(AlertError::Panicked(message))
        }
    }
}

/// Hands one notification to its channel and records the verdict. True when every alert
/// of it was delivered.
async fn deliver(shared: Arc<Shared>, notifier: Option<Arc<dyn Notifier>>, o: Outgoing) -> bool {
    let channel = o.notification.channel.clone();
    let report = match &notifier {
        None => DeliveryReport::none(NotifyError::UnknownChannel { name: channel.clone() }),
        Some(n) => {
            let attempt = AssertUnwindSafe(n.deliver(&o.notification)).catch_unwind();
            // Channels that bound their own time are not cut short: that would count as
            // failed a notification they may still deliver.
            let outcome = if n.reports_own_delivery() {
                attempt.await
            } else {
                match tokio::time::timeout(shared.notify_timeout, attempt).await {
                    Ok(outcome) => outcome,
                    Err(_) => Ok(DeliveryReport::none(NotifyError::TimedOut { after: shared.notify_timeout })),
                }
            };
            match outcome {
                Ok(report) => report,
                Err(payload) => {
                    let message = panic_message(payload.as_ref());
                    tracing::error!(
                        target: "bitcraps_otel::alerting",
                        channel = %channel, panic = %message,
                        "notification channel panicked; its alerts will be offered again"
                    );
                    if let Some(m) = lock(&shared.core).metrics.as_ref() {
                        m.panicked();
                    }
                    DeliveryReport::none(NotifyError::Panicked { message })
                }
            }
        }
    };
    if let Some(e) = &report.error {
        if !notifier.as_ref().is_some_and(|n| n.reports_own_delivery()) {
            tracing::warn!(target: "bitcraps_otel::alerting", channel = %channel, error = %e, "notification failed");
        }
    }
    let complete = report.is_complete();
    let now = Instant::now();
    let mut core = lock(&shared.core);
    let core = &mut *core;
    core.router.record(&mut core.evaluator.alerts, &o, &report, now);
    shared.touch();
    if let (Some(m), Some(n)) = (core.metrics.as_ref(), notifier.as_ref()) {
        if !n.reports_own_delivery() {
            m.notified(n.kind(), complete);
        }
    }
    complete
}

/// The readiness verdict on the background loop.
pub(crate) fn health(shared: &Shared) -> crate::health::CheckOutcome {
    use crate::health::CheckOutcome;
    if lock(&shared.task).as_ref().is_none_or(|t| t.is_finished()) {
        return CheckOutcome::fail("the evaluation loop is not running");
    }
    // A few missed ticks are load; many are a stuck loop.
    let late = shared.tick.saturating_mul(3).max(Duration::from_secs(10));
    match &*lock(&shared.last_cycle) {
        None => CheckOutcome::fail("no evaluation cycle has completed yet"),
        Some((at, _)) if at.elapsed() > late => {
            CheckOutcome::fail(format!("no evaluation cycle for {} s", at.elapsed().as_secs()))
        }
        Some((_, Err(e))) => CheckOutcome::fail(format!("last evaluation failed: {e}")),
        Some((_, Ok(()))) => CheckOutcome::pass(),
    }
}
