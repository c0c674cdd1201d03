//! [`ConfigBuilder::build`]: validates every value and resolves defaults and precedence.

use super::builder::ConfigBuilder;
use super::parse::*;
use super::*;
use std::net::SocketAddr;

impl ConfigBuilder {
    /// Validates every field and returns the configuration.
    pub fn build(self) -> Result<Config, ConfigError> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(e);
        }
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
            Some(s) => s.resolve(parse_resource_attributes)?,
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
        let prometheus_field =
            [self.prometheus_addr.as_ref().map(|s| s.field), self.prometheus_host.as_ref().map(|s| s.field)]
                .into_iter()
                .chain([self.prometheus_port.as_ref().map(|s| s.field)])
                .flatten()
                .next();
        let prometheus_addr = prometheus_addr(self.prometheus_addr, self.prometheus_host, self.prometheus_port)?;
        const NO_BRIDGE: &str = "`off`: this build has no Prometheus bridge (cargo feature `prometheus`)";
        let prometheus_addr = built_server(prometheus_addr, prometheus_field, cfg!(feature = "prometheus"), NO_BRIDGE)?;
        let interval = |s: Option<Setting<Duration>>, default: Duration, allow_zero: bool| match s {
            None => Ok(default),
            Some(s) => {
                let field = s.field;
                check_interval(s.resolve(parse_human_duration)?, field, allow_zero)
            }
        };
        let health_field = self.health_addr.as_ref().map(|s| s.field);
        let health_addr = self.health_addr.map_or(Ok(defaults.health.addr), |s| s.resolve(parse_optional_addr))?;
        const NO_HEALTH: &str = "`off`: this build has no health endpoints (cargo feature `health`)";
        let health = HealthConfig {
            addr: built_server(health_addr, health_field, cfg!(feature = "health"), NO_HEALTH)?,
            cache_ttl: interval(self.health_cache_ttl, defaults.health.cache_ttl, true)?,
            check_timeout: interval(self.health_check_timeout, defaults.health.check_timeout, false)?,
            drain_period: interval(self.drain_period, defaults.health.drain_period, true)?,
        };
        let collection_interval = interval(self.collection_interval, defaults.collection_interval, false)?;
        let otlp = self.otlp.resolve(collection_interval)?;
        let cardinality_limit = match self.cardinality_limit {
            None => defaults.cardinality_limit,
            Some(s) => {
                let field = s.field;
                let bad = |value: String| ConfigError::Value { field, value, expected: "an integer from 1 to 1000000" };
                let n = s.resolve(|t, _| t.trim().parse::<usize>().map_err(|_| bad(t.into())))?;
                if !(1..=1_000_000).contains(&n) {
                    return Err(bad(n.to_string()));
                }
                n
            }
        };
        let sdk_disabled = self.sdk_disabled.map_or(Ok(false), |s| s.resolve(parse_bool))?;
        let log_filter = match self.log_filter {
            None => defaults.log_filter,
            Some(s) => s.resolve(check_log_filter)?,
        };
        let log_format = match self.log_format {
            None => defaults.log_format,
            Some(s) => s.resolve(|t, field| {
                super::LogFormat::parse(t).ok_or(ConfigError::Value {
                    field,
                    value: t.into(),
                    expected: "`json` or `pretty`",
                })
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
        let install_logging = self.install_logging.map_or(Ok(defaults.install_logging), |s| s.resolve(parse_bool))?;
        let server_limits = self.server_limits.build()?;
        let exemplar_filter = match self.exemplar_filter {
            None => defaults.exemplar_filter,
            Some(s) => s.resolve(|t, field| {
                ExemplarFilter::parse(t).ok_or(ConfigError::Value {
                    field,
                    value: t.into(),
                    expected: "`always_on`, `always_off` or `trace_based`",
                })
            })?,
        };
        let arg = self.traces_sampler_arg;
        let traces_sampler = match self.traces_sampler {
            None => defaults.traces_sampler,
            Some(s) => s.resolve(|t, field| {
                let (arg, arg_field) = match &arg {
                    Some((a, f)) => (Some(a.as_str()), *f),
                    None => (None, "OTEL_TRACES_SAMPLER_ARG"),
                };
                TraceSampler::parse_from(t, arg, field, arg_field)
            })?,
        };
        let propagators = match self.propagators {
            None => defaults.propagators,
            Some(s) => s.resolve(Propagator::parse_list_from)?,
        };
        Ok(Config {
            traces_sampler,
            propagators,
            exemplar_filter,
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
        })
    }
}

/// The address of a server this build may lack: without its cargo feature there is no default,
/// and an address given explicitly is an error naming the field (not silently ignored).
fn built_server(
    addr: Option<SocketAddr>,
    field: Option<&'static str>,
    built: bool,
    expected: &'static str,
) -> Result<Option<SocketAddr>, ConfigError> {
    match (built, addr, field) {
        (true, addr, _) => Ok(addr),
        (false, Some(a), Some(field)) => Err(ConfigError::Value { field, value: a.to_string(), expected }),
        (false, _, _) => Ok(None),
    }
}

/// `BITCRAPS_PROMETHEUS_ADDR`, or the OpenTelemetry spelling of the same address
/// (`OTEL_EXPORTER_PROMETHEUS_HOST` / `_PORT`, each defaulting to the other half of
/// `0.0.0.0:9090`). Both spellings at once must agree.
fn prometheus_addr(
    addr: Option<Setting<Option<SocketAddr>>>,
    host: Option<Setting<std::net::IpAddr>>,
    port: Option<Setting<u16>>,
) -> Result<Option<SocketAddr>, ConfigError> {
    let default = SocketAddr::from(([0, 0, 0, 0], 9090));
    let alias_field = host.as_ref().map(|h| h.field).or(port.as_ref().map(|p| p.field));
    let alias = match (host, port) {
        (None, None) => None,
        (h, p) => {
            let ip = h.map_or(Ok(default.ip()), |h| h.resolve(parse_host))?;
            let port = p.map_or(Ok(default.port()), |p| p.resolve(parse_port))?;
            Some(SocketAddr::new(ip, port))
        }
    };
    match (addr, alias) {
        (None, alias) => Ok(Some(alias.unwrap_or(default))),
        (Some(a), None) => a.resolve(parse_optional_addr),
        (Some(a), Some(alias)) => {
            let field = a.field;
            let resolved = a.resolve(parse_optional_addr)?;
            if resolved != Some(alias) {
                return Err(ConfigError::Conflict {
                    field: alias_field.unwrap_or("OTEL_EXPORTER_PROMETHEUS_PORT"),
                    other: field,
                    reason: "both name the Prometheus bridge address and disagree; set one of them",
                });
            }
            Ok(resolved)
        }
    }
}
