//! Parsing raw configuration values. Each parser returns the reason a value is wrong; the
//! caller wraps it in a [`ConfigError`] naming the field, so one parser serves every variable
//! and builder method that takes the same kind of value.

use super::otlp::Secret;
use super::ConfigError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// A value as given: text from the environment (or a text builder method), or a typed value
/// from a builder method. Typed values are never turned into text to be parsed again.
#[derive(Clone, Debug)]
pub(super) enum Given<T> {
    Text(String),
    Value(T),
}

/// A given value and the field (variable or builder method) it came from.
#[derive(Clone, Debug)]
pub(super) struct Setting<T> {
    pub(super) given: Given<T>,
    pub(super) field: &'static str,
}

impl<T> Setting<T> {
    pub(super) fn text(value: impl Into<String>, field: &'static str) -> Option<Self> {
        Some(Setting { given: Given::Text(value.into()), field })
    }
    pub(super) fn value(value: T, field: &'static str) -> Option<Self> {
        Some(Setting { given: Given::Value(value), field })
    }
    /// The typed value: parsed from text by `parse`, or as given.
    pub(super) fn resolve(
        self,
        parse: impl FnOnce(&str, &'static str) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        match self.given {
            Given::Text(text) => parse(&text, self.field),
            Given::Value(v) => Ok(v),
        }
    }
}

/// The one boolean syntax: `true` or `false`, any case.
pub(super) fn parse_bool(text: &str, field: &'static str) -> Result<bool, ConfigError> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("true") => Ok(true),
        t if t.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ConfigError::Value { field, value: text.into(), expected: "`true` or `false`" }),
    }
}

/// `off`/`none`/`disabled`, or a socket address.
pub(super) fn parse_optional_addr(text: &str, field: &'static str) -> Result<Option<SocketAddr>, ConfigError> {
    match text.trim() {
        "off" | "none" | "disabled" => Ok(None),
        t => t.parse().map(Some).map_err(|_| ConfigError::Address { field, value: text.into() }),
    }
}

/// A host for a listening address: an IP literal (IPv6 with or without brackets) or `localhost`.
pub(super) fn parse_host(text: &str, field: &'static str) -> Result<IpAddr, ConfigError> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    t.trim_start_matches('[').trim_end_matches(']').parse().map_err(|_| ConfigError::Value {
        field,
        value: text.into(),
        expected: "an IP address or `localhost`",
    })
}

/// A TCP port, 0 (any free port) to 65535.
pub(super) fn parse_port(text: &str, field: &'static str) -> Result<u16, ConfigError> {
    text.trim().parse().map_err(|_| ConfigError::Value {
        field,
        value: text.into(),
        expected: "a port from 0 to 65535",
    })
}

const SHORTEST: Duration = Duration::from_millis(10);
const LONGEST: Duration = Duration::from_secs(86_400);

/// `15s`, `500ms`, `1m`, or a bare number of seconds.
pub(super) fn parse_human_duration(text: &str, field: &'static str) -> Result<Duration, ConfigError> {
    let t = text.trim();
    let parsed = match t.parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(t).map_err(|e| e.to_string()),
    };
    parsed.map_err(|reason| ConfigError::Interval { field, value: text.into(), reason })
}

/// Whole milliseconds, as every `OTEL_*` duration is written.
pub(super) fn parse_millis(text: &str, field: &'static str) -> Result<Duration, ConfigError> {
    text.trim().parse::<u64>().map(Duration::from_millis).map_err(|_| ConfigError::Interval {
        field,
        value: text.into(),
        reason: "expected whole milliseconds, e.g. 10000".into(),
    })
}

/// Between 10 ms and 24 h (zero too when `allow_zero`): the range every interval and timeout
/// of the SDK accepts.
pub(super) fn check_interval(d: Duration, field: &'static str, allow_zero: bool) -> Result<Duration, ConfigError> {
    if (allow_zero && d.is_zero()) || (SHORTEST..=LONGEST).contains(&d) {
        return Ok(d);
    }
    let reason = if allow_zero { "must be 0 or between 10ms and 24h" } else { "must be between 10ms and 24h" };
    Err(ConfigError::Interval { field, value: format!("{}", humantime::format_duration(d)), reason: reason.into() })
}

