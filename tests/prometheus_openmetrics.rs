//! `/metrics` in both formats, checked by real parsers: promtool for the classic text, the
//! official Python client's OpenMetrics parser, and a real Prometheus storing exemplars whose
//! trace ids are those of spans made with the SDK tracer; plus gzip and fallback negotiation.

mod common;

use bitcraps_otel::export::prometheus::{PrometheusBridge, CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE};
use bitcraps_otel::metrics::{Metrics, MetricsOptions};
use bitcraps_otel::semconv::{BetType, ErrorCategory, ErrorSeverity, GameType, PeerTransport};
use common::{start_prometheus, tool_missing, wait_for};
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// A bridge serving one `Metrics` on a loopback port, with traffic recorded, some of it inside
/// spans of an SDK tracer; `trace_ids` are the traces those spans belong to.
struct Served {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    trace_ids: Vec<String>,
    _provider: SdkMeterProvider,
}

/// `self_metrics`: whether the bridge also records its own scrape costs (which change the page
/// from one scrape to the next).
fn serve(self_metrics: bool) -> Served {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (bridge, reader) = PrometheusBridge::new([("node_id".to_string(), "om-node".to_string())]).expect("bridge");
    let provider = SdkMeterProvider::builder()
        .with_resource(Resource::builder_empty().with_service_name("om-test").build())
        .with_reader(reader)
        .build();
    let metrics = Metrics::new(&provider, MetricsOptions { system_metrics: false, ..Default::default() });
    if self_metrics {
        bridge.attach(&metrics);
    } else {
        bridge.attach_histograms(metrics.histogram_source());
    }
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = bridge.router();
    rt.spawn(async move { axum::serve(listener, router).await });

    let tracer_provider = SdkTracerProvider::builder().build();
    let tracer = tracer_provider.tracer("prometheus_openmetrics");
    let m = &metrics;
    m.gaming().bet_placed_on(BetType::Field, 25);
    m.gaming().game_started(GameType::Cash);
    m.gaming().game_completed(GameType::Cash, Duration::from_secs(95));
    m.network().message_sent(PeerTransport::Ble);
    m.network().record_latency(Duration::from_millis(4));
    m.errors().record(ErrorCategory::Consensus, ErrorSeverity::Warning);
    m.consensus().record_latency(Duration::from_millis(2));
    let mut trace_ids = Vec::new();
    for ms in [30, 700] {
        tracer.in_span("consensus round", |cx| {
            m.consensus().record_latency(Duration::from_millis(ms));
            trace_ids.push(cx.span().span_context().trace_id().to_string());
        });
    }
    Served { rt, addr, trace_ids, _provider: provider }
}

struct Answer {
    status: u16,
    content_type: String,
    content_encoding: Option<String>,
    body: Vec<u8>,
}

impl Served {
    fn get(&self, accept: Option<&str>, accept_encoding: Option<&str>) -> Answer {
        self.rt.block_on(async {
            let client = reqwest::Client::new();
            let mut req = client.get(format!("http://{}/metrics", self.addr));
            if let Some(a) = accept {
                req = req.header("accept", a);
            }
            if let Some(e) = accept_encoding {
                req = req.header("accept-encoding", e);
            }
            let resp = req.send().await.expect("scrape");
            let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
            let (content_type, content_encoding) =
                (header("content-type").unwrap_or_default(), header("content-encoding"));
            let status = resp.status().as_u16();
            let body = resp.bytes().await.expect("body").to_vec();
            Answer { status, content_type, content_encoding, body }
        })
    }

    fn text(&self, accept: Option<&str>) -> String {
        let a = self.get(accept, None);
        assert_eq!(a.status, 200);
        String::from_utf8(a.body).expect("utf-8")
    }
}

/// Sample lines of an exposition (comments and exemplars dropped).
fn samples(text: &str) -> BTreeSet<String> {
    text.lines().filter(|l| !l.starts_with('#')).map(|l| l.split(" # ").next().unwrap_or(l).to_string()).collect()
}

fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> (bool, String, String) {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The official Python client's OpenMetrics parser, reporting what it read as JSON.
const PARSE_OPENMETRICS: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "unit": f.unit, "samples": [
        {"name": s.name, "labels": s.labels, "value": s.value,
         "exemplar": None if s.exemplar is None else {"labels": s.exemplar.labels, "value": s.exemplar.value}}
        for s in f.samples]})
print(json.dumps(out))
"#;

