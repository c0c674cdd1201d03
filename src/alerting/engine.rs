//! The evaluator: runs due rules against a [`Snapshot`] and advances each alert's state.
//! No I/O and no clock of its own: the caller passes `now`, which keeps it testable and lets
//! the benchmark time exactly one cycle.

use super::condition::{anomaly_rate_window, AlertCondition, Ewma, History, Threshold, HISTOGRAM_MEAN_WINDOW};
use super::labels::{labels_key, ByLabelsKey, Labels};
use super::memo::{aggregate, pick, Member, Memo, Selection, WindowKey};
use super::rule::{CompiledRule, MatchOp, Source};
use super::snapshot::{Point, Snapshot};
use super::state::{rule_alert_labels, Entry, Fingerprint, Transition};
use crate::semconv::{Derivation, DerivedDef, DerivedTerm};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

/// One rule and what it remembers between evaluations.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) compiled: CompiledRule,
    next_eval: Option<Instant>,
    /// The rate windows (or windowed histogram means) it evaluates with, shared with the
    /// rules that read the same series the same way and started with it.
    pub(crate) windows: Option<Member>,
    /// Anomaly baselines, keyed like `series` but per alert row (after aggregation).
    anomaly: ByLabelsKey<Ewma>,
    ratio: (History, History),
    /// Since when an `absent` rule's metric has been missing (the first evaluation without it).
    absent_since: Option<Instant>,
    /// Alerts of this rule that are not inactive.
    pub(crate) known: HashSet<Fingerprint>,
}

impl Slot {
    pub(crate) fn new(compiled: CompiledRule) -> Slot {
        Slot {
            compiled,
            next_eval: None,
            windows: None,
            anomaly: ByLabelsKey::default(),
            ratio: Default::default(),
            absent_since: None,
            known: HashSet::new(),
        }
    }
}

/// Rolling sums behind one derived metric.
#[derive(Debug, Default)]
struct DerivedState {
    numerator: History,
    denominator: History,
    computed_at: Option<Instant>,
    value: Option<f64>,
}

/// The message a panic carried, for the log.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// What one cycle did.
#[derive(Debug, Default)]
pub(crate) struct CycleReport {
    pub(crate) evaluated: u64,
    pub(crate) transitions: Vec<(Fingerprint, Transition)>,
    /// Rules that panicked, with what the panic said.
    pub(crate) panics: Vec<(String, String)>,
}

/// All rules and all alerts.
#[derive(Debug, Default)]
pub(crate) struct Evaluator {
    pub(crate) slots: Vec<Slot>,
    pub(crate) alerts: HashMap<Fingerprint, Entry>,
    derived: HashMap<&'static str, DerivedState>,
    /// The node's own labels (node id, region, service), on every alert.
    pub(crate) node: BTreeMap<String, String>,
    /// Evaluations so far: numbers each cycle's [`Memo`].
    cycles: u64,
}

fn matches(point: &Point, rule: &CompiledRule) -> bool {
    rule.matchers.iter().all(|m| m.matches(point.labels))
}

fn term_matches(point: &Point, term: &DerivedTerm) -> bool {
    term.matchers.iter().all(|(k, v)| point.labels.iter().any(|(pk, pv)| pk == k && pv == v))
}

fn sum_terms(snap: &Snapshot, terms: &[DerivedTerm]) -> f64 {
    terms
        .iter()
        .map(|t| snap.series(t.metric.name).iter().filter(|p| term_matches(p, t)).map(|p| p.value).sum::<f64>())
        .sum()
}

/// Samples a window holds when sampled every `every`.
fn expected(window: Duration, every: Duration) -> usize {
    (window.as_secs_f64() / every.as_secs_f64().max(0.001)).ceil() as usize + 2
}

fn windowed(h: &mut History, now: Instant, value: f64, window: Duration, every: Duration) -> Option<f64> {
    h.push(now, value, window, expected(window, every));
    h.increase().map(|(inc, _)| inc)
}

