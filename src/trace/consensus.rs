//! [`ConsensusSpan`]: one consensus round, from proposal through votes to commit or reject,
//! with the outcome as an attribute. Votes that arrive from peers are linked to the peer's
//! span (fan-in), not parented.

use super::carrier::Carrier;
use super::span::{key, SpanGuard};
use crate::semconv::{attribute, span_event, AttributeEnum, ConsensusOutcome, ConsensusRejectionReason, ConsensusVote};
use opentelemetry::KeyValue;

/// The `bitcraps.consensus.round` span; see [`super::Traces::consensus_round`]. An outcome not
/// decided when it is dropped is recorded as `other`.
///
/// Record the consensus latency histogram while the round is current (inside
/// [`SpanGuard::in_scope`] or [`SpanGuard::scope`]) and its exemplar points at this round.
#[derive(Debug)]
#[must_use = "the span ends when the guard is dropped"]
pub struct ConsensusSpan {
    guard: SpanGuard,
    outcome: Option<ConsensusOutcome>,
    votes: u32,
}

impl ConsensusSpan {
    pub(super) fn new(guard: SpanGuard) -> ConsensusSpan {
        ConsensusSpan { guard, outcome: None, votes: 0 }
    }

    /// A `bitcraps.consensus.propose` event: this node proposed.
    pub fn propose(&self) {
        self.guard.event(&span_event::CONSENSUS_PROPOSE, Vec::new);
    }

    /// A `bitcraps.consensus.vote` event for a vote counted locally (this node's own, or one
    /// whose message carried no trace context).
    pub fn vote(&mut self, peer: &str, vote: ConsensusVote) {
        self.votes = self.votes.saturating_add(1);
        self.guard.event(&span_event::CONSENSUS_VOTE, || vote_attributes(peer, vote));
    }

    /// A vote received from `peer` whose message carried `carrier`: counted as
    /// [`ConsensusSpan::vote`], and the round gets a link to the voter's span. Many votes fan
    /// in to one round, so they are links, not parents.
    pub fn vote_from(&mut self, peer: &str, vote: ConsensusVote, carrier: &Carrier) {
        self.vote(peer, vote);
        if let Some(sc) = carrier.span_context() {
            self.guard.link(sc.clone(), vote_attributes(peer, vote));
        }
    }

    /// Votes counted so far.
    pub fn votes(&self) -> u32 {
        self.votes
    }

    /// The round committed: a `bitcraps.consensus.commit` event and outcome `committed`.
    pub fn commit(mut self) {
        let votes = i64::from(self.votes);
        self.guard
            .event(&span_event::CONSENSUS_COMMIT, || vec![KeyValue::new(key(&attribute::CONSENSUS_VOTES), votes)]);
        self.outcome = Some(ConsensusOutcome::Committed);
    }

    /// The round was rejected: a `bitcraps.consensus.reject` event, outcome `rejected` (or
    /// `timeout` when votes did not arrive in time), and the rejection reason.
    pub fn reject(mut self, reason: ConsensusRejectionReason) {
        self.guard.event(&span_event::CONSENSUS_REJECT, || {
            vec![KeyValue::new(key(&attribute::CONSENSUS_REJECTION_REASON), reason.as_str())]
        });
        self.guard.set(&attribute::CONSENSUS_REJECTION_REASON, reason.as_str());
        self.outcome = Some(match reason {
            ConsensusRejectionReason::Timeout => ConsensusOutcome::Timeout,
            _ => ConsensusOutcome::Rejected,
        });
    }

    /// A voter went away before the round decided: outcome `peer_lost` and an error status
    /// naming the peer.
    pub fn peer_lost(mut self, peer: &str) {
        self.guard.fail(format!("peer {peer} went away mid-round"));
        self.outcome = Some(ConsensusOutcome::PeerLost);
    }

    /// Sets the outcome directly (the last call wins).
    pub fn set_outcome(&mut self, outcome: ConsensusOutcome) {
        self.outcome = Some(outcome);
    }
}

fn vote_attributes(peer: &str, vote: ConsensusVote) -> Vec<KeyValue> {
    vec![
        KeyValue::new(key(&attribute::PEER_ID), peer.to_owned()),
        KeyValue::new(key(&attribute::CONSENSUS_VOTE), vote.as_str()),
    ]
}

impl std::ops::Deref for ConsensusSpan {
    type Target = SpanGuard;
    fn deref(&self) -> &SpanGuard {
        &self.guard
    }
}

impl Drop for ConsensusSpan {
    fn drop(&mut self) {
        self.guard.set(&attribute::CONSENSUS_OUTCOME, self.outcome.unwrap_or(ConsensusOutcome::Other).as_str());
        self.guard.set(&attribute::CONSENSUS_VOTES, i64::from(self.votes));
    }
}
