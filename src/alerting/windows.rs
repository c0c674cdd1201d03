//! The rate windows of one rule, all its series in one block: what `rate()` and a windowed
//! histogram mean need from each series, kept so that a cycle walks memory in order.
//!
//! Every series a rule keeps a window for is sampled at each of the rule's evaluations (a
//! series missing from one is forgotten), so the evaluation times are shared: one ring of
//! instants for the rule, and per series a fixed-size ring of values in one `Vec`. Each
//! series still measures its own times from its own first sample, exactly as a
//! [`History`] of its own would (same window edges, same counter resets, same numbers):
//! [`History`] is the reference, and [`Windows::into_histories`] hands the same state
//! over to it when a collection carries one series twice (two attribute sets that flatten
//! to one label set), which only a history per series can hold.

use super::condition::{extrapolate, with_resets, History, Timing};
use super::labels::ByLabelsKey;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// Values kept per series and sample: a counter, or a histogram's `_sum` and `_count`.
pub(crate) const MAX_PLANES: usize = 2;

/// One series' place in the block.
#[derive(Clone, Copy, Debug)]
struct Series {
    key: u64,
    /// When its first sample was taken; its sample times are ms since then.
    origin: Instant,
    /// Row of its oldest sample still in the window.
    first: u64,
    /// Row of its newest sample.
    last: u64,
    /// Neighbouring samples in the window that drop in value, per plane.
    drops: [u32; MAX_PLANES],
}

/// The windows of every series of one rule.
#[derive(Debug, Default)]
pub(crate) struct Windows {
    planes: usize,
    window_ms: u32,
    /// Instants of the rows still needed, oldest first; the first is row `base`.
    times: VecDeque<Instant>,
    base: u64,
    /// When the most series started: the times of rows in ms since then are in `ms`.
    common: Option<Instant>,
    /// `times` in ms since `common` (`None`: beyond `u32`), row for row.
    ms: VecDeque<Option<u32>>,
    /// Rows each series' ring holds: a power of two, so a row's place is a mask away.
    cap: usize,
    series: Vec<Series>,
    index: ByLabelsKey<usize>,
    /// Series `i`'s value of plane `p` at row `r` is at `(i * planes + p) * cap + r % cap`.
    values: Vec<f64>,
    /// Where the next push of this evaluation probably goes.
    cursor: usize,
    /// This evaluation's row in ms since `common` (`None`: past `u32`, or no row).
    now_ms: Option<u32>,
    /// For series counted from `common`: the oldest row still in the window this
    /// evaluation (`None`: the window reaches before every row).
    edge: Option<u64>,
    /// For series counted from `common` whose oldest sample is row `.0`: the times of the
    /// extrapolation (`None`: too few samples). Most series share one.
    timing: Option<(u64, Option<Timing>)>,
}

/// A series pushed twice in one evaluation.
#[derive(Debug)]
pub(crate) struct Twice;

/// `at - origin` in whole ms, `None` past `u32` (49 days), as [`History`] counts it.
fn ms_since(at: Instant, origin: Instant) -> Option<u32> {
    u32::try_from(at.saturating_duration_since(origin).as_millis()).ok()
}

impl Windows {
    /// The row being written.
    fn row(&self) -> u64 {
        self.base + self.times.len() as u64 - 1
    }

    /// Starts an evaluation at `now` (later than the last) over `window`, keeping `planes`
    /// values a series (1 or 2); `expected` is how many samples a window holds.
    pub(crate) fn begin(&mut self, now: Instant, window: Duration, planes: usize, expected: usize) {
        let planes = planes.clamp(1, MAX_PLANES);
        if self.planes != planes {
            *self = Windows { planes, cap: expected.clamp(2, 1024).next_power_of_two(), ..Windows::default() };
        }
        self.window_ms = u32::try_from(window.as_millis()).unwrap_or(u32::MAX);
        if self.times.is_empty() {
            self.common = Some(now);
            self.ms.clear();
        }
        self.cursor = 0;
        self.times.push_back(now);
        self.now_ms = self.common.and_then(|c| ms_since(now, c));
        self.ms.push_back(self.now_ms);
        if self.times.len() > self.cap {
            self.grow(self.times.len().next_power_of_two().max(self.cap * 2));
        }
        // Every series counted from `common` has the same sample times: where its window
        // starts is worked out once here rather than per series. Times only grow, so the
        // rows before the first one inside the window are all outside it.
        let row = self.row();
        self.timing = None;
        self.edge = self.now_ms.and_then(|ms| ms.checked_sub(self.window_ms)).map(|cutoff| {
            let mut r = self.base;
            while r < row && self.ms[(r - self.base) as usize].is_some_and(|ms| ms < cutoff) {
                r += 1;
            }
            r
        });
    }