impl Evaluator {
    /// Names of the metrics the enabled rules read, for filtering collections.
    pub(crate) fn wanted(&self) -> HashSet<&'static str> {
        let mut set = HashSet::new();
        let mut add = |s: Source| match s {
            Source::Derived(d) => {
                set.extend(d.numerator.iter().chain(d.denominator).map(|t| t.metric.name));
            }
            other => {
                if let Some(m) = other.metric() {
                    set.insert(m.name);
                }
            }
        };
        for slot in self.slots.iter().filter(|s| s.compiled.options.enabled) {
            add(slot.compiled.source);
            if let Some(d) = slot.compiled.denominator {
                add(d);
            }
        }
        set
    }

    /// When the next rule is due (`None`: no enabled rule).
    #[allow(dead_code)]
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.slots.iter().filter(|s| s.compiled.options.enabled).filter_map(|s| s.next_eval).min()
    }

    /// Whether any enabled rule is due at `now`.
    pub(crate) fn any_due(&self, now: Instant) -> bool {
        self.slots.iter().any(|s| s.compiled.options.enabled && s.next_eval.is_none_or(|t| t <= now))
    }

    fn derived_value(&mut self, d: &'static DerivedDef, snap: &Snapshot, now: Instant) -> Option<f64> {
        let st = self.derived.entry(d.name).or_default();
        if st.computed_at == Some(now) {
            return st.value;
        }
        let num = sum_terms(snap, d.numerator);
        let den = sum_terms(snap, d.denominator);
        let window = d.window();
        st.value = match (d.derivation, d.window_seconds) {
            (Derivation::Ratio, 0) => (den != 0.0).then(|| num / den),
            (Derivation::Ratio, _) => {
                let n = windowed(&mut st.numerator, now, num, window, Duration::from_secs(15));
                let dd = windowed(&mut st.denominator, now, den, window, Duration::from_secs(15));
                match (n, dd) {
                    (Some(n), Some(dd)) if dd > 0.0 => Some(n / dd),
                    _ => None,
                }
            }
            (Derivation::Rate, _) => {
                st.numerator.push(now, num, window, expected(window, Duration::from_secs(15)));
                st.numerator.rate()
            }
        };
        st.computed_at = Some(now);
        st.value
    }

    /// Evaluates every rule due at `now` against `snap`. A rule that panics is skipped
    /// for this cycle (and reported); the others are evaluated all the same.
    pub(crate) fn evaluate(&mut self, snap: &Snapshot, now: Instant) -> CycleReport {
        let mut report = CycleReport::default();
        self.cycles += 1;
        let mut memo = Memo::new(self.cycles);
        for i in 0..self.slots.len() {
            let due = {
                let s = &self.slots[i];
                s.compiled.options.enabled && s.next_eval.is_none_or(|t| t <= now)
            };
            if !due {
                continue;
            }
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.evaluate_slot(i, snap, now, &mut memo, &mut report)
            }));
            if let Err(payload) = outcome {
                let slot = &mut self.slots[i];
                // Not again before its next turn: a rule that always panics costs one log
                // line per interval, not one per tick.
                slot.next_eval = Some(now.checked_add(slot.compiled.rule.evaluation_interval).unwrap_or(now));
                report.panics.push((slot.compiled.rule.name.clone(), panic_message(payload.as_ref())));
            }
        }
        self.alerts.retain(|_, e| !e.is_done());
        report
    }

    fn evaluate_slot(&mut self, i: usize, snap: &Snapshot, now: Instant, memo: &mut Memo, report: &mut CycleReport) {
        #[cfg(test)]
        if self.slots[i].compiled.rule.name.starts_with("test-panic") {
            panic!("a rule that panics, for the test");
        }
        let derived = match self.slots[i].compiled.source {
            Source::Derived(d) => Some(self.derived_value(d, snap, now)),
            _ => None,
        };
        let slot = &mut self.slots[i];
        slot.next_eval = Some(now.checked_add(slot.compiled.rule.evaluation_interval).unwrap_or(now));
        report.evaluated += 1;
        let results = values(slot, snap, derived, now, memo);
        let rule = &slot.compiled.rule;
        let opts = &slot.compiled.options;
        let mut active_now = HashSet::new();
        for (labels, value) in results {
            let full = rule_alert_labels(rule, opts, &labels, &self.node);
            let fp = Fingerprint::of(&full);
            let entry = self.alerts.entry(fp).or_insert_with(|| Entry::new(&rule.name, full, rule.severity));
            entry.value = value;
            if let Some(t) = entry.observe(true, now, opts.for_duration, opts.resolve_delay) {
                report.transitions.push((fp, t));
            }
            slot.known.insert(fp);
            active_now.insert(fp);
        }
        let mut gone = Vec::new();
        for fp in slot.known.iter().filter(|fp| !active_now.contains(fp)) {
            if let Some(entry) = self.alerts.get_mut(fp) {
                if entry.hold_until.is_some_and(|t| now < t) {
                    continue;
                }
                if let Some(t) = entry.observe(false, now, opts.for_duration, opts.resolve_delay) {
                    report.transitions.push((*fp, t));
                }
                if !matches!(entry.state, super::AlertState::Pending | super::AlertState::Firing) {
                    gone.push(*fp);
                }
            } else {
                gone.push(*fp);
            }
        }
        for fp in gone {
            slot.known.remove(&fp);
        }
    }

    /// Puts `rules` in force, rebinding slots by name, at `now`.
    ///
    /// An unchanged rule keeps its memory (histories, pending alerts). A changed rule starts
    /// afresh but inherits the alerts it had, so its next evaluation resolves those the new
    /// definition no longer fires (a raised threshold, a new severity: a new identity). A
    /// removed rule's alerts resolve now, keeping its description for the resolve notice.
    /// Nothing is left firing that no rule evaluates.
    pub(crate) fn replace_rules(&mut self, rules: Vec<CompiledRule>, now: Instant) {
        let mut old: HashMap<String, Slot> = self.slots.drain(..).map(|s| (s.compiled.rule.name.clone(), s)).collect();
        for compiled in rules {
            match old.remove(&compiled.rule.name) {
                Some(mut slot) if slot.compiled.rule == compiled.rule && slot.compiled.options == compiled.options => {
                    slot.compiled = compiled;
                    self.slots.push(slot);
                }
                // A disabled rule evaluates nothing: its alerts resolve now, like a removed one's.
                Some(previous) if !compiled.options.enabled => {
                    old.insert(compiled.rule.name.clone(), previous);
                    self.slots.push(Slot::new(compiled));
                }
                Some(previous) => {
                    let mut slot = Slot::new(compiled);
                    slot.known = previous.known;
                    self.slots.push(slot);
                }
                None => self.slots.push(Slot::new(compiled)),
            }
        }
        for slot in old.into_values() {
            for fp in slot.known {
                if let Some(e) = self.alerts.get_mut(&fp) {
                    e.note.get_or_insert_with(|| slot.compiled.rule.description.clone());
                    e.observe(false, now, Duration::ZERO, Duration::ZERO);
                }
            }
        }
        self.alerts.retain(|_, e| !e.is_done());
    }
}

