//! Reconnection delays: exponential from an initial delay, capped, with jitter so that peers
//! that lost the same node do not all redial it in step.

use rand::Rng;
use std::time::Duration;

/// An exponential backoff with "equal jitter": attempt `n` waits between half and all of
/// `min(initial × 2ⁿ, max)`.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::mesh::Backoff;
///
/// let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
/// let mut rng = rand::rng();
/// let first = b.next_delay(&mut rng);
/// assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
/// for _ in 0..20 {
///     assert!(b.next_delay(&mut rng) <= Duration::from_secs(5));
/// }
/// b.reset(); // after a connection that worked
/// assert!(b.next_delay(&mut rng) <= Duration::from_millis(100));
/// ```
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `initial`, never waits longer than `max` (at least `initial`).
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff { initial, max: max.max(initial), attempt: 0 }
    }

    /// Failed attempts since the last [`Backoff::reset`].
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The delay before the next attempt; each call doubles the ceiling up to the cap.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let ceiling = self.initial.saturating_mul(1u32 << self.attempt.min(20)).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        half + Duration::from_nanos(rng.random_range(0..=(ceiling - half).as_nanos() as u64))
    }

    /// Back to the initial delay (a connection succeeded).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn delays_double_up_to_the_cap_and_stay_in_their_jitter_band() {
        let mut rng = StdRng::seed_from_u64(5);
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(2));
        let mut b = Backoff::new(initial, max);
        for n in 0..12u32 {
            let ceiling = (initial * 2u32.pow(n)).min(max);
            let d = b.next_delay(&mut rng);
            assert!(d >= ceiling / 2 && d <= ceiling, "attempt {n}: {d:?} outside [{:?}, {ceiling:?}]", ceiling / 2);
        }
        assert_eq!(b.attempts(), 12);
        b.reset();
        assert!(b.next_delay(&mut rng) <= initial);
    }

    #[test]
    fn jitter_spreads_the_delays() {
        let mut rng = StdRng::seed_from_u64(9);
        let delays: std::collections::BTreeSet<Duration> = (0..20)
            .map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay(&mut rng))
            .collect();
        assert!(delays.len() > 10, "{delays:?}");
    }
}
