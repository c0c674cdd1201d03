//! OTLP export: the metric push reader, and the span and log exporters, built from
//! [`crate::config::OtlpConfig`]. `https://` endpoints use TLS (rustls with the system roots)
//! on gRPC and HTTP alike.

use crate::config::{OtlpConfig, OtlpProtocol};
use crate::export::status::{ExportStatus, TrackedExporter};
use crate::Error;
use opentelemetry_otlp::{LogExporter, MetricExporter, SpanExporter, WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::metrics::PeriodicReader;

/// A periodic reader pushing every `metric_export_interval` to the configured collector.
/// Must be called inside a tokio runtime (the gRPC channel lives on it).
/// Each export's outcome is recorded in `status` (the readiness check reads it).
pub fn metric_reader(
    config: &OtlpConfig,
    status: ExportStatus,
) -> Result<PeriodicReader<TrackedExporter<MetricExporter>>, Error> {
    let err = |e: opentelemetry_otlp::ExporterBuildError| Error::Exporter {
        signal: "metrics",
        endpoint: config.endpoint.clone(),
        reason: e.to_string(),
    };
    let exporter = match config.protocol {
        OtlpProtocol::Grpc => MetricExporter::builder()
            .with_tonic()
            .with_endpoint(config.endpoint.clone())
            .with_tls_config(grpc_tls())
            .build()
            .map_err(err)?,
        // A programmatic endpoint is used verbatim, so the signal path is ours to add.
        OtlpProtocol::HttpProtobuf => MetricExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/metrics", config.endpoint))
            .build()
            .map_err(err)?,
    };
    Ok(PeriodicReader::builder(TrackedExporter::new(exporter, status))
        .with_interval(config.metric_export_interval)
        .build())
}

/// TLS for gRPC: the system's root certificates (`SSL_CERT_FILE` is honoured). Only used when
/// the endpoint is `https://`; tonic ignores it for `http://`.
fn grpc_tls() -> tonic::transport::ClientTlsConfig {
    tonic::transport::ClientTlsConfig::new().with_enabled_roots()
}

fn build_error<'a>(
    signal: &'static str,
    config: &'a OtlpConfig,
) -> impl Fn(opentelemetry_otlp::ExporterBuildError) -> Error + 'a {
    move |e| Error::Exporter { signal, endpoint: config.endpoint.clone(), reason: e.to_string() }
}

/// The span exporter for the configured collector. Call inside a tokio runtime for gRPC.
pub fn span_exporter(config: &OtlpConfig) -> Result<SpanExporter, Error> {
    let err = build_error("traces", config);
    match config.protocol {
        OtlpProtocol::Grpc => SpanExporter::builder()
            .with_tonic()
            .with_endpoint(config.endpoint.clone())
            .with_tls_config(grpc_tls())
            .build()
            .map_err(err),
        OtlpProtocol::HttpProtobuf => SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", config.endpoint))
            .build()
            .map_err(err),
    }
}

/// The log exporter for the configured collector. Call inside a tokio runtime for gRPC.
pub fn log_exporter(config: &OtlpConfig) -> Result<LogExporter, Error> {
    let err = build_error("logs", config);
    match config.protocol {
        OtlpProtocol::Grpc => LogExporter::builder()
            .with_tonic()
            .with_endpoint(config.endpoint.clone())
            .with_tls_config(grpc_tls())
            .build()
            .map_err(err),
        OtlpProtocol::HttpProtobuf => LogExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/logs", config.endpoint))
            .build()
            .map_err(err),
    }
}
