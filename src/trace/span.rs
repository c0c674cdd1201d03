//! [`SpanGuard`]: the part every typed span shares. It owns one OpenTelemetry span inside a
//! [`Context`] (for a span the sampler dropped, only its ids, the context built when first
//! needed), ends it when dropped, and makes it current (synchronously with
//! [`SpanGuard::enter`], across `.await` with [`SpanGuard::scope`]).

use crate::config::TraceSampler;
use crate::semconv::{AttributeDef, SpanDef, SpanEventDef};
use opentelemetry::baggage::{Baggage, BaggageExt as _};
use opentelemetry::trace::TraceFlags;
use opentelemetry::trace::{FutureExt as _, Link, SpanBuilder, SpanContext, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, ContextGuard, Key, KeyValue, Value};
use opentelemetry_sdk::trace::{IdGenerator as _, RandomIdGenerator, SdkTracer, Span as SdkSpan};
use std::sync::OnceLock;

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
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    /// A recording SDK span, inside the context that holds it.
    Recording(Context),
    /// A span the sampler dropped: only its ids. The context holding them (and the baggage the
    /// span added) is built the first time something needs it — entering the span, a carrier,
    /// [`SpanGuard::context`] — so a span nobody looks at costs its ids and nothing more.
    Ids { parent: Context, baggage: Option<KeyValue>, sc: SpanContext, cx: OnceLock<Context> },
}

/// How a typed span is started; see [`SpanGuard::start`].
pub(crate) struct Start<'a> {
    pub(crate) tracer: &'a SdkTracer,
    /// The configured sampler, when known: lets an unsampled span skip the SDK.
    pub(crate) sampler: Option<TraceSampler>,
    pub(crate) def: &'static SpanDef,
    /// Added to the parent's baggage (the correlation ids of games and rounds).
    pub(crate) baggage: Option<KeyValue>,
    pub(crate) links: Vec<Link>,
}

impl SpanGuard {
    /// Starts `how.def` under `parent`. Attributes are only built when the span records. When
    /// the configured sampler is known and its decision does not need a trace id (every
    /// sampler but a ratio on a root), a dropped span never reaches the SDK: it gets a fresh
    /// span id (and trace id for a root), the parent's trace state and an unsampled flag, as the
    /// SDK would give it. None of the six configurable samplers looks at attributes or links, so
    /// the decision is the same without them.
    pub(crate) fn start(how: Start<'_>, parent: Context, attributes: impl FnOnce() -> Vec<KeyValue>) -> SpanGuard {
        let decided = match how.sampler {
            Some(s) if !parent.is_telemetry_suppressed() => decide(s, &parent),
            _ => None,
        };
        if decided == Some(false) {
            let sc = unsampled_context(&parent);
            return SpanGuard::dropped(parent, how.baggage, sc);
        }
        let parent = match how.baggage {
            Some(kv) => with_added_baggage(&parent, kv),
            None => parent,
        };
        let mut builder = SpanBuilder::from_name(how.def.name).with_kind(how.def.kind.to_otel());
        if !how.links.is_empty() {
            builder = builder.with_links(how.links);
        }
        if decided == Some(true) {
            // Known to be sampled: hand the attributes to the SDK with the builder, where they
            // become the span's own Vec, instead of pushing them through its lock afterwards.
            builder = builder.with_attributes(attributes());
            let span = how.tracer.build_with_context(builder, &parent);
            return SpanGuard::from_sdk(parent, span, Vec::new);
        }
        let span = how.tracer.build_with_context(builder, &parent);
        SpanGuard::from_sdk(parent, span, attributes)
    }

    fn from_sdk(parent: Context, span: SdkSpan, attributes: impl FnOnce() -> Vec<KeyValue>) -> SpanGuard {
        if !opentelemetry::trace::Span::is_recording(&span) {
            let sc = opentelemetry::trace::Span::span_context(&span).clone();
            return SpanGuard::dropped(parent, None, sc);
        }
        let guard = SpanGuard { inner: Inner::Recording(parent.with_span(span)) };
        if let Inner::Recording(cx) = &guard.inner {
            let attrs = attributes();
            if !attrs.is_empty() {
                cx.span().set_attributes(attrs);
            }
        }
        guard
    }

    fn dropped(parent: Context, baggage: Option<KeyValue>, sc: SpanContext) -> SpanGuard {
        SpanGuard { inner: Inner::Ids { parent, baggage, sc, cx: OnceLock::new() } }
    }

    /// The context holding this span (and the baggage it was started with): hand it to
    /// another task or to an OpenTelemetry API.
    pub fn context(&self) -> &Context {
        match &self.inner {
            Inner::Recording(cx) => cx,
            Inner::Ids { parent, baggage, sc, cx } => cx.get_or_init(|| {
                let with_baggage;
                let parent = match baggage {
                    Some(kv) => {
                        with_baggage = with_added_baggage(parent, kv.clone());
                        &with_baggage
                    }
                    None => parent,
                };
                parent.with_remote_span_context(sc.clone())
            }),
        }
    }

