//! Export errors that say what to do: a collector driven down, up and down again gives one WARN
//! line at the first failure (signal, endpoint without credentials or query, cause, setting to
//! check), nothing for repeats, one INFO line at recovery, one WARN line at the next failure;
//! the readiness check reports the same state; the SDK adds no line of its own.

mod otlp_support;

use bitcraps_otel::logging::LoggingBuilder;
use bitcraps_otel::{init_with, Config, Telemetry};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every line the logging stack writes, as JSON objects.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn take(&self) -> Vec<serde_json::Value> {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

fn message(v: &serde_json::Value) -> &str {
    v["message"].as_str().unwrap_or("")
}

/// Lines about exports, plus any line the OpenTelemetry crates wrote at WARN or above.
fn export_lines(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| {
            let target = l["target"].as_str().unwrap_or("");
            let level = l["level"].as_str().unwrap_or("");
            message(l).contains("export to")
                || (target.starts_with("opentelemetry") && matches!(level, "WARN" | "ERROR"))
        })
        .map(|l| format!("{} {}", l["level"].as_str().unwrap_or(""), message(l)))
        .collect()
}

/// A collector on a fixed loopback port that can be stopped (every connection closed) and
/// started again on the same port.
struct Switchable {
    addr: std::net::SocketAddr,
    collector: otlp_support::Collector,
    tasks: Option<tokio::task::JoinSet<()>>,
}

impl Switchable {
    async fn start(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.expect("rebind the collector's port");
        let app = otlp_support::http_app(self.collector.clone(), "");
        let mut tasks = tokio::task::JoinSet::new();
        let conns = Arc::new(Mutex::new(tokio::task::JoinSet::new()));
        let held = Arc::clone(&conns);
        tasks.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                held.lock().unwrap_or_else(|e| e.into_inner()).spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        // Keeps the connection set alive as long as the accept loop; dropping both closes all.
        tasks.spawn(async move {
            let _conns = conns;
            std::future::pending::<()>().await;
        });
        self.tasks = Some(tasks);
    }

    fn stop(&mut self) {
        self.tasks = None;
    }
}

async fn flush(t: &Arc<Telemetry>) {
    let t = Arc::clone(t);
    tokio::task::spawn_blocking(move || {
        let _ = t.meter_provider().expect("provider").force_flush();
    })
    .await
    .expect("join");
}

async fn readiness_reason(t: &Arc<Telemetry>) -> Option<String> {
    let report = t.health().expect("checker").readiness().await;
    report.checks.into_iter().find(|c| c.name == "otlp_export").and_then(|c| c.reason)
}

