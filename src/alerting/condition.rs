//! What a rule tests: [`AlertCondition`] and its [`Threshold`]s, plus the per-series state
//! some conditions need ([`History`] for rates and windowed ratios, [`Ewma`] for anomalies).

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// A comparison against a fixed value.
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
        match self {
            AlertCondition::Rate { window, .. } if window.is_zero() => {
                Err(("condition.window", "a rate needs a window above zero".into()))
            }
            AlertCondition::Ratio { window: Some(w), .. } if w.is_zero() => {
                Err(("condition.window", "a ratio window must be above zero".into()))
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

/// Recent samples of one cumulative series, enough to measure an increase over a window.
/// Times are kept as milliseconds since the first sample (16 bytes a sample): the engine
/// holds one of these per series of every rate rule.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    origin: Option<Instant>,
    samples: VecDeque<(u32, f64)>,
}

impl History {
    /// Adds a sample and drops those no longer needed for `window`. `expected` is how many
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
        self.samples.push_back((ms, value));
        let window_ms = u32::try_from(window.as_millis()).unwrap_or(u32::MAX);
        // Keep one sample at or before the window start: it is the baseline.
        if let Some(cutoff) = ms.checked_sub(window_ms) {
            while self.samples.get(1).is_some_and(|s| s.0 <= cutoff) {
                self.samples.pop_front();
            }
        }
    }

    /// Increase over the window and the time it spans; `None` until two samples exist.
    /// A drop in value is a counter reset: the part after the reset counts.
    pub(crate) fn increase(&self) -> Option<(f64, Duration)> {
        let (first_at, _) = *self.samples.front()?;
        let (last_at, _) = *self.samples.back()?;
        if self.samples.len() < 2 || last_at <= first_at {
            return None;
        }
        let mut inc = 0.0;
        let mut prev = None;
        for &(_, v) in &self.samples {
            if let Some(p) = prev {
                inc += if v >= p { v - p } else { v };
            }
            prev = Some(v);
        }
        Some((inc, Duration::from_millis(u64::from(last_at - first_at))))
    }

    /// Per-second rate over the window.
    pub(crate) fn rate(&self) -> Option<f64> {
        self.increase().map(|(inc, span)| inc / span.as_secs_f64())
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
        assert!(Threshold::Equal(0.0).test(0.0));
        assert!(Threshold::NotEqual(0.0).test(1.0));
        let r = Threshold::OutsideRange { low: 1.0, high: 2.0 };
        assert!(r.test(0.5) && r.test(2.5) && !r.test(1.5));
        assert!(!Threshold::NotEqual(0.0).test(f64::NAN));
        assert!(Threshold::OutsideRange { low: 2.0, high: 1.0 }.validate().is_err());
    }

    #[test]
    fn history_rate_handles_resets_and_windows() {
        let t0 = Instant::now();
        let mut h = History::default();
        let w = Duration::from_secs(10);
        h.push(t0, 100.0, w, 4);
        assert_eq!(h.rate(), None);
        h.push(t0 + Duration::from_secs(5), 150.0, w, 4);
        assert_eq!(h.rate(), Some(10.0));
        // Reset to 20: increase counts 50 then 20.
        h.push(t0 + Duration::from_secs(10), 20.0, w, 4);
        assert_eq!(h.increase(), Some((70.0, Duration::from_secs(10))));
        h.push(t0 + Duration::from_secs(20), 40.0, w, 4);
        // Baseline is now the sample at t0+10.
        assert_eq!(h.increase(), Some((20.0, Duration::from_secs(10))));
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
