//! One histogram series in memory: bucket counts, sum, min and max in a few cache-line-padded
//! stripes, so threads recording into the same series do not fight over one cache line.
//!
//! A thread always writes the stripe picked by its ordinal (threads are numbered in the order
//! they first record), so two threads land on two stripes and neither waits for the other.
//! Every field is still an atomic read-modify-write, so two threads that do share a stripe
//! lose nothing. A reader adds the stripes up; nothing on the recording path knows readers
//! exist, so attaching more consumers costs a recording nothing.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Sixteen words, 128-byte aligned: two cache lines, because x86 prefetches lines in
/// adjacent pairs, so stripes closer than 128 bytes would still slow each other down.
#[repr(align(128))]
struct Line([AtomicU64; WORDS_PER_LINE]);

const WORDS_PER_LINE: usize = 16;
/// Word offsets inside a stripe; bucket counts follow.
const SUM: usize = 0;
const MIN: usize = 1;
const MAX: usize = 2;
const FIRST_BUCKET: usize = 3;

/// Stripes per series: enough for the cores that can really record at once, capped because
/// each stripe of each series is a few cache lines.
fn stripe_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        cores.clamp(2, 8).next_power_of_two()
    })
}

/// This thread's ordinal: threads are numbered as they first record, so consecutive threads
/// get consecutive stripes.
#[inline]
fn thread_ordinal() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static ORDINAL: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    // A thread-local being torn down (a recording from another thread-local's destructor)
    // falls back to stripe 0: still correct, only shared.
    ORDINAL
        .try_with(|o| {
            let mut n = o.get();
            if n == usize::MAX {
                n = NEXT.fetch_add(1, Ordering::Relaxed);
                o.set(n);
            }
            n
        })
        .unwrap_or(0)
}

