//! The engine's alerts about itself: a channel that cannot deliver raises
//! `AlertDeliveryFailing` for that channel, told only to the fallback channel the routing
//! names, and resolved once the channel delivers again (or has nothing left to deliver).

use super::state::{AlertState, Entry, Fingerprint};
use super::AlertSeverity;
use std::collections::{BTreeMap, HashMap};
use tokio::time::Instant;

/// The `alertname` of the delivery-failure alert.
pub const DELIVERY_FAILING: &str = "AlertDeliveryFailing";

/// Channels whose last delivery failed, with the reason.
pub(crate) type Failing = BTreeMap<String, String>;

/// The labels of the delivery-failure alert of `channel`, with the node's own labels.
pub(crate) fn labels(channel: &str, node: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    super::identity::alert_labels(
        DELIVERY_FAILING,
        AlertSeverity::High,
        "alerting",
        &BTreeMap::new(),
        &[("channel".to_string(), channel.to_string())],
        node,
    )
}

/// Whether `entry` is a delivery-failure alert (which no rule defines).
pub(crate) fn is_meta(entry: &Entry) -> bool {
    entry.note.is_some()
        && entry.rule == DELIVERY_FAILING
        && entry.labels.get("category").map(String::as_str) == Some("alerting")
}

/// Brings the delivery-failure alerts in `alerts` in line with `failing`: one firing alert
/// per failing channel, resolved once the channel is no longer failing.
pub(crate) fn sync(
    alerts: &mut HashMap<Fingerprint, Entry>,
    failing: &Failing,
    node: &BTreeMap<String, String>,
    now: Instant,
) {
    for (channel, reason) in failing {
        let l = labels(channel, node);
        let fp = Fingerprint::of(&l);
        let entry = alerts.entry(fp).or_insert_with(|| Entry::new(DELIVERY_FAILING, l, AlertSeverity::High));
        entry.note = Some(format!("Notifications to channel `{channel}` are failing ({reason}); they are offered again at each group interval"));
        let fired = entry.state != AlertState::Firing
            && entry.observe(true, now, std::time::Duration::ZERO, std::time::Duration::ZERO).is_some();
        if fired {
            tracing::error!(
                target: "bitcraps_otel::alerting",
                channel, reason, alertname = DELIVERY_FAILING,
                "a notification channel cannot deliver; its alerts will be offered again"
            );
        }
    }
    for entry in alerts.values_mut().filter(|e| is_meta(e) && e.state == AlertState::Firing) {
        let channel = entry.labels.get("channel").cloned().unwrap_or_default();
        if !failing.contains_key(&channel) {
            entry.observe(false, now, std::time::Duration::ZERO, std::time::Duration::ZERO);
            tracing::info!(
                target: "bitcraps_otel::alerting",
                channel, alertname = DELIVERY_FAILING, "the notification channel delivers again"
            );
        }
    }
}
