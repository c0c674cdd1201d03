//! The Prometheus bridge: an `opentelemetry-prometheus` reader plus an axum router serving
//! the text exposition on `GET /metrics`.
//!
//! The bridge derives names by the standard OTel→Prometheus translation (so
//! `bitcraps.network.latency` in seconds becomes `bitcraps_network_latency_seconds`), then
//! applies two things the exporter cannot: registry label names (`error.category` is
//! exposed as `category`, as the monitoring reference specifies) and constant labels.
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

use crate::semconv;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use opentelemetry_prometheus::PrometheusExporter;
use prometheus::proto::LabelPair;
use prometheus::{Encoder, TextEncoder};
use std::collections::HashMap;
use std::sync::Arc;

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders what the Prometheus reader collects as the text exposition format.
#[derive(Clone)]
pub struct PrometheusBridge {
    registry: prometheus::Registry,
    renames: Arc<HashMap<String, &'static str>>,
    constant_labels: Arc<Vec<(String, String)>>,
}

impl std::fmt::Debug for PrometheusBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusBridge").field("constant_labels", &self.constant_labels).finish_non_exhaustive()
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
        // The exporter sanitizes attribute keys (`error.category` -> `error_category`); map
        // those to the registry's Prometheus label names.
        let renames = semconv::ATTRIBUTES
            .iter()
            .map(|a| (a.id.replace(['.', '-'], "_"), a.prometheus_label))
            .filter(|(from, to)| from != to)
            .collect();
        let bridge = PrometheusBridge {
            registry,
            renames: Arc::new(renames),
            constant_labels: Arc::new(constant_labels.into_iter().collect()),
        };
        Ok((bridge, reader))
    }

    /// Collects from the SDK and renders the exposition text.
    pub fn render(&self) -> String {
        let mut families = self.registry.gather();
        for family in &mut families {
            for m in family.mut_metric() {
                let mut labels = m.take_label();
                for l in &mut labels {
                    if let Some(to) = self.renames.get(l.name()) {
                        l.set_name((*to).to_string());
                    }
                }
                for (k, v) in self.constant_labels.iter() {
                    if !labels.iter().any(|l| l.name() == k) {
                        let mut lp = LabelPair::default();
                        lp.set_name(k.clone());
                        lp.set_value(v.clone());
                        labels.push(lp);
                    }
                }
                labels.sort_by(|a, b| a.name().cmp(b.name()));
                m.set_label(labels);
            }
        }
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec only fails on invalid families, which gather() never yields.
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            tracing::warn!(error = %e, "prometheus text encoding failed");
        }
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
