//! Spans and log records from `init_with` reach a loopback OTLP receiver (gRPC and
//! HTTP/protobuf) with the right trace id, attributes, correlation ids and resource, secrets
//! redacted; and `https://` endpoints speak TLS on both protocols.

use bitcraps_otel::config::OtlpProtocol;
use bitcraps_otel::logging::{CorrelationContext, REDACTED};
use bitcraps_otel::{init_with, Config};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

// Telemetry and the global subscriber are process-wide: the tests take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Clone, Default)]
struct Received {
    traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    logs: Arc<Mutex<Vec<ExportLogsServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.traces.lock().expect("lock").push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

#[tonic::async_trait]
impl LogsService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.logs.lock().expect("lock").push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse { partial_success: None }))
    }
}

/// Metrics are not under test here; accept and drop them.
struct DropMetrics;

#[tonic::async_trait]
impl MetricsService for DropMetrics {
    async fn export(
        &self,
        _request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        Ok(tonic::Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

async fn grpc_receiver(received: Received) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(received.clone()))
            .add_service(LogsServiceServer::new(received))
            .add_service(MetricsServiceServer::new(DropMetrics))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    format!("http://{addr}")
}

async fn http_receiver(received: Received) -> String {
    use axum::http::StatusCode;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (traces, logs) = (received.traces.clone(), received.logs.clone());
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| async move {
                match ExportTraceServiceRequest::decode(body) {
                    Ok(r) => {
                        traces.lock().expect("lock").push(r);
                        (StatusCode::OK, ExportTraceServiceResponse { partial_success: None }.encode_to_vec())
                    }
                    Err(_) => (StatusCode::BAD_REQUEST, Vec::new()),
                }
            }),
        )
        .route(
            "/v1/logs",
            axum::routing::post(move |body: axum::body::Bytes| async move {
                match ExportLogsServiceRequest::decode(body) {
                    Ok(r) => {
                        logs.lock().expect("lock").push(r);
                        (StatusCode::OK, ExportLogsServiceResponse { partial_success: None }.encode_to_vec())
                    }
                    Err(_) => (StatusCode::BAD_REQUEST, Vec::new()),
                }
            }),
        )
        // Metrics are not under test here; accept and drop them.
        .route("/v1/metrics", axum::routing::post(|| async { StatusCode::OK }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        other => Some(format!("{other:?}")),
    })
}

