//! [`AlertError`]: everything the alerting API can fail with, in one enum of its own so the
//! engine's modules share it without importing the module root.

use super::channels;
use super::RuleFileError;

/// Everything the alerting API can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// A rule names a metric the semconv registry does not define (raw or derived).
    #[error("alert rule `{rule}`: unknown metric `{metric}` (not in the semconv registry; see semconv::METRICS and semconv::DERIVED)")]
    UnknownMetric {
        /// The rule.
        rule: String,
        /// The name it gave.
        metric: String,
    },
    /// A rule field has a value the engine cannot use.
    #[error("alert rule `{rule}`: {field}: {reason}")]
    InvalidRule {
        /// The rule.
        rule: String,
        /// The field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No metric reader to collect from: no guard is alive, or it was started without the alert reader.
    #[error("no alert metric reader: no telemetry guard is alive, or it was started with TelemetryBuilder::alerting(false) or OTEL_SDK_DISABLED; start one with init(), or attach() a reader")]
    NoReader,
    /// `start` was called outside a tokio runtime.
    #[error("the alerting system must be started inside a tokio runtime")]
    NoRuntime,
    /// Collecting from the reader failed (e.g. the meter provider was shut down).
    #[error("collecting metrics for alerting failed: {0}")]
    Collect(String),
    /// A rules file could not be read or is invalid.
    #[error(transparent)]
    File(#[from] RuleFileError),
    /// A notification channel of a rules file cannot be built.
    #[error(transparent)]
    Channel(#[from] channels::ChannelError),
    /// A route or escalation policy has a value past its bound (see [`super::limits`]).
    #[error("routing: {field}: {reason}")]
    InvalidRouting {
        /// The field at fault, e.g. `routes[0].group_wait`.
        field: String,
        /// Why.
        reason: String,
    },
    /// An evaluation cycle panicked (the panic was caught; the engine goes on).
    #[error("alert evaluation panicked: {0}")]
    Panicked(String),
}
