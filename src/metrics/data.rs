//! Collected histogram data: what the SDK cannot hold for us (striped cells with exemplars),
//! in one neutral shape that every consumer reads: the Prometheus bridge (classic text and
//! OpenMetrics), the OTLP metric exporter, and the alert engine.
//!
//! Data flows one way: [`HistogramSource::collect`] is called by a consumer at collection time;
//! the source never knows who reads it. Values are cumulative since `start_time`; a consumer that
//! wants deltas (an OTLP delta preference) keeps the previous collection itself.

use crate::semconv::MetricDef;
use opentelemetry::KeyValue;
use std::time::SystemTime;

/// One histogram instrument and all of its series at collection time.
#[derive(Clone, Debug)]
pub struct HistogramFamily {
    /// The registry definition (name, unit, brief, bucket bounds, attributes).
    pub def: &'static MetricDef,
    /// One point per attribute set. A series that has never recorded is left out, so no
    /// consumer ever sees a point with `count == 0`; `points` is empty while nothing has been
    /// recorded at all. A consumer that cannot show a family without points (OTLP) skips it;
    /// the Prometheus bridge still writes its `# HELP` and `# TYPE`, so the metric is known.
    pub points: Vec<HistogramPoint>,
}

/// One series of a histogram: cumulative counts since `start_time`.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramPoint {
    /// OTel attribute keys and values (e.g. `bitcraps.game.type = cash`), canonical order.
    pub attributes: Vec<KeyValue>,
    /// Upper bounds of the buckets, in the metric's unit (`def.buckets`).
    pub bounds: &'static [f64],
    /// Per-bucket counts, `bounds.len() + 1` of them (the last is `+Inf`). Not cumulative.
    pub bucket_counts: Vec<u64>,
    /// Number of recordings; equals the sum of `bucket_counts`.
    pub count: u64,
    /// Sum of the recorded values.
    pub sum: f64,
    /// Smallest recorded value (`Some` whenever `count > 0`).
    pub min: Option<f64>,
    /// Largest recorded value (`Some` whenever `count > 0`).
    pub max: Option<f64>,
    /// When this series started counting.
    pub start_time: SystemTime,
    /// The latest exemplar of each bucket that has one.
    pub exemplars: Vec<Exemplar>,
}

/// A recorded value together with the span it was recorded in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exemplar {
    /// Index into `bucket_counts` of the bucket the value fell in.
    pub bucket: usize,
    /// The recorded value.
    pub value: f64,
    /// When it was recorded.
    pub time: SystemTime,
    /// W3C trace id of the span it was recorded in; all zero when it was recorded outside
    /// any span (possible only with the `always_on` exemplar filter): then leave the ids out.
    pub trace_id: [u8; 16],
    /// Span id of that span (all zero with the trace id).
    pub span_id: [u8; 8],
}

/// Something that can report histogram families at collection time.
pub trait HistogramSource: Send + Sync + 'static {
    /// Appends every family to `out`, in a stable order; a family's `points` may be empty.
    fn collect(&self, out: &mut Vec<HistogramFamily>);
}
