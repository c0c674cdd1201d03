//! [`AlertRule`]: what to watch, how to judge it and how loud to be; and its compiled form,
//! with every metric and label name resolved through the semconv registry.

use super::condition::AlertCondition;
use super::AlertError;
use crate::semconv::{self, DerivedDef, Instrument, MetricDef};
use std::collections::BTreeMap;
use std::time::Duration;

/// How urgent an alert is. Also the `severity` label of alerts and notifications.
///
/// ```
/// use bitcraps_otel::alerting::AlertSeverity;
/// assert_eq!(AlertSeverity::parse("critical"), Some(AlertSeverity::Critical));
/// assert!(AlertSeverity::Critical > AlertSeverity::High, "ordered by urgency");
/// assert_eq!(AlertSeverity::High.as_str(), "high");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertSeverity {
    /// For the record; nobody needs to act.
    Info,
    /// Look at it during working hours.
    Low,
    /// Degradation that needs attention today.
    #[default]
    Medium,
    /// Users are affected; act now.
    High,
    /// The node or the game is down or unsafe.
    Critical,
}

impl AlertSeverity {
    /// Every severity, least urgent first.
    pub const ALL: [AlertSeverity; 5] =
        [AlertSeverity::Info, AlertSeverity::Low, AlertSeverity::Medium, AlertSeverity::High, AlertSeverity::Critical];

    /// The label value: `info`, `low`, `medium`, `high`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSeverity::Info => "info",
            AlertSeverity::Low => "low",
            AlertSeverity::Medium => "medium",
            AlertSeverity::High => "high",
            AlertSeverity::Critical => "critical",
        }
    }

    /// Parses a label value (case-insensitive); `warning` is accepted for `medium`.
    pub fn parse(s: &str) -> Option<AlertSeverity> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Some(AlertSeverity::Info),
            "low" => Some(AlertSeverity::Low),
            "medium" | "warning" => Some(AlertSeverity::Medium),
            "high" => Some(AlertSeverity::High),
            "critical" => Some(AlertSeverity::Critical),
            _ => None,
        }
    }

    pub(crate) fn semconv(self) -> semconv::AlertSeverity {
        match self {
            AlertSeverity::Info => semconv::AlertSeverity::Info,
            AlertSeverity::Low => semconv::AlertSeverity::Low,
            AlertSeverity::Medium => semconv::AlertSeverity::Medium,
            AlertSeverity::High => semconv::AlertSeverity::High,
            AlertSeverity::Critical => semconv::AlertSeverity::Critical,
        }
    }
}

impl std::fmt::Display for AlertSeverity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a label must equal or differ from a value.
///
/// ```
/// use bitcraps_otel::alerting::{LabelMatcher, MatchOp};
/// let m = LabelMatcher { name: "severity".into(), op: MatchOp::NotEqual, value: "low".into() };
/// assert_eq!(m, LabelMatcher::ne("severity", "low"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `label="value"`; a series without the label does not match.
    Equal,
    /// `label!="value"`; a series without the label matches.
    NotEqual,
}

/// Selects series by one label. Names may be the OTel attribute key (`error.category`) or
/// the Prometheus label (`category`); both resolve to the label the bridge exposes.
///
/// ```
/// use bitcraps_otel::alerting::{AlertCondition, AlertRule, LabelMatcher, RuleOptions};
/// // Only critical errors, whatever their category.
/// let rule = AlertRule {
///     name: "CriticalErrors".into(),
///     metric_name: "bitcraps_errors_total".into(),
///     condition: AlertCondition::GreaterThan(0.0),
///     ..Default::default()
/// }
/// .with_options(RuleOptions { matchers: vec![LabelMatcher::eq("severity", "critical")], ..Default::default() });
/// assert_eq!(rule.options.matchers[0].value, "critical");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LabelMatcher {
    /// Label or attribute name.
    pub name: String,
    /// Equal or not equal.
    pub op: MatchOp,
    /// The value compared with.
    pub value: String,
}

impl LabelMatcher {
    /// `name="value"`.
    pub fn eq(name: impl Into<String>, value: impl Into<String>) -> Self {
        LabelMatcher { name: name.into(), op: MatchOp::Equal, value: value.into() }
    }
    /// `name!="value"`.
    pub fn ne(name: impl Into<String>, value: impl Into<String>) -> Self {
        LabelMatcher { name: name.into(), op: MatchOp::NotEqual, value: value.into() }
    }

