//! [`ConfigError`], which names the setting at fault, and [`quote`], which every message that
//! repeats a value goes through (control characters escaped, long values cut).

/// Longest part of a value a message repeats, in characters.
pub const QUOTE_LIMIT: usize = 64;

/// `value` as messages show it: between backticks, control characters escaped (`\n`, `\u{1b}`),
/// and cut after [`QUOTE_LIMIT`] characters with the number left out.
///
/// ```
/// use bitcraps_otel::config::quote;
/// assert_eq!(quote("warn\n\u{1b}[31m"), "`warn\\n\\u{1b}[31m`");
/// assert!(quote(&"x".repeat(500)).ends_with("…` (436 more characters)"));
/// ```
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(QUOTE_LIMIT * 2) + 2);
    out.push('`');
    let mut chars = value.chars();
    for c in chars.by_ref().take(QUOTE_LIMIT) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    let rest = chars.count();
    if rest > 0 {
        out.push_str(&format!("…` ({rest} more characters)"));
    } else {
        out.push('`');
    }
    out
}

/// Invalid configuration. Every variant names the field (builder method or environment
/// variable) the bad value came from; values are repeated only through [`quote`], and values
/// that may be secret (headers, URLs with credentials) are never repeated.
///
/// ```
/// use std::collections::HashMap;
/// use bitcraps_otel::{ConfigBuilder, ConfigError};
///
/// let env = HashMap::from([("BITCRAPS_COLLECTION_INTERVAL", "soon")]);
/// let err = ConfigBuilder::from_lookup(|k| env.get(k).map(|v| v.to_string())).build().unwrap_err();
/// assert_eq!(err.field(), "BITCRAPS_COLLECTION_INTERVAL");
/// assert!(matches!(err, ConfigError::Interval { .. }));
/// assert!(err.to_string().starts_with("BITCRAPS_COLLECTION_INTERVAL: "));
/// ```
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A socket address did not parse.
    #[error("{field}: {} is not a socket address (expected host:port, e.g. 0.0.0.0:9090)", quote(.value))]
    Address {
        /// Field or environment variable.
        field: &'static str,
        /// The rejected value.
        value: String,
    },
    /// A duration did not parse or is out of range.
    #[error("{field}: {} is not a valid interval: {reason}", quote(.value))]
    Interval {
        /// Field or environment variable.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A label name is not a valid Prometheus label name.
    #[error("{field}: {} is not a valid label name (must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __)", quote(.name))]
    LabelName {
        /// Field or environment variable.
        field: &'static str,
        /// The rejected name.
        name: String,
    },
    /// A log level directive did not parse (`RUST_LOG` syntax, e.g. `info,bitcraps_otel=debug`).
    #[error("{field}: {} is not a valid log filter: {reason}", quote(.value))]
    LogFilter {
        /// Field or environment variable.
        field: &'static str,
        /// The rejected directives.
        value: String,
        /// What is wrong with them.
        reason: String,
    },
    /// Any other value outside what the field accepts.
    #[error("{field}: {} is invalid: expected {expected}", quote(.value))]
    Value {
        /// Field or environment variable.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// What the field accepts.
        expected: &'static str,
    },
    /// An environment variable holds bytes that are not UTF-8. Nothing falls back to a
    /// default: a mangled `BITCRAPS_PROMETHEUS_ADDR` must not become `0.0.0.0:9090`.
    #[error("{field}: the value is not valid UTF-8")]
    NotUnicode {
        /// The environment variable.
        field: &'static str,
    },
    /// A value that may carry a secret (a header, a URL with credentials) is invalid; the
    /// message says what is wrong without repeating it.
    #[error("{field}: {reason}")]
    Secret {
        /// Field or environment variable.
        field: &'static str,
        /// What is wrong, without the value.
        reason: String,
    },
    /// A file a setting names (a certificate or key) cannot be used.
    #[error("{field}: cannot use {}: {reason}", quote(.path))]
    File {
        /// Field or environment variable.
        field: &'static str,
        /// The path as given.
        path: String,
        /// Why (not found, unreadable, not PEM).
        reason: String,
    },
    /// Two settings that must agree do not.
    #[error("{field} conflicts with {other}: {reason}")]
    Conflict {
        /// The setting read second.
        field: &'static str,
        /// The setting it conflicts with.
        other: &'static str,
        /// How to resolve it.
        reason: &'static str,
    },
}

impl ConfigError {
    /// The builder method or environment variable at fault.
    pub fn field(&self) -> &'static str {
        match self {
            ConfigError::Address { field, .. }
            | ConfigError::Interval { field, .. }
            | ConfigError::LabelName { field, .. }
            | ConfigError::LogFilter { field, .. }
            | ConfigError::Value { field, .. }
            | ConfigError::NotUnicode { field }
            | ConfigError::Secret { field, .. }
            | ConfigError::File { field, .. }
            | ConfigError::Conflict { field, .. } => field,
        }
    }
}
