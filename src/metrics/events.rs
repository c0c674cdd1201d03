//! Instruments behind the logging macros: operation durations, business and security events.

use super::{CounterSeries, HistogramRegistry, HistogramSeries};
use crate::semconv::{metric, AttributeEnum, BusinessEvent, OperationName, SecurityEvent};
use opentelemetry::metrics::Meter;
use std::time::Duration;

/// What [`crate::log_performance!`], [`crate::log_business_event!`] and
/// [`crate::log_security_event!`] record. Get it from [`super::Metrics::events`].
///
/// Names outside the registry's vocabulary are counted under `other`, so no input can add a
/// series.
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
/// use bitcraps_otel::semconv::BusinessEvent;
/// metrics.events().business(BusinessEvent::GameCompleted);
/// metrics.events().security_named("not-in-the-registry"); // counted as `other`
/// let text = bridge.render();
/// assert!(text.contains("bitcraps_business_events_total{event=\"game_completed\"} 1"));
/// assert!(text.contains("bitcraps_security_events_total{event=\"other\"} 1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EventMetrics {
    operation_duration: HistogramSeries<OperationName>,
    business: CounterSeries<BusinessEvent>,
    security: CounterSeries<SecurityEvent>,
}

impl EventMetrics {
    pub(crate) fn new(meter: &Meter, histograms: &mut HistogramRegistry) -> Self {
        EventMetrics {
            operation_duration: HistogramSeries::by(histograms, &metric::OPERATION_DURATION),
            business: CounterSeries::by(meter, &metric::BUSINESS_EVENTS),
            security: CounterSeries::by(meter, &metric::SECURITY_EVENTS),
        }
    }

    /// One `operation` took `duration` (`bitcraps_operation_duration_seconds`).
    #[inline]
    pub fn operation(&self, operation: OperationName, duration: Duration) {
        self.operation_duration.record_for(operation, duration.as_secs_f64());
    }

    /// One business event (`bitcraps_business_events_total`).
    #[inline]
    pub fn business(&self, event: BusinessEvent) {
        self.business.add_for(event, 1);
    }

    /// One security event (`bitcraps_security_events_total`).
    #[inline]
    pub fn security(&self, event: SecurityEvent) {
        self.security.add_for(event, 1);
    }

    /// Like [`EventMetrics::operation`], from a free-form name (`other` when unknown).
    pub fn operation_named(&self, operation: &str, duration: Duration) {
        self.operation(OperationName::from_value(operation), duration);
    }

    /// Like [`EventMetrics::business`], from a free-form name (`other` when unknown).
    pub fn business_named(&self, event: &str) {
        self.business(BusinessEvent::from_value(event));
    }

    /// Like [`EventMetrics::security`], from a free-form name (`other` when unknown).
    pub fn security_named(&self, event: &str) {
        self.security(SecurityEvent::from_value(event));
    }
}
