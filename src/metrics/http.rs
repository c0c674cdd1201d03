//! OpenTelemetry's HTTP server instruments: `http.server.request.duration` (by method, route
//! template, status code and error type) and `http.server.active_requests` (by method).
//!
//! Recorded by [`crate::http::ServerLayer`]; a server built on something other than tower
//! can call [`HttpServerMetrics::request_started`] and [`HttpServerMetrics::request_ended`]
//! itself.

use super::histogram::{KeyedHistogram, SeriesKey};
use super::{HistogramRegistry, UpDownSeries};
use crate::semconv::{attribute, metric, AttributeEnum, HttpRequestMethod};
use opentelemetry::metrics::Meter;
use opentelemetry::KeyValue;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

/// How many `http.server.request.duration` series a node keeps, the overflow series included.
/// Route templates × methods × status codes of one service stay far below it; past it, new
/// combinations share the `otel_metric_overflow="true"` series instead of growing memory.
pub const HTTP_SERIES_LIMIT: usize = 256;

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A response with this status code was produced; 5xx codes are errors (`error.type` is
    /// the code), anything else is not (a 404 is the client's problem, not the server's).
    Status(u16),
    /// The service failed without a response; the value is the error's type, e.g. from
    /// `std::any::type_name` (it must come from code, never from input).
    Failed(&'static str),
    /// The request was dropped before a response was produced (the client went away, or a
    /// server timeout cancelled the handler).
    Cancelled,
}

/// `error.type` of a request dropped before its response.
pub const CANCELLED: &str = "cancelled";

impl RequestOutcome {
    /// The series tag bits of the outcome: kind in bits 24..26, status in 8..24, the error
    /// type's hash in 32..64 (the method takes bits 0..8).
    fn tag(self) -> u64 {
        match self {
            RequestOutcome::Status(code) => u64::from(code) << 8,
            RequestOutcome::Cancelled => 1 << 24,
            RequestOutcome::Failed(name) => {
                let mut h = DefaultHasher::new();
                name.hash(&mut h);
                (2 << 24) | (h.finish() << 32)
            }
        }
    }

    fn attributes(self, out: &mut Vec<KeyValue>) {
        match self {
            RequestOutcome::Status(code) => {
                out.push(KeyValue::new(attribute::HTTP_RESPONSE_STATUS_CODE.id, i64::from(code)));
                if code >= 500 {
                    out.push(KeyValue::new(attribute::ERROR_TYPE.id, code.to_string()));
                }
            }
            RequestOutcome::Failed(name) => out.push(KeyValue::new(attribute::ERROR_TYPE.id, name)),
            RequestOutcome::Cancelled => out.push(KeyValue::new(attribute::ERROR_TYPE.id, CANCELLED)),
        }
    }
}

/// The HTTP server instruments of one [`super::Metrics`]; get them from
/// [`super::Metrics::http_server`].
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::metrics::{Metrics, RequestOutcome};
/// use bitcraps_otel::semconv::HttpRequestMethod;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// let metrics = Metrics::new(&SdkMeterProvider::builder().build(), Default::default());
/// let http = metrics.http_server();
/// http.request_started(HttpRequestMethod::Get);
/// // ... serve it ...
/// http.request_ended(HttpRequestMethod::Get, Some("/games/{id}"), RequestOutcome::Status(200), Duration::from_millis(3));
/// ```
pub struct HttpServerMetrics {
    duration: KeyedHistogram,
    active: UpDownSeries<HttpRequestMethod>,
}

impl HttpServerMetrics {
    pub(crate) fn new(meter: &Meter, histograms: &mut HistogramRegistry) -> Self {
        HttpServerMetrics {
            duration: KeyedHistogram::new(histograms, &metric::HTTP_SERVER_REQUEST_DURATION, HTTP_SERIES_LIMIT),
            active: UpDownSeries::by(meter, &metric::HTTP_SERVER_ACTIVE_REQUESTS),
        }
    }

    /// A request started: it counts in `http.server.active_requests` until
    /// [`HttpServerMetrics::request_ended`] is called for it (exactly once).
    #[inline]
    pub fn request_started(&self, method: HttpRequestMethod) {
        self.active.add(method, 1);
    }

    /// A request started with [`HttpServerMetrics::request_started`] ended after `took`.
    /// `route` is the matched route *template* (`/games/{id}`), `None` when no route matched;
    /// never pass a raw path, which would make a series per URL (until the series limit).
    pub fn request_ended(
        &self,
        method: HttpRequestMethod,
        route: Option<&str>,
        outcome: RequestOutcome,
        took: Duration,
    ) {
        self.active.add(method, -1);
        // An empty template cannot be a route, so it can stand for "none" in the key.
        let key = SeriesKey { text: route.unwrap_or(""), tag: method.index() as u64 | outcome.tag() };
        let series = self.duration.series(key, || {
            let mut set = Vec::with_capacity(4);
            set.push(KeyValue::new(attribute::HTTP_REQUEST_METHOD.id, method.as_str()));
            if let Some(route) = route {
                set.push(KeyValue::new(attribute::HTTP_ROUTE.id, route.to_owned()));
            }
            outcome.attributes(&mut set);
            set
        });
        self.duration.record(series, took.as_secs_f64());
    }
}

impl std::fmt::Debug for HttpServerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServerMetrics").finish_non_exhaustive()
    }
}
