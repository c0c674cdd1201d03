//! Tests of the OpenTelemetry environment contract: OTLP per signal, exporters, TLS files,
//! Prometheus aliases and resource precedence.

use super::*;
use opentelemetry::Key;
use std::io::Write as _;

fn env(pairs: &[(&str, &str)]) -> ConfigBuilder {
    let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    ConfigBuilder::from_lookup(move |k| map.get(k).cloned())
}

fn otlp(pairs: &[(&str, &str)]) -> OtlpConfig {
    env(pairs).build().expect("valid").otlp.expect("otlp configured")
}

fn err(pairs: &[(&str, &str)]) -> ConfigError {
    env(pairs).build().expect_err("invalid")
}

const BASE: (&str, &str) = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/");

#[test]
fn a_generic_http_endpoint_gets_each_signals_path_and_grpc_is_used_as_given() {
    let o = otlp(&[BASE, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]);
    let endpoints: Vec<_> = Signal::ALL.iter().map(|s| o.signal(*s).expect("signal").endpoint.clone()).collect();
    assert_eq!(
        endpoints,
        ["http://collector:4318/v1/traces", "http://collector:4318/v1/metrics", "http://collector:4318/v1/logs"]
    );
    let o = otlp(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317")]);
    assert_eq!(o.metrics.as_ref().map(|m| m.endpoint.as_str()), Some("https://collector:4317"));
    assert_eq!(o.metrics.as_ref().map(|m| m.sources.endpoint), Some("OTEL_EXPORTER_OTLP_ENDPOINT"));
}

#[test]
fn signal_specific_settings_beat_the_generic_ones_one_by_one() {
    let o = otlp(&[
        BASE,
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=dice,x-team=ops"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "4000"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:9999/custom/path"),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-only=metrics"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "1500"),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "zstd"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
    ]);
    let (traces, metrics, logs) = (o.traces.expect("t"), o.metrics.expect("m"), o.logs.expect("l"));
    // A signal's endpoint is used as given; its headers replace the generic list.
    assert_eq!(metrics.endpoint, "http://metrics:9999/custom/path");
    let names = |s: &OtlpSignal| s.headers.iter().map(|(n, v)| format!("{n}={}", v.expose())).collect::<Vec<_>>();
    assert_eq!(names(&metrics), ["x-only=metrics"]);
    assert_eq!(names(&traces), ["x-tenant=dice", "x-team=ops"]);
    assert_eq!(metrics.timeout, Duration::from_millis(1500));
    assert_eq!(traces.timeout, Duration::from_millis(4000));
    assert_eq!(
        (metrics.sources.timeout, traces.sources.timeout),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
    );
    // gRPC takes the generic base as it is.
    assert_eq!((logs.protocol, logs.endpoint.as_str()), (OtlpProtocol::Grpc, "http://collector:4318"));
    assert_eq!(logs.compression, Some(Compression::Zstd));
    assert_eq!(traces.compression, None);
    assert_eq!(metrics.compression, Some(Compression::Gzip));
}

