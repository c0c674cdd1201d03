//! Configuration of the SDK: [`Config`], its [`ConfigBuilder`], reading the standard `OTEL_*`
//! and the `BITCRAPS_*` environment variables, and [`ConfigError`], which names the field at
//! fault.
//!
//! ```
//! use std::time::Duration;
//! use bitcraps_otel::Config;
//!
//! let config = Config::builder()
//!     .service_name("table-7")
//!     .node_id("node-eu-1")
//!     .constant_label("region", "eu-west")
//!     .prometheus_addr("127.0.0.1:0")
//!     .collection_interval(Duration::from_secs(5))
//!     .build()?;
//! assert_eq!(config.constant_labels()["node_id"], "node-eu-1");
//!
//! // Bad input names the field it came from.
//! let err = Config::builder().constant_label("1region", "x").build().unwrap_err();
//! assert!(err.to_string().contains("constant_labels"));
//! # Ok::<(), bitcraps_otel::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Default address of the Prometheus bridge, as the monitoring reference specifies.
pub const DEFAULT_PROMETHEUS_ADDR: &str = "0.0.0.0:9090";
/// Default collection interval: system and device sampling, and the OTLP push period.
pub const DEFAULT_COLLECTION_INTERVAL: Duration = Duration::from_secs(15);
/// Default cap on distinct attribute sets per instrument; extra sets go to an overflow series.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 2000;
/// Default address of the health endpoints (`/health`, `/ready`), as the reference specifies.
pub const DEFAULT_HEALTH_ADDR: &str = "0.0.0.0:8080";

/// The OpenTelemetry crates whose own log lines are held to a level unless the log filter names
/// them: export failures are reported by the export status (one line, with the cause and what
/// to check), so the SDK's repeats of them and its start-up chatter stay out of the way.
pub const QUIETED_TARGETS: &[(&str, &str)] =
    &[("opentelemetry", "warn"), ("opentelemetry_sdk", "warn"), ("opentelemetry-otlp", "error")];

/// Settings of the health endpoints and of graceful shutdown.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::Config;
/// let config = Config::builder()
///     .health_addr("127.0.0.1:0")
///     .health_cache_ttl(Duration::ZERO) // run the checks on every probe
///     .drain_period(Duration::from_secs(20))
///     .build()?;
/// let health = config.health();
/// assert_eq!((health.cache_ttl, health.drain_period), (Duration::ZERO, Duration::from_secs(20)));
/// assert_eq!(health.check_timeout, Duration::from_secs(2));
/// # Ok::<(), bitcraps_otel::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// Where `/health` and `/ready` are served; `None` disables them.
    pub addr: Option<SocketAddr>,
    /// How long a check result is reused, so a probe storm never hammers a dependency.
    pub cache_ttl: Duration,
    /// Default time limit of one check (a check may set its own).
    pub check_timeout: Duration,
    /// How long the node stays up, not ready, after a shutdown signal before it exits.
    pub drain_period: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            // No health endpoints in a build without them (cargo feature `health`).
            addr: cfg!(feature = "health").then(|| SocketAddr::from(([0, 0, 0, 0], 8080))),
            cache_ttl: Duration::from_secs(2),
            check_timeout: Duration::from_secs(2),
            drain_period: Duration::from_secs(5),
        }
    }
}

/// Validated SDK configuration. Build one with [`Config::builder`] or [`Config::from_env`].
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) service_name: String,
    pub(crate) service_version: String,
    pub(crate) resource_attributes: Vec<(String, String)>,
    /// Whether the node id was set (not derived from the resource or the host name).
    pub(crate) node_id_explicit: bool,
    pub(crate) constant_labels: BTreeMap<String, String>,
    pub(crate) prometheus_addr: Option<SocketAddr>,
    pub(crate) collection_interval: Duration,
    pub(crate) otlp: Option<OtlpConfig>,
    pub(crate) cardinality_limit: usize,
    pub(crate) sdk_disabled: bool,
    pub(crate) health: HealthConfig,
    pub(crate) log_filter: String,
    pub(crate) log_format: LogFormat,
    pub(crate) redacted_fields: Vec<String>,
    pub(crate) install_logging: bool,
    pub(crate) server_limits: ServerLimits,
    pub(crate) exemplar_filter: ExemplarFilter,
    pub(crate) traces_sampler: TraceSampler,
    pub(crate) propagators: Vec<Propagator>,
}

