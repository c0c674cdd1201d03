//! One collection from the alert reader, flattened into series with Prometheus label names:
//! the form every rule is evaluated against.

use super::rule::normalize_label;
use crate::metrics::data::HistogramFamily;
use crate::semconv;
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};
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

/// Whether two attribute lists are the same, in the same order.
fn same(kept: &[KeyValue], attrs: &[&KeyValue]) -> bool {
    kept.len() == attrs.len() && kept.iter().zip(attrs).all(|(a, b)| a == *b)
}

/// The cache's hash of an attribute list.
fn attrs_hash(attrs: &[&KeyValue]) -> u64 {
    let mut h = FastHasher::default();
    attrs.hash(&mut h);
    h.finish()
}

/// One attribute set's flattened form, kept while collections still carry it.
#[derive(Debug)]
struct Flattened {
    /// The attributes it was made from, compared on every hit (a hash is not an identity).
    attrs: Box<[KeyValue]>,
    labels: Arc<Labels>,
    /// [`labels_key`] of `labels`.
    key: u64,
    /// The collection that last used it.
    used: u64,
}

/// Flattened label sets kept from one collection to the next, by a hash of the OTel
/// attributes they came from.
///
/// Flattening copies every label name and value into fresh `String`s; with thousands of
/// series that was a fifth of an evaluation cycle, every cycle, for label sets that rarely
/// change. A series whose attributes are the same as last time (compared in full, not only
/// by hash) gets the same shared [`Labels`] and [`labels_key`]. Entries that a collection did
/// not use are dropped after it, so the cache holds only the current series set.
#[derive(Debug, Default)]
pub(crate) struct LabelCache {
    sets: HashMap<u64, Flattened, BuildHasherDefault<FastHasher>>,
    /// OTel attribute name → Prometheus label name.
    names: HashMap<String, String>,
    /// Per metric, the hash of each point's attributes in the last collection, in order:
    /// the SDK hands a metric's points out in the same order while its series stay, so
    /// the attributes at a position are compared with last time's before being hashed.
    order: HashMap<String, Vec<u64>>,
    /// Counts collections.
    generation: u64,
}

impl LabelCache {
    /// The flattened labels of `attrs` and their [`labels_key`], shared with every earlier use
    /// of the same attributes. `guess` is the hash of the attributes expected here; the
    /// hash used is returned.
    fn labels(&mut self, attrs: &[&KeyValue], guess: Option<u64>) -> (Arc<Labels>, u64, u64) {
        let generation = self.generation;
        if let Some(f) = guess.and_then(|g| self.sets.get_mut(&g)) {
            if same(&f.attrs, attrs) {
                f.used = generation;
                return (Arc::clone(&f.labels), f.key, guess.unwrap_or_default());
            }
        }
        let hash = attrs_hash(attrs);
        if let Some(f) = self.sets.get_mut(&hash) {
            if same(&f.attrs, attrs) {
                f.used = generation;
                return (Arc::clone(&f.labels), f.key, hash);
            }
        }
        let labels = Arc::new(self.flatten(attrs));
        let key = labels_key(&labels);
        match self.sets.get(&hash) {
            // Two live attribute sets with one hash: the second is flattened every time.
            Some(f) if f.used == generation => {}
            _ => {
                let attrs = attrs.iter().map(|kv| (*kv).clone()).collect();
                self.sets.insert(hash, Flattened { attrs, labels: Arc::clone(&labels), key, used: generation });
            }
        }
        (labels, key, hash)
    }

    fn flatten(&mut self, attrs: &[&KeyValue]) -> Labels {
        let mut labels: Labels = attrs
            .iter()
            .map(|kv| {
                let key = kv.key.as_str();
                let name = match self.names.get(key) {
                    Some(n) => n.clone(),
                    None => {
                        let n = normalize_label(key);
                        self.names.insert(key.to_string(), n.clone());
                        n
                    }
                };
                (name, value_string(&kv.value))
            })
            .collect();
        labels.sort();
        labels
    }

    /// Starts a collection.
    fn begin(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// Ends a collection: forgets the label sets it did not carry.
    fn end(&mut self) {
        let generation = self.generation;
        if self.sets.values().any(|f| f.used != generation) {
            self.sets.retain(|_, f| f.used == generation);
        }
        // Attribute names are few; a flood of distinct ones is not kept forever.
        if self.names.len() > 4096 {
            self.names.clear();
        }
    }
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
        for (name, order) in cache.order.iter_mut() {
            order.truncate(snap.metrics.get(name).map_or(0, Vec::len));
        }
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
                let mut points_seen = points.len();
                let mut order = cache.order.remove(metric.name()).unwrap_or_default();
                let mut labels_of = |attrs: &mut dyn Iterator<Item = &'a KeyValue>| -> (Arc<Labels>, u64) {
                    scratch.clear();
                    scratch.extend(attrs);
                    let at = points_seen;
                    points_seen += 1;
                    let (labels, key, hash) = cache.labels(&scratch, order.get(at).copied());
                    match order.get_mut(at) {
                        Some(h) => *h = hash,
                        None => order.push(hash),
                    }
                    (labels, key)
                };
                match metric.data() {
                    AggregatedMetrics::F64(d) => push(points, d, |v| v, &mut labels_of),
                    AggregatedMetrics::U64(d) => push(points, d, |v| v as f64, &mut labels_of),
                    AggregatedMetrics::I64(d) => push(points, d, |v| v as f64, &mut labels_of),
                }
                cache.order.insert(metric.name().to_string(), order);
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
            points.extend(family.points.iter().map(|p| {
                scratch.clear();
                scratch.extend(&p.attributes);
                let (labels, key, _) = cache.labels(&scratch, None);
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