    /// Gives every series' ring `cap` rows.
    fn grow(&mut self, cap: usize) {
        let old = self.cap;
        let block = self.planes * cap;
        let mut values = vec![f64::NAN; self.series.len() * block];
        for (i, s) in self.series.iter().enumerate() {
            for p in 0..self.planes {
                for r in s.first..=s.last {
                    values[(i * self.planes + p) * cap + (r as usize & (cap - 1))] =
                        self.values[(i * self.planes + p) * old + (r as usize & (old - 1))];
                }
            }
        }
        self.values = values;
        self.cap = cap;
    }

    /// ms of row `r` since `origin`.
    fn ms_of(&self, r: u64, origin: Instant) -> Option<u32> {
        let at = (r - self.base) as usize;
        if Some(origin) == self.common {
            self.ms[at]
        } else {
            ms_since(self.times[at], origin)
        }
    }

    fn at(&self, i: usize, p: usize, r: u64) -> usize {
        (i * self.planes + p) * self.cap + (r as usize & (self.cap - 1))
    }

    /// Adds this evaluation's values of series `key` (the first `planes` of `values`) and
    /// returns each plane's increase over the window, as [`History::increase`] would.
    /// `Err(Twice)` when the series was pushed already in this evaluation; nothing changes.
    pub(crate) fn push(
        &mut self,
        key: u64,
        values: [f64; MAX_PLANES],
    ) -> Result<[Option<(f64, Duration)>; MAX_PLANES], Twice> {
        let row = self.row();
        let now = self.times[self.times.len() - 1];
        // Collections list series in the same order each time: the next one is most
        // likely where the last push left off.
        let guess = self.cursor;
        let found = match self.series.get(guess) {
            Some(s) if s.key == key => Some(guess),
            _ => self.index.get(&key).copied(),
        };
        let i = match found {
            Some(i) => {
                if self.series[i].last == row {
                    return Err(Twice);
                }
                i
            }
            None => {
                let i = self.series.len();
                self.index.insert(key, i);
                self.series.push(Series { key, origin: now, first: row, last: row, drops: [0; MAX_PLANES] });
                self.values.resize(self.values.len() + self.planes * self.cap, f64::NAN);
                i
            }
        };
        self.cursor = i + 1;
        let (planes, cap, base, window_ms) = (self.planes, self.cap, self.base, self.window_ms);
        let (times, ms, common) = (&self.times, &self.ms, self.common);
        let ms_of = |r: u64, origin: Instant| -> Option<u32> {
            let at = (r - base) as usize;
            if Some(origin) == common {
                ms[at]
            } else {
                ms_since(times[at], origin)
            }
        };
        let s = &mut self.series[i];
        // Counted from `common`: its window's edge and timing are the evaluation's.
        let shared = self.now_ms.is_some() && Some(s.origin) == common;
        let ms_now = match if shared { self.now_ms } else { ms_of(row, s.origin) } {
            Some(ms) => ms,
            // 49 days since its first sample: start over rather than wrap.
            None => {
                *s = Series { key, origin: now, first: row, last: row, drops: [0; MAX_PLANES] };
                0
            }
        };
        let mask = cap - 1;
        let block = &mut self.values[i * planes * cap..(i + 1) * planes * cap];
        let slot = |p: usize, r: u64| p * cap + (r as usize & mask);
        for (p, &v) in values.iter().enumerate().take(planes) {
            if s.first < row && v < block[slot(p, row - 1)] {
                s.drops[p] += 1;
            }
            block[slot(p, row)] = v;
        }
        s.last = row;
        let drop_first = |s: &mut Series| {
            for p in 0..planes {
                if block[slot(p, s.first + 1)] < block[slot(p, s.first)] {
                    s.drops[p] -= 1;
                }
            }
            s.first += 1;
        };
        let mut out = [None; MAX_PLANES];
        if shared {
            if let Some(edge) = self.edge {
                while s.first < edge {
                    drop_first(s);
                }
            }
            let first = s.first;
            let timing = match self.timing {
                Some((at, timing)) if at == first => timing,
                _ => {
                    let first_at = ms[(first - base) as usize].unwrap_or(0);
                    let len = (row - first + 1) as usize;
                    let timing = (len >= 2 && ms_now > first_at).then(|| Timing::new(first_at, ms_now, len, window_ms));
                    self.timing = Some((first, timing));
                    timing
                }
            };
            if let Some(timing) = timing {
                for (p, out) in out.iter_mut().enumerate().take(planes) {
                    let first = block[slot(p, s.first)];
                    let mut result = block[slot(p, row)] - first;
                    if s.drops[p] > 0 {
                        result = with_resets(result, (s.first..=row).map(|r| block[slot(p, r)]));
                    }
                    *out = Some(timing.extrapolate(result, first));
                }
            }
            return Ok(out);
        }
        // A range selector includes a sample exactly at its start.
        let mut first_at = ms_of(s.first, s.origin);
        if let Some(cutoff) = ms_now.checked_sub(window_ms) {
            while s.first < row && first_at.is_some_and(|ms| ms < cutoff) {
                drop_first(s);
                first_at = ms_of(s.first, s.origin);
            }
        }
        let first_at = first_at.unwrap_or(0);
        let len = (row - s.first + 1) as usize;
        if len >= 2 && ms_now > first_at {
            for (p, out) in out.iter_mut().enumerate().take(planes) {
                let first = block[slot(p, s.first)];
                let mut result = block[slot(p, row)] - first;
                if s.drops[p] > 0 {
                    result = with_resets(result, (s.first..=row).map(|r| block[slot(p, r)]));
                }
                *out = Some(extrapolate(result, (first_at, first), ms_now, len, window_ms));
            }
        }
        Ok(out)
    }

