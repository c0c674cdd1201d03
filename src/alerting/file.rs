//! Rules, routes and escalation policies as YAML. Errors point at the line and field:
//! syntax and type errors through the YAML parser's location, rule errors (unknown metric,
//! bad threshold, unknown policy) by finding the offending entry in the text.
//!
//! ```
//! use bitcraps_otel::alerting::parse_rules;
//!
//! let set = parse_rules("inline", "
//! rules:
//!   - name: HighGameErrorRate
//!     metric: gaming_error_rate
//!     condition: { greater_than: 0.05 }
//!     severity: high
//!     category: gaming
//!     for: 2m
//! ").expect("valid");
//! assert_eq!(set.rules[0].options.for_duration.as_secs(), 120);
//!
//! let bad = "rules:\n  - name: X\n    metric: bitcraps_nope\n    condition: { greater_than: 1 }\n";
//! let err = parse_rules("bad.yml", bad).unwrap_err();
//! assert_eq!(err.to_string(), "bad.yml:3: rules[0].metric: unknown metric `bitcraps_nope` (not in the semconv registry)");
//! ```

use super::condition::{AlertCondition, Threshold};
use super::route::{EscalationPolicy, EscalationTier, Route, RoutingConfig};
use super::rule::{
    Aggregation, AggregationOp, AlertRule, AlertSeverity, CompiledRule, LabelMatcher, RuleDefinition, RuleOptions,
};
use super::AlertError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// A rules file, read.
///
/// ```
/// use bitcraps_otel::alerting::{parse_rules, AlertingConfig, AlertingSystem};
/// let set = parse_rules("inline", "
/// predefined: false
/// rules:
///   - name: NoPeers
///     metric: bitcraps_network_active_connections
///     condition: { less_than: 1 }
///     severity: high
///     category: network
/// ")?;
/// assert_eq!(set.rules.len(), 1);
/// let system = AlertingSystem::new(AlertingConfig::default());
/// system.apply(&set)?; // replaces the rules and routing in force
/// assert_eq!(system.rules().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleSet {
    /// Whether the predefined rules are loaded as well (default true).
    pub predefined: bool,
    /// Predefined rules to leave out, by name.
    pub disable: Vec<String>,
    /// The file's rules; one named like a predefined rule replaces it.
    pub rules: Vec<RuleDefinition>,
    /// Routes, grouping and escalation.
    pub routing: RoutingConfig,
    /// Notification channels of the `channels:` section (register them with
    /// [`super::channels::register_channels`]).
    pub channels: Vec<super::channels::ChannelConfig>,
}

impl RuleSet {
    /// The rules to run: the predefined ones (unless disabled or replaced), then the file's.
    pub fn effective_rules(&self, memory_limit: Option<u64>) -> Vec<RuleDefinition> {
        let mut out: Vec<RuleDefinition> = if self.predefined {
            super::predefined::predefined_rules(memory_limit)
                .into_iter()
                .filter(|p| {
                    !self.disable.contains(&p.rule.name) && !self.rules.iter().any(|r| r.rule.name == p.rule.name)
                })
                .collect()
        } else {
            Vec::new()
        };
        out.extend(self.rules.iter().cloned());
        out
    }
}

