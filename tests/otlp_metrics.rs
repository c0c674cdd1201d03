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
