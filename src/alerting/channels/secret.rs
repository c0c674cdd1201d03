//! [`Secret`]: a string that never shows itself in `Debug`, `Display`, logs or errors.

use std::fmt;

/// A credential or a URL that works as one (a Slack or Teams webhook URL, an integration
/// key, an auth token, a password). `Debug` and `Display` print `[redacted]`; only
/// [`Secret::expose`] gives the value, at the point where it goes on the wire.
///
/// ```
/// use bitcraps_otel::alerting::channels::Secret;
///
/// let key = Secret::new("R0UT1NGKEY");
/// assert_eq!(format!("{key:?} {key}"), "[redacted] [redacted]");
/// assert_eq!(key.expose(), "R0UT1NGKEY");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty (an unset variable, a blank field).
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
