//! The guard `init` returns, over its life: the `otlp_export` readiness check following the
//! collector down and up again, and `shutdown_gracefully` (not ready at once, drain, flush).

mod common;

use bitcraps_otel::config::OtlpProtocol;
use bitcraps_otel::{init_with, Config};
use common::{http, is_child, run_in_child, try_http, wait_for};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value as Number};
use prost::Message;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

// `init` is process-wide; the in-process tests take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const HOUR: Duration = Duration::from_secs(3600);

fn ready(health: SocketAddr) -> Option<(u16, Value)> {
    let (status, body) = try_http("GET", health, "/ready")?;
    Some((status, serde_json::from_str(&body).ok()?))
}

fn check<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["checks"].as_array().and_then(|c| c.iter().find(|c| c["name"] == name)).unwrap_or(&Value::Null)
}

#[test]
fn the_otlp_export_check_follows_the_collector_down_and_up_without_taking_the_node_out() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let collector = common::start_receiver();
    collector.answer_with(503);
    let config = Config::builder()
        .prometheus_addr("127.0.0.1:0")
        .health_addr("127.0.0.1:0")
        .health_cache_ttl(Duration::ZERO)
        .health_check_timeout(HOUR)
        .otlp_endpoint(collector.url())
        .otlp_protocol(OtlpProtocol::HttpProtobuf)
        .metric_export_interval(Duration::from_millis(100))
        .build()
        .expect("config");
    let telemetry = init_with(config).expect("init");
    let health = telemetry.health_addr().expect("health served");
    // Each state is waited for as a condition: the periodic exporter's timing is its own.
    let (status, body) = wait_for(|| ready(health).filter(|(_, b)| check(b, "otlp_export")["status"] == "fail"))
        .expect("the failing collector shows in /ready");
    let otlp = check(&body, "otlp_export");
    assert_eq!((status, &body["status"], &otlp["critical"]), (200, &Value::from("degraded"), &Value::Bool(false)));
    // The reason names the signal, the endpoint and the cause.
    assert!(
        otlp["reason"].as_str().is_some_and(|r| r.contains("export to http://127.0.0.1:") && r.contains("503")),
        "{body}"
    );
    assert!(collector.requests().iter().any(|r| r.path == "/v1/metrics" && r.status == 503));

    collector.answer_with(200);
    let (status, body) = wait_for(|| ready(health).filter(|(_, b)| check(b, "otlp_export")["status"] == "pass"))
        .expect("the recovered collector shows in /ready");
    assert_eq!((status, &body["status"]), (200, &Value::from("ready")), "{body}");
    telemetry.shutdown().expect("shutdown");
}

/// The value of the first data point of `name` across every export received.
fn exported_value(requests: &[common::Seen], name: &str) -> Option<f64> {
    let decoded = requests
        .iter()
        .filter(|r| r.path == "/v1/metrics")
        .filter_map(|r| ExportMetricsServiceRequest::decode(r.body.as_slice()).ok());
    let metrics: Vec<_> = decoded
        .flat_map(|req| req.resource_metrics)
        .flat_map(|rm| rm.scope_metrics)
        .flat_map(|sm| sm.metrics)
        .filter(|m| m.name == name)
        .collect();
    metrics.iter().rev().find_map(|m| match &m.data {
        Some(Data::Sum(sum)) => sum.data_points.first().and_then(|p| match p.value {
            Some(Number::AsInt(i)) => Some(i as f64),
            Some(Number::AsDouble(d)) => Some(d),
            None => None,
        }),
        _ => None,
    })
}

#[test]
fn shutdown_gracefully_drains_then_stops_serving_and_flushes_the_final_values() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let collector = common::start_receiver();
    let drain = Duration::from_millis(300);
    let config = Config::builder()
        .prometheus_addr("127.0.0.1:0")
        .health_addr("127.0.0.1:0")
        .drain_period(drain)
        .otlp_endpoint(collector.url())
        .otlp_protocol(OtlpProtocol::HttpProtobuf)
        // No periodic export during the test: only the final flush can carry the value.
        .metric_export_interval(HOUR)
        .build()
        .expect("config");
    let telemetry = init_with(config).expect("init");
    let (bridge, health) = (telemetry.prometheus_addr().expect("bridge"), telemetry.health_addr().expect("health"));
    telemetry.metrics().consensus().fork_detected();
    telemetry.metrics().consensus().fork_detected();
    assert_eq!(exported_value(&collector.requests(), "bitcraps.consensus.forks"), None, "nothing exported yet");
    let runtime = telemetry.runtime();
    let started = Instant::now();
    runtime.block_on(telemetry.shutdown_gracefully()).expect("graceful shutdown");
    // A sleep never ends early, so the lower bound is safe on any machine.
    assert!(started.elapsed() >= drain, "returned before the drain period: {:?}", started.elapsed());
    assert!(try_http("GET", bridge, "/metrics").is_none(), "the bridge still answers");
    assert!(try_http("GET", health, "/health").is_none(), "health still answers");
    assert_eq!(exported_value(&collector.requests(), "bitcraps.consensus.forks"), Some(2.0), "the final flush");
}

/// Runs in a child process: the drain lasts an hour and the child exits with it pending, so
/// `/ready` is certainly probed during the drain, whatever the machine's speed.
#[test]
fn shutdown_gracefully_turns_ready_503_at_once_and_keeps_serving_while_it_drains() {
    const NAME: &str = "shutdown_gracefully_turns_ready_503_at_once_and_keeps_serving_while_it_drains";
    if !is_child(NAME) {
        run_in_child(NAME, &[]);
        return;
    }
    let config = Config::builder()
        .prometheus_addr("127.0.0.1:0")
        .health_addr("127.0.0.1:0")
        .health_check_timeout(HOUR)
        .drain_period(HOUR)
        .build()
        .expect("config");
    let telemetry = init_with(config).expect("init");
    let (bridge, health) = (telemetry.prometheus_addr().expect("bridge"), telemetry.health_addr().expect("health"));
    assert_eq!(http("GET", health, "/ready").0, 200, "ready before");
    let task = telemetry.runtime().spawn(telemetry.shutdown_gracefully());
    let (status, body) =
        wait_for(|| ready(health).filter(|(s, _)| *s == 503)).expect("/ready turned 503 when the shutdown began");
    assert_eq!((status, &body["shutting_down"]), (503, &Value::Bool(true)), "{body}");
    assert_eq!(http("GET", health, "/health").0, 200, "liveness holds while draining");
    assert_eq!(http("GET", bridge, "/metrics").0, 200, "metrics are served while draining");
    assert!(!task.is_finished(), "still draining");
}
