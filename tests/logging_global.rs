//! Logging installed process-wide: `init` installs it and a second install shares it; the
//! macros move their metrics in the Prometheus exposition; W3C trace context flows through
//! the axum middleware and the reqwest helper; the node writes JSON lines and rejects a bad
//! level directive.

use axum::http::HeaderMap;
use axum::routing::get;
use bitcraps_otel::logging::{init_logging_with, propagation, CorrelationContext};
use bitcraps_otel::{init_with, Config};
use opentelemetry::trace::TraceContextExt;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt;

// Telemetry and the global subscriber are process-wide: the tests take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn quiet() -> bitcraps_otel::ConfigBuilder {
    Config::builder().without_health()
}

#[test]
fn init_installs_logging_and_a_second_install_shares_it() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let telemetry = init_with(quiet().without_prometheus().build().expect("config")).expect("init");
    assert!(tracing::dispatcher::has_been_set(), "init installed no global subscriber");
    assert!(telemetry.logging().is_some());
    // Installed and enabled at the configured level (a `None` layer once turned everything off).
    assert!(tracing::enabled!(tracing::Level::INFO), "INFO events are disabled");
    assert!(!tracing::enabled!(tracing::Level::DEBUG), "DEBUG events pass an `info` filter");
    // A second install returns a handle on the first, with its settings, not a new pipeline.
    let config = quiet().without_prometheus().log_filter("debug").build().expect("config");
    let second = init_logging_with(&config).expect("second install");
    assert!(!second.is_owner() && second.shares_with(telemetry.logging().expect("logging")));
    assert!(!tracing::enabled!(tracing::Level::DEBUG), "the second call's filter was applied");
    drop(second);
    drop(telemetry);

    // The slot is free again; logging alone, then init adopting it.
    let logging = init_logging_with(&config).expect("logging alone after the guard is gone");
    assert!(logging.is_owner());
    let adopting = init_with(quiet().without_prometheus().build().expect("config")).expect("init adopts");
    assert!(adopting.logging().is_some_and(|l| l.shares_with(&logging) && !l.is_owner()));
    adopting.shutdown().expect("shutdown");
    logging.shutdown().expect("shutdown");
    init_with(quiet().without_prometheus().build().expect("config")).expect("init again").shutdown().expect("shutdown");
}

