//! A real Prometheus server scrapes the node every second and returns every `bitcraps_*`
//! series through its query API.

mod common;

use common::{encode, start_node, tool_missing, try_http, wait_for, REFERENCE_METRICS};
use std::time::Duration;

#[test]
fn prometheus_scrapes_every_reference_series() {
    if tool_missing("prometheus") {
        return;
    }
    let node = start_node(&[("BITCRAPS_NODE_ID", "scraped-node")], &[]);
    let prometheus = common::start_prometheus(node.addr);
    let prom_addr = prometheus.addr;
    let query = |q: &str| -> Option<serde_json::Value> {
        let (status, body) = try_http("GET", prom_addr, &format!("/api/v1/query?query={}", encode(q)))?;
        if status != 200 {
            return None;
        }
        serde_json::from_str(&body).ok()
    };
    // The scrape target must be up first (Prometheus' first sample comes a few seconds in).
    wait_for(Duration::from_secs(30), || {
        let v = query("up{job=\"bitcraps\"}")?;
        (v["data"]["result"][0]["value"][1] == "1").then_some(())
    })
    .expect("Prometheus reports the node target up within 30 s");

    for (name, kind) in REFERENCE_METRICS {
        let series = if kind == "histogram" { format!("{name}_bucket") } else { name.to_string() };
        let result = wait_for(Duration::from_secs(15), || {
            let v = query(&series)?;
            let result = v["data"]["result"].as_array()?.clone();
            (!result.is_empty()).then_some(result)
        })
        .unwrap_or_else(|| panic!("Prometheus has no {series} series"));
        assert_eq!(result[0]["metric"]["node_id"], "scraped-node", "{series}: constant label");
        assert_eq!(result[0]["metric"]["job"], "bitcraps");
    }
    // PromQL the dashboards rely on works on what we expose.
    let q = query("histogram_quantile(0.99, sum by (le) (rate(bitcraps_network_latency_seconds_bucket[5s])))");
    assert_eq!(q.as_ref().map(|v| v["status"].clone()), Some("success".into()), "{q:?}");
    let errors = query("sum by (category, severity) (bitcraps_errors_total)").expect("query");
    let first = &errors["data"]["result"][0]["metric"];
    assert!(first["category"].is_string() && first["severity"].is_string(), "{errors}");
}