// One global subscriber per test binary; the tests take turns reading it.
static LINES: std::sync::OnceLock<Lines> = std::sync::OnceLock::new();
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Installs our logging stack (with its filter for the SDK's own targets) writing to a buffer.
fn capture(config: &Config) -> Lines {
    LINES
        .get_or_init(|| {
            let lines = Lines::default();
            let writer = lines.clone();
            let subscriber =
                LoggingBuilder::from_config(config).build_subscriber(move || writer.clone()).expect("subscriber");
            tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");
            lines
        })
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_going_down_up_and_down_gives_one_line_per_change() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // The collector's port: taken from the OS, then freed so the first exports are refused.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let mut collector = Switchable { addr, collector: otlp_support::Collector::default(), tasks: None };
    let config = Config::builder()
        .without_prometheus()
        .without_logging()
        .health_addr("127.0.0.1:0")
        .health_cache_ttl(Duration::ZERO)
        // Credentials and a query string must never reach a log line.
        .otlp_endpoint(format!("http://scott:tiger@{addr}?tenant=s3cret"))
        .otlp_protocol(bitcraps_otel::config::OtlpProtocol::HttpProtobuf)
        .exporter(bitcraps_otel::config::Signal::Traces, bitcraps_otel::config::Exporter::None)
        .exporter(bitcraps_otel::config::Signal::Logs, bitcraps_otel::config::Exporter::None)
        .otlp_timeout(Duration::from_secs(5))
        .metric_export_interval(Duration::from_secs(3600))
        .build()
        .expect("config");
    let lines = capture(&config);
    let telemetry =
        Arc::new(tokio::task::spawn_blocking(move || init_with(config)).await.expect("join").expect("init"));
    lines.take();

    // Down: the first failure is one WARN line; two more failures add nothing.
    for _ in 0..3 {
        flush(&telemetry).await;
    }
    let down = export_lines(&lines.take());
    assert_eq!(down.len(), 1, "{down:#?}");
    let endpoint = format!("http://{addr}/v1/metrics");
    assert_eq!(
        down[0],
        format!(
            "WARN OTLP metrics export to {endpoint}?… failed: connection refused (nothing listens there); \
             check otlp_endpoint (is the collector running and listening there?)"
        )
    );
    let reason = readiness_reason(&telemetry).await.expect("the readiness check reports the failure");
    assert!(reason.contains("connection refused") && reason.contains(&endpoint), "{reason}");

    // Up: the export arrives (with the credentials as a header), and one INFO line says so.
    collector.start().await;
    flush(&telemetry).await;
    let up = export_lines(&lines.take());
    assert_eq!(up, [format!("INFO OTLP metrics export to {endpoint}?… recovered after 3 failed exports")]);
    let arrived = collector.collector.of("metrics");
    assert_eq!(arrived.len(), 1);
    assert_eq!(arrived[0].path, "/v1/metrics");
    assert!(arrived[0].header("authorization").is_some_and(|v| v.starts_with("Basic ")));
    assert_eq!(readiness_reason(&telemetry).await, None, "still failing after recovery");

    // Down again: one WARN line.
    collector.stop();
    flush(&telemetry).await;
    flush(&telemetry).await;
    let again = export_lines(&lines.take());
    assert_eq!(again.len(), 1, "{again:#?}");
    assert!(again[0].starts_with(&format!("WARN OTLP metrics export to {endpoint}?… failed: ")), "{again:#?}");

    let telemetry = Arc::into_inner(telemetry).expect("sole owner");
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await.expect("join");
    for line in lines.take().iter().map(ToString::to_string) {
        for secret in ["tiger", "s3cret", "scott"] {
            assert!(!line.contains(secret), "{secret} leaked: {line}");
        }
    }
}

/// Over HTTP the span exporter only says "network error" or gives a bare status; the cause we
/// log is the real one, with the start of the collector's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_export_failures_over_http_say_what_the_collector_answered() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(|| async { (axum::http::StatusCode::UNAUTHORIZED, "invalid api key\n") }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = Config::builder()
        .without_prometheus()
        .without_health()
        .without_logging()
        .otlp_endpoint(format!("http://{addr}"))
        .otlp_protocol(bitcraps_otel::config::OtlpProtocol::HttpProtobuf)
        .otlp_header("x-api-key", "wrong-key")
        .exporter(bitcraps_otel::config::Signal::Metrics, bitcraps_otel::config::Exporter::None)
        .exporter(bitcraps_otel::config::Signal::Logs, bitcraps_otel::config::Exporter::None)
        .build()
        .expect("config");
    let lines = capture(&config);
    lines.take();
    let otlp = config.otlp().expect("otlp").clone();
    let exporter = tokio::task::spawn_blocking(move || bitcraps_otel::export::otlp::span_exporter(&otlp))
        .await
        .expect("join")
        .expect("exporter")
        .expect("traces are exported");
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().with_simple_exporter(exporter).build();
    tokio::task::spawn_blocking(move || {
        use opentelemetry::trace::{Tracer as _, TracerProvider as _};
        provider.tracer("errors-test").in_span("rejected", |_| {});
        let _ = provider.shutdown();
    })
    .await
    .expect("join");
    let got = export_lines(&lines.take());
    let endpoint = format!("http://{addr}/v1/traces");
    assert_eq!(
        got,
        [format!(
            "WARN OTLP traces export to {endpoint} failed: HTTP status 401: `invalid api key`; check otlp_header"
        )],
    );
}

/// A busy collector (503) is tried again within the same export: the export succeeds and
/// nothing is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_collector_is_retried_within_one_export() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(move || {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                match n {
                    0 => axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    _ => axum::http::StatusCode::OK,
                }
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = Config::builder()
        .without_prometheus()
        .without_health()
        .without_logging()
        .otlp_endpoint(format!("http://{addr}"))
        .otlp_protocol(bitcraps_otel::config::OtlpProtocol::HttpProtobuf)
        .exporter(bitcraps_otel::config::Signal::Traces, bitcraps_otel::config::Exporter::None)
        .exporter(bitcraps_otel::config::Signal::Logs, bitcraps_otel::config::Exporter::None)
        .metric_export_interval(Duration::from_secs(3600))
        .build()
        .expect("config");
    let lines = capture(&config);
    let telemetry =
        Arc::new(tokio::task::spawn_blocking(move || init_with(config)).await.expect("join").expect("init"));
    lines.take();
    flush(&telemetry).await;
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2, "one refusal, one retry");
    assert_eq!(export_lines(&lines.take()), Vec::<String>::new());
    let telemetry = Arc::into_inner(telemetry).expect("sole owner");
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await.expect("join").expect("clean shutdown");
}
