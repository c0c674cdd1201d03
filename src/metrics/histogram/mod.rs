//! Histograms of our own, outside the OpenTelemetry SDK: per-series striped cells with one
//! exemplar slot per bucket, collected as [`HistogramFamily`]s by every consumer (the
//! Prometheus bridge, the OTLP exporter, the alert engine).
//!
//! Why not the SDK's bound histograms: each SDK reader adds one aggregator per bound
//! instrument, so a record cost 15 ns with the Prometheus reader and 44 ns with the alert
//! reader too; one mutex-guarded aggregator per series made two threads on one series cost
//! ~150 ns; a series that never recorded was exported as a count-0 point with min/max of
//! ±`f64::MAX`; and the SDK keeps no exemplars. Here a record is a handful of relaxed atomics
//! on the caller's stripe whatever the number of consumers, a series that never recorded is
//! left out, and a recording inside a sampled span leaves its trace in the bucket's exemplar.

mod cells;
mod exemplar;
mod keyed;

use crate::config::ExemplarFilter;
use crate::metrics::data::{HistogramFamily, HistogramPoint, HistogramSource};
use crate::semconv::{AttributeEnum, Instrument, MetricDef};
use cells::StripedCells;
use exemplar::ExemplarSlot;
use opentelemetry::KeyValue;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

#[cfg(feature = "http-server")]
pub(crate) use keyed::Fnv;
pub(crate) use keyed::{KeyedHistogram, SeriesKey};

/// Every series of one histogram instrument. Laid out for the recording path: the bounds and
/// all the cells are one pointer away from the family.
pub(crate) struct FamilyCells {
    /// The upper bounds in fours, padded with +Inf (which no finite value exceeds), so the
    /// bucket search is whole SIMD compares with no scalar tail.
    bounds4: Box<[[f64; 4]]>,
    bounds: &'static [f64],
    filter: ExemplarFilter,
    cells: StripedCells,
    /// `series × buckets` slots, series-major.
    exemplars: Box<[ExemplarSlot]>,
    /// Set when the family is built, or when a keyed family hands the series out (before any
    /// recording into it); a series without attributes is left out of collections.
    attributes: Box<[OnceLock<Vec<KeyValue>>]>,
    def: &'static MetricDef,
    start_time: SystemTime,
}

impl FamilyCells {
    fn new(def: &'static MetricDef, filter: ExemplarFilter, sets: Vec<Vec<KeyValue>>) -> FamilyCells {
        debug_assert_eq!(def.instrument, Instrument::Histogram, "{}", def.name);
        let buckets = def.buckets.len() + 1;
        let bounds4 = def
            .buckets
            .chunks(4)
            .map(|c| std::array::from_fn(|i| c.get(i).copied().unwrap_or(f64::INFINITY)))
            .collect();
        FamilyCells {
            bounds4,
            bounds: def.buckets,
            filter,
            cells: StripedCells::new(sets.len(), buckets),
            exemplars: (0..sets.len() * buckets).map(|_| ExemplarSlot::default()).collect(),
            attributes: sets.into_iter().map(OnceLock::from).collect(),
            def,
            start_time: SystemTime::now(),
        }
    }

    /// The bucket of `v`: how many upper bounds lie below it (bounds are inclusive, as
    /// Prometheus `le` and OTel explicit buckets both say). Counting every bound, rather than
    /// searching, has no chain of dependent comparisons and vectorizes.
    #[inline]
    fn bucket(&self, v: f64) -> usize {
        self.bounds4.iter().map(|c| c.iter().map(|&b| usize::from(b < v)).sum::<usize>()).sum()
    }

    /// Records `v` in series `index`. Values that are not finite are ignored: they have no
    /// bucket and would poison the sum.
    #[inline(always)]
    fn record(&self, index: usize, v: f64) {
        if !v.is_finite() || index >= self.attributes.len() {
            return;
        }
        let bucket = self.bucket(v);
        self.cells.record(index, bucket, v);
        if let Some(ids) = exemplar::candidate(self.filter) {
            self.keep_exemplar(index, bucket, v, ids);
        }
    }