/// The W3C-baggage-like format of `OTEL_RESOURCE_ATTRIBUTES`, with percent-decoding.
pub(super) fn parse_resource_attributes(text: &str, field: &'static str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(ConfigError::Value { field, value: text.into(), expected: "comma-separated key=value pairs" });
        };
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() {
            return Err(ConfigError::Value { field, value: text.into(), expected: "non-empty keys" });
        }
        out.push((k.to_string(), percent_decode(v)));
    }
    Ok(out)
}

/// `name=value,name2=value2` (`OTEL_EXPORTER_OTLP_HEADERS`), values percent-decoded. Names are
/// lower-cased (gRPC metadata requires it; HTTP does not care). Errors name the entry by its
/// position and never repeat a name or a value: a malformed entry may have the secret anywhere.
pub(super) fn parse_headers(text: &str, field: &'static str) -> Result<Vec<(String, Secret)>, ConfigError> {
    let mut out = Vec::new();
    for (i, pair) in text.split(',').enumerate().filter(|(_, p)| !p.trim().is_empty()) {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(ConfigError::Secret { field, reason: format!("entry {} is not name=value", i + 1) });
        };
        out.push(check_header(name.trim(), &percent_decode(value.trim()), i + 1, field)?);
    }
    Ok(out)
}

/// A header name (an HTTP token) and value (visible ASCII, spaces and tabs); `entry` is the
/// header's position for the error.
pub(super) fn check_header(
    name: &str,
    value: &str,
    entry: usize,
    field: &'static str,
) -> Result<(String, Secret), ConfigError> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(ConfigError::Secret {
            field,
            reason: format!(
                "entry {entry}: the header name is empty or not a valid token (letters, digits and !#$%&'*+-.^_`|~)"
            ),
        });
    }
    if !value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        return Err(ConfigError::Secret {
            field,
            reason: format!("entry {entry}: the value has a character a header cannot carry (control or non-ASCII)"),
        });
    }
    Ok((name.to_ascii_lowercase(), Secret::new(value)))
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

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Checks `RUST_LOG`-style directives word by word and returns them normalized (`warning`
/// becomes `warn`). A bare word must be a level: `tracing`'s own parser would read `warning` or
/// `inf` as a target name and silently drop every line; a target wants `target=level`.
pub(super) fn check_log_filter(text: &str, field: &'static str) -> Result<String, ConfigError> {
    let bad = |reason: String| ConfigError::LogFilter { field, value: text.into(), reason };
    let mut out = Vec::new();
    for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        // The level follows the last `=` outside a span filter `[span{field=value}]`.
        let mut depth = 0usize;
        let mut split = None;
        for (i, c) in directive.char_indices() {
            match c {
                '[' | '{' => depth += 1,
                ']' | '}' => depth = depth.saturating_sub(1),
                '=' if depth == 0 => split = Some(i),
                _ => {}
            }
        }
        let (selector, level) = match split {
            Some(i) => (Some(&directive[..i]), &directive[i + 1..]),
            // A span filter alone (`[span]`) enables every level inside that span.
            None if directive.contains('[') => (Some(directive), ""),
            None => (None, directive),
        };
        let level = match level.trim() {
            "" if split.is_none() => String::new(),
            l if l.eq_ignore_ascii_case("warning") => "warn".into(),
            l if LEVELS.iter().any(|known| l.eq_ignore_ascii_case(known)) => l.to_ascii_lowercase(),
            l if l.len() == 1 && l.as_bytes()[0].is_ascii_digit() && l <= "5" => l.into(),
            l => {
                let hint = match selector {
                    None => "; to select a target, write TARGET=LEVEL",
                    Some(_) => "",
                };
                return Err(bad(format!(
                    "{} is not a level (trace, debug, info, warn, error or off){hint}",
                    super::quote(l)
                )));
            }
        };
        out.push(match (selector, level.is_empty()) {
            (Some(s), true) => s.to_string(),
            (Some(s), false) => format!("{s}={level}"),
            (None, _) => level,
        });
    }
    let normalized = out.join(",");
    super::parse_filter(&normalized).map_err(|e| bad(super::quote(&e.to_string())))?;
    Ok(if normalized.is_empty() { "info".into() } else { normalized })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_keeps_incomplete_escapes() {
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%41%4"), "A%4");
    }
}
