//! [`GameSpan`]: one game from first bet to final payout, with its bets, rolls and payouts as
//! span events and its outcome as an attribute.

use super::span::{key, SpanGuard};
use crate::semconv::{attribute, span_event, AttributeEnum, BetType, GameOutcome};
use opentelemetry::KeyValue;

/// The `bitcraps.game` span; see [`super::Traces::game`]. Ends when dropped; an outcome not
/// set by then is recorded as `other`.
#[derive(Debug)]
#[must_use = "the span ends when the guard is dropped"]
pub struct GameSpan {
    guard: SpanGuard,
    outcome: Option<GameOutcome>,
}

impl GameSpan {
    pub(super) fn new(guard: SpanGuard) -> GameSpan {
        GameSpan { guard, outcome: None }
    }

    /// A `bitcraps.bet` event.
    pub fn bet(&self, bet: BetType, amount: u64) {
        self.guard.event(&span_event::BET, || {
            vec![
                KeyValue::new(key(&attribute::BET_TYPE), bet.as_str()),
                KeyValue::new(key(&attribute::BET_AMOUNT), clamp(amount)),
            ]
        });
    }

    /// A `bitcraps.roll` event with the dice total.
    pub fn roll(&self, total: u8) {
        self.guard.event(&span_event::ROLL, || vec![KeyValue::new(key(&attribute::DICE_TOTAL), i64::from(total))]);
    }

    /// A `bitcraps.payout` event.
    pub fn payout(&self, bet: BetType, amount: u64) {
        self.guard.event(&span_event::PAYOUT, || {
            vec![
                KeyValue::new(key(&attribute::BET_TYPE), bet.as_str()),
                KeyValue::new(key(&attribute::PAYOUT_AMOUNT), clamp(amount)),
            ]
        });
    }

    /// Sets how the game ended (the last call wins).
    pub fn set_outcome(&mut self, outcome: GameOutcome) {
        self.outcome = Some(outcome);
    }

    /// Ends the game as `completed`.
    pub fn complete(mut self) {
        self.outcome = Some(GameOutcome::Completed);
    }

    /// Ends the game as `failed`, recording `error`.
    pub fn fail_with(mut self, error: &dyn std::error::Error) {
        self.guard.record_error(error);
        self.outcome = Some(GameOutcome::Failed);
    }
}

/// Amounts above `i64::MAX` (no real stake) are recorded as `i64::MAX`.
pub(super) fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl std::ops::Deref for GameSpan {
    type Target = SpanGuard;
    fn deref(&self) -> &SpanGuard {
        &self.guard
    }
}

impl Drop for GameSpan {
    fn drop(&mut self) {
        self.guard.set(&attribute::GAME_OUTCOME, self.outcome.unwrap_or(GameOutcome::Other).as_str());
    }
}
