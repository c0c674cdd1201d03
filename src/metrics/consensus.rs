//! Consensus-protocol instruments: proposals, decision latency, forks.

use super::{CounterSeries, HistogramRegistry, HistogramSeries};
use crate::semconv::{metric, ConsensusRejectionReason};
use opentelemetry::metrics::Meter;
use std::time::Duration;

/// Instruments of the consensus protocol. Get it from [`super::Metrics::consensus`].
pub struct ConsensusMetrics {
    accepted: CounterSeries<()>,
    rejected: CounterSeries<ConsensusRejectionReason>,
    latency: HistogramSeries<()>,
    forks: CounterSeries<()>,
}

impl ConsensusMetrics {
    pub(crate) fn new(meter: &Meter, histograms: &mut HistogramRegistry) -> Self {
        ConsensusMetrics {
            accepted: CounterSeries::single(meter, &metric::CONSENSUS_PROPOSALS_ACCEPTED),
            rejected: CounterSeries::by(meter, &metric::CONSENSUS_PROPOSALS_REJECTED),
            latency: HistogramSeries::single(histograms, &metric::CONSENSUS_LATENCY),
            forks: CounterSeries::single(meter, &metric::CONSENSUS_FORKS),
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
        self.rejected.add_for(reason, 1);
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
