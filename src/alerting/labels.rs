//! Label sets kept from one collection to the next: each series' attributes flattened into
//! Prometheus labels once, while the series lasts, instead of once a cycle.
//!
//! Flattening copies every label name and value into fresh `String`s; with thousands of
//! series that was a fifth of an evaluation cycle, every cycle, for label sets that rarely
//! change. The SDK lists a metric's points in the same order while its series stay, so each
//! point's attributes are written as bytes and compared with the bytes of the point at the
//! same place last time: memory read in order, where a map of attribute sets cost a cache
//! miss or three per series. A point that moved is found by a hash of its bytes, compared in
//! full; only a new label set is flattened. A label set found is moved, not shared, from the
//! last collection to this one: no reference count is touched per series. The cache holds
//! the last collection only.

use super::rule::normalize_label;
use opentelemetry::{KeyValue, Value};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Label pairs sorted by name.
pub(crate) type Labels = Vec<(String, String)>;

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

fn bytes_hash(bytes: &[u8]) -> u64 {
    let mut h = FastHasher::default();
    h.write(bytes);
    h.finish()
}

/// Attributes' bytes ([`encode`]) of points in order, end to end.
#[derive(Debug, Default)]
struct Encoded {
    bytes: Vec<u8>,
    /// Where each point's bytes end.
    ends: Vec<usize>,
}

impl Encoded {
    fn of(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }
}

/// A metric's label sets in the last collection and in the one under way.
#[derive(Debug, Default)]
struct MetricLabels {
    last: Encoded,
    /// Last collection's label sets (with their [`labels_key`]) not yet moved to this one.
    last_labels: Vec<Option<(Box<Labels>, u64)>>,
    current: Encoded,
    labels: Vec<(Box<Labels>, u64)>,
    /// The collection `current` belongs to.
    generation: u64,
    /// Positions in `last` by a hash of their bytes, built the first time a point is not
    /// where it was.
    index: Option<HashMap<u64, usize, BuildHasherDefault<FastHasher>>>,
}

impl MetricLabels {
    /// Adds the next point, whose attributes are `attrs`.
    fn push(&mut self, attrs: &[&KeyValue], names: &mut HashMap<String, String>) {
        let at = self.current.len();
        let start = self.current.bytes.len();
        encode(attrs, &mut self.current.bytes);
        self.current.ends.push(self.current.bytes.len());
        let bytes = &self.current.bytes[start..];
        let last = &self.last;
        let found = if at < last.len() && last.of(at) == bytes {
            Some(at)
        } else if last.len() == 0 {
            None
        } else {
            let index = self.index.get_or_insert_with(|| {
                let mut index = HashMap::with_capacity_and_hasher(last.len(), Default::default());
                for i in 0..last.len() {
                    index.entry(bytes_hash(last.of(i))).or_insert(i);
                }
                index
            });
            // A hash is not an identity: the bytes are compared too.
            index.get(&bytes_hash(bytes)).copied().filter(|&i| last.of(i) == bytes)
        };
        // Taken already when one label set comes twice: flattened again (rare).
        let reused = found.and_then(|i| self.last_labels.get_mut(i)).and_then(Option::take);
        self.labels.push(reused.unwrap_or_else(|| {
            let labels = flatten(names, attrs);
            let key = labels_key(&labels);
            (Box::new(labels), key)
        }));
    }

    /// Starts collection `generation`: what was current is now the last.
    fn turn(&mut self, generation: u64) {
        std::mem::swap(&mut self.last, &mut self.current);
        self.current.clear();
        self.last_labels.clear();
        self.last_labels.extend(self.labels.drain(..).map(Some));
        self.index = None;
        self.generation = generation;
    }
}

/// Label sets of the series of the last collection, by metric, and of the one under way.
#[derive(Debug, Default)]
pub(crate) struct LabelCache {
    metrics: HashMap<String, MetricLabels>,
    /// OTel attribute name → Prometheus label name.
    names: HashMap<String, String>,
    /// Counts collections.
    generation: u64,
}

/// Adds one metric's points, in order, to the collection under way.
pub(crate) struct MetricCursor<'c> {
    metric: &'c mut MetricLabels,
    names: &'c mut HashMap<String, String>,
}

impl MetricCursor<'_> {
    /// Adds the metric's next point, whose attributes are `attrs`.
    pub(crate) fn push(&mut self, attrs: &[&KeyValue]) {
        self.metric.push(attrs, self.names);
    }
}

