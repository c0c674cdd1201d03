//! Trace context across HTTP (W3C `traceparent`/`tracestate` and `baggage` by default; the
//! formats `OTEL_PROPAGATORS` selects): an axum
//! middleware continuing incoming traces in a server span, and helpers injecting the current
//! span's context into outgoing `reqwest` requests.
//!
//! ```
//! use axum::{routing::get, Router};
//! use bitcraps_otel::logging::propagation;
//!
//! let app: Router = Router::new()
//!     .route("/games", get(|| async { "[]" }))
//!     .layer(axum::middleware::from_fn(propagation::trace_context));
//! ```

use super::context::CorrelationContext;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::{Extractor, Injector};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Header carrying a caller's correlation id; continued when present, else one is generated.
pub const CORRELATION_ID_HEADER: &str = "x-correlation-id";
/// Header carrying a request id, put in the correlation context when present.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(key.as_bytes()), HeaderValue::from_str(&value)) {
            self.0.insert(name, value);
        }
    }
}

/// The remote context in `headers`, read with the propagators `OTEL_PROPAGATORS` selects
/// ([`crate::trace::propagators::http`]); an empty context when there is none or it is
/// malformed.
pub fn extract(headers: &HeaderMap) -> opentelemetry::Context {
    crate::trace::propagators::http().extract(&Headers(headers))
}

/// Writes the current context (the innermost current span, typed or `tracing`, and the
/// baggage) into `headers` with the propagators `OTEL_PROPAGATORS` selects (`traceparent` and
/// `baggage` by default).
pub fn inject_current(headers: &mut HeaderMap) {
    let propagator = crate::trace::propagators::http();
    opentelemetry::Context::map_current(|cx| propagator.inject_context(cx, &mut HeadersMut(headers)));
}

/// Adds the current span's `traceparent` to an outgoing request.
///
/// ```no_run
/// # async fn f() -> Result<(), reqwest::Error> {
/// use bitcraps_otel::logging::propagation::with_trace_context;
///
/// let client = reqwest::Client::new();
/// let response = with_trace_context(client.get("http://peer:8080/state")).send().await?;
/// # Ok(()) }
/// ```
pub fn with_trace_context(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let mut headers = HeaderMap::new();
    inject_current(&mut headers);
    request.headers(headers)
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned).filter(|v| !v.is_empty())
}

/// Axum middleware (use with `axum::middleware::from_fn`): continues the caller's trace from
/// `traceparent` in a server span named after the method, runs the handler in it with a
/// correlation context (continuing `x-correlation-id` and `x-request-id` when sent), and
/// records the response status.
pub async fn trace_context(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let parent = extract(headers);
    let mut correlation = match header(headers, CORRELATION_ID_HEADER) {
        Some(id) => CorrelationContext::with_correlation_id(id),
        None => CorrelationContext::new(),
    };
    if let Some(id) = header(headers, REQUEST_ID_HEADER) {
        correlation = correlation.with_request_id(id);
    }
    let method = request.method().clone();
    let span = tracing::info_span!(
        "http.server.request",
        otel.name = %method,
        otel.kind = "server",
        http.request.method = %method,
        url.path = %request.uri().path(),
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    // Only fails when no OpenTelemetry layer is installed; the request is served anyway.
    let _ = span.set_parent(parent);
    let response = correlation.scope(next.run(request).instrument(span.clone())).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    response
}
