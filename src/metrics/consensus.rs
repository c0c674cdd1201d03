//! Consensus-protocol instruments: proposals, decision latency, forks.

use super::{CounterSeries, HistogramRegistry, HistogramSeries};
use crate::semconv::{metric, ConsensusRejectionReason};
use opentelemetry::metrics::Meter;
use std::time::Duration;

/// Instruments of the consensus protocol. Get it from [`super::Metrics::consensus`].
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::export::prometheus::PrometheusBridge;
/// use bitcraps_otel::metrics::Metrics;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// let (bridge, reader) = PrometheusBridge::new([])?;
/// let provider = SdkMeterProvider::builder().with_reader(reader).build();
/// let metrics = Metrics::new(&provider, Default::default());
/// bridge.attach(&metrics); // the histograms, which live outside the SDK
/// let consensus = metrics.consensus();
/// consensus.proposal_accepted();
/// consensus.proposal_rejected_for(bitcraps_otel::semconv::ConsensusRejectionReason::Timeout);
/// consensus.record_latency(Duration::from_millis(40));
/// let text = bridge.render();
/// assert!(text.contains("bitcraps_consensus_proposals_accepted_total 1"));
/// assert!(text.contains("bitcraps_consensus_proposals_rejected_total{reason=\"timeout\"} 1"));
/// assert!(text.contains("bitcraps_consensus_latency_seconds_count 1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
