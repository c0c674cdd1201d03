//! Reading the process environment (or any lookup) into a [`ConfigBuilder`]: which variable
//! feeds which setting. Values stay text until `build` validates them; a value that is not
//! UTF-8 is an error naming its variable, never a silent fallback to the default.

use super::builder::ConfigBuilder;
use super::limits::LimitSettings;
use super::otlp::{Secret, Signal};
use super::otlp_settings::{HeadersGiven, SignalSettings, Vars, EXPORTER_VARS, GENERIC_VARS, SIGNAL_VARS};
use super::parse::Setting;
use super::ConfigError;
use std::ffi::OsString;

/// Reads variables and remembers the ones that are not UTF-8.
struct Reader<F> {
    get: F,
    errors: Vec<ConfigError>,
}

impl<F: Fn(&str) -> Option<OsString>> Reader<F> {
    /// The value of `var`, `None` when unset, blank or not UTF-8 (the last is recorded).
    fn read(&mut self, var: &'static str) -> Option<String> {
        match (self.get)(var)?.into_string() {
            Ok(v) if v.trim().is_empty() => None,
            Ok(v) => Some(v),
            Err(_) => {
                self.errors.push(ConfigError::NotUnicode { field: var });
                None
            }
        }
    }

    fn text<T>(&mut self, var: &'static str) -> Option<Setting<T>> {
        self.read(var).and_then(|v| Setting::text(v, var))
    }

    fn signal_settings(&mut self, vars: &Vars) -> SignalSettings {
        let path = |r: &mut Self, var: &'static str| r.read(var).map(|v| (v.trim().into(), var));
        SignalSettings {
            endpoint: self.read(vars.endpoint).map(|v| (Secret::new(v), vars.endpoint)),
            protocol: self.text(vars.protocol),
            headers: self.read(vars.headers).map(|v| (HeadersGiven::Text(Secret::new(v)), vars.headers)),
            timeout: self.text(vars.timeout),
            compression: self.text(vars.compression),
            certificate: path(self, vars.certificate),
            client_certificate: path(self, vars.client_certificate),
            client_key: path(self, vars.client_key),
        }
    }
}

impl ConfigBuilder {
    /// A builder seeded from the process environment.
    pub fn from_env() -> ConfigBuilder {
        Self::from_os_lookup(|k| std::env::var_os(k))
    }

    /// A builder seeded from any variable lookup; `from_env` uses the process environment.
    /// Tests use this to avoid mutating global state.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> ConfigBuilder {
        Self::from_os_lookup(move |k| get(k).map(OsString::from))
    }

    /// Like [`Self::from_lookup`], with values as the operating system holds them: one that is
    /// not UTF-8 makes `build` fail with [`ConfigError::NotUnicode`] naming the variable.
    pub fn from_os_lookup(get: impl Fn(&str) -> Option<OsString>) -> ConfigBuilder {
        let mut r = Reader { get, errors: Vec::new() };
        let mut b = ConfigBuilder {
            service_name: r.read("OTEL_SERVICE_NAME"),
            resource_attributes: r.text("OTEL_RESOURCE_ATTRIBUTES"),
            prometheus_addr: r.text("BITCRAPS_PROMETHEUS_ADDR"),
            prometheus_host: r.text("OTEL_EXPORTER_PROMETHEUS_HOST"),
            prometheus_port: r.text("OTEL_EXPORTER_PROMETHEUS_PORT"),
            collection_interval: r.text("BITCRAPS_COLLECTION_INTERVAL"),
            cardinality_limit: r.text("BITCRAPS_CARDINALITY_LIMIT"),
            sdk_disabled: r.text("OTEL_SDK_DISABLED"),
            health_addr: r.text("BITCRAPS_HEALTH_ADDR"),
            health_cache_ttl: r.text("BITCRAPS_HEALTH_CACHE_TTL"),
            health_check_timeout: r.text("BITCRAPS_HEALTH_CHECK_TIMEOUT"),
            drain_period: r.text("BITCRAPS_DRAIN_PERIOD"),
            log_format: r.text("BITCRAPS_LOG_FORMAT"),
            install_logging: r.text("BITCRAPS_LOG_INSTALL"),
            exemplar_filter: r.text("OTEL_METRICS_EXEMPLAR_FILTER"),
            traces_sampler: r.text("OTEL_TRACES_SAMPLER"),
            traces_sampler_arg: r.read("OTEL_TRACES_SAMPLER_ARG").map(|v| (v, "OTEL_TRACES_SAMPLER_ARG")),
            propagators: r.text("OTEL_PROPAGATORS"),
            server_limits: LimitSettings {
                header_read_timeout: r.text("BITCRAPS_HTTP_HEADER_TIMEOUT"),
                idle_timeout: r.text("BITCRAPS_HTTP_IDLE_TIMEOUT"),
                max_connections: r.text("BITCRAPS_HTTP_MAX_CONNECTIONS"),
            },
            ..Default::default()
        };
        // BITCRAPS_LOG wins; RUST_LOG is only read when BITCRAPS_LOG is unset (a mangled
        // BITCRAPS_LOG is an error, not a reason to fall back).
        let bitcraps_log_set = (r.get)("BITCRAPS_LOG").is_some_and(|v| !v.to_string_lossy().trim().is_empty());
        b.log_filter = if bitcraps_log_set { r.text("BITCRAPS_LOG") } else { r.text("RUST_LOG") };

        b.otlp.generic = r.signal_settings(&GENERIC_VARS);
        for signal in Signal::ALL {
            let i = signal.index();
            b.otlp.signals[i] = r.signal_settings(&SIGNAL_VARS[i]);
            b.otlp.exporters[i] = r.text(EXPORTER_VARS[i]);
        }
        b.otlp.export_interval = r.text("OTEL_METRIC_EXPORT_INTERVAL");
        b.otlp.export_timeout = r.text("OTEL_METRIC_EXPORT_TIMEOUT");
        b.otlp.temporality = r.text("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE");

        if let Some(list) = r.read("BITCRAPS_LOG_REDACT") {
            b.redacted_fields.extend(list.split(',').map(|n| (n.trim().to_string(), "BITCRAPS_LOG_REDACT")));
        }
        if let Some(id) = r.read("BITCRAPS_NODE_ID") {
            b.labels.push(("node_id".into(), id, "BITCRAPS_NODE_ID"));
        }
        if let Some(region) = r.read("BITCRAPS_REGION") {
            b.labels.push(("region".into(), region, "BITCRAPS_REGION"));
        }
        if let Some(list) = r.read("BITCRAPS_CONSTANT_LABELS") {
            for pair in list.split(',').filter(|p| !p.trim().is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                b.labels.push((k.trim().into(), v.trim().into(), "BITCRAPS_CONSTANT_LABELS"));
            }
        }
        b.errors = r.errors;
        b
    }
}
