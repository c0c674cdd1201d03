//! What the node prints and how: the log format it picks (readable on a terminal, JSON
//! otherwise), the summary interval, and the `--help` text that explains both.

use bitcraps_otel::config::LogFormat;
use std::io::IsTerminal as _;
use std::time::Duration;

/// The part of `--help` after the options: output, incidents, signals.
pub const AFTER_HELP: &str = "\
Output:
  On a terminal the node logs readable, coloured lines, and every 10 s a one-line summary
  (events/s, games, bets, consensus rounds, peers, simulated incidents, firing alerts).
  When stdout is not a terminal (a pipe, a file, a container's log) it logs one JSON object
  per line, for log shippers, and no summary unless --summary asks for one.
  BITCRAPS_LOG_FORMAT=json|pretty forces a format, NO_COLOR=1 turns the colours off, and
  BITCRAPS_LOG (else RUST_LOG) sets levels, e.g. info,bitcraps_otel::alerting=debug.

Simulated incidents:
  The simulator injects consensus forks, security events (invalid signatures) and critical
  errors, so that the alerts have something to fire on. The first of each kind is logged as
  a simulated incident, and alerts on simulated metrics carry the label simulated=\"true\".
  --no-incidents turns the incidents off.

Signals:
  SIGTERM or ctrl-c: /ready turns 503, the node drains for BITCRAPS_DRAIN_PERIOD (5s),
  flushes its exporters and exits 0. A second one exits at once (status 143 or 130),
  skipping the drain and the final flush, and says what that skipped.
  SIGHUP reloads the --alert-rules file; without one it is logged and ignored. The SIGHUP
  of a closed terminal (the node's window went away) stops the node as SIGTERM does.

Every BITCRAPS_* and OTEL_* variable is listed in README.md, section Configuration.";

/// The format to log in when `BITCRAPS_LOG_FORMAT` does not say: readable on a terminal,
/// JSON for everything else. `None` leaves the configuration's choice.
pub fn default_format() -> Option<LogFormat> {
    let asked = std::env::var_os("BITCRAPS_LOG_FORMAT").is_some_and(|v| !v.is_empty());
    (!asked && std::io::stdout().is_terminal()).then_some(LogFormat::Pretty)
}

/// The summary interval: `off`, or a duration of at least one second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Summary {
    /// No summary.
    Off,
    /// One line every this long.
    Every(Duration),
}

/// Parses `--summary`: `off`, or a duration such as `10s` or `1m`.
pub fn parse_summary(text: &str) -> Result<Summary, String> {
    match text.trim() {
        "off" | "none" | "0" => Ok(Summary::Off),
        t => match humantime::parse_duration(t) {
            Ok(d) if d >= Duration::from_secs(1) => Ok(Summary::Every(d)),
            Ok(_) => Err("the interval must be at least 1s".into()),
            Err(e) => Err(format!("expected `off` or a duration such as `10s`: {e}")),
        },
    }
}

/// The summary interval in force: the one asked for, else 10 s for people and none in JSON.
pub fn summary_interval(asked: Option<Summary>, format: LogFormat) -> Option<Duration> {
    match (asked, format) {
        (Some(Summary::Off), _) | (None, LogFormat::Json) => None,
        (Some(Summary::Every(d)), _) => Some(d),
        (None, LogFormat::Pretty) => Some(Duration::from_secs(10)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_on_for_people_and_off_in_json_unless_asked() {
        let ten = Some(Duration::from_secs(10));
        assert_eq!(summary_interval(None, LogFormat::Pretty), ten);
        assert_eq!(summary_interval(None, LogFormat::Json), None);
        let asked = parse_summary("10s").expect("valid");
        assert_eq!(summary_interval(Some(asked), LogFormat::Json), ten);
        assert_eq!(summary_interval(Some(parse_summary("off").expect("valid")), LogFormat::Pretty), None);
    }

    #[test]
    fn summary_interval_rejects_garbage_and_sub_second_values() {
        for bad in ["soon", "500ms", "-1s", ""] {
            assert!(parse_summary(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_summary(" 1m "), Ok(Summary::Every(Duration::from_secs(60))));
    }
}
