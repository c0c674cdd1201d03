//! The health of each OTLP exporter (one per signal and endpoint): what the last export did,
//! and the log lines a human needs. The first failure, and every change of cause, is one WARN
//! line naming the signal, the endpoint (no credentials, no query), the cause and the setting
//! to check; repeats are summed up at most once a minute; recovery is one INFO line. The
//! readiness check reads the same state.
//!
//! The registry is process-wide because span and log exporters may belong to logging installed
//! before (and apart from) the [`crate::Telemetry`] guard whose health check reports them.

use crate::config::{Signal, Sources};
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How often a failure that goes on with the same cause is logged again (with a count).
pub const REPEAT_EVERY: Duration = Duration::from_secs(60);

/// Why an export failed, in the terms a human can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Nothing listens at the endpoint.
    Refused,
    /// The host could not be reached or resolved, or the connection broke.
    Unreachable(String),
    /// No answer within the export timeout.
    Timeout(Duration),
    /// The TLS handshake failed (untrusted certificate, client certificate refused…).
    Tls(String),
    /// The collector answered with an HTTP error status; `body` is its first bytes, escaped.
    HttpStatus {
        /// The status code.
        status: u16,
        /// The start of the response body, control characters escaped.
        body: String,
    },
    /// The collector answered with a gRPC error status.
    Grpc {
        /// The status code's name (`Unavailable`, `Unauthenticated`…).
        code: String,
        /// The status message, escaped and cut.
        message: String,
    },
    /// Anything else, described.
    Other(String),
}

impl Cause {
    /// A short key: failures with the same key are "the same cause" for rate limiting.
    pub fn kind(&self) -> String {
        match self {
            Cause::Refused => "refused".into(),
            Cause::Unreachable(_) => "unreachable".into(),
            Cause::Timeout(_) => "timeout".into(),
            Cause::Tls(_) => "tls".into(),
            Cause::HttpStatus { status, .. } => format!("http {status}"),
            Cause::Grpc { code, .. } => format!("grpc {code}"),
            Cause::Other(_) => "other".into(),
        }
    }

