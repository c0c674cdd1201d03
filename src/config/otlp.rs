//! The OTLP part of the configuration: for each signal, whether it is exported and where and
//! how (endpoint, protocol, headers, timeout, compression, TLS files), resolved from the
//! generic `OTEL_EXPORTER_OTLP_*` settings and their signal-specific overrides.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// One of the three OpenTelemetry signals.
///
/// ```
/// use bitcraps_otel::config::{Exporter, Signal};
/// use bitcraps_otel::Config;
/// // Spans and metrics to the collector, log records not.
/// let config = Config::builder()
///     .otlp_endpoint("http://127.0.0.1:4317")
///     .exporter(Signal::Logs, Exporter::None)
///     .build()?;
/// let otlp = config.otlp().expect("OTLP is on");
/// assert!(otlp.signal(Signal::Traces).is_some() && otlp.signal(Signal::Logs).is_none());
/// assert_eq!(Signal::Metrics.as_str(), "metrics");
/// # Ok::<(), bitcraps_otel::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metric points.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// The three signals, in the order of their variables' documentation.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// `traces`, `metrics` or `logs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Wire protocol of an OTLP exporter (`OTEL_EXPORTER_OTLP_PROTOCOL`).
///
/// ```
/// use bitcraps_otel::config::{OtlpProtocol, Signal};
/// use bitcraps_otel::Config;
/// let config = Config::builder()
///     .otlp_endpoint("http://127.0.0.1:4318")
///     .otlp_protocol(OtlpProtocol::HttpProtobuf)
///     .build()?;
/// let metrics = config.otlp().and_then(|o| o.signal(Signal::Metrics)).expect("metrics over OTLP");
/// // Over HTTP the generic endpoint is a base: the signal's path is appended.
/// assert_eq!(metrics.endpoint, "http://127.0.0.1:4318/v1/metrics");
/// assert_eq!(OtlpProtocol::Grpc.default_endpoint(), "http://localhost:4317");
/// # Ok::<(), bitcraps_otel::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (`grpc`), default port 4317.
    Grpc,
    /// OTLP over HTTP with protobuf bodies (`http/protobuf`), default port 4318.
    HttpProtobuf,
}

impl OtlpProtocol {
    /// The name the environment variable uses.
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
        }
    }

    /// The specification's default endpoint for this protocol (on localhost).
    pub fn default_endpoint(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "http://localhost:4317",
            OtlpProtocol::HttpProtobuf => "http://localhost:4318",
        }
    }
}

/// Compression of export requests (`OTEL_EXPORTER_OTLP_COMPRESSION`).
///
/// ```
/// use bitcraps_otel::config::{Compression, Signal};
/// use bitcraps_otel::Config;
/// let config = Config::builder().otlp_endpoint("http://127.0.0.1:4317").otlp_compression(Compression::Gzip).build()?;
/// let traces = config.otlp().and_then(|o| o.signal(Signal::Traces)).expect("traces over OTLP");
/// assert_eq!(traces.compression, Some(Compression::Gzip));
/// # Ok::<(), bitcraps_otel::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// `gzip`.
    Gzip,
    /// `zstd`.
    Zstd,
}

impl Compression {
    /// The name the environment variable and `Content-Encoding` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// Which temporality metric exports prefer
/// (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
///
/// ```
/// use bitcraps_otel::config::TemporalityPreference;
/// use bitcraps_otel::Config;
/// let config = Config::builder()
///     .otlp_endpoint("http://127.0.0.1:4317")
///     .temporality_preference(TemporalityPreference::Delta)
///     .build()?;
/// assert_eq!(config.otlp().map(|o| o.temporality), Some(TemporalityPreference::Delta));
/// # Ok::<(), bitcraps_otel::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TemporalityPreference {
    /// Every point counts from the start (the default).
    #[default]
    Cumulative,
    /// Counters and histograms report what changed since the last export; up-down counters
    /// stay cumulative.
    Delta,
    /// Delta for synchronous counters and histograms, cumulative for the rest.
    LowMemory,
}

impl TemporalityPreference {
    /// The name the environment variable uses.
    pub fn as_str(self) -> &'static str {
        match self {
            TemporalityPreference::Cumulative => "cumulative",
            TemporalityPreference::Delta => "delta",
            TemporalityPreference::LowMemory => "lowmemory",
        }
    }
}

/// Where a signal goes (`OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER`, `OTEL_LOGS_EXPORTER`).
///
/// ```
/// use bitcraps_otel::config::{Exporter, Signal};
/// use bitcraps_otel::Config;
/// // No endpoint, yet traces asked for over OTLP: the specification's default endpoint.
/// let config = Config::builder().exporter(Signal::Traces, Exporter::Otlp).build()?;
/// let traces = config.otlp().and_then(|o| o.signal(Signal::Traces)).expect("traces over OTLP");
/// assert!(traces.endpoint.starts_with("http://localhost:4317"));
/// # Ok::<(), bitcraps_otel::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exporter {
    /// To the OTLP endpoint (the default when one is configured).
    Otlp,
    /// For logs only: the lines on stdout, which are always written; nothing is exported.
    Console,
    /// Nowhere.
    None,
}

