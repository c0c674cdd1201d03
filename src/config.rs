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
    /// `BITCRAPS_LOG_INSTALL` (`false` leaves the global subscriber alone).
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
}

impl Default for Config {
    fn default() -> Self {
        // The defaults are valid by construction; `build` cannot fail on them.
        Config {
            service_name: "bitcraps-node".into(),
            service_version: env!("CARGO_PKG_VERSION").into(),
            resource_attributes: Vec::new(),
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
        }
    }
}

/// A raw value and the field it came from, validated in [`ConfigBuilder::build`] so that
/// errors name the builder method or environment variable the user actually touched.
#[derive(Clone, Debug)]
struct Raw {
    value: String,
    field: &'static str,
}

fn raw(value: impl Into<String>, field: &'static str) -> Option<Raw> {
    Some(Raw { value: value.into(), field })
}

/// Builder for [`Config`]; every setter overrides what [`ConfigBuilder::from_env`] read.
#[derive(Clone, Debug, Default)]
pub struct ConfigBuilder {
    service_name: Option<String>,
    service_version: Option<String>,
    resource_attributes: Option<Raw>,
    labels: Vec<(String, String, &'static str)>,
    prometheus_addr: Option<Raw>,
    collection_interval: Option<Raw>,
    otlp_endpoint: Option<String>,
    otlp_protocol: Option<Raw>,
    metric_export_interval: Option<Raw>,
    cardinality_limit: Option<Raw>,
    sdk_disabled: Option<Raw>,
    health_addr: Option<Raw>,
    health_cache_ttl: Option<Raw>,
    health_check_timeout: Option<Raw>,
    drain_period: Option<Raw>,
    log_filter: Option<Raw>,
    log_format: Option<Raw>,
    redacted_fields: Vec<(String, &'static str)>,
    install_logging: Option<Raw>,
}

impl ConfigBuilder {
    /// A builder seeded from the process environment.
    pub fn from_env() -> ConfigBuilder {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// A builder seeded from any variable lookup; `from_env` uses the process environment.
    /// Tests use this to avoid mutating global state.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> ConfigBuilder {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let mut b = ConfigBuilder {
            service_name: get("OTEL_SERVICE_NAME"),
            resource_attributes: get("OTEL_RESOURCE_ATTRIBUTES").and_then(|v| raw(v, "OTEL_RESOURCE_ATTRIBUTES")),
            prometheus_addr: get("BITCRAPS_PROMETHEUS_ADDR").and_then(|v| raw(v, "BITCRAPS_PROMETHEUS_ADDR")),
            collection_interval: get("BITCRAPS_COLLECTION_INTERVAL")
                .and_then(|v| raw(v, "BITCRAPS_COLLECTION_INTERVAL")),
            otlp_endpoint: get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            otlp_protocol: get("OTEL_EXPORTER_OTLP_PROTOCOL").and_then(|v| raw(v, "OTEL_EXPORTER_OTLP_PROTOCOL")),
            metric_export_interval: get("OTEL_METRIC_EXPORT_INTERVAL")
                .and_then(|v| raw(v, "OTEL_METRIC_EXPORT_INTERVAL")),
            cardinality_limit: get("BITCRAPS_CARDINALITY_LIMIT").and_then(|v| raw(v, "BITCRAPS_CARDINALITY_LIMIT")),
            sdk_disabled: get("OTEL_SDK_DISABLED").and_then(|v| raw(v, "OTEL_SDK_DISABLED")),
            health_addr: get("BITCRAPS_HEALTH_ADDR").and_then(|v| raw(v, "BITCRAPS_HEALTH_ADDR")),
            health_cache_ttl: get("BITCRAPS_HEALTH_CACHE_TTL").and_then(|v| raw(v, "BITCRAPS_HEALTH_CACHE_TTL")),
            health_check_timeout: get("BITCRAPS_HEALTH_CHECK_TIMEOUT")
                .and_then(|v| raw(v, "BITCRAPS_HEALTH_CHECK_TIMEOUT")),
            drain_period: get("BITCRAPS_DRAIN_PERIOD").and_then(|v| raw(v, "BITCRAPS_DRAIN_PERIOD")),
            log_filter: get("BITCRAPS_LOG")
                .and_then(|v| raw(v, "BITCRAPS_LOG"))
                .or_else(|| get("RUST_LOG").and_then(|v| raw(v, "RUST_LOG"))),
            log_format: get("BITCRAPS_LOG_FORMAT").and_then(|v| raw(v, "BITCRAPS_LOG_FORMAT")),
            install_logging: get("BITCRAPS_LOG_INSTALL").and_then(|v| raw(v, "BITCRAPS_LOG_INSTALL")),
            ..Default::default()
        };
        if let Some(list) = get("BITCRAPS_LOG_REDACT") {
            b.redacted_fields.extend(list.split(',').map(|n| (n.trim().to_string(), "BITCRAPS_LOG_REDACT")));
        }
        if let Some(id) = get("BITCRAPS_NODE_ID") {
            b.labels.push(("node_id".into(), id, "BITCRAPS_NODE_ID"));
        }
        if let Some(region) = get("BITCRAPS_REGION") {
            b.labels.push(("region".into(), region, "BITCRAPS_REGION"));
        }
        if let Some(list) = get("BITCRAPS_CONSTANT_LABELS") {
            for pair in list.split(',').filter(|p| !p.trim().is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                b.labels.push((k.trim().into(), v.trim().into(), "BITCRAPS_CONSTANT_LABELS"));
            }
        }
        b
    }

    /// `service.name` (default `bitcraps-node`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }
    /// `service.version` (default: this crate's version).
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }
    /// Extra resource attributes in `OTEL_RESOURCE_ATTRIBUTES` form: `k=v,k2=v2`.
    pub fn resource_attributes(mut self, attrs: impl Into<String>) -> Self {
        self.resource_attributes = raw(attrs, "resource_attributes");
        self
    }
    /// The node id: a constant `node_id` label and the `bitcraps.node.id` resource attribute.
    /// Defaults to the host name.
    pub fn node_id(self, id: impl Into<String>) -> Self {
        self.label("node_id", id.into(), "node_id")
    }
    /// The region: a constant `region` label on every series.
    pub fn region(self, region: impl Into<String>) -> Self {
        self.label("region", region.into(), "region")
    }
    /// A constant label on every Prometheus series; the name must be a valid label name.
    pub fn constant_label(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.label(&name.into(), value.into(), "constant_labels")
    }
    fn label(mut self, name: &str, value: String, field: &'static str) -> Self {
        self.labels.retain(|(k, _, _)| k != name);
        self.labels.push((name.to_string(), value, field));
        self
    }
    /// Address of the Prometheus bridge, e.g. `0.0.0.0:9090` or `127.0.0.1:0`.
    pub fn prometheus_addr(mut self, addr: impl Into<String>) -> Self {
        self.prometheus_addr = raw(addr, "prometheus_addr");
        self
    }
    /// Turns the Prometheus bridge off.
    pub fn without_prometheus(mut self) -> Self {
        self.prometheus_addr = raw("off", "prometheus_addr");
        self
    }
    /// How often system and device readings refresh; also the default OTLP push period.
    pub fn collection_interval(mut self, interval: Duration) -> Self {
        self.collection_interval = raw(format!("{}ms", interval.as_millis()), "collection_interval");
        self
    }
    /// Enables OTLP export to `endpoint` (e.g. `http://127.0.0.1:4317`).
    pub fn otlp_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.otlp_endpoint = Some(endpoint.into());
        self
    }
    /// OTLP protocol: `grpc` (default) or `http/protobuf`.
    pub fn otlp_protocol(mut self, protocol: OtlpProtocol) -> Self {
        let name = match protocol {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
        };
        self.otlp_protocol = raw(name, "otlp_protocol");
        self
    }
    /// OTLP metric push period (default: the collection interval).
    pub fn metric_export_interval(mut self, interval: Duration) -> Self {
        self.metric_export_interval = raw(interval.as_millis().to_string(), "metric_export_interval");
        self
    }
    /// Maximum attribute sets per instrument before the overflow series takes the rest.
    pub fn cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = raw(limit.to_string(), "cardinality_limit");
        self
    }
    /// Disables the SDK: instruments become no-ops and nothing is served or exported.
    pub fn sdk_disabled(mut self, disabled: bool) -> Self {
        self.sdk_disabled = raw(disabled.to_string(), "sdk_disabled");
        self
    }

    /// Log level directives in `RUST_LOG` syntax, e.g. `info,bitcraps_otel::alerting=debug`.
    pub fn log_filter(mut self, directives: impl Into<String>) -> Self {
        self.log_filter = raw(directives, "log_filter");
        self
    }
    /// JSON (default) or human-readable log lines.
    pub fn log_format(mut self, format: crate::logging::LogFormat) -> Self {
        let name = match format {
            crate::logging::LogFormat::Json => "json",
            crate::logging::LogFormat::Pretty => "pretty",
        };
        self.log_format = raw(name, "log_format");
        self
    }
    /// One more field name whose values are written as `[REDACTED]` and never exported.
    pub fn redact_field(mut self, name: impl Into<String>) -> Self {
        self.redacted_fields.push((name.into(), "redact_field"));
        self
    }
    /// `init` leaves the global `tracing` subscriber alone (for applications with their own).
    pub fn without_logging(mut self) -> Self {
        self.install_logging = raw("false", "install_logging");
        self
    }

    /// Address of `/health` and `/ready` (default `0.0.0.0:8080`).
    pub fn health_addr(mut self, addr: impl Into<String>) -> Self {
        self.health_addr = raw(addr, "health_addr");
        self
    }
    /// Turns the health endpoints off.
    pub fn without_health(mut self) -> Self {
        self.health_addr = raw("off", "health_addr");
        self
    }
    /// How long health check results are reused (default 2 s; zero disables the cache).
    pub fn health_cache_ttl(mut self, ttl: Duration) -> Self {
        self.health_cache_ttl = raw(format!("{}ms", ttl.as_millis()), "health_cache_ttl");
        self
    }
    /// Default time limit of one health check (default 2 s).
    pub fn health_check_timeout(mut self, timeout: Duration) -> Self {
        self.health_check_timeout = raw(format!("{}ms", timeout.as_millis()), "health_check_timeout");
        self
    }
    /// How long to stay up, not ready, after a shutdown signal (default 5 s).
    pub fn drain_period(mut self, period: Duration) -> Self {
        self.drain_period = raw(format!("{}ms", period.as_millis()), "drain_period");
        self
    }

    /// Validates every field and returns the configuration.
    pub fn build(self) -> Result<Config, ConfigError> {
        let defaults = Config::default();
        let mut constant_labels = BTreeMap::new();
        for (name, value, field) in self.labels {
            if !is_label_name(&name) {
                return Err(ConfigError::LabelName { field, name });
            }
            constant_labels.insert(name, value);
        }
        // Every series needs a node to belong to, or fleet dashboards cannot tell nodes apart:
        // without an explicit id, the host name serves.
        if !constant_labels.contains_key("node_id") {
            if let Some(host) = sysinfo::System::host_name().ok().filter(|h| !h.is_empty()) {
                constant_labels.insert("node_id".into(), host);
            }
        }
        let prometheus_addr = optional_addr(self.prometheus_addr, defaults.prometheus_addr)?;
        let health = HealthConfig {
            addr: optional_addr(self.health_addr, defaults.health.addr)?,
            cache_ttl: self
                .health_cache_ttl
                .map_or(Ok(defaults.health.cache_ttl), |r| parse_interval_allowing_zero(&r))?,
            check_timeout: self
                .health_check_timeout
                .map_or(Ok(defaults.health.check_timeout), |r| parse_interval(&r))?,
            drain_period: self
                .drain_period
                .map_or(Ok(defaults.health.drain_period), |r| parse_interval_allowing_zero(&r))?,
        };
        let collection_interval = match self.collection_interval {
            None => defaults.collection_interval,
            Some(r) => parse_interval(&r)?,
        };
        let protocol = match self.otlp_protocol {
            None => OtlpProtocol::Grpc,
            Some(r) => match r.value.trim() {
                "grpc" => OtlpProtocol::Grpc,
                "http/protobuf" => OtlpProtocol::HttpProtobuf,
                _ => {
                    return Err(ConfigError::Value {
                        field: r.field,
                        value: r.value,
                        expected: "`grpc` or `http/protobuf`",
                    })
                }
            },
        };
        let metric_export_interval = match self.metric_export_interval {
            None => collection_interval,
            Some(r) => {
                let ms: u64 = r.value.trim().parse().map_err(|_| ConfigError::Interval {
                    field: r.field,
                    value: r.value.clone(),
                    reason: "expected whole milliseconds".into(),
                })?;
                if ms == 0 {
                    return Err(ConfigError::Interval {
                        field: r.field,
                        value: r.value,
                        reason: "must be positive".into(),
                    });
                }
                Duration::from_millis(ms)
            }
        };
        let otlp = match self.otlp_endpoint {
            None => None,
            Some(endpoint) => {
                let e = endpoint.trim();
                if !(e.starts_with("http://") || e.starts_with("https://")) || e.len() <= "https://".len() {
                    return Err(ConfigError::Value {
                        field: "OTEL_EXPORTER_OTLP_ENDPOINT",
                        value: endpoint,
                        expected: "an http:// or https:// URL",
                    });
                }
                Some(OtlpConfig { endpoint: e.trim_end_matches('/').to_string(), protocol, metric_export_interval })
            }
        };
        let cardinality_limit = match self.cardinality_limit {
            None => defaults.cardinality_limit,
            Some(r) => match r.value.trim().parse::<usize>() {
                Ok(n) if (1..=1_000_000).contains(&n) => n,
                _ => {
                    return Err(ConfigError::Value {
                        field: r.field,
                        value: r.value,
                        expected: "an integer from 1 to 1000000",
                    })
                }
            },
        };
        let sdk_disabled = match self.sdk_disabled {
            None => false,
            Some(r) => match r.value.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(ConfigError::Value { field: r.field, value: r.value, expected: "`true` or `false`" }),
            },
        };
        let log_filter = match self.log_filter {
            None => defaults.log_filter,
            Some(r) => match crate::logging::subscriber::parse_filter(&r.value) {
                Ok(_) => r.value.trim().to_string(),
                Err(e) => return Err(ConfigError::LogFilter { field: r.field, value: r.value, reason: e.to_string() }),
            },
        };
        let log_format = match self.log_format {
            None => defaults.log_format,
            Some(r) => crate::logging::LogFormat::parse(&r.value).ok_or(ConfigError::Value {
                field: r.field,
                value: r.value.clone(),
                expected: "`json` or `pretty`",
            })?,
        };
        let mut redacted_fields = Vec::new();
        for (name, field) in self.redacted_fields {
            let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !valid {
                return Err(ConfigError::Value { field, value: name, expected: "field names of [A-Za-z0-9_.-]" });
            }
            redacted_fields.push(name);
        }
        let install_logging = match self.install_logging {
            None => defaults.install_logging,
            Some(r) => match r.value.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(ConfigError::Value { field: r.field, value: r.value, expected: "`true` or `false`" }),
            },
        };
        let resource_attributes = match self.resource_attributes {
            None => Vec::new(),
            Some(r) => parse_resource_attributes(&r)?,
        };
        Ok(Config {
            service_name: self.service_name.unwrap_or(defaults.service_name),
            service_version: self.service_version.unwrap_or(defaults.service_version),
            resource_attributes,
            constant_labels,
            prometheus_addr,
            collection_interval,
            otlp,
            cardinality_limit,
            sdk_disabled,
            health,
            log_filter,
            log_format,
            redacted_fields,
            install_logging,
        })
    }
}

