//! The error counter, `bitcraps_errors_total{category,severity}`.

use super::CounterSeries;
use crate::semconv::{metric, ErrorCategory, ErrorSeverity};
use opentelemetry::metrics::Meter;

/// Error counts by category and severity. Get it from [`super::Metrics::errors`].
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