impl LabelCache {
    /// Starts a collection.
    pub(crate) fn begin(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// Where metric `name`'s points of the collection under way go. Points of one metric
    /// reported in several parts (several scopes) go on where the last part stopped.
    pub(crate) fn metric<'c>(&'c mut self, name: &str) -> MetricCursor<'c> {
        let generation = self.generation;
        // Once per metric and collection: the name's copy costs nothing next to its points.
        let metric = self.metrics.entry(name.to_string()).or_default();
        if metric.generation != generation {
            metric.turn(generation);
        }
        MetricCursor { metric, names: &mut self.names }
    }

    /// Ends a collection: forgets the metrics it did not carry and the label sets of series
    /// that are gone.
    pub(crate) fn end(&mut self) {
        let generation = self.generation;
        self.metrics.retain(|_, m| m.generation == generation);
        for m in self.metrics.values_mut() {
            m.last_labels.clear();
        }
        // Attribute names are few; a flood of distinct ones is not kept forever.
        if self.names.len() > 4096 {
            self.names.clear();
        }
    }

    /// Metric `name`'s label sets in this collection, in point order (with their
    /// [`labels_key`]).
    pub(crate) fn labels(&self, name: &str) -> &[(Box<Labels>, u64)] {
        self.metrics.get(name).map(|m| m.labels.as_slice()).unwrap_or_default()
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

fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.as_str().to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One collection of metric `m` whose points carry these attributes, in order: the
    /// label sets, and where each one lives.
    fn collect(cache: &mut LabelCache, points: &[Vec<KeyValue>]) -> Vec<(Labels, *const Labels)> {
        cache.begin();
        let mut cursor = cache.metric("m");
        for attrs in points {
            cursor.push(&attrs.iter().collect::<Vec<_>>());
        }
        cache.end();
        let labels = cache.labels("m");
        assert_eq!(labels.len(), points.len());
        for (l, key) in labels {
            assert_eq!(*key, labels_key(l));
        }
        labels.iter().map(|(l, _)| ((**l).clone(), &**l as *const Labels)).collect()
    }

    fn point(peer: &str, transport: &str) -> Vec<KeyValue> {
        vec![KeyValue::new("bitcraps.peer.transport", transport.to_string()), KeyValue::new("peer", peer.to_string())]
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    /// Points whose attributes are unchanged keep last collection's label sets (the same
    /// allocation) wherever they are now; changed, new, repeated and typed values get label
    /// sets flattened from what they carry.
    #[test]
    fn label_sets_follow_their_attributes_wherever_the_point_moved() {
        let mut cache = LabelCache::default();
        let first = collect(&mut cache, &[point("a", "tcp"), point("b", "ble"), point("c", "udp")]);
        assert_eq!(first[0].0, vec![pair("peer", "a"), pair("transport", "tcp")]);

        // Same order: the same label sets.
        let same = collect(&mut cache, &[point("a", "tcp"), point("b", "ble"), point("c", "udp")]);
        for (x, y) in first.iter().zip(&same) {
            assert_eq!(x, y);
        }
        // Moved, changed, new, and one point twice.
        let moved = collect(
            &mut cache,
            &[point("c", "udp"), point("a", "wifi_direct"), point("b", "ble"), point("b", "ble"), point("d", "tcp")],
        );
        assert_eq!(moved[0], same[2], "c moved to the front");
        assert_eq!(moved[2], same[1], "b kept its label set");
        assert_eq!(moved[3].0, same[1].0, "b twice: the same labels");
        assert_eq!(moved[1].0, vec![pair("peer", "a"), pair("transport", "wifi_direct")], "a changed");
        assert_eq!(moved[4].0, vec![pair("peer", "d"), pair("transport", "tcp")]);
        // A value's type is part of what is compared: 1 and "1" are both shown as 1, each
        // from its own attributes.
        let typed = collect(&mut cache, &[vec![KeyValue::new("n", 1_i64)], vec![KeyValue::new("n", "1")]]);
        assert_eq!(typed[0].0, typed[1].0);
        let again = collect(&mut cache, &[vec![KeyValue::new("n", "1")], vec![KeyValue::new("n", 1_i64)]]);
        assert_eq!((again[0].1, again[1].1), (typed[1].1, typed[0].1));
        // A metric missing from a collection is forgotten.
        cache.begin();
        cache.end();
        assert!(cache.labels("m").is_empty());
    }
}