/// `off`/`none`/`disabled`, or a socket address; `default` when unset.
fn optional_addr(r: Option<Raw>, default: Option<SocketAddr>) -> Result<Option<SocketAddr>, ConfigError> {
    match r {
        None => Ok(default),
        Some(r) if matches!(r.value.trim(), "off" | "none" | "disabled") => Ok(None),
        Some(r) => {
            r.value.trim().parse().map(Some).map_err(|_| ConfigError::Address { field: r.field, value: r.value })
        }
    }
}

/// Like [`parse_interval`], but zero is allowed (no caching, no drain).
fn parse_interval_allowing_zero(r: &Raw) -> Result<Duration, ConfigError> {
    match r.value.trim() {
        "0" | "0s" | "0ms" => Ok(Duration::ZERO),
        _ => parse_interval(r),
    }
}

/// `15s`, `500ms`, `1m`, or a bare number of seconds; between 10 ms and 1 day.
fn parse_interval(r: &Raw) -> Result<Duration, ConfigError> {
    let text = r.value.trim();
    let parsed = match text.parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(text).map_err(|e| e.to_string()),
    };
    let bad = |reason: String| ConfigError::Interval { field: r.field, value: r.value.clone(), reason };
    let d = parsed.map_err(bad)?;
    if d < Duration::from_millis(10) || d > Duration::from_secs(86_400) {
        return Err(bad("must be between 10ms and 24h".into()));
    }
    Ok(d)
}

