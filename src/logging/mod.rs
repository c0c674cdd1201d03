//! Structured logging and tracing: JSON lines with correlation ids on stdout, per-module levels,
//! spans and log records over OTLP, the three logging macros, and redaction of secrets.
//!
//! [`crate::init`] installs all of it. For logging alone:
//!
//! ```no_run
//! use bitcraps_otel::logging::{init_production_logging, set_correlation_context, CorrelationContext};
//!
//! # fn main() -> Result<(), bitcraps_otel::logging::LoggingError> {
//! // RUST_LOG / BITCRAPS_LOG, BITCRAPS_LOG_FORMAT, BITCRAPS_LOG_REDACT, OTEL_EXPORTER_OTLP_*.
//! let logging = init_production_logging()?;
//! set_correlation_context(CorrelationContext::new().with_user_id("user_123".to_string()));
//! tracing::info!(table = 7, "seated");
//! // {"timestamp":"…Z","level":"INFO","target":"app","message":"seated","fields":{"table":7},
//! //  "correlation_id":"…","user_id":"user_123"}
//! drop(logging); // flushes spans and log records
//! # Ok(()) }
//! ```
//!
//! One concept per file:
//! - `context`: [`CorrelationContext`] and how it becomes current (thread, guard, future).
//! - `redact`: which field names are secrets ([`Redactor`]).
//! - `format`: the JSON / human-readable line formatter.
//! - `subscriber`: the filter and layer stack ([`LoggingBuilder`]) and its global installation.
//! - [`pipeline`]: tracer and logger providers over OTLP, with scrubbing processors.
//! - [`propagation`]: W3C `traceparent` in (axum layer) and out (reqwest helper).
//! - [`macros`]: `log_performance!`, `log_business_event!`, `log_security_event!`.

mod context;
mod format;
pub mod macros;
pub mod pipeline;
#[cfg(feature = "http-server")]
pub mod propagation;
mod redact;
mod subscriber;
mod terminal;

pub use context::{
    clear_correlation_context, set_correlation_context, CorrelationContext, CorrelationGuard, Scoped, MAX_ID_LEN,
};
pub use redact::{Redactor, DEFAULT_SECRET_FIELDS, REDACTED};
pub use subscriber::{BoxedLayer, LoggingBuilder, NOT_EXPORTED_TARGETS, TRACER_NAME};
pub use terminal::stdout_wants_colour;

use crate::config::{Config, ConfigError};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Why logging could not start or stop.
///
/// ```
/// use bitcraps_otel::logging::{LoggingBuilder, LoggingError};
/// // A directive the filter cannot parse is an error, never a silently empty filter.
/// let err = LoggingBuilder::new().filter("info,=bogus=").build_layer(std::io::sink).err();
/// assert!(matches!(err, Some(LoggingError::Filter { .. })), "{err:?}");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The configuration is invalid; the inner error names the field.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// A level directive did not parse.
    #[error("invalid log filter `{directives}`: {reason}")]
    Filter {
        /// The directives as given.
        directives: String,
        /// The parser's message.
        reason: String,
    },
    /// The global subscriber slot is taken by an installation this crate is not tracking
    /// (a guard from an earlier call that is still shutting down).
    #[error("logging is already installed: drop or shut down the existing guard first")]
    AlreadyInstalled,
    /// Another global `tracing` subscriber was installed by someone else.
    #[error(
        "another global tracing subscriber is already installed; use it alone, or let bitcraps_otel \
         install logging (or turn that off with BITCRAPS_LOG_INSTALL=false / ConfigBuilder::without_logging)"
    )]
    ForeignSubscriber,
    /// An OTLP exporter could not be built.
    #[error("cannot build the {signal} OTLP exporter for {endpoint}: {reason}")]
    Exporter {
        /// `traces` or `logs`.
        signal: &'static str,
        /// The configured endpoint.
        endpoint: String,
        /// The exporter's message.
        reason: String,
    },
    /// The runtime the gRPC exporters need could not start.
    #[error("cannot start the logging runtime: {0}")]
    Runtime(std::io::Error),
    /// Flushing or shutting down the tracer or logger provider failed.
    #[error("logging shutdown failed: {0}")]
    Shutdown(String),
}

/// Installs logging alone, configured from the environment (see [`Config::from_env`]): JSON
/// lines on stdout, and spans and log records over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is
/// set. Keep the guard: dropping it flushes what is buffered.
///
/// Any order works with [`crate::init`]: called after `init` (or after an earlier call whose
/// guard is alive), it returns a handle on the logging already installed, which does not own
/// it ([`LoggingGuard::is_owner`] is false), and this call's configuration is not applied. Called
/// before `init`, `init` adopts what it installed. A global subscriber installed by other code
/// is [`LoggingError::ForeignSubscriber`].
pub fn init_production_logging() -> Result<LoggingGuard, LoggingError> {
    if let Some(handle) = LoggingGuard::current() {
        return Ok(handle);
    }
    init_logging_with(&Config::from_env()?)
}

