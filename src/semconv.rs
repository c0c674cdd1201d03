//! The BitCraps semantic conventions: every metric, span and attribute name, generated from
//! `semconv/registry/*.yaml` by `build.rs`.
//!
//! Code never spells a metric name as a string: it refers to a [`MetricDef`] here, and the typed
//! instruments in [`crate::metrics`] are built from those definitions. Dashboards, alert rules
//! and docs are tested against [`METRICS`].
//!
//! ```
//! use bitcraps_otel::semconv::{self, AttributeEnum, ErrorCategory};
//!
//! assert_eq!(semconv::metric::GAMES.prometheus_name, "bitcraps_games_total");
//! assert_eq!(semconv::metric::NETWORK_LATENCY.unit, "s");
//! // Unknown input cannot create a new series: it lands in `other`.
//! assert_eq!(ErrorCategory::from_value("cosmic-ray"), ErrorCategory::Other);
//! assert!(semconv::lookup("bitcraps_errors_total").is_some());
//! ```

/// The kind of OpenTelemetry instrument a metric is recorded with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Instrument {
    /// Monotonic sum; Prometheus `counter` with a `_total` suffix.
    Counter,
    /// Non-monotonic sum; Prometheus `gauge`.
    UpDownCounter,
    /// Last value; Prometheus `gauge`.
    Gauge,
    /// Explicit-bucket histogram; Prometheus `histogram`.
    Histogram,
}

impl Instrument {
    /// The `# TYPE` the Prometheus bridge gives this instrument.
    pub fn prometheus_type(self) -> &'static str {
        match self {
            Instrument::Counter => "counter",
            Instrument::UpDownCounter | Instrument::Gauge => "gauge",
            Instrument::Histogram => "histogram",
        }
    }
}

/// The number type an instrument records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// Integers (`u64` for counters, `i64` for up-down counters and gauges).
    Int,
    /// Floating point.
    Double,
}

/// How settled a definition is, as in the OpenTelemetry semantic conventions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stability {
    /// May change between releases.
    Development,
    /// Will not change without a major release.
    Stable,
    /// Kept for compatibility; do not use in new code.
    Deprecated,
}

/// One attribute of the registry.
#[derive(Debug)]
pub struct AttributeDef {
    /// OpenTelemetry attribute key, e.g. `error.category`.
    pub id: &'static str,
    /// Registry type: `enum`, `string`, `int`, `double` or `boolean`.
    pub value_type: &'static str,
    /// One-line description.
    pub brief: &'static str,
    /// The label name the Prometheus bridge exposes, e.g. `category`.
    pub prometheus_label: &'static str,
    /// The closed vocabulary of an `enum` attribute (empty otherwise).
    pub members: &'static [&'static str],
}

/// One metric of the registry.
#[derive(Debug)]
pub struct MetricDef {
    /// OpenTelemetry instrument name, e.g. `bitcraps.network.latency`.
    pub name: &'static str,
    /// The name the Prometheus bridge derives, e.g. `bitcraps_network_latency_seconds`.
    pub prometheus_name: &'static str,
    /// Instrument kind.
    pub instrument: Instrument,
    /// Number type.
    pub value_type: ValueType,
    /// UCUM unit, e.g. `s`, `By`, `%`, `{game}`.
    pub unit: &'static str,
    /// One-line description; also the `# HELP` text.
    pub brief: &'static str,
    /// Stability level.
    pub stability: Stability,
    /// Attributes the metric carries, in the canonical order instruments record them.
    pub attributes: &'static [&'static AttributeDef],
    /// Explicit histogram bucket bounds (histograms only).
    pub buckets: &'static [f64],
}

impl MetricDef {
    /// The Prometheus label names of this metric's attributes, in canonical order.
    pub fn prometheus_labels(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.attributes.iter().map(|a| a.prometheus_label)
    }
}

/// The span kind of a registry span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpanKindDef {
    /// In-process work.
    Internal,
    /// Handles a remote request.
    Server,
    /// Makes a remote request.
    Client,
    /// Sends a message.
    Producer,
    /// Receives a message.
    Consumer,
}

/// One span of the registry.
#[derive(Debug)]
pub struct SpanDef {
    /// Span name, e.g. `bitcraps.consensus.round`.
    pub name: &'static str,
    /// Span kind.
    pub kind: SpanKindDef,
    /// One-line description.
    pub brief: &'static str,
    /// Attributes the span carries.
    pub attributes: &'static [&'static AttributeDef],
}

/// A closed-vocabulary attribute, generated for every `enum` in the registry.
pub trait AttributeEnum: Copy + Sized + 'static {
    /// The registry definition.
    const DEF: &'static AttributeDef;
    /// Every value, in registry order; `index()` is the position in this slice.
    const ALL: &'static [Self];
    /// The attribute value as recorded.
    fn as_str(self) -> &'static str;
    /// Parses a value; anything outside the vocabulary becomes `Other`.
    fn from_value(value: &str) -> Self;
    /// Position in [`AttributeEnum::ALL`], for arrays of pre-bound instruments.
    fn index(self) -> usize;
}

include!(concat!(env!("OUT_DIR"), "/semconv_generated.rs"));

/// Finds a metric by its OpenTelemetry name (`bitcraps.games`) or its Prometheus name
/// (`bitcraps_games_total`).
pub fn lookup(name: &str) -> Option<&'static MetricDef> {
    METRICS.iter().copied().find(|m| m.name == name || m.prometheus_name == name)
}

/// Finds the metric a Prometheus series name belongs to, including the `_bucket`, `_sum` and
/// `_count` series of histograms.
pub fn lookup_series(series: &str) -> Option<&'static MetricDef> {
    lookup(series).or_else(|| {
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            series.strip_suffix(suffix).and_then(lookup).filter(|m| m.instrument == Instrument::Histogram)
        })
    })
}
