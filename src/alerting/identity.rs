//! Who an alert is: its full label set (rule, severity, category, the rule's extra labels,
//! the series labels and the node's own labels) and the [`Fingerprint`](super::Fingerprint)
//! hashed from it. One
//! function, so the engine, its built-in alerts and the Prometheus export agree on
//! identity.

use super::AlertSeverity;
use opentelemetry_sdk::Resource;
use std::collections::BTreeMap;

/// Which resource attribute gives which identity label, first found wins.
const NODE_LABELS: [(&str, &[&str]); 2] = [("node_id", &["bitcraps.node.id"]), ("region", &["region", "cloud.region"])];

/// The node's identity labels, from its OpenTelemetry resource: `node_id` (from
/// `bitcraps.node.id`) and `region` (from `region` or `cloud.region`), each when present.
///
/// They are the labels the Prometheus bridge puts on every series (the node's constant
/// labels), so an alert has one identity whether the node or a Prometheus evaluating the
/// exported rules raises it. `service.name` is not one: Prometheus series do not carry it,
/// and it would give the two runtimes' alerts different identities.
///
/// ```
/// use bitcraps_otel::alerting::node_labels;
/// use opentelemetry::KeyValue;
/// use opentelemetry_sdk::Resource;
///
/// let resource = Resource::builder_empty()
///     .with_attributes([KeyValue::new("bitcraps.node.id", "node-7"), KeyValue::new("region", "eu-west")])
///     .build();
/// let labels = node_labels(&resource);
/// assert_eq!((labels["node_id"].as_str(), labels["region"].as_str()), ("node-7", "eu-west"));
/// ```
pub fn node_labels(resource: &Resource) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (label, keys) in NODE_LABELS {
        let value = keys.iter().find_map(|k| resource.get(&opentelemetry::Key::from_static_str(k)));
        if let Some(v) = value {
            let v = v.as_str().into_owned();
            if !v.is_empty() {
                out.insert(label.to_string(), v);
            }
        }
    }
    out
}

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
