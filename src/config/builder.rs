//! [`ConfigBuilder`]: defaults, builder setters, and what they store. Reading the environment
//! is in `env.rs`, validation in `build.rs`.

use super::otlp::{Compression, Exporter, OtlpProtocol, Secret, Signal, TemporalityPreference};
use super::otlp_settings::{OtlpInputs, SignalSettings};
use super::parse::Setting;
use super::ConfigError;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Builder for [`super::Config`]; every setter overrides what [`ConfigBuilder::from_env`] read.
/// Values are stored as given and validated together by [`ConfigBuilder::build`], so every
/// error names the variable or method the value came from.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::config::{Compression, TemporalityPreference};
/// use bitcraps_otel::ConfigBuilder;
///
/// let config = ConfigBuilder::from_env()
///     .service_name("table-7")
///     .prometheus_addr("127.0.0.1:0")
///     .otlp_endpoint("https://collector.example:4317")
///     .otlp_header("x-api-key", "s3cret")
///     .otlp_timeout(Duration::from_secs(5))
///     .otlp_compression(Compression::Zstd)
///     .temporality_preference(TemporalityPreference::Delta)
///     .build()?;
/// assert_eq!(config.otlp().and_then(|o| o.metrics.as_ref()).map(|m| m.timeout), Some(Duration::from_secs(5)));
/// // Secrets never reach Debug output.
/// assert!(!format!("{config:?}").contains("s3cret"));
/// # Ok::<(), bitcraps_otel::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ConfigBuilder {
    /// Problems found while reading the environment (non-UTF-8 values), reported by `build`.
    pub(super) errors: Vec<ConfigError>,
    pub(super) service_name: Option<String>,
    pub(super) service_version: Option<String>,
    pub(super) resource_attributes: Option<Setting<Vec<(String, String)>>>,
    pub(super) labels: Vec<(String, String, &'static str)>,
    pub(super) prometheus_addr: Option<Setting<Option<SocketAddr>>>,
    pub(super) prometheus_host: Option<Setting<IpAddr>>,
    pub(super) prometheus_port: Option<Setting<u16>>,
    pub(super) collection_interval: Option<Setting<Duration>>,
    pub(super) otlp: OtlpInputs,
    pub(super) cardinality_limit: Option<Setting<usize>>,
    pub(super) sdk_disabled: Option<Setting<bool>>,
    pub(super) health_addr: Option<Setting<Option<SocketAddr>>>,
    pub(super) health_cache_ttl: Option<Setting<Duration>>,
    pub(super) health_check_timeout: Option<Setting<Duration>>,
    pub(super) drain_period: Option<Setting<Duration>>,
    pub(super) log_filter: Option<Setting<String>>,
    pub(super) log_format: Option<Setting<super::LogFormat>>,
    pub(super) redacted_fields: Vec<(String, &'static str)>,
    pub(super) install_logging: Option<Setting<bool>>,
    pub(super) server_limits: super::limits::LimitSettings,
    pub(super) exemplar_filter: Option<Setting<super::ExemplarFilter>>,
    /// `(sampler, its field)` and `(argument, its field)` as given.
    pub(super) traces_sampler: Option<Setting<super::TraceSampler>>,
    pub(super) traces_sampler_arg: Option<(String, &'static str)>,
    pub(super) propagators: Option<Setting<Vec<super::Propagator>>>,
}

impl ConfigBuilder {
    /// `service.name` (default `bitcraps-node`, or the one in `OTEL_RESOURCE_ATTRIBUTES`).
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
        self.resource_attributes = Setting::text(attrs, "resource_attributes");
        self
    }
    /// The node id: a constant `node_id` label and the `bitcraps.node.id` resource attribute.
    /// Defaults to the resource's `bitcraps.node.id`, else the host name.
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
    pub(super) fn label(mut self, name: &str, value: String, field: &'static str) -> Self {
        self.labels.retain(|(k, _, _)| k != name);
        self.labels.push((name.to_string(), value, field));
        self
    }
    /// Address of the Prometheus bridge, e.g. `0.0.0.0:9090` or `127.0.0.1:0` (`off` turns it
    /// off). Overrides `OTEL_EXPORTER_PROMETHEUS_HOST`/`_PORT` too.
    pub fn prometheus_addr(mut self, addr: impl Into<String>) -> Self {
        self.prometheus_addr = Setting::text(addr, "prometheus_addr");
        self.prometheus_host = None;
        self.prometheus_port = None;
        self
    }
    /// Turns the Prometheus bridge off.
    pub fn without_prometheus(mut self) -> Self {
        self.prometheus_addr = Setting::value(None, "prometheus_addr");
        self.prometheus_host = None;
        self.prometheus_port = None;
        self
    }
    /// How often system and device readings refresh; also the default OTLP push period.
    pub fn collection_interval(mut self, interval: Duration) -> Self {
        self.collection_interval = Setting::value(interval, "collection_interval");
        self
    }
    /// Maximum attribute sets per instrument before the overflow series takes the rest.
    pub fn cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = Setting::value(limit, "cardinality_limit");
        self
    }
    /// Disables the SDK: instruments become no-ops and nothing is served or exported.
    pub fn sdk_disabled(mut self, disabled: bool) -> Self {
        self.sdk_disabled = Setting::value(disabled, "sdk_disabled");
        self
    }

    /// Enables OTLP export of every signal to `endpoint` (e.g. `http://127.0.0.1:4317`). For
    /// HTTP it is a base URL: `/v1/traces`, `/v1/metrics` and `/v1/logs` are appended.
    pub fn otlp_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.otlp.generic.endpoint = Some((Secret::new(endpoint), "otlp_endpoint"));
        self
    }
    /// OTLP protocol of every signal: `grpc` (default) or `http/protobuf`.
    pub fn otlp_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.otlp.generic.protocol = Setting::value(protocol, "otlp_protocol");
        self
    }
    /// One more header on every OTLP request (gRPC metadata), e.g. an API key.
    pub fn otlp_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.otlp.generic = self.otlp.generic.add_header(name.into(), value.into(), "otlp_header");
        self
    }
    /// Time limit of one OTLP request (default 10 s).
    pub fn otlp_timeout(mut self, timeout: Duration) -> Self {
        self.otlp.generic.timeout = Setting::value(timeout, "otlp_timeout");
        self
    }
    /// Compresses every OTLP request.
    pub fn otlp_compression(mut self, compression: Compression) -> Self {
        self.otlp.generic.compression = Setting::value(Some(compression), "otlp_compression");
        self
    }
    /// A PEM file of CA certificates to trust for `https://` endpoints (besides the system roots).
    pub fn otlp_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.otlp.generic.certificate = Some((path.into(), "otlp_certificate"));
        self
    }
    /// A PEM client certificate chain for mutual TLS (with [`Self::otlp_client_key`]).
    pub fn otlp_client_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.otlp.generic.client_certificate = Some((path.into(), "otlp_client_certificate"));
        self
    }
    /// The PEM private key of the client certificate.
    pub fn otlp_client_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.otlp.generic.client_key = Some((path.into(), "otlp_client_key"));
        self
    }
    /// Settings for one signal that beat the generic ones (`OTEL_EXPORTER_OTLP_METRICS_*`…).
    pub fn otlp_signal(mut self, signal: Signal, f: impl FnOnce(SignalSettings) -> SignalSettings) -> Self {
        let i = signal.index();
        self.otlp.signals[i] = f(std::mem::take(&mut self.otlp.signals[i]));
        self
    }
    /// Where `signal` goes: OTLP (the default when an endpoint is set; with no endpoint, the
    /// specification's `localhost` default), nowhere, or for logs the console only.
    pub fn exporter(mut self, signal: Signal, exporter: Exporter) -> Self {
        self.otlp.exporters[signal.index()] = Setting::value(exporter, "exporter");
        self
    }
    /// OTLP metric push period (default: the collection interval).
    pub fn metric_export_interval(mut self, interval: Duration) -> Self {
        self.otlp.export_interval = Setting::value(interval, "metric_export_interval");
        self
    }
    /// Time limit of one metric export, retries included (default 30 s).
    pub fn metric_export_timeout(mut self, timeout: Duration) -> Self {
        self.otlp.export_timeout = Setting::value(timeout, "metric_export_timeout");
        self
    }
    /// Cumulative (default), delta or low-memory temporality for exported metrics.
    pub fn temporality_preference(mut self, preference: TemporalityPreference) -> Self {
        self.otlp.temporality = Setting::value(preference, "temporality_preference");
        self
    }

    /// Which spans are sampled (default [`super::TraceSampler::ParentBasedAlwaysOn`]); overrides
    /// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
    pub fn traces_sampler(mut self, sampler: super::TraceSampler) -> Self {
        self.traces_sampler = Setting::value(sampler, "traces_sampler");
        self.traces_sampler_arg = None;
        self
    }

    /// The HTTP trace-context formats (default `tracecontext,baggage`; empty turns
    /// propagation off); overrides `OTEL_PROPAGATORS`.
    pub fn propagators(mut self, propagators: impl IntoIterator<Item = super::Propagator>) -> Self {
        self.propagators = Setting::value(propagators.into_iter().collect(), "propagators");
        self
    }

    /// Which histogram recordings keep an exemplar (default [`super::ExemplarFilter::TraceBased`]).
    pub fn exemplar_filter(mut self, filter: super::ExemplarFilter) -> Self {
        self.exemplar_filter = Setting::value(filter, "exemplar_filter");
        self
    }

    /// Log level directives in `RUST_LOG` syntax, e.g. `info,bitcraps_otel::alerting=debug`.
    pub fn log_filter(mut self, directives: impl Into<String>) -> Self {
        self.log_filter = Setting::text(directives, "log_filter");
        self
    }
    /// JSON (default) or human-readable log lines.
    pub fn log_format(mut self, format: super::LogFormat) -> Self {
        self.log_format = Setting::value(format, "log_format");
        self
    }
    /// One more field name whose values are written as `[REDACTED]` and never exported.
    pub fn redact_field(mut self, name: impl Into<String>) -> Self {
        self.redacted_fields.push((name.into(), "redact_field"));
        self
    }
    /// `init` leaves the global `tracing` subscriber alone (for applications with their own).
    pub fn without_logging(mut self) -> Self {
        self.install_logging = Setting::value(false, "install_logging");
        self
    }

    /// Address of `/health` and `/ready` (default `0.0.0.0:8080`).
    pub fn health_addr(mut self, addr: impl Into<String>) -> Self {
        self.health_addr = Setting::text(addr, "health_addr");
        self
    }
    /// Turns the health endpoints off.
    pub fn without_health(mut self) -> Self {
        self.health_addr = Setting::value(None, "health_addr");
        self
    }
    /// How long health check results are reused (default 2 s; zero disables the cache).
    pub fn health_cache_ttl(mut self, ttl: Duration) -> Self {
        self.health_cache_ttl = Setting::value(ttl, "health_cache_ttl");
        self
    }
    /// Default time limit of one health check (default 2 s).
    pub fn health_check_timeout(mut self, timeout: Duration) -> Self {
        self.health_check_timeout = Setting::value(timeout, "health_check_timeout");
        self
    }
    /// Time a client has to send a request's headers to either server (default 10 s).
    pub fn http_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.server_limits.header_read_timeout = Setting::value(timeout, "http_header_read_timeout");
        self
    }
    /// Time a kept-alive connection may wait for its next request (default 60 s).
    pub fn http_idle_timeout(mut self, timeout: Duration) -> Self {
        self.server_limits.idle_timeout = Setting::value(timeout, "http_idle_timeout");
        self
    }
    /// Open connections per server before the longest-idle one is closed (default 1024).
    pub fn http_max_connections(mut self, max: usize) -> Self {
        self.server_limits.max_connections = Setting::value(max, "http_max_connections");
        self
    }
    /// How long to stay up, not ready, after a shutdown signal (default 5 s).
    pub fn drain_period(mut self, period: Duration) -> Self {
        self.drain_period = Setting::value(period, "drain_period");
        self
    }
}
