//! [`ServerLayer`]: how a user says what to instrument (the metrics handle, the excluded
//! paths), built once and handed to every service the layer wraps.

use super::service::{ServerService, Shared};
use crate::metrics::Metrics;
use opentelemetry::InstrumentationScope;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tower::Layer;

/// Paths recorded nothing by default: the health server's probes (`/health`, `/ready`), the
/// common `/live` probe, and the Prometheus scrape (`/metrics`). Probes and scrapes arrive
/// every few seconds forever; counting them would drown the requests users make.
pub const DEFAULT_EXCLUDED_PATHS: &[&str] = &["/health", "/ready", "/live", "/metrics"];

/// Name of the instrumentation scope of the server spans.
const TRACER_NAME: &str = "bitcraps.http";

/// A tower [`Layer`] that instruments an axum router or any tower
/// HTTP service: request duration and active requests (OTel's `http.server.*` metrics, into
/// [`Metrics::http_server`]) and a SERVER span per request. See [the module](super).
///
/// ```
/// use axum::{routing::get, Router};
/// use bitcraps_otel::http::ServerLayer;
/// use bitcraps_otel::metrics::Metrics;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// let metrics = Metrics::new(&SdkMeterProvider::builder().build(), Default::default());
/// let layer = ServerLayer::new(&metrics)
///     .exclude("/internal/debug") // in addition to the defaults
///     .exclude("/readyz");
/// assert!(layer.is_excluded("/health") && layer.is_excluded("/readyz"));
/// assert!(!layer.is_excluded("/games"));
/// let app: Router = Router::new().route("/games", get(|| async { "[]" })).layer(layer);
/// ```
#[derive(Clone)]
pub struct ServerLayer {
    pub(super) shared: Arc<Shared>,
}

impl ServerLayer {
    /// Records into `metrics` (clones share instruments), excluding
    /// [`DEFAULT_EXCLUDED_PATHS`].
    pub fn new(metrics: &Metrics) -> ServerLayer {
        ServerLayer::with_excluded(metrics, DEFAULT_EXCLUDED_PATHS.iter().copied())
    }

    /// Records into `metrics`, excluding exactly `paths` (none of the defaults unless listed).
    ///
    /// ```
    /// use bitcraps_otel::http::ServerLayer;
    /// use bitcraps_otel::metrics::Metrics;
    /// use opentelemetry_sdk::metrics::SdkMeterProvider;
    ///
    /// let metrics = Metrics::new(&SdkMeterProvider::builder().build(), Default::default());
    /// // Instrument everything, probes included.
    /// let layer = ServerLayer::with_excluded(&metrics, []);
    /// assert!(!layer.is_excluded("/health"));
    /// ```
    pub fn with_excluded<'a>(metrics: &Metrics, paths: impl IntoIterator<Item = &'a str>) -> ServerLayer {
        let scope = InstrumentationScope::builder(TRACER_NAME).with_version(env!("CARGO_PKG_VERSION")).build();
        ServerLayer {
            shared: Arc::new(Shared {
                metrics: metrics.clone(),
                excluded: paths.into_iter().map(Into::into).collect(),
                scope,
                spans_recorded: AtomicBool::new(false),
            }),
        }
    }

    /// Also excludes requests whose path is exactly `path` (no span, no metric).
    pub fn exclude(self, path: &str) -> ServerLayer {
        let mut excluded = self.shared.excluded.clone();
        excluded.push(path.into());
        ServerLayer {
            shared: Arc::new(Shared {
                metrics: self.shared.metrics.clone(),
                excluded,
                scope: self.shared.scope.clone(),
                spans_recorded: AtomicBool::new(false),
            }),
        }
    }

    /// Whether a request for `path` goes through uninstrumented.
    pub fn is_excluded(&self, path: &str) -> bool {
        self.shared.is_excluded(path)
    }
}

impl std::fmt::Debug for ServerLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLayer").field("excluded", &self.shared.excluded).finish_non_exhaustive()
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> ServerService<S> {
        ServerService::new(inner, Arc::clone(&self.shared))
    }
}
