//! What each channel accepts, whatever the route: whether it is told of resolutions, and how
//! many notifications it may get in a window. A channel over its rate waits: what it was not
//! sent stays due and goes out, most severe first, once the window has room (nothing is
//! dropped, and the engine logs that it held some back).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// At most `max` notifications per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Notifications allowed in a window (at least 1).
    pub max: u32,
    /// The window.
    pub per: Duration,
}

/// One channel's policy.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::alerting::{ChannelPolicy, RateLimit};
///
/// // Text messages: firing only, and at most 5 an hour.
/// let sms = ChannelPolicy { send_resolved: false, rate_limit: Some(RateLimit { max: 5, per: Duration::from_secs(3600) }) };
/// assert!(ChannelPolicy::default().send_resolved);
/// # let _ = sms;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelPolicy {
    /// Whether the channel is told when an alert it heard of resolves (default true).
    pub send_resolved: bool,
    /// The most notifications it gets per window (default: no limit).
    pub rate_limit: Option<RateLimit>,
}

impl Default for ChannelPolicy {
    fn default() -> Self {
        ChannelPolicy { send_resolved: true, rate_limit: None }
    }
}

/// When each rate-limited channel was last sent to, within its window.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    sent: BTreeMap<String, VecDeque<Instant>>,
    /// When a hold was last logged, per channel (one line per window).
    logged: BTreeMap<String, Instant>,
}

impl RateLimiter {
    /// Whether `channel` may get one more notification at `now` under `limit`; counts it if so.
    pub(crate) fn take(&mut self, channel: &str, limit: &RateLimit, now: Instant) -> bool {
        let times = self.sent.entry(channel.to_string()).or_default();
        while times.front().is_some_and(|t| now.saturating_duration_since(*t) >= limit.per) {
            times.pop_front();
        }
        if times.len() >= limit.max.max(1) as usize {
            return false;
        }
        times.push_back(now);
        true
    }

    /// Logs that `held` notifications to `channel` wait for room, once per window.
    pub(crate) fn log_held(&mut self, channel: &str, held: usize, limit: &RateLimit, now: Instant) {
        let last = self.logged.get(channel);
        if last.is_none_or(|t| now.saturating_duration_since(*t) >= limit.per) {
            self.logged.insert(channel.to_string(), now);
            tracing::warn!(
                target: "bitcraps_otel::alerting",
                channel, held, max = limit.max, per_s = limit.per.as_secs(),
                "channel at its rate limit: notifications held until the window has room"
            );
        }
    }
}
