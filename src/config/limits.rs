//! [`ServerLimits`]: how long the SDK's HTTP servers (the Prometheus bridge and the health
//! endpoints) wait on a client, and how many connections each keeps open.

use super::parse::{check_interval, parse_human_duration, Setting};
use super::ConfigError;
use std::time::Duration;

/// Default time a client has to send a request's headers (`BITCRAPS_HTTP_HEADER_TIMEOUT`).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a keep-alive connection may wait for its next request (`BITCRAPS_HTTP_IDLE_TIMEOUT`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on open connections per server (`BITCRAPS_HTTP_MAX_CONNECTIONS`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
// The largest accepted connection cap.
const MAX_CONNECTIONS_LIMIT: usize = 1_000_000;

/// Limits of each of the SDK's HTTP servers, so that slow or idle clients cannot hold a
/// server (and its file descriptors) hostage.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::config::ServerLimits;
/// use bitcraps_otel::Config;
///
/// let config = Config::builder()
///     .http_header_read_timeout(Duration::from_secs(5))
///     .http_idle_timeout(Duration::from_secs(30))
///     .http_max_connections(64)
///     .build()?;
/// assert_eq!(
///     *config.server_limits(),
///     ServerLimits {
///         header_read_timeout: Duration::from_secs(5),
///         idle_timeout: Duration::from_secs(30),
///         max_connections: 64,
///     }
/// );
/// # Ok::<(), bitcraps_otel::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time a client has to send a whole request head: from the moment a connection is
    /// accepted, or from the first byte of a later request on a kept-alive connection. A
    /// client still sending headers after it is disconnected (slowloris).
    pub header_read_timeout: Duration,
    /// Time a kept-alive connection may sit with no request before the server closes it.
    pub idle_timeout: Duration,
    /// Open connections per server. When a new connection would exceed it, the connection
    /// that has been idle the longest is closed first; connections busy with a request are
    /// never cut. The servers also stay under a quarter of the process's file-descriptor
    /// limit (less 64 kept for everything else), whichever is lower.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// The values a builder collected for [`ServerLimits`].
#[derive(Clone, Debug, Default)]
pub(super) struct LimitSettings {
    pub(super) header_read_timeout: Option<Setting<Duration>>,
    pub(super) idle_timeout: Option<Setting<Duration>>,
    pub(super) max_connections: Option<Setting<usize>>,
}

impl LimitSettings {
    /// Validates the values; each error names its field.
    pub(super) fn build(self) -> Result<ServerLimits, ConfigError> {
        let d = ServerLimits::default();
        let interval = |s: Option<Setting<Duration>>, default: Duration| match s {
            None => Ok(default),
            Some(s) => {
                let field = s.field;
                check_interval(s.resolve(parse_human_duration)?, field, false)
            }
        };
        let header_read_timeout = interval(self.header_read_timeout, d.header_read_timeout)?;
        let idle_timeout = interval(self.idle_timeout, d.idle_timeout)?;
        let max_connections = match self.max_connections {
            None => d.max_connections,
            Some(s) => {
                let field = s.field;
                let bad = |value: String| ConfigError::Value { field, value, expected: "an integer from 1 to 1000000" };
                let n = s.resolve(|t, _| t.trim().parse::<usize>().map_err(|_| bad(t.into())))?;
                if !(1..=MAX_CONNECTIONS_LIMIT).contains(&n) {
                    return Err(bad(n.to_string()));
                }
                n
            }
        };
        Ok(ServerLimits { header_read_timeout, idle_timeout, max_connections })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigBuilder;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> ConfigBuilder {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ConfigBuilder::from_lookup(move |k| map.get(k).cloned())
    }

    #[test]
    fn server_limits_default_when_unset() {
        let c = env(&[]).build().expect("valid");
        assert_eq!(*c.server_limits(), ServerLimits::default());
        assert_eq!(c.server_limits().header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.server_limits().idle_timeout, Duration::from_secs(60));
        assert_eq!(c.server_limits().max_connections, 1024);
    }

    #[test]
    fn server_limits_read_from_the_environment() {
        let c = env(&[
            ("BITCRAPS_HTTP_HEADER_TIMEOUT", "3s"),
            ("BITCRAPS_HTTP_IDLE_TIMEOUT", "2m"),
            ("BITCRAPS_HTTP_MAX_CONNECTIONS", "32"),
        ])
        .build()
        .expect("valid");
        assert_eq!(
            *c.server_limits(),
            ServerLimits {
                header_read_timeout: Duration::from_secs(3),
                idle_timeout: Duration::from_secs(120),
                max_connections: 32
            }
        );
    }

    #[test]
    fn bad_server_limits_name_their_variable() {
        for (var, value) in [
            ("BITCRAPS_HTTP_HEADER_TIMEOUT", "soon"),
            ("BITCRAPS_HTTP_HEADER_TIMEOUT", "0"),
            ("BITCRAPS_HTTP_IDLE_TIMEOUT", "-1s"),
            ("BITCRAPS_HTTP_MAX_CONNECTIONS", "0"),
            ("BITCRAPS_HTTP_MAX_CONNECTIONS", "many"),
            ("BITCRAPS_HTTP_MAX_CONNECTIONS", "1000001"),
        ] {
            let err = env(&[(var, value)]).build().expect_err(value);
            assert!(err.to_string().starts_with(var), "{var}={value}: {err}");
        }
    }

    #[test]
    fn builder_setters_override_the_environment() {
        let c = env(&[("BITCRAPS_HTTP_MAX_CONNECTIONS", "32")])
            .http_max_connections(8)
            .http_idle_timeout(Duration::from_millis(1500))
            .build()
            .expect("valid");
        assert_eq!(c.server_limits().max_connections, 8);
        assert_eq!(c.server_limits().idle_timeout, Duration::from_millis(1500));
    }
}
