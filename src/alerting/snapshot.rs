//! One collection from the alert reader, flattened into series with Prometheus label names:
//! the form every rule is evaluated against.

#[cfg(test)]
use super::labels::labels_key;
use super::labels::{LabelCache, Labels};
use crate::metrics::data::HistogramFamily;
use crate::semconv;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use std::collections::{HashMap, HashSet};

/// One series at collection time.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Point<'s> {
    /// Kept by the [`LabelCache`] while the series lasts.
    pub(crate) labels: &'s Labels,
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
pub(crate) struct Snapshot<'s> {
    metrics: HashMap<String, Vec<Point<'s>>>,
    /// The node's identity labels, from the collection's resource.
    pub(crate) node: std::collections::BTreeMap<String, String>,
}

/// One point's value: the counter total, gauge value or histogram mean, and a histogram's
/// `(sum, count)`.
type Values = (f64, Option<(f64, f64)>);

impl<'s> Snapshot<'s> {
    /// Flattens `rm` and our histogram `families`, keeping only the metric names in `wanted`
    /// (all when `None`), with label sets from `cache` (which holds them until the next
    /// collection).
    pub(crate) fn collect<'r>(
        rm: &'r ResourceMetrics,
        families: &'r [HistogramFamily],
        wanted: Option<&HashSet<&'static str>>,
        cache: &'s mut LabelCache,
    ) -> Snapshot<'s> {
        // First the label sets, into the cache, with the values aside; then the points,
        // borrowing their label sets from the cache.
        cache.begin();
        let mut scratch: Vec<&'r KeyValue> = Vec::new();
        let mut parts: Vec<(&str, Vec<Values>)> = Vec::new();
        for scope in rm.scope_metrics() {
            for metric in scope.metrics() {
                let name = metric.name();
                if wanted.is_some_and(|w| !w.contains(name)) || semconv::lookup(name).is_none() {
                    continue;
                }
                let mut cursor = cache.metric(name);
                let mut values = Vec::new();
                let mut add = |attrs: &mut dyn Iterator<Item = &'r KeyValue>, v: Values| {
                    scratch.clear();
                    scratch.extend(attrs);
                    cursor.push(&scratch);
                    values.push(v);
                };
                match metric.data() {
                    AggregatedMetrics::F64(d) => each_point(d, |v| v, &mut add),
                    AggregatedMetrics::U64(d) => each_point(d, |v| v as f64, &mut add),
                    AggregatedMetrics::I64(d) => each_point(d, |v| v as f64, &mut add),
                }
                parts.push((name, values));
            }
        }
        // Our histogram families, which the SDK never sees.
        for family in families {
            if wanted.is_some_and(|w| !w.contains(family.def.name)) {
                continue;
            }
            let mut cursor = cache.metric(family.def.name);
            let values = family
                .points
                .iter()
                .map(|p| {
                    scratch.clear();
                    scratch.extend(&p.attributes);
                    cursor.push(&scratch);
                    let count = p.count as f64;
                    // `count` is never 0: a series that never recorded has no point.
                    (p.sum / count, Some((p.sum, count)))
                })
                .collect();
            parts.push((family.def.name, values));
        }
        cache.end();

        let cache: &'s LabelCache = cache;
        let mut metrics: HashMap<String, Vec<Point<'s>>> = HashMap::new();
        for (name, values) in parts {
            let points = metrics.entry(name.to_string()).or_default();
            // A metric in several parts: its label sets go on where the last part's stopped.
            let labels = cache.labels(name).get(points.len()..).unwrap_or_default();
            points.extend(values.into_iter().zip(labels).map(|((value, hist), (labels, key))| Point {
                labels,
                key: *key,
                value,
                hist,
            }));
        }
        Snapshot { metrics, node: super::identity::node_labels(rm.resource()) }
    }

    /// The series of `name` (OTel name), empty when it has none.
    pub(crate) fn series(&self, name: &str) -> &[Point<'s>] {
        self.metrics.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    /// Number of series held.
    pub(crate) fn len(&self) -> usize {
        self.metrics.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
impl Snapshot<'static> {
    /// A snapshot of one metric holding these series, in this order, for tests (which
    /// leak the label sets).
    pub(crate) fn of(name: &str, series: Vec<(Labels, f64)>) -> Snapshot<'static> {
        let points = series
            .into_iter()
            .map(|(labels, value)| {
                let key = labels_key(&labels);
                Point { labels: Box::leak(Box::new(labels)), key, value, hist: None }
            })
            .collect();
        Snapshot { metrics: HashMap::from([(name.to_string(), points)]), node: Default::default() }
    }

    /// A snapshot of several metrics, each holding these series in this order, for tests.
    pub(crate) fn of_metrics(metrics: Vec<(&str, Vec<(Labels, f64)>)>) -> Snapshot<'static> {
        let mut snap = Snapshot::default();
        for (name, series) in metrics {
            snap.metrics.extend(Snapshot::of(name, series).metrics);
        }
        snap
    }
}

/// Calls `add` with each data point's attributes and values.
fn each_point<'a, T: Copy>(
    data: &'a MetricData<T>,
    to_f64: impl Fn(T) -> f64,
    add: &mut dyn FnMut(&mut dyn Iterator<Item = &'a KeyValue>, Values),
) {
    let histogram = |sum: T, count: f64| {
        let sum = to_f64(sum);
        let mean = if count > 0.0 { sum / count } else { f64::NAN };
        (mean, Some((sum, count)))
    };
    match data {
        MetricData::Gauge(g) => g.data_points().for_each(|p| add(&mut p.attributes(), (to_f64(p.value()), None))),
        MetricData::Sum(s) => s.data_points().for_each(|p| add(&mut p.attributes(), (to_f64(p.value()), None))),
        MetricData::Histogram(h) => {
            h.data_points().for_each(|p| add(&mut p.attributes(), histogram(p.sum(), p.count() as f64)))
        }
        MetricData::ExponentialHistogram(h) => {
            h.data_points().for_each(|p| add(&mut p.attributes(), histogram(p.sum(), p.count() as f64)))
        }
    }
}