/// A rules file that cannot be used. The message starts with `path:line`.
#[derive(Debug, thiserror::Error)]
pub enum RuleFileError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Not YAML, or a field of the wrong type, or an unknown field.
    #[error("{path}:{line}:{column}: {reason}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's reason, with the field path (e.g. `rules[2].severity: ...`).
        reason: String,
    },
    /// Well-formed, but a value is not acceptable.
    #[error("{path}:{line}: {field}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line of the field (or of its entry).
        line: usize,
        /// Field path, e.g. `rules[0].metric`.
        field: String,
        /// Why.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default = "yes")]
    predefined: bool,
    #[serde(default)]
    disable: Vec<String>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
    #[serde(default)]
    routes: Vec<RouteSpec>,
    default_route: Option<RouteSpec>,
    #[serde(default)]
    escalations: BTreeMap<String, Vec<TierSpec>>,
    #[serde(default)]
    channels: BTreeMap<String, serde_yaml::Value>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    name: String,
    #[serde(default)]
    description: String,
    metric: String,
    condition: ConditionSpec,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    category: Option<String>,
    every: Option<String>,
    #[serde(rename = "for")]
    for_: Option<String>,
    keep_firing_for: Option<String>,
    #[serde(default, rename = "match")]
    matchers: BTreeMap<String, String>,
    aggregate: Option<String>,
    #[serde(default)]
    by: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default = "yes")]
    enabled: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConditionSpec {
    greater_than: Option<f64>,
    less_than: Option<f64>,
    equal: Option<f64>,
    not_equal: Option<f64>,
    outside: Option<[f64; 2]>,
    rate_over: Option<String>,
    ratio_to: Option<String>,
    window: Option<String>,
    absent_for: Option<String>,
    anomaly: Option<AnomalySpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnomalySpec {
    #[serde(default = "three")]
    deviations: f64,
    #[serde(default = "alpha")]
    alpha: f64,
    #[serde(default = "warmup")]
    warmup: u32,
}

fn three() -> f64 {
    3.0
}
fn alpha() -> f64 {
    0.1
}
fn warmup() -> u32 {
    20
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    #[serde(default, rename = "match")]
    matchers: BTreeMap<String, String>,
    group_by: Option<Vec<String>>,
    group_wait: Option<String>,
    group_interval: Option<String>,
    repeat_interval: Option<String>,
    #[serde(default)]
    escalation: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierSpec {
    after: String,
    channels: Vec<String>,
}

/// Reads and checks a rules file.
pub fn load_rules_file(path: impl AsRef<Path>) -> Result<RuleSet, RuleFileError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|source| RuleFileError::Io { path: path.display().to_string(), source })?;
    parse_rules(&path.display().to_string(), &text)
}

/// Parses and checks rules YAML; `origin` names it in errors. `${VAR}`s in channels come
/// from the process environment.
pub fn parse_rules(origin: &str, text: &str) -> Result<RuleSet, RuleFileError> {
    parse_rules_with_env(origin, text, &|var| std::env::var(var).ok())
}

/// [`parse_rules`] with `${VAR}`s in channels resolved through `env`. Generators that must
/// not see secret values pass `&|var| Some(format!("${{{var}}}"))`, which keeps the references.
pub fn parse_rules_with_env(
    origin: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<RuleSet, RuleFileError> {
    let spec: FileSpec = serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        let reason = e.to_string();
        let reason = match reason.rfind(" at line ") {
            Some(i) => reason[..i].to_string(),
            None => reason,
        };
        RuleFileError::Syntax { path: origin.to_string(), line, column, reason }
    })?;
    let locator = Locator { origin, text };
    let mut rules = Vec::with_capacity(spec.rules.len());
    for (i, r) in spec.rules.into_iter().enumerate() {
        let rule = rule_from_spec(r).map_err(|(field, reason)| locator.error("rules", i, &field, reason))?;
        if rules.iter().any(|x: &RuleDefinition| x.rule.name == rule.rule.name) {
            return Err(locator.error("rules", i, "name", format!("a second rule is named `{}`", rule.rule.name)));
        }
        let compiled = CompiledRule::compile(rule).map_err(|e| match e {
            AlertError::UnknownMetric { metric, .. } => {
                let field = if text_has_key_value(text, "ratio_to", &metric) { "condition.ratio_to" } else { "metric" };
                locator.error("rules", i, field, format!("unknown metric `{metric}` (not in the semconv registry)"))
            }
            AlertError::InvalidRule { field, reason, .. } => locator.error("rules", i, field, reason),
            other => locator.error("rules", i, "name", other.to_string()),
        })?;
        rules.push(RuleDefinition { rule: compiled.rule, options: compiled.options });
    }
    let mut escalations = BTreeMap::new();
    for (name, tiers) in spec.escalations {
        let mut out = Vec::new();
        for (t, tier) in tiers.into_iter().enumerate() {
            let after = duration(&tier.after)
                .map_err(|reason| locator.keyed_error(&name, &format!("escalations.{name}[{t}].after"), reason))?;
            if tier.channels.is_empty() {
                return Err(locator.keyed_error(
                    &name,
                    &format!("escalations.{name}[{t}].channels"),
                    "list at least one channel".into(),
                ));
            }
            out.push(EscalationTier { after, channels: tier.channels });
        }
        escalations.insert(name, EscalationPolicy::new(out));
    }
    let mut routes = Vec::new();
    for (i, r) in spec.routes.into_iter().enumerate() {
        routes.push(route_from_spec(r, &escalations).map_err(|(f, reason)| locator.error("routes", i, &f, reason))?);
    }
    let default_route = match spec.default_route {
        Some(r) => route_from_spec(r, &escalations)
            .map_err(|(f, reason)| locator.keyed_error("default_route", &format!("default_route.{f}"), reason))?,
        None => Route::default(),
    };
    let channels = super::channels::parse_channels(spec.channels, env).map_err(|e| {
        let (channel, field, reason) = e.parts();
        locator.keyed_error(channel, &format!("channels.{channel}.{field}"), reason.to_string())
    })?;
    Ok(RuleSet {
        predefined: spec.predefined,
        disable: spec.disable,
        rules,
        routing: RoutingConfig { routes, default_route, escalations },
        channels,
    })
}

