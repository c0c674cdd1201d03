//! OTLP export: the metric push reader (our own exporter), and the span and log exporters
//! (opentelemetry-otlp's), built from a signal's
//! [`OtlpSignal`] settings (endpoint, protocol, headers, timeout, compression, TLS files).
//! `https://` endpoints use TLS (rustls, the system roots plus any configured CA) on gRPC and
//! HTTP alike.

use crate::config::{Compression, OtlpConfig, OtlpProtocol, OtlpSignal};
use crate::export::otlp_metrics::{HistogramSources, OtlpMetricExporter};
use crate::export::otlp_reporting::{CauseSlot, RecordingClient, Reporting};
use crate::export::otlp_tls::TlsMaterial;
use crate::export::status::ExportStatus;
use crate::export::ExportError;
use opentelemetry_otlp::{LogExporter, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::metrics::PeriodicReader;
use std::collections::HashMap;

fn build_error(signal: &OtlpSignal) -> impl Fn(String) -> ExportError + '_ {
    move |reason| ExportError { signal: signal.signal.as_str(), endpoint: signal.endpoint_for_display(), reason }
}

fn compression(c: Compression) -> opentelemetry_otlp::Compression {
    match c {
        Compression::Gzip => opentelemetry_otlp::Compression::Gzip,
        Compression::Zstd => opentelemetry_otlp::Compression::Zstd,
    }
}

/// gRPC metadata from the signal's headers.
fn metadata(signal: &OtlpSignal) -> Result<tonic::metadata::MetadataMap, ExportError> {
    let mut map = tonic::metadata::MetadataMap::new();
    for (name, value) in &signal.headers {
        // Names and values were validated by the configuration; parsing cannot fail on them.
        let key = tonic::metadata::AsciiMetadataKey::from_bytes(name.as_bytes()).map_err(|_| {
            build_error(signal)(format!("{}: `{name}` is not a gRPC metadata key", signal.sources.headers))
        })?;
        let value = value.expose().parse().map_err(|_| {
            build_error(signal)(format!("{}: the value of `{name}` is not valid metadata", signal.sources.headers))
        })?;
        map.append(key, value);
    }
    Ok(map)
}

/// Headers for the HTTP exporter, which percent-decodes values: a literal `%` must survive.
fn http_headers(signal: &OtlpSignal) -> HashMap<String, String> {
    signal.headers.iter().map(|(n, v)| (n.clone(), v.expose().replace('%', "%25"))).collect()
}

/// reqwest's blocking client with the signal's timeout and TLS material, remembering why a
/// request failed in `last`. Built on a thread of its own: the blocking client starts (and
/// later drops) a runtime, which panics inside one.
fn blocking_client(signal: &OtlpSignal, tls: &TlsMaterial, last: CauseSlot) -> Result<RecordingClient, ExportError> {
    let (certs, identity) = tls.reqwest().map_err(build_error(signal))?;
    let timeout = signal.timeout;
    let built = std::thread::spawn(move || {
        let mut b = reqwest::blocking::Client::builder().timeout(timeout).tls_certs_merge(certs);
        if let Some(id) = identity {
            b = b.identity(id);
        }
        b.build().map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| build_error(signal)("the HTTP client could not be built".into()))?;
    Ok(RecordingClient { inner: built.map_err(build_error(signal))?, timeout, last })
}

macro_rules! build_exporter {
    ($kind:ident, $signal:expr) => {{
        let signal: &OtlpSignal = $signal;
        let err = build_error(signal);
        let tls = TlsMaterial::load(signal)?;
        let status = ExportStatus::register(signal.signal, signal.endpoint_for_display(), signal.sources);
        match signal.protocol {
            OtlpProtocol::Grpc => {
                let mut b = $kind::builder()
                    .with_tonic()
                    .with_endpoint(signal.endpoint.clone())
                    .with_timeout(signal.timeout)
                    .with_metadata(metadata(signal)?);
                if signal.endpoint.starts_with("https://") {
                    b = b.with_tls_config(tls.tonic());
                }
                if let Some(c) = signal.compression {
                    b = b.with_compression(compression(c));
                }
                let exporter = b.build().map_err(|e| err(e.to_string()))?;
                Ok(Reporting::new(exporter, status, signal.timeout, None))
            }
            OtlpProtocol::HttpProtobuf => {
                let last = CauseSlot::default();
                let mut b = $kind::builder()
                    .with_http()
                    .with_endpoint(signal.endpoint.clone())
                    .with_timeout(signal.timeout)
                    .with_headers(http_headers(signal))
                    .with_http_client(blocking_client(signal, &tls, last.clone())?);
                if let Some(c) = signal.compression {
                    b = b.with_compression(compression(c));
                }
                let exporter = b.build().map_err(|e| err(e.to_string()))?;
                Ok(Reporting::new(exporter, status, signal.timeout, Some(last)))
            }
        }
    }};
}

/// A periodic reader pushing every `metric_export_interval` to the metrics endpoint through
/// our [`OtlpMetricExporter`], `None` when metrics are not exported over OTLP. Requests run on
/// `runtime`; `histograms` are read at each export.
pub fn metric_reader(
    config: &OtlpConfig,
    runtime: tokio::runtime::Handle,
    histograms: HistogramSources,
) -> Result<Option<PeriodicReader<OtlpMetricExporter>>, ExportError> {
    let Some(signal) = &config.metrics else { return Ok(None) };
    let exporter =
        OtlpMetricExporter::new(signal, config.temporality, config.metric_export_timeout, runtime, histograms)?;
    Ok(Some(PeriodicReader::builder(exporter).with_interval(config.metric_export_interval).build()))
}

/// The span exporter, `None` when spans are not exported over OTLP. Call inside a tokio
/// runtime for gRPC (its channel lives there).
pub fn span_exporter(config: &OtlpConfig) -> Result<Option<Reporting<SpanExporter>>, ExportError> {
    match &config.traces {
        Some(signal) => build_exporter!(SpanExporter, signal).map(Some),
        None => Ok(None),
    }
}

/// The log exporter, `None` when log records are not exported over OTLP. Call inside a tokio
/// runtime for gRPC (its channel lives there).
pub fn log_exporter(config: &OtlpConfig) -> Result<Option<Reporting<LogExporter>>, ExportError> {
    match &config.logs {
        Some(signal) => build_exporter!(LogExporter, signal).map(Some),
        None => Ok(None),
    }
}
