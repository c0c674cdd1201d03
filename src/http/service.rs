//! [`ServerService`] and its [`ResponseFuture`]: one request's span and measurements, from
//! `call` until the response head is ready, or until the request is dropped unanswered.

use super::names;
use crate::metrics::{Metrics, RequestOutcome};
use crate::semconv::{attribute, AttributeEnum, HttpRequestMethod};
use axum::extract::MatchedPath;
use axum::http::header::HeaderName;
use axum::http::{HeaderMap, Request, Response};
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{global, Context, InstrumentationScope, KeyValue, Value};
use pin_project_lite::pin_project;
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Poll};
use std::time::Instant;
use tower_service::Service;

/// What a layer and the services it makes share: the instruments, the excluded paths,
/// the tracing scope.
pub(super) struct Shared {
    pub(super) metrics: Metrics,
    pub(super) excluded: Vec<Box<str>>,
    pub(super) scope: InstrumentationScope,
    /// Whether the last span this layer started was recording: the next one then gets its
    /// attributes from the builder, else only if it records (see `ServerService::call`).
    pub(super) spans_recorded: AtomicBool,
}

impl Shared {
    #[inline]
    pub(super) fn is_excluded(&self, path: &str) -> bool {
        self.excluded.iter().any(|p| **p == *path)
    }
}

/// The service [`super::ServerLayer`] wraps around each route (or around the whole service).
#[derive(Clone)]
pub struct ServerService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> ServerService<S> {
    pub(super) fn new(inner: S, shared: Arc<Shared>) -> Self {
        ServerService { inner, shared }
    }
}

impl<S> std::fmt::Debug for ServerService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerService").finish_non_exhaustive()
    }
}

/// The span's name and `http.route` value: cached per template (see [`super::names`]), formatted
/// only past the cache's cap; the method alone when no route matched.
fn span_name(method: HttpRequestMethod, route: Option<&MatchedPath>) -> (Cow<'static, str>, Option<Value>) {
    let Some(route) = route else {
        return (Cow::Borrowed(names::span_method(method)), None);
    };
    match names::lookup(route.as_str()) {
        Some(known) => (Cow::Borrowed(known.name(method)), Some(Value::from(known.route))),
        None => (
            Cow::Owned(format!("{} {}", names::span_method(method), route.as_str())),
            Some(Value::from(route.as_str().to_owned())),
        ),
    }
}

/// The request's attributes on a recording span.
fn span_attributes<B>(request: &Request<B>, method: HttpRequestMethod, route: Option<Value>) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(6);
    attributes.push(KeyValue::new(attribute::HTTP_REQUEST_METHOD.id, method.as_str()));
    if method == HttpRequestMethod::Other {
        attributes.push(KeyValue::new("http.request.method_original", request.method().as_str().to_owned()));
    }
    if let Some(route) = route {
        attributes.push(KeyValue::new(attribute::HTTP_ROUTE.id, route));
    }
    // The raw path is fine on a span (one per request anyway), never on a metric.
    attributes.push(KeyValue::new("url.path", request.uri().path().to_owned()));
    attributes
}

/// The request headers as the propagator reads them. The W3C and baggage header names are
/// looked up as prebuilt [`HeaderName`]s: a look-up by `&str` parses and validates the name
/// each time, which cost more than the map look-up itself.
struct Headers<'a>(&'a HeaderMap);