    pub(crate) fn matches(&self, labels: &[(String, String)]) -> bool {
        let found = labels.iter().find(|(k, _)| *k == self.name).map(|(_, v)| v.as_str());
        match self.op {
            MatchOp::Equal => found == Some(self.value.as_str()),
            MatchOp::NotEqual => found != Some(self.value.as_str()),
        }
    }
}

/// How matched series combine into one value per group.
///
/// ```
/// use bitcraps_otel::alerting::{Aggregation, AggregationOp};
/// assert_eq!(Aggregation::over_all(AggregationOp::Max).op.as_str(), "max");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggregationOp {
    /// Sum of the values.
    Sum,
    /// Mean of the values.
    Avg,
    /// Largest value.
    Max,
    /// Smallest value.
    Min,
}

impl AggregationOp {
    /// The PromQL operator.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregationOp::Sum => "sum",
            AggregationOp::Avg => "avg",
            AggregationOp::Max => "max",
            AggregationOp::Min => "min",
        }
    }
}

/// One group's values folded in as they come, in order: what an [`AggregationOp`] needs,
/// without keeping the values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Running {
    sum: f64,
    n: usize,
    max: f64,
    min: f64,
}

impl Running {
    /// Nothing folded in yet.
    pub(crate) fn new() -> Running {
        // -0.0 is the sum's identity (0.0 would turn a lone -0.0 into 0.0).
        Running { sum: -0.0, n: 0, max: f64::NEG_INFINITY, min: f64::INFINITY }
    }

    /// Folds in `v`.
    pub(crate) fn add(&mut self, v: f64) {
        self.sum += v;
        self.n += 1;
        self.max = self.max.max(v);
        self.min = self.min.min(v);
    }

    /// `op` of the values folded in; `None` for none.
    pub(crate) fn value(&self, op: AggregationOp) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        Some(match op {
            AggregationOp::Sum => self.sum,
            AggregationOp::Avg => self.sum / self.n as f64,
            AggregationOp::Max => self.max,
            AggregationOp::Min => self.min,
        })
    }
}

/// Aggregation over the matched series, keeping the `by` labels (none: one value).
///
/// ```
/// use bitcraps_otel::alerting::{Aggregation, AggregationOp, AlertCondition, AlertRule, RuleOptions};
/// // Errors per second summed per category: one alert per category, not per series.
/// let per_category = Aggregation { op: AggregationOp::Sum, by: vec!["category".into()] };
/// let rule = AlertRule {
///     name: "ErrorBurst".into(),
///     metric_name: "bitcraps_errors_total".into(),
///     condition: AlertCondition::GreaterThan(1.0),
///     ..Default::default()
/// }
/// .with_options(RuleOptions { aggregation: Some(per_category), ..Default::default() });
/// assert_eq!(rule.options.aggregation.map(|a| a.by), Some(vec!["category".to_string()]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Aggregation {
    /// The operator.
    pub op: AggregationOp,
    /// Labels that split the result into groups.
    pub by: Vec<String>,
}

impl Aggregation {
    /// The operator over all matched series, one result.
    pub fn over_all(op: AggregationOp) -> Self {
        Aggregation { op, by: Vec::new() }
    }
}

/// One alert rule, with the eight fields of the monitoring reference. Everything else a rule
/// can say (label matchers, aggregation, `for`, resolve delay, extra labels) is in
/// [`RuleOptions`]; pair them with [`AlertRule::with_options`].
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::alerting::{AlertCondition, AlertRule, AlertSeverity, LabelMatcher, RuleOptions};
///
/// let rule = AlertRule {
///     name: "BleLatencyHigh".into(),
///     metric_name: "bitcraps_network_latency_seconds".into(),
///     condition: AlertCondition::GreaterThan(0.25),
///     severity: AlertSeverity::Medium,
///     category: "network".into(),
///     ..Default::default()
/// };
/// assert_eq!(rule.evaluation_interval, Duration::from_secs(15));
/// let def = rule.with_options(RuleOptions {
///     matchers: vec![LabelMatcher::eq("transport", "ble")],
///     for_duration: Duration::from_secs(120),
///     ..Default::default()
/// });
/// assert_eq!(def.options.for_duration.as_secs(), 120);
/// ```
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::alerting::{AlertCondition, AlertRule, AlertSeverity, AlertingConfig, AlertingSystem};
///
/// let rule = AlertRule {
///     name: "SlowConsensus".into(),
///     description: "Mean consensus round above 500 ms".into(),
///     metric_name: "bitcraps_consensus_latency_seconds".into(),
///     condition: AlertCondition::GreaterThan(0.5),
///     severity: AlertSeverity::High,
///     category: "consensus".into(),
///     evaluation_interval: Duration::from_secs(30),
///     tags: vec!["consensus".into()],
/// };
/// let system = AlertingSystem::new(AlertingConfig { predefined_rules: false, ..Default::default() });
/// system.add_rule(rule)?;
/// // A metric the registry does not know is refused, by name.
/// let typo = AlertRule { name: "Typo".into(), metric_name: "bitcraps_consensus_latncy".into(), ..Default::default() };
/// assert!(system.add_rule(typo).is_err());
/// # Ok::<(), bitcraps_otel::alerting::AlertError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRule {
    /// Unique name; the `alertname` label. A rule with a predefined rule's name replaces it.
    pub name: String,
    /// What the alert means, for humans (the `summary` annotation).
    pub description: String,
    /// A registered metric (OTel or Prometheus name, histogram `_sum`/`_count` series) or a
    /// derived metric (name, recording-rule name or alias).
    pub metric_name: String,
    /// What makes it active.
    pub condition: AlertCondition,
    /// How urgent.
    pub severity: AlertSeverity,
    /// Subsystem (`system`, `network`, `consensus`, `gaming`, `mobile`, `security`...).
    pub category: String,
    /// How often the rule is evaluated.
    pub evaluation_interval: Duration,
    /// Free-form tags, carried into notifications.
    pub tags: Vec<String>,
}