/// The W3C-baggage-like format of `OTEL_RESOURCE_ATTRIBUTES`, with percent-decoding.
fn parse_resource_attributes(r: &Raw) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for pair in r.value.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(ConfigError::Value {
                field: r.field,
                value: r.value.clone(),
                expected: "comma-separated key=value pairs",
            });
        };
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() {
            return Err(ConfigError::Value { field: r.field, value: r.value.clone(), expected: "non-empty keys" });
        }
        out.push((k.to_string(), percent_decode(v)));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Prometheus label-name syntax; names starting with `__` are reserved.
pub(crate) fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> ConfigBuilder {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ConfigBuilder::from_lookup(move |k| map.get(k).cloned())
    }

    #[test]
    fn reads_otel_and_bitcraps_variables() {
        let c = env(&[
            ("OTEL_SERVICE_NAME", "table-9"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,team=dice%20ops"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "2500"),
            ("BITCRAPS_PROMETHEUS_ADDR", "127.0.0.1:19090"),
            ("BITCRAPS_NODE_ID", "n1"),
            ("BITCRAPS_REGION", "eu-west"),
            ("BITCRAPS_CONSTANT_LABELS", "zone=a, rack=r7"),
            ("BITCRAPS_COLLECTION_INTERVAL", "750ms"),
        ])
        .build()
        .expect("valid");
        assert_eq!(c.service_name, "table-9");
        assert_eq!(
            c.resource_attributes,
            vec![("deployment.environment".into(), "prod".into()), ("team".into(), "dice ops".into())]
        );
        let otlp = c.otlp.expect("otlp");
        assert_eq!(otlp.endpoint, "http://127.0.0.1:4318");
        assert_eq!(otlp.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(otlp.metric_export_interval, Duration::from_millis(2500));
        assert_eq!(c.prometheus_addr, Some("127.0.0.1:19090".parse().expect("addr")));
        assert_eq!(c.collection_interval, Duration::from_millis(750));
        let labels: Vec<_> = c.constant_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(labels, ["node_id=n1", "rack=r7", "region=eu-west", "zone=a"]);
    }

    #[test]
    fn defaults_match_the_reference() {
        let c = env(&[]).build().expect("valid");
        assert_eq!(c.prometheus_addr, Some("0.0.0.0:9090".parse().expect("addr")));
        assert_eq!(c.collection_interval, Duration::from_secs(15));
        assert!(c.otlp.is_none());
        assert!(!c.sdk_disabled);
    }

    #[test]
    fn export_interval_defaults_to_collection_interval() {
        let c =
            env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"), ("BITCRAPS_COLLECTION_INTERVAL", "3s")])
                .build()
                .expect("valid");
        assert_eq!(c.otlp.expect("otlp").metric_export_interval, Duration::from_secs(3));
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases: &[(&str, &str, &str)] = &[
            ("BITCRAPS_PROMETHEUS_ADDR", "localhost", "BITCRAPS_PROMETHEUS_ADDR"),
            ("BITCRAPS_COLLECTION_INTERVAL", "soon", "BITCRAPS_COLLECTION_INTERVAL"),
            ("BITCRAPS_COLLECTION_INTERVAL", "0s", "BITCRAPS_COLLECTION_INTERVAL"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "5s", "OTEL_METRIC_EXPORT_INTERVAL"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "OTEL_EXPORTER_OTLP_PROTOCOL"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317", "OTEL_EXPORTER_OTLP_ENDPOINT"),
            ("OTEL_SDK_DISABLED", "yes", "OTEL_SDK_DISABLED"),
            ("OTEL_RESOURCE_ATTRIBUTES", "novalue", "OTEL_RESOURCE_ATTRIBUTES"),
            ("BITCRAPS_CONSTANT_LABELS", "bad-name=x", "BITCRAPS_CONSTANT_LABELS"),
            ("BITCRAPS_CARDINALITY_LIMIT", "0", "BITCRAPS_CARDINALITY_LIMIT"),
        ];
        for (var, value, field) in cases {
            let err = env(&[(var, value)]).build().expect_err(var);
            assert!(err.to_string().starts_with(field), "{var}={value}: {err}");
            let offending = value.split('=').next().unwrap_or(value);
            assert!(err.to_string().contains(offending), "{var}={value}: {err}");
        }
    }

    #[test]
    fn typed_errors() {
        assert_eq!(
            Config::builder().prometheus_addr("9090").build().unwrap_err(),
            ConfigError::Address { field: "prometheus_addr", value: "9090".into() }
        );
        assert_eq!(
            Config::builder().constant_label("__x", "v").build().unwrap_err(),
            ConfigError::LabelName { field: "constant_labels", name: "__x".into() }
        );
        assert!(matches!(
            Config::builder().collection_interval(Duration::from_millis(1)).build(),
            Err(ConfigError::Interval { field: "collection_interval", .. })
        ));
    }

    #[test]
    fn prometheus_can_be_turned_off() {
        assert_eq!(env(&[("BITCRAPS_PROMETHEUS_ADDR", "off")]).build().expect("valid").prometheus_addr, None);
        assert_eq!(Config::builder().without_prometheus().build().expect("valid").prometheus_addr, None);
    }
}
