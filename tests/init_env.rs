//! What `init()` reads from the environment, end to end: each test runs again in a child
//! process with exactly the variables it names (the environment is process-global), calls
//! `init()`, and checks the behaviour the variable asks for, not only the parsed value.

mod common;

use bitcraps_otel::alerting::{AlertingConfig, AlertingSystem};
use bitcraps_otel::health::{CheckOutcome, FnCheck};
use common::{is_child, run_in_child};
use opentelemetry::metrics::MeterProvider;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Loopback addresses for everything `init()` serves.
const LOOPBACK: [(&str, &str); 2] =
    [("BITCRAPS_PROMETHEUS_ADDR", "127.0.0.1:0"), ("BITCRAPS_HEALTH_ADDR", "127.0.0.1:0")];

fn with_loopback<'a>(vars: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    LOOPBACK.iter().copied().chain(vars.iter().copied()).collect()
}

/// Registers a check that counts its runs, probes readiness three times, returns the count.
fn runs_over_three_probes(telemetry: &bitcraps_otel::Telemetry) -> usize {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let health = telemetry.health().expect("health checker");
    health
        .register(FnCheck::new("counted", move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { CheckOutcome::pass() }
        }))
        .expect("register");
    for _ in 0..3 {
        assert!(telemetry.runtime().block_on(health.readiness()).is_ready());
    }
    runs.load(Ordering::SeqCst)
}

#[test]
fn bitcraps_health_cache_ttl_long_reuses_one_result() {
    if is_child("bitcraps_health_cache_ttl_long_reuses_one_result") {
        let telemetry = bitcraps_otel::init().expect("init");
        assert_eq!(telemetry.config().health().cache_ttl, Duration::from_secs(3600));
        assert_eq!(runs_over_three_probes(&telemetry), 1, "one run, then the cached result");
        return;
    }
    run_in_child(
        "bitcraps_health_cache_ttl_long_reuses_one_result",
        &with_loopback(&[("BITCRAPS_HEALTH_CACHE_TTL", "1h")]),
    );
}

#[test]
fn bitcraps_health_cache_ttl_zero_runs_every_probe() {
    if is_child("bitcraps_health_cache_ttl_zero_runs_every_probe") {
        let telemetry = bitcraps_otel::init().expect("init");
        assert_eq!(telemetry.config().health().cache_ttl, Duration::ZERO);
        // The background refresher may add runs of its own; three probes make at least three.
        assert!(runs_over_three_probes(&telemetry) >= 3, "a zero TTL caches nothing");
        return;
    }
    run_in_child(
        "bitcraps_health_cache_ttl_zero_runs_every_probe",
        &with_loopback(&[("BITCRAPS_HEALTH_CACHE_TTL", "0s")]),
    );
}

#[test]
fn bitcraps_health_check_timeout_limits_a_hanging_check() {
    if is_child("bitcraps_health_check_timeout_limits_a_hanging_check") {
        let telemetry = bitcraps_otel::init().expect("init");
        let health = telemetry.health().expect("health checker");
        health.register(FnCheck::new("stuck", std::future::pending::<CheckOutcome>)).expect("register");
        // The check never finishes: only the configured limit can end the probe, so the
        // reason names it, however loaded the machine.
        let report = telemetry.runtime().block_on(health.readiness());
        let stuck = report.checks.iter().find(|c| c.name == "stuck").expect("stuck check");
        assert_eq!(stuck.reason.as_deref(), Some("timed out after 75 ms"));
        assert!(!report.is_ready());
        return;
    }
    run_in_child(
        "bitcraps_health_check_timeout_limits_a_hanging_check",
        &with_loopback(&[("BITCRAPS_HEALTH_CHECK_TIMEOUT", "75ms")]),
    );
}

#[test]
fn bitcraps_cardinality_limit_caps_the_series_of_an_instrument() {
    if is_child("bitcraps_cardinality_limit_caps_the_series_of_an_instrument") {
        let telemetry = bitcraps_otel::init().expect("init");
        let counter = telemetry.meter_provider().expect("provider").meter("app").u64_counter("app.requests").build();
        for i in 0..500 {
            counter.add(1, &[opentelemetry::KeyValue::new("user", i.to_string())]);
        }
        let text = telemetry.render_prometheus().expect("bridge");
        let series: Vec<&str> = text.lines().filter(|l| l.starts_with("app_requests_total{")).collect();
        // The limit's attribute sets plus the one overflow series (as with the builder).
        assert_eq!(series.len(), 6, "{series:?}");
        assert!(series.iter().any(|l| l.contains("otel_metric_overflow=\"true\"")), "{series:?}");
        return;
    }
    run_in_child(
        "bitcraps_cardinality_limit_caps_the_series_of_an_instrument",
        &with_loopback(&[("BITCRAPS_CARDINALITY_LIMIT", "5")]),
    );
}

