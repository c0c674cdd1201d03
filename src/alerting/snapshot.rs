//! One collection from the alert reader, flattened into series with Prometheus label names:
//! the form every rule is evaluated against.

use super::rule::normalize_label;
use crate::metrics::data::HistogramFamily;
use crate::semconv;
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Label pairs sorted by name.
pub(crate) type Labels = Vec<(String, String)>;

/// One series at collection time.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Point {
    /// Shared with the same series in earlier and later collections ([`LabelCache`]).
    pub(crate) labels: Arc<Labels>,
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

/// Hashes a key that is a hash already ([`labels_key`]): one multiply to spread it, instead
/// of SipHash on every per-series lookup of every rate rule.
#[derive(Default, Clone, Copy)]
pub(crate) struct PrehashedKey(u64);

impl std::hash::Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Maps keyed by [`labels_key`].
pub(crate) type ByLabelsKey<V> = HashMap<u64, V, std::hash::BuildHasherDefault<PrehashedKey>>;

impl Point {
    fn new(labels: Arc<Labels>, key: u64, value: f64, hist: Option<(f64, f64)>) -> Point {
        Point { labels, key, value, hist }
    }
}

fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.as_str().to_string(),
        other => other.to_string(),
    }
}

/// A word-at-a-time hasher (FxHash's multiply) for keys hashed per series every cycle
/// (attribute sets here, aggregation groups in the engine), where SipHash would cost more
/// than the work it guards. Not for keys an attacker picks to collide: both users compare
/// full keys on a hit, and a collision costs time, never a wrong answer.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(tail) ^ ((rest.len() as u64) << 59));
    }
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// Writes `attrs` as bytes that differ whenever the labels they flatten to differ: each key
/// and value with its length, values tagged by type (numbers by their bits).
fn encode(attrs: &[&KeyValue], out: &mut Vec<u8>) {
    let mut bytes = |tag: u8, b: &[u8]| {
        out.push(tag);
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    for kv in attrs {
        bytes(b'k', kv.key.as_str().as_bytes());
        match &kv.value {
            Value::String(s) => bytes(b's', s.as_str().as_bytes()),
            Value::I64(i) => bytes(b'i', &i.to_le_bytes()),
            Value::F64(f) => bytes(b'f', &f.to_bits().to_le_bytes()),
            Value::Bool(b) => bytes(b'b', &[u8::from(*b)]),
            // Arrays and whatever comes later: as the label shows them (rare).
            other => bytes(b'o', other.to_string().as_bytes()),
        }
    }
}

/// One metric's points in collection order: their attributes' bytes ([`encode`]) end to
/// end, and each point's labels.
#[derive(Debug, Default)]
struct Sequence {
    bytes: Vec<u8>,
    /// Where each point's bytes end.
    ends: Vec<usize>,
    labels: Vec<(Arc<Labels>, u64)>,
}

impl Sequence {
    fn bytes_of(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.labels.clear();
    }
}

/// A metric's label sets in the last collection and in the one under way.
#[derive(Debug, Default)]
struct MetricLabels {
    last: Sequence,
    current: Sequence,
    /// The collection `current` belongs to.
    generation: u64,
    /// Positions in `last` by a hash of their bytes, built the first time a point is not
    /// where it was.
    index: Option<HashMap<u64, usize, BuildHasherDefault<FastHasher>>>,
}

fn bytes_hash(bytes: &[u8]) -> u64 {
    let mut h = FastHasher::default();
    h.write(bytes);
    h.finish()
}

/// Flattened label sets kept from one collection to the next.
///
/// Flattening copies every label name and value into fresh `String`s; with thousands of
/// series that was a fifth of an evaluation cycle, every cycle, for label sets that rarely
/// change. The SDK lists a metric's points in the same order while its series stay, so each
/// point's attributes are written as bytes and compared with the bytes of the point at the
/// same place last time: memory read in order, where a map of attribute sets cost a cache
/// miss or three per series. A point that moved is found by a hash of its bytes, compared in
/// full; only a new label set is flattened. The cache holds the last collection only.
#[derive(Debug, Default)]
pub(crate) struct LabelCache {
    metrics: HashMap<String, MetricLabels>,
    /// OTel attribute name → Prometheus label name.
    names: HashMap<String, String>,
    /// Counts collections.
    generation: u64,
}

impl LabelCache {
    /// Where metric `name`'s points of the collection under way get their labels.
    fn metric(&mut self, name: &str) -> MetricCursor<'_> {
        let generation = self.generation;
        // Once per metric and collection: the name's copy costs nothing next to its points.
        let metric = self.metrics.entry(name.to_string()).or_default();
        if metric.generation != generation {
            // The first point of this collection: what was current is now the last.
            std::mem::swap(&mut metric.last, &mut metric.current);
            metric.current.clear();
            metric.index = None;
            metric.generation = generation;
        }
        MetricCursor { metric, names: &mut self.names }
    }

    /// Starts a collection.
    fn begin(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// Ends a collection: forgets the metrics it did not carry.
    fn end(&mut self) {
        let generation = self.generation;
        self.metrics.retain(|_, m| m.generation == generation);
        // Attribute names are few; a flood of distinct ones is not kept forever.
        if self.names.len() > 4096 {
            self.names.clear();
        }
    }
}

/// One metric's label sets, point after point, in one collection.
struct MetricCursor<'c> {
    metric: &'c mut MetricLabels,
    names: &'c mut HashMap<String, String>,
}