static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
static BAGGAGE: HeaderName = HeaderName::from_static("baggage");

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let value = match key {
            "traceparent" => self.0.get(&TRACEPARENT),
            "tracestate" => self.0.get(&TRACESTATE),
            "baggage" => self.0.get(&BAGGAGE),
            other => self.0.get(other),
        };
        value.and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self.0.get_all(key).iter().filter_map(|v| v.to_str().ok()).collect();
        (!values.is_empty()).then_some(values)
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ServerService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if self.shared.is_excluded(request.uri().path()) {
            return ResponseFuture { inner: self.inner.call(request), in_flight: None };
        }
        let start = Instant::now();
        let method = HttpRequestMethod::from_value(request.method().as_str());
        let route = request.extensions().get::<MatchedPath>().cloned();
        // The global propagator and tracer are looked up per request on purpose: `init` (or the
        // application) may install them after the router was built, and they must apply.
        let parent = global::get_text_map_propagator(|p| p.extract(&Headers(request.headers())));
        let tracer = global::tracer_provider().tracer_with_scope(self.shared.scope.clone());
        // The full `{method} {route}` name goes to the builder (no allocation: see `names`), so
        // samplers see it. The attributes do too while this layer's spans are being recorded
        // (the previous one was); otherwise the span starts without them and gets them only if
        // it records, so a span no sampler keeps (or the no-op span with no tracer provider)
        // allocates nothing for them.
        let (name, route_value) = span_name(method, route.as_ref());
        let eager = self.shared.spans_recorded.load(Ordering::Relaxed);
        let mut builder = tracer.span_builder(name).with_kind(SpanKind::Server);
        let mut route_value = Some(route_value);
        if eager {
            builder = builder.with_attributes(span_attributes(&request, method, route_value.take().flatten()));
        }
        let mut span = builder.start_with_context(&tracer, &parent);
        let recording = span.is_recording();
        if recording != eager {
            self.shared.spans_recorded.store(recording, Ordering::Relaxed);
        }
        let own_span = if recording {
            if let Some(route_value) = route_value {
                span.set_attributes(span_attributes(&request, method, route_value));
            }
            true
        } else {
            // A dropped or no-op span: only its context matters (a sampler's "not sampled"
            // decision must still reach the handler's outgoing calls). The no-op tracer's span
            // just repeats the parent's context, so the parent serves as is, without a new
            // context to allocate.
            span.span_context() != parent.span().span_context()
        };
        let cx = if own_span { parent.with_span(span) } else { parent };
        self.shared.metrics.http_server().request_started(method);
        let inner = {
            let _attached = cx.clone().attach();
            self.inner.call(request)
        };
        ResponseFuture {
            inner,
            in_flight: Some(InFlight { cx, own_span, method, route, start, shared: Arc::clone(&self.shared) }),
        }
    }
}

/// A request being served: what its end records.
struct InFlight {
    cx: Context,
    /// Whether `cx`'s span is this request's (else it is the caller's, never to be ended here).
    own_span: bool,
    method: HttpRequestMethod,
    route: Option<MatchedPath>,
    start: Instant,
    shared: Arc<Shared>,
}

impl InFlight {
    /// Records the request and ends its span; call with `cx` attached, so the duration's
    /// exemplar points at the server span.
    fn finish(self, outcome: RequestOutcome) {
        let took = self.start.elapsed();
        let span = self.cx.span();
        let recording = self.own_span && span.is_recording();
        if recording {
            let error = match outcome {
                RequestOutcome::Status(code) => {
                    span.set_attribute(KeyValue::new(attribute::HTTP_RESPONSE_STATUS_CODE.id, i64::from(code)));
                    (code >= 500).then(|| code.to_string())
                }
                RequestOutcome::Failed(name) => Some(name.to_owned()),
                RequestOutcome::Cancelled => Some(crate::metrics::CANCELLED.to_owned()),
            };
            if let Some(error) = error {
                span.set_attribute(KeyValue::new(attribute::ERROR_TYPE.id, error));
                span.set_status(Status::error(""));
            }
        }
        let route = self.route.as_ref().map(MatchedPath::as_str);
        self.shared.metrics.http_server().request_ended(self.method, route, outcome, took);
        if self.own_span {
            span.end();
        }
    }
}

pin_project! {
    /// The future of a [`ServerService`] call: the inner response, measured.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        in_flight: Option<InFlight>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before the response: the client left or a timeout cancelled the handler.
            // Still counted, so `active_requests` comes back down and the time is not lost.
            if let Some(in_flight) = this.project().in_flight.take() {
                let _attached = in_flight.cx.clone().attach();
                in_flight.finish(RequestOutcome::Cancelled);
            }
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _attached = this.in_flight.as_ref().map(|f| f.cx.clone().attach());
        let result = ready!(this.inner.poll(cx));
        if let Some(in_flight) = this.in_flight.take() {
            let outcome = match &result {
                Ok(response) => RequestOutcome::Status(response.status().as_u16()),
                Err(_) => RequestOutcome::Failed(std::any::type_name::<E>()),
            };
            in_flight.finish(outcome);
        }
        Poll::Ready(result)
    }
}
