//! [`DisputeSpan`]: resolving one dispute over a game outcome.

use super::span::SpanGuard;
use crate::semconv::{attribute, AttributeEnum, DisputeOutcome};

/// The `bitcraps.dispute` span; see [`super::Traces::dispute`]. An outcome not set when it is
/// dropped is recorded as `unresolved`.
#[derive(Debug)]
#[must_use = "the span ends when the guard is dropped"]
pub struct DisputeSpan {
    guard: SpanGuard,
    outcome: Option<DisputeOutcome>,
}

impl DisputeSpan {
    pub(super) fn new(guard: SpanGuard) -> DisputeSpan {
        DisputeSpan { guard, outcome: None }
    }

    /// Ends the dispute with `outcome`.
    pub fn resolve(mut self, outcome: DisputeOutcome) {
        self.outcome = Some(outcome);
    }
}

impl std::ops::Deref for DisputeSpan {
    type Target = SpanGuard;
    fn deref(&self) -> &SpanGuard {
        &self.guard
    }
}

impl Drop for DisputeSpan {
    fn drop(&mut self) {
        self.guard.set(&attribute::DISPUTE_OUTCOME, self.outcome.unwrap_or(DisputeOutcome::Unresolved).as_str());
    }
}