/// `(labels, value)` of the series of `points` that `rule` matches and whose value passes
/// `test` (a comparison that NaN never passes, as [`Threshold::test`]).
fn crossing(points: &[Point], rule: &CompiledRule, test: impl Fn(f64) -> bool) -> Vec<(Labels, f64)> {
    let src = rule.source;
    let mut out = Vec::new();
    for p in points {
        let v = pick(src, p);
        if test(v) && matches(p, rule) {
            out.push(((*p.labels).clone(), v));
        }
    }
    out
}

/// `series` aggregated as `rule` says (`None`: it does not aggregate), computed once a cycle
/// for all the rules that aggregate the same values (from window group `group`, or the
/// points' own) the same way.
fn aggregate_once<'m>(
    memo: &'m mut Memo,
    rule: &CompiledRule,
    group: Option<u64>,
    series: &mut dyn Iterator<Item = (&Labels, f64)>,
) -> Option<&'m [(Labels, f64)]> {
    let agg = rule.options.aggregation.as_ref()?;
    let selection = Selection::of(rule.source, &rule.matchers);
    Some(memo.aggregated(selection, group, agg.op, &rule.by, || aggregate(series, agg.op, &rule.by)))
}

/// `(series labels, value)` of every series of the rule that is active this cycle.
fn values(
    slot: &mut Slot,
    snap: &Snapshot,
    derived: Option<Option<f64>>,
    now: Instant,
    memo: &mut Memo,
) -> Vec<(Labels, f64)> {
    let Slot { compiled: rule, windows, anomaly, ratio, absent_since, .. } = slot;
    let rule = &*rule;
    let cond = &rule.rule.condition;
    let threshold = cond.threshold();
    let test = |v: f64| threshold.is_some_and(|t| t.test(v));

    // Absent: only whether anything matched.
    if let AlertCondition::Absent { duration } = cond {
        let present = match derived {
            Some(v) => v.is_some(),
            None => snap.series(rule.source.metric().map_or("", |m| m.name)).iter().any(|p| matches(p, rule)),
        };
        // Counted from the first evaluation that misses it, as Prometheus' `for` counts.
        if present {
            *absent_since = None;
            return Vec::new();
        }
        let since = *absent_since.get_or_insert(now);
        let labels: Labels = rule
            .matchers
            .iter()
            .filter(|m| m.op == MatchOp::Equal)
            .map(|m| (m.name.clone(), m.value.clone()))
            .collect();
        return if now.saturating_duration_since(since) >= *duration { vec![(labels, f64::NAN)] } else { Vec::new() };
    }

    // Ratio: both sides summed over everything matched, one value.
    if let AlertCondition::Ratio { window, .. } = cond {
        let mut sum_of = |src: Source, matchers: &[super::LabelMatcher]| -> f64 {
            if matches!(src, Source::Derived(_)) {
                return f64::NAN;
            }
            memo.sum(Selection::of(src, matchers), || {
                snap.series(src.metric().map_or("", |m| m.name))
                    .iter()
                    .filter(|p| matchers.iter().all(|m| m.matches(p.labels)))
                    .map(|p| pick(src, p))
                    .sum()
            })
        };
        let num = sum_of(rule.source, &rule.matchers);
        let den = rule.denominator.map_or(f64::NAN, |d| sum_of(d, &rule.denominator_matchers));
        let value = match window {
            Some(w) => {
                let every = rule.rule.evaluation_interval;
                let n = windowed(&mut ratio.0, now, num, *w, every);
                let d = windowed(&mut ratio.1, now, den, *w, every);
                match (n, d) {
                    (Some(n), Some(d)) if d > 0.0 => Some(n / d),
                    _ => None,
                }
            }
            None => (den != 0.0 && den.is_finite()).then(|| num / den),
        };
        return value.filter(|r| test(*r)).map(|r| vec![(Labels::new(), r)]).unwrap_or_default();
    }

    // Without aggregation or an anomaly baseline, a series' value is compared at once
    // (`direct`) and only active rows are kept.
    let direct = rule.options.aggregation.is_none() && !matches!(cond, AlertCondition::Anomaly { .. });
    let aggregation = rule.options.aggregation.as_ref();
    let src = rule.source;
    let every = rule.rule.evaluation_interval;
    let derived_labels = Labels::new();
    let grouped: Vec<(Labels, f64)>;
    let rows: Vec<(&Labels, f64)> = match derived {
        // A derived metric's one value.
        Some(value) => {
            let mut one = value.map(|v| (&derived_labels, v)).into_iter();
            if direct {
                return one.filter(|(_, v)| test(*v)).map(|(_, v)| (Labels::new(), v)).collect();
            }
            match aggregation {
                Some(agg) => {
                    grouped = aggregate(&mut one, agg.op, &rule.by);
                    grouped.iter().map(|(l, v)| (l, *v)).collect()
                }
                None => one.collect(),
            }
        }
        None => {
            let points = snap.series(src.metric().map_or("", |m| m.name));
            // (window, whether it is a histogram's mean rather than a counter's rate)
            let over_window = match cond {
                AlertCondition::Rate { window, .. } => Some((*window, false)),
                // An anomaly on a counter watches its rate: a reset is not an anomaly.
                AlertCondition::Anomaly { .. } if src.cumulative() => Some((anomaly_rate_window(every), false)),
                // A histogram alone is its mean over a recent window, not since start.
                _ if src.is_histogram_mean() => Some((HISTOGRAM_MEAN_WINDOW, true)),
                _ => None,
            };
            match over_window {
                Some((window, mean)) => {
                    let key = || WindowKey { selection: Selection::of(src, &rule.matchers), window, mean, every };
                    let size = expected(window, every);
                    let group = memo.windows(windows, key, points, src, size, now, &|p| matches(p, rule));
                    let labelled = |&(i, v): &(u32, f64)| (points[i as usize].labels, v);
                    if direct {
                        return group
                            .rows()
                            .iter()
                            .map(labelled)
                            .filter(|(_, v)| test(*v))
                            .map(|(labels, v)| (labels.clone(), v))
                            .collect();
                    }
                    let id = group.id();
                    match aggregate_once(memo, rule, Some(id), &mut group.rows().iter().map(labelled)) {
                        Some(rows) => rows.iter().map(|(l, v)| (l, *v)).collect(),
                        None => group.rows().iter().map(labelled).collect(),
                    }
                }
                // Compared first: a threshold no series crosses costs one comparison a series.
                None if direct => {
                    return match threshold {
                        Some(Threshold::GreaterThan(b)) => crossing(points, rule, |v| v > b),
                        Some(Threshold::LessThan(b)) => crossing(points, rule, |v| v < b),
                        Some(t) => crossing(points, rule, |v| t.test(v)),
                        None => Vec::new(),
                    };
                }
                None => {
                    let mut selected = points.iter().filter(|p| matches(p, rule)).map(|p| (p.labels, pick(src, p)));
                    match aggregate_once(memo, rule, None, &mut selected) {
                        Some(rows) => rows.iter().map(|(l, v)| (l, *v)).collect(),
                        None => selected.collect(),
                    }
                }
            }
        }
    };

    // Only active rows are returned (cloning labels of quiet series would dominate a cycle).
    match cond {
        AlertCondition::Anomaly { deviations, alpha, warmup } => rows
            .into_iter()
            .filter_map(|(labels, v)| {
                let ewma = anomaly.entry(labels_key(labels)).or_default();
                ewma.observe(v, *deviations, *alpha, *warmup).then(|| (labels.clone(), v))
            })
            .collect(),
        _ => rows.into_iter().filter(|(_, v)| test(*v)).map(|(labels, v)| (labels.clone(), v)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::{AlertCondition, AlertRule, Threshold};

    /// Two attribute sets that flatten to one label set put one series twice in a
    /// collection: the rule's windows go back to a history per series, and the rates are
    /// those of that history, pushed twice, before and after.
    #[test]
    fn a_series_carried_twice_gets_the_rates_of_a_history_pushed_twice() {
        let window = Duration::from_secs(60);
        let rule = AlertRule {
            name: "twice".into(),
            metric_name: "bitcraps.bets".into(),
            condition: AlertCondition::Rate { window, threshold: Threshold::GreaterThan(-1e300) },
            evaluation_interval: Duration::from_secs(15),
            ..Default::default()
        };
        let mut slot = Slot::new(CompiledRule::compile(rule).expect("valid"));
        let (a, b): (Labels, Labels) = (vec![("k".into(), "a".into())], vec![("k".into(), "b".into())]);
        let (mut ha, mut hb) = (History::default(), History::default());
        let t0 = Instant::now();
        for i in 0..14u32 {
            let now = t0 + Duration::from_secs(15 * u64::from(i));
            let v = f64::from(i) * 10.0;
            // From the 7th evaluation on, `a` comes twice, the second time lower (a reset).
            let twice = i >= 6;
            let mut series = vec![(a.clone(), v), (b.clone(), 2.0 * v)];
            if twice {
                series.push((a.clone(), v - 5.0));
            }
            let snap = Snapshot::of("bitcraps.bets", series.clone());
            let got = values(&mut slot, &snap, None, now, &mut Memo::new(u64::from(i) + 1));
            let mut want = Vec::new();
            for (labels, value) in series {
                let h = if labels == a { &mut ha } else { &mut hb };
                h.push(now, value, window, expected(window, Duration::from_secs(15)));
                want.extend(h.rate().map(|r| (labels.clone(), r)));
            }
            assert_eq!(got, want, "evaluation {i}");
            let legacy = slot.windows.as_ref().is_some_and(|m| m.group().legacy());
            assert_eq!(legacy, twice, "the block is left only when a series comes twice");
        }
    }

    #[test]
    fn a_rule_that_panics_is_skipped_and_the_others_are_evaluated() {
        let mut ev = Evaluator::default();
        for name in ["test-panic", "fine"] {
            let rule = AlertRule {
                name: name.into(),
                metric_name: "bitcraps.cpu.usage".into(),
                condition: AlertCondition::GreaterThan(1.0),
                ..Default::default()
            };
            ev.slots.push(Slot::new(CompiledRule::compile(rule).expect("valid")));
        }
        let now = Instant::now();
        let report = ev.evaluate(&Snapshot::default(), now);
        assert_eq!(report.evaluated, 1, "the other rule ran");
        assert_eq!(report.panics.len(), 1);
        assert_eq!(report.panics[0].0, "test-panic");
        assert!(report.panics[0].1.contains("a rule that panics"), "{:?}", report.panics);
        // Not again before its next turn: one report per interval, not per tick.
        assert!(ev.evaluate(&Snapshot::default(), now).panics.is_empty());
    }
}
