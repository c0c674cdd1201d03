//! PromQL for what a compiled rule means: each expression keeps exactly the labels the engine
//! puts on its alerts (the series' attributes, or the `by` labels, plus the node's identity
//! labels), so both runtimes give one alert the same identity; `job`, `instance` and any other
//! scrape-time label are aggregated away.

use super::condition::{anomaly_rate_window, num, AlertCondition, HISTOGRAM_MEAN_WINDOW};
use super::rule::{CompiledRule, MatchOp, Source};
use crate::semconv::{Derivation, DerivedDef, DerivedTerm, Instrument};
use std::time::Duration;

/// The series every node exposes, used to say "this node is up" and to give a 0 where a
/// term has no series yet.
pub(crate) const UP_SERIES: &str = "bitcraps_uptime_seconds";

/// A duration as PromQL writes it (`90s`, `5m`, `1h`, `250ms`).
pub(crate) fn prom_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 != 0 {
        format!("{ms}ms")
    } else {
        let s = d.as_secs();
        if s > 0 && s % 3600 == 0 {
            format!("{}h", s / 3600)
        } else if s > 0 && s % 60 == 0 {
            format!("{}m", s / 60)
        } else {
            format!("{s}s")
        }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

pub(crate) fn selector(name: &str, matchers: &[(String, MatchOp, String)]) -> String {
    if matchers.is_empty() {
        return name.to_string();
    }
    let m: Vec<String> = matchers
        .iter()
        .map(|(k, op, v)| format!("{k}{}\"{}\"", if *op == MatchOp::Equal { "=" } else { "!=" }, escape(v)))
        .collect();
    format!("{name}{{{}}}", m.join(", "))
}

/// The labels that make an alert a node's: kept through every aggregation.
#[derive(Clone, Debug)]
pub(crate) struct Identity<'a>(pub(crate) &'a [String]);

impl Identity<'_> {
    /// `a, b, c` of `extra` then the identity labels, without repeats.
    fn by(&self, extra: impl IntoIterator<Item = String>) -> String {
        let mut out: Vec<String> = Vec::new();
        for l in extra.into_iter().chain(self.0.iter().cloned()) {
            if !out.contains(&l) {
                out.push(l);
            }
        }
        out.join(", ")
    }

    /// A 0 for every node that is up, so sums of absent terms are 0 rather than nothing.
    fn zero(&self) -> String {
        format!("(group by ({}) ({UP_SERIES}) * 0)", self.by([]))
    }

    /// `sum by (identity) (inner)`, or 0 for nodes without such series (the engine sums
    /// nothing to 0).
    fn sum_or_zero(&self, inner: &str) -> String {
        format!("(sum by ({}) ({inner}) or {})", self.by([]), self.zero())
    }
}

fn term_sum(id: &Identity<'_>, term: &DerivedTerm, f: &dyn Fn(&str) -> String) -> String {
    let m: Vec<(String, MatchOp, String)> =
        term.matchers.iter().map(|(k, v)| (k.to_string(), MatchOp::Equal, v.to_string())).collect();
    id.sum_or_zero(&f(&selector(term.metric.prometheus_name, &m)))
}

fn terms_sum(id: &Identity<'_>, terms: &[DerivedTerm], f: &dyn Fn(&str) -> String) -> String {
    terms.iter().map(|t| term_sum(id, t, f)).collect::<Vec<_>>().join(" + ")
}

/// The expression of a derived metric, per node.
pub(crate) fn derived_expr(d: &DerivedDef, id: &Identity<'_>) -> String {
    let w = prom_duration(d.window());
    let increase = |s: &str| format!("increase({s}[{w}])");
    let rate = |s: &str| format!("rate({s}[{w}])");
    let plain = |s: &str| s.to_string();
    match (d.derivation, d.window_seconds) {
        (Derivation::Rate, _) => terms_sum(id, d.numerator, &rate),
        (Derivation::Ratio, 0) => {
            format!("({}) / (({}) != 0)", terms_sum(id, d.numerator, &plain), terms_sum(id, d.denominator, &plain))
        }
        (Derivation::Ratio, _) => {
            format!("({}) / (({}) > 0)", terms_sum(id, d.numerator, &increase), terms_sum(id, d.denominator, &increase))
        }
    }
}

/// Expressions of one rule.
pub(crate) struct RuleExprs<'a> {
    c: &'a CompiledRule,
    id: Identity<'a>,
    matchers: Vec<(String, MatchOp, String)>,
}

impl<'a> RuleExprs<'a> {
    pub(crate) fn new(c: &'a CompiledRule, identity: &'a [String]) -> Self {
        let matchers = c.matchers.iter().map(|m| (m.name.clone(), m.op, m.value.clone())).collect();
        RuleExprs { c, id: Identity(identity), matchers }
    }

    /// The series of `s` as the engine reads them (a histogram alone is its recent mean).
    fn sel(&self, s: Source) -> String {
        match s {
            Source::Metric(def) if def.instrument == Instrument::Histogram => {
                let w = prom_duration(HISTOGRAM_MEAN_WINDOW);
                format!(
                    "(rate({}[{w}]) / rate({}[{w}]))",
                    selector(&format!("{}_sum", def.prometheus_name), &self.matchers),
                    selector(&format!("{}_count", def.prometheus_name), &self.matchers)
                )
            }
            Source::Derived(d) => format!("({})", derived_expr(d, &self.id)),
            other => selector(&other.prometheus_name(), &self.matchers),
        }
    }

