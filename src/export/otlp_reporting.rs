//! Span and log exporters (opentelemetry-otlp's) wrapped so every export's outcome reaches the
//! signal's [`SignalStatus`], with the real cause: over HTTP the exporter only says "network
//! error", so its HTTP client is wrapped too and tells us what actually happened.

use crate::export::otlp_cause::{body_excerpt, from_reqwest, from_text};
use crate::export::status::{Cause, SignalStatus};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The cause of the last failed HTTP request, as the client saw it.
pub(crate) type CauseSlot = Arc<Mutex<Option<Cause>>>;

/// reqwest's blocking client, remembering why a request failed.
#[derive(Debug)]
pub(crate) struct RecordingClient {
    pub(crate) inner: reqwest::blocking::Client,
    pub(crate) timeout: Duration,
    pub(crate) last: CauseSlot,
}

#[async_trait::async_trait]
impl HttpClient for RecordingClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let result = self.inner.send_bytes(request).await;
        let cause = match &result {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(Cause::HttpStatus { status: r.status().as_u16(), body: body_excerpt(r.body()) }),
            Err(e) => Some(match e.downcast_ref::<reqwest::Error>() {
                Some(re) => from_reqwest(re, self.timeout),
                None => from_text(&e.to_string(), self.timeout),
            }),
        };
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = cause;
        result
    }
}

/// An exporter whose outcomes are recorded in a [`SignalStatus`]. Failures are reported there
/// (one WARN line with what to check), so the SDK is told the export went through: otherwise it
/// adds an ERROR line of its own with no message.
#[derive(Debug)]
pub struct Reporting<E> {
    inner: E,
    status: Arc<SignalStatus>,
    timeout: Duration,
    http_cause: Option<CauseSlot>,
}

impl<E> Reporting<E> {
    pub(crate) fn new(inner: E, status: Arc<SignalStatus>, timeout: Duration, http_cause: Option<CauseSlot>) -> Self {
        Reporting { inner, status, timeout, http_cause }
    }

    fn record(&self, result: OTelSdkResult) -> OTelSdkResult {
        let outcome = result.map_err(|e| {
            let seen = self.http_cause.as_ref().and_then(|s| s.lock().unwrap_or_else(|e| e.into_inner()).take());
            seen.unwrap_or_else(|| from_text(&e.to_string(), self.timeout))
        });
        self.status.record(outcome);
        Ok(())
    }
}

impl<E: SpanExporter> SpanExporter for Reporting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.record(result)
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: LogExporter> LogExporter for Reporting<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.record(result)
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn event_enabled(&self, level: opentelemetry::logs::Severity, target: &str, name: Option<&str>) -> bool {
        self.inner.event_enabled(level, target, name)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
