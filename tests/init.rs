//! `init` / `init_with` and the guard: one at a time, clean errors, shutdown that frees the port.

mod common;

use bitcraps_otel::config::OtlpProtocol;
use bitcraps_otel::{init_with, Config, ConfigError, Error};
use common::{http, try_http};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::KeyValue;
use std::process::Command;
use std::sync::Mutex;

// `init` is process-wide; these tests take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn loopback() -> Config {
    Config::builder().prometheus_addr("127.0.0.1:0").health_addr("127.0.0.1:0").node_id("t").build().expect("config")
}

#[test]
fn second_init_is_an_error_until_the_guard_is_dropped() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let first = init_with(loopback()).expect("first init");
    let second = init_with(loopback());
    assert!(matches!(second, Err(Error::AlreadyInitialized)), "{second:?}");
    assert!(second.unwrap_err().to_string().contains("already initialized"));
    drop(first);
    let third = init_with(loopback()).expect("init after the guard is gone");
    third.shutdown().expect("shutdown");
}

#[test]
fn outside_tokio_the_guard_owns_a_runtime_and_stops_serving_on_drop() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let telemetry = init_with(loopback()).expect("init");
    let addr = telemetry.prometheus_addr().expect("bridge address");
    telemetry.metrics().consensus().fork_detected();
    let (status, body) = http("GET", addr, "/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("bitcraps_consensus_forks_total{node_id=\"t\"} 1"), "{body}");
    assert!(bitcraps_otel::metrics::Metrics::global().is_some());
    drop(telemetry);
    assert!(try_http("GET", addr, "/metrics").is_none(), "the bridge still answers after drop");
    assert!(bitcraps_otel::metrics::Metrics::global().is_none());
}

/// Free means free: a port can be bound again the moment the guard's drop returns (a node
/// restarting its telemetry, or a test reusing the port). Twenty rounds, because the window
/// is short.
#[test]
fn dropping_the_guard_frees_its_ports_before_drop_returns() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for round in 0..20 {
        let telemetry = init_with(loopback()).expect("init");
        let ports = [telemetry.prometheus_addr().expect("bridge"), telemetry.health_addr().expect("health")];
        for addr in ports {
            assert!(try_http("GET", addr, "/health").is_some(), "{addr} serves before drop");
        }
        drop(telemetry);
        for addr in ports {
            let rebound = std::net::TcpListener::bind(addr);
            assert!(rebound.is_ok(), "round {round}: {addr} is still taken after drop: {rebound:?}");
        }
    }
}

#[test]
fn a_taken_port_is_a_bind_error_and_releases_init() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = holder.local_addr().expect("addr");
    let config = Config::builder().prometheus_addr(taken.to_string()).without_health().build().expect("config");
    match init_with(config) {
        Err(Error::Bind { what, addr, .. }) => assert_eq!((what, addr), ("prometheus", taken)),
        other => panic!("expected a bind error, got {other:?}"),
    }
    init_with(loopback()).expect("a failed init leaves the slot free").shutdown().expect("shutdown");
}

#[test]
fn invalid_config_is_a_typed_error() {
    let err = Config::builder().prometheus_addr("localhost:http").build().unwrap_err();
    assert_eq!(err, ConfigError::Address { field: "prometheus_addr", value: "localhost:http".into() });
    let wrapped: Error = err.into();
    assert!(wrapped.to_string().contains("prometheus_addr"), "{wrapped}");
}