    /// Ends the evaluation: forgets the series it did not push, and rows no series needs.
    pub(crate) fn end(&mut self) {
        if self.times.is_empty() {
            return;
        }
        let row = self.row();
        let block = self.planes * self.cap;
        let mut i = 0;
        while i < self.series.len() {
            if self.series[i].last == row {
                i += 1;
                continue;
            }
            let gone = self.series.swap_remove(i);
            self.index.remove(&gone.key);
            let moved_from = self.series.len();
            if i < moved_from {
                self.values.copy_within(moved_from * block..(moved_from + 1) * block, i * block);
                self.index.insert(self.series[i].key, i);
            }
            self.values.truncate(moved_from * block);
        }
        let keep_from = self.series.iter().map(|s| s.first).min().unwrap_or(row + 1);
        while self.base < keep_from && !self.times.is_empty() {
            self.times.pop_front();
            self.ms.pop_front();
            self.base += 1;
        }
    }

    /// The same state as one [`History`] per series (both planes), by series key, with
    /// whether the series was pushed in the evaluation under way.
    pub(crate) fn into_histories(self) -> Vec<(u64, [History; MAX_PLANES], bool)> {
        let row = if self.times.is_empty() { None } else { Some(self.row()) };
        self.series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let histories = std::array::from_fn(|p| {
                    if p >= self.planes {
                        return History::default();
                    }
                    let samples = (s.first..=s.last)
                        .map(|r| (self.ms_of(r, s.origin).unwrap_or(0), self.values[self.at(i, p, r)]))
                        .collect();
                    History::from_parts(s.origin, samples, self.window_ms)
                });
                (s.key, histories, Some(s.last) == row)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::HashMap;

    /// The block gives what one `History` per series gives, number for number, while
    /// series come and go, counters reset, and evaluations fall between milliseconds.
    #[test]
    fn windows_give_exactly_what_a_history_per_series_gives() {
        // A ring of 2 rows has to grow to hold a window.
        for (planes, size) in [(1, 6), (2, 6), (1, 2)] {
            let mut rng = rand::rngs::StdRng::seed_from_u64(7 + planes as u64 + size as u64);
            let window = Duration::from_secs(60);
            let mut windows = Windows::default();
            let mut reference: HashMap<u64, [History; MAX_PLANES]> = HashMap::new();
            let mut values: HashMap<u64, [f64; MAX_PLANES]> = HashMap::new();
            let mut now = Instant::now();
            let mut compared = 0;
            for step in 0..400 {
                // 15 s apart, give or take a fraction of a millisecond, sometimes much more.
                now += Duration::from_micros(15_000_000 + rng.random_range(0..900));
                if step % 97 == 0 {
                    now += Duration::from_secs(rng.random_range(30..200));
                }
                windows.begin(now, window, planes, size);
                let mut pushed = Vec::new();
                for key in 0..12u64 {
                    // Series 0 is always there; the others come and go.
                    if key > 0 && rng.random_bool(0.15) {
                        continue;
                    }
                    let v = values.entry(key).or_insert([0.0; MAX_PLANES]);
                    for x in v.iter_mut() {
                        *x = if rng.random_bool(0.05) {
                            rng.random_range(0.0..3.0)
                        } else {
                            *x + rng.random_range(0.0..10.0)
                        };
                    }
                    let got = windows.push(key, *v).expect("once per evaluation");
                    let h = reference.entry(key).or_default();
                    for p in 0..planes {
                        h[p].push(now, v[p], window, size);
                        assert_eq!(got[p], h[p].increase(), "series {key} plane {p} at step {step}");
                        compared += 1;
                    }
                    pushed.push(key);
                }
                assert!(windows.push(0, [1.0; MAX_PLANES]).is_err(), "series 0 twice in one evaluation");
                windows.end();
                reference.retain(|k, _| pushed.contains(k));
                values.retain(|k, _| pushed.contains(k));
            }
            assert!(compared > 3000);
            // Handed over to histories, the state goes on giving the same numbers.
            now += Duration::from_secs(15);
            windows.begin(now, window, planes, size);
            let histories: HashMap<u64, [History; MAX_PLANES]> =
                windows.into_histories().into_iter().map(|(k, h, _)| (k, h)).collect();
            assert_eq!(histories.len(), reference.len());
            for (key, mut h) in histories {
                let r = reference.get_mut(&key).expect("same series");
                for p in 0..planes {
                    h[p].push(now, 1e6, window, size);
                    r[p].push(now, 1e6, window, size);
                    assert_eq!(h[p].increase(), r[p].increase(), "series {key} plane {p} after the hand-over");
                }
            }
        }
    }
}