fn text_has_key_value(text: &str, key: &str, value: &str) -> bool {
    text.lines().any(|l| l.contains(&format!("{key}:")) && l.contains(value))
}

type FieldError = (String, String);

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("`{s}` is not a duration (e.g. 30s, 5m, 1h): {e}"))
}

fn opt_duration(field: &str, s: &Option<String>) -> Result<Option<Duration>, FieldError> {
    s.as_deref().map(duration).transpose().map_err(|e| (field.to_string(), e))
}

fn matchers(map: &BTreeMap<String, String>) -> Vec<LabelMatcher> {
    map.iter()
        .map(|(k, v)| match v.strip_prefix("!=") {
            Some(rest) => LabelMatcher::ne(k.clone(), rest.to_string()),
            None => LabelMatcher::eq(k.clone(), v.strip_prefix('=').unwrap_or(v).to_string()),
        })
        .collect()
}

fn rule_from_spec(r: RuleSpec) -> Result<RuleDefinition, FieldError> {
    let c = &r.condition;
    let thresholds: Vec<Threshold> = [
        c.greater_than.map(Threshold::GreaterThan),
        c.less_than.map(Threshold::LessThan),
        c.equal.map(Threshold::Equal),
        c.not_equal.map(Threshold::NotEqual),
        c.outside.map(|[low, high]| Threshold::OutsideRange { low, high }),
    ]
    .into_iter()
    .flatten()
    .collect();
    let kinds = [c.rate_over.is_some(), c.ratio_to.is_some(), c.absent_for.is_some(), c.anomaly.is_some()];
    if kinds.iter().filter(|k| **k).count() > 1 {
        return Err(("condition".into(), "use at most one of rate_over, ratio_to, absent_for, anomaly".into()));
    }
    let needs_threshold = c.absent_for.is_none() && c.anomaly.is_none();
    if needs_threshold && thresholds.len() != 1 {
        return Err((
            "condition".into(),
            "give exactly one of greater_than, less_than, equal, not_equal, outside".into(),
        ));
    }
    if !needs_threshold && !thresholds.is_empty() {
        return Err(("condition".into(), "absent_for and anomaly take no threshold".into()));
    }
    if c.window.is_some() && c.ratio_to.is_none() {
        return Err(("condition.window".into(), "window goes with ratio_to (rate_over carries its own)".into()));
    }
    let window = opt_duration("condition.window", &c.window)?;
    let condition = if let Some(w) = opt_duration("condition.rate_over", &c.rate_over)? {
        AlertCondition::Rate { window: w, threshold: thresholds[0] }
    } else if let Some(den) = &c.ratio_to {
        AlertCondition::Ratio { denominator: den.clone(), window, threshold: thresholds[0] }
    } else if let Some(d) = opt_duration("condition.absent_for", &c.absent_for)? {
        AlertCondition::Absent { duration: d }
    } else if let Some(a) = &c.anomaly {
        AlertCondition::Anomaly { deviations: a.deviations, alpha: a.alpha, warmup: a.warmup }
    } else {
        match thresholds[0] {
            Threshold::GreaterThan(b) => AlertCondition::GreaterThan(b),
            Threshold::LessThan(b) => AlertCondition::LessThan(b),
            Threshold::Equal(b) => AlertCondition::Equal(b),
            Threshold::NotEqual(b) => AlertCondition::NotEqual(b),
            Threshold::OutsideRange { low, high } => AlertCondition::OutsideRange { low, high },
        }
    };
    let severity = match &r.severity {
        None => AlertSeverity::default(),
        Some(s) => AlertSeverity::parse(s).ok_or_else(|| {
            ("severity".to_string(), format!("`{s}` is not one of info, low, medium, high, critical"))
        })?,
    };
    let aggregation = match r.aggregate.as_deref() {
        None if r.by.is_empty() => None,
        None => return Err(("by".into(), "`by` needs `aggregate`".into())),
        Some(op) => {
            let op = match op {
                "sum" => AggregationOp::Sum,
                "avg" => AggregationOp::Avg,
                "max" => AggregationOp::Max,
                "min" => AggregationOp::Min,
                other => return Err(("aggregate".into(), format!("`{other}` is not one of sum, avg, max, min"))),
            };
            Some(Aggregation { op, by: r.by.clone() })
        }
    };
    let defaults = AlertRule::default();
    let rule = AlertRule {
        name: r.name,
        description: r.description,
        metric_name: r.metric,
        condition,
        severity,
        category: r.category.unwrap_or(defaults.category),
        evaluation_interval: opt_duration("every", &r.every)?.unwrap_or(defaults.evaluation_interval),
        tags: r.tags,
    };
    Ok(rule.with_options(RuleOptions {
        matchers: matchers(&r.matchers),
        aggregation,
        for_duration: opt_duration("for", &r.for_)?.unwrap_or_default(),
        resolve_delay: opt_duration("keep_firing_for", &r.keep_firing_for)?.unwrap_or_default(),
        labels: r.labels,
        enabled: r.enabled,
    }))
}

