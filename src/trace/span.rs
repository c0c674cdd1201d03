//! [`SpanGuard`]: the part every typed span shares. It owns one OpenTelemetry span inside a
//! [`Context`], ends it when dropped, and makes it current (synchronously with
//! [`SpanGuard::enter`], across `.await` with [`SpanGuard::scope`]).

use crate::semconv::{AttributeDef, SpanDef, SpanEventDef};
use opentelemetry::trace::{FutureExt as _, Link, SpanBuilder, SpanContext, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, ContextGuard, Key, KeyValue, Value};
use opentelemetry_sdk::trace::SdkTracer;

/// `def`'s key as an OpenTelemetry key, without allocating.
pub(crate) fn key(def: &'static AttributeDef) -> Key {
    Key::from_static_str(def.id)
}

/// One typed span in flight. Every typed guard derefs to this.
///
/// Dropping it ends the span. It is `Send`: a game can start on one task and end on another.
/// Spans opened while it is current (typed ones, `tracing::info_span!`, and spans of any crate
/// that reads the OpenTelemetry context) are its children; log lines written while it is
/// current carry its `trace_id` and `span_id`.
#[derive(Debug)]
#[must_use = "the span ends when the guard is dropped"]
pub struct SpanGuard {
    cx: Context,
}

impl SpanGuard {
    /// Starts `def` under `parent`. Attributes are only built when the span records: an
    /// unsampled span costs ids and a context, nothing more. (None of the six configurable
    /// samplers looks at attributes, so the decision is the same without them.)
    pub(crate) fn start(
        tracer: &SdkTracer,
        def: &'static SpanDef,
        parent: &Context,
        links: Vec<Link>,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> SpanGuard {
        let mut builder = SpanBuilder::from_name(def.name).with_kind(def.kind.to_otel());
        if !links.is_empty() {
            builder = builder.with_links(links);
        }
        let span = tracer.build_with_context(builder, parent);
        let cx = parent.with_span(span);
        let guard = SpanGuard { cx };
        if guard.is_recording() {
            guard.cx.span().set_attributes(attributes());
        }
        guard
    }

    /// The context holding this span (and the baggage it was started with): hand it to
    /// another task or to an OpenTelemetry API.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Trace id, span id, flags and trace state of this span.
    pub fn span_context(&self) -> SpanContext {
        self.cx.span().span_context().clone()
    }

    /// Whether the sampler kept this span (it is exported, and exemplars may point at it).
    pub fn is_sampled(&self) -> bool {
        self.cx.span().span_context().is_sampled()
    }

    /// Whether the span records attributes and events (sampled, or `RecordOnly`).
    pub fn is_recording(&self) -> bool {
        self.cx.span().is_recording()
    }

    /// Makes the span current on this thread until the returned guard is dropped. For
    /// synchronous code; across `.await` use [`SpanGuard::scope`].
    pub fn enter(&self) -> Entered {
        Entered { _guard: self.cx.clone().attach() }
    }

    /// Runs `f` with the span current.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _entered = self.enter();
        f()
    }

    /// `future` with the span current on every poll, whichever thread polls it.
    pub fn scope<F: std::future::Future>(&self, future: F) -> opentelemetry::trace::WithContext<F> {
        future.with_context(self.cx.clone())
    }

    /// Records `error` on the span (an `exception` event and an error status). Typed guards
    /// also set their outcome; use theirs when they have one.
    pub fn record_error(&self, error: &dyn std::error::Error) {
        let span = self.cx.span();
        if span.is_recording() {
            span.record_error(error);
            span.set_status(Status::error(error.to_string()));
        }
    }

    /// Marks the span failed with a message (no error value at hand).
    pub fn fail(&self, message: impl Into<std::borrow::Cow<'static, str>>) {
        self.cx.span().set_status(Status::error(message));
    }

    pub(crate) fn set(&self, def: &'static AttributeDef, value: impl Into<Value>) {
        let span = self.cx.span();
        if span.is_recording() {
            span.set_attribute(KeyValue::new(key(def), value));
        }
    }

    /// Adds the registry event `def`; `attributes` runs only when the span records.
    pub(crate) fn event(&self, def: &'static SpanEventDef, attributes: impl FnOnce() -> Vec<KeyValue>) {
        let span = self.cx.span();
        if span.is_recording() {
            span.add_event(def.name, attributes());
        }
    }

    pub(crate) fn link(&self, to: SpanContext, attributes: Vec<KeyValue>) {
        let span = self.cx.span();
        if span.is_recording() && to.is_valid() {
            span.add_link(to, attributes);
        }
    }
}

impl Drop for SpanGuard {
    fn drop(&mut self) {
        self.cx.span().end();
    }
}

/// The span is current while this lives; see [`SpanGuard::enter`]. Not `Send`: the current
/// context is per thread.
#[derive(Debug)]
#[must_use = "the span is current only while the guard lives"]
pub struct Entered {
    _guard: ContextGuard,
}

impl crate::semconv::SpanKindDef {
    /// The OpenTelemetry span kind.
    pub fn to_otel(self) -> opentelemetry::trace::SpanKind {
        use opentelemetry::trace::SpanKind;
        match self {
            Self::Internal => SpanKind::Internal,
            Self::Server => SpanKind::Server,
            Self::Client => SpanKind::Client,
            Self::Producer => SpanKind::Producer,
            Self::Consumer => SpanKind::Consumer,
        }
    }
}