impl MetricCursor<'_> {
    /// The labels of the metric's next point, whose attributes are `attrs`, and their
    /// [`labels_key`]: shared with last collection's point with the same attributes.
    fn labels(&mut self, attrs: &[&KeyValue]) -> (Arc<Labels>, u64) {
        let metric = &mut *self.metric;
        let at = metric.current.ends.len();
        let start = metric.current.bytes.len();
        encode(attrs, &mut metric.current.bytes);
        metric.current.ends.push(metric.current.bytes.len());
        let bytes = &metric.current.bytes[start..];
        let last = &metric.last;
        let found = if at < last.ends.len() && last.bytes_of(at) == bytes {
            Some(at)
        } else if last.ends.is_empty() {
            None
        } else {
            let index = metric.index.get_or_insert_with(|| {
                let mut index = HashMap::with_capacity_and_hasher(last.ends.len(), Default::default());
                for i in 0..last.ends.len() {
                    index.entry(bytes_hash(last.bytes_of(i))).or_insert(i);
                }
                index
            });
            // A hash is not an identity: the bytes are compared too.
            index.get(&bytes_hash(bytes)).copied().filter(|&i| last.bytes_of(i) == bytes)
        };
        let (labels, key) = match found {
            Some(i) => {
                let (labels, key) = &last.labels[i];
                (Arc::clone(labels), *key)
            }
            None => {
                let labels = Arc::new(flatten(self.names, attrs));
                let key = labels_key(&labels);
                (labels, key)
            }
        };
        metric.current.labels.push((Arc::clone(&labels), key));
        (labels, key)
    }
}

/// The labels of `attrs`: Prometheus names (`names` remembers them), sorted.
fn flatten(names: &mut HashMap<String, String>, attrs: &[&KeyValue]) -> Labels {
    let mut labels: Labels = attrs
        .iter()
        .map(|kv| {
            let key = kv.key.as_str();
            let name = match names.get(key) {
                Some(n) => n.clone(),
                None => {
                    let n = normalize_label(key);
                    names.insert(key.to_string(), n.clone());
                    n
                }
            };
            (name, value_string(&kv.value))
        })
        .collect();
    labels.sort();
    labels
}

