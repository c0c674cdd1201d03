//! A real Prometheus server scrapes the node every second and returns every `bitcraps_*`
//! series of the monitoring reference through its query API.

mod common;

use common::{http, now, start_node, tool_missing, wait_for, REFERENCE_METRICS};

/// Whether an exposition has a sample of `series` (bare, or with labels).
fn has_sample(text: &str, series: &str) -> bool {
    text.lines().any(|l| l.strip_prefix(series).is_some_and(|rest| rest.starts_with(['{', ' '])))
}

fn series_name(name: &str, kind: &str) -> String {
    if kind == "histogram" {
        format!("{name}_bucket")
    } else {
        name.to_string()
    }
}

#[test]
fn prometheus_scrapes_every_reference_series() {
    if tool_missing("prometheus") {
        return;
    }
    let node = start_node(&[("BITCRAPS_NODE_ID", "scraped-node")], &[]);
    let prometheus = common::start_prometheus(node.addr);
    // First the node has every series (the simulation has produced each at least once);
    // then Prometheus scrapes it after that moment. Each step waits on a condition, so
    // every series is in Prometheus when it is queried, however slow this machine is.
    let complete = wait_for(|| {
        let (status, text) = http("GET", node.addr, "/metrics");
        let all = REFERENCE_METRICS.iter().all(|(n, k)| has_sample(&text, &series_name(n, k)));
        (status == 200 && all).then_some(())
    });
    assert!(complete.is_some(), "the node never exposed every reference series");
    let at = prometheus.scraped_after(now());

    let up = prometheus.query_at("up{job=\"bitcraps\"}", at).expect("query up");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "the node target is up: {up}");
    for (name, kind) in REFERENCE_METRICS {
        let series = series_name(name, kind);
        let v = prometheus.query_at(&series, at).unwrap_or_else(|| panic!("query {series}"));
        let result = &v["data"]["result"];
        assert!(result.as_array().is_some_and(|r| !r.is_empty()), "Prometheus has no {series} series: {v}");
        assert_eq!(result[0]["metric"]["node_id"], "scraped-node", "{series}: constant label");
        assert_eq!(result[0]["metric"]["job"], "bitcraps");
    }
    // PromQL the dashboards rely on works on what we expose.
    let q = prometheus
        .query_at("histogram_quantile(0.99, sum by (le) (rate(bitcraps_network_latency_seconds_bucket[1h])))", at);
    assert!(q.is_some(), "histogram_quantile over the bridge's buckets evaluates");
    let errors = prometheus.query_at("sum by (category, severity) (bitcraps_errors_total)", at).expect("query");
    let first = &errors["data"]["result"][0]["metric"];
    assert!(first["category"].is_string() && first["severity"].is_string(), "{errors}");
}
