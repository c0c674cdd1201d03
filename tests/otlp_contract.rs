//! The OpenTelemetry environment contract, checked at a loopback collector: per-signal
//! endpoints and protocols, headers, gzip and zstd compression, mutual TLS with a generated CA
//! (metrics over `https://` included), exporters turned off, temporality, and the resource.

mod otlp_support;

use bitcraps_otel::config::{Compression, Exporter, OtlpProtocol, Signal, TemporalityPreference};
use bitcraps_otel::{init_with, Config, ConfigBuilder, Telemetry};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use otlp_support::{Arrival, Body, Collector, Pki};
use std::time::Duration;

// Telemetry and the global subscriber are process-wide: the tests take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A builder that exports only when flushed (a one-hour push period), serving nothing.
fn quiet() -> ConfigBuilder {
    Config::builder()
        .service_name("contract-test")
        .node_id("n-contract")
        .without_prometheus()
        .without_health()
        .metric_export_interval(Duration::from_secs(3600))
}

async fn start(config: Config) -> Telemetry {
    tokio::task::spawn_blocking(move || init_with(config)).await.expect("join").expect("init")
}

/// One counter increment, one span and one log record.
fn emit(t: &Telemetry) {
    t.metrics().gaming().bet_placed(5);
    tracing::info_span!("contract-span").in_scope(|| tracing::info!(table = 7, "contract-log"));
}

/// Flushes every signal, then shuts down (which flushes again).
async fn flush_and_stop(t: Telemetry) {
    tokio::task::spawn_blocking(move || {
        if let Some(p) = t.meter_provider() {
            let _ = p.force_flush();
        }
        if let Some(l) = t.logging() {
            let _ = l.flush();
        }
        let _ = t.shutdown();
    })
    .await
    .expect("join");
}

