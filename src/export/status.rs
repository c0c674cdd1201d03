//! Tracks whether a push exporter's last export succeeded, for the readiness check.

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// When an export ended and whether it succeeded (the error text when not).
pub type ExportOutcome = (Instant, Result<(), String>);

/// The outcome of the latest export, shared between the exporter and whoever asks.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::export::status::{ExportStatus, TrackedExporter};
/// use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
/// use opentelemetry_sdk::metrics::data::ResourceMetrics;
/// use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
/// use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
///
/// /// A collector that is down.
/// struct Down;
/// impl PushMetricExporter for Down {
///     async fn export(&self, _: &ResourceMetrics) -> OTelSdkResult {
///         Err(OTelSdkError::InternalFailure("connection refused".into()))
///     }
///     fn force_flush(&self) -> OTelSdkResult { Ok(()) }
///     fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult { Ok(()) }
///     fn temporality(&self) -> Temporality { Temporality::Cumulative }
/// }
///
/// let status = ExportStatus::default();
/// assert!(status.last().is_none(), "nothing exported yet");
/// let reader = PeriodicReader::builder(TrackedExporter::new(Down, status.clone())).build();
/// let provider = SdkMeterProvider::builder().with_reader(reader).build();
/// use opentelemetry::metrics::MeterProvider as _;
/// provider.meter("app").u64_counter("games").build().add(1, &[]);
/// let _ = provider.force_flush(); // one export, which fails
/// let (_, outcome) = status.last().expect("an export happened");
/// assert!(outcome.is_err_and(|e| e.contains("connection refused")));
/// ```
#[derive(Clone, Debug, Default)]
pub struct ExportStatus(Arc<Mutex<Option<ExportOutcome>>>);

impl ExportStatus {
    /// `None` before the first export, else the latest outcome.
    pub fn last(&self) -> Option<ExportOutcome> {
        self.0.lock().map(|g| g.clone()).unwrap_or(None)
    }

    fn record(&self, result: &OTelSdkResult) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some((Instant::now(), result.as_ref().map(|_| ()).map_err(|e| e.to_string())));
        }
    }
}

/// Wraps a push exporter and records each export's outcome in an [`ExportStatus`].
#[derive(Debug)]
pub struct TrackedExporter<E> {
    inner: E,
    status: ExportStatus,
}

impl<E> TrackedExporter<E> {
    /// Wraps `inner`; outcomes go to `status`.
    pub fn new(inner: E, status: ExportStatus) -> Self {
        TrackedExporter { inner, status }
    }
}

impl<E: PushMetricExporter> PushMetricExporter for TrackedExporter<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        self.status.record(&result);
        result
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}