#[test]
fn promtool_accepts_the_classic_text_and_the_python_parser_the_openmetrics_with_the_same_samples() {
    if tool_missing("promtool") || tool_missing("python3") {
        return;
    }
    let served = serve(false);
    let classic = served.text(None);
    let (ok, out, err) = run_with_stdin(Command::new("promtool").args(["check", "metrics"]), classic.as_bytes());
    assert!(ok, "promtool rejects the classic text:\n{out}{err}\n{classic}");

    let om = served.text(Some(OPENMETRICS));
    let (ok, out, err) = run_with_stdin(Command::new("python3").args(["-c", PARSE_OPENMETRICS]), om.as_bytes());
    assert!(ok, "the OpenMetrics parser rejects our page:\n{err}\n{om}");
    let families: serde_json::Value = serde_json::from_str(&out).expect("parser output");
    let families = families.as_array().expect("families");
    let parsed_samples: usize = families.iter().map(|f| f["samples"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(parsed_samples, samples(&classic).len(), "same number of samples in both formats");
    assert_eq!(samples(&om), samples(&classic), "same samples, labels and values in both formats");

    let family = |name: &str| families.iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("no {name}"));
    assert_eq!(family("bitcraps_bets")["type"], "counter");
    assert_eq!(family("bitcraps_consensus_latency_seconds")["unit"], "seconds");
    assert_eq!(family("target")["type"], "info");
    // Never-recorded histograms are described but have no sample, so no count is ever 0.
    assert_eq!(family("bitcraps_operation_duration_seconds")["samples"], serde_json::json!([]));
    for f in families {
        for s in f["samples"].as_array().into_iter().flatten() {
            let name = s["name"].as_str().unwrap_or_default();
            assert!(!(name.ends_with("_count") && s["value"] == 0), "{name} has a point with count 0");
        }
    }
    // Both spans' recordings left an exemplar in their bucket, with their trace ids.
    let exemplars: Vec<(&str, &str)> = family("bitcraps_consensus_latency_seconds")["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .filter(|s| !s["exemplar"].is_null())
        .map(|s| (s["labels"]["le"].as_str().unwrap_or(""), s["exemplar"]["labels"]["trace_id"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(exemplars, [("0.05", served.trace_ids[0].as_str()), ("1", served.trace_ids[1].as_str())], "{om}");
    assert!(!classic.contains(" # {"), "the classic text carries no exemplars");
}

#[test]
fn each_accept_header_gets_its_format_and_content_type() {
    let served = serve(true);
    let om = served.get(Some("application/openmetrics-text; version=1.0.0"), None);
    assert_eq!((om.status, om.content_type.as_str()), (200, OPENMETRICS_CONTENT_TYPE));
    assert!(om.body.ends_with(b"# EOF\n"));
    for accept in [None, Some("text/plain"), Some("application/json"), Some("*/*"), Some("garbage;;q=x,,/")] {
        let a = served.get(accept, None);
        assert_eq!((a.status, a.content_type.as_str()), (200, CONTENT_TYPE), "{accept:?}");
        assert!(!a.body.ends_with(b"# EOF\n") && a.body.starts_with(b"# HELP "), "{accept:?} gets the classic text");
        assert_eq!(a.content_encoding, None);
    }
}

#[test]
fn gzip_round_trips_in_both_formats() {
    let served = serve(false);
    for accept in [None, Some(OPENMETRICS)] {
        let plain = served.get(accept, None);
        let zipped = served.get(accept, Some("gzip, deflate"));
        assert_eq!(zipped.content_encoding.as_deref(), Some("gzip"), "{accept:?}");
        assert_eq!(zipped.content_type, plain.content_type);
        assert!(zipped.body.len() * 3 < plain.body.len(), "{} vs {} bytes", zipped.body.len(), plain.body.len());
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(zipped.body.as_slice()).read_to_end(&mut unzipped).expect("valid gzip");
        assert_eq!(unzipped, plain.body, "{accept:?}: nothing recorded in between, so the same page");
        let refused = served.get(accept, Some("gzip;q=0, identity"));
        assert_eq!((refused.content_encoding, refused.body), (None, plain.body));
    }
}

#[test]
fn the_bridge_reports_its_scrapes_and_renders() {
    let served = serve(true);
    for _ in 0..3 {
        served.text(None);
    }
    // The first OpenMetrics page is a fresh render made after the three text scrapes ended.
    let om = served.text(Some(OPENMETRICS));
    let value = |series: &str| -> Option<f64> {
        om.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))?
            .split(' ')
            .nth(1)?
            .parse()
            .ok()
    };
    assert_eq!(
        value(r#"bitcraps_prometheus_scrape_duration_seconds_count{format="text",node_id="om-node"}"#),
        Some(3.0)
    );
    let renders =
        value(r#"bitcraps_prometheus_exposition_size_bytes_count{format="text",node_id="om-node"}"#).expect("renders");
    assert!((1.0..=3.0).contains(&renders), "{renders} renders for 3 scrapes");
    let bytes =
        value(r#"bitcraps_prometheus_exposition_size_bytes_sum{format="text",node_id="om-node"}"#).expect("size");
    assert!(bytes > 1000.0 * renders, "{bytes} bytes over {renders} pages");
    assert!(om.contains("# TYPE bitcraps_prometheus_scrape_duration_seconds histogram\n"));
}

#[test]
fn a_real_prometheus_stores_exemplars_carrying_the_trace_ids_of_our_spans() {
    if tool_missing("prometheus") {
        return;
    }
    let served = serve(false);
    let classic_samples = samples(&served.text(None)).len();
    let prometheus = start_prometheus(served.addr);
    let api = |path: &str| -> Option<serde_json::Value> {
        let (status, body) = common::try_http("GET", prometheus.addr, path)?;
        (status == 200).then(|| serde_json::from_str(&body).ok()).flatten()
    };
    let scalar = |q: &str| -> Option<String> {
        let v = api(&format!("/api/v1/query?query={}", common::encode(q)))?;
        v["data"]["result"][0]["value"][1].as_str().map(str::to_string)
    };
    wait_for(|| (scalar("up{job=\"bitcraps\"}")? == "1").then_some(()))
        .expect("Prometheus reports the bridge up within 30 s");
    let scraped = scalar("scrape_samples_scraped{job=\"bitcraps\"}").expect("scrape_samples_scraped");
    assert_eq!(
        scraped,
        classic_samples.to_string(),
        "OpenMetrics scrape stores as many samples as the classic text has"
    );

    let stored: BTreeSet<String> = wait_for(|| {
        let ids = prometheus.exemplar_ids("bitcraps_consensus_latency_seconds_bucket")?;
        let traces: BTreeSet<String> = ids.into_iter().map(|(trace, _span)| trace).collect();
        (traces.len() >= 2).then_some(traces)
    })
    .expect("Prometheus stores the consensus latency exemplars");
    let ours: BTreeSet<String> = served.trace_ids.iter().cloned().collect();
    assert_eq!(stored, ours);
}
