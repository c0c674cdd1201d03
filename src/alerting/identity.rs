//! Who an alert is: its full label set (rule, severity, category, the rule's extra labels,
//! the series labels and the node's own labels) and the [`Fingerprint`](super::Fingerprint)
//! hashed from it. One
//! function, so the engine, its built-in alerts and the Prometheus export agree on
//! identity.

use super::AlertSeverity;
use std::collections::BTreeMap;

/// The full label set of an alert.
///
/// Series labels come first, then the rule's extra labels, then the node's labels (they say
/// where the alert comes from: nothing overrides them), then `alertname`, `severity` and
/// `category`, which always come from the rule.
///
/// ```
/// use std::collections::BTreeMap;
/// use bitcraps_otel::alerting::{alert_labels, AlertSeverity, Fingerprint};
///
/// let node: BTreeMap<String, String> = [("node_id".to_string(), "node-7".to_string())].into();
/// let series = [("transport".to_string(), "ble".to_string())];
/// let labels = alert_labels("BleLatencyHigh", AlertSeverity::Medium, "network", &BTreeMap::new(), &series, &node);
/// assert_eq!(labels["node_id"], "node-7");
/// assert_eq!(labels["alertname"], "BleLatencyHigh");
/// let other_node: BTreeMap<String, String> = [("node_id".to_string(), "node-8".to_string())].into();
/// let elsewhere = alert_labels("BleLatencyHigh", AlertSeverity::Medium, "network", &BTreeMap::new(), &series, &other_node);
/// assert_ne!(Fingerprint::of(&labels), Fingerprint::of(&elsewhere));
/// ```
pub fn alert_labels(
    rule: &str,
    severity: AlertSeverity,
    category: &str,
    extra: &BTreeMap<String, String>,
    series: &[(String, String)],
    node: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = series.iter().cloned().collect();
    for (k, v) in extra.iter().chain(node) {
        labels.insert(k.clone(), v.clone());
    }
    labels.insert("alertname".into(), rule.to_string());
    labels.insert("severity".into(), severity.as_str().into());
    labels.insert("category".into(), category.to_string());
    labels
}
