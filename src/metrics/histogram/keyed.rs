//! A histogram family whose attribute sets are learnt while recording (HTTP routes and status
//! codes are known only when requests arrive), in a fixed number of series.
//!
//! Why a cap and not a map that grows: a set learnt from traffic is bounded only as long as
//! every caller keeps its promise (route templates, not raw paths). The cap keeps memory fixed
//! whatever happens: past it, new sets land in one `otel.metric.overflow = true` series, as
//! the OpenTelemetry SDK's cardinality limit does.

use super::{FamilyCells, HistogramRegistry};
use crate::semconv::MetricDef;
use opentelemetry::KeyValue;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

/// What identifies one series without allocating: a string part (e.g. a route template, empty
/// for none) and up to 64 bits of small parts packed by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SeriesKey<'a> {
    pub(crate) text: &'a str,
    pub(crate) tag: u64,
}

/// FNV-1a: the index is looked up on every recording (an HTTP request), and std's SipHash
/// costs several times more on a short route template. Flooding is no concern here: the
/// index stops growing at the series limit, so colliding keys can fill at most that many
/// entries.
#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Default)]
struct Index {
    /// text part → (tag, series) pairs; a text has few tags, so a scan beats a second hash.
    by_text: HashMap<Box<str>, Vec<(u64, usize)>, BuildHasherDefault<Fnv>>,
    assigned: usize,
}

impl Index {
    fn find(&self, key: SeriesKey<'_>) -> Option<usize> {
        self.by_text.get(key.text)?.iter().find(|(tag, _)| *tag == key.tag).map(|(_, s)| *s)
    }
}

/// A histogram of at most `limit` series, the last one being the overflow series.
pub(crate) struct KeyedHistogram {
    family: Arc<FamilyCells>,
    index: RwLock<Index>,
    overflow: usize,
}

/// The attribute that marks the series collecting every set past the limit.
pub(crate) const OVERFLOW_KEY: &str = "otel.metric.overflow";

impl KeyedHistogram {
    /// `limit` counts the overflow series, so at least 2.
    pub(crate) fn new(registry: &mut HistogramRegistry, def: &'static MetricDef, limit: usize) -> KeyedHistogram {
        let limit = limit.max(2);
        let family = registry.register_unassigned(def, limit);
        let overflow = limit - 1;
        if let Some(slot) = family.attributes.get(overflow) {
            let _ = slot.set(vec![KeyValue::new(OVERFLOW_KEY, true)]);
        }
        KeyedHistogram { family, index: RwLock::new(Index::default()), overflow }
    }

    /// The series of `key`, assigning the next free one (with `attributes()`) the first time
    /// the key is seen, or the overflow series once every other one is taken.
    pub(crate) fn series(&self, key: SeriesKey<'_>, attributes: impl FnOnce() -> Vec<KeyValue>) -> usize {
        // A poisoned lock only means another recorder panicked; the index itself is whole.
        if let Some(s) = self.index.read().unwrap_or_else(|p| p.into_inner()).find(key) {
            return s;
        }
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = index.find(key) {
            return s;
        }
        if index.assigned >= self.overflow {
            return self.overflow;
        }
        let series = index.assigned;
        // Attributes first: the series is published (and recorded into) only after.
        if let Some(slot) = self.family.attributes.get(series) {
            let _ = slot.set(attributes());
        }
        index.assigned += 1;
        index.by_text.entry(key.text.into()).or_default().push((key.tag, series));
        series
    }

    /// Records `v` in `series` (from [`KeyedHistogram::series`]).
    #[inline]
    pub(crate) fn record(&self, series: usize, v: f64) {
        self.family.record(series, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ExemplarFilter;
    use crate::metrics::data::HistogramSource;
    use crate::semconv::metric;

    fn key(text: &str, tag: u64) -> SeriesKey<'_> {
        SeriesKey { text, tag }
    }

    #[test]
    fn a_key_keeps_its_series_and_new_keys_get_new_ones() {
        let mut registry = HistogramRegistry::new(ExemplarFilter::AlwaysOff);
        let h = KeyedHistogram::new(&mut registry, &metric::HTTP_SERVER_REQUEST_DURATION, 8);
        let a = h.series(key("/a", 1), || vec![KeyValue::new("k", "a1")]);
        let b = h.series(key("/a", 2), || vec![KeyValue::new("k", "a2")]);
        let c = h.series(key("/b", 1), || vec![KeyValue::new("k", "b1")]);
        assert_eq!(h.series(key("/a", 1), || panic!("already assigned")), a);
        assert!(a != b && b != c && a != c);
        h.record(a, 0.1);
        h.record(c, 0.2);
        let mut out = Vec::new();
        registry.collect(&mut out);
        let points = &out[0].points;
        // The series never recorded into (`b`) and the unused overflow series are left out.
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].attributes, vec![KeyValue::new("k", "a1")]);
        assert_eq!(points[1].attributes, vec![KeyValue::new("k", "b1")]);
    }

    #[test]
    fn keys_past_the_limit_share_the_overflow_series() {
        let mut registry = HistogramRegistry::new(ExemplarFilter::AlwaysOff);
        let h = KeyedHistogram::new(&mut registry, &metric::HTTP_SERVER_REQUEST_DURATION, 4);
        let routes: Vec<String> = (0..100).map(|i| format!("/r{i}")).collect();
        for r in &routes {
            let s = h.series(key(r, 0), || vec![KeyValue::new("route", r.clone())]);
            h.record(s, 0.01);
        }
        let mut out = Vec::new();
        registry.collect(&mut out);
        let points = &out[0].points;
        assert_eq!(points.len(), 4, "3 learnt series and the overflow one");
        let overflow = points.iter().find(|p| p.attributes == vec![KeyValue::new(OVERFLOW_KEY, true)]);
        assert_eq!(overflow.map(|p| p.count), Some(97));
        assert_eq!(points.iter().map(|p| p.count).sum::<u64>(), 100, "no recording is lost");
    }

    #[test]
    fn every_learnt_series_keeps_an_exemplar_in_every_bucket() {
        let mut registry = HistogramRegistry::new(ExemplarFilter::AlwaysOn);
        let h = KeyedHistogram::new(&mut registry, &metric::HTTP_SERVER_REQUEST_DURATION, 6);
        let bounds = metric::HTTP_SERVER_REQUEST_DURATION.buckets;
        // One value in each bucket, the last one (+Inf) included, in each learnt series.
        let values: Vec<f64> = bounds.iter().copied().chain([bounds[bounds.len() - 1] * 2.0]).collect();
        for r in 0..5u64 {
            let s = h.series(key("/r", r), || vec![KeyValue::new("r", r.to_string())]);
            for v in &values {
                h.record(s, *v);
            }
        }
        let mut out = Vec::new();
        registry.collect(&mut out);
        let points = &out[0].points;
        assert_eq!(points.len(), 5);
        for p in points {
            let mut buckets: Vec<usize> = p.exemplars.iter().map(|e| e.bucket).collect();
            buckets.sort_unstable();
            assert_eq!(buckets, (0..values.len()).collect::<Vec<_>>(), "{:?}", p.attributes);
        }
    }
}
