//! [`SignalSettings`] (the OTLP settings of all signals or of one, as given) and their
//! resolution into [`OtlpConfig`]: a signal-specific setting beats the generic one, which beats
//! the specification's default.

use super::otlp::*;
use super::parse::{check_header, check_interval, parse_headers, parse_millis, Setting};
use super::ConfigError;
use base64::Engine as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The variable names of one scope (all signals, or one).
#[derive(Clone, Copy, Debug)]
pub(super) struct Vars {
    pub(super) endpoint: &'static str,
    pub(super) protocol: &'static str,
    pub(super) headers: &'static str,
    pub(super) timeout: &'static str,
    pub(super) compression: &'static str,
    pub(super) certificate: &'static str,
    pub(super) client_certificate: &'static str,
    pub(super) client_key: &'static str,
}

macro_rules! vars {
    ($scope:literal) => {
        Vars {
            endpoint: concat!("OTEL_EXPORTER_OTLP_", $scope, "ENDPOINT"),
            protocol: concat!("OTEL_EXPORTER_OTLP_", $scope, "PROTOCOL"),
            headers: concat!("OTEL_EXPORTER_OTLP_", $scope, "HEADERS"),
            timeout: concat!("OTEL_EXPORTER_OTLP_", $scope, "TIMEOUT"),
            compression: concat!("OTEL_EXPORTER_OTLP_", $scope, "COMPRESSION"),
            certificate: concat!("OTEL_EXPORTER_OTLP_", $scope, "CERTIFICATE"),
            client_certificate: concat!("OTEL_EXPORTER_OTLP_", $scope, "CLIENT_CERTIFICATE"),
            client_key: concat!("OTEL_EXPORTER_OTLP_", $scope, "CLIENT_KEY"),
        }
    };
}

/// The generic `OTEL_EXPORTER_OTLP_*` variables.
pub(super) const GENERIC_VARS: Vars = vars!("");
/// The signal-specific variables, indexed by [`Signal::index`].
pub(super) const SIGNAL_VARS: [Vars; 3] = [vars!("TRACES_"), vars!("METRICS_"), vars!("LOGS_")];
/// `OTEL_{TRACES,METRICS,LOGS}_EXPORTER`.
pub(super) const EXPORTER_VARS: [&str; 3] = ["OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER"];

/// The field names builder methods report for one signal's overrides.
const SIGNAL_FIELDS: Vars = Vars {
    endpoint: "otlp_signal.endpoint",
    protocol: "otlp_signal.protocol",
    headers: "otlp_signal.header",
    timeout: "otlp_signal.timeout",
    compression: "otlp_signal.compression",
    certificate: "otlp_signal.certificate",
    client_certificate: "otlp_signal.client_certificate",
    client_key: "otlp_signal.client_key",
};

/// Headers as given: the variable's text, or pairs from builder calls.
#[derive(Clone, Debug)]
pub(super) enum HeadersGiven {
    Text(Secret),
    Pairs(Vec<(String, Secret)>),
}