    /// Out of line: only recordings inside a sampled span (or under `always_on`) come here.
    #[inline(never)]
    fn keep_exemplar(&self, index: usize, bucket: usize, v: f64, ids: exemplar::SpanIds) {
        if let Some(slot) = self.exemplars.get(index * (self.bounds.len() + 1) + bucket) {
            slot.write(v, ids);
        }
    }

    fn collect(&self) -> HistogramFamily {
        let buckets = self.bounds.len() + 1;
        let points = self
            .attributes
            .iter()
            .enumerate()
            .filter_map(|(i, attributes)| {
                let attributes = attributes.get()?;
                let totals = self.cells.totals(i)?;
                let slots = self.exemplars.get(i * buckets..(i + 1) * buckets).unwrap_or_default();
                let exemplars = slots.iter().enumerate().filter_map(|(b, slot)| slot.read(b)).collect();
                Some(HistogramPoint {
                    attributes: attributes.clone(),
                    bounds: self.def.buckets,
                    bucket_counts: totals.bucket_counts,
                    count: totals.count,
                    sum: totals.sum,
                    min: Some(totals.min),
                    max: Some(totals.max),
                    start_time: self.start_time,
                    exemplars,
                })
            })
            .collect();
        HistogramFamily { def: self.def, points }
    }
}

/// The histogram families of one [`crate::metrics::Metrics`], in registry order.
pub(crate) struct HistogramRegistry {
    filter: ExemplarFilter,
    families: Vec<Arc<FamilyCells>>,
}

impl HistogramRegistry {
    pub(crate) fn new(filter: ExemplarFilter) -> HistogramRegistry {
        HistogramRegistry { filter, families: Vec::new() }
    }

    /// A family of `series` series whose attribute sets are assigned later
    /// ([`KeyedHistogram`]).
    fn register_unassigned(&mut self, def: &'static MetricDef, series: usize) -> Arc<FamilyCells> {
        let mut family = FamilyCells::new(def, self.filter, Vec::new());
        family.cells = cells::StripedCells::new(series, def.buckets.len() + 1);
        family.exemplars = (0..series * (def.buckets.len() + 1)).map(|_| ExemplarSlot::default()).collect();
        family.attributes = (0..series).map(|_| OnceLock::new()).collect();
        let family = Arc::new(family);
        self.families.push(Arc::clone(&family));
        family
    }

    fn register(&mut self, def: &'static MetricDef, sets: Vec<Vec<KeyValue>>) -> Arc<FamilyCells> {
        let family = Arc::new(FamilyCells::new(def, self.filter, sets));
        self.families.push(Arc::clone(&family));
        family
    }
}

impl HistogramSource for HistogramRegistry {
    fn collect(&self, out: &mut Vec<HistogramFamily>) {
        out.extend(self.families.iter().map(|f| f.collect()));
    }
}

/// A typed histogram: one series, or one per value of the closed vocabulary `K`.
pub(crate) struct HistogramSeries<K> {
    family: Arc<FamilyCells>,
    _key: PhantomData<fn(K)>,
}

impl HistogramSeries<()> {
    /// A histogram without attributes.
    pub(crate) fn single(registry: &mut HistogramRegistry, def: &'static MetricDef) -> Self {
        HistogramSeries { family: registry.register(def, vec![Vec::new()]), _key: PhantomData }
    }

    #[inline]
    pub(crate) fn record(&self, v: f64) {
        self.family.record(0, v);
    }
}

impl<E: AttributeEnum> HistogramSeries<E> {
    /// One series per value of `E`.
    pub(crate) fn by(registry: &mut HistogramRegistry, def: &'static MetricDef) -> Self {
        let sets = E::ALL.iter().map(|v| vec![KeyValue::new(E::DEF.id, v.as_str())]).collect();
        HistogramSeries { family: registry.register(def, sets), _key: PhantomData }
    }

    #[inline]
    pub(crate) fn record_for(&self, value: E, v: f64) {
        self.family.record(value.index(), v);
    }
}

#[cfg(test)]
mod tests;
