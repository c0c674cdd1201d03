//! What rules that read the same series the same way compute once: the rate windows of
//! rules over one selection (kept across cycles), and, within one cycle, the aggregated
//! rows and summed selections that several rules ask for.
//!
//! Rule sets repeat expressions: a warning and a critical tier over one rate, one
//! aggregation watched by a threshold and an anomaly detector. Computing each once is what
//! keeps a cycle near the cost of the collection it reads.
//!
//! Sharing never changes a number. Rules share windows only when they have the same
//! selection, window and evaluation interval and were first evaluated in the same cycle:
//! from then on they are evaluated at the same instants against the same collections, so
//! one set of windows holds exactly what each would have held alone. A rule that starts
//! later (a new rule, a changed one, a reload) starts windows of its own, as it always did.

use super::condition::History;
use super::labels::{ByLabelsKey, FastHasher, Labels};
use super::rule::{AggregationOp, LabelMatcher, Running, Source};
use super::snapshot::Point;
use super::windows::Windows;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Which series a rule reads, and which of their values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Selection {
    metric: &'static str,
    /// 0: the value, 1: a histogram's `_count`, 2: its `_sum`, 3: a derived metric's value.
    plane: u8,
    matchers: Vec<LabelMatcher>,
}

impl Selection {
    /// The series of `source` that `matchers` select.
    pub(crate) fn of(source: Source, matchers: &[LabelMatcher]) -> Selection {
        let (metric, plane) = match source {
            Source::Metric(m) => (m.name, 0),
            Source::HistogramCount(m) => (m.name, 1),
            Source::HistogramSum(m) => (m.name, 2),
            Source::Derived(d) => (d.name, 3),
        };
        Selection { metric, plane, matchers: matchers.to_vec() }
    }
}

/// What a rule's windows are: rules with equal keys that start together share them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct WindowKey {
    pub(crate) selection: Selection,
    pub(crate) window: Duration,
    /// A histogram's windowed mean (`_sum` and `_count`) rather than a counter's rate.
    pub(crate) mean: bool,
    pub(crate) every: Duration,
}

/// Per-series memory of a window group that fell back to one history per series.
#[derive(Debug, Default)]
struct SeriesState {
    /// The counter (or a histogram's `_sum`).
    history: History,
    /// A histogram's `_count`.
    count: History,
    /// The group's last evaluation that saw the series ([`WindowGroup::evaluations`]).
    seen: u64,
}

/// The rate windows (or windowed histogram means) that one or more rules share.
#[derive(Debug)]
pub(crate) struct WindowGroup {
    /// Unique for the process: what a cycle's aggregation memo knows the group by.
    id: u64,
    /// Every series' window, in one block.
    windows: Windows,
    /// The windows are kept per series in `series` instead: a collection carried one series
    /// twice. Rare, and for good: only a history per series can hold that.
    legacy: bool,
    series: ByLabelsKey<SeriesState>,
    /// Evaluations so far with `legacy` windows: marks which series each one saw.
    evaluations: u64,
    /// The cycle of the last advance (0: none yet).
    advanced: u64,
    /// What that advance gave: (index among the metric's points, value), in point order.
    rows: Vec<(u32, f64)>,
}

impl WindowGroup {
    fn new() -> WindowGroup {
        static IDS: AtomicU64 = AtomicU64::new(1);
        WindowGroup {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            windows: Windows::default(),
            legacy: false,
            series: ByLabelsKey::default(),
            evaluations: 0,
            advanced: 0,
            rows: Vec::new(),
        }
    }

    /// This cycle's values: (index among the metric's points, value), in point order.
    pub(crate) fn rows(&self) -> &[(u32, f64)] {
        &self.rows
    }

    /// The group's id, for keying what is computed from its rows within a cycle.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Whether the group fell back to one history per series.
    #[cfg(test)]
    pub(crate) fn legacy(&self) -> bool {
        self.legacy
    }