impl Snapshot {
    /// Flattens `rm` and our histogram `families`, keeping only the metric names in `wanted`
    /// (all when `None`), with label sets from `cache`.
    pub(crate) fn collect(
        rm: &ResourceMetrics,
        families: &[HistogramFamily],
        wanted: Option<&HashSet<&'static str>>,
        cache: &mut LabelCache,
    ) -> Snapshot {
        cache.begin();
        let mut snap = Snapshot::from_resource_metrics(rm, wanted, cache);
        snap.add_histograms(families, wanted, cache);
        cache.end();
        snap
    }

    /// Flattens `rm`, keeping only the metric names in `wanted` (all when `None`).
    fn from_resource_metrics<'a>(
        rm: &'a ResourceMetrics,
        wanted: Option<&HashSet<&'static str>>,
        cache: &mut LabelCache,
    ) -> Snapshot {
        let mut metrics: HashMap<String, Vec<Point>> = HashMap::new();
        let mut scratch: Vec<&'a KeyValue> = Vec::new();
        for scope in rm.scope_metrics() {
            for metric in scope.metrics() {
                if wanted.is_some_and(|w| !w.contains(metric.name())) {
                    continue;
                }
                if semconv::lookup(metric.name()).is_none() {
                    continue;
                }
                let points = metrics.entry(metric.name().to_string()).or_default();
                let mut cursor = cache.metric(metric.name());
                let mut labels_of = |attrs: &mut dyn Iterator<Item = &'a KeyValue>| -> (Arc<Labels>, u64) {
                    scratch.clear();
                    scratch.extend(attrs);
                    cursor.labels(&scratch)
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
    fn add_histograms(
        &mut self,
        families: &[HistogramFamily],
        wanted: Option<&HashSet<&'static str>>,
        cache: &mut LabelCache,
    ) {
        let mut scratch: Vec<&KeyValue> = Vec::new();
        for family in families {
            if wanted.is_some_and(|w| !w.contains(family.def.name)) {
                continue;
            }
            let points = self.metrics.entry(family.def.name.to_string()).or_default();
            let mut cursor = cache.metric(family.def.name);
            points.extend(family.points.iter().map(|p| {
                scratch.clear();
                scratch.extend(&p.attributes);
                let (labels, key) = cursor.labels(&scratch);
                let count = p.count as f64;
                // `count` is never 0: a series that never recorded has no point.
                Point::new(labels, key, p.sum / count, Some((p.sum, count)))
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

#[cfg(test)]
impl Snapshot {
    /// A snapshot of one metric holding these series, in this order, for tests.
    pub(crate) fn of(name: &str, series: Vec<(Labels, f64)>) -> Snapshot {
        let points = series
            .into_iter()
            .map(|(labels, v)| {
                let key = labels_key(&labels);
                Point::new(Arc::new(labels), key, v, None)
            })
            .collect();
        Snapshot { metrics: HashMap::from([(name.to_string(), points)]), node: Default::default() }
    }

    /// A snapshot of several metrics, each holding these series in this order, for tests.
    pub(crate) fn of_metrics(metrics: Vec<(&str, Vec<(Labels, f64)>)>) -> Snapshot {
        let mut snap = Snapshot::default();
        for (name, series) in metrics {
            snap.metrics.extend(Snapshot::of(name, series).metrics);
        }
        snap
    }
}

/// What turns a point's attributes into its shared labels and their key.
type LabelsOf<'a, 'f> = dyn FnMut(&mut dyn Iterator<Item = &'a KeyValue>) -> (Arc<Labels>, u64) + 'f;

fn push<'a, T: Copy>(
    points: &mut Vec<Point>,
    data: &'a MetricData<T>,
    to_f64: impl Fn(T) -> f64,
    labels_of: &mut LabelsOf<'a, '_>,
) {
    let mut point = |attrs: &mut dyn Iterator<Item = &'a KeyValue>, value: f64, hist: Option<(f64, f64)>| {
        let (labels, key) = labels_of(attrs);
        Point::new(labels, key, value, hist)
    };
    match data {
        MetricData::Gauge(g) => {
            points.extend(g.data_points().map(|p| point(&mut p.attributes(), to_f64(p.value()), None)))
        }
        MetricData::Sum(s) => {
            points.extend(s.data_points().map(|p| point(&mut p.attributes(), to_f64(p.value()), None)))
        }
        MetricData::Histogram(h) => points.extend(h.data_points().map(|p| {
            let sum = to_f64(p.sum());
            let count = p.count() as f64;
            let mean = if count > 0.0 { sum / count } else { f64::NAN };
            point(&mut p.attributes(), mean, Some((sum, count)))
        })),
        MetricData::ExponentialHistogram(h) => points.extend(h.data_points().map(|p| {
            let sum = to_f64(p.sum());
            let count = p.count() as f64;
            let mean = if count > 0.0 { sum / count } else { f64::NAN };
            point(&mut p.attributes(), mean, Some((sum, count)))
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One collection of metric `m` whose points carry these attributes, in order.
    fn collect(cache: &mut LabelCache, points: &[Vec<KeyValue>]) -> Vec<(Arc<Labels>, u64)> {
        cache.begin();
        let mut cursor = cache.metric("m");
        let out = points.iter().map(|attrs| cursor.labels(&attrs.iter().collect::<Vec<_>>())).collect();
        cache.end();
        out
    }

    fn point(peer: &str, transport: &str) -> Vec<KeyValue> {
        vec![KeyValue::new("bitcraps.peer.transport", transport.to_string()), KeyValue::new("peer", peer.to_string())]
    }

    /// Points whose attributes are unchanged get last collection's labels (the same
    /// allocation) wherever they are now; changed, new and typed values get labels of their
    /// own, flattened from what they carry.
    #[test]
    fn label_sets_are_reused_by_attributes_wherever_the_point_moved() {
        let mut cache = LabelCache::default();
        let first = collect(&mut cache, &[point("a", "tcp"), point("b", "ble"), point("c", "udp")]);
        assert_eq!(
            *first[0].0,
            vec![("peer".to_string(), "a".to_string()), ("transport".to_string(), "tcp".to_string())]
        );
        assert_eq!(first[0].1, labels_key(&first[0].0));

        // Same order: the same label sets.
        let same = collect(&mut cache, &[point("a", "tcp"), point("b", "ble"), point("c", "udp")]);
        for (x, y) in first.iter().zip(&same) {
            assert!(Arc::ptr_eq(&x.0, &y.0));
        }
        // Moved, changed, new, and one point twice.
        let moved = collect(
            &mut cache,
            &[point("c", "udp"), point("a", "wifi_direct"), point("b", "ble"), point("b", "ble"), point("d", "tcp")],
        );
        assert!(Arc::ptr_eq(&moved[0].0, &first[2].0), "c moved to the front");
        assert!(Arc::ptr_eq(&moved[2].0, &first[1].0) && Arc::ptr_eq(&moved[3].0, &first[1].0), "b, twice");
        assert_eq!(moved[1].0[1], ("transport".to_string(), "wifi_direct".to_string()), "a changed");
        assert_eq!(moved[4].0[0], ("peer".to_string(), "d".to_string()));
        // A value's type is part of what is compared: 1 and "1" are both shown as 1, each
        // from its own attributes.
        let typed = collect(&mut cache, &[vec![KeyValue::new("n", 1_i64)], vec![KeyValue::new("n", "1")]]);
        assert_eq!(typed[0].0, typed[1].0);
        let again = collect(&mut cache, &[vec![KeyValue::new("n", "1")], vec![KeyValue::new("n", 1_i64)]]);
        assert!(Arc::ptr_eq(&again[0].0, &typed[1].0) && Arc::ptr_eq(&again[1].0, &typed[0].0));
    }
}
