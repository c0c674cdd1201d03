//! HTTP server instrumentation for axum (and any tower) services: the way BitCraps services
//! instrument their HTTP APIs.
//!
//! [`ServerLayer`] records OpenTelemetry's `http.server.request.duration` and
//! `http.server.active_requests` for every request, labelled with the *route template*
//! (`/games/{id}`, from axum's [`axum::extract::MatchedPath`]) and never the raw path, and
//! runs the handler inside a SERVER span named `{method} {route}` that continues the caller's
//! trace (through the global text-map propagator). Durations recorded inside a sampled span
//! keep an exemplar, so a slow request on a dashboard links to its trace.
//!
//! Cost: the span is named `{method} {route}` from a process-wide table built once per route
//! template (no formatting per request), so samplers see the full name. Its attributes go to
//! the span builder while the layer's spans are being recorded, and are otherwise added only
//! if the span records, so requests no sampler keeps (or with no tracer provider at all)
//! allocate nothing for them. The W3C headers are read through prebuilt header names.
//! The global tracer provider and propagator are read per request, so one installed after the
//! router was built (`init()` installs both) applies to requests from then on.
//!
//! ```
//! use axum::{extract::Path, routing::get, Router};
//! use bitcraps_otel::http::ServerLayer;
//! use bitcraps_otel::metrics::Metrics;
//! use opentelemetry_sdk::metrics::SdkMeterProvider;
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // In a service: `let metrics = bitcraps_otel::init()?.metrics().clone();`
//! let metrics = Metrics::new(&SdkMeterProvider::builder().build(), Default::default());
//! let app: Router = Router::new()
//!     .route("/games/{id}", get(|Path(id): Path<u64>| async move { format!("game {id}") }))
//!     // `layer`, not `route_layer`: requests no route matched are counted too (without a route).
//!     .layer(ServerLayer::new(&metrics));
//!
//! let request = axum::http::Request::get("/games/42").body(axum::body::Body::empty()).unwrap();
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//!
//! // Recorded under the template, never under `/games/42`.
//! let mut families = Vec::new();
//! metrics.histogram_source().collect(&mut families);
//! let duration = families.iter().find(|f| f.def.name == "http.server.request.duration").unwrap();
//! let route = duration.points[0].attributes.iter().find(|kv| kv.key.as_str() == "http.route").unwrap();
//! assert_eq!(route.value.as_str(), "/games/{id}");
//! # });
//! ```

mod layer;
mod names;
mod service;

pub use layer::{ServerLayer, DEFAULT_EXCLUDED_PATHS};
pub use service::{ResponseFuture, ServerService};