impl Default for AlertRule {
    fn default() -> Self {
        AlertRule {
            name: String::new(),
            description: String::new(),
            metric_name: String::new(),
            condition: AlertCondition::default(),
            severity: AlertSeverity::default(),
            category: "general".into(),
            evaluation_interval: Duration::from_secs(15),
            tags: Vec::new(),
        }
    }
}

impl AlertRule {
    /// This rule with `options`.
    pub fn with_options(self, options: RuleOptions) -> RuleDefinition {
        RuleDefinition { rule: self, options }
    }
}

/// What a rule can say beyond the reference's eight fields. The default selects every
/// series, alerts per series, fires at once and resolves at once.
///
/// ```
/// use std::collections::BTreeMap;
/// use std::time::Duration;
/// use bitcraps_otel::alerting::{AlertCondition, AlertRule, RuleOptions};
/// let options = RuleOptions {
///     for_duration: Duration::from_secs(120),  // pending this long before firing
///     resolve_delay: Duration::from_secs(300), // keep firing this long after it clears
///     labels: BTreeMap::from([("team".to_string(), "ledger".to_string())]),
///     ..Default::default()
/// };
/// let rule = AlertRule { name: "Forks".into(), metric_name: "bitcraps.consensus.forks".into(), ..Default::default() }
///     .with_options(options);
/// assert!(rule.options.enabled);
/// # let _ = AlertCondition::default();
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RuleOptions {
    /// Series selection.
    pub matchers: Vec<LabelMatcher>,
    /// Combine matched series; `None` alerts per series.
    pub aggregation: Option<Aggregation>,
    /// How long the condition must hold before the alert fires (pending until then).
    pub for_duration: Duration,
    /// How long the condition must stay clear before a firing alert resolves.
    pub resolve_delay: Duration,
    /// Extra labels on every alert of this rule (e.g. `team`).
    pub labels: BTreeMap<String, String>,
    /// Disabled rules are kept but never evaluated.
    pub enabled: bool,
}

impl Default for RuleOptions {
    fn default() -> Self {
        RuleOptions {
            matchers: Vec::new(),
            aggregation: None,
            for_duration: Duration::ZERO,
            resolve_delay: Duration::ZERO,
            labels: BTreeMap::new(),
            enabled: true,
        }
    }
}

/// A rule with its options: what the engine, the rules file and the Prometheus export use.
///
/// ```
/// use bitcraps_otel::alerting::{prometheus_rules, AlertCondition, AlertRule, RuleDefinition};
/// let rule: RuleDefinition = AlertRule {
///     name: "NoPeers".into(),
///     metric_name: "bitcraps_network_active_connections".into(),
///     condition: AlertCondition::LessThan(1.0),
///     ..Default::default()
/// }
/// .into();
/// // The same definition, as a Prometheus alerting rule.
/// let yaml = prometheus_rules(&[rule])?;
/// assert!(yaml.contains("alert: NoPeers"));
/// # Ok::<(), bitcraps_otel::alerting::AlertError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleDefinition {
    /// The rule.
    pub rule: AlertRule,
    /// Its options.
    pub options: RuleOptions,
}

impl From<AlertRule> for RuleDefinition {
    fn from(rule: AlertRule) -> Self {
        RuleDefinition { rule, options: RuleOptions::default() }
    }
}