#[test]
fn without_any_endpoint_nothing_is_exported_unless_an_exporter_asks_for_otlp() {
    assert!(env(&[]).build().expect("valid").otlp.is_none());
    let o = otlp(&[("OTEL_TRACES_EXPORTER", "otlp"), ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")]);
    let traces = o.traces.expect("traces");
    assert_eq!(traces.endpoint, "http://localhost:4318/v1/traces");
    assert_eq!(traces.sources.endpoint, "default");
    assert!(o.metrics.is_none() && o.logs.is_none());
}

#[test]
fn exporter_variables_turn_signals_off() {
    let o = otlp(&[BASE, ("OTEL_METRICS_EXPORTER", "none"), ("OTEL_LOGS_EXPORTER", "console")]);
    assert!(o.traces.is_some() && o.metrics.is_none() && o.logs.is_none());
    assert!(env(&[
        BASE,
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none")
    ])
    .build()
    .expect("valid")
    .otlp
    .is_none());
    assert!(otlp(&[BASE, ("OTEL_LOGS_EXPORTER", "otlp,console")]).logs.is_some());
    let e = err(&[BASE, ("OTEL_TRACES_EXPORTER", "console")]);
    assert_eq!(e.field(), "OTEL_TRACES_EXPORTER");
    assert!(e.to_string().contains("logs"), "{e}");
    assert_eq!(err(&[("OTEL_METRICS_EXPORTER", "prometheus,otlp")]).field(), "OTEL_METRICS_EXPORTER");
    assert_eq!(err(&[("OTEL_LOGS_EXPORTER", "none,otlp")]).field(), "OTEL_LOGS_EXPORTER");
    let c =
        Config::builder().otlp_endpoint("http://c:4317").exporter(Signal::Logs, Exporter::None).build().expect("valid");
    assert!(c.otlp().is_some_and(|o| o.logs.is_none() && o.traces.is_some()));
}

#[test]
fn headers_are_decoded_lowercased_and_never_echoed_when_wrong() {
    let o = otlp(&[BASE, ("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20t0k3n, X-Empty= ,")]);
    let h = &o.traces.expect("traces").headers;
    assert_eq!(h[0].0, "authorization");
    assert_eq!(h[0].1.expose(), "Bearer t0k3n");
    assert_eq!((h[1].0.as_str(), h[1].1.expose()), ("x-empty", ""));
    for (value, hint) in [
        ("novalue", "entry 1"),
        ("bad name=s3cret", "entry 1: the header name"),
        ("Bearer s3cret=", "header name"),
        ("x-ok=1,s3cret=\u{7}", "entry 2: the value"),
        ("x-key=s3cret%0A", "control"),
        ("x-key=s3cr\u{e9}t", "non-ASCII"),
    ] {
        let e = err(&[BASE, ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", value)]);
        let text = e.to_string();
        assert_eq!(e.field(), "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "{text}");
        assert!(text.contains(hint), "{text}");
        assert!(!text.contains("s3cr"), "the value leaked: {text}");
    }
}

#[test]
fn credentials_in_the_url_become_an_authorization_header() {
    let o = otlp(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://alice:p%40ss@collector:4317")]);
    let m = o.metrics.expect("metrics");
    assert_eq!(m.endpoint, "https://collector:4317");
    // base64("alice:p@ss")
    assert_eq!(m.headers, vec![("authorization".to_string(), Secret::new("Basic YWxpY2U6cEBzcw=="))]);
    let e = err(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://alice:pw@collector:4317"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer x"),
    ]);
    assert!(matches!(e, ConfigError::Conflict { .. }), "{e}");
    let e = err(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector@4317")]);
    assert!(!e.to_string().contains("collector"), "may hold credentials: {e}");
}

#[test]
fn bad_otlp_values_name_their_variable() {
    let cases: &[(&str, &str)] = &[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector"),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "udp"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "0"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gz"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "thirty"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sometimes"),
    ];
    for (var, value) in cases {
        let e = err(&[BASE, (var, value)]);
        assert_eq!(e.field(), *var, "{var}={value}: {e}");
        assert!(e.to_string().starts_with(var), "{e}");
    }
}

#[test]
fn metric_export_settings_have_the_specification_defaults() {
    let o = otlp(&[BASE]);
    assert_eq!(o.metric_export_timeout, Duration::from_secs(30));
    assert_eq!(o.temporality, TemporalityPreference::Cumulative);
    assert_eq!(o.metrics.expect("m").timeout, Duration::from_secs(10));
    let o = otlp(&[
        BASE,
        ("OTEL_METRIC_EXPORT_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "LowMemory"),
    ]);
    assert_eq!(o.metric_export_timeout, Duration::from_millis(2500));
    assert_eq!(o.temporality, TemporalityPreference::LowMemory);
    assert_eq!(
        otlp(&[BASE, ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")]).temporality,
        TemporalityPreference::Delta
    );
}

fn pem_file(dir: &tempfile::TempDir, name: &str, body: &str) -> String {
    let path = dir.path().join(name);
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(body.as_bytes()).expect("write");
    path.display().to_string()
}

#[test]
fn tls_files_are_checked_when_the_configuration_is_built() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = pem_file(&dir, "ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    let junk = pem_file(&dir, "junk.pem", "not a certificate");
    let https = ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317");
    let o = otlp(&[
        https,
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", &pem),
        ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE", &pem),
        ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY", &pem),
    ]);
    assert_eq!(
        o.traces.as_ref().and_then(|t| t.tls.certificate.as_ref()).map(|p| p.display().to_string()),
        Some(pem.clone())
    );
    assert!(o.traces.as_ref().is_some_and(|t| t.tls.client_certificate.is_none()));
    assert!(o.logs.as_ref().is_some_and(|l| l.tls.client_key.is_some()));

    let missing = dir.path().join("missing.pem").display().to_string();
    let e = err(&[https, ("OTEL_EXPORTER_OTLP_CERTIFICATE", &missing)]);
    assert!(matches!(e, ConfigError::File { field: "OTEL_EXPORTER_OTLP_CERTIFICATE", .. }), "{e}");
    let e = err(&[https, ("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", &junk)]);
    assert!(e.to_string().contains("not a PEM file"), "{e}");
    let e = err(&[https, ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &pem)]);
    assert!(matches!(e, ConfigError::Conflict { field: "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", .. }), "{e}");
    let e = err(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"), ("OTEL_EXPORTER_OTLP_CERTIFICATE", &pem)]);
    assert!(e.to_string().contains("https://"), "{e}");
}

#[test]
fn prometheus_host_and_port_are_aliases_of_the_bridge_address() {
    let addr = |pairs: &[(&str, &str)]| env(pairs).build().expect("valid").prometheus_addr;
    let sa = |s: &str| Some(s.parse::<SocketAddr>().expect("addr"));
    assert_eq!(addr(&[("OTEL_EXPORTER_PROMETHEUS_PORT", "9464")]), sa("0.0.0.0:9464"));
    assert_eq!(addr(&[("OTEL_EXPORTER_PROMETHEUS_HOST", "localhost")]), sa("127.0.0.1:9090"));
    assert_eq!(
        addr(&[("OTEL_EXPORTER_PROMETHEUS_HOST", "::1"), ("OTEL_EXPORTER_PROMETHEUS_PORT", "0")]),
        sa("[::1]:0")
    );
    let same = [
        ("BITCRAPS_PROMETHEUS_ADDR", "127.0.0.1:9464"),
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "9464"),
    ];
    assert_eq!(addr(&same), sa("127.0.0.1:9464"));
    let e = err(&[("BITCRAPS_PROMETHEUS_ADDR", "127.0.0.1:9090"), ("OTEL_EXPORTER_PROMETHEUS_PORT", "9464")]);
    assert!(
        matches!(
            e,
            ConfigError::Conflict { field: "OTEL_EXPORTER_PROMETHEUS_PORT", other: "BITCRAPS_PROMETHEUS_ADDR", .. }
        ),
        "{e}"
    );
    assert_eq!(err(&[("OTEL_EXPORTER_PROMETHEUS_PORT", "70000")]).field(), "OTEL_EXPORTER_PROMETHEUS_PORT");
    assert_eq!(err(&[("OTEL_EXPORTER_PROMETHEUS_HOST", "collector.local")]).field(), "OTEL_EXPORTER_PROMETHEUS_HOST");
    // A builder address overrides both spellings from the environment.
    let c = env(&[("OTEL_EXPORTER_PROMETHEUS_PORT", "9464")]).prometheus_addr("127.0.0.1:0").build().expect("valid");
    assert_eq!(c.prometheus_addr, sa("127.0.0.1:0"));
}

fn attr(r: &opentelemetry_sdk::Resource, key: &'static str) -> Option<String> {
    r.get(&Key::from_static_str(key)).map(|v| v.to_string())
}

#[test]
fn resource_precedence_follows_the_specification() {
    // OTEL_RESOURCE_ATTRIBUTES alone names the service; no default overwrites it.
    let c = env(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,service.version=9.9,service.instance.id=i-7")])
        .build()
        .expect("valid");
    let r = resource(&c);
    assert_eq!(attr(&r, "service.name").as_deref(), Some("from-attrs"));
    assert_eq!(attr(&r, "service.version").as_deref(), Some("9.9"));
    assert_eq!(attr(&r, "service.instance.id").as_deref(), Some("i-7"), "a host-name default beat the attribute");
    for key in ["telemetry.sdk.name", "telemetry.sdk.language", "telemetry.sdk.version"] {
        assert!(attr(&r, key).is_some(), "{key} missing");
    }
    assert_eq!(attr(&r, "telemetry.sdk.language").as_deref(), Some("rust"));
    // OTEL_SERVICE_NAME and an explicit node id beat the attributes.
    let c = env(&[
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,service.instance.id=i-7,bitcraps.node.id=n-attr"),
        ("OTEL_SERVICE_NAME", "from-var"),
        ("BITCRAPS_NODE_ID", "n-explicit"),
    ])
    .build()
    .expect("valid");
    let r = resource(&c);
    assert_eq!(attr(&r, "service.name").as_deref(), Some("from-var"));
    assert_eq!(attr(&r, "bitcraps.node.id").as_deref(), Some("n-explicit"));
    assert_eq!(attr(&r, "service.instance.id").as_deref(), Some("n-explicit"));
    // The resource's node id serves as the node_id label when none is set.
    let c = env(&[("OTEL_RESOURCE_ATTRIBUTES", "bitcraps.node.id=n-attr")]).build().expect("valid");
    assert_eq!(c.constant_labels().get("node_id").map(String::as_str), Some("n-attr"));
    // Without anything, the crate's defaults.
    let r = resource(&env(&[]).build().expect("valid"));
    assert_eq!(attr(&r, "service.name").as_deref(), Some(DEFAULT_SERVICE_NAME));
}

#[test]
fn secrets_stay_out_of_debug_output_and_the_effective_settings() {
    let c = env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://bob:hunter2@collector:4318/base?api_key=k-123"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cret"),
    ])
    .build()
    .expect("valid");
    let texts = [format!("{c:?}"), format!("{:?}", c.effective_settings())];
    for text in &texts {
        for secret in ["hunter2", "s3cret", "bob"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert!(!texts[1].contains("k-123"), "{}", texts[1]);
    assert!(texts[1].contains("https://collector:4318/base/v1/metrics?…"), "{}", texts[1]);
}
