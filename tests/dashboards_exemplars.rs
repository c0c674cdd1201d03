//! Exemplars on the dashboards, and the HTTP server panel: every latency panel asks Grafana for
//! exemplars and can reach a trace data source, the provisioned Prometheus data source turns
//! the `trace_id` the bridge really writes into a trace link, and the HTTP panels chart OTel's
//! `http.server.*` metrics by the registry's label names.

mod dashboards_support;

use bitcraps_otel::config::ExemplarFilter;
use bitcraps_otel::export::prometheus::PrometheusBridge;
use bitcraps_otel::metrics::{Metrics, MetricsOptions};
use bitcraps_otel::semconv::{self, metric, Instrument};
use dashboards_support::{data_panels, load_dashboards, repo};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use serde_json::Value;
use std::time::Duration;

/// The histograms in seconds a query reads buckets of: `..._seconds_bucket` names, resolved
/// through the registry.
fn latency_histograms(expr: &str) -> Vec<&'static str> {
    let words = expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    words
        .filter(|w| w.ends_with("_bucket"))
        .filter_map(semconv::lookup_series)
        .filter(|d| d.instrument == Instrument::Histogram && d.unit == "s")
        .map(|d| d.prometheus_name)
        .collect()
}

const TRACE_BACKENDS: [&str; 2] = ["tempo", "jaeger"];

#[test]
fn every_latency_query_shows_exemplars_and_its_dashboard_has_a_trace_data_source_variable() {
    let mut latency_targets = 0;
    let mut problems = Vec::new();
    for d in load_dashboards() {
        let mut has_latency = false;
        for p in data_panels(&d.json) {
            for t in p["targets"].as_array().map(Vec::as_slice).unwrap_or_default() {
                let expr = t["expr"].as_str().unwrap_or_default();
                if latency_histograms(expr).is_empty() {
                    continue;
                }
                has_latency = true;
                latency_targets += 1;
                if t["exemplar"] != true {
                    problems.push(format!("{}: `{}` [{}] lacks \"exemplar\": true", d.file, p["title"], t["refId"]));
                }
            }
        }
        let vars = d.json["templating"]["list"].as_array().cloned().unwrap_or_default();
        let traces = vars.iter().find(|v| v["name"] == "traces");
        match traces {
            Some(v) if v["type"] == "datasource" && TRACE_BACKENDS.contains(&v["query"].as_str().unwrap_or("")) => {}
            Some(v) => problems.push(format!("{}: `traces` is not a tempo/jaeger data source variable: {v}", d.file)),
            None if has_latency => problems.push(format!("{}: latency panels but no `traces` variable", d.file)),
            None => {}
        }
    }
    assert!(latency_targets >= 5, "the consensus, network, game and HTTP latency panels: found {latency_targets}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_latency_detector_sees_only_histograms_in_seconds() {
    assert_eq!(
        latency_histograms(
            "histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_bucket[5m])))"
        ),
        ["http_server_request_duration_seconds"]
    );
    // Bytes are no latency; a counter is no histogram.
    assert!(latency_histograms("rate(bitcraps_prometheus_exposition_size_bytes_bucket[5m])").is_empty());
    assert!(latency_histograms("rate(bitcraps_games_total[5m])").is_empty());
}

fn read_yaml(path: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The exemplar label the bridge writes, read from a real OpenMetrics page.
fn exemplar_trace_label() -> String {
    let (bridge, reader) = PrometheusBridge::new([]).expect("bridge");
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    let options = MetricsOptions { exemplar_filter: ExemplarFilter::TraceBased, ..Default::default() };
    let metrics = Metrics::new(&provider, options);
    bridge.attach(&metrics);
    let span = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("trace id"),
        SpanId::from_hex("00f067aa0ba902b7").expect("span id"),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    {
        let _in_span = opentelemetry::Context::new().with_remote_span_context(span).attach();
        metrics.consensus().record_latency(Duration::from_millis(40));
    }
    let page = bridge.render_openmetrics();
    let line = page.lines().find(|l| l.contains(" # {")).unwrap_or_else(|| panic!("no exemplar on the page:\n{page}"));
    let labels = line.split(" # {").nth(1).expect("exemplar labels");
    let (name, value) = labels.split(',').find_map(|kv| kv.split_once('=')).expect("a label");
    assert_eq!(value, "\"4bf92f3577b34da6a3ce929d0e0e4736\"", "{line}");
    name.to_string()
}

#[test]
fn the_provisioned_prometheus_links_the_bridges_exemplar_trace_id_to_a_trace_data_source() {
    let label = exemplar_trace_label();
    let ds = read_yaml("deploy/grafana/provisioning/datasources/bitcraps.yaml");
    let sources = ds["datasources"].as_sequence().expect("datasources");
    let prometheus = sources.iter().find(|s| s["type"].as_str() == Some("prometheus")).expect("prometheus");
    let links =
        prometheus["jsonData"]["exemplarTraceIdDestinations"].as_sequence().expect("exemplarTraceIdDestinations");
    let link = links.iter().find(|l| l["name"].as_str() == Some(label.as_str())).unwrap_or_else(|| {
        panic!("no exemplarTraceIdDestinations entry for the `{label}` label the bridge writes: {links:?}")
    });
    let uid = link["datasourceUid"].as_str().expect("datasourceUid");
    let target =
        sources.iter().find(|s| s["uid"].as_str() == Some(uid)).expect("the linked data source is provisioned");
    assert!(TRACE_BACKENDS.contains(&target["type"].as_str().unwrap_or("")), "{target:?} is no trace backend");
    // And Prometheus keeps exemplars at all only with the feature flag.
    let compose = std::fs::read_to_string(repo().join("deploy/docker-compose.yaml")).expect("compose");
    assert!(compose.contains("--enable-feature=exemplar-storage"), "docker-compose Prometheus keeps exemplars");
}

/// (panel title, target) of every target whose expression reads `series`.
fn targets_reading(series: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for d in load_dashboards() {
        for p in data_panels(&d.json) {
            for t in p["targets"].as_array().map(Vec::as_slice).unwrap_or_default() {
                if t["expr"].as_str().unwrap_or_default().contains(series) {
                    out.push((p["title"].as_str().unwrap_or("?").to_string(), t.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn an_http_panel_charts_rate_by_route_and_status_p95_duration_and_active_requests() {
    let duration = metric::HTTP_SERVER_REQUEST_DURATION.prometheus_name;
    let labels: Vec<&str> = metric::HTTP_SERVER_REQUEST_DURATION.prometheus_labels().collect();
    let (route, status) = (labels[1], labels[2]);
    assert_eq!((route, status), ("http_route", "http_response_status_code"));

    let rate = targets_reading(&format!("{duration}_count"));
    assert!(
        rate.iter().any(|(_, t)| {
            let e = t["expr"].as_str().unwrap_or_default();
            e.contains("rate(") && e.contains(&format!("by ({route}, {status})"))
        }),
        "no request-rate query by route and status: {rate:?}"
    );
    let p95 = targets_reading(&format!("{duration}_bucket"));
    assert!(
        p95.iter().any(|(_, t)| {
            let e = t["expr"].as_str().unwrap_or_default();
            e.starts_with("histogram_quantile(0.95,") && e.contains(route) && t["exemplar"] == true
        }),
        "no p95 duration query by route with exemplars: {p95:?}"
    );
    let active = targets_reading(metric::HTTP_SERVER_ACTIVE_REQUESTS.prometheus_name);
    assert!(!active.is_empty(), "no active-requests query");
}
