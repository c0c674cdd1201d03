//! One collection from the alert reader, flattened into series with Prometheus label names:
//! the form every rule is evaluated against.

use super::rule::normalize_label;
use crate::metrics::data::HistogramFamily;
use crate::semconv;
use opentelemetry::Value;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use std::collections::{HashMap, HashSet};

/// Label pairs sorted by name.
pub(crate) type Labels = Vec<(String, String)>;

/// One series at collection time.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Point {
    pub(crate) labels: Labels,
    /// [`labels_key`] of `labels`, hashed once here rather than by every rule that keeps
    /// per-series state.
    pub(crate) key: u64,
    /// Counter total, gauge value, or a histogram's mean (NaN with no observations).
    pub(crate) value: f64,
    /// `(sum, count)` of a histogram.
    pub(crate) hist: Option<(f64, f64)>,
}

/// Every series of the metrics the rules need, by OTel metric name.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    metrics: HashMap<String, Vec<Point>>,
    /// The node's identity labels, from the collection's resource.
    pub(crate) node: std::collections::BTreeMap<String, String>,
}

/// FNV-1a over the label pairs (sorted already), the key of per-series state.
pub(crate) fn labels_key(labels: &Labels) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xfe]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

impl Point {
    fn new(labels: Labels, value: f64, hist: Option<(f64, f64)>) -> Point {
        Point { key: labels_key(&labels), labels, value, hist }
    }
}

fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.as_str().to_string(),
        other => other.to_string(),
    }
}

impl Snapshot {
    /// Flattens `rm`, keeping only the metric names in `wanted` (all when `None`).
    pub(crate) fn from_resource_metrics(rm: &ResourceMetrics, wanted: Option<&HashSet<&'static str>>) -> Snapshot {
        let mut metrics: HashMap<String, Vec<Point>> = HashMap::new();
        let mut label_names: HashMap<String, String> = HashMap::new();
        for scope in rm.scope_metrics() {
            for metric in scope.metrics() {
                if wanted.is_some_and(|w| !w.contains(metric.name())) {
                    continue;
                }
                if semconv::lookup(metric.name()).is_none() {
                    continue;
                }
                let points = metrics.entry(metric.name().to_string()).or_default();
                let mut labels_of = |attrs: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| -> Labels {
                    let mut labels: Labels = attrs
                        .map(|kv| {
                            let key = kv.key.as_str();
                            let name = match label_names.get(key) {
                                Some(n) => n.clone(),
                                None => {
                                    let n = normalize_label(key);
                                    label_names.insert(key.to_string(), n.clone());
                                    n
                                }
                            };
                            (name, value_string(&kv.value))
                        })
                        .collect();
                    labels.sort();
                    labels
                };
                match metric.data() {
                    AggregatedMetrics::F64(d) => push(points, d, |v| v, &mut labels_of),
                    AggregatedMetrics::U64(d) => push(points, d, |v| v as f64, &mut labels_of),
                    AggregatedMetrics::I64(d) => push(points, d, |v| v as f64, &mut labels_of),
                }
            }
        }
        Snapshot { metrics, node: super::identity::node_labels(rm.resource()) }
    }

    /// Adds our histogram families (which the SDK never sees) as the same kind of points,
    /// keeping only the metric names in `wanted` (all when `None`).
    pub(crate) fn add_histograms(&mut self, families: &[HistogramFamily], wanted: Option<&HashSet<&'static str>>) {
        for family in families {
            if wanted.is_some_and(|w| !w.contains(family.def.name)) {
                continue;
            }
            let points = self.metrics.entry(family.def.name.to_string()).or_default();
            points.extend(family.points.iter().map(|p| {
                let mut labels: Labels =
                    p.attributes.iter().map(|kv| (normalize_label(kv.key.as_str()), value_string(&kv.value))).collect();
                labels.sort();
                let count = p.count as f64;
                // `count` is never 0: a series that never recorded has no point.
                Point::new(labels, p.sum / count, Some((p.sum, count)))
            }));
        }
    }

    /// The series of `name` (OTel name), empty when it has none.
    pub(crate) fn series(&self, name: &str) -> &[Point] {
        self.metrics.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// Number of series held.
    pub(crate) fn len(&self) -> usize {
        self.metrics.values().map(Vec::len).sum()
    }
}

fn push<T: Copy>(
    points: &mut Vec<Point>,
    data: &MetricData<T>,
    to_f64: impl Fn(T) -> f64,
    labels_of: &mut dyn FnMut(&mut dyn Iterator<Item = &opentelemetry::KeyValue>) -> Labels,
) {
    match data {
        MetricData::Gauge(g) => {
            points.extend(g.data_points().map(|p| Point::new(labels_of(&mut p.attributes()), to_f64(p.value()), None)))
        }
        MetricData::Sum(s) => {
            points.extend(s.data_points().map(|p| Point::new(labels_of(&mut p.attributes()), to_f64(p.value()), None)))
        }
        MetricData::Histogram(h) => points.extend(h.data_points().map(|p| {
            let sum = to_f64(p.sum());
            let count = p.count() as f64;
            let mean = if count > 0.0 { sum / count } else { f64::NAN };
            Point::new(labels_of(&mut p.attributes()), mean, Some((sum, count)))
        })),
        MetricData::ExponentialHistogram(h) => points.extend(h.data_points().map(|p| {
            let sum = to_f64(p.sum());
            let count = p.count() as f64;
            let mean = if count > 0.0 { sum / count } else { f64::NAN };
            Point::new(labels_of(&mut p.attributes()), mean, Some((sum, count)))
        })),
    }
}
