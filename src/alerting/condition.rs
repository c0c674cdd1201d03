//! What a rule tests: [`AlertCondition`] and its [`Threshold`]s, plus the per-series state
//! some conditions need ([`History`] for rates and windowed ratios, [`Ewma`] for anomalies).

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// The window a histogram's mean is taken over when a rule reads a histogram alone: its
/// `_sum` and `_count` increases, as `rate(x_sum[5m]) / rate(x_count[5m])`.
pub(crate) const HISTOGRAM_MEAN_WINDOW: Duration = Duration::from_secs(300);

/// The window over which an anomaly rule on a counter reads its rate.
pub(crate) fn anomaly_rate_window(every: Duration) -> Duration {
    every.max(Duration::from_secs(60))
}

/// A comparison against a fixed value.
///
/// ```
/// use bitcraps_otel::alerting::{AlertCondition, Threshold};
/// assert!(Threshold::GreaterThan(0.05).test(0.06));
/// assert_eq!(AlertCondition::LessThan(15.0).threshold(), Some(Threshold::LessThan(15.0)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    /// Active while the value is above the bound.
    GreaterThan(f64),
    /// Active while the value is below the bound.
    LessThan(f64),
    /// Active while the value equals the bound (exactly; meant for 0/1 gauges and counts).
    Equal(f64),
    /// Active while the value differs from the bound.
    NotEqual(f64),
    /// Active while the value is below `low` or above `high`.
    OutsideRange {
        /// Lower edge of the healthy range.
        low: f64,
        /// Upper edge of the healthy range.
        high: f64,
    },
}

impl Threshold {
    /// Whether `value` makes the condition active. NaN never does.
    pub fn test(&self, value: f64) -> bool {
        if value.is_nan() {
            return false;
        }
        match *self {
            Threshold::GreaterThan(b) => value > b,
            Threshold::LessThan(b) => value < b,
            Threshold::Equal(b) => value == b,
            Threshold::NotEqual(b) => value != b,
            Threshold::OutsideRange { low, high } => value < low || value > high,
        }
    }

    /// The PromQL comparison for `expr` (which must be safe to repeat for a range).
    pub(crate) fn promql(&self, expr: &str) -> String {
        match *self {
            Threshold::GreaterThan(b) => format!("{expr} > {}", num(b)),
            Threshold::LessThan(b) => format!("{expr} < {}", num(b)),
            Threshold::Equal(b) => format!("{expr} == {}", num(b)),
            Threshold::NotEqual(b) => format!("{expr} != {}", num(b)),
            Threshold::OutsideRange { low, high } => {
                format!("({expr} < {}) or ({expr} > {})", num(low), num(high))
            }
        }
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        let finite = match *self {
            Threshold::GreaterThan(b) | Threshold::LessThan(b) | Threshold::Equal(b) | Threshold::NotEqual(b) => {
                b.is_finite()
            }
            Threshold::OutsideRange { low, high } => {
                if low.is_finite() && high.is_finite() && low > high {
                    return Err(format!("range low {low} is above high {high}"));
                }
                low.is_finite() && high.is_finite()
            }
        };
        if finite {
            Ok(())
        } else {
            Err("thresholds must be finite numbers".into())
        }
    }
}

/// A number as PromQL reads it.
pub(crate) fn num(v: f64) -> String {
    let s = format!("{v}");
    if s.contains('e') {
        format!("{v:e}")
    } else {
        s
    }
}