/// `BITCRAPS_ALERTING=1` used to be needed for the alert reader; `init()` now always registers
/// it, so an environment without the variable runs the alert engine.
#[test]
fn without_bitcraps_alerting_the_alert_engine_runs_after_init() {
    if is_child("without_bitcraps_alerting_the_alert_engine_runs_after_init") {
        let telemetry = bitcraps_otel::init().expect("init");
        telemetry.metrics().consensus().fork_detected();
        let _runtime = telemetry.runtime().enter();
        let mut running = AlertingSystem::new(AlertingConfig::default());
        running.start_background().expect("start finds the reader init registered");
        running.stop();
        // A cycle run here, on a system no background loop shares (so every rule is due),
        // collects through that reader and evaluates the predefined rules.
        let once = AlertingSystem::new(AlertingConfig::default());
        once.attach(telemetry.alert_reader().expect("init registered the alert reader").clone());
        let cycle = telemetry.runtime().block_on(once.evaluate_now()).expect("a cycle");
        assert!(cycle.evaluated > 0 && cycle.series > 0, "{cycle:?}");
        return;
    }
    run_in_child("without_bitcraps_alerting_the_alert_engine_runs_after_init", &with_loopback(&[]));
}

#[test]
fn otel_sdk_disabled_with_an_endpoint_serves_and_exports_nothing() {
    if is_child("otel_sdk_disabled_with_an_endpoint_serves_and_exports_nothing") {
        let telemetry = bitcraps_otel::init().expect("init");
        assert!(telemetry.config().sdk_disabled());
        assert_eq!((telemetry.prometheus_addr(), telemetry.health_addr()), (None, None));
        telemetry.metrics().gaming().bet_placed(10);
        tracing::info_span!("disabled").in_scope(|| tracing::warn!("an event a disabled SDK must not export"));
        telemetry.shutdown().expect("shutdown");
        return;
    }
    let receiver = common::start_receiver();
    let endpoint = receiver.url();
    let otlp = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "100"),
    ];
    let disabled: Vec<_> = otlp.iter().copied().chain([("OTEL_SDK_DISABLED", "true")]).collect();
    run_in_child("otel_sdk_disabled_with_an_endpoint_serves_and_exports_nothing", &with_loopback(&disabled));
    // The child has exited, so nothing more can come.
    assert_eq!(receiver.requests(), Vec::new(), "a disabled SDK exported");
    // Control: the same endpoint without OTEL_SDK_DISABLED is exported to.
    run_in_child("otel_sdk_enabled_with_the_same_endpoint_exports", &with_loopback(&otlp));
    let seen = receiver.requests();
    assert!(seen.iter().any(|r| r.path == "/v1/metrics"), "{seen:?}");
}

/// The control of the test above, run only as its child.
#[test]
fn otel_sdk_enabled_with_the_same_endpoint_exports() {
    if is_child("otel_sdk_enabled_with_the_same_endpoint_exports") {
        let telemetry = bitcraps_otel::init().expect("init");
        telemetry.metrics().gaming().bet_placed(10);
        telemetry.shutdown().expect("shutdown");
    }
}

#[test]
#[ignore = "bug: with OTEL_SDK_DISABLED, init builds an SdkMeterProvider with no reader and the SDK logs an ERROR for every observable instrument (\"Callbacks for this ObservableCounter will not be invoked\"); fix in src/telemetry.rs"]
fn otel_sdk_disabled_logs_no_errors() {
    if is_child("otel_sdk_disabled_logs_no_errors") {
        let telemetry = bitcraps_otel::init().expect("init");
        telemetry.metrics().gaming().bet_placed(10);
        telemetry.shutdown().expect("shutdown");
        return;
    }
    let out = run_in_child("otel_sdk_disabled_logs_no_errors", &with_loopback(&[("OTEL_SDK_DISABLED", "true")]));
    let errors: Vec<&str> = out.lines().filter(|l| l.contains("\"level\":\"ERROR\"")).collect();
    assert!(errors.is_empty(), "a disabled SDK logged errors:\n{}", errors.join("\n"));
}