#[test]
fn node_rejects_bad_environment_naming_the_variable() {
    for (var, value) in [
        ("BITCRAPS_PROMETHEUS_ADDR", "nine-thousand"),
        ("BITCRAPS_COLLECTION_INTERVAL", "often"),
        ("BITCRAPS_CONSTANT_LABELS", "1bad=x"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_bitcraps-node"))
            .args(["--duration", "1s"])
            .env("BITCRAPS_STATE_DIR", "off")
            .env(var, value)
            .output()
            .expect("run node");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        let offending = value.split('=').next().unwrap_or(value);
        assert!(stderr.contains(var) && stderr.contains(offending), "{var}={value}: {stderr}");
    }
}

/// A configuration that serves everything on loopback and exports OTLP/HTTP to `receiver`.
fn exporting_to(receiver: &common::Receiver, sdk_disabled: bool) -> Config {
    Config::builder()
        .prometheus_addr("127.0.0.1:0")
        .health_addr("127.0.0.1:0")
        .otlp_endpoint(receiver.url())
        .otlp_protocol(OtlpProtocol::HttpProtobuf)
        .sdk_disabled(sdk_disabled)
        .build()
        .expect("config")
}

#[test]
fn sdk_disabled_serves_nothing_exports_nothing_and_instruments_still_work() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let receiver = common::start_receiver();
    let telemetry = init_with(exporting_to(&receiver, true)).expect("init");
    assert_eq!(telemetry.prometheus_addr(), None, "no bridge");
    assert_eq!(telemetry.health_addr(), None, "no health endpoints");
    assert!(telemetry.render_prometheus().is_none());
    telemetry.metrics().gaming().bet_placed(10);
    telemetry.metrics().consensus().fork_detected();
    tracing::info_span!("disabled_span").in_scope(|| tracing::warn!("an event a disabled SDK must not export"));
    // Shutdown is when an enabled SDK flushes (see the control below): after it, nothing came.
    telemetry.shutdown().expect("shutdown");
    assert_eq!(receiver.requests(), Vec::new(), "a disabled SDK exported");
}

/// The control for the test above: the same configuration, enabled, does reach the receiver.
#[test]
fn sdk_enabled_with_the_same_config_exports_to_the_receiver() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let receiver = common::start_receiver();
    let telemetry = init_with(exporting_to(&receiver, false)).expect("init");
    assert!(telemetry.prometheus_addr().is_some() && telemetry.health_addr().is_some());
    telemetry.metrics().gaming().bet_placed(10);
    telemetry.shutdown().expect("shutdown");
    let seen = receiver.requests();
    assert!(
        seen.iter()
            .any(|r| r.method == "POST" && r.path == "/v1/metrics" && r.content_type == "application/x-protobuf"),
        "{seen:?}"
    );
}

/// The host name as the kernel reports it (what `gethostname` returns).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| Command::new("hostname").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()))
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn the_default_node_id_is_the_host_name() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let host = host_name();
    assert!(!host.is_empty(), "this machine has a host name");
    let config = Config::builder().prometheus_addr("127.0.0.1:0").without_health().build().expect("config");
    assert_eq!(config.constant_labels().get("node_id"), Some(&host));
    let telemetry = init_with(config).expect("init");
    telemetry.metrics().consensus().fork_detected();
    let text = telemetry.render_prometheus().expect("bridge");
    let series = format!("bitcraps_consensus_forks_total{{node_id=\"{host}\"}} 1");
    assert!(text.contains(&series), "{series} in\n{text}");
    // An explicit id wins.
    let named = Config::builder().node_id("n-7").build().expect("config");
    assert_eq!(named.constant_labels().get("node_id").map(String::as_str), Some("n-7"));
}

#[test]
fn cardinality_is_capped_with_an_overflow_series() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let config = Config::builder()
        .prometheus_addr("127.0.0.1:0")
        .without_health()
        .cardinality_limit(10)
        .build()
        .expect("config");
    let telemetry = init_with(config).expect("init");
    let provider = telemetry.meter_provider().expect("provider");
    let counter = provider.meter("app").u64_counter("app.requests").build();
    for i in 0..1000 {
        counter.add(1, &[KeyValue::new("user", i.to_string())]);
    }
    let text = telemetry.render_prometheus().expect("bridge");
    let series: Vec<&str> = text.lines().filter(|l| l.starts_with("app_requests_total{")).collect();
    // The limit's attribute sets plus the one overflow series, whatever the input.
    assert_eq!(series.len(), 11, "{series:?}");
    let overflow = series.iter().find(|l| l.contains("otel_metric_overflow=\"true\"")).expect("overflow series");
    let overflowed: u64 = overflow.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("value");
    assert!(overflowed >= 990, "{overflow}");
}
