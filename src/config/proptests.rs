//! Property-based tests of the configuration parsers: no input panics, every error names its
//! variable and quotes values safely, valid inputs survive a round trip, and secrets never reach
//! a message. `PROPTEST_CASES=100000 cargo test --lib config::proptests` runs a longer search.

use super::parse::{check_log_filter, parse_headers};
use super::*;
use proptest::prelude::*;

/// Every variable `from_lookup` reads.
const VARIABLES: &[&str] = &[
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SDK_DISABLED",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_METRIC_EXPORT_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    "OTEL_EXPORTER_PROMETHEUS_HOST",
    "OTEL_EXPORTER_PROMETHEUS_PORT",
    "OTEL_METRICS_EXEMPLAR_FILTER",
    "BITCRAPS_PROMETHEUS_ADDR",
    "BITCRAPS_HEALTH_ADDR",
    "BITCRAPS_NODE_ID",
    "BITCRAPS_CONSTANT_LABELS",
    "BITCRAPS_COLLECTION_INTERVAL",
    "BITCRAPS_CARDINALITY_LIMIT",
    "BITCRAPS_HEALTH_CACHE_TTL",
    "BITCRAPS_DRAIN_PERIOD",
    "BITCRAPS_HTTP_MAX_CONNECTIONS",
    "BITCRAPS_LOG",
    "BITCRAPS_LOG_FORMAT",
    "BITCRAPS_LOG_REDACT",
    "BITCRAPS_LOG_INSTALL",
];

/// Text that stresses parsers: control characters, separators, unicode, long runs.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[a-z=,:/@%?#\\[\\]{}. \\t\\n\\x1b\\x00-]{0,60}",
        "(http|https|ftp)://[a-z:@%?=&./]{0,40}",
        "[0-9]{1,25}(ms|s|m|h|d)?",
        ".{200,400}",
    ]
}

fn build(var: &'static str, value: String) -> Result<Config, ConfigError> {
    ConfigBuilder::from_lookup(move |k| (k == var).then(|| value.clone())).build()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Any value of any variable builds or is an error that names the variable, repeats at
    /// most a bounded, escaped excerpt, and never panics.
    #[test]
    fn any_value_of_any_variable_is_a_config_or_a_safe_error(var in proptest::sample::select(VARIABLES), value in hostile()) {
        if let Err(e) = build(var, value) {
            let text = e.to_string();
            prop_assert!(text.starts_with(var) || e.field() == var, "{var}: {text}");
            prop_assert!(!text.chars().any(|c| c.is_control()), "raw control character in {text:?}");
            prop_assert!(text.chars().count() < 2 * QUOTE_LIMIT + 400, "unbounded message ({} chars)", text.len());
        }
    }

    /// Header values never appear in an error, whatever is wrong with them.
    #[test]
    fn header_errors_never_repeat_a_value(secret in "[A-Za-z0-9]{12,20}", noise in "[\\x00-\\x1f,=%]{1,4}") {
        let text = format!("x-key={secret}{noise}");
        if let Err(e) = parse_headers(&text, "OTEL_EXPORTER_OTLP_HEADERS") {
            prop_assert!(!e.to_string().contains(&secret), "{e}");
        }
        let err = build("OTEL_EXPORTER_OTLP_HEADERS", format!("{secret} {noise}"));
        if let Err(e) = err {
            prop_assert!(!e.to_string().contains(&secret), "{e}");
        }
    }

    /// Well-formed headers survive a round trip through their percent-encoded form.
    #[test]
    fn headers_round_trip(pairs in proptest::collection::vec(("[a-z][a-z0-9-]{0,15}", "[ -~]{0,30}"), 1..5)) {
        let text = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
            .collect::<Vec<_>>()
            .join(",");
        let parsed = parse_headers(&text, "OTEL_EXPORTER_OTLP_HEADERS").expect("valid headers");
        let got: Vec<(String, String)> = parsed.into_iter().map(|(k, v)| (k, v.expose().to_string())).collect();
        // Encoded characters are kept as given, spaces at the ends included.
        let want: Vec<(String, String)> = pairs;
        prop_assert_eq!(got, want);
    }

    /// Level directives: known levels (and `warning`) are accepted in any case and normalized;
    /// any other bare word is an error naming the variable.
    #[test]
    fn log_directives_accept_levels_and_reject_other_words(
        target in "[a-z_]{1,10}(::[a-z_]{1,10})?",
        level in proptest::sample::select(&["trace", "DEBUG", "Info", "warn", "warning", "error", "off"][..]),
        word in "[a-z]{1,8}",
    ) {
        let normalized = check_log_filter(&format!("{level},{target}={level}"), "BITCRAPS_LOG").expect("valid");
        let level = if level.eq_ignore_ascii_case("warning") { "warn".to_string() } else { level.to_ascii_lowercase() };
        prop_assert_eq!(normalized, format!("{level},{target}={level}"));
        let is_level = ["trace", "debug", "info", "warn", "warning", "error", "off"].contains(&word.as_str());
        let bare = check_log_filter(&word, "BITCRAPS_LOG");
        prop_assert_eq!(bare.is_ok(), is_level, "{}", word);
        if let Err(e) = bare {
            prop_assert!(e.to_string().starts_with("BITCRAPS_LOG"));
        }
    }

    /// Millisecond variables take whole numbers in range and name themselves otherwise.
    #[test]
    fn millisecond_values_parse_exactly(ms in 0u64..200_000_000) {
        let r = build("OTEL_METRIC_EXPORT_TIMEOUT", ms.to_string());
        let in_range = (10..=86_400_000).contains(&ms);
        match r {
            Ok(_) => prop_assert!(in_range, "{ms} accepted"),
            Err(e) => {
                prop_assert!(!in_range, "{ms}: {e}");
                prop_assert_eq!(e.field(), "OTEL_METRIC_EXPORT_TIMEOUT");
            }
        }
        let with_endpoint = ConfigBuilder::from_lookup(|k| match k {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://c:4317".into()),
            "OTEL_METRIC_EXPORT_TIMEOUT" => Some(ms.to_string()),
            _ => None,
        })
        .build();
        if let Ok(c) = with_endpoint {
            prop_assert_eq!(c.otlp().map(|o| o.metric_export_timeout), Some(Duration::from_millis(ms)));
        }
    }

    /// Credentials and query strings never reach what is logged about an endpoint.
    #[test]
    fn endpoints_are_shown_without_credentials_or_query(
        user in "[a-z]{3,8}",
        password in "[A-Za-z0-9]{8,16}",
        token in "[A-Za-z0-9]{8,16}",
        path in "(/[a-z]{1,6}){0,2}",
    ) {
        let url = format!("https://{user}:{password}@collector.example:4318{path}?key={token}");
        let config = build("OTEL_EXPORTER_OTLP_ENDPOINT", url.clone()).expect("valid endpoint");
        let shown = format!("{:?} {:?}", config.effective_settings(), config);
        for secret in [&password, &token] {
            prop_assert!(!shown.contains(secret.as_str()), "{secret} in {shown}");
        }
        prop_assert!(!display_url(&url).contains(&password) && !display_url(&url).contains(&token));
    }
}