/// OTLP settings as given, for all signals ([`super::ConfigBuilder::otlp_endpoint`] and its
/// siblings) or for one ([`super::ConfigBuilder::otlp_signal`]); unset ones fall back.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::config::{Compression, OtlpProtocol, Signal};
/// use bitcraps_otel::Config;
///
/// let config = Config::builder()
///     .otlp_endpoint("http://collector:4317")
///     .otlp_signal(Signal::Metrics, |s| {
///         s.endpoint("https://metrics.example:4318/v1/metrics")
///             .protocol(OtlpProtocol::HttpProtobuf)
///             .header("x-tenant", "dice")
///             .timeout(Duration::from_secs(3))
///             .compression(Compression::Gzip)
///     })
///     .build()?;
/// let otlp = config.otlp().expect("otlp");
/// assert_eq!(otlp.traces.as_ref().map(|t| t.endpoint.as_str()), Some("http://collector:4317"));
/// let metrics = otlp.metrics.as_ref().expect("metrics");
/// assert_eq!(metrics.endpoint, "https://metrics.example:4318/v1/metrics");
/// assert_eq!(metrics.compression, Some(Compression::Gzip));
/// # Ok::<(), bitcraps_otel::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct SignalSettings {
    pub(super) endpoint: Option<(Secret, &'static str)>,
    pub(super) protocol: Option<Setting<OtlpProtocol>>,
    pub(super) headers: Option<(HeadersGiven, &'static str)>,
    pub(super) timeout: Option<Setting<Duration>>,
    pub(super) compression: Option<Setting<Option<Compression>>>,
    pub(super) certificate: Option<(PathBuf, &'static str)>,
    pub(super) client_certificate: Option<(PathBuf, &'static str)>,
    pub(super) client_key: Option<(PathBuf, &'static str)>,
}

impl SignalSettings {
    /// The collector URL for this signal, used as given (for HTTP, include the path, e.g.
    /// `/v1/metrics`). Credentials in it (`https://user:pass@host`) become an
    /// `authorization: Basic` header and never appear in logs.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some((Secret::new(url), SIGNAL_FIELDS.endpoint));
        self
    }
    /// `grpc` or `http/protobuf`.
    pub fn protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.protocol = Setting::value(protocol, SIGNAL_FIELDS.protocol);
        self
    }
    /// One more request header (gRPC metadata); the signal's headers replace the generic ones.
    pub fn header(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.add_header(name.into(), value.into(), SIGNAL_FIELDS.headers)
    }
    /// Time limit of one export request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Setting::value(timeout, SIGNAL_FIELDS.timeout);
        self
    }
    /// Compresses requests.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = Setting::value(Some(compression), SIGNAL_FIELDS.compression);
        self
    }
    /// Sends requests uncompressed, whatever the generic setting says.
    pub fn without_compression(mut self) -> Self {
        self.compression = Setting::value(None, SIGNAL_FIELDS.compression);
        self
    }
    /// A PEM file of CA certificates to trust (besides the system roots).
    pub fn certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.certificate = Some((path.into(), SIGNAL_FIELDS.certificate));
        self
    }
    /// A PEM client certificate chain, for mutual TLS (with [`Self::client_key`]).
    pub fn client_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.client_certificate = Some((path.into(), SIGNAL_FIELDS.client_certificate));
        self
    }
    /// The PEM private key of the client certificate.
    pub fn client_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.client_key = Some((path.into(), SIGNAL_FIELDS.client_key));
        self
    }

    /// Parses every value given, so a bad one is an error even when its signal is not
    /// exported.
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some((url, field)) = &self.endpoint {
            parse_endpoint(url.expose(), field, None)?;
        }
        if let Some(s) = self.protocol.clone() {
            s.resolve(parse_protocol)?;
        }
        match &self.headers {
            Some((HeadersGiven::Text(text), field)) => drop(parse_headers(text.expose(), field)?),
            Some((HeadersGiven::Pairs(pairs), field)) => {
                for (i, (n, v)) in pairs.iter().enumerate() {
                    check_header(n.trim(), v.expose(), i + 1, field)?;
                }
            }
            None => {}
        }
        if let Some(s) = self.timeout.clone() {
            let field = s.field;
            check_interval(s.resolve(parse_millis)?, field, false)?;
        }
        if let Some(s) = self.compression.clone() {
            s.resolve(parse_compression)?;
        }
        for (path, field) in [&self.certificate, &self.client_certificate, &self.client_key].into_iter().flatten() {
            check_pem(path, field)?;
        }
        Ok(())
    }

    pub(super) fn add_header(mut self, name: String, value: String, field: &'static str) -> Self {
        let mut pairs = match self.headers.take() {
            Some((HeadersGiven::Pairs(p), _)) => p,
            _ => Vec::new(),
        };
        pairs.push((name, Secret::new(value)));
        self.headers = Some((HeadersGiven::Pairs(pairs), field));
        self
    }
}

/// Everything the builder collected about OTLP.
#[derive(Clone, Debug, Default)]
pub(super) struct OtlpInputs {
    pub(super) generic: SignalSettings,
    pub(super) signals: [SignalSettings; 3],
    pub(super) exporters: [Option<Setting<Exporter>>; 3],
    pub(super) export_interval: Option<Setting<Duration>>,
    pub(super) export_timeout: Option<Setting<Duration>>,
    pub(super) temporality: Option<Setting<TemporalityPreference>>,
}

