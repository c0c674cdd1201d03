//! The error counter, `bitcraps_errors_total{category,severity}`.

use super::CounterSeries;
use crate::semconv::{metric, ErrorCategory, ErrorSeverity};
use opentelemetry::metrics::Meter;

/// Error counts by category and severity. Get it from [`super::Metrics::errors`].
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
/// use bitcraps_otel::semconv::{ErrorCategory, ErrorSeverity};
/// metrics.errors().record(ErrorCategory::Consensus, ErrorSeverity::Critical);
/// assert!(bridge.render().contains("bitcraps_errors_total{category=\"consensus\",severity=\"critical\"} 1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ErrorMetrics {
    counts: CounterSeries<(ErrorCategory, ErrorSeverity)>,
}

impl ErrorMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        ErrorMetrics { counts: CounterSeries::by2(meter, &metric::ERRORS) }
    }

    /// One error of `category` and `severity`.
    #[inline]
    pub fn record(&self, category: ErrorCategory, severity: ErrorSeverity) {
        self.counts.add_for2(category, severity, 1);
    }
}