    /// Pushes this evaluation's value of every point `selected` and keeps the windowed
    /// values in `rows`. `size` is how many samples a window holds.
    fn advance(
        &mut self,
        key: &WindowKey,
        points: &[Point],
        source: Source,
        size: usize,
        now: Instant,
        selected: &dyn Fn(&Point) -> bool,
    ) {
        self.rows.clear();
        let (window, mean) = (key.window, key.mean);
        let value_of = |p: &Point| -> [f64; 2] {
            if mean {
                let (sum, count) = p.hist.unwrap_or((f64::NAN, f64::NAN));
                [sum, count]
            } else {
                [pick(source, p), f64::NAN]
            }
        };
        let mut matched = points.iter().enumerate().filter(|(_, p)| selected(p)).peekable();
        if !self.legacy {
            self.windows.begin(now, window, if mean { 2 } else { 1 }, size);
        }
        while !self.legacy {
            let Some(&(i, p)) = matched.peek() else { break };
            let Ok(increases) = self.windows.push(p.key, value_of(p)) else {
                // One series twice in one collection: only a history per series holds that.
                to_histories(&mut self.windows, &mut self.series, self.evaluations + 1);
                self.legacy = true;
                break;
            };
            let value = if mean {
                match increases {
                    [Some((s, _)), Some((c, _))] => Some(s / c),
                    _ => None,
                }
            } else {
                increases[0].map(|(inc, w)| inc / w.as_secs_f64())
            };
            if let Some(v) = value {
                self.rows.push((i as u32, v));
            }
            matched.next();
        }
        if !self.legacy {
            self.windows.end();
            return;
        }
        self.evaluations += 1;
        let evaluation = self.evaluations;
        for (i, p) in matched {
            let st = self.series.entry(p.key).or_default();
            st.seen = evaluation;
            let [a, b] = value_of(p);
            st.history.push(now, a, window, size);
            let value = if mean {
                st.count.push(now, b, window, size);
                match (st.history.increase(), st.count.increase()) {
                    (Some((s, _)), Some((c, _))) => Some(s / c),
                    _ => None,
                }
            } else {
                st.history.rate()
            };
            if let Some(v) = value {
                self.rows.push((i as u32, v));
            }
        }
        self.series.retain(|_, st| st.seen == evaluation);
    }
}

/// The value a rule reads from a point.
pub(crate) fn pick(source: Source, p: &Point) -> f64 {
    match (source, p.hist) {
        (Source::HistogramCount(_), Some((_, count))) => count,
        (Source::HistogramSum(_), Some((sum, _))) => sum,
        _ => p.value,
    }
}

/// Moves `windows` to one [`History`] per series in `series`, as they are now. Series the
/// evaluation under way pushed already are marked seen by `evaluation`.
fn to_histories(windows: &mut Windows, series: &mut ByLabelsKey<SeriesState>, evaluation: u64) {
    for (key, [history, count], pushed) in std::mem::take(windows).into_histories() {
        let seen = if pushed { evaluation } else { 0 };
        series.insert(key, SeriesState { history, count, seen });
    }
}

/// A rule's hold on the window group it evaluates with.
#[derive(Debug)]
pub(crate) struct Member {
    group: Arc<Mutex<WindowGroup>>,
    /// The cycle of the last advance this rule took part in.
    seen: u64,
}

#[cfg(test)]
impl Member {
    /// The group, for tests to look into.
    pub(crate) fn group(&self) -> MutexGuard<'_, WindowGroup> {
        lock(&self.group)
    }
}

/// The aggregation of one selection (or one window group's rows) in one cycle.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct AggregateKey {
    selection: Selection,
    /// The window group the values come from (`None`: the points' own values).
    group: Option<u64>,
    op: AggregationOp,
    by: Vec<String>,
}

/// Locks a window group. A panic while one was held (in a rule) leaves windows a later
/// cycle can still use; alerting goes on.
fn lock(group: &Mutex<WindowGroup>) -> MutexGuard<'_, WindowGroup> {
    group.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the rules of one cycle compute once.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    /// Numbers the cycle; groups remember the cycle they last advanced in.
    cycle: u64,
    /// Groups created this cycle, by key: the only ones a starting rule may join.
    newborn: HashMap<WindowKey, Arc<Mutex<WindowGroup>>>,
    aggregated: HashMap<AggregateKey, Vec<(Labels, f64)>>,
    sums: HashMap<Selection, f64>,
}

