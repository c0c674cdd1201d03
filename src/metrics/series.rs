//! Counter storage for the hot path: one cache-line-padded atomic per attribute set, reported
//! to the SDK through an observable instrument at collection time.
//!
//! Why not the SDK's bound instruments: a bound counter updates one aggregator per reader
//! (Prometheus, OTLP, the alert engine), through two dynamic calls each. A cell here is one
//! relaxed `fetch_add` whatever the number of readers, which is as close to the atomic floor
//! as a counter can be. The SDK still owns temporality and export: it sees a cumulative
//! observation per attribute set and derives deltas for delta readers.

use crate::semconv::{AttributeEnum, MetricDef};
use opentelemetry::metrics::{AsyncInstrument, Meter, ObservableCounter, ObservableUpDownCounter};
use opentelemetry::KeyValue;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// Keeps cells that different threads hit on different cache lines.
#[repr(align(64))]
#[derive(Default)]
struct Padded<T>(T);

/// The attribute sets of a series family, in the order of its cells.
fn attribute_sets<E: AttributeEnum>() -> Vec<Vec<KeyValue>> {
    E::ALL.iter().map(|v| vec![KeyValue::new(E::DEF.id, v.as_str())]).collect()
}

/// Cartesian product in canonical (registry) order: `A` major, `B` minor.
fn attribute_sets2<A: AttributeEnum, B: AttributeEnum>() -> Vec<Vec<KeyValue>> {
    A::ALL
        .iter()
        .flat_map(|a| {
            B::ALL.iter().map(move |b| vec![KeyValue::new(A::DEF.id, a.as_str()), KeyValue::new(B::DEF.id, b.as_str())])
        })
        .collect()
}

struct Cells<T> {
    values: Box<[Padded<T>]>,
    attrs: Box<[Vec<KeyValue>]>,
}

/// An atomic cell whose current value the SDK can observe.
trait Cell: Default + Send + Sync + 'static {
    type Value;
    fn read(&self) -> Self::Value;
}

impl Cell for AtomicU64 {
    type Value = u64;
    fn read(&self) -> u64 {
        self.load(Ordering::Relaxed)
    }
}

impl Cell for AtomicI64 {
    type Value = i64;
    fn read(&self) -> i64 {
        self.load(Ordering::Relaxed)
    }
}

impl<T: Cell> Cells<T> {
    fn new(sets: Vec<Vec<KeyValue>>) -> Arc<Self> {
        Arc::new(Cells { values: sets.iter().map(|_| Padded::default()).collect(), attrs: sets.into_boxed_slice() })
    }

    /// Reports every cell with its attribute set; called by the SDK at collection time.
    fn observe(&self, obs: &dyn AsyncInstrument<T::Value>) {
        for (cell, attrs) in self.values.iter().zip(self.attrs.iter()) {
            obs.observe(cell.0.read(), attrs);
        }
    }
}

/// A monotonic counter family: `sets` cells, each one attribute set.
pub(crate) struct CounterSeries<K> {
    cells: Arc<Cells<AtomicU64>>,
    _instrument: ObservableCounter<u64>,
    _key: PhantomData<fn(K)>,
}

impl<K> CounterSeries<K> {
    fn with_sets(meter: &Meter, def: &'static MetricDef, sets: Vec<Vec<KeyValue>>) -> Self {
        let cells = Cells::<AtomicU64>::new(sets);
        let observed = Arc::clone(&cells);
        let instrument = meter
            .u64_observable_counter(def.name)
            .with_description(def.brief)
            .with_unit(def.unit)
            .with_callback(move |obs| observed.observe(obs))
            .build();
        CounterSeries { cells, _instrument: instrument, _key: PhantomData }
    }

    #[inline]
    fn add_at(&self, index: usize, n: u64) {
        self.cells.values[index].0.fetch_add(n, Ordering::Relaxed);
    }
}

impl CounterSeries<()> {
    /// A counter without attributes.
    pub(crate) fn single(meter: &Meter, def: &'static MetricDef) -> Self {
        Self::with_sets(meter, def, vec![Vec::new()])
    }
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.add_at(0, n);
    }
}

impl<E: AttributeEnum> CounterSeries<E> {
    /// One cell per value of `E`.
    pub(crate) fn by(meter: &Meter, def: &'static MetricDef) -> Self {
        Self::with_sets(meter, def, attribute_sets::<E>())
    }
    #[inline]
    pub(crate) fn add_for(&self, value: E, n: u64) {
        self.add_at(value.index(), n);
    }
}

impl<A: AttributeEnum, B: AttributeEnum> CounterSeries<(A, B)> {
    /// One cell per pair of values.
    pub(crate) fn by2(meter: &Meter, def: &'static MetricDef) -> Self {
        Self::with_sets(meter, def, attribute_sets2::<A, B>())
    }
    #[inline]
    pub(crate) fn add_for2(&self, a: A, b: B, n: u64) {
        self.add_at(a.index() * B::ALL.len() + b.index(), n);
    }
}

/// An up-down counter family with one cell per value of `E`.
pub(crate) struct UpDownSeries<E> {
    cells: Arc<Cells<AtomicI64>>,
    _instrument: ObservableUpDownCounter<i64>,
    _key: PhantomData<fn(E)>,
}

impl<E: AttributeEnum> UpDownSeries<E> {
    pub(crate) fn by(meter: &Meter, def: &'static MetricDef) -> Self {
        let cells = Cells::<AtomicI64>::new(attribute_sets::<E>());
        let observed = Arc::clone(&cells);
        let instrument = meter
            .i64_observable_up_down_counter(def.name)
            .with_description(def.brief)
            .with_unit(def.unit)
            .with_callback(move |obs| observed.observe(obs))
            .build();
        UpDownSeries { cells, _instrument: instrument, _key: PhantomData }
    }

    #[inline]
    pub(crate) fn add(&self, value: E, n: i64) {
        self.cells.values[value.index()].0.fetch_add(n, Ordering::Relaxed);
    }
}
