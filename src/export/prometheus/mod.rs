//! The Prometheus bridge: an `opentelemetry-prometheus` reader for what the SDK aggregates,
//! our own histogram families (which live outside the SDK), and an axum router serving both
//! on `GET /metrics`.
//!
//! The bridge derives names by the standard OTel→Prometheus translation (so
//! `bitcraps.network.latency` in seconds becomes `bitcraps_network_latency_seconds`), then
//! applies two things the exporter cannot: registry label names (`error.category` is
//! exposed as `category`, as the monitoring reference specifies) and constant labels.
//! Histograms are read from [`Metrics::histogram_source`] once [`PrometheusBridge::attach`]
//! has been called ([`crate::init`] does it).
//!
//! ```
//! use bitcraps_otel::export::prometheus::PrometheusBridge;
//! use bitcraps_otel::metrics::Metrics;
//! use opentelemetry_sdk::metrics::SdkMeterProvider;
//!
//! let (bridge, reader) = PrometheusBridge::new([("node_id".to_string(), "n1".to_string())])?;
//! let provider = SdkMeterProvider::builder().with_reader(reader).build();
//! let metrics = Metrics::new(&provider, Default::default());
//! metrics.gaming().bet_placed(10);
//! let text = bridge.render();
//! assert!(text.contains("bitcraps_bets_total{bet_type=\"other\",node_id=\"n1\"} 1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod gather;
mod http;
mod negotiate;
mod openmetrics;
mod share;
mod text;

pub use openmetrics::CONTENT_TYPE as OPENMETRICS_CONTENT_TYPE;
pub use text::CONTENT_TYPE;

use crate::metrics::data::HistogramSource;
use crate::metrics::Metrics;
use crate::semconv::ExpositionFormat;
use axum::routing::get;
use axum::Router;
use gather::Labeling;
use opentelemetry_prometheus::PrometheusExporter;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Renders what the Prometheus reader collects, plus our histograms, as an exposition.
///
/// ```
/// use bitcraps_otel::export::prometheus::PrometheusBridge;
/// use bitcraps_otel::metrics::Metrics;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// // Constant labels go on every series.
/// let (bridge, reader) = PrometheusBridge::new([("region".to_string(), "eu-west".to_string())])?;
/// let provider = SdkMeterProvider::builder().with_reader(reader).build();
/// let metrics = Metrics::new(&provider, Default::default());
/// bridge.attach(&metrics);
/// metrics.consensus().record_latency(std::time::Duration::from_millis(40));
/// let text = bridge.render();
/// assert!(text.contains("bitcraps_consensus_latency_seconds_count{region=\"eu-west\"} 1"));
/// let _app = bridge.router(); // GET /metrics, to serve with axum or bitcraps_otel::server
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct PrometheusBridge {
    registry: prometheus::Registry,
    labeling: Arc<Labeling>,
    histograms: Arc<RwLock<Vec<Arc<dyn HistogramSource>>>>,
    /// Where the bridge records its own costs, once attached.
    own_metrics: Arc<RwLock<Option<Metrics>>>,
    pages: Arc<http::Pages>,
    /// Size of the last page, to size the next one's buffer.
    last_size: Arc<AtomicUsize>,
}

impl std::fmt::Debug for PrometheusBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusBridge").field("constant_labels", &self.labeling.constant()).finish_non_exhaustive()
    }
}

impl PrometheusBridge {
    /// Builds the bridge and the reader to register on the meter provider.
    /// `constant_labels` go on every series.
    pub fn new(
        constant_labels: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(PrometheusBridge, PrometheusExporter), opentelemetry_sdk::error::OTelSdkError> {
        let registry = prometheus::Registry::new();
        let reader = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            // Every series would otherwise carry otel_scope_* labels; BitCraps has one meter.
            .scope_info_enabled(false)
            .build()?;
        let bridge = PrometheusBridge {
            registry,
            labeling: Arc::new(Labeling::new(constant_labels.into_iter().collect())),
            histograms: Arc::new(RwLock::new(Vec::new())),
            own_metrics: Arc::new(RwLock::new(None)),
            pages: Arc::new(http::Pages::new()),
            last_size: Arc::new(AtomicUsize::new(16 * 1024)),
        };
        Ok((bridge, reader))
    }

    /// Serves `metrics`' histograms too, and records the bridge's own costs (scrape duration,
    /// page size) into it. Histograms live outside the SDK, so a bridge that was never
    /// attached shows counters and gauges only. Attaching the same handle twice is a no-op.
    pub fn attach(&self, metrics: &Metrics) {
        self.attach_histograms(metrics.histogram_source());
        if let Ok(mut own) = self.own_metrics.write() {
            *own = Some(metrics.clone());
        }
    }

    /// Serves the families of any [`HistogramSource`] (what [`PrometheusBridge::attach`] uses).
    pub fn attach_histograms(&self, source: Arc<dyn HistogramSource>) {
        if let Ok(mut sources) = self.histograms.write() {
            if !sources.iter().any(|s| Arc::ptr_eq(s, &source)) {
                sources.push(source);
            }
        }
    }

    fn gather(&self) -> gather::Exposition {
        let sources = self.histograms.read().map(|s| s.clone()).unwrap_or_default();
        gather::gather(&self.registry, &sources, &self.labeling)
    }

    /// Collects and renders the classic text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::with_capacity(self.size_hint());
        text::encode(&self.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Collects and renders OpenMetrics 1.0 text, with exemplars on histogram buckets.
    pub fn render_openmetrics(&self) -> String {
        let mut out = Vec::with_capacity(self.size_hint());
        openmetrics::encode(&self.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    fn size_hint(&self) -> usize {
        // A little headroom, so a page that grew by a few series does not reallocate.
        self.last_size.load(Ordering::Relaxed) + 1024
    }

    fn own_metrics(&self) -> Option<Metrics> {
        self.own_metrics.read().ok().and_then(|m| m.clone())
    }

    fn note_page(&self, format: ExpositionFormat, bytes: usize) {
        self.last_size.store(bytes, Ordering::Relaxed);
        if let Some(m) = self.own_metrics() {
            m.exposition().page_rendered(format, bytes);
        }
    }

    fn note_scrape(&self, format: ExpositionFormat, took: Duration) {
        if let Some(m) = self.own_metrics() {
            m.exposition().scrape_answered(format, took);
        }
    }

    /// An axum router with `GET /metrics`; every other path is 404 and other methods 405.
    ///
    /// `Accept: application/openmetrics-text` gets OpenMetrics 1.0 with exemplars, anything
    /// else the classic text; `Accept-Encoding: gzip` gets a gzipped body. Concurrent scrapes
    /// share one render, which runs on the blocking pool so a large page never stalls the
    /// async workers.
    pub fn router(&self) -> Router {
        Router::new().route("/metrics", get(http::metrics)).with_state(self.clone())
    }
}
