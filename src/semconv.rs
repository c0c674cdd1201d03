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
    /// How each of `attributes` is required (same order): only `Required` ones are on every
    /// point.
    pub requirement_levels: &'static [RequirementLevel],
    /// Explicit histogram bucket bounds (histograms only).
    pub buckets: &'static [f64],
}

impl MetricDef {
    /// The Prometheus label names of this metric's attributes, in canonical order.
    pub fn prometheus_labels(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.attributes.iter().map(|a| a.prometheus_label)
    }

    /// The Prometheus label names every series of this metric carries (the `Required` ones).
    ///
    /// ```
    /// use bitcraps_otel::semconv::metric;
    /// // A request no route matched has no `http_route`; every request has a method.
    /// let always: Vec<_> = metric::HTTP_SERVER_REQUEST_DURATION.required_prometheus_labels().collect();
    /// assert_eq!(always, ["http_request_method"]);
    /// ```
    pub fn required_prometheus_labels(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.attributes
            .iter()
            .zip(self.requirement_levels)
            .filter(|(_, level)| **level == RequirementLevel::Required)
            .map(|(a, _)| a.prometheus_label)
    }
}

/// Whether a metric's points always carry an attribute, as OTel's semantic conventions grade
/// it. An attribute the registry gives no level is `Required`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequirementLevel {
    /// On every point.
    Required,
    /// On the points where its condition holds (e.g. `http.route` when a route matched).
    ConditionallyRequired,
    /// Recorded when available.
    Recommended,
    /// Recorded only when the user asks for it.
    OptIn,
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
    /// Events the span may carry.
    pub events: &'static [&'static SpanEventDef],
}

/// One span event of the registry: a named point in time inside a span.
#[derive(Debug)]
pub struct SpanEventDef {
    /// Event name, e.g. `bitcraps.roll`.
    pub name: &'static str,
    /// One-line description.
    pub brief: &'static str,
    /// Attributes the event carries.
    pub attributes: &'static [&'static AttributeDef],
}

/// A closed-vocabulary attribute, generated for every `enum` in the registry.
///
/// ```
/// use bitcraps_otel::semconv::{AttributeEnum, BetType};
///
/// /// Every value of any closed-vocabulary attribute, as recorded.
/// fn vocabulary<A: AttributeEnum>() -> Vec<&'static str> {
///     A::ALL.iter().map(|v| v.as_str()).collect()
/// }
/// assert!(vocabulary::<BetType>().contains(&"pass_line"));
/// assert_eq!(BetType::from_value("pass_line").index(), BetType::PassLine as usize);
/// ```
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

/// How a derived metric is computed from its terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Derivation {
    /// `sum(numerator) / sum(denominator)`; no value while the denominator is 0. Over counters,
    /// both sides are increases over the window.
    Ratio,
    /// Per-second increase of `sum(numerator)` over the window (counters only).
    Rate,
}

/// One registered metric, optionally narrowed by label values, inside a derived metric.
#[derive(Debug)]
pub struct DerivedTerm {
    /// The registered metric.
    pub metric: &'static MetricDef,
    /// `(prometheus label, value)` pairs a series must carry to count.
    pub matchers: &'static [(&'static str, &'static str)],
}

/// A metric computed from registered ones (a ratio or a rate), defined in
/// `semconv/registry/derived.yaml`. Alert rules may name it; the Prometheus export writes it
/// as a recording rule called [`DerivedDef::prometheus_name`].
#[derive(Debug)]
pub struct DerivedDef {
    /// Name in OpenTelemetry style, e.g. `bitcraps.gaming.error_ratio`.
    pub name: &'static str,
    /// Name of the Prometheus recording rule, e.g. `bitcraps_gaming_error_ratio`.
    pub prometheus_name: &'static str,
    /// Other names that resolve to it (e.g. `gaming_error_rate` from the monitoring reference).
    pub aliases: &'static [&'static str],
    /// One-line description.
    pub brief: &'static str,
    /// UCUM unit of the result.
    pub unit: &'static str,
    /// Ratio or rate.
    pub derivation: Derivation,
    /// Window counters are compared over, in seconds (0 when every term is a gauge).
    pub window_seconds: u64,
    /// Summed terms on top (the only terms of a rate).
    pub numerator: &'static [DerivedTerm],
    /// Summed terms below (ratios only).
    pub denominator: &'static [DerivedTerm],
}

impl DerivedDef {
    /// The window counters are compared over.
    pub fn window(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.window_seconds)
    }
}

include!(concat!(env!("OUT_DIR"), "/semconv_generated.rs"));

/// Finds a derived metric by its name, its Prometheus recording-rule name or an alias.
///
/// ```
/// let d = bitcraps_otel::semconv::lookup_derived("gaming_error_rate").expect("registered");
/// assert_eq!(d.prometheus_name, "bitcraps_gaming_error_ratio");
/// ```
pub fn lookup_derived(name: &str) -> Option<&'static DerivedDef> {
    DERIVED.iter().copied().find(|d| d.name == name || d.prometheus_name == name || d.aliases.contains(&name))
}

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