fn series_value(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn each_macro_moves_its_metric() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let telemetry = init_with(quiet().prometheus_addr("127.0.0.1:0").build().expect("config")).expect("init");
    let before = telemetry.render_prometheus().expect("bridge");
    let perf = "bitcraps_operation_duration_seconds_count{";
    let business = "bitcraps_business_events_total{";
    let security = "bitcraps_security_events_total{";
    let series = |text: &str, metric: &str, label: &str| {
        let prefix = text
            .lines()
            .find(|l| l.starts_with(metric) && l.contains(label))
            .map(|l| l.split(' ').next().unwrap_or("").to_string())
            .unwrap_or_else(|| format!("{metric}{label}"));
        series_value(text, &prefix)
    };
    let perf_before = series(&before, perf, "operation=\"consensus_decision\"");
    let duration = Duration::from_millis(40);
    bitcraps_otel::log_performance!("consensus_decision", duration);
    bitcraps_otel::log_performance!("a-new-operation", duration);
    bitcraps_otel::log_business_event!("game_completed", game_id = "123", winner = "alice");
    bitcraps_otel::log_security_event!("invalid_signature", user_id = "bob", ip = "192.168.1.1");
    bitcraps_otel::log_security_event!("invalid_signature", user_id = "eve", ip = "10.0.0.9", password = "x");
    let after = telemetry.render_prometheus().expect("bridge");
    assert_eq!(series(&after, perf, "operation=\"consensus_decision\"") - perf_before, 1.0, "{after}");
    assert_eq!(series(&after, perf, "operation=\"other\""), 1.0, "unknown operations count as other");
    let sum = series(&after, "bitcraps_operation_duration_seconds_sum{", "operation=\"consensus_decision\"");
    assert!((sum - 0.04).abs() < 1e-9, "{sum}");
    assert_eq!(series(&after, business, "event=\"game_completed\""), 1.0, "{after}");
    assert_eq!(series(&after, security, "event=\"invalid_signature\""), 2.0, "{after}");
    // Ids and secrets given to the macros never become labels.
    for line in after.lines().filter(|l| l.starts_with("bitcraps_") && l.contains("event")) {
        for forbidden in ["user_id", "ip=", "password", "bob", "192.168", "game_id", "alice"] {
            assert!(!line.contains(forbidden), "{forbidden} in {line}");
        }
    }
    telemetry.shutdown().expect("shutdown");
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn trace_context_flows_through_axum_and_reqwest() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let logging = init_logging_with(&quiet().without_prometheus().build().expect("config")).expect("logging");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let app = axum::Router::new()
            .route(
                "/whoami",
                get(|| async {
                    let cx = tracing::Span::current().context();
                    let span = cx.span();
                    let ctx = CorrelationContext::current();
                    format!(
                        "{} {} {}",
                        span.span_context().trace_id(),
                        ctx.as_ref().map(|c| c.correlation_id().to_owned()).unwrap_or_default(),
                        ctx.as_ref().and_then(|c| c.request_id().map(str::to_owned)).unwrap_or_default(),
                    )
                }),
            )
            .route(
                "/echo",
                get(|headers: HeaderMap| async move {
                    headers.get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
                }),
            )
            .layer(axum::middleware::from_fn(propagation::trace_context));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");

        // Incoming: the handler runs in a server span continuing the caller's trace.
        let body = client
            .get(format!("http://{addr}/whoami"))
            .header("traceparent", TRACEPARENT)
            .header("x-correlation-id", "corr-from-caller")
            .header("x-request-id", "req-42")
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("body");
        assert_eq!(body, "4bf92f3577b34da6a3ce929d0e0e4736 corr-from-caller req-42");
        // Without headers: a new trace and a fresh correlation id.
        let body = client.get(format!("http://{addr}/whoami")).send().await.expect("request");
        let body = body.text().await.expect("body");
        let parts: Vec<&str> = body.split(' ').collect();
        assert_eq!(parts.len(), 3, "{body}");
        assert_eq!(parts[0].len(), 32);
        assert_ne!(parts[0], "00000000000000000000000000000000");
        assert_eq!(parts[1].len(), 32);

        // Outgoing: the current span's context goes out as traceparent.
        let span = tracing::info_span!("client-call");
        let trace_id = span.context().span().span_context().trace_id();
        let request = span.in_scope(|| propagation::with_trace_context(client.get(format!("http://{addr}/echo"))));
        let sent = request.send().await.expect("request").text().await.expect("body");
        assert!(sent.starts_with(&format!("00-{trace_id}-")), "{sent}");
        assert!(sent.ends_with("-01"), "sampled flag: {sent}");
    });
    drop(rt);
    logging.shutdown().expect("shutdown");
}

#[test]
fn the_node_writes_json_lines() {
    let out = Command::new(env!("CARGO_BIN_EXE_bitcraps-node"))
        .args(["--duration", "1s", "--prometheus-addr", "127.0.0.1:0"])
        .env("BITCRAPS_HEALTH_ADDR", "off")
        .env("BITCRAPS_STATE_DIR", "off")
        .env("RUST_LOG", "info")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .output()
        .expect("run node");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let serving = lines
        .iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.contains("/metrics")))
        .unwrap_or_else(|| panic!("no serving line in {stdout}"));
    assert_eq!(serving["level"], "INFO");
    assert!(serving["target"].as_str().is_some_and(|t| t.starts_with("bitcraps_node")), "{serving}");
    assert!(serving["timestamp"].as_str().is_some_and(|t| humantime::parse_rfc3339(t).is_ok()));
}

#[test]
fn the_node_rejects_a_bad_level_directive() {
    let out = Command::new(env!("CARGO_BIN_EXE_bitcraps-node"))
        .args(["--duration", "1s"])
        .env("BITCRAPS_STATE_DIR", "off")
        .env("RUST_LOG", "info,bitcraps_otel=loud")
        .output()
        .expect("run node");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("RUST_LOG") && stderr.contains("bitcraps_otel=loud"), "{stderr}");
}