/// What makes an alert active. The first five compare the rule's metric (after label
/// matching and aggregation) directly; the others transform it first.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::alerting::{AlertCondition, Threshold};
///
/// let error_rate = AlertCondition::GreaterThan(0.05);
/// let churn = AlertCondition::Rate { window: Duration::from_secs(300), threshold: Threshold::GreaterThan(2.0) };
/// let quiet = AlertCondition::Absent { duration: Duration::from_secs(600) };
/// # let _ = (error_rate, churn, quiet);
/// ```
///
/// ```
/// use bitcraps_otel::alerting::AlertCondition;
/// let hot = AlertCondition::GreaterThan(45.0);
/// assert!(hot.threshold().is_some_and(|t| t.test(46.0)));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum AlertCondition {
    /// Value above the bound.
    GreaterThan(f64),
    /// Value below the bound.
    LessThan(f64),
    /// Value equal to the bound.
    Equal(f64),
    /// Value different from the bound.
    NotEqual(f64),
    /// Value outside `[low, high]`.
    OutsideRange {
        /// Lower edge of the healthy range.
        low: f64,
        /// Upper edge of the healthy range.
        high: f64,
    },
    /// Per-second increase of a counter over `window` (counter resets handled), compared with
    /// `threshold`. Applied per series, before aggregation (like PromQL `sum(rate(x[w]))`).
    Rate {
        /// How far back the increase is measured.
        window: Duration,
        /// What the rate is compared with.
        threshold: Threshold,
    },
    /// The rule's metric divided by `denominator` (both summed, per aggregation group), e.g.
    /// errors over games. With a `window`, both sides are increases over it. No value while
    /// the denominator is 0.
    Ratio {
        /// Metric name below the line (OTel or Prometheus name).
        denominator: String,
        /// Compare increases over this window instead of current values.
        window: Option<Duration>,
        /// What the ratio is compared with.
        threshold: Threshold,
    },
    /// No series of the metric (after matching) for `duration`.
    Absent {
        /// How long the metric must be missing.
        duration: Duration,
    },
    /// The value is more than `deviations` standard deviations away from an exponentially
    /// weighted moving average, once `warmup` samples have built the baseline.
    Anomaly {
        /// How many standard deviations count as anomalous (e.g. 3).
        deviations: f64,
        /// EWMA smoothing factor in (0, 1]; small is a long memory.
        alpha: f64,
        /// Samples needed before the condition can be active.
        warmup: u32,
    },
}

impl Default for AlertCondition {
    fn default() -> Self {
        AlertCondition::GreaterThan(0.0)
    }
}

