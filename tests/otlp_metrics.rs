//! OTLP metric export from `init_with` reaches a loopback receiver over gRPC and over
//! HTTP/protobuf, and decodes to the registry's names and the configured resource.

use bitcraps_otel::config::{Exporter, OtlpProtocol, Signal};
use bitcraps_otel::semconv::{self, ErrorCategory, ErrorSeverity, GameType};
use bitcraps_otel::{init_with, Config};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// `init` is process-wide, so the two protocol tests take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<ExportMetricsServiceRequest>>>);

impl Received {
    fn push(&self, r: ExportMetricsServiceRequest) {
        self.0.lock().expect("lock").push(r);
    }
    fn snapshot(&self) -> Vec<ExportMetricsServiceRequest> {
        self.0.lock().expect("lock").clone()
    }
}

#[tonic::async_trait]
impl MetricsService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

async fn grpc_receiver(received: Received) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(MetricsServiceServer::new(received))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    format!("http://{addr}")
}

async fn http_receiver(received: Received) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(move |body: axum::body::Bytes| {
            let received = received.clone();
            async move {
                match ExportMetricsServiceRequest::decode(body) {
                    Ok(r) => {
                        received.push(r);
                        (
                            axum::http::StatusCode::OK,
                            ExportMetricsServiceResponse { partial_success: None }.encode_to_vec(),
                        )
                    }
                    Err(_) => (axum::http::StatusCode::BAD_REQUEST, Vec::new()),
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        other => Some(format!("{other:?}")),
    })
}

async fn round_trip(protocol: OtlpProtocol) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let received = Received::default();
    let endpoint = match protocol {
        OtlpProtocol::Grpc => grpc_receiver(received.clone()).await,
        OtlpProtocol::HttpProtobuf => http_receiver(received.clone()).await,
    };
    let config = Config::builder()
        .service_name("otlp-test")
        .node_id("n-otlp")
        .without_prometheus()
        .without_health()
        .otlp_endpoint(endpoint)
        .otlp_protocol(protocol)
        .metric_export_interval(Duration::from_millis(200))
        // This receiver speaks only the metrics service; spans and log records (init logs its
        // configuration) would be refused and fail the shutdown.
        .exporter(Signal::Traces, Exporter::None)
        .exporter(Signal::Logs, Exporter::None)
        .build()
        .expect("config");
    let telemetry = init_with(config).expect("init");
    telemetry.metrics().gaming().game_started(GameType::Tournament);
    telemetry.metrics().errors().record(ErrorCategory::Network, ErrorSeverity::High);
    telemetry.metrics().errors().record(ErrorCategory::Network, ErrorSeverity::High);

    let mut names = BTreeSet::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        names = received
            .snapshot()
            .iter()
            .flat_map(|r| r.resource_metrics.iter())
            .flat_map(|rm| rm.scope_metrics.iter())
            .flat_map(|sm| sm.metrics.iter())
            .map(|m| m.name.clone())
            .collect();
        if names.contains(semconv::metric::ERRORS.name) && names.contains(semconv::metric::CPU_USAGE.name) {
            break;
        }
    }
    // The guard's shutdown flushes: the final export must arrive too.
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await.expect("join").expect("clean shutdown");

    let requests = received.snapshot();
    assert!(!requests.is_empty(), "no export arrived over {protocol:?}");
    for name in [
        semconv::metric::ERRORS.name,
        semconv::metric::GAMES_ACTIVE.name,
        semconv::metric::CPU_USAGE.name,
        semconv::metric::MEMORY_USAGE.name,
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    let rm = &requests.last().expect("one request").resource_metrics[0];
    let resource = &rm.resource.as_ref().expect("resource").attributes;
    assert_eq!(attr(resource, "service.name").as_deref(), Some("otlp-test"));
    assert_eq!(attr(resource, "service.version").as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(attr(resource, "bitcraps.node.id").as_deref(), Some("n-otlp"));
    let scope = &rm.scope_metrics[0];
    assert_eq!(scope.scope.as_ref().map(|s| s.name.as_str()), Some("bitcraps"));
    let errors = scope.metrics.iter().find(|m| m.name == "bitcraps.errors").expect("errors metric");
    assert_eq!(errors.unit, "{error}");
    let Some(Data::Sum(sum)) = &errors.data else { panic!("errors is a sum: {errors:?}") };
    assert!(sum.is_monotonic);
    let high_network: Vec<_> = sum
        .data_points
        .iter()
        .filter(|p| {
            attr(&p.attributes, "error.category").as_deref() == Some("network")
                && attr(&p.attributes, "error.severity").as_deref() == Some("high")
        })
        .collect();
    assert_eq!(high_network.len(), 1);
    assert_eq!(format!("{:?}", high_network[0].value), "Some(AsInt(2))");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_arrive_over_grpc() {
    round_trip(OtlpProtocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_arrive_over_http_protobuf() {
    round_trip(OtlpProtocol::HttpProtobuf).await;
}

mod otlp_support;

use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, HistogramDataPoint, NumberDataPoint};
use std::collections::HashMap;

fn series_key(name: &str, attrs: &[KeyValue]) -> String {
    let mut parts: Vec<String> = attrs.iter().map(|kv| format!("{}={:?}", kv.key, kv.value)).collect();
    parts.sort();
    format!("{name}{{{}}}", parts.join(","))
}

fn number(p: &NumberDataPoint) -> f64 {
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
    match p.value {
        Some(Value::AsInt(i)) => i as f64,
        Some(Value::AsDouble(d)) => d,
        None => f64::NAN,
    }
}

/// Checks one histogram point against the OTLP data model; returns what is wrong.
fn histogram_violations(name: &str, p: &HistogramDataPoint) -> Vec<String> {
    let mut v = Vec::new();
    let at = series_key(name, &p.attributes);
    if p.count == 0 {
        v.push(format!("{at}: a point with count 0 (min {:?}, max {:?})", p.min, p.max));
    }
    if p.bucket_counts.iter().sum::<u64>() != p.count {
        v.push(format!("{at}: buckets add up to {} but count is {}", p.bucket_counts.iter().sum::<u64>(), p.count));
    }
    if !p.bucket_counts.is_empty() && p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
        v.push(format!("{at}: {} buckets for {} bounds", p.bucket_counts.len(), p.explicit_bounds.len()));
    }
    if let (Some(min), Some(max)) = (p.min, p.max) {
        if !(min <= max && min.is_finite() && max.is_finite()) {
            v.push(format!("{at}: min {min} max {max}"));
        }
    }
    if p.time_unix_nano == 0 || p.start_time_unix_nano == 0 || p.start_time_unix_nano > p.time_unix_nano {
        v.push(format!("{at}: start {} time {}", p.start_time_unix_nano, p.time_unix_nano));
    }
    for e in &p.exemplars {
        if e.trace_id.len() != 16 || e.span_id.len() != 8 || e.time_unix_nano == 0 {
            v.push(format!("{at}: malformed exemplar {e:?}"));
        }
    }
    v
}

/// Everything `init`'s pipeline exports, decoded and checked against the OTLP data model:
/// monotonic sums never decrease across exports, histogram buckets add up to the count, min ≤
/// max, no point without data, timestamps set and start ≤ time; our own histograms arrive with
/// exemplars from the spans they were recorded in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_init_exports_obeys_the_otlp_data_model() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let collector = otlp_support::Collector::default();
    let endpoint = otlp_support::grpc(collector.clone(), None).await;
    let config = Config::builder()
        .service_name("data-model")
        .node_id("n-model")
        .without_prometheus()
        .without_health()
        .otlp_endpoint(endpoint)
        .metric_export_interval(Duration::from_secs(3600))
        .build()
        .expect("config");
    let telemetry = tokio::task::spawn_blocking(move || init_with(config)).await.expect("join").expect("init");
    let telemetry = Arc::new(telemetry);
    for round in 0..3u64 {
        let t = Arc::clone(&telemetry);
        tokio::task::spawn_blocking(move || {
            let m = t.metrics();
            tracing::info_span!("game-round", round).in_scope(|| {
                m.gaming().game_completed(GameType::Cash, Duration::from_secs(30 + round));
                m.consensus().record_latency(Duration::from_millis(40));
            });
            m.gaming().bet_placed(10 * (round + 1));
            m.errors().record(ErrorCategory::Network, ErrorSeverity::High);
            t.meter_provider().expect("provider").force_flush().expect("flush");
        })
        .await
        .expect("join");
    }
    let telemetry = Arc::into_inner(telemetry).expect("sole owner");
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await.expect("join").expect("shutdown");

    let mut violations = Vec::new();
    let mut last_sum: HashMap<String, f64> = HashMap::new();
    let mut histograms_seen: HashMap<String, u64> = HashMap::new();
    let mut exemplars = 0;
    let exports = collector.of("metrics");
    assert!(exports.len() >= 3, "expected one export per flush, got {}", exports.len());
    for arrival in &exports {
        let otlp_support::Body::Metrics(req) = &arrival.body else { continue };
        for m in req.resource_metrics.iter().flat_map(|rm| &rm.scope_metrics).flat_map(|sm| &sm.metrics) {
            match &m.data {
                Some(Data::Sum(sum)) => {
                    for p in &sum.data_points {
                        let key = series_key(&m.name, &p.attributes);
                        if p.time_unix_nano == 0 || p.start_time_unix_nano > p.time_unix_nano {
                            violations
                                .push(format!("{key}: start {} time {}", p.start_time_unix_nano, p.time_unix_nano));
                        }
                        let cumulative = sum.aggregation_temporality == AggregationTemporality::Cumulative as i32;
                        if sum.is_monotonic && cumulative {
                            let v = number(p);
                            if let Some(prev) = last_sum.insert(key.clone(), v) {
                                if v < prev {
                                    violations.push(format!("{key}: monotonic sum went from {prev} to {v}"));
                                }
                            }
                        }
                    }
                }
                Some(Data::Gauge(g)) => {
                    for p in &g.data_points {
                        if p.time_unix_nano == 0 {
                            violations.push(format!("{}: gauge point without a time", m.name));
                        }
                    }
                }
                Some(Data::Histogram(h)) => {
                    for p in &h.data_points {
                        violations.extend(histogram_violations(&m.name, p));
                        exemplars += p.exemplars.len();
                        let seen = histograms_seen.entry(series_key(&m.name, &p.attributes)).or_default();
                        if p.count < *seen {
                            violations.push(format!("{}: cumulative histogram count went down", m.name));
                        }
                        *seen = p.count;
                    }
                }
                Some(other) => violations.push(format!("{}: unexpected data {other:?}", m.name)),
                None => violations.push(format!("{}: no data", m.name)),
            }
        }
    }
    assert!(violations.is_empty(), "OTLP data-model violations:\n{}", violations.join("\n"));
    let game =
        histograms_seen.iter().find(|(k, _)| k.starts_with(semconv::metric::GAME_DURATION.name)).map(|(_, c)| *c);
    assert_eq!(game, Some(3), "our game-duration cells arrive cumulative: {histograms_seen:?}");
    assert!(
        !histograms_seen.keys().any(|k| k.starts_with(semconv::metric::OPERATION_DURATION.name)),
        "a histogram that never recorded was exported: {histograms_seen:?}"
    );
    assert!(exemplars > 0, "no exemplar from the sampled spans the histograms were recorded in");
    assert!(last_sum.keys().any(|k| k.starts_with(semconv::metric::BETS.name)), "bets missing: {last_sum:?}");
}

/// With the delta preference, our histograms arrive as deltas: each export holds what was
/// recorded since the previous one, and a quiet series is left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_delta_preference_our_histograms_arrive_as_deltas() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let collector = otlp_support::Collector::default();
    let endpoint = otlp_support::http(collector.clone(), None).await;
    let config = Config::builder()
        .without_prometheus()
        .without_health()
        .otlp_endpoint(endpoint)
        .otlp_protocol(OtlpProtocol::HttpProtobuf)
        .temporality_preference(bitcraps_otel::config::TemporalityPreference::Delta)
        .metric_export_interval(Duration::from_secs(3600))
        .build()
        .expect("config");
    let telemetry =
        Arc::new(tokio::task::spawn_blocking(move || init_with(config)).await.expect("join").expect("init"));
    for games in [2u32, 0, 1] {
        let t = Arc::clone(&telemetry);
        tokio::task::spawn_blocking(move || {
            for _ in 0..games {
                t.metrics().gaming().game_completed(GameType::Tournament, Duration::from_secs(45));
            }
            t.meter_provider().expect("provider").force_flush().expect("flush");
        })
        .await
        .expect("join");
    }
    let telemetry = Arc::into_inner(telemetry).expect("sole owner");
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await.expect("join").expect("shutdown");
    let per_export: Vec<Option<(u64, i32)>> = collector
        .of("metrics")
        .iter()
        .take(3)
        .map(|a| {
            let otlp_support::Body::Metrics(req) = &a.body else { return None };
            req.resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .filter(|m| m.name == semconv::metric::GAME_DURATION.name)
                .find_map(|m| match &m.data {
                    Some(Data::Histogram(h)) => h.data_points.first().map(|p| (p.count, h.aggregation_temporality)),
                    _ => None,
                })
        })
        .collect();
    let delta = AggregationTemporality::Delta as i32;
    assert_eq!(per_export, vec![Some((2, delta)), None, Some((1, delta))]);
}
