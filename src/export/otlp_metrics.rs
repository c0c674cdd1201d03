//! [`OtlpMetricExporter`]: our own OTLP metric exporter, under the SDK's periodic reader. It
//! converts the SDK's data with `opentelemetry-proto`, drops histogram points that never
//! recorded, adds our histogram cells (with exemplars), and sends over gRPC or HTTP/protobuf
//! with the signal's headers, timeout, compression and TLS; each outcome goes to the signal's
//! [`SignalStatus`], which logs what a human needs.

use crate::config::{Compression, OtlpProtocol, OtlpSignal, TemporalityPreference};
use crate::export::otlp_cause::{body_excerpt, from_reqwest, from_tonic};
use crate::export::otlp_histograms::{append_families, drop_empty_points, Deltas};
use crate::export::otlp_tls::TlsMaterial;
use crate::export::status::{Cause, ExportStatus, SignalStatus};
use crate::export::ExportError;
use crate::metrics::data::{HistogramFamily, HistogramSource};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use prost::Message as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// Histogram sources the exporter reads at each export; filled once the instruments exist.
#[derive(Clone, Default)]
pub struct HistogramSources(Arc<RwLock<Vec<Arc<dyn HistogramSource>>>>);

impl std::fmt::Debug for HistogramSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.read().map(|v| v.len()).unwrap_or(0);
        f.debug_struct("HistogramSources").field("sources", &n).finish()
    }
}

impl HistogramSources {
    /// Adds a source; adding the same one twice is a no-op.
    pub fn attach(&self, source: Arc<dyn HistogramSource>) {
        let mut all = self.0.write().unwrap_or_else(|e| e.into_inner());
        if !all.iter().any(|s| Arc::ptr_eq(s, &source)) {
            all.push(source);
        }
    }

    fn collect(&self) -> Vec<HistogramFamily> {
        let mut out = Vec::new();
        for s in self.0.read().unwrap_or_else(|e| e.into_inner()).iter() {
            s.collect(&mut out);
        }
        out
    }
}

type Attempt = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Cause>> + Send + 'static>>;

enum Transport {
    Grpc { client: MetricsServiceClient<tonic::transport::Channel>, metadata: tonic::metadata::MetadataMap },
    Http { client: reqwest::Client, headers: reqwest::header::HeaderMap },
}

/// The OTLP metric exporter. Build it with [`OtlpMetricExporter::new`] and register it under
/// an `opentelemetry_sdk::metrics::PeriodicReader`.
pub struct OtlpMetricExporter {
    signal: OtlpSignal,
    temporality: TemporalityPreference,
    export_timeout: Duration,
    transport: Transport,
    runtime: tokio::runtime::Handle,
    histograms: HistogramSources,
    deltas: Mutex<Deltas>,
    status: Arc<SignalStatus>,
    shut_down: AtomicBool,
}

impl std::fmt::Debug for OtlpMetricExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpMetricExporter")
            .field("endpoint", &self.signal.endpoint_for_display())
            .field("protocol", &self.signal.protocol)
            .finish_non_exhaustive()
    }
}

fn build_error(signal: &OtlpSignal, reason: String) -> ExportError {
    ExportError { signal: "metrics", endpoint: signal.endpoint_for_display(), reason }
}

