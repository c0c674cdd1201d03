//! Wall-clock time for what the alert engine shows people and other systems (silence windows,
//! `startsAt`/`endsAt`): derived from tokio's clock through one anchor taken at first use, so
//! tests on tokio's paused clock move both together; and RFC 3339 text in and out.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

static ANCHOR: OnceLock<(std::time::Instant, SystemTime)> = OnceLock::new();

fn anchor() -> (std::time::Instant, SystemTime) {
    *ANCHOR.get_or_init(|| (std::time::Instant::now(), SystemTime::now()))
}

/// The wall-clock time of `at` (a tokio instant, paused or not).
pub(crate) fn wall(at: Instant) -> SystemTime {
    let (base, wall) = anchor();
    let at = at.into_std();
    if at >= base {
        wall.checked_add(at - base).unwrap_or(wall)
    } else {
        wall.checked_sub(base - at).unwrap_or(UNIX_EPOCH)
    }
}

/// The wall-clock time now, by tokio's clock.
pub(crate) fn now() -> SystemTime {
    wall(Instant::now())
}

/// `2024-05-01T12:00:00.000Z`: what Alertmanager's API writes.
pub(crate) fn format(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an RFC 3339 date-time (e.g. 2024-05-01T12:00:00Z)")]
pub struct TimeError(pub String);

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    // Howard Hinnant's algorithm: days since 1970-01-01 of a proleptic Gregorian date.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Parses RFC 3339 (`T` or space, any fraction, `Z` or `±hh:mm`).
pub(crate) fn parse(text: &str) -> Result<SystemTime, TimeError> {
    let err = || TimeError(super::matcher::quoted_excerpt(text));
    let s = text.trim().as_bytes();
    let digits = |from: usize, n: usize| -> Result<u32, TimeError> {
        let part = s.get(from..from + n).ok_or_else(err)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(err());
        }
        part.iter().try_fold(0u32, |acc, b| Ok(acc * 10 + u32::from(b - b'0')))
    };
    let sep = |at: usize, allowed: &[u8]| s.get(at).is_some_and(|c| allowed.contains(c));
    let year = i64::from(digits(0, 4)?);
    let (month, day) = (digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return Err(err());
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(err());
    }
    // 60 is a leap second; counted as the next second's start, like most parsers.
    if hour > 23 || minute > 59 || second > 60 {
        return Err(err());
    }
    let mut i = 19;
    let mut nanos: u64 = 0;
    if s.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 9 {
                nanos = nanos * 10 + u64::from(s[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return Err(err());
        }
        for _ in (i - start)..9 {
            nanos *= 10;
        }
    }
    let offset: i64 = match s.get(i) {
        Some(b'Z' | b'z') if i + 1 == s.len() => 0,
        Some(&c @ (b'+' | b'-')) if i + 6 == s.len() && sep(i + 3, b":") => {
            let (h, m) = (digits(i + 1, 2)?, digits(i + 4, 2)?);
            if h > 23 || m > 59 {
                return Err(err());
            }
            let off = i64::from(h * 3600 + m * 60);
            if c == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return Err(err()),
    };
    let secs = days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset;
    let at = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(secs.unsigned_abs(), nanos as u32))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(secs.unsigned_abs()))
            .and_then(|t| t.checked_add(Duration::from_nanos(nanos)))
    };
    at.ok_or_else(err)
}

/// Serde helpers for `SystemTime` as RFC 3339 text.
pub(crate) mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::SystemTime;

    pub(crate) fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*t))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_fractions_and_rejects_nonsense() {
        let z = parse("2024-02-29T12:00:00Z").expect("leap day");
        assert_eq!(z.duration_since(UNIX_EPOCH).expect("after epoch").as_secs(), 1_709_208_000);
        assert_eq!(parse("2024-02-29T14:30:00+02:30").expect("offset"), z);
        assert_eq!(parse("2024-02-29 11:00:00-01:00").expect("space"), z);
        // The widest offsets a clock can carry, and one past them.
        assert_eq!(parse("2024-03-01T11:59:00+23:59").expect("largest offset"), z);
        assert_eq!(parse("2024-02-28T12:01:00-23:59").expect("smallest offset"), z);
        assert!(parse("2024-03-01T12:00:00+24:00").is_err(), "an offset of 24 h");
        assert!(parse("2024-02-29T12:00:00+00:60").is_err(), "60 minutes");
        let frac = parse("2024-02-29T12:00:00.123456789123Z").expect("fraction");
        assert_eq!(frac.duration_since(z).expect("later"), Duration::from_nanos(123_456_789));
        assert_eq!(format(frac), "2024-02-29T12:00:00.123Z");
        assert_eq!(parse(&format(z)).expect("round trip"), z);
        for bad in [
            "",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0100",
            "2024-01-01T00:00:00Zjunk",
            "٢٠٢٤-01-01T00:00:00Z",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("1969-12-31T23:59:59Z").expect("before epoch") < UNIX_EPOCH);
    }

    #[test]
    fn the_wall_clock_follows_tokio_time() {
        let a = Instant::now();
        assert_eq!(wall(a + Duration::from_secs(90)).duration_since(wall(a)).expect("later"), Duration::from_secs(90));
    }
}