    /// `inner` per alert: aggregated by the rule's `by` (and identity), else one per series
    /// of the metric (its attributes and identity; `max` only folds duplicate scrapes).
    fn per_alert(&self, inner: String) -> String {
        match (&self.c.options.aggregation, self.c.source) {
            (_, Source::Derived(_)) => inner,
            (Some(a), _) => format!("{} by ({}) ({inner})", a.op.as_str(), self.id.by(self.c.by.iter().cloned())),
            (None, s) => {
                let attrs = s.metric().map(|m| m.prometheus_labels().map(str::to_string).collect::<Vec<_>>());
                format!("max by ({}) ({inner})", self.id.by(attrs.unwrap_or_default()))
            }
        }
    }

    /// The value an anomaly rule watches: a counter's rate (so resets are not anomalies),
    /// else the value; only finite values, as the engine learns only from those.
    pub(crate) fn anomaly_input(&self) -> String {
        let s = self.c.source;
        let inner = if s.cumulative() {
            format!("rate({}[{}])", self.sel(s), prom_duration(anomaly_rate_window(self.c.rule.evaluation_interval)))
        } else {
            self.sel(s)
        };
        format!("({}) > -Inf < +Inf", self.per_alert(inner))
    }

    /// The alerting-rule expression; `anomaly` names the rule's recording rules.
    pub(crate) fn alert(&self, anomaly: Option<&AnomalyNames>) -> String {
        let c = self.c;
        match &c.rule.condition {
            AlertCondition::Rate { window, threshold } => {
                threshold.promql(&self.per_alert(format!("rate({}[{}])", self.sel(c.source), prom_duration(*window))))
            }
            AlertCondition::Ratio { window, threshold, .. } => {
                let den = c.denominator.unwrap_or(c.source);
                let f = |s: String| match window {
                    Some(w) => format!("increase({s}[{}])", prom_duration(*w)),
                    None => s,
                };
                let dm: Vec<(String, MatchOp, String)> =
                    c.denominator_matchers.iter().map(|m| (m.name.clone(), m.op, m.value.clone())).collect();
                // Compiling refused histogram means here: both sides are plain series.
                let den_sel = selector(&den.prometheus_name(), &dm);
                let guard = if window.is_some() { "> 0" } else { "!= 0" };
                let e = format!(
                    "({} / ({} {guard}))",
                    self.id.sum_or_zero(&f(self.sel(c.source))),
                    self.id.sum_or_zero(&f(den_sel))
                );
                threshold.promql(&e)
            }
            AlertCondition::Absent { .. } => format!(
                "group by ({}) ({UP_SERIES}) unless group by ({}) ({})",
                self.id.by([]),
                self.id.by([]),
                self.sel(c.source)
            ),
            AlertCondition::Anomaly { deviations, warmup, .. } => {
                let Some(n) = anomaly else { return String::new() };
                let v = self.anomaly_input();
                let floor = format!("(1e-9 * clamp_min(abs({}), 1))", n.mean);
                format!(
                    "(abs(({v}) - {mean}) > {d} * ((sqrt({var}) >= {floor}) or {floor})) and ({count} >= {warmup})",
                    mean = n.mean,
                    var = n.var,
                    count = n.count,
                    d = num(*deviations),
                )
            }
            cond => match cond.threshold() {
                Some(t) => t.promql(&self.per_alert(self.sel(c.source))),
                None => String::new(),
            },
        }
    }

    /// The recording rules that carry an anomaly rule's moving mean, variance and sample
    /// count from one evaluation to the next, in the order they must run (after the alert):
    /// the same recurrence as the engine's EWMA.
    pub(crate) fn anomaly_state(&self, names: &AnomalyNames) -> Vec<(String, String)> {
        let AlertCondition::Anomaly { alpha, .. } = &self.c.rule.condition else { return Vec::new() };
        let v = format!("({})", self.anomaly_input());
        let (a, keep) = (num(*alpha), num(1.0 - alpha));
        let AnomalyNames { mean, var, count } = names;
        vec![
            (count.clone(), format!("(({count} + 1) and {v}) or ({v} * 0 + 1)")),
            (var.clone(), format!("({keep} * ({var} + {a} * ({v} - {mean}) * ({v} - {mean}))) or ({v} * 0)")),
            (mean.clone(), format!("({mean} + {a} * ({v} - {mean})) or {v}")),
        ]
    }
}

/// Recording-rule names of one anomaly rule's state.
pub(crate) struct AnomalyNames {
    pub(crate) mean: String,
    pub(crate) var: String,
    pub(crate) count: String,
}

impl AnomalyNames {
    /// `bitcraps:anomaly_<rule>:{mean,variance,samples}`, the rule name made a metric name.
    pub(crate) fn of(rule: &str) -> AnomalyNames {
        let mut stem: String =
            rule.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
        while stem.contains("__") {
            stem = stem.replace("__", "_");
        }
        let stem = stem.trim_matches('_');
        AnomalyNames {
            mean: format!("bitcraps:anomaly_{stem}:mean"),
            var: format!("bitcraps:anomaly_{stem}:variance"),
            count: format!("bitcraps:anomaly_{stem}:samples"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_derived_expressions() {
        assert_eq!(prom_duration(Duration::from_secs(300)), "5m");
        assert_eq!(prom_duration(Duration::from_secs(90)), "90s");
        assert_eq!(prom_duration(Duration::from_millis(1500)), "1500ms");
        let d = crate::semconv::lookup_derived("gaming_error_rate").expect("registered");
        let ids = vec!["node_id".to_string()];
        let e = derived_expr(d, &Identity(&ids));
        assert!(e.contains("sum by (node_id) (increase(bitcraps_errors_total{category=\"gaming\"}[5m]))"), "{e}");
        assert!(e.contains("or (group by (node_id) (bitcraps_uptime_seconds) * 0)"), "{e}");
        assert_eq!(AnomalyNames::of("Dispute Spike!").mean, "bitcraps:anomaly_dispute_spike:mean");
    }
}