impl Memo {
    /// The memo of cycle number `cycle` (counted from 1, never repeated).
    pub(crate) fn new(cycle: u64) -> Memo {
        Memo { cycle, ..Memo::default() }
    }

    /// The window group of the rule holding `member`, advanced to this cycle: by this call
    /// if no other rule of the group advanced it yet. A rule without a group (its first
    /// evaluation) joins one that started this cycle with the same key, or starts one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn windows<'m>(
        &mut self,
        member: &'m mut Option<Member>,
        key: impl FnOnce() -> WindowKey,
        points: &[Point],
        source: Source,
        size: usize,
        now: Instant,
        selected: &dyn Fn(&Point) -> bool,
    ) -> MutexGuard<'m, WindowGroup> {
        let cycle = self.cycle;
        // A group that advanced in a cycle this rule was not part of holds samples this
        // rule never took: it cannot happen (members are due together), and if it did, the
        // rule starts over rather than read another's windows.
        if member.as_ref().is_some_and(|m| {
            let advanced = lock(&m.group).advanced;
            advanced != cycle && advanced != m.seen
        }) {
            *member = None;
        }
        let key = key();
        let newborn = &mut self.newborn;
        let m = member.get_or_insert_with(|| {
            let group = newborn.entry(key.clone()).or_insert_with(|| Arc::new(Mutex::new(WindowGroup::new())));
            Member { group: Arc::clone(group), seen: 0 }
        });
        m.seen = cycle;
        let mut group = lock(&m.group);
        if group.advanced != cycle {
            // Marked before the work: if it panics, the other members read no rows this
            // cycle instead of pushing a second sample at the same instant.
            group.advanced = cycle;
            group.advance(&key, points, source, size, now, selected);
        }
        group
    }

    /// The rows of `op` by `by` over `selection` (values from window group `group`, or the
    /// points' own), computed by `compute` the first time a cycle asks.
    pub(crate) fn aggregated(
        &mut self,
        selection: Selection,
        group: Option<u64>,
        op: AggregationOp,
        by: &[String],
        compute: impl FnOnce() -> Vec<(Labels, f64)>,
    ) -> &[(Labels, f64)] {
        let key = AggregateKey { selection, group, op, by: by.to_vec() };
        self.aggregated.entry(key).or_insert_with(compute)
    }

    /// The sum of `selection`'s values, computed by `compute` the first time a cycle asks.
    pub(crate) fn sum(&mut self, selection: Selection, compute: impl FnOnce() -> f64) -> f64 {
        *self.sums.entry(selection).or_insert_with(compute)
    }
}

/// Groups past which [`aggregate`] finds a group by hash rather than by looking at each.
const SCAN_GROUPS: usize = 16;

