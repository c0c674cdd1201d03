//! OTLP export: the metric push reader built from [`crate::config::OtlpConfig`].

use crate::config::{OtlpConfig, OtlpProtocol};
use crate::Error;
use opentelemetry_otlp::{MetricExporter, WithExportConfig};
use opentelemetry_sdk::metrics::PeriodicReader;

/// A periodic reader pushing every `metric_export_interval` to the configured collector.
/// Must be called inside a tokio runtime (the gRPC channel lives on it).
pub fn metric_reader(config: &OtlpConfig) -> Result<PeriodicReader<MetricExporter>, Error> {
    let err = |e: opentelemetry_otlp::ExporterBuildError| Error::Exporter {
        signal: "metrics",
        endpoint: config.endpoint.clone(),
        reason: e.to_string(),
    };
    let exporter = match config.protocol {
        OtlpProtocol::Grpc => {
            MetricExporter::builder().with_tonic().with_endpoint(config.endpoint.clone()).build().map_err(err)?
        }
        // A programmatic endpoint is used verbatim, so the signal path is ours to add.
        OtlpProtocol::HttpProtobuf => MetricExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/metrics", config.endpoint))
            .build()
            .map_err(err)?,
    };
    Ok(PeriodicReader::builder(exporter).with_interval(config.metric_export_interval).build())
}
