//! Typed instruments: the [`Metrics`] handle users record through, one group per concept
//! (`system`, `network`, `consensus`, `gaming`, `mobile`, `errors`, `http_server`).
//!
//! Every instrument is built from its [`crate::semconv`] definition, so no metric name is
//! ever typed by hand. Attributes with a closed vocabulary are enums, and every attribute set
//! is resolved when the instruments are built: a counter increment is an array index plus one
//! relaxed atomic add (reported to the SDK at collection time), and a histogram record updates
//! striped cells of our own (see [`Metrics::histogram_source`]), with no attribute lookup on
//! the hot path whatever the number of consumers.
//!
//! ```
//! use std::time::Duration;
//! use bitcraps_otel::metrics::Metrics;
//! use bitcraps_otel::semconv::{BetType, ErrorCategory, ErrorSeverity, GameType};
//! use opentelemetry_sdk::metrics::SdkMeterProvider;
//!
//! let provider = SdkMeterProvider::builder().build();
//! let metrics = Metrics::new(&provider, Default::default());
//! metrics.gaming().game_started(GameType::Cash);
//! metrics.gaming().bet_placed_on(BetType::PassLine, 25);
//! metrics.consensus().proposal_accepted();
//! metrics.network().record_latency(Duration::from_millis(12));
//! metrics.errors().record(ErrorCategory::Network, ErrorSeverity::Warning);
//! metrics.mobile().set_battery(81.0, true);
//! ```

mod consensus;
pub mod data;
mod errors;
mod events;
mod exposition;
mod gaming;
mod histogram;
mod http;
mod mobile;
mod network;
pub mod probe;
mod series;
mod system;

pub use consensus::ConsensusMetrics;
pub use errors::ErrorMetrics;
pub use events::EventMetrics;
pub use exposition::ExpositionMetrics;
pub use gaming::GamingMetrics;
pub use http::{HttpServerMetrics, RequestOutcome, CANCELLED, HTTP_SERIES_LIMIT};
pub use mobile::MobileMetrics;
pub use network::NetworkMetrics;
pub use system::{SystemMetrics, SystemSample};

#[cfg(feature = "http-server")]
pub(crate) use histogram::Fnv;
pub(crate) use histogram::{HistogramRegistry, HistogramSeries};
pub(crate) use series::{CounterSeries, UpDownSeries};

use crate::config::ExemplarFilter;
use data::HistogramSource;
use opentelemetry::metrics::MeterProvider;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Name of the instrumentation scope (meter) all BitCraps instruments live in.
pub const METER_NAME: &str = "bitcraps";

/// Options of the instrument set.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use bitcraps_otel::metrics::probe::SimulatedProbe;
/// use bitcraps_otel::metrics::{Metrics, MetricsOptions};
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// let options = MetricsOptions {
///     collection_interval: Duration::from_secs(5),
///     device_probe: Some(Arc::new(SimulatedProbe::new())),
///     system_metrics: false, // no CPU/memory gauges: the host app reports its own
///     ..Default::default()
/// };
/// let metrics = Metrics::new(&SdkMeterProvider::builder().build(), options);
/// assert!(metrics.system().sample().is_none());
/// ```
#[derive(Clone, Debug)]
pub struct MetricsOptions {
    /// How long system and device readings are reused before they are sampled again.
    pub collection_interval: Duration,
    /// Where device readings (battery, temperature, throttling) come from, if anywhere.
    pub device_probe: Option<Arc<dyn probe::DeviceProbe>>,
    /// Whether to register the process CPU/memory/threads/uptime gauges.
    pub system_metrics: bool,
    /// Which histogram recordings keep an exemplar ([`crate::Config::exemplar_filter`]).
    pub exemplar_filter: ExemplarFilter,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions {
            collection_interval: crate::config::DEFAULT_COLLECTION_INTERVAL,
            device_probe: None,
            system_metrics: true,
            exemplar_filter: ExemplarFilter::default(),
        }
    }
}

/// The handle users record BitCraps metrics through. Cheap to clone; all clones share the
/// same instruments.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Groups>,
}

