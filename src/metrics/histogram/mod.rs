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

use crate::config::ExemplarFilter;
use crate::metrics::data::{HistogramFamily, HistogramPoint, HistogramSource};
use crate::semconv::{AttributeEnum, Instrument, MetricDef};
use cells::SeriesCells;
use exemplar::ExemplarSlot;
use opentelemetry::KeyValue;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::SystemTime;

/// One series: its cells, its exemplars and its attribute set.
struct Series {
    cells: SeriesCells,
    exemplars: Box<[ExemplarSlot]>,
    attributes: Vec<KeyValue>,
}

/// Every series of one histogram instrument.
pub(crate) struct FamilyCells {
    def: &'static MetricDef,
    filter: ExemplarFilter,
    start_time: SystemTime,
    series: Box<[Series]>,
}

impl FamilyCells {
    fn new(def: &'static MetricDef, filter: ExemplarFilter, sets: Vec<Vec<KeyValue>>) -> FamilyCells {
        debug_assert_eq!(def.instrument, Instrument::Histogram, "{}", def.name);
        let series = sets
            .into_iter()
            .map(|attributes| Series {
                cells: SeriesCells::new(def.buckets),
                exemplars: (0..=def.buckets.len()).map(|_| ExemplarSlot::default()).collect(),
                attributes,
            })
            .collect();
        FamilyCells { def, filter, start_time: SystemTime::now(), series }
    }

    /// Records `v` in series `index`. Values that are not finite are ignored: they have no
    /// bucket and would poison the sum.
    #[inline]
    fn record(&self, index: usize, v: f64) {
        if !v.is_finite() {
            return;
        }
        let Some(series) = self.series.get(index) else { return };
        // Upper bounds are inclusive, as Prometheus `le` and OTel explicit buckets both say.
        let bucket = self.def.buckets.partition_point(|&b| b < v);
        series.cells.record(bucket, v);
        if let Some(ids) = exemplar::candidate(self.filter) {
            if let Some(slot) = series.exemplars.get(bucket) {
                slot.write(v, ids);
            }
        }
    }

    fn collect(&self) -> HistogramFamily {
        let points = self
            .series
            .iter()
            .filter_map(|s| {
                let totals = s.cells.totals()?;
                let exemplars = s.exemplars.iter().enumerate().filter_map(|(b, slot)| slot.read(b)).collect();
                Some(HistogramPoint {
                    attributes: s.attributes.clone(),
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