/// A value kept out of `Debug` output and log lines (header values, credentials).
///
/// ```
/// use bitcraps_otel::config::Secret;
/// let key = Secret::new("s3cret");
/// assert_eq!(format!("{key:?}"), "[REDACTED]");
/// assert_eq!(key.expose(), "s3cret");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value itself, for the exporter that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// PEM files for TLS: a CA to trust, and a client certificate and key for mutual TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificate(s) the collector's certificate must chain to, in addition to the system
    /// roots (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub certificate: Option<PathBuf>,
    /// Client certificate chain (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`).
    pub client_certificate: Option<PathBuf>,
    /// Client private key (`OTEL_EXPORTER_OTLP_CLIENT_KEY`).
    pub client_key: Option<PathBuf>,
}

/// Which variable or builder method each effective setting of a signal came from, so an
/// export failure can name what to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sources {
    /// Of the endpoint (`default` when the specification's default is used).
    pub endpoint: &'static str,
    /// Of the protocol.
    pub protocol: &'static str,
    /// Of the headers.
    pub headers: &'static str,
    /// Of the timeout.
    pub timeout: &'static str,
    /// Of the compression.
    pub compression: &'static str,
    /// Of the CA certificate.
    pub certificate: &'static str,
    /// Of the client certificate and key.
    pub client_certificate: &'static str,
}

/// Everything an exporter of one signal needs. Its `Debug` output shows the endpoint as log
/// lines do (no query string) and no header value.
#[derive(Clone, PartialEq, Eq)]
pub struct OtlpSignal {
    /// Which signal.
    pub signal: Signal,
    /// The URL requests go to, without credentials (those became an `authorization` header).
    /// For HTTP it includes the signal's path (`/v1/metrics`).
    pub endpoint: String,
    /// Wire protocol.
    pub protocol: OtlpProtocol,
    /// Extra request headers (gRPC metadata), names lower-case.
    pub headers: Vec<(String, Secret)>,
    /// Time limit of one export request (default 10 s).
    pub timeout: Duration,
    /// Request compression, `None` for none.
    pub compression: Option<Compression>,
    /// TLS files; the system roots are always trusted too.
    pub tls: TlsFiles,
    /// Where each setting came from.
    pub sources: Sources,
}

impl fmt::Debug for OtlpSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpSignal")
            .field("signal", &self.signal)
            .field("endpoint", &self.endpoint_for_display())
            .field("protocol", &self.protocol)
            .field("headers", &self.headers)
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("tls", &self.tls)
            .field("sources", &self.sources)
            .finish()
    }
}

impl OtlpSignal {
    /// The endpoint as log lines show it: no query string.
    pub fn endpoint_for_display(&self) -> String {
        super::shown_url::display_url(&self.endpoint)
    }
}

/// The OTLP export settings. Present in [`super::Config`] when at least one signal is
/// exported over OTLP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtlpConfig {
    /// Spans, unless `OTEL_TRACES_EXPORTER=none` or no endpoint covers them.
    pub traces: Option<OtlpSignal>,
    /// Metrics, unless `OTEL_METRICS_EXPORTER=none` or no endpoint covers them.
    pub metrics: Option<OtlpSignal>,
    /// Log records, unless `OTEL_LOGS_EXPORTER` is `none`/`console` or no endpoint covers them.
    pub logs: Option<OtlpSignal>,
    /// Period of the metric push (`OTEL_METRIC_EXPORT_INTERVAL`; default: the collection
    /// interval).
    pub metric_export_interval: Duration,
    /// Time limit of one metric export, retries included (`OTEL_METRIC_EXPORT_TIMEOUT`,
    /// default 30 s).
    pub metric_export_timeout: Duration,
    /// Cumulative (default), delta or low-memory metric temporality.
    pub temporality: TemporalityPreference,
}

impl OtlpConfig {
    /// The settings of `signal`, when it is exported over OTLP.
    pub fn signal(&self, signal: Signal) -> Option<&OtlpSignal> {
        match signal {
            Signal::Traces => self.traces.as_ref(),
            Signal::Metrics => self.metrics.as_ref(),
            Signal::Logs => self.logs.as_ref(),
        }
    }
}

/// Default time limit of one OTLP request.
pub const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time limit of one metric export.
pub const DEFAULT_METRIC_EXPORT_TIMEOUT: Duration = Duration::from_secs(30);