struct Groups {
    system: SystemMetrics,
    network: NetworkMetrics,
    consensus: ConsensusMetrics,
    gaming: GamingMetrics,
    mobile: MobileMetrics,
    errors: ErrorMetrics,
    events: EventMetrics,
    exposition: ExpositionMetrics,
    http_server: HttpServerMetrics,
    histograms: Arc<HistogramRegistry>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

static GLOBAL: RwLock<Option<Metrics>> = RwLock::new(None);

impl Metrics {
    /// Builds every BitCraps instrument on `provider`'s `bitcraps` meter.
    pub fn new(provider: &impl MeterProvider, options: MetricsOptions) -> Metrics {
        let meter = provider.meter(METER_NAME);
        let mut histograms = HistogramRegistry::new(options.exemplar_filter);
        Metrics {
            inner: Arc::new(Groups {
                system: SystemMetrics::new(&meter, options.system_metrics, options.collection_interval),
                network: NetworkMetrics::new(&meter, &mut histograms),
                consensus: ConsensusMetrics::new(&meter, &mut histograms),
                gaming: GamingMetrics::new(&meter, &mut histograms),
                mobile: MobileMetrics::new(&meter, options.device_probe, options.collection_interval),
                errors: ErrorMetrics::new(&meter),
                events: EventMetrics::new(&meter, &mut histograms),
                exposition: ExpositionMetrics::new(&mut histograms),
                http_server: HttpServerMetrics::new(&meter, &mut histograms),
                histograms: Arc::new(histograms),
            }),
        }
    }

    /// Where this handle's histograms are collected from. They live outside the SDK (the
    /// meter provider never sees them), so every consumer reads them here: the Prometheus
    /// bridge ([`crate::export::prometheus::PrometheusBridge::attach`]), the OTLP exporter and
    /// the alert engine. [`crate::init`] wires all of them.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bitcraps_otel::metrics::{data::HistogramSource, Metrics};
    /// use opentelemetry_sdk::metrics::SdkMeterProvider;
    ///
    /// let metrics = Metrics::new(&SdkMeterProvider::builder().build(), Default::default());
    /// metrics.consensus().record_latency(Duration::from_millis(30));
    /// let mut families = Vec::new();
    /// metrics.histogram_source().collect(&mut families);
    /// let latency = families.iter().find(|f| f.def.name == "bitcraps.consensus.latency").unwrap();
    /// assert_eq!(latency.points[0].count, 1);
    /// // A histogram nothing recorded into has no point at all (never a count-0 point).
    /// assert!(families.iter().find(|f| f.def.name == "bitcraps.game.duration").unwrap().points.is_empty());
    /// ```
    pub fn histogram_source(&self) -> Arc<dyn HistogramSource> {
        Arc::clone(&self.inner.histograms) as Arc<dyn HistogramSource>
    }

    /// The handle installed by [`crate::init`], or `None` before `init` and after its guard
    /// is dropped.
    pub fn global() -> Option<Metrics> {
        GLOBAL.read().ok().and_then(|g| g.clone())
    }

    pub(crate) fn set_global(metrics: Option<Metrics>) {
        if let Ok(mut g) = GLOBAL.write() {
            *g = metrics;
        }
    }

    /// Process CPU, memory, threads and uptime.
    pub fn system(&self) -> &SystemMetrics {
        &self.inner.system
    }
    /// Peer messages, connections and latency.
    pub fn network(&self) -> &NetworkMetrics {
        &self.inner.network
    }
    /// Proposals, decision latency and forks.
    pub fn consensus(&self) -> &ConsensusMetrics {
        &self.inner.consensus
    }
    /// Games, bets, volume, payouts and disputes.
    pub fn gaming(&self) -> &GamingMetrics {
        &self.inner.gaming
    }
    /// Battery, temperature, throttling and caches.
    pub fn mobile(&self) -> &MobileMetrics {
        &self.inner.mobile
    }
    /// Errors by category and severity.
    pub fn errors(&self) -> &ErrorMetrics {
        &self.inner.errors
    }
    /// Operation durations, business and security events (what the logging macros record).
    pub fn events(&self) -> &EventMetrics {
        &self.inner.events
    }
    /// What serving `/metrics` costs (recorded by the Prometheus bridge).
    pub fn exposition(&self) -> &ExpositionMetrics {
        &self.inner.exposition
    }
    /// HTTP server requests: duration and active requests (what [`crate::http::ServerLayer`]
    /// records).
    pub fn http_server(&self) -> &HttpServerMetrics {
        &self.inner.http_server
    }
}

/// A gauge reading shared between a setter and an observable callback: an `f64` in an
/// atomic, NaN meaning "nothing to report yet".
#[derive(Debug)]
pub(crate) struct Reading(std::sync::atomic::AtomicU64);

impl Reading {
    pub(crate) fn empty() -> Self {
        Reading(std::sync::atomic::AtomicU64::new(f64::NAN.to_bits()))
    }
    pub(crate) fn set(&self, v: f64) {
        self.0.store(v.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }
    pub(crate) fn get(&self) -> Option<f64> {
        let v = f64::from_bits(self.0.load(std::sync::atomic::Ordering::Relaxed));
        (!v.is_nan()).then_some(v)
    }
}

#[cfg(all(test, feature = "prometheus"))]
mod tests;
