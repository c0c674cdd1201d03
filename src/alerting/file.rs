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
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Channels that exist without a `channels:` entry: `log`, the node's own log.
pub const BUILTIN_CHANNELS: [&str; 1] = ["log"];
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
    /// The routing to run: the file's, plus the predefined inhibitions whose two rules are
    /// both among [`effective_rules`](Self::effective_rules).
    pub fn effective_routing(&self) -> RoutingConfig {
        let mut routing = self.routing.clone();
        if self.predefined {
            let names: BTreeSet<String> = self.effective_rules(Some(1)).into_iter().map(|r| r.rule.name).collect();
            let named = |ms: &[super::Matcher]| ms.iter().any(|m| m.name() == "alertname" && names.contains(m.value()));
            routing.inhibit_rules.extend(
                super::predefined::predefined_inhibitions()
                    .into_iter()
                    .filter(|r| named(&r.source) && named(&r.target)),
            );
        }
        routing
    }

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
    /// Larger than [`MAX_RULES_FILE_BYTES`](super::limits::MAX_RULES_FILE_BYTES); not parsed.
    #[error("{path}: {bytes} bytes; a rules file is at most {} bytes", super::limits::MAX_RULES_FILE_BYTES)]
    TooLarge {
        /// The file.
        path: String,
        /// Its size (or the cap plus one, when read from disk).
        bytes: usize,
    },
    /// Nested deeper than [`MAX_NESTING`](super::limits::MAX_NESTING); not parsed.
    #[error("{path}:{line}: nested more than {} levels deep", super::limits::MAX_NESTING)]
    TooDeep {
        /// The file.
        path: String,
        /// 1-based line where the nesting passes the cap.
        line: usize,
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
    fallback_channel: Option<String>,
    default_channels: Option<Vec<String>>,
    #[serde(default)]
    inhibit_rules: Vec<InhibitSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InhibitSpec {
    #[serde(default)]
    source_matchers: Vec<String>,
    #[serde(default)]
    target_matchers: Vec<String>,
    #[serde(default)]
    equal: Vec<String>,
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

/// Reads and checks a rules file. Never reads more than
/// [`MAX_RULES_FILE_BYTES`](super::limits::MAX_RULES_FILE_BYTES) (plus one byte, to know).
pub fn load_rules_file(path: impl AsRef<Path>) -> Result<RuleSet, RuleFileError> {
    use std::io::Read;
    let path = path.as_ref();
    let io = |source| RuleFileError::Io { path: path.display().to_string(), source };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(super::limits::MAX_RULES_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        io(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8: {}", e.utf8_error())))
    })?;
    parse_rules(&path.display().to_string(), &text)
}

/// Parses and checks rules YAML; `origin` names it in errors. `${VAR}`s in channels come
/// from the process environment. The size and the nesting are checked before the YAML
/// parser runs (see [`super::limits`]).
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
    match super::yamlguard::check(text) {
        Ok(()) => {}
        Err(super::yamlguard::Refusal::TooLarge(bytes)) => {
            return Err(RuleFileError::TooLarge { path: origin.to_string(), bytes })
        }
        Err(super::yamlguard::Refusal::TooDeep(line)) => {
            return Err(RuleFileError::TooDeep { path: origin.to_string(), line })
        }
    }
    let spec: FileSpec = serde_yaml::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        let reason = e.to_string();
        let reason = match reason.rfind(" at line ") {
            Some(i) => reason[..i].to_string(),
            None => reason,
        };
        let reason = super::yamlguard::without_values(&reason);
        RuleFileError::Syntax { path: origin.to_string(), line, column, reason }
    })?;
    let locator = Locator { origin, text };
    let mut rules = Vec::with_capacity(spec.rules.len());
    let mut names = std::collections::HashSet::with_capacity(spec.rules.len());
    for (i, r) in spec.rules.into_iter().enumerate() {
        let rule = rule_from_spec(r).map_err(|(field, reason)| locator.error("rules", i, &field, reason))?;
        if !names.insert(rule.rule.name.clone()) {
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
    let channels = super::channels::parse_channels(spec.channels, env).map_err(|e| {
        let (channel, field, reason) = e.parts();
        locator.keyed_error(channel, &format!("channels.{channel}.{field}"), reason.to_string())
    })?;
    let known: BTreeSet<&str> = channels.iter().map(|c| c.name.as_str()).chain(BUILTIN_CHANNELS).collect();
    let unknown = |name: &str| {
        let defined: Vec<&str> = known.iter().copied().collect();
        format!("no channel named `{name}` (defined: {}; add it under `channels:`)", defined.join(", "))
    };
    let mut escalations = BTreeMap::new();
    for (name, tiers) in spec.escalations {
        let mut out = Vec::new();
        for (t, tier) in tiers.into_iter().enumerate() {
            let after = duration(&tier.after)
                .and_then(|d| super::limits::at_most(d, super::limits::MAX_ESCALATION_AFTER).map(|()| d))
                .map_err(|reason| locator.keyed_error(&name, &format!("escalations.{name}[{t}].after"), reason))?;
            if tier.channels.is_empty() {
                return Err(locator.keyed_error(
                    &name,
                    &format!("escalations.{name}[{t}].channels"),
                    "list at least one channel".into(),
                ));
            }
            if let Some(c) = tier.channels.iter().find(|c| !known.contains(c.as_str())) {
                return Err(locator.keyed_error(&name, &format!("escalations.{name}[{t}].channels"), unknown(c)));
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
    if let Some(c) = spec.fallback_channel.as_deref().filter(|c| !known.contains(c)) {
        return Err(locator.keyed_error("fallback_channel", "fallback_channel", unknown(c)));
    }
    if let Some(c) = spec.default_channels.iter().flatten().find(|c| !known.contains(c.as_str())) {
        return Err(locator.keyed_error("default_channels", "default_channels", unknown(c)));
    }
    let mut inhibit_rules = Vec::with_capacity(spec.inhibit_rules.len());
    for (i, r) in spec.inhibit_rules.into_iter().enumerate() {
        let parse = |field: &str, texts: &[String]| -> Result<Vec<super::Matcher>, RuleFileError> {
            texts
                .iter()
                .map(|t| super::Matcher::parse(t))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| locator.error("inhibit_rules", i, field, e.to_string()))
        };
        let source = parse("source_matchers", &r.source_matchers)?;
        let target = parse("target_matchers", &r.target_matchers)?;
        if source.is_empty() || target.is_empty() {
            return Err(locator.error(
                "inhibit_rules",
                i,
                "source_matchers",
                "give source_matchers and target_matchers (an empty list would match every alert)".into(),
            ));
        }
        inhibit_rules.push(super::InhibitRule { source, target, equal: r.equal });
    }
    let channel_policies = channels.iter().map(|c| (c.name.clone(), c.policy)).collect();
    Ok(RuleSet {
        predefined: spec.predefined,
        disable: spec.disable,
        rules,
        routing: RoutingConfig {
            routes,
            default_route,
            escalations,
            fallback_channel: spec.fallback_channel,
            default_channels: spec.default_channels,
            inhibit_rules,
            channel_policies,
        },
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
    use super::limits::{at_most, MAX_GROUP_INTERVAL, MAX_REPEAT_INTERVAL};
    let d = Route::default();
    let bounded = |field: &str, s: &Option<String>, max, default| -> Result<Duration, FieldError> {
        let v = opt_duration(field, s)?.unwrap_or(default);
        at_most(v, max).map_err(|e| (field.to_string(), e))?;
        Ok(v)
    };
    Ok(Route {
        matchers: matchers(&r.matchers),
        group_by: r.group_by.unwrap_or(d.group_by),
        group_wait: bounded("group_wait", &r.group_wait, MAX_GROUP_INTERVAL, d.group_wait)?,
        group_interval: bounded("group_interval", &r.group_interval, MAX_GROUP_INTERVAL, d.group_interval)?,
        repeat_interval: bounded("repeat_interval", &r.repeat_interval, MAX_REPEAT_INTERVAL, d.repeat_interval)?,
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
