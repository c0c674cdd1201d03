//! Peer-to-peer mesh instruments: messages, connections, latency.

use super::{CounterSeries, HistogramRegistry, HistogramSeries, UpDownSeries};
use crate::semconv::{metric, PeerTransport};
use opentelemetry::metrics::Meter;
use std::time::Duration;

/// Instruments of the peer mesh. Get it from [`super::Metrics::network`].
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
/// use bitcraps_otel::semconv::PeerTransport;
/// let network = metrics.network();
/// network.connection_opened(PeerTransport::Ble);
/// network.messages_sent(PeerTransport::Ble, 3);
/// network.message_sent(PeerTransport::Ble);
/// network.message_received(PeerTransport::Tcp);
/// network.record_latency(Duration::from_millis(45));
/// let text = bridge.render();
/// assert!(text.contains("bitcraps_network_messages_sent_total{transport=\"ble\"} 4"));
/// assert!(text.contains("bitcraps_network_messages_received_total{transport=\"tcp\"} 1"));
/// assert!(text.contains("bitcraps_network_active_connections{transport=\"ble\"} 1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct NetworkMetrics {
    sent: CounterSeries<PeerTransport>,
    received: CounterSeries<PeerTransport>,
    connections: UpDownSeries<PeerTransport>,
    latency: HistogramSeries<()>,
}

impl NetworkMetrics {
    pub(crate) fn new(meter: &Meter, histograms: &mut HistogramRegistry) -> Self {
        NetworkMetrics {
            sent: CounterSeries::by(meter, &metric::NETWORK_MESSAGES_SENT),
            received: CounterSeries::by(meter, &metric::NETWORK_MESSAGES_RECEIVED),
            connections: UpDownSeries::by(meter, &metric::NETWORK_ACTIVE_CONNECTIONS),
            latency: HistogramSeries::single(histograms, &metric::NETWORK_LATENCY),
        }
    }

    /// One message sent to a peer over `transport`.
    #[inline]
    pub fn message_sent(&self, transport: PeerTransport) {
        self.sent.add_for(transport, 1);
    }

    /// `n` messages sent over `transport` (batched sends).
    #[inline]
    pub fn messages_sent(&self, transport: PeerTransport, n: u64) {
        self.sent.add_for(transport, n);
    }

    /// One message received from a peer over `transport`.
    #[inline]
    pub fn message_received(&self, transport: PeerTransport) {
        self.received.add_for(transport, 1);
    }

    /// A peer connection opened.
    #[inline]
    pub fn connection_opened(&self, transport: PeerTransport) {
        self.connections.add(transport, 1);
    }

    /// A peer connection closed.
    #[inline]
    pub fn connection_closed(&self, transport: PeerTransport) {
        self.connections.add(transport, -1);
    }

    /// A message round trip took `rtt`.
    #[inline]
    pub fn record_latency(&self, rtt: Duration) {
        self.latency.record(rtt.as_secs_f64());
    }
}
