//! How log lines are written and which pass: [`LogFormat`] and the `RUST_LOG`-style filter
//! syntax. They live here, below `logging`, so configuration can validate them without
//! depending on the module that installs the subscriber.

use tracing_subscriber::filter::{EnvFilter, LevelFilter, ParseError};

/// How log lines are written (`BITCRAPS_LOG_FORMAT`).
///
/// ```
/// use bitcraps_otel::config::LogFormat;
/// use bitcraps_otel::Config;
/// assert_eq!(LogFormat::parse("pretty"), Some(LogFormat::Pretty));
/// let config = Config::builder().log_format(LogFormat::Pretty).build()?;
/// assert_eq!(config.log_format(), LogFormat::Pretty);
/// # Ok::<(), bitcraps_otel::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log shippers (`json`, the default).
    #[default]
    Json,
    /// One human-readable line per event, for people (`pretty`): local time, level, spans,
    /// target, message, then `key=value` fields; coloured on a terminal.
    Pretty,
}

impl LogFormat {
    /// Parses `json` or `pretty` (case-insensitive).
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Some(LogFormat::Json),
            "pretty" | "text" => Some(LogFormat::Pretty),
            _ => None,
        }
    }
}

/// Parses `RUST_LOG`-style directives, refusing anything the filter would otherwise ignore.
pub(crate) fn parse_filter(directives: &str) -> Result<EnvFilter, ParseError> {
    EnvFilter::builder().with_default_directive(LevelFilter::INFO.into()).parse(directives)
}