impl OtlpMetricExporter {
    /// An exporter for `signal`. Requests run on `runtime` (the gRPC channel lives there), so
    /// the reader's thread never needs one. `export_timeout` bounds an export, retries included.
    pub fn new(
        signal: &OtlpSignal,
        temporality: TemporalityPreference,
        export_timeout: Duration,
        runtime: tokio::runtime::Handle,
        histograms: HistogramSources,
    ) -> Result<OtlpMetricExporter, ExportError> {
        let tls = TlsMaterial::load(signal)?;
        let transport = match signal.protocol {
            OtlpProtocol::Grpc => {
                let _enter = runtime.enter();
                let mut endpoint = tonic::transport::Endpoint::from_shared(signal.endpoint.clone())
                    .map_err(|e| build_error(signal, e.to_string()))?
                    .connect_timeout(signal.timeout)
                    .timeout(signal.timeout);
                if signal.endpoint.starts_with("https://") {
                    endpoint = endpoint.tls_config(tls.tonic()).map_err(|e| build_error(signal, e.to_string()))?;
                }
                let mut client = MetricsServiceClient::new(endpoint.connect_lazy());
                match signal.compression {
                    Some(Compression::Gzip) => client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip),
                    Some(Compression::Zstd) => client = client.send_compressed(tonic::codec::CompressionEncoding::Zstd),
                    None => {}
                }
                let mut metadata = tonic::metadata::MetadataMap::new();
                for (name, value) in &signal.headers {
                    let bad = || {
                        build_error(
                            signal,
                            format!("{}: header `{name}` is not valid gRPC metadata", signal.sources.headers),
                        )
                    };
                    let key = tonic::metadata::AsciiMetadataKey::from_bytes(name.as_bytes()).map_err(|_| bad())?;
                    metadata.append(key, value.expose().parse().map_err(|_| bad())?);
                }
                Transport::Grpc { client, metadata }
            }
            OtlpProtocol::HttpProtobuf => {
                let (certs, identity) = tls.reqwest().map_err(|e| build_error(signal, e))?;
                let mut builder = reqwest::Client::builder().timeout(signal.timeout).tls_certs_merge(certs);
                if let Some(id) = identity {
                    builder = builder.identity(id);
                }
                let client = builder.build().map_err(|e| build_error(signal, e.to_string()))?;
                let mut headers = reqwest::header::HeaderMap::new();
                for (name, value) in &signal.headers {
                    let bad = || {
                        build_error(
                            signal,
                            format!("{}: header `{name}` is not a valid HTTP header", signal.sources.headers),
                        )
                    };
                    let key = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
                    let mut v = reqwest::header::HeaderValue::from_str(value.expose()).map_err(|_| bad())?;
                    v.set_sensitive(true);
                    headers.append(key, v);
                }
                Transport::Http { client, headers }
            }
        };
        let status = ExportStatus::register(signal.signal, signal.endpoint_for_display(), signal.sources);
        Ok(OtlpMetricExporter {
            signal: signal.clone(),
            temporality,
            export_timeout,
            transport,
            runtime,
            histograms,
            deltas: Mutex::new(Deltas::default()),
            status,
            shut_down: AtomicBool::new(false),
        })
    }

    /// The status the exporter reports to (the readiness check and the WARN lines read it).
    pub fn status(&self) -> Arc<SignalStatus> {
        Arc::clone(&self.status)
    }

    /// The request an export sends: the SDK's data without empty histogram points, plus ours.
    fn request(&self, metrics: &ResourceMetrics) -> ExportMetricsServiceRequest {
        let mut req = ExportMetricsServiceRequest::from(metrics);
        drop_empty_points(&mut req);
        let families = self.histograms.collect();
        let now = SystemTime::now();
        let delta = !matches!(self.temporality, TemporalityPreference::Cumulative);
        let mut deltas = self.deltas.lock().unwrap_or_else(|e| e.into_inner());
        append_families(&mut req, &families, crate::metrics::METER_NAME, delta.then_some(&mut *deltas), now);
        req
    }

    /// One attempt, to run on the exporter's runtime.
    fn attempt(&self, req: ExportMetricsServiceRequest) -> Attempt {
        let timeout = self.signal.timeout;
        let call: Attempt = match &self.transport {
            Transport::Grpc { client, metadata } => {
                let mut client = client.clone();
                let mut request = tonic::Request::new(req);
                *request.metadata_mut() = metadata.clone();
                request.set_timeout(timeout);
                Box::pin(async move { client.export(request).await.map(|_| ()).map_err(|s| from_tonic(&s, timeout)) })
            }
            Transport::Http { client, headers } => {
                let (body, encoding) = match encode(&req, self.signal.compression) {
                    Ok(b) => b,
                    Err(e) => return Box::pin(std::future::ready(Err(Cause::Other(e)))),
                };
                let mut request = client
                    .post(&self.signal.endpoint)
                    .headers(headers.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
                    .body(body);
                if let Some(e) = encoding {
                    request = request.header(reqwest::header::CONTENT_ENCODING, e);
                }
                Box::pin(async move {
                    let response = request.send().await.map_err(|e| from_reqwest(&e, timeout))?;
                    let status = response.status();
                    if status.is_success() {
                        return Ok(());
                    }
                    let body = response.bytes().await.unwrap_or_default();
                    Err(Cause::HttpStatus { status: status.as_u16(), body: body_excerpt(&body) })
                })
            }
        };
        // Belt and braces: the transports have their own timeouts, this one covers them all.
        Box::pin(async move { tokio::time::timeout(timeout, call).await.unwrap_or(Err(Cause::Timeout(timeout))) })
    }

    async fn send(&self, req: ExportMetricsServiceRequest) -> Result<(), Cause> {
        let deadline = Instant::now() + self.export_timeout;
        let mut backoff = Duration::from_millis(250);
        loop {
            // The request runs on our runtime: the reader's thread polls without one.
            let outcome = match self.runtime.spawn(self.attempt(req.clone())).await {
                Ok(r) => r,
                Err(_) => return Err(Cause::Other("the export was cancelled (the telemetry runtime stopped)".into())),
            };
            let retry = matches!(&outcome, Err(c) if retryable(c));
            let left = deadline.saturating_duration_since(Instant::now());
            if !retry || left <= backoff || backoff > Duration::from_secs(2) {
                return outcome;
            }
            let pause = backoff;
            // The timer is made on our runtime too: this thread has no reactor to make it on.
            if self.runtime.spawn(async move { tokio::time::sleep(pause).await }).await.is_err() {
                return outcome;
            }
            backoff *= 4;
        }
    }
}