/// Maps an `f64` to a `u64` with the same order (negative values included), so min and max
/// can be kept with integer `fetch_min`/`fetch_max`.
#[inline]
fn order_key(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

#[inline]
fn from_order_key(k: u64) -> f64 {
    if k >> 63 == 1 {
        f64::from_bits(k & !(1 << 63))
    } else {
        f64::from_bits(!k)
    }
}

/// The striped storage of every series of one histogram, in one allocation: series `s`,
/// stripe `t` starts at line `(s * stripes + t) * lines_per_stripe`, so a recording is a
/// couple of multiplications away from its words.
pub(crate) struct StripedCells {
    lines: Box<[Line]>,
    lines_per_stripe: usize,
    stripe_mask: usize,
    buckets: usize,
}

/// What a reader sees of one series: the stripes added up.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SeriesTotals {
    pub(crate) bucket_counts: Vec<u64>,
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl StripedCells {
    /// Storage for `series` series of `buckets` buckets each.
    pub(crate) fn new(series: usize, buckets: usize) -> StripedCells {
        Self::with_stripes(series, buckets, stripe_count())
    }

    pub(crate) fn with_stripes(series: usize, buckets: usize, stripes: usize) -> StripedCells {
        let stripes = stripes.max(1).next_power_of_two();
        let lines_per_stripe = (FIRST_BUCKET + buckets).div_ceil(WORDS_PER_LINE);
        let lines = (0..series * stripes * lines_per_stripe)
            .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
            .collect::<Box<[Line]>>();
        let cells = StripedCells { lines, lines_per_stripe, stripe_mask: stripes - 1, buckets };
        for s in 0..series {
            for t in 0..stripes {
                let base = cells.base(s, t);
                cells.word(base, MIN).store(u64::MAX, Ordering::Relaxed);
            }
        }
        cells
    }

    /// First line of series `s`, stripe `t`.
    #[inline]
    fn base(&self, series: usize, stripe: usize) -> usize {
        (series * (self.stripe_mask + 1) + stripe) * self.lines_per_stripe
    }

    #[inline]
    fn word(&self, base: usize, w: usize) -> &AtomicU64 {
        &self.lines[base + w / WORDS_PER_LINE].0[w % WORDS_PER_LINE]
    }

    /// Adds one finite value that falls in `bucket` to `series`.
    #[inline]
    pub(crate) fn record(&self, series: usize, bucket: usize, v: f64) {
        let base = self.base(series, thread_ordinal() & self.stripe_mask);
        let sum = self.word(base, SUM);
        let mut cur = sum.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(cur) + v).to_bits();
            match sum.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(seen) => cur = seen,
            }
        }
        let key = order_key(v);
        // Min and max settle quickly: after the first few values a plain load is all it takes.
        let min = self.word(base, MIN);
        if key < min.load(Ordering::Relaxed) {
            min.fetch_min(key, Ordering::Relaxed);
        }
        let max = self.word(base, MAX);
        if key > max.load(Ordering::Relaxed) {
            max.fetch_max(key, Ordering::Relaxed);
        }
        // Release: a reader that sees this count also sees the min, max and sum written above,
        // so a counted stripe never reports the empty min/max.
        self.word(base, FIRST_BUCKET + bucket).fetch_add(1, Ordering::Release);
    }

    /// The stripes of `series` added up, or `None` while it has recorded nothing.
    pub(crate) fn totals(&self, series: usize) -> Option<SeriesTotals> {
        let mut bucket_counts = vec![0u64; self.buckets];
        let (mut sum, mut min, mut max, mut count) = (0.0, u64::MAX, 0u64, 0u64);
        for t in 0..=self.stripe_mask {
            let base = self.base(series, t);
            let mut stripe_count = 0;
            for (b, total) in bucket_counts.iter_mut().enumerate() {
                let n = self.word(base, FIRST_BUCKET + b).load(Ordering::Acquire);
                *total += n;
                stripe_count += n;
            }
            if stripe_count == 0 {
                continue;
            }
            count += stripe_count;
            sum += f64::from_bits(self.word(base, SUM).load(Ordering::Relaxed));
            min = min.min(self.word(base, MIN).load(Ordering::Relaxed));
            max = max.max(self.word(base, MAX).load(Ordering::Relaxed));
        }
        (count > 0).then(|| SeriesTotals {
            bucket_counts,
            count,
            sum,
            min: from_order_key(min),
            max: from_order_key(max),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_keys_sort_like_the_floats_they_encode() {
        let values = [f64::NEG_INFINITY, -1e9, -2.5, -0.0, 0.0, 1e-300, 0.25, 7.0, f64::MAX, f64::INFINITY];
        for pair in values.windows(2) {
            assert!(order_key(pair[0]) < order_key(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        for v in values {
            assert_eq!(from_order_key(order_key(v)).to_bits(), v.to_bits());
        }
    }

    #[test]
    fn an_empty_series_has_no_totals() {
        assert_eq!(StripedCells::new(2, 3).totals(1), None);
    }

    #[test]
    fn totals_add_every_stripe_of_their_own_series_only() {
        let cells = StripedCells::with_stripes(3, 3, 4);
        cells.record(1, 0, 0.5);
        cells.record(1, 2, 9.0);
        cells.record(1, 1, -3.0);
        cells.record(2, 1, 1.5);
        let t = cells.totals(1).expect("recorded");
        assert_eq!(t.bucket_counts, [1, 1, 1]);
        assert_eq!((t.count, t.sum, t.min, t.max), (3, 6.5, -3.0, 9.0));
        assert_eq!(cells.totals(0), None);
        assert_eq!(cells.totals(2).map(|t| (t.count, t.sum, t.min, t.max)), Some((1, 1.5, 1.5, 1.5)));
    }

    #[test]
    fn two_threads_on_one_series_lose_no_count() {
        // Both on one stripe as well as on their own: the atomics must add up either way.
        for stripes in [1, 8] {
            let cells = StripedCells::with_stripes(1, 2, stripes);
            let per_thread = 200_000u64;
            std::thread::scope(|s| {
                for t in 0..2 {
                    let cells = &cells;
                    s.spawn(move || {
                        for i in 0..per_thread {
                            // Thread 0 records 0.5 and 2.0 alternately, thread 1 always 0.25.
                            let v = if t == 1 {
                                0.25
                            } else if i % 2 == 0 {
                                0.5
                            } else {
                                2.0
                            };
                            cells.record(0, usize::from(v > 1.0), v);
                        }
                    });
                }
            });
            let t = cells.totals(0).expect("recorded");
            assert_eq!(t.count, 2 * per_thread, "{stripes} stripes");
            assert_eq!(t.bucket_counts, [per_thread + per_thread / 2, per_thread / 2], "{stripes} stripes");
            // Every value is a multiple of 1/4, so the float sum is exact.
            assert_eq!(t.sum, per_thread as f64 * 0.25 + (per_thread / 2) as f64 * 2.5, "{stripes} stripes");
            assert_eq!((t.min, t.max), (0.25, 2.0), "{stripes} stripes");
        }
    }
}
