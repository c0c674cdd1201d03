//! The error counter, `bitcraps_errors_total{category,severity}`.

use super::counter;
use crate::semconv::{metric, AttributeEnum, ErrorCategory, ErrorSeverity};
use opentelemetry::metrics::{BoundCounter, Meter};
use opentelemetry::KeyValue;

/// Error counts by category and severity. Get it from [`super::Metrics::errors`].
pub struct ErrorMetrics {
    // Row-major: category index * number of severities + severity index.
    bound: Box<[BoundCounter<u64>]>,
}

impl ErrorMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        let c = counter(meter, &metric::ERRORS);
        let mut bound = Vec::with_capacity(ErrorCategory::ALL.len() * ErrorSeverity::ALL.len());
        for category in ErrorCategory::ALL {
            for severity in ErrorSeverity::ALL {
                // Canonical order: the registry's attribute order.
                bound.push(c.bind(&[
                    KeyValue::new(ErrorCategory::DEF.id, category.as_str()),
                    KeyValue::new(ErrorSeverity::DEF.id, severity.as_str()),
                ]));
            }
        }
        ErrorMetrics { bound: bound.into_boxed_slice() }
    }

    /// One error of `category` and `severity`.
    #[inline]
    pub fn record(&self, category: ErrorCategory, severity: ErrorSeverity) {
        self.bound[category.index() * ErrorSeverity::ALL.len() + severity.index()].add(1);
    }
}