fn signals(arrivals: &[Arrival]) -> Vec<&'static str> {
    let mut s: Vec<_> = arrivals.iter().map(|a| a.signal).collect();
    s.sort_unstable();
    s.dedup();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_signal_endpoints_reach_the_right_collector() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (grpc_side, http_side) = (Collector::default(), Collector::default());
    let grpc = otlp_support::grpc(grpc_side.clone(), None).await;
    let http = otlp_support::http(http_side.clone(), None).await;
    let config = quiet()
        .otlp_endpoint(&grpc)
        .otlp_header("x-tenant", "dice")
        .otlp_header("x-literal", "100% sure")
        .otlp_signal(Signal::Traces, |s| s.header("x-only", "traces"))
        .otlp_signal(Signal::Metrics, |s| s.endpoint(format!("{http}/v1/metrics")).protocol(OtlpProtocol::HttpProtobuf))
        .build()
        .expect("config");
    let t = start(config).await;
    emit(&t);
    flush_and_stop(t).await;

    let at_grpc = grpc_side.arrivals();
    assert_eq!(signals(&at_grpc), ["logs", "traces"], "{at_grpc:?}");
    for a in &at_grpc {
        match a.signal {
            // A signal's headers replace the generic ones.
            "traces" => assert_eq!((a.header("x-only"), a.header("x-tenant")), (Some("traces"), None)),
            _ => assert_eq!((a.header("x-tenant"), a.header("x-literal")), (Some("dice"), Some("100% sure"))),
        }
    }
    let at_http = http_side.arrivals();
    assert_eq!(signals(&at_http), ["metrics"]);
    assert_eq!(at_http[0].path, "/v1/metrics");
    assert_eq!(at_http[0].header("x-tenant"), Some("dice"));
    assert_eq!(at_http[0].header("x-literal"), Some("100% sure"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_zstd_compress_every_signal_on_both_protocols() {
    let _turn = ONE_AT_A_TIME.lock().await;
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        for compression in [Compression::Gzip, Compression::Zstd] {
            let collector = Collector::default();
            let endpoint = match protocol {
                OtlpProtocol::Grpc => otlp_support::grpc(collector.clone(), None).await,
                OtlpProtocol::HttpProtobuf => otlp_support::http(collector.clone(), None).await,
            };
            let config = quiet()
                .otlp_endpoint(endpoint)
                .otlp_protocol(protocol)
                .otlp_compression(compression)
                .build()
                .expect("config");
            let t = start(config).await;
            emit(&t);
            flush_and_stop(t).await;
            let arrivals = collector.arrivals();
            assert_eq!(signals(&arrivals), ["logs", "metrics", "traces"], "{protocol:?} {compression:?}");
            for a in arrivals {
                assert_eq!(a.encoding.as_deref(), Some(compression.as_str()), "{protocol:?} {}", a.signal);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_with_a_generated_ca_on_both_protocols() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let pki = Pki::generate();
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        let collector = Collector::default();
        let endpoint = match protocol {
            OtlpProtocol::Grpc => otlp_support::grpc(collector.clone(), Some(&pki.server(true))).await,
            OtlpProtocol::HttpProtobuf => otlp_support::http(collector.clone(), Some(&pki.server(true))).await,
        };
        assert!(endpoint.starts_with("https://"));
        let with_identity = quiet()
            .otlp_endpoint(&endpoint)
            .otlp_protocol(protocol)
            .otlp_certificate(&pki.ca_file)
            .otlp_client_certificate(&pki.client_cert_file)
            .otlp_client_key(&pki.client_key_file)
            .build()
            .expect("config");
        let t = start(with_identity).await;
        emit(&t);
        flush_and_stop(t).await;
        assert_eq!(signals(&collector.arrivals()), ["logs", "metrics", "traces"], "{protocol:?}");

        // Without the client certificate the collector refuses the handshake: nothing arrives.
        let refused = Collector::default();
        let endpoint = match protocol {
            OtlpProtocol::Grpc => otlp_support::grpc(refused.clone(), Some(&pki.server(true))).await,
            OtlpProtocol::HttpProtobuf => otlp_support::http(refused.clone(), Some(&pki.server(true))).await,
        };
        let ca_only = quiet()
            .otlp_endpoint(&endpoint)
            .otlp_protocol(protocol)
            .otlp_certificate(&pki.ca_file)
            .otlp_timeout(Duration::from_secs(2))
            .metric_export_timeout(Duration::from_secs(2))
            .build()
            .expect("config");
        let t = start(ca_only).await;
        emit(&t);
        flush_and_stop(t).await;
        assert!(refused.arrivals().is_empty(), "{protocol:?}: a client without a certificate got through");
    }
}

fn string_attr(attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resource_and_temporality_come_from_the_environment() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let collector = Collector::default();
    let endpoint = otlp_support::grpc(collector.clone(), None).await;
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes,deployment.environment=ci"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "console"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "3600000"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "1234"),
        ("BITCRAPS_PROMETHEUS_ADDR", "off"),
        ("BITCRAPS_HEALTH_ADDR", "off"),
    ];
    let config = ConfigBuilder::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
        .build()
        .expect("config");
    assert_eq!(config.otlp().map(|o| o.temporality), Some(TemporalityPreference::Delta));
    assert!(config.otlp().is_some_and(|o| o.logs.is_none() && o.traces.is_none()));
    let t = start(config).await;
    emit(&t);
    flush_and_stop(t).await;

    let arrivals = collector.arrivals();
    assert_eq!(signals(&arrivals), ["metrics"], "traces and logs were turned off");
    // The metrics timeout travels with the request (gRPC's `grpc-timeout`, here in micro- or
    // milliseconds).
    let deadline = arrivals[0].header("grpc-timeout").expect("grpc-timeout header");
    let (value, unit) = deadline.split_at(deadline.len() - 1);
    let micros: u64 = value.parse::<u64>().expect("number") * if unit == "m" { 1000 } else { 1 };
    assert!(unit == "u" || unit == "m", "{deadline}");
    assert_eq!(micros, 1_234_000, "{deadline}");
    let Body::Metrics(req) = &arrivals[0].body else { panic!("not metrics") };
    let resource = &req.resource_metrics[0].resource.as_ref().expect("resource").attributes;
    assert_eq!(string_attr(resource, "service.name").as_deref(), Some("from-attributes"));
    assert_eq!(string_attr(resource, "deployment.environment").as_deref(), Some("ci"));
    assert_eq!(string_attr(resource, "telemetry.sdk.language").as_deref(), Some("rust"));
    assert!(string_attr(resource, "telemetry.sdk.version").is_some());
    let bets = req
        .resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .find(|m| m.name == "bitcraps.bets")
        .expect("bets metric");
    let Some(Data::Sum(sum)) = &bets.data else { panic!("bets is a sum") };
    assert_eq!(sum.aggregation_temporality, 1, "expected DELTA (1)");
}

#[test]
fn exporter_choice_is_also_a_builder_method() {
    let config = Config::builder()
        .otlp_endpoint("http://127.0.0.1:4317")
        .exporter(Signal::Metrics, Exporter::None)
        .build()
        .expect("config");
    let otlp = config.otlp().expect("otlp");
    assert!(otlp.metrics.is_none() && otlp.traces.is_some() && otlp.logs.is_some());
}
