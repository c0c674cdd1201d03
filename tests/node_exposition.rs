//! The running node's `/metrics`: names, types, labels, promtool's lint, and HTTP behaviour.

mod common;

use bitcraps_otel::semconv::{self, Instrument};
use common::{http, start_node, tool_missing, wait_for, REFERENCE_METRICS};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// `# TYPE name kind` lines of an exposition.
fn types(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

fn sample_lines<'a>(text: &'a str, series: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.lines().filter(move |l| l.starts_with(series) && l[series.len()..].starts_with(['{', ' ']))
}

/// Series the checks below expect traffic in. The simulator's first events come in an order
/// fixed by its seed but cut into ticks by the clock, so a scrape may land after a consensus
/// round and before the first message: wait until every one of them has moved (and, below,
/// until every registry metric has been recorded once: a histogram never recorded has no
/// series, and a game takes a while to finish).
const TRAFFIC: [&str; 4] = [
    "bitcraps_consensus_latency_seconds_count",
    "bitcraps_network_messages_sent_total",
    "bitcraps_network_latency_seconds_count",
    "bitcraps_bets_total",
];

fn scrape_after_warmup(node: &common::Node) -> String {
    wait_for(|| {
        let (status, body) = http("GET", node.addr, "/metrics");
        let moved = TRAFFIC.iter().all(|series| sample_lines(&body, series).any(|l| !l.ends_with(" 0")));
        let served = types(&body);
        let all_recorded = semconv::METRICS.iter().all(|m| served.contains_key(m.prometheus_name));
        (status == 200 && moved && all_recorded).then_some(body)
    })
    .expect("the node recorded every registry metric and moved every series the test checks")
}

#[test]
fn node_exposes_every_reference_metric_with_its_type() {
    let node = start_node(&[("BITCRAPS_NODE_ID", "node-t1"), ("BITCRAPS_REGION", "eu-west")], &[]);
    let text = scrape_after_warmup(&node);
    let types = types(&text);
    for (name, kind) in REFERENCE_METRICS {
        assert_eq!(types.get(name).map(String::as_str), Some(kind), "{name} should be a {kind}\n{text}");
        let series = if kind == "histogram" { format!("{name}_count") } else { name.to_string() };
        assert!(sample_lines(&text, &series).next().is_some(), "{series} has no sample");
    }
    // The registry is the source of truth: every metric it defines is served, with the
    // type its instrument implies and the label names it declares.
    for m in semconv::METRICS {
        assert_eq!(
            types.get(m.prometheus_name).map(String::as_str),
            Some(m.instrument.prometheus_type()),
            "{}",
            m.name
        );
        let series = if m.instrument == Instrument::Histogram {
            format!("{}_count", m.prometheus_name)
        } else {
            m.prometheus_name.to_string()
        };
        for line in sample_lines(&text, &series) {
            // Conditionally required labels (`http_route` when a route matched) may be absent.
            for label in m.required_prometheus_labels() {
                assert!(line.contains(&format!("{label}=\"")), "{line} lacks label {label}");
            }
            assert!(
                line.contains("node_id=\"node-t1\"") && line.contains("region=\"eu-west\""),
                "constant labels missing: {line}"
            );
        }
    }
    // No double suffixes, and no raw OTel attribute keys leaking through.
    for name in types.keys() {
        assert!(!name.contains("_total_total") && !name.contains("_seconds_seconds"), "{name}");
    }
    assert!(!text.contains("error_category="), "attribute keys must use the registry's label names");
    assert!(text.contains("bitcraps_errors_total{category=\""), "errors carry category and severity");
    // Traffic really flows into the typed instruments.
    let value = |series: &str| -> f64 {
        sample_lines(&text, series).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
    };
    assert!(value("bitcraps_network_messages_sent_total") > 0.0);
    assert!(value("bitcraps_bets_total") > 0.0);
    assert!(value("bitcraps_memory_usage_bytes") > 1_000_000.0, "resident memory is real");
    assert!(value("bitcraps_thread_count") >= 2.0, "a tokio node has several threads");
    let battery = value("bitcraps_battery_level_percent");
    assert!((0.0..=100.0).contains(&battery), "{battery}");
}

#[test]
fn promtool_parses_the_exposition_and_lints_only_the_references_thread_count_name() {
    if tool_missing("promtool") {
        return;
    }
    let node = start_node(&[], &[]);
    let text = scrape_after_warmup(&node);
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("feed promtool");
    let out = child.wait_with_output().expect("promtool output");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // promtool 2.42 lints any non-histogram name ending in `_count`. The monitoring reference
    // names the thread gauge `bitcraps_thread_count`, and its names are requirements, so that
    // one lint finding is expected; any other finding, or a parse error, fails.
    let findings: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            !l.starts_with(
                "bitcraps_thread_count non-histogram and non-summary metrics should not have \"_count\" suffix",
            )
        })
        .collect();
    assert!(findings.is_empty(), "promtool findings:\n{report}");
    assert!(matches!(out.status.code(), Some(0) | Some(3)), "promtool failed to parse: {report}");
}

#[test]
fn only_metrics_is_served() {
    let node = start_node(&[], &[]);
    let (status, _) = wait_for(|| Some(http("GET", node.addr, "/metrics"))).expect("up");
    assert_eq!(status, 200);
    assert_eq!(http("GET", node.addr, "/").0, 404);
    assert_eq!(http("GET", node.addr, "/metrics/extra").0, 404);
    assert_eq!(http("POST", node.addr, "/metrics").0, 405);
    let (head_status, head_body) = http("HEAD", node.addr, "/metrics");
    assert_eq!((head_status, head_body.as_str()), (200, ""));
}
