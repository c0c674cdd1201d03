//! The crate's error type.

use std::net::SocketAddr;

pub use crate::config::ConfigError;

/// Everything [`crate::init`] and the guard's shutdown can fail with.
///
/// ```
/// use bitcraps_otel::{init_with, Config, Error};
///
/// // A port another program holds: the error says which server and which address.
/// let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let config = Config::builder().prometheus_addr(taken.local_addr()?.to_string()).without_health().build()?;
/// match init_with(config) {
///     Err(Error::Bind { what, addr, .. }) => assert_eq!((what, addr), ("prometheus", taken.local_addr()?)),
///     other => panic!("expected a bind error, got {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid; the inner error names the field.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// `init` was called while a guard from an earlier `init` is still alive.
    #[error("bitcraps_otel is already initialized: drop or shut down the existing guard before calling init again")]
    AlreadyInitialized,
    /// A server could not listen on its address.
    #[error("cannot serve {what} on {addr}: {source}")]
    Bind {
        /// Which server (`prometheus`, `health`).
        what: &'static str,
        /// The configured address.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// An exporter could not be built from the configuration.
    #[error("cannot build the {signal} OTLP exporter for {endpoint}: {reason}")]
    Exporter {
        /// `metrics`, `traces` or `logs`.
        signal: &'static str,
        /// The configured endpoint.
        endpoint: String,
        /// The exporter's message.
        reason: String,
    },
    /// The background runtime could not start.
    #[error("cannot start the telemetry runtime: {0}")]
    Runtime(std::io::Error),
    /// Logging could not be installed (see [`crate::logging::LoggingError`]).
    #[error("cannot install logging: {0}")]
    Logging(#[from] crate::logging::LoggingError),
    /// Flushing or shutting down a provider failed; telemetry may have been lost.
    #[error("telemetry shutdown failed: {0}")]
    Shutdown(String),
}

impl From<crate::export::ExportError> for Error {
    fn from(e: crate::export::ExportError) -> Error {
        Error::Exporter { signal: e.signal, endpoint: e.endpoint, reason: e.reason }
    }
}