impl AlertCondition {
    /// The comparison applied last, for the conditions that have one.
    pub fn threshold(&self) -> Option<Threshold> {
        match self {
            AlertCondition::GreaterThan(b) => Some(Threshold::GreaterThan(*b)),
            AlertCondition::LessThan(b) => Some(Threshold::LessThan(*b)),
            AlertCondition::Equal(b) => Some(Threshold::Equal(*b)),
            AlertCondition::NotEqual(b) => Some(Threshold::NotEqual(*b)),
            AlertCondition::OutsideRange { low, high } => Some(Threshold::OutsideRange { low: *low, high: *high }),
            AlertCondition::Rate { threshold, .. } | AlertCondition::Ratio { threshold, .. } => Some(*threshold),
            AlertCondition::Absent { .. } | AlertCondition::Anomaly { .. } => None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Some(t) = self.threshold() {
            t.validate().map_err(|e| ("condition", e))?;
        }
        use super::limits::{positive_at_most, MAX_WINDOW};
        match self {
            AlertCondition::Rate { window, .. } => {
                positive_at_most(*window, MAX_WINDOW).map_err(|e| ("condition.rate_over", e))
            }
            AlertCondition::Ratio { window: Some(w), .. } => {
                positive_at_most(*w, MAX_WINDOW).map_err(|e| ("condition.window", e))
            }
            AlertCondition::Absent { duration } => {
                positive_at_most(*duration, MAX_WINDOW).map_err(|e| ("condition.absent_for", e))
            }
            AlertCondition::Anomaly { deviations, alpha, .. } => {
                if !(deviations.is_finite() && *deviations > 0.0) {
                    Err(("condition.deviations", format!("must be a positive number, not {deviations}")))
                } else if !(*alpha > 0.0 && *alpha <= 1.0) {
                    Err(("condition.alpha", format!("must be in (0, 1], not {alpha}")))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}

/// Recent samples of one cumulative series, enough to measure an increase over a window the
/// way PromQL's `increase()`/`rate()` do at the time of the last sample: the samples inside
/// `[last - window, last]`, counter resets handled, extrapolated to the window's edges. The
/// same samples give the same number in both runtimes. Times are kept as milliseconds since
/// the first sample (16 bytes a sample): the engine holds one of these per series of every
/// rate rule.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    origin: Option<Instant>,
    samples: VecDeque<(u32, f64)>,
    window_ms: u32,
    /// How many neighbouring samples in `samples` drop in value (counter resets), kept as
    /// samples come and go: with none, `increase` skips its pass over the window.
    drops: usize,
}

impl History {
    /// Adds a sample and drops those older than `window` before it. `expected` is how many
    /// samples the window holds at the rule's interval, to size the buffer once.
    pub(crate) fn push(&mut self, at: Instant, value: f64, window: Duration, expected: usize) {
        let origin = *self.origin.get_or_insert(at);
        let Ok(ms) = u32::try_from(at.saturating_duration_since(origin).as_millis()) else {
            // 49 days since the first sample: start over rather than wrap.
            *self = History::default();
            return self.push(at, value, window, expected);
        };
        if self.samples.capacity() == 0 {
            self.samples.reserve_exact(expected.clamp(2, 1024));
        }
        if self.samples.back().is_some_and(|&(_, last)| value < last) {
            self.drops += 1;
        }
        self.samples.push_back((ms, value));
        self.window_ms = u32::try_from(window.as_millis()).unwrap_or(u32::MAX);
        // A range selector includes a sample exactly at its start.
        if let Some(cutoff) = ms.checked_sub(self.window_ms) {
            while self.samples.front().is_some_and(|s| s.0 < cutoff) {
                if let (Some(&(_, first)), Some(&(_, second))) = (self.samples.front(), self.samples.get(1)) {
                    if second < first {
                        self.drops -= 1;
                    }
                }
                self.samples.pop_front();
            }
        }
    }

    /// PromQL's `increase()` over the window ending at the last sample, and the window;
    /// `None` until two samples are in it. A drop in value is a counter reset: the part after
    /// the reset counts. Extrapolated like Prometheus: to the window's start when the first
    /// sample is within 1.1 sample intervals of it (never below the counter's zero), else by
    /// half an interval.
    pub(crate) fn increase(&self) -> Option<(f64, Duration)> {
        let (first_at, first) = *self.samples.front()?;
        let (last_at, last) = *self.samples.back()?;
        if self.samples.len() < 2 || last_at <= first_at {
            return None;
        }
        let mut result = last - first;
        // Without a drop between samples the pass adds nothing (a first sample below zero
        // adds the 0.0 it is compared with).
        if self.drops > 0 {
            result = with_resets(result, self.samples.iter().map(|&(_, v)| v));
        }
        Some(extrapolate(result, (first_at, first), last_at, self.samples.len(), self.window_ms))
    }

    /// A history holding `samples` (times in ms since `origin`, oldest first) over a window
    /// of `window_ms`, as if they had been pushed one by one.
    pub(crate) fn from_parts(origin: Instant, samples: VecDeque<(u32, f64)>, window_ms: u32) -> History {
        let drops = samples.iter().zip(samples.iter().skip(1)).filter(|(a, b)| b.1 < a.1).count();
        History { origin: Some(origin), samples, window_ms, drops }
    }

    /// PromQL's `rate()`: the increase per second of the window.
    pub(crate) fn rate(&self) -> Option<f64> {
        self.increase().map(|(inc, window)| inc / window.as_secs_f64())
    }
}

/// `result` (last minus first sample) plus what counter resets hid: each drop between
/// neighbours adds the value before it, in order (a first value below zero adds the 0.0 it
/// is compared with).
pub(crate) fn with_resets(mut result: f64, values: impl Iterator<Item = f64>) -> f64 {
    let mut previous = 0.0;
    for v in values {
        if v < previous {
            result += previous;
        }
        previous = v;
    }
    result
}

/// The increase `result` seen between the first sample `(first_at, first)` and the last at
/// `last_at` (ms, `len` samples), extrapolated like Prometheus: to the window's start when
/// the first sample is within 1.1 sample intervals of it (never below the counter's zero),
/// else by half an interval. Returns it with the window.
pub(crate) fn extrapolate(
    result: f64,
    (first_at, first): (u32, f64),
    last_at: u32,
    len: usize,
    window_ms: u32,
) -> (f64, Duration) {
    Timing::new(first_at, last_at, len, window_ms).extrapolate(result, first)
}

/// What [`extrapolate`] works out from sample times alone, once for every series sampled at
/// the same times: then each series costs a multiplication, and a division when its
/// counter's zero is nearer than the window's start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    to_start: f64,
    sampled: f64,
    average: f64,
    threshold: f64,
    /// `(sampled + the extrapolation) / sampled` when the zero does not come into it.
    factor: f64,
    window_ms: u32,
}

impl Timing {
    /// Samples from `first_at` to `last_at` (ms, `len` of them, `last_at > first_at`, `len >= 2`).
    pub(crate) fn new(first_at: u32, last_at: u32, len: usize, window_ms: u32) -> Timing {
        let range_start = f64::from(last_at) - f64::from(window_ms);
        let to_start = (f64::from(first_at) - range_start) / 1000.0;
        let sampled = f64::from(last_at - first_at) / 1000.0;
        let average = sampled / (len - 1) as f64;
        let threshold = average * 1.1;
        let mut t = Timing { to_start, sampled, average, threshold, factor: 0.0, window_ms };
        t.factor = t.factor_from(to_start);
        t
    }

    /// The extrapolated window over the sampled span, extrapolating to the start by `to_start`.
    fn factor_from(&self, to_start: f64) -> f64 {
        let to_end = 0.0;
        let mut extrapolate_to = self.sampled;
        extrapolate_to += if to_start < self.threshold { to_start } else { self.average / 2.0 };
        extrapolate_to += if to_end < self.threshold { to_end } else { self.average / 2.0 };
        extrapolate_to / self.sampled
    }

    /// [`extrapolate`] of `result` with first sample value `first`, at these times.
    pub(crate) fn extrapolate(&self, result: f64, first: f64) -> (f64, Duration) {
        let mut factor = self.factor;
        if result > 0.0 && first >= 0.0 {
            let to_zero = self.sampled * (first / result);
            if to_zero < self.to_start {
                factor = self.factor_from(to_zero);
            }
        }
        (result * factor, Duration::from_millis(u64::from(self.window_ms)))
    }
}

/// Exponentially weighted mean and variance of one series.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ewma {
    mean: f64,
    var: f64,
    n: u32,
}

impl Ewma {
    /// Tests `value` against the baseline, then learns from it. True when anomalous.
    pub(crate) fn observe(&mut self, value: f64, deviations: f64, alpha: f64, warmup: u32) -> bool {
        if !value.is_finite() {
            return false;
        }
        if self.n == 0 {
            self.mean = value;
            self.var = 0.0;
            self.n = 1;
            return false;
        }
        let diff = value - self.mean;
        // A perfectly flat baseline has no spread; any real change from it is anomalous, but
        // float noise is not.
        let std = self.var.sqrt().max(1e-9 * self.mean.abs().max(1.0));
        let anomalous = self.n >= warmup && diff.abs() > deviations * std;
        self.mean += alpha * diff;
        self.var = (1.0 - alpha) * (self.var + alpha * diff * diff);
        self.n = self.n.saturating_add(1);
        anomalous
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert!(Threshold::GreaterThan(1.0).test(1.5));
        assert!(!Threshold::GreaterThan(1.0).test(1.0));
        assert!(Threshold::LessThan(1.0).test(0.5));
        assert!(!Threshold::LessThan(1.0).test(1.0), "the bound itself is not below the bound");
        assert!(Threshold::Equal(0.0).test(0.0));
        assert!(Threshold::NotEqual(0.0).test(1.0));
        let r = Threshold::OutsideRange { low: 1.0, high: 2.0 };
        assert!(r.test(0.5) && r.test(2.5) && !r.test(1.5));
        assert!(!Threshold::NotEqual(0.0).test(f64::NAN));
        assert!(Threshold::OutsideRange { low: 2.0, high: 1.0 }.validate().is_err());
    }

    #[test]
    fn history_matches_promql_increase_and_rate() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let w = s(30);
        let mut h = History::default();
        // Samples every 15 s on a 30 s window, as `increase(c[30s])` sees them.
        for (i, v) in [0.0, 10.0, 20.0, 30.0, 60.0].into_iter().enumerate() {
            h.push(t0 + s(15 * i as u64), v, w, 4);
        }
        assert_eq!(h.increase(), Some((40.0, w)), "samples at 30, 45 and 60 s span the window: 60 - 20");
        assert_eq!(h.rate(), Some(40.0 / 30.0));
        // A reset to 5 counts the 60 before it.
        h.push(t0 + s(75), 5.0, w, 4);
        assert_eq!(h.increase().map(|(i, _)| i), Some(35.0));
        // Two samples 15 s apart at the start of a 5 m window: extrapolated by half an
        // interval at the start only...
        let mut early = History::default();
        early.push(t0, 100.0, s(300), 21);
        early.push(t0 + s(15), 110.0, s(300), 21);
        assert_eq!(early.increase().map(|(i, _)| i), Some(10.0 * (22.5 / 15.0)));
        // ...or to the counter's zero point when that is nearer (15 s before 10 → 20).
        let mut near_zero = History::default();
        near_zero.push(t0, 10.0, s(300), 21);
        near_zero.push(t0 + s(15), 20.0, s(300), 21);
        assert_eq!(near_zero.increase().map(|(i, _)| i), Some(20.0));
        let mut from_zero = History::default();
        from_zero.push(t0, 0.0, s(300), 21);
        from_zero.push(t0 + s(15), 3.0, s(300), 21);
        assert_eq!(from_zero.increase().map(|(i, _)| i), Some(3.0), "the counter's zero is the first sample");
        let mut one = History::default();
        one.push(t0, 1.0, w, 2);
        assert_eq!(one.rate(), None);
    }

    #[test]
    fn a_reset_that_left_the_window_no_longer_counts() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let w = s(30);
        let mut seen_reset = History::default();
        for (i, v) in [0.0, 10.0, 20.0, 5.0, 15.0, 25.0, 35.0].into_iter().enumerate() {
            seen_reset.push(t0 + s(15 * i as u64), v, w, 4);
            if i == 4 {
                assert_eq!(
                    seen_reset.increase().map(|(inc, _)| inc),
                    Some(15.0),
                    "20 → 5 → 15: 15 - 20 + the 20 before the reset"
                );
                assert_eq!(seen_reset.drops, 1);
            }
        }
        let mut fresh = History::default();
        for (i, v) in [15.0, 25.0, 35.0].into_iter().enumerate() {
            fresh.push(t0 + s(60 + 15 * i as u64), v, w, 4);
        }
        assert_eq!(seen_reset.samples.len(), 3);
        assert_eq!(seen_reset.increase(), fresh.increase());
        assert_eq!(seen_reset.drops, 0);
    }

    #[test]
    fn ewma_flags_a_jump_after_warmup_only() {
        let mut e = Ewma::default();
        for i in 0..20 {
            let v = 10.0 + if i % 2 == 0 { 0.5 } else { -0.5 };
            assert!(!e.observe(v, 3.0, 0.2, 10), "sample {i}");
        }
        assert!(e.observe(20.0, 3.0, 0.2, 10));
        let mut cold = Ewma::default();
        assert!(!cold.observe(1.0, 3.0, 0.2, 5));
        assert!(!cold.observe(100.0, 3.0, 0.2, 5), "still warming up");
    }
}
