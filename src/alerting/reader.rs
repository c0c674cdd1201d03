//! [`AlertReader`]: the OpenTelemetry metric reader the alert engine collects through.
//!
//! It wraps an SDK `ManualReader` (cumulative temporality) in an `Arc`, so the same reader is
//! registered with the meter provider and kept by the engine. [`crate::TelemetryBuilder::alerting`]
//! (or `BITCRAPS_ALERTING=1` with [`crate::init`]) registers one and publishes it, and
//! [`super::AlertingSystem::start`] picks it up. Each reader costs one more aggregator update
//! per measurement, which is why it is only registered when alerting is wanted.

use super::AlertError;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, Temporality};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

/// A cloneable handle on one manual reader; register a clone with the provider's builder.
///
/// ```
/// use bitcraps_otel::alerting::AlertReader;
/// use opentelemetry::metrics::MeterProvider;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// let reader = AlertReader::new();
/// let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
/// provider.meter("demo").u64_counter("bitcraps.games").build().add(3, &[]);
/// let rm = reader.collect()?;
/// assert_eq!(rm.scope_metrics().count(), 1);
/// # Ok::<(), bitcraps_otel::alerting::AlertError>(())
/// ```
#[derive(Clone, Debug)]
pub struct AlertReader {
    inner: Arc<ManualReader>,
    // Reused between collections so the SDK can keep its buffers.
    buffer: Arc<Mutex<ResourceMetrics>>,
}

impl Default for AlertReader {
    fn default() -> Self {
        Self::new()
    }
}

static GLOBAL: RwLock<Option<AlertReader>> = RwLock::new(None);

impl AlertReader {
    /// A new reader with cumulative temporality (rates are computed by the engine).
    pub fn new() -> Self {
        AlertReader {
            inner: Arc::new(ManualReader::builder().with_temporality(Temporality::Cumulative).build()),
            buffer: Arc::new(Mutex::new(ResourceMetrics::default())),
        }
    }

    /// Collects every metric of the provider now.
    pub fn collect(&self) -> Result<ResourceMetrics, AlertError> {
        let mut rm = ResourceMetrics::default();
        self.inner.collect(&mut rm).map_err(|e| AlertError::Collect(e.to_string()))?;
        Ok(rm)
    }

    /// Collects into the reused buffer and hands it to `f`.
    pub(crate) fn collect_with<R>(&self, f: impl FnOnce(&ResourceMetrics) -> R) -> Result<R, AlertError> {
        let mut rm = self.buffer.lock().map_err(|_| AlertError::Collect("reader buffer poisoned".into()))?;
        self.inner.collect(&mut rm).map_err(|e| AlertError::Collect(e.to_string()))?;
        Ok(f(&rm))
    }

    /// The reader [`crate::init`] registered for alerting, if it did.
    pub fn global() -> Option<AlertReader> {
        GLOBAL.read().ok().and_then(|g| g.clone())
    }

    pub(crate) fn set_global(reader: Option<AlertReader>) {
        if let Ok(mut g) = GLOBAL.write() {
            *g = reader;
        }
    }
}

impl MetricReader for AlertReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.inner.register_pipeline(pipeline)
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.inner.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.inner.temporality(kind)
    }
}