impl Config {
    /// A builder seeded with defaults (no environment).
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Reads the environment: the OpenTelemetry variables (`OTEL_SDK_DISABLED`,
    /// `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_{TRACES,METRICS,LOGS}_EXPORTER`,
    /// `OTEL_EXPORTER_OTLP_*` and their `_{TRACES,METRICS,LOGS}_` forms for endpoint, protocol,
    /// headers, timeout, compression, certificate, client certificate and client key,
    /// `OTEL_METRIC_EXPORT_INTERVAL`/`_TIMEOUT`, `OTEL_METRICS_EXEMPLAR_FILTER`, `OTEL_TRACES_SAMPLER`/`_ARG`, `OTEL_PROPAGATORS`,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`, `OTEL_EXPORTER_PROMETHEUS_HOST`/`_PORT`)
    /// and the BitCraps ones (`BITCRAPS_PROMETHEUS_ADDR`, `BITCRAPS_NODE_ID`, `BITCRAPS_REGION`,
    /// `BITCRAPS_CONSTANT_LABELS`, `BITCRAPS_COLLECTION_INTERVAL`, `BITCRAPS_CARDINALITY_LIMIT`,
    /// `BITCRAPS_HEALTH_*`, `BITCRAPS_HTTP_*`, `BITCRAPS_DRAIN_PERIOD`, `BITCRAPS_LOG` (else `RUST_LOG`),
    /// `BITCRAPS_LOG_FORMAT`, `BITCRAPS_LOG_REDACT`, `BITCRAPS_LOG_INSTALL`). README.md's
    /// configuration table gives each one's syntax and default.
    pub fn from_env() -> Result<Config, ConfigError> {
        ConfigBuilder::from_env().build()
    }

    /// `service.name` of the resource.
    pub fn service_name(&self) -> &str {
        &self.service_name
    }
    /// Labels added to every Prometheus series (and to the resource).
    pub fn constant_labels(&self) -> &BTreeMap<String, String> {
        &self.constant_labels
    }
    /// Address of the Prometheus bridge, `None` when disabled.
    pub fn prometheus_addr(&self) -> Option<SocketAddr> {
        self.prometheus_addr
    }
    /// How often system and device readings are refreshed.
    pub fn collection_interval(&self) -> Duration {
        self.collection_interval
    }
    /// OTLP export settings, `None` when no endpoint is configured.
    pub fn otlp(&self) -> Option<&OtlpConfig> {
        self.otlp.as_ref()
    }
    /// Health endpoint and shutdown settings.
    pub fn health(&self) -> &HealthConfig {
        &self.health
    }
    /// Whether `OTEL_SDK_DISABLED` turned the SDK off (instruments become no-ops).
    pub fn sdk_disabled(&self) -> bool {
        self.sdk_disabled
    }
    /// Level directives of the log filter (`RUST_LOG` syntax), as given.
    pub fn log_filter(&self) -> &str {
        &self.log_filter
    }
    /// The directives logging installs: [`Self::log_filter`] plus [`QUIETED_TARGETS`] for the
    /// OpenTelemetry crates the directives do not name. The SDK's own lines repeat what the
    /// export status already says (with the cause) or are start-up chatter; naming a target
    /// (`opentelemetry_sdk=debug`) brings it back.
    ///
    /// ```
    /// let config = bitcraps_otel::Config::builder().log_filter("debug,opentelemetry_sdk=trace").build()?;
    /// assert_eq!(config.log_directives(), "debug,opentelemetry_sdk=trace,opentelemetry=warn,opentelemetry-otlp=error");
    /// # Ok::<(), bitcraps_otel::ConfigError>(())
    /// ```
    pub fn log_directives(&self) -> String {
        let mut out = self.log_filter.clone();
        for (target, level) in QUIETED_TARGETS {
            let named = self.log_filter.split(',').any(|d| {
                let selector = d.split(['=', '[']).next().unwrap_or("").trim();
                selector == *target || selector.starts_with(&format!("{target}::"))
            });
            if !named {
                out.push_str(&format!(",{target}={level}"));
            }
        }
        out
    }
    /// JSON or human-readable log lines.
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }
    /// Secret field names beyond [`crate::logging::DEFAULT_SECRET_FIELDS`].
    pub fn redacted_fields(&self) -> &[String] {
        &self.redacted_fields
    }
    /// Whether `init` installs the global `tracing` subscriber.
    pub fn installs_logging(&self) -> bool {
        self.install_logging
    }
    /// Which histogram recordings keep an exemplar (`OTEL_METRICS_EXEMPLAR_FILTER`).
    pub fn exemplar_filter(&self) -> ExemplarFilter {
        self.exemplar_filter
    }
    /// Which spans are sampled (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
    pub fn traces_sampler(&self) -> TraceSampler {
        self.traces_sampler
    }
    /// The HTTP trace-context formats (`OTEL_PROPAGATORS`); empty for `none`.
    pub fn propagators(&self) -> &[Propagator] {
        &self.propagators
    }
    /// Attribute sets per instrument before new ones go to the overflow series.
    pub fn cardinality_limit(&self) -> usize {
        self.cardinality_limit
    }
    /// Timeouts and connection cap of the Prometheus bridge and health servers.
    pub fn server_limits(&self) -> &ServerLimits {
        &self.server_limits
    }
}

