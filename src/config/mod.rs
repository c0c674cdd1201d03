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

/// Settings of the health endpoints and of graceful shutdown.
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
            addr: Some(SocketAddr::from(([0, 0, 0, 0], 8080))),
            cache_ttl: Duration::from_secs(2),
            check_timeout: Duration::from_secs(2),
            drain_period: Duration::from_secs(5),
        }
    }
}

/// Invalid configuration. Every variant names the field (builder method or environment
/// variable) the bad value came from.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A socket address did not parse.
    #[error("{field}: `{value}` is not a socket address (expected host:port, e.g. 0.0.0.0:9090)")]
    Address {
        /// Field or environment variable.
        field: &'static str,
        /// The rejected value.
        value: String,
    },
    /// A duration did not parse or is out of range.
    #[error("{field}: `{value}` is not a valid interval: {reason}")]
    Interval {
        /// Field or environment variable.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A label name is not a valid Prometheus label name.
    #[error("{field}: `{name}` is not a valid label name (must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __)")]
    LabelName {
        /// Field or environment variable.
        field: &'static str,
        /// The rejected name.
        name: String,
    },
    /// A log level directive did not parse (`RUST_LOG` syntax, e.g. `info,bitcraps_otel=debug`).
    #[error("{field}: `{value}` is not a valid log filter: {reason}")]
    LogFilter {
        /// Field or environment variable.
        field: &'static str,
        /// The rejected directives.
        value: String,
        /// The parser's message.
        reason: String,
    },
    /// Any other value outside what the field accepts.
    #[error("{field}: `{value}` is invalid: expected {expected}")]
    Value {
        /// Field or environment variable.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// What the field accepts.
        expected: &'static str,
    },
}

/// Wire protocol of the OTLP exporter (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (`grpc`), default port 4317.
    Grpc,
    /// OTLP over HTTP with protobuf bodies (`http/protobuf`), default port 4318.
    HttpProtobuf,
}

/// Where and how OTLP export goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtlpConfig {
    /// Collector endpoint, e.g. `http://127.0.0.1:4317`.
    pub endpoint: String,
    /// Wire protocol.
    pub protocol: OtlpProtocol,
    /// Period of the metric push.
    pub metric_export_interval: Duration,
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
    pub(crate) log_format: crate::logging::LogFormat,
    pub(crate) redacted_fields: Vec<String>,
    pub(crate) install_logging: bool,
    pub(crate) exemplar_filter: ExemplarFilter,
    pub(crate) server_limits: ServerLimits,
}

impl Config {
    /// A builder seeded with defaults (no environment).
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Reads the environment: `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`,
    /// `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds), `OTEL_SDK_DISABLED`, and
    /// `BITCRAPS_PROMETHEUS_ADDR` (`off` disables the bridge), `BITCRAPS_NODE_ID`,
    /// `BITCRAPS_REGION`, `BITCRAPS_CONSTANT_LABELS` (`k=v,k=v`),
    /// `BITCRAPS_COLLECTION_INTERVAL` (`15s`, `500ms`), `BITCRAPS_CARDINALITY_LIMIT`; for logging,
    /// `BITCRAPS_LOG` (else `RUST_LOG`) level directives, `BITCRAPS_LOG_FORMAT` (`json`, `pretty`),
    /// `BITCRAPS_LOG_REDACT` (extra secret field names, comma-separated) and
    /// `BITCRAPS_LOG_INSTALL` (`false` leaves the global subscriber alone); and
    /// `OTEL_METRICS_EXEMPLAR_FILTER` (`always_on`, `always_off`, `trace_based`).
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
    /// Level directives of the log filter (`RUST_LOG` syntax).
    pub fn log_filter(&self) -> &str {
        &self.log_filter
    }
    /// JSON or human-readable log lines.
    pub fn log_format(&self) -> crate::logging::LogFormat {
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
            prometheus_addr: Some(SocketAddr::from(([0, 0, 0, 0], 9090))),
            collection_interval: DEFAULT_COLLECTION_INTERVAL,
            otlp: None,
            cardinality_limit: DEFAULT_CARDINALITY_LIMIT,
            sdk_disabled: false,
            health: HealthConfig::default(),
            log_filter: "info".into(),
            log_format: crate::logging::LogFormat::Json,
            redacted_fields: Vec::new(),
            install_logging: true,
            exemplar_filter: ExemplarFilter::TraceBased,
            server_limits: ServerLimits::default(),
        }
    }
}

mod builder;
mod exemplar;
mod limits;
mod parse;
mod resource;
#[cfg(test)]
mod tests;

pub use builder::ConfigBuilder;
pub use exemplar::ExemplarFilter;
pub use limits::{ServerLimits, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
pub(crate) use parse::is_label_name;
pub use resource::{resource, DEFAULT_SERVICE_NAME};
