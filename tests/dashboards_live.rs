//! Every panel of every dashboard in `dashboards/` against a real Prometheus: each expression,
//! with the dashboard variables substituted, must return at least one series with a finite
//! value. A panel that would show "No data" fails the test.
//!
//! The node is assembled in this process the way `bitcraps-node` assembles it (telemetry with
//! the simulated device probe, the alert engine with the predefined rules, the simulator), so
//! the test decides when traffic happens: it runs the simulator in rounds and waits, after each
//! round, until Prometheus has scraped it. Every counter and histogram series then moves
//! between two scrapes, and every query is evaluated at the last scrape over a window reaching
//! back to the start, so no panel depends on how fast this machine happens to be.

mod common;
mod dashboards_support;

use bitcraps_otel::alerting::{AlertingConfig, AlertingSystem};
use bitcraps_otel::metrics::probe::SimulatedProbe;
use bitcraps_otel::sim::{SimConfig, Simulator};
use bitcraps_otel::{Config, TelemetryBuilder};
use common::{now, tool_missing, Prometheus};
use dashboards_support::{expressions, label_values, load_dashboards, Vars};
use std::sync::Arc;
use std::time::Duration;

/// Rounds of simulated traffic, each scraped before the next.
const ROUNDS: usize = 3;
/// Simulated time per round at 400 events/s: enough for every game type to finish games.
const ROUND: Duration = Duration::from_secs(30);

/// Why a query shows "No data".
#[derive(Debug, PartialEq)]
enum NoData {
    /// The query itself failed.
    Failed(String),
    /// No series at all.
    Empty,
    /// Some series, none with a finite value (NaN or ±Inf).
    NotFinite(usize),
}

/// The number of series of an instant query at `time` that carry a finite value.
fn finite_series(prometheus: &Prometheus, query: &str, time: f64) -> Result<usize, NoData> {
    let v = prometheus.query_at(query, time).ok_or_else(|| {
        let path = format!("/api/v1/query?query={}&time={time:.3}", common::encode(query));
        NoData::Failed(common::try_http("GET", prometheus.addr, &path).map(|(_, b)| b).unwrap_or_default())
    })?;
    let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
    let finite = result
        .iter()
        .filter(|s| s["value"][1].as_str().and_then(|x| x.parse::<f64>().ok()).is_some_and(f64::is_finite))
        .count();
    match (result.len(), finite) {
        (0, _) => Err(NoData::Empty),
        (n, 0) => Err(NoData::NotFinite(n)),
        (_, f) => Ok(f),
    }
}

#[test]
fn every_panel_query_returns_data_from_a_real_prometheus() {
    if tool_missing("prometheus") {
        return;
    }
    let node_id = "dash-node";
    let config = Config::builder()
        .prometheus_addr("127.0.0.1:0")
        .health_addr("127.0.0.1:0")
        .node_id(node_id)
        .collection_interval(Duration::from_secs(1))
        .build()
        .expect("config");
    let telemetry = TelemetryBuilder::new(config)
        .device_probe(Arc::new(SimulatedProbe::new()))
        .alerting(true)
        .start()
        .expect("telemetry");
    let mut alerting = AlertingSystem::new(AlertingConfig::default());
    {
        let _runtime = telemetry.runtime().enter();
        alerting.start_background().expect("alert engine");
    }
    if let Some(health) = telemetry.health() {
        health.register(alerting.health_check()).expect("alerting check");
    }
    // An HTTP API on the health server, instrumented as BitCraps services instrument theirs,
    // so the HTTP panels (http.server.* metrics) have traffic to show.
    let api = axum::Router::new()
        .route("/api/games/{id}", axum::routing::get(|| async { "{}" }))
        .layer(bitcraps_otel::http::ServerLayer::new(telemetry.metrics()));
    telemetry.health().expect("health server").mount(api);
    let health_addr = telemetry.health_addr().expect("health address");
    let mut sim = Simulator::new(telemetry.metrics().clone(), SimConfig { rate: 400.0, seed: Some(42) });
    let addr = telemetry.prometheus_addr().expect("bridge address");
    let prometheus = common::start_prometheus(addr);

    let started = now();
    let mut last = prometheus.scraped_after(started);
    for round in 0..ROUNDS {
        sim.advance(ROUND);
        for i in 0..3 {
            let (status, _) = common::http("GET", health_addr, &format!("/api/games/{round}{i}"));
            assert_eq!(status, 200, "the mounted API answers");
        }
        // Unmatched paths are counted too, without a route (here on the bridge's server).
        let (status, _) = common::http("GET", addr, &format!("/no-such-page-{round}"));
        assert_eq!(status, 404);
        last = prometheus.scraped_after(now());
    }
    // Evaluate at the last scrape (plus a millisecond, so it is inside), over a window that
    // reaches back before the first round: every series that moved is seen moving.
    let at = last + 0.001;
    let window = format!("{}s", (at - started).ceil() as u64 + 2);

    // Variables as Grafana formats them for a regex matcher: "All" instances expands to the
    // listed values, regex-escaped and grouped; "All" nodes is the allValue `.*`.
    let instance = addr.to_string();
    let escaped = format!("({})", instance.replace('.', "\\\\."));
    let all = Vars { rate_interval: &window, range: &window, instance: &escaped, node: ".*" };
    let one = Vars { rate_interval: &window, range: &window, instance: &escaped, node: node_id };

    let mut failures: Vec<String> = Vec::new();
    // Variables first: their label_values queries must list this node.
    for d in load_dashboards() {
        for v in d.json["templating"]["list"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let Some((selector, label)) = label_values(v) else { continue };
            let selector = all.apply(&selector);
            let expected = if label == "instance" { instance.as_str() } else { node_id };
            let path = format!("/api/v1/label/{label}/values?match[]={}", common::encode(&selector));
            let values = prometheus.get(&path).map(|v| v["data"].clone()).unwrap_or_default();
            if !values.as_array().is_some_and(|a| a.iter().any(|x| x == expected)) {
                failures.push(format!(
                    "{}: variable {}: label_values({selector}, {label}) lacks {expected}: {values}",
                    d.file, v["name"]
                ));
            }
        }
    }
    // Then every expression of every panel, for "All" and for this node selected.
    let mut total = 0;
    for d in load_dashboards() {
        for (title, ref_id, expr) in expressions(&d.json) {
            for vars in [&all, &one] {
                total += 1;
                let query = vars.apply(&expr);
                if let Err(why) = finite_series(&prometheus, &query, at) {
                    failures.push(format!("{}: {title} [{ref_id}]: {query}\n    -> {why:?}", d.file));
                }
            }
        }
    }
    assert!(failures.is_empty(), "panels that would show \"No data\":\n  {}", failures.join("\n  "));

    // The detector itself tells the two kinds of "No data" apart.
    let empty = finite_series(&prometheus, "bitcraps_games_active{node_id=\"no-such-node\"}", at);
    assert_eq!(empty, Err(NoData::Empty), "a selector matching nothing is an empty result");
    let games = format!("bitcraps_games_active{{node_id=\"{node_id}\"}}");
    let nan = finite_series(&prometheus, &format!("({games} - {games}) / 0"), at);
    assert!(matches!(nan, Err(NoData::NotFinite(n)) if n >= 1), "0/0 is NaN, not finite: {nan:?}");
    assert!(finite_series(&prometheus, &games, at).is_ok_and(|n| n >= 1), "the control query has data");
    eprintln!("{total} panel queries returned data at {at:.3} over [{window}]");
    alerting.stop();
}