/// Which value of a metric a rule reads.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Source {
    /// The series value; histograms give their mean (`_sum / _count`).
    Metric(&'static MetricDef),
    /// A histogram's `_count`.
    HistogramCount(&'static MetricDef),
    /// A histogram's `_sum`.
    HistogramSum(&'static MetricDef),
    /// A derived metric (one unlabelled series).
    Derived(&'static DerivedDef),
}

impl Source {
    /// Resolves a rule's metric name.
    pub(crate) fn resolve(name: &str) -> Option<Source> {
        if let Some(d) = semconv::lookup_derived(name) {
            return Some(Source::Derived(d));
        }
        if let Some(m) = semconv::lookup(name) {
            return Some(Source::Metric(m));
        }
        let m = semconv::lookup_series(name)?;
        if name.ends_with("_count") {
            Some(Source::HistogramCount(m))
        } else if name.ends_with("_sum") {
            Some(Source::HistogramSum(m))
        } else {
            None
        }
    }

    /// The raw metric behind it, if not derived.
    pub(crate) fn metric(self) -> Option<&'static MetricDef> {
        match self {
            Source::Metric(m) | Source::HistogramCount(m) | Source::HistogramSum(m) => Some(m),
            Source::Derived(_) => None,
        }
    }

    /// Whether values only grow (counters, histogram counts and sums).
    pub(crate) fn cumulative(self) -> bool {
        match self {
            Source::Metric(m) => m.instrument == Instrument::Counter,
            Source::HistogramCount(_) | Source::HistogramSum(_) => true,
            Source::Derived(_) => false,
        }
    }

    /// Whether the value read is a histogram's mean (a histogram named alone).
    pub(crate) fn is_histogram_mean(self) -> bool {
        matches!(self, Source::Metric(m) if m.instrument == Instrument::Histogram)
    }

    /// The PromQL series name.
    pub(crate) fn prometheus_name(self) -> String {
        match self {
            Source::Metric(m) => m.prometheus_name.to_string(),
            Source::HistogramCount(m) => format!("{}_count", m.prometheus_name),
            Source::HistogramSum(m) => format!("{}_sum", m.prometheus_name),
            Source::Derived(d) => d.prometheus_name.to_string(),
        }
    }
}

/// A rule checked against the registry, with label names normalised.
#[derive(Clone, Debug)]
pub(crate) struct CompiledRule {
    pub(crate) rule: AlertRule,
    pub(crate) options: RuleOptions,
    pub(crate) source: Source,
    /// Denominator of a ratio condition.
    pub(crate) denominator: Option<Source>,
    /// The matchers whose labels the denominator also has (e.g. `cache` for hits/misses).
    pub(crate) denominator_matchers: Vec<LabelMatcher>,
    pub(crate) matchers: Vec<LabelMatcher>,
    pub(crate) by: Vec<String>,
}

/// The Prometheus label for a label or attribute name.
pub(crate) fn normalize_label(name: &str) -> String {
    semconv::ATTRIBUTES
        .iter()
        .find(|a| a.id == name)
        .map(|a| a.prometheus_label.to_string())
        .unwrap_or_else(|| name.replace(['.', '-'], "_"))
}

fn invalid(rule: &AlertRule, field: &'static str, reason: impl Into<String>) -> AlertError {
    AlertError::InvalidRule { rule: rule.name.clone(), field, reason: reason.into() }
}

impl CompiledRule {
    /// Checks `rule` and resolves its names. Unknown metrics are rejected with their name.
    pub(crate) fn compile(def: impl Into<RuleDefinition>) -> Result<CompiledRule, AlertError> {
        let RuleDefinition { rule, options } = def.into();
        if rule.name.trim().is_empty() {
            return Err(invalid(&rule, "name", "a rule needs a name"));
        }
        let source = Source::resolve(&rule.metric_name)
            .ok_or_else(|| AlertError::UnknownMetric { rule: rule.name.clone(), metric: rule.metric_name.clone() })?;
        use super::limits::{at_most, positive_at_most, MAX_EVALUATION_INTERVAL, MAX_HOLD};
        positive_at_most(rule.evaluation_interval, MAX_EVALUATION_INTERVAL)
            .map_err(|reason| invalid(&rule, "every", reason))?;
        at_most(options.for_duration, MAX_HOLD).map_err(|reason| invalid(&rule, "for", reason))?;
        at_most(options.resolve_delay, MAX_HOLD).map_err(|reason| invalid(&rule, "keep_firing_for", reason))?;
        rule.condition.validate().map_err(|(field, reason)| invalid(&rule, field, reason))?;
        if matches!((&rule.condition, source), (super::AlertCondition::Ratio { .. }, Source::Derived(_))) {
            return Err(invalid(&rule, "condition", "a ratio divides raw metrics; a derived metric already is one"));
        }
        let ratio_of_means = matches!(&rule.condition, super::AlertCondition::Ratio { denominator, .. }
            if source.is_histogram_mean() || Source::resolve(denominator).is_some_and(Source::is_histogram_mean));
        if ratio_of_means {
            return Err(invalid(
                &rule,
                "condition",
                "a ratio divides counts; name a histogram's `_count` or `_sum` series, not the histogram",
            ));
        }
        let denominator = match &rule.condition {
            super::AlertCondition::Ratio { denominator, .. } => {
                Some(Source::resolve(denominator).ok_or_else(|| AlertError::UnknownMetric {
                    rule: rule.name.clone(),
                    metric: denominator.clone(),
                })?)
            }
            super::AlertCondition::Rate { .. } if !source.cumulative() => {
                return Err(invalid(
                    &rule,
                    "condition",
                    format!("a rate needs a counter; `{}` is not one", rule.metric_name),
                ))
            }
            _ => None,
        };
        let matchers: Vec<LabelMatcher> = options
            .matchers
            .iter()
            .map(|m| LabelMatcher { name: normalize_label(&m.name), op: m.op, value: m.value.clone() })
            .collect();
        if let (Source::Derived(_), false) = (source, matchers.is_empty()) {
            return Err(invalid(&rule, "matchers", "a derived metric is one unlabelled series; it takes no matchers"));
        }
        let by: Vec<String> =
            options.aggregation.as_ref().map(|a| a.by.iter().map(|l| normalize_label(l)).collect()).unwrap_or_default();
        // The rule sets these on every alert; grouping by one would merge the groups into one
        // alert (and Prometheus would refuse the duplicate label sets).
        if let Some(clash) = by
            .iter()
            .find(|l| ["alertname", "severity", "category"].contains(&l.as_str()) || options.labels.contains_key(*l))
        {
            return Err(invalid(
                &rule,
                "by",
                format!("`{clash}` is set by the rule on every alert; grouping by it would merge the groups"),
            ));
        }
        // Per-series alerts keep the series' labels, except those the rule sets: two series
        // differing only there would become one alert (and Prometheus refuses such rules).
        let per_series =
            !matches!(rule.condition, super::AlertCondition::Ratio { .. } | super::AlertCondition::Absent { .. });
        if options.aggregation.is_none() && per_series {
            let set_by_rule =
                |l: &str| ["alertname", "severity", "category"].contains(&l) || options.labels.contains_key(l);
            let pinned = |l: &str| matchers.iter().any(|m| m.name == l && m.op == MatchOp::Equal);
            if let Some(clash) =
                source.metric().and_then(|m| m.prometheus_labels().find(|l| set_by_rule(l) && !pinned(l)))
            {
                return Err(invalid(
                    &rule,
                    "match",
                    format!(
                        "`{}` has a `{clash}` label, which the rule sets on its alerts: aggregate it (`aggregate: sum`) or match one value",
                        rule.metric_name
                    ),
                ));
            }
        }
        let denominator_matchers = denominator
            .and_then(Source::metric)
            .map(|d| matchers.iter().filter(|m| d.prometheus_labels().any(|l| l == m.name)).cloned().collect())
            .unwrap_or_default();
        Ok(CompiledRule { rule, options, source, denominator, denominator_matchers, matchers, by })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_through_the_registry() {
        assert!(matches!(Source::resolve("gaming_error_rate"), Some(Source::Derived(_))));
        assert!(matches!(Source::resolve("bitcraps.cpu.usage"), Some(Source::Metric(_))));
        assert!(matches!(Source::resolve("bitcraps_cpu_usage_percent"), Some(Source::Metric(_))));
        assert!(matches!(Source::resolve("bitcraps_network_latency_seconds_count"), Some(Source::HistogramCount(_))));
        assert!(Source::resolve("bitcraps_cpu_usage_percent_count").is_none());
        assert_eq!(normalize_label("error.category"), "category");
        assert_eq!(normalize_label("transport"), "transport");
    }

    #[test]
    fn unknown_metrics_are_rejected_by_name() {
        let rule = AlertRule { name: "x".into(), metric_name: "bitcraps_nope".into(), ..Default::default() };
        let err = CompiledRule::compile(rule).expect_err("unknown metric");
        assert!(err.to_string().contains("bitcraps_nope"), "{err}");
    }
}