    /// The setting (environment variable or builder method) to check for this cause.
    pub fn check(&self, sources: &Sources) -> String {
        let var = |source: &'static str, generic: &str| {
            if source == "default" {
                format!("{generic} (unset: the default is in use)")
            } else {
                source.to_string()
            }
        };
        match self {
            Cause::Refused | Cause::Unreachable(_) => {
                format!(
                    "{} (is the collector running and listening there?)",
                    var(sources.endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT")
                )
            }
            Cause::Timeout(_) => {
                format!("{} and that the collector answers", var(sources.timeout, "OTEL_EXPORTER_OTLP_TIMEOUT"))
            }
            Cause::Tls(_) => format!(
                "{}, {} and whether the endpoint speaks TLS",
                var(sources.certificate, "OTEL_EXPORTER_OTLP_CERTIFICATE"),
                var(sources.client_certificate, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")
            ),
            Cause::HttpStatus { status: 401 | 403, .. } => var(sources.headers, "OTEL_EXPORTER_OTLP_HEADERS"),
            Cause::Grpc { code, .. } if code == "Unauthenticated" || code == "PermissionDenied" => {
                var(sources.headers, "OTEL_EXPORTER_OTLP_HEADERS")
            }
            Cause::HttpStatus { status: 404 | 405, .. } => format!(
                "{} (the path; for HTTP a signal's own endpoint needs /v1/<signal>) and {}",
                var(sources.endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT"),
                var(sources.protocol, "OTEL_EXPORTER_OTLP_PROTOCOL")
            ),
            Cause::HttpStatus { status: 400 | 415, .. } => var(sources.protocol, "OTEL_EXPORTER_OTLP_PROTOCOL"),
            Cause::Grpc { code, .. } if code == "Unimplemented" || code == "Internal" => format!(
                "{} (a gRPC exporter talking to an HTTP port?) and {}",
                var(sources.protocol, "OTEL_EXPORTER_OTLP_PROTOCOL"),
                var(sources.endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT")
            ),
            Cause::HttpStatus { status: 413, .. } => var(sources.compression, "OTEL_EXPORTER_OTLP_COMPRESSION"),
            Cause::HttpStatus { .. } | Cause::Grpc { .. } => "the collector's own logs".into(),
            Cause::Other(_) => format!(
                "{} and {}",
                var(sources.endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT"),
                var(sources.protocol, "OTEL_EXPORTER_OTLP_PROTOCOL")
            ),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Refused => f.write_str("connection refused (nothing listens there)"),
            Cause::Unreachable(why) => write!(f, "cannot reach the collector: {why}"),
            Cause::Timeout(d) => write!(f, "no answer within {}", humantime::format_duration(*d)),
            Cause::Tls(why) => write!(f, "TLS handshake failed: {why}"),
            Cause::HttpStatus { status, body } if body.is_empty() => write!(f, "HTTP status {status}"),
            Cause::HttpStatus { status, body } => write!(f, "HTTP status {status}: {body}"),
            Cause::Grpc { code, message } if message.is_empty() => write!(f, "gRPC status {code}"),
            Cause::Grpc { code, message } => write!(f, "gRPC status {code}: {message}"),
            Cause::Other(why) => f.write_str(why),
        }
    }
}

/// What one call to [`SignalStatus::record`] logs (returned for tests; logged by `record`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// The first failure, or a new cause: WARN.
    Failed {
        /// The cause before this one, when it changed.
        previous: Option<String>,
    },
    /// The same cause for another [`REPEAT_EVERY`]: WARN with the count since the last line.
    StillFailing {
        /// Failed exports since the last line.
        since_last: u64,
    },
    /// Exports work again: INFO with the number of failed ones.
    Recovered {
        /// Failed exports in a row before this success.
        failures: u64,
    },
}

#[derive(Debug)]
struct Failing {
    cause: Cause,
    failures: u64,
    unreported: u64,
    last_report: Instant,
}

#[derive(Debug, Default)]
struct State {
    last: Option<(Instant, Result<(), Cause>)>,
    failing: Option<Failing>,
}

/// The export state of one signal at one endpoint.
#[derive(Debug)]
pub struct SignalStatus {
    signal: Signal,
    endpoint: String,
    sources: Sources,
    state: Mutex<State>,
}

impl SignalStatus {
    /// A status for `signal` exported to `endpoint` (as displayed: no credentials or query).
    pub fn new(signal: Signal, endpoint: String, sources: Sources) -> Self {
        SignalStatus { signal, endpoint, sources, state: Mutex::new(State::default()) }
    }

    /// Which signal.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// The endpoint as logged.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// When the last export ended and how.
    pub fn last(&self) -> Option<(Instant, Result<(), Cause>)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).last.clone()
    }

    /// The cause of the current failure, `None` when the last export succeeded (or none ran).
    pub fn failing(&self) -> Option<Cause> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).failing.as_ref().map(|f| f.cause.clone())
    }

    /// One line describing the current failure with what to check, as the WARN line says it.
    pub fn describe_failure(&self) -> Option<String> {
        self.failing().map(|cause| {
            format!(
                "{} export to {} failing: {cause}; check {}",
                self.signal,
                self.endpoint,
                cause.check(&self.sources)
            )
        })
    }

    /// Records an export's outcome and logs what a human should see.
    pub fn record(&self, result: Result<(), Cause>) {
        if let Some(report) = self.record_at(Instant::now(), result) {
            self.log(&report);
        }
    }

    /// [`Self::record`] at a given instant, returning what to log instead of logging it.
    pub fn record_at(&self, now: Instant, result: Result<(), Cause>) -> Option<Report> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.last = Some((now, result.clone()));
        match (result, state.failing.as_mut()) {
            (Ok(()), None) => None,
            (Ok(()), Some(f)) => {
                let failures = f.failures;
                state.failing = None;
                Some(Report::Recovered { failures })
            }
            (Err(cause), Some(f)) if f.cause.kind() == cause.kind() => {
                f.failures += 1;
                f.unreported += 1;
                f.cause = cause;
                if now.saturating_duration_since(f.last_report) < REPEAT_EVERY {
                    return None;
                }
                let since_last = f.unreported;
                f.unreported = 0;
                f.last_report = now;
                Some(Report::StillFailing { since_last })
            }
            (Err(cause), previous) => {
                let previous = previous.map(|f| f.cause.to_string());
                let failures = state.failing.as_ref().map_or(0, |f| f.failures);
                state.failing = Some(Failing { cause, failures: failures + 1, unreported: 0, last_report: now });
                Some(Report::Failed { previous })
            }
        }
    }

    fn log(&self, report: &Report) {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (signal, endpoint) = (self.signal.as_str(), self.endpoint.as_str());
        match (report, &state.failing) {
            (Report::Failed { previous }, Some(f)) => {
                let check = f.cause.check(&self.sources);
                let cause = f.cause.to_string();
                match previous {
                    None => tracing::warn!(
                        signal,
                        endpoint,
                        %cause,
                        check = %check,
                        "OTLP {signal} export to {endpoint} failed: {cause}; check {check}"
                    ),
                    Some(previous) => tracing::warn!(
                        signal,
                        endpoint,
                        %cause,
                        check = %check,
                        previous_cause = %previous,
                        "OTLP {signal} export to {endpoint} now fails differently: {cause}; check {check}"
                    ),
                }
            }
            (Report::StillFailing { since_last }, Some(f)) => {
                let cause = f.cause.to_string();
                let plural = if *since_last == 1 { "" } else { "s" };
                tracing::warn!(
                    signal,
                    endpoint,
                    %cause,
                    failures = since_last,
                    "OTLP {signal} export to {endpoint} still failing: {cause} ({since_last} more failed export{plural})"
                )
            }
            (Report::Recovered { failures }, _) => {
                let plural = if *failures == 1 { "" } else { "s" };
                tracing::info!(
                    signal,
                    endpoint,
                    failures,
                    "OTLP {signal} export to {endpoint} recovered after {failures} failed export{plural}"
                )
            }
            _ => {}
        }
    }
}

