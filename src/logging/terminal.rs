//! Styling of the human-readable line for a terminal: whether to colour it, the ANSI codes,
//! and the local time of day.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::time::SystemTime;
use tracing::Level;

/// Dim (faint) text: timestamps, targets, field names.
pub(crate) const DIM: &str = "\x1b[2m";
/// Back to the terminal's default style.
pub(crate) const RESET: &str = "\x1b[0m";

/// Whether lines written to stdout should be coloured: stdout is a terminal, `NO_COLOR` is
/// unset or empty (<https://no-color.org>), and `TERM` is not `dumb`.
pub fn stdout_wants_colour() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    !no_color && !dumb && std::io::stdout().is_terminal()
}

/// The colour of a level's name: errors red, warnings yellow, info green, debug blue, trace
/// magenta.
pub(crate) fn level_colour(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "\x1b[1;31m",
        Level::WARN => "\x1b[1;33m",
        Level::INFO => "\x1b[32m",
        Level::DEBUG => "\x1b[34m",
        Level::TRACE => "\x1b[35m",
    }
}

/// Appends `now` as the local time of day, `HH:MM:SS.mmm` (UTC where the local offset is
/// unknown): a terminal reader knows the date and thinks in local time.
pub(crate) fn push_time_of_day(out: &mut String, now: SystemTime) {
    let since_epoch = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let millis = since_epoch.subsec_millis();
    let secs = since_epoch.as_secs();
    let (h, m, s) = local_hms(secs).unwrap_or(((secs / 3600) % 24, (secs / 60) % 60, secs % 60));
    let _ = write!(out, "{h:02}:{m:02}:{s:02}.{millis:03}");
}

#[cfg(unix)]
fn local_hms(secs: u64) -> Option<(u64, u64, u64)> {
    let t = libc::time_t::try_from(secs).ok()?;
    // SAFETY: `tm` is plain data; localtime_r writes it and keeps no reference to either.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals; localtime_r is the thread-safe variant.
    let filled = unsafe { libc::localtime_r(&t, &mut tm) };
    if filled.is_null() {
        return None;
    }
    let part = |v: libc::c_int| u64::try_from(v).ok();
    Some((part(tm.tm_hour)?, part(tm.tm_min)?, part(tm.tm_sec)?))
}

#[cfg(not(unix))]
fn local_hms(_secs: u64) -> Option<(u64, u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn time_of_day_is_zero_padded_with_milliseconds() {
        let mut s = String::new();
        push_time_of_day(&mut s, SystemTime::UNIX_EPOCH + Duration::from_millis(3_723_004));
        // 01:02:03.004 UTC, shifted by whole minutes or hours in other zones.
        assert_eq!(s.len(), "HH:MM:SS.mmm".len(), "{s}");
        assert!(s.ends_with(":03.004"), "{s}");
        assert!(s.chars().enumerate().all(|(i, c)| if [2, 5].contains(&i) {
            c == ':'
        } else {
            i == 8 || c.is_ascii_digit()
        }));
    }
}
