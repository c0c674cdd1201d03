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
mod openmetrics;
mod text;

pub use openmetrics::CONTENT_TYPE as OPENMETRICS_CONTENT_TYPE;
pub use text::CONTENT_TYPE;

use crate::metrics::data::HistogramSource;
use crate::metrics::Metrics;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use gather::Labeling;
use opentelemetry_prometheus::PrometheusExporter;
use std::sync::{Arc, RwLock};

/// Renders what the Prometheus reader collects, plus our histograms, as an exposition.
#[derive(Clone)]
pub struct PrometheusBridge {
    registry: prometheus::Registry,
    labeling: Arc<Labeling>,
    histograms: Arc<RwLock<Vec<Arc<dyn HistogramSource>>>>,
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
        };
        Ok((bridge, reader))
    }

    /// Serves `metrics`' histograms too. Histograms live outside the SDK, so a bridge that was
    /// never attached shows counters and gauges only. Attaching the same handle twice is a
    /// no-op.
    pub fn attach(&self, metrics: &Metrics) {
        self.attach_histograms(metrics.histogram_source());
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
        let mut out = Vec::with_capacity(16 * 1024);
        text::encode(&self.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Collects and renders OpenMetrics 1.0 text, with exemplars on histogram buckets.
    pub fn render_openmetrics(&self) -> String {
        let mut out = Vec::with_capacity(16 * 1024);
        openmetrics::encode(&self.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// An axum router with `GET /metrics`; every other path is 404 and other methods 405.
    pub fn router(&self) -> Router {
        let bridge = self.clone();
        Router::new().route(
            "/metrics",
            get(move || {
                let bridge = bridge.clone();
                async move {
                    // Collection walks every series: keep it off the async workers so a large
                    // scrape never stalls request handling or instrumented tasks.
                    match tokio::task::spawn_blocking(move || bridge.render()).await {
                        Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
                        Err(e) => {
                            tracing::error!(error = %e, "metrics render task failed");
                            Response::builder()
                                .status(StatusCode::INTERNAL_SERVER_ERROR)
                                .body("metrics collection failed\n".into())
                                .unwrap_or_default()
                        }
                    }
                }
            }),
        )
    }
}