fn route_from_spec(r: RouteSpec, escalations: &BTreeMap<String, EscalationPolicy>) -> Result<Route, FieldError> {
    if !r.escalation.is_empty() && !escalations.contains_key(&r.escalation) {
        return Err(("escalation".into(), format!("no escalation policy named `{}`", r.escalation)));
    }
    let d = Route::default();
    Ok(Route {
        matchers: matchers(&r.matchers),
        group_by: r.group_by.unwrap_or(d.group_by),
        group_wait: opt_duration("group_wait", &r.group_wait)?.unwrap_or(d.group_wait),
        group_interval: opt_duration("group_interval", &r.group_interval)?.unwrap_or(d.group_interval),
        repeat_interval: opt_duration("repeat_interval", &r.repeat_interval)?.unwrap_or(d.repeat_interval),
        escalation: r.escalation,
    })
}

/// Finds lines of list entries and their fields in the source text.
struct Locator<'a> {
    origin: &'a str,
    text: &'a str,
}

impl Locator<'_> {
    /// 0-based line ranges of the entries of the top-level list `key`.
    fn entries(&self, key: &str) -> Vec<(usize, usize)> {
        let lines: Vec<&str> = self.text.lines().collect();
        let Some(start) = lines.iter().position(|l| l.trim_end() == format!("{key}:")) else { return Vec::new() };
        let mut starts = Vec::new();
        let mut indent = None;
        let mut end = lines.len();
        for (n, l) in lines.iter().enumerate().skip(start + 1) {
            let trimmed = l.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let ind = l.len() - trimmed.len();
            if ind == 0 && !trimmed.starts_with('-') {
                end = n;
                break;
            }
            if trimmed.starts_with("- ") || trimmed == "-" {
                match indent {
                    None => {
                        indent = Some(ind);
                        starts.push(n);
                    }
                    Some(i) if i == ind => starts.push(n),
                    _ => {}
                }
            }
        }
        starts.iter().enumerate().map(|(i, s)| (*s, starts.get(i + 1).copied().unwrap_or(end))).collect()
    }

    /// Line (1-based) of `field` (last dotted part) inside `range`, else the range start.
    fn find(&self, range: (usize, usize), field: &str) -> usize {
        let leaf = field.rsplit('.').next().unwrap_or(field);
        self.text
            .lines()
            .enumerate()
            .skip(range.0)
            .take(range.1.saturating_sub(range.0))
            .find(|(_, l)| {
                let t = l.trim_start().trim_start_matches("- ");
                t.starts_with(&format!("{leaf}:"))
                    || t.contains(&format!("{{ {leaf}:"))
                    || t.contains(&format!("{{{leaf}:"))
                    || t.contains(&format!(", {leaf}:"))
            })
            .map_or(range.0, |(n, _)| n)
            + 1
    }

    fn error(&self, list: &str, index: usize, field: &str, reason: String) -> RuleFileError {
        let line = self.entries(list).get(index).map_or(1, |r| self.find(*r, field));
        RuleFileError::Invalid {
            path: self.origin.to_string(),
            line,
            field: format!("{list}[{index}].{field}"),
            reason,
        }
    }

    fn keyed_error(&self, key: &str, field: &str, reason: String) -> RuleFileError {
        let line = self.text.lines().position(|l| l.trim_start().starts_with(&format!("{key}:"))).map_or(1, |n| n + 1);
        RuleFileError::Invalid { path: self.origin.to_string(), line, field: field.to_string(), reason }
    }
}