/// Like [`init_production_logging`], with an explicit configuration.
pub fn init_logging_with(config: &Config) -> Result<LoggingGuard, LoggingError> {
    install(config, crate::config::resource(config), None)
}

fn exporter_error(e: crate::export::ExportError) -> LoggingError {
    LoggingError::Exporter { signal: e.signal, endpoint: e.endpoint, reason: e.reason }
}

/// The logging installed now, if a guard that owns it is alive.
static CURRENT: Mutex<Weak<Shared>> = Mutex::new(Weak::new());

/// Builds the providers (when OTLP is configured), installs the global subscriber and returns
/// the guard. `handle` is the runtime gRPC channels live on; without one, the current runtime
/// or a small owned one is used. When logging is already installed, returns a handle on it.
pub(crate) fn install(
    config: &Config,
    resource: Resource,
    handle: Option<&tokio::runtime::Handle>,
) -> Result<LoggingGuard, LoggingError> {
    // Held until the new logging is published, so two racing installs cannot both build one.
    let mut current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(shared) = current.upgrade().filter(|s| s.installed.load(Ordering::Acquire)) {
        tracing::debug!("logging is already installed: sharing it (this call's logging settings are not applied)");
        return Ok(LoggingGuard { shared, owner: false });
    }
    let mut builder = LoggingBuilder::from_config(config);
    let resource_for_local = resource.clone();
    let mut shared = Shared {
        builder: builder.clone(),
        tracer_provider: None,
        local_tracer_provider: None,
        traces_sampler: config.traces_sampler(),
        logger_provider: None,
        runtime: Mutex::new(None),
        installed: AtomicBool::new(false),
    };
    if let (Some(otlp), false) = (config.otlp(), config.sdk_disabled()) {
        let handle = match handle.cloned().or_else(|| tokio::runtime::Handle::try_current().ok()) {
            Some(h) => h,
            None => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("bitcraps-logging")
                    .enable_all()
                    .build()
                    .map_err(LoggingError::Runtime)?;
                let h = rt.handle().clone();
                shared.runtime = Mutex::new(Some(rt));
                h
            }
        };
        let _enter = handle.enter();
        let redactor = builder.redactor_ref().clone();
        if let Some(spans) = crate::export::otlp::span_exporter(otlp).map_err(exporter_error)? {
            let tracer = pipeline::tracer_provider(spans, resource.clone(), redactor.clone(), config.traces_sampler());
            shared.tracer_provider = Some(tracer.clone());
            builder = builder.tracer_provider(tracer);
        }
        if let Some(logs) = crate::export::otlp::log_exporter(otlp).map_err(exporter_error)? {
            let logger = pipeline::logger_provider(logs, resource, redactor);
            shared.logger_provider = Some(logger.clone());
            builder = builder.logger_provider(logger);
        }
    }
    if shared.tracer_provider.is_none() {
        // Spans still get ids, sampling decisions and propagation without an exporter.
        let local = pipeline::local_tracer_provider(resource_for_local, config.traces_sampler());
        shared.local_tracer_provider = Some(local.clone());
        builder = builder.tracer_provider(local);
    }
    subscriber::install_global(builder.build_layer(std::io::stdout)?)?;
    shared.installed.store(true, Ordering::Release);
    // Third-party crates that trace through the OpenTelemetry globals join the same traces.
    opentelemetry::global::set_tracer_provider(shared.traces_provider());
    crate::trace::propagators::install(config.propagators());
    let shared = Arc::new(shared);
    *current = Arc::downgrade(&shared);
    Ok(LoggingGuard { shared, owner: true })
}

/// What every handle on one installed logging shares.
struct Shared {
    builder: LoggingBuilder,
    tracer_provider: Option<SdkTracerProvider>,
    /// The provider spans are recorded with when none is exported.
    local_tracer_provider: Option<SdkTracerProvider>,
    /// The sampler both tracer providers above were built with.
    traces_sampler: crate::config::TraceSampler,
    logger_provider: Option<SdkLoggerProvider>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    /// Still the process-wide logging (the owner has not shut it down).
    installed: AtomicBool,
}

impl Shared {
    fn traces_provider(&self) -> SdkTracerProvider {
        self.tracer_provider
            .as_ref()
            .or(self.local_tracer_provider.as_ref())
            .cloned()
            .unwrap_or_else(|| SdkTracerProvider::builder().build())
    }
}

