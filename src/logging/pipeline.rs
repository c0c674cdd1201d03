//! The OpenTelemetry side of logging: tracer and logger providers exporting over OTLP through
//! batch processors, wrapped so that correlation ids are added and secrets removed before
//! anything reaches an exporter.

use super::context::CorrelationContext;
use super::redact::{Redactor, SecretKeys, REDACTED};
use crate::config::TraceSampler;
use crate::semconv::attribute;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::InstrumentationScope;
use opentelemetry::{Context, Key, KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{BatchLogProcessor, LogProcessor, SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, Span, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;
use std::time::Duration;

/// Attribute keys the correlation ids are recorded under on spans and log records.
fn correlation_attributes(ctx: &CorrelationContext) -> impl Iterator<Item = (&'static str, String)> + '_ {
    ctx.fields().map(|(field, value)| {
        let key = match field {
            "correlation_id" => attribute::CORRELATION_ID.id,
            "user_id" => attribute::USER_ID.id,
            "game_id" => attribute::GAME_ID.id,
            "peer_id" => attribute::PEER_ID.id,
            _ => attribute::REQUEST_ID.id,
        };
        (key, value.to_string())
    })
}

/// Adds correlation ids when a span starts (those it was created under, else the current ones) and redacts secret attributes when it ends, then
/// hands the span to `P`.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use bitcraps_otel::logging::pipeline::ScrubbingSpanProcessor;
/// use bitcraps_otel::logging::{Redactor, REDACTED};
/// use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
/// use opentelemetry::{Context, KeyValue};
/// use opentelemetry_sdk::error::OTelSdkResult;
/// use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
///
/// /// Keeps what reaches it, as an exporter would see it.
/// #[derive(Debug, Default, Clone)]
/// struct Keep(Arc<Mutex<Vec<SpanData>>>);
/// impl SpanProcessor for Keep {
///     fn on_start(&self, _: &mut Span, _: &Context) {}
///     fn on_end(&self, span: SpanData) { self.0.lock().unwrap().push(span) }
///     fn force_flush(&self) -> OTelSdkResult { Ok(()) }
///     fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult { Ok(()) }
/// }
///
/// let kept = Keep::default();
/// let provider = SdkTracerProvider::builder()
///     .with_span_processor(ScrubbingSpanProcessor::new(kept.clone(), Redactor::default()))
///     .build();
/// let mut span = provider.tracer("app").start("login");
/// span.set_attribute(KeyValue::new("password", "hunter2"));
/// span.end();
/// let spans = kept.0.lock().unwrap();
/// assert_eq!(spans[0].attributes[0].value.as_str(), REDACTED);
/// ```
#[derive(Debug)]
pub struct ScrubbingSpanProcessor<P> {
    inner: P,
    redactor: SecretKeys,
}

impl<P> ScrubbingSpanProcessor<P> {
    /// Wraps `inner`.
    pub fn new(inner: P, redactor: Redactor) -> Self {
        ScrubbingSpanProcessor { inner, redactor: SecretKeys::new(redactor) }
    }
}

fn scrub(redactor: &SecretKeys, attrs: &mut [KeyValue]) {
    for kv in attrs.iter_mut().filter(|kv| redactor.is_secret(kv.key.as_str())) {
        kv.value = Value::from(REDACTED);
    }
}

impl<P: SpanProcessor> SpanProcessor for ScrubbingSpanProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        use opentelemetry::trace::Span as _;
        if let Some(ctx) = super::context::for_span(cx) {
            for (k, v) in correlation_attributes(&ctx) {
                span.set_attribute(KeyValue::new(k, v));
            }
        }
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        scrub(&self.redactor, &mut span.attributes);
        for event in span.events.events.iter_mut() {
            scrub(&self.redactor, &mut event.attributes);
        }
        for link in span.links.links.iter_mut() {
            scrub(&self.redactor, &mut link.attributes);
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Adds correlation ids to every log record and rewrites records carrying secret attributes,
/// then hands them to `P`.
#[derive(Debug)]
pub struct ScrubbingLogProcessor<P> {
    inner: P,
    redactor: Redactor,
    // A record with nothing set; the SDK's records can only be created through a logger.
    blank: SdkLogRecord,
}

impl<P> ScrubbingLogProcessor<P> {
    /// Wraps `inner`.
    pub fn new(inner: P, redactor: Redactor) -> Self {
        let blank = SdkLoggerProvider::builder().build().logger("blank").create_log_record();
        ScrubbingLogProcessor { inner, redactor, blank }
    }

    /// The SDK cannot remove or replace a record's attribute, so a record with a secret one is
    /// rebuilt with every field copied and the secret values replaced.
    fn redacted(&self, record: &SdkLogRecord) -> SdkLogRecord {
        let mut out = self.blank.clone();
        if let Some(name) = record.event_name() {
            out.set_event_name(name);
        }
        if let Some(target) = record.target() {
            out.set_target(target.clone());
        }
        if let Some(t) = record.timestamp() {
            out.set_timestamp(t);
        }
        if let Some(t) = record.observed_timestamp() {
            out.set_observed_timestamp(t);
        }
        if let Some(s) = record.severity_text() {
            out.set_severity_text(s);
        }
        if let Some(s) = record.severity_number() {
            out.set_severity_number(s);
        }
        if let Some(body) = record.body() {
            out.set_body(body.clone());
        }
        if let Some(tc) = record.trace_context() {
            out.set_trace_context(tc.trace_id, tc.span_id, tc.trace_flags);
        }
        for (k, v) in record.attributes_iter() {
            if self.redactor.is_secret(k.as_str()) {
                out.add_attribute(k.clone(), AnyValue::from(REDACTED));
            } else {
                out.add_attribute(k.clone(), v.clone());
            }
        }
        out
    }
}

impl<P: LogProcessor> LogProcessor for ScrubbingLogProcessor<P> {
    fn emit(&self, record: &mut SdkLogRecord, scope: &InstrumentationScope) {
        if record.attributes_iter().any(|(k, _)| self.redactor.is_secret(k.as_str())) {
            *record = self.redacted(record);
        }
        if let Some(ctx) = CorrelationContext::current() {
            for (k, v) in correlation_attributes(&ctx) {
                record.add_attribute(Key::from_static_str(k), v);
            }
        }
        self.inner.emit(record, scope);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
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

/// A tracer provider exporting through a batch processor behind [`ScrubbingSpanProcessor`].
pub(crate) fn tracer_provider(
    exporter: impl opentelemetry_sdk::trace::SpanExporter + 'static,
    resource: Resource,
    redactor: Redactor,
    sampler: TraceSampler,
) -> SdkTracerProvider {
    let batch = BatchSpanProcessor::builder(exporter).build();
    SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler.to_sdk())
        .with_span_processor(ScrubbingSpanProcessor::new(batch, redactor))
        .build()
}

/// A tracer provider with `sampler` and no processor: spans get ids and sampling decisions
/// (for log lines, exemplars and propagation) and go nowhere.
pub(crate) fn local_tracer_provider(resource: Resource, sampler: TraceSampler) -> SdkTracerProvider {
    SdkTracerProvider::builder().with_resource(resource).with_sampler(sampler.to_sdk()).build()
}

/// A logger provider exporting through a batch processor behind [`ScrubbingLogProcessor`].
pub(crate) fn logger_provider(
    exporter: impl opentelemetry_sdk::logs::LogExporter + 'static,
    resource: Resource,
    redactor: Redactor,
) -> SdkLoggerProvider {
    let batch = BatchLogProcessor::builder(exporter).build();
    SdkLoggerProvider::builder()
        .with_resource(resource)
        .with_log_processor(ScrubbingLogProcessor::new(batch, redactor))
        .build()
}
