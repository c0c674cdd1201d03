//! Peer-to-peer mesh instruments: messages, connections, latency.

use super::{counter_by, histogram, up_down_by, CounterBy, UpDownBy};
use crate::semconv::{metric, PeerTransport};
use opentelemetry::metrics::{BoundHistogram, Meter};
use std::time::Duration;

/// Instruments of the peer mesh. Get it from [`super::Metrics::network`].
pub struct NetworkMetrics {
    sent: CounterBy<PeerTransport>,
    received: CounterBy<PeerTransport>,
    connections: UpDownBy<PeerTransport>,
    latency: BoundHistogram<f64>,
}

impl NetworkMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        NetworkMetrics {
            sent: counter_by(meter, &metric::NETWORK_MESSAGES_SENT),
            received: counter_by(meter, &metric::NETWORK_MESSAGES_RECEIVED),
            connections: up_down_by(meter, &metric::NETWORK_ACTIVE_CONNECTIONS),
            latency: histogram(meter, &metric::NETWORK_LATENCY).bind(&[]),
        }
    }

    /// One message sent to a peer over `transport`.
    #[inline]
    pub fn message_sent(&self, transport: PeerTransport) {
        self.sent.get(transport).add(1);
    }

    /// `n` messages sent over `transport` (batched sends).
    #[inline]
    pub fn messages_sent(&self, transport: PeerTransport, n: u64) {
        self.sent.get(transport).add(n);
    }

    /// One message received from a peer over `transport`.
    #[inline]
    pub fn message_received(&self, transport: PeerTransport) {
        self.received.get(transport).add(1);
    }

    /// A peer connection opened.
    #[inline]
    pub fn connection_opened(&self, transport: PeerTransport) {
        self.connections.get(transport).add(1);
    }

    /// A peer connection closed.
    #[inline]
    pub fn connection_closed(&self, transport: PeerTransport) {
        self.connections.get(transport).add(-1);
    }

    /// A message round trip took `rtt`.
    #[inline]
    pub fn record_latency(&self, rtt: Duration) {
        self.latency.record(rtt.as_secs_f64());
    }
}