    /// Trace id, span id, flags and trace state of this span.
    pub fn span_context(&self) -> SpanContext {
        match &self.inner {
            Inner::Recording(cx) => cx.span().span_context().clone(),
            Inner::Ids { sc, .. } => sc.clone(),
        }
    }

    /// Whether the sampler kept this span (it is exported, and exemplars may point at it).
    pub fn is_sampled(&self) -> bool {
        match &self.inner {
            Inner::Recording(cx) => cx.span().span_context().is_sampled(),
            Inner::Ids { sc, .. } => sc.is_sampled(),
        }
    }

    /// Whether the span records attributes and events (sampled, or `RecordOnly`).
    pub fn is_recording(&self) -> bool {
        self.recording().is_some()
    }

    /// The context of a recording span.
    fn recording(&self) -> Option<&Context> {
        match &self.inner {
            Inner::Recording(cx) => Some(cx),
            Inner::Ids { .. } => None,
        }
    }

    /// Makes the span current on this thread until the returned guard is dropped. For
    /// synchronous code; across `.await` use [`SpanGuard::scope`].
    pub fn enter(&self) -> Entered {
        Entered { _guard: self.context().clone().attach() }
    }

    /// Runs `f` with the span current.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _entered = self.enter();
        f()
    }

    /// `future` with the span current on every poll, whichever thread polls it.
    pub fn scope<F: std::future::Future>(&self, future: F) -> opentelemetry::trace::WithContext<F> {
        future.with_context(self.context().clone())
    }

    /// Records `error` on the span (an `exception` event and an error status). Typed guards
    /// also set their outcome; use theirs when they have one.
    pub fn record_error(&self, error: &dyn std::error::Error) {
        if let Some(cx) = self.recording() {
            let span = cx.span();
            span.record_error(error);
            span.set_status(Status::error(error.to_string()));
        }
    }

    /// Marks the span failed with a message (no error value at hand).
    pub fn fail(&self, message: impl Into<std::borrow::Cow<'static, str>>) {
        if let Some(cx) = self.recording() {
            cx.span().set_status(Status::error(message));
        }
    }

    pub(crate) fn set(&self, def: &'static AttributeDef, value: impl Into<Value>) {
        if let Some(cx) = self.recording() {
            cx.span().set_attribute(KeyValue::new(key(def), value));
        }
    }

    /// Adds the registry event `def`; `attributes` runs only when the span records.
    pub(crate) fn event(&self, def: &'static SpanEventDef, attributes: impl FnOnce() -> Vec<KeyValue>) {
        if let Some(cx) = self.recording() {
            cx.span().add_event(def.name, attributes());
        }
    }

    pub(crate) fn link(&self, to: SpanContext, attributes: Vec<KeyValue>) {
        if let Some(cx) = self.recording().filter(|_| to.is_valid()) {
            cx.span().add_link(to, attributes);
        }
    }
}

impl Drop for SpanGuard {
    fn drop(&mut self) {
        if let Inner::Recording(cx) = &self.inner {
            cx.span().end();
        }
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

/// `parent` with `kv` added to its baggage. (`with_baggage` alone replaces the baggage: a
/// round inside a game would lose the game id.)
fn with_added_baggage(parent: &Context, kv: KeyValue) -> Context {
    let mut baggage: Baggage = parent.baggage().iter().map(|(k, (v, m))| (k.clone(), (v.clone(), m.clone()))).collect();
    // Over the W3C limits the entry is left out, as the SDK's own insert decides.
    baggage.insert(kv.key, kv.value);
    parent.with_baggage(baggage)
}

/// `Some(sampled)` when `sampler`'s decision under `parent` is known without a trace id, as
/// the SDK's samplers make it: parent-based ones follow an active parent span's sampled flag
/// (valid or not), else their root sampler; a ratio needs the trace id the SDK draws (`None`).
fn decide(sampler: TraceSampler, parent: &Context) -> Option<bool> {
    match sampler {
        TraceSampler::AlwaysOn => Some(true),
        TraceSampler::AlwaysOff => Some(false),
        TraceSampler::TraceIdRatio(_) => None,
        _ if parent.has_active_span() => Some(parent.span().span_context().is_sampled()),
        TraceSampler::ParentBasedAlwaysOn => Some(true),
        TraceSampler::ParentBasedAlwaysOff => Some(false),
        TraceSampler::ParentBasedTraceIdRatio(_) => None,
    }
}

/// The span context the SDK gives a span its sampler drops: a fresh span id, the parent's
/// trace id when the parent is valid (else a fresh one), its trace state, flags cleared.
fn unsampled_context(parent: &Context) -> SpanContext {
    let ids = RandomIdGenerator::default();
    let span = parent.span();
    let psc = span.span_context();
    let trace_id = if psc.is_valid() { psc.trace_id() } else { ids.new_trace_id() };
    SpanContext::new(trace_id, ids.new_span_id(), TraceFlags::default(), false, psc.trace_state().clone())
}
