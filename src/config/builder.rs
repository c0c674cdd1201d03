//! [`ConfigBuilder`]: defaults, the environment, builder setters, and validation.

use super::parse::{optional_addr, parse_interval, parse_interval_allowing_zero, parse_resource_attributes, raw, Raw};
use super::*;

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
    /// Typed when set by the builder; the rejected text when the environment held a bad value.
    exemplar_filter: Option<Result<ExemplarFilter, String>>,
    server_limits: super::limits::RawLimits,
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
            server_limits: super::limits::RawLimits::from_lookup(|k| get(k).and_then(|v| raw(v, k))),
            ..Default::default()
        };
        b.exemplar_filter = get("OTEL_METRICS_EXEMPLAR_FILTER").map(|v| ExemplarFilter::parse(&v).ok_or(v));
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

    /// Which histogram recordings keep an exemplar (default [`ExemplarFilter::TraceBased`]).
    pub fn exemplar_filter(mut self, filter: ExemplarFilter) -> Self {
        self.exemplar_filter = Some(Ok(filter));
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

    /// Time a client has to send a request's headers to either server (default 10 s).
    pub fn http_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.server_limits.header_read_timeout = raw(format!("{}ms", timeout.as_millis()), "http_header_read_timeout");
        self
    }
    /// Time a kept-alive connection may wait for its next request (default 60 s).
    pub fn http_idle_timeout(mut self, timeout: Duration) -> Self {
        self.server_limits.idle_timeout = raw(format!("{}ms", timeout.as_millis()), "http_idle_timeout");
        self
    }
    /// Open connections per server before the longest-idle one is closed (default 1024).
    pub fn http_max_connections(mut self, max: usize) -> Self {
        self.server_limits.max_connections = raw(max.to_string(), "http_max_connections");
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
        let resource_attributes = match self.resource_attributes {
            None => Vec::new(),
            Some(r) => parse_resource_attributes(&r)?,
        };
        let attribute = |key: &str| resource_attributes.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        // Every series needs a node to belong to, or fleet dashboards cannot tell nodes apart:
        // without an explicit id, the resource's `bitcraps.node.id`, else the host name, serves.
        let node_id_explicit = constant_labels.contains_key("node_id");
        if !node_id_explicit {
            let fallback = attribute(crate::semconv::attribute::NODE_ID.id)
                .or_else(|| sysinfo::System::host_name().ok().filter(|h| !h.is_empty()));
            if let Some(id) = fallback {
                constant_labels.insert("node_id".into(), id);
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
        let exemplar_filter = match self.exemplar_filter {
            None => defaults.exemplar_filter,
            Some(Ok(filter)) => filter,
            Some(Err(value)) => {
                return Err(ConfigError::Value {
                    field: "OTEL_METRICS_EXEMPLAR_FILTER",
                    value,
                    expected: "`always_on`, `always_off` or `trace_based`",
                })
            }
        };
        let server_limits = self.server_limits.build()?;
        Ok(Config {
            server_limits,
            // Explicit settings beat OTEL_RESOURCE_ATTRIBUTES, which beats the defaults.
            service_name: self.service_name.or_else(|| attribute("service.name")).unwrap_or(defaults.service_name),
            service_version: self
                .service_version
                .or_else(|| attribute("service.version"))
                .unwrap_or(defaults.service_version),
            node_id_explicit,
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
            exemplar_filter,
        })
    }
}