/// Worth another attempt within the same export: the collector is busy or briefly away.
fn retryable(c: &Cause) -> bool {
    match c {
        Cause::HttpStatus { status, .. } => matches!(status, 429 | 502 | 503 | 504),
        Cause::Grpc { code, .. } => matches!(code.as_str(), "Unavailable" | "ResourceExhausted" | "Aborted"),
        Cause::Unreachable(_) => true,
        _ => false,
    }
}

fn encode(
    req: &ExportMetricsServiceRequest,
    compression: Option<Compression>,
) -> Result<(Vec<u8>, Option<&'static str>), String> {
    let raw = req.encode_to_vec();
    match compression {
        None => Ok((raw, None)),
        Some(Compression::Gzip) => {
            use std::io::Write as _;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&raw).and_then(|_| enc.finish()).map(|b| (b, Some("gzip"))).map_err(|e| e.to_string())
        }
        Some(Compression::Zstd) => zstd::bulk::compress(&raw, 0).map(|b| (b, Some("zstd"))).map_err(|e| e.to_string()),
    }
}

impl PushMetricExporter for OtlpMetricExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let req = self.request(metrics);
        if req.resource_metrics.iter().all(|rm| rm.scope_metrics.is_empty()) {
            return Ok(());
        }
        let outcome = self.send(req).await;
        self.status.record(outcome);
        // The failure is ours to report (the status logged it with what to check); the SDK
        // would only add an ERROR line with no message.
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.shut_down.store(true, Ordering::Release);
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        temporality(self.temporality)
    }
}

/// The SDK's temporality for a preference (low memory is delta for synchronous counters and
/// histograms, which is what the SDK's `LowMemory` means).
fn temporality(p: TemporalityPreference) -> Temporality {
    match p {
        TemporalityPreference::Cumulative => Temporality::Cumulative,
        TemporalityPreference::Delta => Temporality::Delta,
        TemporalityPreference::LowMemory => Temporality::LowMemory,
    }
}