impl OtlpInputs {
    /// The OTLP configuration, `None` when no signal is exported over OTLP.
    pub(super) fn resolve(self, collection_interval: Duration) -> Result<Option<OtlpConfig>, ConfigError> {
        self.generic.validate()?;
        for settings in &self.signals {
            settings.validate()?;
        }
        let millis = |s: Option<Setting<Duration>>, default: Duration| match s {
            None => Ok(default),
            Some(s) => {
                let field = s.field;
                check_interval(s.resolve(parse_millis)?, field, false)
            }
        };
        let metric_export_interval = millis(self.export_interval, collection_interval)?;
        let metric_export_timeout = millis(self.export_timeout, DEFAULT_METRIC_EXPORT_TIMEOUT)?;
        let temporality = match self.temporality {
            None => TemporalityPreference::default(),
            Some(s) => s.resolve(parse_temporality)?,
        };
        let mut resolved: [Option<OtlpSignal>; 3] = [None, None, None];
        for signal in Signal::ALL {
            let i = signal.index();
            let (exporter, explicit) = match self.exporters[i].clone() {
                None => (Exporter::Otlp, false),
                Some(s) => {
                    let field = s.field;
                    let e = s.resolve(parse_exporter)?;
                    if e == Exporter::Console && signal != Signal::Logs {
                        return Err(ConfigError::Value {
                            field,
                            value: "console".into(),
                            expected: "`otlp` or `none` (`console` is for logs: the lines on stdout)",
                        });
                    }
                    (e, true)
                }
            };
            if exporter == Exporter::Otlp {
                resolved[i] = resolve_signal(signal, &self.generic, &self.signals[i], explicit)?;
            }
        }
        let [traces, metrics, logs] = resolved;
        if traces.is_none() && metrics.is_none() && logs.is_none() {
            return Ok(None);
        }
        Ok(Some(OtlpConfig { traces, metrics, logs, metric_export_interval, metric_export_timeout, temporality }))
    }
}

fn resolve_signal(
    signal: Signal,
    generic: &SignalSettings,
    specific: &SignalSettings,
    explicit: bool,
) -> Result<Option<OtlpSignal>, ConfigError> {
    let (protocol, protocol_src) = match specific.protocol.clone().or_else(|| generic.protocol.clone()) {
        None => (OtlpProtocol::Grpc, "default"),
        Some(s) => {
            let field = s.field;
            (s.resolve(parse_protocol)?, field)
        }
    };
    let http = protocol == OtlpProtocol::HttpProtobuf;
    // A generic endpoint is a base URL: HTTP appends the signal's path. A signal's own
    // endpoint is used as given.
    let (url, endpoint_src, append) = match (&specific.endpoint, &generic.endpoint) {
        (Some((u, f)), _) => (u.expose().to_string(), *f, false),
        (None, Some((u, f))) => (u.expose().to_string(), *f, http),
        (None, None) if explicit => (protocol.default_endpoint().to_string(), "default", http),
        (None, None) => return Ok(None),
    };
    let path = format!("/v1/{}", signal.as_str());
    let (endpoint, credentials) = parse_endpoint(&url, endpoint_src, append.then_some(path.as_str()))?;

    let (mut headers, headers_src) = match specific.headers.as_ref().or(generic.headers.as_ref()) {
        None => (Vec::new(), "default"),
        Some((HeadersGiven::Text(text), field)) => (parse_headers(text.expose(), field)?, *field),
        Some((HeadersGiven::Pairs(pairs), field)) => {
            let checked = pairs.iter().enumerate().map(|(i, (n, v))| check_header(n.trim(), v.expose(), i + 1, field));
            (checked.collect::<Result<Vec<_>, _>>()?, *field)
        }
    };
    if let Some(basic) = credentials {
        if headers.iter().any(|(n, _)| n == "authorization") {
            return Err(ConfigError::Conflict {
                field: endpoint_src,
                other: headers_src,
                reason: "credentials in the URL and an authorization header: keep one",
            });
        }
        headers.push(("authorization".into(), basic));
    }
    let (timeout, timeout_src) = match specific.timeout.clone().or_else(|| generic.timeout.clone()) {
        None => (DEFAULT_OTLP_TIMEOUT, "default"),
        Some(s) => {
            let field = s.field;
            (check_interval(s.resolve(parse_millis)?, field, false)?, field)
        }
    };
    let (compression, compression_src) = match specific.compression.clone().or_else(|| generic.compression.clone()) {
        None => (None, "default"),
        Some(s) => {
            let field = s.field;
            (s.resolve(parse_compression)?, field)
        }
    };
    let pick =
        |s: &Option<(PathBuf, &'static str)>, g: &Option<(PathBuf, &'static str)>| s.clone().or_else(|| g.clone());
    let certificate = pick(&specific.certificate, &generic.certificate);
    let client_certificate = pick(&specific.client_certificate, &generic.client_certificate);
    let client_key = pick(&specific.client_key, &generic.client_key);
    for (path, field) in [&certificate, &client_certificate, &client_key].into_iter().flatten() {
        check_pem(path, field)?;
    }
    match (&client_certificate, &client_key) {
        (Some((_, field)), None) => {
            return Err(ConfigError::Conflict {
                field,
                other: "OTEL_EXPORTER_OTLP_CLIENT_KEY",
                reason: "a client certificate needs its key",
            })
        }
        (None, Some((_, field))) => {
            return Err(ConfigError::Conflict {
                field,
                other: "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                reason: "a client key needs its certificate",
            })
        }
        _ => {}
    }
    let tls_src = certificate.as_ref().or(client_certificate.as_ref()).map(|(_, f)| *f);
    if let (Some(field), false) = (tls_src, endpoint.starts_with("https://")) {
        return Err(ConfigError::Conflict {
            field,
            other: endpoint_src,
            reason: "TLS files need an https:// endpoint",
        });
    }
    let sources = Sources {
        endpoint: endpoint_src,
        protocol: protocol_src,
        headers: headers_src,
        timeout: timeout_src,
        compression: compression_src,
        certificate: certificate.as_ref().map_or("default", |(_, f)| *f),
        client_certificate: client_certificate.as_ref().map_or("default", |(_, f)| *f),
    };
    let tls = TlsFiles {
        certificate: certificate.map(|(p, _)| p),
        client_certificate: client_certificate.map(|(p, _)| p),
        client_key: client_key.map(|(p, _)| p),
    };
    Ok(Some(OtlpSignal { signal, endpoint, protocol, headers, timeout, compression, tls, sources }))
}

