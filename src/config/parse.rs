//! Parsing and validating raw configuration values; every error names its field.

use super::ConfigError;
use std::net::SocketAddr;
use std::time::Duration;

/// A raw value and the field it came from, validated in [`ConfigBuilder::build`] so that
/// errors name the builder method or environment variable the user actually touched.
#[derive(Clone, Debug)]
pub(super) struct Raw {
    pub(super) value: String,
    pub(super) field: &'static str,
}

pub(super) fn raw(value: impl Into<String>, field: &'static str) -> Option<Raw> {
    Some(Raw { value: value.into(), field })
}

/// `off`/`none`/`disabled`, or a socket address; `default` when unset.
pub(super) fn optional_addr(r: Option<Raw>, default: Option<SocketAddr>) -> Result<Option<SocketAddr>, ConfigError> {
    match r {
        None => Ok(default),
        Some(r) if matches!(r.value.trim(), "off" | "none" | "disabled") => Ok(None),
        Some(r) => {
            r.value.trim().parse().map(Some).map_err(|_| ConfigError::Address { field: r.field, value: r.value })
        }
    }
}

/// Like [`parse_interval`], but zero is allowed (no caching, no drain).
pub(super) fn parse_interval_allowing_zero(r: &Raw) -> Result<Duration, ConfigError> {
    match r.value.trim() {
        "0" | "0s" | "0ms" => Ok(Duration::ZERO),
        _ => parse_interval(r),
    }
}

/// `15s`, `500ms`, `1m`, or a bare number of seconds; between 10 ms and 1 day.
pub(super) fn parse_interval(r: &Raw) -> Result<Duration, ConfigError> {
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
pub(super) fn parse_resource_attributes(r: &Raw) -> Result<Vec<(String, String)>, ConfigError> {
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