static REGISTRY: Mutex<Vec<Weak<SignalStatus>>> = Mutex::new(Vec::new());

/// The process's exporters and their state.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExportStatus;

impl ExportStatus {
    /// A new status, listed for as long as it lives.
    pub fn register(signal: Signal, endpoint: String, sources: Sources) -> Arc<SignalStatus> {
        let status = Arc::new(SignalStatus::new(signal, endpoint, sources));
        let mut all = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&status));
        status
    }

    /// Every live exporter's status.
    pub fn all() -> Vec<Arc<SignalStatus>> {
        REGISTRY.lock().unwrap_or_else(|e| e.into_inner()).iter().filter_map(Weak::upgrade).collect()
    }

    /// One line per failing exporter, as [`SignalStatus::describe_failure`] words it.
    pub fn failures() -> Vec<String> {
        Self::all().iter().filter_map(|s| s.describe_failure()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Sources {
        Sources {
            endpoint: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            protocol: "default",
            headers: "OTEL_EXPORTER_OTLP_HEADERS",
            timeout: "default",
            compression: "default",
            certificate: "default",
            client_certificate: "default",
        }
    }

    #[test]
    fn first_failure_warns_repeats_are_counted_once_a_minute_and_recovery_is_told() {
        let s = SignalStatus::new(Signal::Metrics, "http://c:4318/v1/metrics".into(), sources());
        let t0 = Instant::now();
        assert_eq!(s.record_at(t0, Ok(())), None);
        assert_eq!(s.record_at(t0, Err(Cause::Refused)), Some(Report::Failed { previous: None }));
        for i in 1..=5 {
            assert_eq!(s.record_at(t0 + Duration::from_secs(i * 10), Err(Cause::Refused)), None, "repeat {i}");
        }
        assert_eq!(
            s.record_at(t0 + Duration::from_secs(60), Err(Cause::Refused)),
            Some(Report::StillFailing { since_last: 6 })
        );
        assert_eq!(
            s.record_at(t0 + Duration::from_secs(61), Err(Cause::Timeout(Duration::from_secs(10)))),
            Some(Report::Failed { previous: Some(Cause::Refused.to_string()) })
        );
        assert!(s.describe_failure().is_some_and(|d| d.contains("no answer within 10s")));
        assert_eq!(s.record_at(t0 + Duration::from_secs(62), Ok(())), Some(Report::Recovered { failures: 8 }));
        assert_eq!(s.failing(), None);
        assert_eq!(
            s.record_at(t0 + Duration::from_secs(63), Err(Cause::Refused)),
            Some(Report::Failed { previous: None })
        );
    }

    #[test]
    fn each_cause_names_the_setting_to_check() {
        let src = sources();
        assert!(Cause::Refused.check(&src).starts_with("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"));
        assert!(Cause::Timeout(Duration::from_secs(1)).check(&src).starts_with("OTEL_EXPORTER_OTLP_TIMEOUT (unset"));
        assert_eq!(Cause::HttpStatus { status: 401, body: String::new() }.check(&src), "OTEL_EXPORTER_OTLP_HEADERS");
        assert!(Cause::HttpStatus { status: 404, body: String::new() }.check(&src).contains("/v1/<signal>"));
        assert!(Cause::Tls("unknown issuer".into()).check(&src).contains("OTEL_EXPORTER_OTLP_CERTIFICATE"));
        assert!(Cause::Grpc { code: "Unimplemented".into(), message: String::new() }
            .check(&src)
            .contains("OTEL_EXPORTER_OTLP_PROTOCOL"));
    }
}
