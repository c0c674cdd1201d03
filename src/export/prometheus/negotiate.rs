//! Content negotiation for `/metrics`: which format (`Accept`) and whether to gzip
//! (`Accept-Encoding`). Anything unparsable or unknown falls back to the classic text,
//! uncompressed: a scrape is never refused for its headers.

use crate::semconv::ExpositionFormat;

/// One media range of an `Accept` header and its weight.
struct Range<'a> {
    media: &'a str,
    params: Vec<(&'a str, &'a str)>,
    q: f32,
}

fn ranges(header: &str) -> impl Iterator<Item = Range<'_>> {
    header.split(',').filter_map(|item| {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().filter(|m| !m.is_empty())?;
        let mut q = 1.0;
        let mut params = Vec::new();
        for p in parts {
            let (k, v) = p.split_once('=').map_or((p, ""), |(k, v)| (k.trim(), v.trim().trim_matches('"')));
            if k.eq_ignore_ascii_case("q") {
                // An unreadable weight makes the range worthless rather than preferred.
                q = v.parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q)).unwrap_or(0.0);
            } else {
                params.push((k, v));
            }
        }
        Some(Range { media, params, q })
    })
}

/// What a range offers: a format, and whether it named it (beats a wildcard at equal weight).
fn offer(range: &Range<'_>) -> Option<(ExpositionFormat, bool)> {
    let version = range.params.iter().find(|(k, _)| k.eq_ignore_ascii_case("version")).map(|(_, v)| *v);
    let media = range.media;
    if media.eq_ignore_ascii_case("application/openmetrics-text") {
        // 1.0.0 is what we write; 0.0.1 is its draft, which Prometheus asks for as a second choice.
        return matches!(version, None | Some("1.0.0") | Some("0.0.1"))
            .then_some((ExpositionFormat::Openmetrics, true));
    }
    if media.eq_ignore_ascii_case("text/plain") {
        return Some((ExpositionFormat::Text, true));
    }
    if media == "*/*" || media.eq_ignore_ascii_case("text/*") {
        return Some((ExpositionFormat::Text, false));
    }
    None
}

/// The format to answer an `Accept` header with: the acceptable offer of highest weight; at
/// equal weight a named type beats a wildcard, then the first listed wins.
pub(crate) fn format(accept: Option<&str>) -> ExpositionFormat {
    let Some(accept) = accept else { return ExpositionFormat::Text };
    let mut best: Option<(f32, bool, ExpositionFormat)> = None;
    for range in ranges(accept) {
        let Some((format, named)) = offer(&range) else { continue };
        if range.q <= 0.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((q, was_named, _)) => range.q > q || (range.q == q && named && !was_named),
        };
        if better {
            best = Some((range.q, named, format));
        }
    }
    best.map_or(ExpositionFormat::Text, |(_, _, f)| f)
}

/// Whether an `Accept-Encoding` header accepts gzip (`gzip`, `x-gzip` or `*` with a weight
/// above zero, unless gzip itself is refused).
pub(crate) fn gzip(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else { return false };
    let mut named = None;
    let mut wildcard = None;
    for range in ranges(header) {
        if range.media.eq_ignore_ascii_case("gzip") || range.media.eq_ignore_ascii_case("x-gzip") {
            named = Some(range.q > 0.0);
        } else if range.media == "*" {
            wildcard = Some(range.q > 0.0);
        }
    }
    named.or(wildcard).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExpositionFormat::{Openmetrics, Text};

    #[test]
    fn prometheus_asks_for_openmetrics_first_and_gets_it() {
        // What Prometheus 2.42 sends.
        let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(format(Some(accept)), Openmetrics);
        assert_eq!(format(Some("application/openmetrics-text")), Openmetrics);
        assert_eq!(
            format(Some("text/plain;q=0.2, application/openmetrics-text; version=\"1.0.0\"; q=0.9")),
            Openmetrics
        );
    }

    #[test]
    fn everything_else_falls_back_to_the_classic_text() {
        for accept in [
            None,
            Some(""),
            Some("*/*"),
            Some("application/json"),
            Some("text/plain;version=0.0.4"),
            Some("application/openmetrics-text;version=2.0.0"),
            Some("application/openmetrics-text;q=0, */*"),
            Some("application/openmetrics-text;q=banana"),
            Some("application/openmetrics-text;q=7"),
            Some(",,;;=,"),
            Some("*/*, application/openmetrics-text;q=0.5"),
        ] {
            assert_eq!(format(accept), Text, "{accept:?}");
        }
    }

    #[test]
    fn a_named_type_beats_a_wildcard_of_the_same_weight() {
        assert_eq!(format(Some("*/*, application/openmetrics-text")), Openmetrics);
        assert_eq!(format(Some("text/plain, application/openmetrics-text")), Text, "first listed wins");
    }

    #[test]
    fn gzip_only_when_accepted() {
        assert!(gzip(Some("gzip")));
        assert!(gzip(Some("deflate, gzip;q=0.5")));
        assert!(gzip(Some("x-gzip")));
        assert!(gzip(Some("*")));
        assert!(!gzip(None));
        assert!(!gzip(Some("identity")));
        assert!(!gzip(Some("br, deflate")));
        assert!(!gzip(Some("gzip;q=0, *")));
        assert!(!gzip(Some("gzip;q=nope")));
    }
}