/// Groups `series` by the values of the `by` labels and combines each group's values with
/// `op`, groups in key order (as a sorted map would give them). Like PromQL, an aggregation
/// of no series is no series (not 0).
pub(crate) fn aggregate<'l>(
    series: impl Iterator<Item = (&'l Labels, f64)>,
    op: AggregationOp,
    by: &[String],
) -> Vec<(Labels, f64)> {
    // Group keys borrow the series' label values: no string is copied per series, only
    // per group. Groups are few (a label's values), so a scan finds one faster than a hash
    // would, until there are many.
    let mut groups: Vec<(Vec<&str>, Running)> = Vec::new();
    let mut index: HashMap<Vec<&str>, usize, BuildHasherDefault<FastHasher>> = HashMap::default();
    let mut key: Vec<&str> = Vec::with_capacity(by.len());
    for (labels, v) in series {
        key.clear();
        key.extend(by.iter().map(|b| labels.iter().find(|(k, _)| k == b).map_or("", |(_, v)| v.as_str())));
        let found = if groups.len() <= SCAN_GROUPS {
            groups.iter().position(|(k, _)| *k == key)
        } else {
            index.get(key.as_slice()).copied()
        };
        match found {
            Some(i) => groups[i].1.add(v),
            None => {
                let mut running = Running::new();
                running.add(v);
                groups.push((key.clone(), running));
                if groups.len() > SCAN_GROUPS {
                    if index.is_empty() {
                        index.extend(groups.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)));
                    } else {
                        index.insert(key.clone(), groups.len() - 1);
                    }
                }
            }
        }
    }
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    groups
        .into_iter()
        .filter_map(|(key, running)| {
            let labels: Labels =
                by.iter().zip(key).filter(|(_, v)| !v.is_empty()).map(|(b, v)| (b.clone(), v.to_string())).collect();
            running.value(op).map(|v| (labels, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::alerting::engine::Evaluator;
    use crate::alerting::labels::Labels;
    use crate::alerting::rule::CompiledRule;
    use crate::alerting::snapshot::Snapshot;
    use crate::alerting::{
        Aggregation, AggregationOp, AlertCondition, AlertRule, AlertState, LabelMatcher, RuleOptions, Threshold,
    };
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::time::Instant;

    const COUNTER: &str = "bitcraps.bets";
    const GAUGE: &str = "bitcraps.cpu.usage";

    fn rule(name: &str, metric: &str, condition: AlertCondition, options: RuleOptions) -> CompiledRule {
        let rule = AlertRule { name: name.into(), metric_name: metric.into(), condition, ..Default::default() };
        CompiledRule::compile(rule.with_options(options)).expect("valid rule")
    }

    fn by_k(op: AggregationOp) -> RuleOptions {
        RuleOptions { aggregation: Some(Aggregation { op, by: vec!["k".into()] }), ..Default::default() }
    }

    fn only_a() -> RuleOptions {
        RuleOptions { matchers: vec![LabelMatcher::eq("k", "a")], ..Default::default() }
    }

    fn rate(threshold: f64) -> AlertCondition {
        AlertCondition::Rate { window: Duration::from_secs(60), threshold: Threshold::GreaterThan(threshold) }
    }

    fn ratio(threshold: f64) -> AlertCondition {
        AlertCondition::Ratio {
            denominator: COUNTER.into(),
            window: Some(Duration::from_secs(60)),
            threshold: Threshold::GreaterThan(threshold),
        }
    }

    /// Rules that share windows and aggregations, and the cycle each starts at.
    fn rules() -> Vec<(usize, CompiledRule)> {
        let anomaly = || AlertCondition::Anomaly { deviations: 1.5, alpha: 0.3, warmup: 3 };
        vec![
            (0, rule("rate-high", COUNTER, rate(0.6), RuleOptions::default())),
            (0, rule("rate-low", COUNTER, rate(0.2), RuleOptions::default())),
            (0, rule("rate-a", COUNTER, rate(0.2), only_a())),
            (0, rule("rate-a-again", COUNTER, rate(0.4), only_a())),
            (0, rule("rate-sum", COUNTER, rate(0.5), by_k(AggregationOp::Sum))),
            (0, rule("rate-sum-again", COUNTER, rate(0.9), by_k(AggregationOp::Sum))),
            (0, rule("rate-anomaly", COUNTER, anomaly(), by_k(AggregationOp::Avg))),
            (0, rule("gauge-sum", GAUGE, AlertCondition::GreaterThan(120.0), by_k(AggregationOp::Sum))),
            (0, rule("gauge-sum-again", GAUGE, AlertCondition::GreaterThan(60.0), by_k(AggregationOp::Sum))),
            (0, rule("gauge-anomaly", GAUGE, anomaly(), by_k(AggregationOp::Sum))),
            (0, rule("gauge-max", GAUGE, AlertCondition::GreaterThan(40.0), by_k(AggregationOp::Max))),
            // The counter's own totals, summed as `rate-sum` sums its rates.
            (0, rule("total-sum", COUNTER, AlertCondition::GreaterThan(400.0), by_k(AggregationOp::Sum))),
            // Ratios of two selections of one counter over the whole counter.
            (0, rule("share-a", COUNTER, ratio(0.3), only_a())),
            (0, rule("share-a-again", COUNTER, ratio(0.5), only_a())),
            (0, rule("share-all", COUNTER, ratio(0.9), RuleOptions::default())),
            // Same windows as rules already running: they must start windows of their own.
            (9, rule("rate-late", COUNTER, rate(0.2), RuleOptions::default())),
            (9, rule("rate-late-twin", COUNTER, rate(0.4), RuleOptions::default())),
            (9, rule("rate-sum-late", COUNTER, rate(0.3), by_k(AggregationOp::Sum))),
        ]
    }

    /// Each rule's alerts: fingerprint → (state, value bits).
    fn alerts_of(ev: &Evaluator, rule: &str) -> BTreeMap<u64, (AlertState, u64)> {
        ev.alerts.iter().filter(|(_, e)| e.rule == rule).map(|(fp, e)| (fp.0, (e.state, e.value.to_bits()))).collect()
    }

    /// Sharing never changes a number: every rule, evaluated beside rules that share its
    /// windows and aggregations, gives at every cycle exactly the alerts (states and values)
    /// it gives evaluated alone, while series come and go, counters reset, one series comes
    /// twice (the fallback to a history per series) and rules start later over windows
    /// others already hold.
    #[test]
    fn every_rule_gives_beside_rules_it_shares_with_exactly_what_it_gives_alone() {
        let rules = rules();
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut together = Evaluator::default();
        let mut alone: Vec<Evaluator> = rules.iter().map(|_| Evaluator::default()).collect();
        let mut counters: BTreeMap<String, f64> = BTreeMap::new();
        let t0 = Instant::now();
        let mut compared = 0;
        let mut firing = 0;
        for cycle in 0..80 {
            let now = t0 + Duration::from_secs(15 * cycle as u64);
            let starting: Vec<CompiledRule> =
                rules.iter().filter(|(at, _)| *at <= cycle).map(|(_, r)| r.clone()).collect();
            if rules.iter().any(|(at, _)| *at == cycle) {
                together.replace_rules(starting, now);
                for ((at, r), ev) in rules.iter().zip(&mut alone) {
                    if *at == cycle {
                        ev.replace_rules(vec![r.clone()], now);
                    }
                }
            }
            let mut counter_series: Vec<(Labels, f64)> = Vec::new();
            let mut gauge_series: Vec<(Labels, f64)> = Vec::new();
            for (i, k) in ["a", "a", "b", "b", "c", "c"].iter().enumerate() {
                // Series 0 always there; the others come and go.
                if i > 0 && rng.random_bool(0.1) {
                    continue;
                }
                let labels: Labels = vec![("id".into(), format!("s{i}")), ("k".into(), (*k).into())];
                let total = counters.entry(format!("s{i}")).or_insert(0.0);
                *total = if rng.random_bool(0.05) {
                    rng.random_range(0.0..3.0)
                } else {
                    *total + rng.random_range(0.0..20.0)
                };
                counter_series.push((labels.clone(), *total));
                gauge_series.push((labels, rng.random_range(0.0..60.0)));
            }
            // From cycle 50 on, one counter series twice, the second time lower.
            if cycle >= 50 {
                let (labels, v) = counter_series[0].clone();
                counter_series.push((labels, v / 2.0));
            }
            let snap = Snapshot::of_metrics(vec![(COUNTER, counter_series), (GAUGE, gauge_series)]);
            together.evaluate(&snap, now);
            for ev in &mut alone {
                ev.evaluate(&snap, now);
            }
            for ((_, r), ev) in rules.iter().zip(&alone) {
                let name = &r.rule.name;
                let want = alerts_of(ev, name);
                assert_eq!(alerts_of(&together, name), want, "rule {name} at cycle {cycle}");
                firing += want.values().filter(|(s, _)| *s == AlertState::Firing).count();
                compared += 1;
            }
        }
        assert!(compared > 1000 && firing > 100, "the rules must fire for the comparison to mean something: {firing}");
        // And they did share: rules that started together over one selection hold one group,
        // rules that started later hold another.
        let group = |name: &str| {
            let slot = together.slots.iter().find(|s| s.compiled.rule.name == name).expect("rule in force");
            Arc::clone(&slot.windows.as_ref().expect("windows").group)
        };
        assert!(Arc::ptr_eq(&group("rate-high"), &group("rate-low")));
        assert!(Arc::ptr_eq(&group("rate-high"), &group("rate-sum")));
        assert!(Arc::ptr_eq(&group("rate-a"), &group("rate-a-again")));
        assert!(!Arc::ptr_eq(&group("rate-high"), &group("rate-a")), "other matchers, other windows");
        assert!(!Arc::ptr_eq(&group("rate-high"), &group("rate-late")), "a later start, other windows");
        assert!(Arc::ptr_eq(&group("rate-late"), &group("rate-late-twin")));
    }

    /// Aggregation gives, group for group and bit for bit, what grouping every value into a
    /// sorted map and folding each group in order gives: with few groups (found by a scan)
    /// and many (found by hash), by one label, by two, and with the label missing.
    #[test]
    fn aggregation_gives_what_a_sorted_map_of_all_values_gives() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for (values, by) in [(3, vec!["k"]), (40, vec!["k"]), (7, vec!["k", "j"]), (3, vec!["missing"])] {
            let by: Vec<String> = by.into_iter().map(String::from).collect();
            let series: Vec<Labels> = (0..500)
                .map(|i| {
                    vec![
                        ("j".to_string(), format!("j{}", i % 2)),
                        ("k".to_string(), format!("v{}", rng.random_range(0..values))),
                    ]
                })
                .collect();
            let numbers: Vec<f64> = (0..500).map(|_| rng.random_range(-1e3..1e3)).collect();
            let mut reference: BTreeMap<Vec<String>, Vec<f64>> = BTreeMap::new();
            for (labels, v) in series.iter().zip(&numbers) {
                let key = by
                    .iter()
                    .map(|b| labels.iter().find(|(k, _)| k == b).map_or(String::new(), |(_, v)| v.clone()))
                    .collect();
                reference.entry(key).or_default().push(*v);
            }
            for op in [AggregationOp::Sum, AggregationOp::Avg, AggregationOp::Max, AggregationOp::Min] {
                let got = super::aggregate(series.iter().zip(numbers.iter().copied()), op, &by);
                let want: Vec<(Labels, f64)> = reference
                    .iter()
                    .map(|(key, vals)| {
                        let sum = vals.iter().fold(-0.0, |a, b| a + b);
                        let v = match op {
                            AggregationOp::Sum => sum,
                            AggregationOp::Avg => sum / vals.len() as f64,
                            AggregationOp::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                            AggregationOp::Min => vals.iter().copied().fold(f64::INFINITY, f64::min),
                        };
                        let labels =
                            by.iter().zip(key).filter(|(_, v)| !v.is_empty()).map(|(b, v)| (b.clone(), v.clone()));
                        (labels.collect(), v)
                    })
                    .collect();
                assert_eq!(got.len(), want.len(), "{op:?} by {by:?}");
                for (g, w) in got.iter().zip(&want) {
                    assert_eq!((&g.0, g.1.to_bits()), (&w.0, w.1.to_bits()), "{op:?} by {by:?}");
                }
            }
        }
    }

    /// A cycle's sums are kept per selection, matchers included: a ratio of one selection of
    /// a counter over the whole counter is that selection's share, not 1.
    #[test]
    fn a_ratio_of_a_selection_over_its_whole_metric_is_the_selections_share() {
        let condition =
            AlertCondition::Ratio { denominator: COUNTER.into(), window: None, threshold: Threshold::GreaterThan(0.1) };
        let mut ev = Evaluator::default();
        let now = Instant::now();
        ev.replace_rules(vec![rule("share", COUNTER, condition, only_a())], now);
        let series = |k: &str, v: f64| (vec![("k".to_string(), k.to_string())], v);
        let snap = Snapshot::of_metrics(vec![(COUNTER, vec![series("a", 30.0), series("b", 70.0)])]);
        ev.evaluate(&snap, now);
        let values: Vec<f64> = ev.alerts.values().map(|e| e.value).collect();
        assert_eq!(values, vec![0.3]);
    }
}