/// Keeps logging installed. The guard that installed it owns it: dropping that one (or
/// [`LoggingGuard::shutdown`]) stops export, flushes the tracer and logger providers, and
/// leaves plain line logging in place. A handle returned while logging was already installed
/// shares it without owning it: dropping it changes nothing, `shutdown` only flushes.
pub struct LoggingGuard {
    shared: Arc<Shared>,
    owner: bool,
}

impl std::fmt::Debug for LoggingGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggingGuard")
            .field("owner", &self.owner)
            .field("exports_spans", &self.shared.tracer_provider.is_some())
            .field("exports_logs", &self.shared.logger_provider.is_some())
            .finish_non_exhaustive()
    }
}

impl LoggingGuard {
    /// A non-owning handle on the logging installed now, if any.
    pub(crate) fn current() -> Option<LoggingGuard> {
        let current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
        let shared = current.upgrade().filter(|s| s.installed.load(Ordering::Acquire))?;
        Some(LoggingGuard { shared, owner: false })
    }

    /// Whether this guard installed the logging (and stops it when dropped).
    pub fn is_owner(&self) -> bool {
        self.owner
    }

    /// Whether `self` and `other` are handles on the same installed logging.
    pub fn shares_with(&self, other: &LoggingGuard) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// The tracer provider spans are exported through, when OTLP is configured.
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.shared.tracer_provider.as_ref()
    }

    /// The provider every span is recorded with: the exporting one when OTLP is configured,
    /// else one with the configured sampler and no exporter.
    pub fn traces_provider(&self) -> SdkTracerProvider {
        self.shared.traces_provider()
    }

    /// Typed spans through [`LoggingGuard::traces_provider`], knowing the sampler it was built
    /// with (so spans it drops skip the SDK).
    pub fn traces(&self) -> crate::trace::Traces {
        let shared = &self.shared;
        match shared.tracer_provider.is_some() || shared.local_tracer_provider.is_some() {
            true => crate::trace::Traces::with_sampler(&shared.traces_provider(), shared.traces_sampler),
            false => crate::trace::Traces::new(&shared.traces_provider()),
        }
    }

    /// The logger provider log records are exported through, when OTLP is configured.
    pub fn logger_provider(&self) -> Option<&SdkLoggerProvider> {
        self.shared.logger_provider.as_ref()
    }

    /// Flushes spans and log records without stopping (nothing to do once the owner stopped).
    pub fn flush(&self) -> Result<(), LoggingError> {
        if !self.shared.installed.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut errors = Vec::new();
        if let Some(Err(e)) = self.shared.tracer_provider.as_ref().map(SdkTracerProvider::force_flush) {
            errors.push(format!("traces: {e}"));
        }
        if let Some(Err(e)) = self.shared.logger_provider.as_ref().map(SdkLoggerProvider::force_flush) {
            errors.push(format!("logs: {e}"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(LoggingError::Shutdown(errors.join("; ")))
        }
    }

    /// The owner stops export, flushes and shuts down both providers, and reports what failed;
    /// a shared handle only flushes.
    pub fn shutdown(mut self) -> Result<(), LoggingError> {
        self.shutdown_inner()
    }

    /// The owner takes its logging off the global subscriber (plain lines stay) without
    /// flushing: the quick half of its shutdown, so the slow half can run elsewhere, bounded.
    pub(crate) fn detach_global(&mut self) {
        if self.owner && self.shared.installed.swap(false, Ordering::AcqRel) {
            // Keep writing lines (the exit path logs too), without the providers.
            let fallback = self.shared.builder.clone().without_export().build_layer(std::io::stdout).ok();
            subscriber::deactivate_global(fallback);
        }
    }

    fn shutdown_inner(&mut self) -> Result<(), LoggingError> {
        if !self.owner {
            return self.flush();
        }
        self.detach_global();
        self.owner = false;
        let shared = &self.shared;
        let mut errors = Vec::new();
        if let Some(p) = &shared.tracer_provider {
            // Flush first so the final batch goes out even if shutdown times out.
            if let Err(e) = p.force_flush().and(p.shutdown()) {
                errors.push(format!("traces: {e}"));
            }
        }
        if let Some(p) = &shared.logger_provider {
            if let Err(e) = p.force_flush().and(p.shutdown()) {
                errors.push(format!("logs: {e}"));
            }
        }
        if let Some(rt) = shared.runtime.lock().unwrap_or_else(|e| e.into_inner()).take() {
            rt.shutdown_background();
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(LoggingError::Shutdown(errors.join("; ")))
        }
    }
}

impl Drop for LoggingGuard {
    fn drop(&mut self) {
        if !self.owner {
            return;
        }
        if let Err(e) = self.shutdown_inner() {
            eprintln!("bitcraps_otel: {e}");
        }
    }
}
