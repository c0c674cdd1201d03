//! Consensus-protocol instruments: proposals, decision latency, forks.

use super::{counter, counter_by, histogram, CounterBy};
use crate::semconv::{metric, ConsensusRejectionReason};
use opentelemetry::metrics::{BoundCounter, BoundHistogram, Meter};
use std::time::Duration;

/// Instruments of the consensus protocol. Get it from [`super::Metrics::consensus`].
pub struct ConsensusMetrics {
    accepted: BoundCounter<u64>,
    rejected: CounterBy<ConsensusRejectionReason>,
    latency: BoundHistogram<f64>,
    forks: BoundCounter<u64>,
}

impl ConsensusMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        let accepted = counter(meter, &metric::CONSENSUS_PROPOSALS_ACCEPTED).bind(&[]);
        let forks = counter(meter, &metric::CONSENSUS_FORKS).bind(&[]);
        // Series bound with attributes are exported from the start; the attribute-less ones
        // only once touched. Touch them so a rate() over a fresh node reads 0, not "no data".
        accepted.add(0);
        forks.add(0);
        ConsensusMetrics {
            accepted,
            rejected: counter_by(meter, &metric::CONSENSUS_PROPOSALS_REJECTED),
            latency: histogram(meter, &metric::CONSENSUS_LATENCY).bind(&[]),
            forks,
        }
    }

    /// This node accepted a proposal.
    #[inline]
    pub fn proposal_accepted(&self) {
        self.accepted.add(1);
    }

    /// This node rejected a proposal for a reason not worth classifying (`reason="other"`).
    #[inline]
    pub fn proposal_rejected(&self) {
        self.proposal_rejected_for(ConsensusRejectionReason::Other);
    }

    /// This node rejected a proposal for `reason`.
    #[inline]
    pub fn proposal_rejected_for(&self, reason: ConsensusRejectionReason) {
        self.rejected.get(reason).add(1);
    }

    /// A round went from proposal to decision in `elapsed`.
    #[inline]
    pub fn record_latency(&self, elapsed: Duration) {
        self.latency.record(elapsed.as_secs_f64());
    }

    /// A fork of the game ledger was detected.
    #[inline]
    pub fn fork_detected(&self) {
        self.forks.add(1);
    }
}
