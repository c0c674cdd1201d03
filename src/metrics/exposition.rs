//! The Prometheus bridge's own instruments: scrape duration and page size, by format.

use super::{HistogramRegistry, HistogramSeries};
use crate::semconv::{metric, ExpositionFormat};
use std::time::Duration;

/// What serving `/metrics` costs. The bridge records here once
/// [`crate::export::prometheus::PrometheusBridge::attach`] has been given this handle; get it
/// from [`super::Metrics::exposition`].
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
/// use bitcraps_otel::semconv::ExpositionFormat;
/// metrics.exposition().page_rendered(ExpositionFormat::Text, 38_947);
/// assert!(bridge.render().contains("bitcraps_prometheus_exposition_size_bytes_count{format=\"text\"} 1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ExpositionMetrics {
    scrape_duration: HistogramSeries<ExpositionFormat>,
    size: HistogramSeries<ExpositionFormat>,
}

impl ExpositionMetrics {
    pub(crate) fn new(histograms: &mut HistogramRegistry) -> Self {
        ExpositionMetrics {
            scrape_duration: HistogramSeries::by(histograms, &metric::PROMETHEUS_SCRAPE_DURATION),
            size: HistogramSeries::by(histograms, &metric::PROMETHEUS_EXPOSITION_SIZE),
        }
    }

    /// One scrape answered in `format` after `took` (`bitcraps_prometheus_scrape_duration_seconds`).
    #[inline]
    pub fn scrape_answered(&self, format: ExpositionFormat, took: Duration) {
        self.scrape_duration.record_for(format, took.as_secs_f64());
    }

    /// One page of `bytes` (before compression) rendered in `format`
    /// (`bitcraps_prometheus_exposition_size_bytes`).
    #[inline]
    pub fn page_rendered(&self, format: ExpositionFormat, bytes: usize) {
        self.size.record_for(format, bytes as f64);
    }
}
