//! The documented upper bound of every duration and size the alert engine accepts. A rules
//! file with a value past one is refused with the file, line and field; a rule built in code
//! is refused by [`AlertingSystem::add_rule`](super::AlertingSystem::add_rule). Nothing past
//! these bounds reaches time arithmetic, so no value that loads can overflow a clock.
//!
//! | what | bound |
//! |---|---|
//! | `every` (evaluation interval) | above zero, at most 1 day |
//! | `for`, `keep_firing_for` | 7 days |
//! | `rate_over`, `window`, `absent_for` | above zero, at most 7 days |
//! | `group_wait`, `group_interval` | 1 day |
//! | `repeat_interval` | 30 days |
//! | escalation `after` | 7 days |
//! | channel delivery options | see [`DeliveryOptions`](super::channels::DeliveryOptions) |
//! | rules file | 4 MiB, nesting 64 levels deep |

use std::time::Duration;

const DAY: u64 = 24 * 3600;

/// Longest `every`.
pub const MAX_EVALUATION_INTERVAL: Duration = Duration::from_secs(DAY);
/// Longest `for` and `keep_firing_for`.
pub const MAX_HOLD: Duration = Duration::from_secs(7 * DAY);
/// Longest `rate_over`, ratio `window` and `absent_for`.
pub const MAX_WINDOW: Duration = Duration::from_secs(7 * DAY);
/// Longest `group_wait` and `group_interval`.
pub const MAX_GROUP_INTERVAL: Duration = Duration::from_secs(DAY);
/// Longest `repeat_interval`.
pub const MAX_REPEAT_INTERVAL: Duration = Duration::from_secs(30 * DAY);
/// Longest escalation tier `after`.
pub const MAX_ESCALATION_AFTER: Duration = Duration::from_secs(7 * DAY);
/// Largest rules file, in bytes.
pub const MAX_RULES_FILE_BYTES: usize = 4 << 20;
/// Deepest nesting of a rules file (a valid one needs fewer than 10 levels).
pub const MAX_NESTING: usize = 64;

/// `Err` naming the bound when `d` is past `max`.
pub(crate) fn at_most(d: Duration, max: Duration) -> Result<(), String> {
    if d > max {
        Err(format!("must be at most {}", humantime::format_duration(max)))
    } else {
        Ok(())
    }
}

/// `Err` when `d` is zero or past `max`.
pub(crate) fn positive_at_most(d: Duration, max: Duration) -> Result<(), String> {
    if d.is_zero() {
        Err("must be above zero".into())
    } else {
        at_most(d, max)
    }
}
