//! Tests of configuration parsing and validation.

use super::*;

fn env(pairs: &[(&str, &str)]) -> ConfigBuilder {
    let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    ConfigBuilder::from_lookup(move |k| map.get(k).cloned())
}

#[test]
fn reads_otel_and_bitcraps_variables() {
    let c = env(&[
        ("OTEL_SERVICE_NAME", "table-9"),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,team=dice%20ops"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "2500"),
        ("BITCRAPS_PROMETHEUS_ADDR", "127.0.0.1:19090"),
        ("BITCRAPS_NODE_ID", "n1"),
        ("BITCRAPS_REGION", "eu-west"),
        ("BITCRAPS_CONSTANT_LABELS", "zone=a, rack=r7"),
        ("BITCRAPS_COLLECTION_INTERVAL", "750ms"),
    ])
    .build()
    .expect("valid");
    assert_eq!(c.service_name, "table-9");
    assert_eq!(
        c.resource_attributes,
        vec![("deployment.environment".into(), "prod".into()), ("team".into(), "dice ops".into())]
    );
    let otlp = c.otlp.expect("otlp");
    let metrics = otlp.metrics.as_ref().expect("metrics");
    assert_eq!(metrics.endpoint, "http://127.0.0.1:4318/v1/metrics");
    assert_eq!(metrics.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(otlp.metric_export_interval, Duration::from_millis(2500));
    assert_eq!(c.prometheus_addr, Some("127.0.0.1:19090".parse().expect("addr")));
    assert_eq!(c.collection_interval, Duration::from_millis(750));
    let labels: Vec<_> = c.constant_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(labels, ["node_id=n1", "rack=r7", "region=eu-west", "zone=a"]);
}

#[test]
fn defaults_match_the_reference() {
    let c = env(&[]).build().expect("valid");
    assert_eq!(c.prometheus_addr, Some("0.0.0.0:9090".parse().expect("addr")));
    assert_eq!(c.collection_interval, Duration::from_secs(15));
    assert!(c.otlp.is_none());
    assert!(!c.sdk_disabled);
}

#[test]
fn export_interval_defaults_to_collection_interval() {
    let c = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"), ("BITCRAPS_COLLECTION_INTERVAL", "3s")])
        .build()
        .expect("valid");
    assert_eq!(c.otlp.expect("otlp").metric_export_interval, Duration::from_secs(3));
}

#[test]
fn bad_values_name_their_field() {
    let cases: &[(&str, &str, &str)] = &[
        ("BITCRAPS_PROMETHEUS_ADDR", "localhost", "BITCRAPS_PROMETHEUS_ADDR"),
        ("BITCRAPS_COLLECTION_INTERVAL", "soon", "BITCRAPS_COLLECTION_INTERVAL"),
        ("BITCRAPS_COLLECTION_INTERVAL", "0s", "BITCRAPS_COLLECTION_INTERVAL"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "5s", "OTEL_METRIC_EXPORT_INTERVAL"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "OTEL_EXPORTER_OTLP_PROTOCOL"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ("OTEL_SDK_DISABLED", "yes", "OTEL_SDK_DISABLED"),
        ("OTEL_RESOURCE_ATTRIBUTES", "novalue", "OTEL_RESOURCE_ATTRIBUTES"),
        ("BITCRAPS_CONSTANT_LABELS", "bad-name=x", "BITCRAPS_CONSTANT_LABELS"),
        ("BITCRAPS_CARDINALITY_LIMIT", "0", "BITCRAPS_CARDINALITY_LIMIT"),
    ];
    for (var, value, field) in cases {
        let err = env(&[(var, value)]).build().expect_err(var);
        assert!(err.to_string().starts_with(field), "{var}={value}: {err}");
        let offending = value.split('=').next().unwrap_or(value);
        assert!(err.to_string().contains(offending), "{var}={value}: {err}");
    }
}

#[test]
fn typed_errors() {
    assert_eq!(
        Config::builder().prometheus_addr("9090").build().unwrap_err(),
        ConfigError::Address { field: "prometheus_addr", value: "9090".into() }
    );
    assert_eq!(
        Config::builder().constant_label("__x", "v").build().unwrap_err(),
        ConfigError::LabelName { field: "constant_labels", name: "__x".into() }
    );
    assert!(matches!(
        Config::builder().collection_interval(Duration::from_millis(1)).build(),
        Err(ConfigError::Interval { field: "collection_interval", .. })
    ));
}

#[test]
fn prometheus_can_be_turned_off() {
    assert_eq!(env(&[("BITCRAPS_PROMETHEUS_ADDR", "off")]).build().expect("valid").prometheus_addr, None);
    assert_eq!(Config::builder().without_prometheus().build().expect("valid").prometheus_addr, None);
}

#[test]
fn a_non_utf8_value_is_an_error_naming_its_variable_never_a_fallback() {
    use std::os::unix::ffi::OsStringExt;
    let b = ConfigBuilder::from_os_lookup(|k| match k {
        "BITCRAPS_PROMETHEUS_ADDR" => Some(std::ffi::OsString::from_vec(vec![b'1', b'2', 0xff, b':', b'9'])),
        _ => None,
    });
    assert_eq!(b.build().unwrap_err(), ConfigError::NotUnicode { field: "BITCRAPS_PROMETHEUS_ADDR" });
    // A mangled BITCRAPS_LOG does not fall back to RUST_LOG either.
    let b = ConfigBuilder::from_os_lookup(|k| match k {
        "BITCRAPS_LOG" => Some(std::ffi::OsString::from_vec(vec![0xc3, 0x28])),
        "RUST_LOG" => Some("debug".into()),
        _ => None,
    });
    assert_eq!(b.build().unwrap_err().field(), "BITCRAPS_LOG");
}

#[test]
fn typed_builder_values_are_checked_without_a_round_trip_through_text() {
    let e = Config::builder().drain_period(Duration::from_secs(90_000)).build().unwrap_err();
    assert!(matches!(e, ConfigError::Interval { field: "drain_period", .. }), "{e}");
    assert!(Config::builder().drain_period(Duration::ZERO).build().is_ok());
    let e = Config::builder().cardinality_limit(0).build().unwrap_err();
    assert_eq!(e.field(), "cardinality_limit");
    let e = Config::builder().otlp_endpoint("http://c:4317").otlp_timeout(Duration::ZERO).build().unwrap_err();
    assert_eq!(e.field(), "otlp_timeout");
}

#[test]
fn quieted_sdk_targets_parse_and_yield_to_named_ones() {
    for given in ["info", "debug,opentelemetry_sdk=debug", "warn,opentelemetry-otlp=info", "opentelemetry::global=info"]
    {
        let c = Config::builder().log_filter(given).build().expect("valid");
        let d = c.log_directives();
        super::parse_filter(&d).unwrap_or_else(|e| panic!("{d}: {e}"));
        assert!(d.starts_with(given), "{d}");
    }
    let d = Config::builder().log_filter("warn,opentelemetry-otlp=info").build().expect("valid").log_directives();
    assert!(!d.contains("opentelemetry-otlp=error"), "{d}");
    assert!(d.contains("opentelemetry_sdk=warn"), "{d}");
}

#[test]
fn level_words_are_checked_warning_is_warn_and_inf_is_rejected() {
    let filter = |v: &str| env(&[("BITCRAPS_LOG", v)]).build().map(|c| c.log_filter().to_string());
    assert_eq!(filter("warning").expect("valid"), "warn");
    assert_eq!(filter("WARNING,bitcraps_otel::alerting=Debug").expect("valid"), "warn,bitcraps_otel::alerting=debug");
    assert_eq!(filter("info,[request]").expect("valid"), "info,[request]");
    for bad in ["inf", "info,verbose", "info,bitcraps_otel=loud", "bitcraps_otel=", "info,warn\u{1b}[31m"] {
        let e = filter(bad).expect_err(bad);
        assert_eq!(e.field(), "BITCRAPS_LOG", "{bad}: {e}");
        assert!(!e.to_string().chars().any(char::is_control), "{e:?}");
    }
    let e = filter("inf").expect_err("inf");
    assert!(e.to_string().contains("`inf` is not a level"), "{e}");
    // RUST_LOG gets the same checks, named as RUST_LOG.
    assert_eq!(env(&[("RUST_LOG", "inf")]).build().expect_err("inf").field(), "RUST_LOG");
}

#[test]
fn quoted_values_are_escaped_and_cut() {
    let long = format!("{}\n", "9".repeat(5000));
    let e = env(&[("BITCRAPS_PROMETHEUS_ADDR", &long)]).build().expect_err("not an address");
    let text = e.to_string();
    assert!(text.len() < 300, "{} chars", text.len());
    assert!(text.contains("more characters"), "{text}");
    let e = env(&[("BITCRAPS_LOG_FORMAT", "json\u{1b}[2J")]).build().expect_err("bad format");
    assert!(e.to_string().contains("json\\u{1b}[2J"), "{e}");
}