fn check_resource(resource: Option<&Resource>) {
    let attrs = &resource.expect("resource").attributes;
    assert_eq!(attr(attrs, "service.name").as_deref(), Some("otlp-logging-test"));
    assert_eq!(attr(attrs, "service.version").as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(attr(attrs, "bitcraps.node.id").as_deref(), Some("n-logs"));
}

async fn round_trip(protocol: OtlpProtocol) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let received = Received::default();
    let endpoint = match protocol {
        OtlpProtocol::Grpc => grpc_receiver(received.clone()).await,
        OtlpProtocol::HttpProtobuf => http_receiver(received.clone()).await,
    };
    let config = Config::builder()
        .service_name("otlp-logging-test")
        .node_id("n-logs")
        .without_prometheus()
        .without_health()
        .otlp_endpoint(endpoint)
        .otlp_protocol(protocol)
        .metric_export_interval(Duration::from_secs(3600))
        .build()
        .expect("config");
    let telemetry = init_with(config).expect("init");

    let ctx = CorrelationContext::new().with_user_id("user_123");
    let trace_id = ctx
        .clone()
        .scope(async {
            let span = tracing::info_span!("bitcraps.game", bitcraps.game.id = "game_456", password = "hunter2");
            let trace_id = span.context().span().span_context().trace_id();
            async {
                tracing::info!(winner = "alice", api_key = "k-9", "game settled");
                // The SDK's own events must not become exported records.
                tracing::warn!(target: "opentelemetry_sdk", "internal noise");
            }
            .instrument(span)
            .await;
            trace_id
        })
        .await;

    // The guard's shutdown flushes both batch processors: nothing may be left behind.
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await.expect("join").expect("clean shutdown");

    let traces = received.traces.lock().expect("lock").clone();
    let spans: Vec<_> = traces
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| rs.scope_spans.iter().map(move |ss| (rs, ss)))
        .flat_map(|(rs, ss)| ss.spans.iter().map(move |s| (rs, s)))
        .collect();
    let (rs, game) = spans.iter().find(|(_, s)| s.name == "bitcraps.game").expect("the game span arrived");
    check_resource(rs.resource.as_ref());
    assert_eq!(game.trace_id, trace_id.to_bytes().to_vec(), "trace id");
    assert_eq!(attr(&game.attributes, "bitcraps.game.id").as_deref(), Some("game_456"));
    assert_eq!(attr(&game.attributes, "password").as_deref(), Some(REDACTED));
    assert_eq!(attr(&game.attributes, "bitcraps.correlation.id").as_deref(), Some(ctx.correlation_id()));
    assert_eq!(attr(&game.attributes, "bitcraps.user.id").as_deref(), Some("user_123"));
    let event = game.events.iter().find(|e| attr(&e.attributes, "winner").is_some()).expect("span event");
    assert_eq!(attr(&event.attributes, "api_key").as_deref(), Some(REDACTED));

    let logs = received.logs.lock().expect("lock").clone();
    let records: Vec<_> = logs
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|rl| rl.scope_logs.iter().map(move |sl| (rl, sl)))
        .flat_map(|(rl, sl)| sl.log_records.iter().map(move |l| (rl, l)))
        .collect();
    let body =
        |l: &opentelemetry_proto::tonic::logs::v1::LogRecord| match l.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(Value::StringValue(s)) => s.clone(),
            other => format!("{other:?}"),
        };
    let (rl, settled) = records.iter().find(|(_, l)| body(l) == "game settled").expect("the log record arrived");
    check_resource(rl.resource.as_ref());
    assert_eq!(settled.severity_text, "INFO");
    assert_eq!(settled.trace_id, trace_id.to_bytes().to_vec(), "log record trace id");
    assert_eq!(attr(&settled.attributes, "winner").as_deref(), Some("alice"));
    assert_eq!(attr(&settled.attributes, "api_key").as_deref(), Some(REDACTED));
    assert_eq!(attr(&settled.attributes, "bitcraps.correlation.id").as_deref(), Some(ctx.correlation_id()));
    assert!(records.iter().all(|(_, l)| body(l) != "internal noise"), "an opentelemetry* event was exported");
    let text = format!("{traces:?}{logs:?}");
    assert!(!text.contains("hunter2") && !text.contains("k-9"), "a secret left the process");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_logs_arrive_over_grpc() {
    round_trip(OtlpProtocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_logs_arrive_over_http_protobuf() {
    round_trip(OtlpProtocol::HttpProtobuf).await;
}

/// An `https://` endpoint gets a TLS ClientHello (record type 0x16), not plaintext.
async fn speaks_tls(protocol: OtlpProtocol) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = Config::builder()
        .without_prometheus()
        .without_health()
        .otlp_endpoint(format!("https://{addr}"))
        .otlp_protocol(protocol)
        .build()
        .expect("config");
    let logging = tokio::task::spawn_blocking(move || bitcraps_otel::logging::init_logging_with(&config))
        .await
        .expect("join")
        .expect("an https endpoint builds");
    tracing::info_span!("tls-probe").in_scope(|| tracing::info!("probe"));
    let flusher = tokio::task::spawn_blocking(move || {
        let _ = logging.flush();
        drop(logging);
    });
    let first = tokio::time::timeout(Duration::from_secs(20), async {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut byte = [0u8; 1];
        socket.read_exact(&mut byte).await.expect("read");
        byte[0]
    })
    .await
    .expect("the exporter connected within 20 s");
    assert_eq!(first, 0x16, "expected a TLS handshake record over {protocol:?}");
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(30), flusher).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoints_use_tls_over_grpc() {
    speaks_tls(OtlpProtocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoints_use_tls_over_http() {
    speaks_tls(OtlpProtocol::HttpProtobuf).await;
}

use tracing::Instrument as _;