/// Validates an endpoint URL; returns it without credentials (and with `append` added to its
/// path), and the credentials as a Basic `authorization` value.
fn parse_endpoint(
    text: &str,
    field: &'static str,
    append: Option<&str>,
) -> Result<(String, Option<Secret>), ConfigError> {
    // A URL may carry credentials: repeat it only when it cannot.
    let shown = if text.contains('@') {
        "the value (not shown: it may hold credentials)".to_string()
    } else {
        super::quote(text)
    };
    let bad = |why: &str| ConfigError::Secret { field, reason: format!("{shown} {why}") };
    let mut url = url::Url::parse(text.trim()).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad("is not an http:// or https:// URL with a host"));
    }
    if url.fragment().is_some() {
        return Err(bad("has a #fragment, which an endpoint cannot use"));
    }
    let credentials = match (url.username(), url.password()) {
        ("", None) => None,
        (user, password) => {
            let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            let pair = format!("{}:{}", decode(user), password.map(decode).unwrap_or_default());
            Some(Secret::new(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))))
        }
    };
    // Cannot fail on an http(s) URL with a host.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if let Some(path) = append {
        let base = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base}{path}"));
    }
    let mut out = url.to_string();
    if url.path() == "/" && url.query().is_none() {
        out.pop();
    }
    Ok((out, credentials))
}

fn check_pem(path: &Path, field: &'static str) -> Result<(), ConfigError> {
    let err = |reason: String| ConfigError::File { field, path: path.display().to_string(), reason };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(err("not a PEM file (no -----BEGIN line)".into()));
    }
    Ok(())
}

pub(super) fn parse_protocol(text: &str, field: &'static str) -> Result<OtlpProtocol, ConfigError> {
    match text.trim() {
        "grpc" => Ok(OtlpProtocol::Grpc),
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        _ => Err(ConfigError::Value {
            field,
            value: text.into(),
            expected: "`grpc` or `http/protobuf` (`http/json` is not supported)",
        }),
    }
}

fn parse_compression(text: &str, field: &'static str) -> Result<Option<Compression>, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "gzip" => Ok(Some(Compression::Gzip)),
        "zstd" => Ok(Some(Compression::Zstd)),
        "none" | "" => Ok(None),
        _ => Err(ConfigError::Value { field, value: text.into(), expected: "`gzip`, `zstd` or `none`" }),
    }
}

fn parse_temporality(text: &str, field: &'static str) -> Result<TemporalityPreference, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "cumulative" => Ok(TemporalityPreference::Cumulative),
        "delta" => Ok(TemporalityPreference::Delta),
        "lowmemory" => Ok(TemporalityPreference::LowMemory),
        _ => Err(ConfigError::Value { field, value: text.into(), expected: "`cumulative`, `delta` or `lowmemory`" }),
    }
}

/// One exporter name; a list (`otlp,console`) is accepted when it means one thing.
fn parse_exporter(text: &str, field: &'static str) -> Result<Exporter, ConfigError> {
    let mut names: Vec<String> =
        text.split(',').map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()).collect();
    names.sort();
    names.dedup();
    let bad = || ConfigError::Value { field, value: text.into(), expected: "`otlp`, `console` or `none`" };
    match names.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["otlp"] | ["console", "otlp"] if field == EXPORTER_VARS[Signal::Logs.index()] => Ok(Exporter::Otlp),
        ["otlp"] => Ok(Exporter::Otlp),
        ["console"] => Ok(Exporter::Console),
        ["none"] => Ok(Exporter::None),
        _ => Err(bad()),
    }
}