impl Default for Config {
    fn default() -> Self {
        // The defaults are valid by construction; `build` cannot fail on them.
        Config {
            service_name: DEFAULT_SERVICE_NAME.into(),
            service_version: env!("CARGO_PKG_VERSION").into(),
            resource_attributes: Vec::new(),
            node_id_explicit: false,
            constant_labels: BTreeMap::new(),
            // No bridge in a build without it (cargo feature `prometheus`).
            prometheus_addr: cfg!(feature = "prometheus").then(|| SocketAddr::from(([0, 0, 0, 0], 9090))),
            collection_interval: DEFAULT_COLLECTION_INTERVAL,
            otlp: None,
            cardinality_limit: DEFAULT_CARDINALITY_LIMIT,
            sdk_disabled: false,
            health: HealthConfig::default(),
            log_filter: "info".into(),
            log_format: LogFormat::Json,
            redacted_fields: Vec::new(),
            install_logging: true,
            server_limits: ServerLimits::default(),
            exemplar_filter: ExemplarFilter::TraceBased,
            traces_sampler: TraceSampler::ParentBasedAlwaysOn,
            propagators: Propagator::DEFAULT.to_vec(),
        }
    }
}

mod build;
mod builder;
mod env;
mod error;
mod exemplar;
mod limits;
mod log_format;
mod otlp;
mod otlp_settings;
mod parse;
#[cfg(test)]
mod proptests;
mod resource;
mod shown_url;
mod summary;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_otlp;
mod traces;

pub use builder::ConfigBuilder;
pub use error::{quote, ConfigError, QUOTE_LIMIT};
pub use exemplar::ExemplarFilter;
pub use limits::{ServerLimits, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
pub(crate) use log_format::parse_filter;
pub use log_format::LogFormat;
pub use otlp::{
    Compression, Exporter, OtlpConfig, OtlpProtocol, OtlpSignal, Secret, Signal, Sources, TemporalityPreference,
    TlsFiles, DEFAULT_METRIC_EXPORT_TIMEOUT, DEFAULT_OTLP_TIMEOUT,
};
pub use otlp_settings::SignalSettings;
pub use resource::{resource, DEFAULT_SERVICE_NAME};
pub use shown_url::{display_url, display_url_in};
pub use traces::{Propagator, TraceSampler};
