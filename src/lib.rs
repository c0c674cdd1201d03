//! # bitcraps-otel
//!
//! The OpenTelemetry-first instrumentation SDK of BitCraps nodes: one call starts typed
//! metrics from the BitCraps semantic conventions, a Prometheus bridge on `:9090/metrics`,
//! and OTLP export to a collector when one is configured.
//!
//! ```no_run
//! use std::time::Duration;
//! use bitcraps_otel::semconv::{ErrorCategory, ErrorSeverity, GameType};
//!
//! # fn main() -> Result<(), bitcraps_otel::Error> {
//! // Reads OTEL_* and BITCRAPS_* variables; serves 0.0.0.0:9090/metrics.
//! let telemetry = bitcraps_otel::init()?;
//! let metrics = telemetry.metrics();
//! metrics.gaming().game_started(GameType::Cash);
//! metrics.consensus().record_latency(Duration::from_millis(40));
//! metrics.errors().record(ErrorCategory::Consensus, ErrorSeverity::Warning);
//! // Dropping `telemetry` stops the server and flushes the exporters.
//! # Ok(()) }
//! ```
//!
//! [`init`] reads the environment, [`init_with`] takes a [`Config`], and [`TelemetryBuilder`]
//! adds what configuration cannot carry (a device probe, the alert reader). The guard they
//! return, [`Telemetry`], owns every provider and server.
//!
//! The pieces, one module each:
//! - [`semconv`]: every metric, span and attribute name, generated from `semconv/registry`.
//! - [`metrics`]: the typed instruments and device probes.
//! - [`export`]: the Prometheus bridge and OTLP exporters.
//! - [`config`]: [`Config`] and the environment variables it reads.
//! - [`logging`]: JSON logs with correlation ids, spans and logs over OTLP, redaction, and the
//!   [`log_performance!`], [`log_business_event!`] and [`log_security_event!`] macros.
//! - [`trace`]: typed BitCraps spans ([`trace::Traces`]), the peer-message [`trace::Carrier`],
//!   and the HTTP propagators.
//! - [`http`]: the tower layer BitCraps services put on their axum routers: OTel's HTTP server
//!   metrics by route template, and a server span per request continuing the caller's trace.
//! - [`health`]: `/health` (liveness) and `/ready` (readiness) with your own dependency checks.
//! - [`alerting`]: the in-process alert engine (rules, routing, escalation, silences), its
//!   notification channels (PagerDuty, Slack, Teams, e-mail, SMS, webhooks), and the same rules
//!   exported for Prometheus and Alertmanager.
//! - [`server`]: the HTTP servers behind the bridge and the health endpoints, with timeouts
//!   and a connection cap ([`config::ServerLimits`]).
//! - [`mesh`]: the peer mesh over TCP (framing, envelopes, reconnection, consensus rounds).
//! - [`sim`]: the simulated node `bitcraps-node` runs (games, bets, consensus, peers).
#![deny(missing_docs)]

#[cfg(feature = "alerting")]
pub mod alerting;
pub mod config;
mod error;
pub mod export;
#[cfg(feature = "health")]
pub mod health;
#[cfg(feature = "http-server")]
pub mod http;
pub mod logging;
#[cfg(feature = "mesh")]
pub mod mesh;
pub mod metrics;
pub mod semconv;
// The servers are public for the node (its binaries, tests and benches serve with them);
// without the `node` feature they are the SDK's own business.
#[cfg(all(feature = "http-server", feature = "node"))]
pub mod server;
#[cfg(all(feature = "http-server", not(feature = "node")))]
mod server;
#[cfg(feature = "node")]
pub mod sim;
mod telemetry;
pub mod trace;

// The entry points at the root, as re-exports (rustdoc links them to their one home in
// `config`), so `bitcraps_otel::Config` and `bitcraps_otel::config::Config` are one type.
#[doc(no_inline)]
pub use config::{Config, ConfigBuilder, ConfigError};
pub use error::Error;
pub use telemetry::{init, init_with, Telemetry, TelemetryBuilder, SHUTDOWN_DEADLINE};
