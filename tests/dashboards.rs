//! The Grafana dashboards in `dashboards/` and the provisioning files in `deploy/`.
//!
//! Static checks: every dashboard parses, uses the `datasource` variable everywhere, has unique
//! panel ids and a sane layout, sets a unit on every panel, and every PromQL expression parses
//! (with `promql-parser`, not a grep) into selectors of metrics the semconv registry defines,
//! with labels those metrics carry and the right function for their kind.
//!
//! The live check, every panel against a real Prometheus, is `tests/dashboards_live.rs`.

mod common;
mod dashboards_support;

use bitcraps_otel::semconv::{self, Instrument, MetricDef};
use common::tool_missing;
use dashboards_support::{all_panels, data_panels, expressions, label_values, load_dashboards, repo, Dashboard, Vars};
use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, LabelModifier};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

/// The dashboards the monitoring reference names, and the metrics each must chart.
const EXPECTED: [(&str, &[&str]); 3] = [
    (
        "bitcraps-system-overview.json",
        &[
            "bitcraps_cpu_usage_percent",
            "bitcraps_memory_usage_bytes",
            "bitcraps_thread_count",
            "bitcraps_uptime_seconds",
            "bitcraps_network_messages_sent_total",
            "bitcraps_network_messages_received_total",
            "bitcraps_network_active_connections",
            "bitcraps_network_latency_seconds",
            "bitcraps_consensus_proposals_accepted_total",
            "bitcraps_consensus_proposals_rejected_total",
            "bitcraps_consensus_latency_seconds",
            "bitcraps_consensus_forks_total",
            "bitcraps_errors_total",
        ],
    ),
    (
        "bitcraps-gaming-metrics.json",
        &[
            "bitcraps_games_total",
            "bitcraps_games_active",
            "bitcraps_bets_total",
            "bitcraps_betting_volume_total",
            "bitcraps_payouts_total",
            "bitcraps_game_duration_seconds",
            "bitcraps_game_disputes_total",
            "bitcraps_errors_total",
        ],
    ),
    (
        "bitcraps-mobile-performance.json",
        &[
            "bitcraps_battery_level_percent",
            "bitcraps_battery_charging",
            "bitcraps_device_temperature_celsius",
            "bitcraps_thermal_throttling",
            "bitcraps_cache_hits_total",
            "bitcraps_cache_misses_total",
        ],
    ),
];

/// The classic dashboard model's current (and final) schema version.
const SCHEMA_VERSION: u64 = 42;

/// Series Prometheus itself writes for every scrape target (not in the registry, and carrying
/// only the target's `job` and `instance` labels).
const PROMETHEUS_SERIES: [&str; 3] = ["up", "scrape_duration_seconds", "scrape_samples_scraped"];

/// Labels every node series carries besides its registry attributes: `node_id` from the node,
/// `job` and `instance` from the scrape.
const TARGET_LABELS: [&str; 3] = ["node_id", "instance", "job"];

/// Grafana unit ids the dashboards may use (plus `suffix:` custom units).
const GRAFANA_UNITS: [&str; 12] =
    ["none", "short", "percent", "percentunit", "bytes", "s", "celsius", "ops", "mps", "eps", "cpm", "reqps"];

/// Values the static checks put in for the variables: distinctive, so the AST shows where each went.
const RATE_SENTINEL: Duration = Duration::from_secs(61);
const RANGE_SENTINEL: Duration = Duration::from_secs(3607);
const INSTANCE_SENTINEL: &str = "INSTANCE_VARIABLE";
const NODE_SENTINEL: &str = "NODE_VARIABLE";

const STATIC_VARS: Vars<'static> =
    Vars { rate_interval: "61s", range: "3607s", instance: INSTANCE_SENTINEL, node: NODE_SENTINEL };

/// One vector or matrix selector found in an expression, with its context.
#[derive(Debug)]
struct Selector {
    name: Option<String>,
    matchers: Vec<(String, MatchOp, String)>,
    range: Option<Duration>,
    /// The function a matrix selector is the argument of.
    function: Option<String>,
    under_histogram_quantile: bool,
}

/// Walks an expression, collecting selectors and checking aggregation and histogram_quantile use.
fn walk(expr: &Expr, under_hq: bool, out: &mut Vec<Selector>, problems: &mut Vec<String>) {
    match expr {
        Expr::Aggregate(a) => {
            let start = out.len();
            walk(&a.expr, under_hq, out, problems);
            if let Some(p) = &a.param {
                walk(p, under_hq, out, problems);
            }
            if let Some(LabelModifier::Include(labels)) = &a.modifier {
                let available: BTreeSet<String> = out[start..].iter().flat_map(available_labels).collect();
                for l in &labels.labels {
                    if !available.contains(l) {
                        problems.push(format!("`{} by ({l})`: no metric inside carries the label `{l}`", a.op));
                    }
                }
            }
        }
        Expr::Unary(u) => walk(&u.expr, under_hq, out, problems),
        Expr::Binary(b) => {
            walk(&b.lhs, under_hq, out, problems);
            walk(&b.rhs, under_hq, out, problems);
        }
        Expr::Paren(p) => walk(&p.expr, under_hq, out, problems),
        Expr::Subquery(s) => walk(&s.expr, under_hq, out, problems),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        Expr::VectorSelector(vs) => out.push(selector(vs, None, None, under_hq)),
        Expr::MatrixSelector(ms) => out.push(selector(&ms.vs, Some(ms.range), None, under_hq)),
        Expr::Call(c) => {
            let name = c.func.name;
            let hq = name == "histogram_quantile";
            if hq {
                match c.args.args.first().map(|a| a.as_ref()) {
                    Some(Expr::NumberLiteral(n)) if n.val > 0.0 && n.val <= 1.0 => {}
                    other => problems.push(format!("histogram_quantile needs a quantile in (0, 1], got {other:?}")),
                }
                if let Some(Expr::Aggregate(a)) = c.args.args.get(1).map(|a| a.as_ref()) {
                    let keeps_le = match &a.modifier {
                        Some(LabelModifier::Include(ls)) => ls.labels.iter().any(|l| l == "le"),
                        Some(LabelModifier::Exclude(ls)) => !ls.labels.iter().any(|l| l == "le"),
                        None => false,
                    };
                    if !keeps_le {
                        problems.push("histogram_quantile over an aggregation that drops `le`".into());
                    }
                }
            }
            for arg in &c.args.args {
                match arg.as_ref() {
                    Expr::MatrixSelector(ms) => {
                        out.push(selector(&ms.vs, Some(ms.range), Some(name.to_string()), under_hq || hq))
                    }
                    other => walk(other, under_hq || hq, out, problems),
                }
            }
        }
    }
}

fn selector(
    vs: &parser::VectorSelector,
    range: Option<Duration>,
    function: Option<String>,
    under_hq: bool,
) -> Selector {
    let matchers: Vec<(String, MatchOp, String)> =
        vs.matchers.matchers.iter().map(|m| (m.name.clone(), m.op.clone(), m.value.clone())).collect();
    let name = vs.name.clone().or_else(|| {
        matchers.iter().find(|(n, op, _)| n == "__name__" && matches!(op, MatchOp::Equal)).map(|(_, _, v)| v.clone())
    });
    Selector { name, matchers, range, function, under_histogram_quantile: under_hq }
}

/// Labels a selector's series carry.
fn available_labels(s: &Selector) -> Vec<String> {
    let Some(name) = s.name.as_deref() else { return Vec::new() };
    if PROMETHEUS_SERIES.contains(&name) {
        return vec!["instance".into(), "job".into()];
    }
    let Some(def) = semconv::lookup_series(name) else { return Vec::new() };
    let mut labels: Vec<String> = def.prometheus_labels().map(str::to_string).collect();
    labels.extend(TARGET_LABELS.iter().map(|l| l.to_string()));
    if name.ends_with("_bucket") && def.instrument == Instrument::Histogram {
        labels.push("le".into());
    }
    labels
}

/// Checks one expression statically; returns the metric names it uses and its problems.
fn check_expr(expr: &str, panel_type: &str, target_format: &str) -> (BTreeSet<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    let ast = match parser::parse(&STATIC_VARS.apply(expr)) {
        Ok(ast) => ast,
        Err(e) => return (names, vec![format!("does not parse: {e}")]),
    };
    let mut selectors = Vec::new();
    walk(&ast, false, &mut selectors, &mut problems);
    if selectors.is_empty() {
        problems.push("selects no metric".into());
    }
    for s in &selectors {
        let Some(name) = s.name.clone() else {
            problems.push("a selector without a metric name".into());
            continue;
        };
        names.insert(name.clone());
        let def = semconv::lookup_series(&name);
        let synthesized = PROMETHEUS_SERIES.contains(&name.as_str());
        if def.is_none() && !synthesized {
            problems.push(format!("`{name}` is not in the semconv registry"));
            continue;
        }
        // The dashboard variables must filter every selector.
        let has = |label: &str, value: &str| {
            s.matchers.iter().any(|(n, op, v)| n == label && matches!(op, MatchOp::Re(_)) && v == value)
        };
        if !has("instance", INSTANCE_SENTINEL) {
            problems.push(format!("`{name}` is not filtered by instance=~\"$instance\""));
        }
        if def.is_some() && !has("node_id", NODE_SENTINEL) {
            problems.push(format!("`{name}` is not filtered by node_id=~\"$node\""));
        }
        // Other matchers: labels the metric has, and enum values it can take.
        let labels = available_labels(s);
        for (label, op, value) in &s.matchers {
            if label == "__name__" || value == INSTANCE_SENTINEL || value == NODE_SENTINEL {
                continue;
            }
            if !labels.contains(label) {
                problems.push(format!("`{name}` has no label `{label}`"));
                continue;
            }
            let attr = def.and_then(|d| d.attributes.iter().find(|a| a.prometheus_label == label));
            if let Some(attr) = attr.filter(|a| !a.members.is_empty()) {
                let values: Vec<&str> = match op {
                    MatchOp::Equal | MatchOp::NotEqual => vec![value.as_str()],
                    _ => value.split('|').collect(),
                };
                for v in values {
                    if !attr.members.contains(&v) {
                        problems.push(format!("`{name}`: `{v}` is not a value of `{}`", attr.id));
                    }
                }
            }
        }
        // The right function for the kind of series.
        let is_counter_like = def.is_some_and(|d| d.instrument == Instrument::Counter || d.prometheus_name != name);
        let is_bucket = def.is_some_and(|d| d.instrument == Instrument::Histogram) && name.ends_with("_bucket");
        match (&s.range, s.function.as_deref()) {
            (None, _) if is_counter_like => {
                problems.push(format!("`{name}` is a counter: use rate() or increase(), not its raw value"))
            }
            (None, _) => {}
            (Some(r), f) => {
                if *r == RANGE_SENTINEL {
                    if !["stat", "gauge", "bargauge"].contains(&panel_type) {
                        problems.push(format!("`[$__range]` belongs in single-value panels, not `{panel_type}`"));
                    }
                } else if *r != RATE_SENTINEL {
                    problems
                        .push(format!("`{name}[{r:?}]`: use [$__rate_interval] (or [$__range]), not a fixed window"));
                }
                match f {
                    Some("rate" | "increase" | "irate") if is_counter_like => {}
                    Some("rate" | "increase" | "irate") => {
                        problems.push(format!("`{f:?}` of the gauge `{name}`: use a *_over_time function"))
                    }
                    Some(f) if f.ends_with("_over_time") && !is_counter_like => {}
                    other => problems.push(format!("`{name}` range vector used by {other:?}")),
                }
            }
        }
        if is_bucket && !s.under_histogram_quantile && !(panel_type == "heatmap" && target_format == "heatmap") {
            problems.push(format!("`{name}` outside histogram_quantile (only heatmaps may chart raw buckets)"));
        }
    }
    (names, problems)
}

/// The unit an expression's values are in, when it only aggregates or selects values of one
/// metric without changing their dimension (gauges, quantiles, averages over time).
fn natural_unit(expr: &Expr) -> Option<&'static MetricDef> {
    match expr {
        Expr::Paren(p) => natural_unit(&p.expr),
        Expr::Aggregate(a) if ["sum", "avg", "min", "max"].contains(&a.op.to_string().as_str()) => {
            natural_unit(&a.expr)
        }
        Expr::VectorSelector(vs) => vs
            .name
            .as_deref()
            .and_then(semconv::lookup)
            .filter(|d| matches!(d.instrument, Instrument::Gauge | Instrument::UpDownCounter)),
        Expr::Call(c) if c.func.name == "histogram_quantile" => match c.args.args.get(1).map(|a| a.as_ref()) {
            Some(inner) => bucket_metric(inner),
            None => None,
        },
        Expr::Call(c) if ["avg_over_time", "min_over_time", "max_over_time"].contains(&c.func.name) => {
            match c.args.args.first().map(|a| a.as_ref()) {
                Some(Expr::MatrixSelector(ms)) => ms.vs.name.as_deref().and_then(semconv::lookup),
                _ => None,
            }
        }
        _ => None,
    }
}

fn bucket_metric(expr: &Expr) -> Option<&'static MetricDef> {
    match expr {
        Expr::Paren(p) => bucket_metric(&p.expr),
        Expr::Aggregate(a) => bucket_metric(&a.expr),
        Expr::Call(c) => c.args.args.iter().find_map(|a| bucket_metric(a)),
        Expr::MatrixSelector(ms) => ms.vs.name.as_deref().and_then(semconv::lookup_series),
        _ => None,
    }
}

/// The Grafana unit for a registry unit, where one exists.
fn grafana_unit(ucum: &str) -> Option<&'static str> {
    match ucum {
        "%" => Some("percent"),
        "By" => Some("bytes"),
        "s" => Some("s"),
        "Cel" => Some("celsius"),
        _ => None,
    }
}

#[test]
fn the_three_reference_dashboards_exist_and_chart_their_metrics() {
    let dashboards = load_dashboards();
    for (file, metrics) in EXPECTED {
        let d = dashboards.iter().find(|d| d.file == file).unwrap_or_else(|| panic!("dashboards/{file} is missing"));
        let mut used = BTreeSet::new();
        for (_, _, expr) in expressions(&d.json) {
            let ast = parser::parse(&STATIC_VARS.apply(&expr)).unwrap_or_else(|e| panic!("{file}: {expr}: {e}"));
            let mut sels = Vec::new();
            walk(&ast, false, &mut sels, &mut Vec::new());
            for s in sels {
                if let Some(def) = s.name.as_deref().and_then(semconv::lookup_series) {
                    used.insert(def.prometheus_name);
                }
            }
        }
        for m in metrics.iter() {
            assert!(used.contains(m), "{file} charts no panel of {m}");
        }
    }
}

#[test]
fn dashboard_models_are_well_formed_and_use_the_datasource_variable() {
    let dashboards = load_dashboards();
    assert!(dashboards.len() >= EXPECTED.len());
    let mut uids = BTreeSet::new();
    let mut problems = Vec::new();
    for Dashboard { file, json: d } in &dashboards {
        let mut fail = |msg: String| problems.push(format!("{file}: {msg}"));
        let uid = d["uid"].as_str().unwrap_or_default();
        if uid.is_empty() || uid.len() > 40 || !uids.insert(uid.to_string()) {
            fail(format!("uid `{uid}` missing, longer than 40 characters or not unique"));
        }
        if d["title"].as_str().is_none_or(str::is_empty) {
            fail("no title".into());
        }
        if d["schemaVersion"].as_u64() != Some(SCHEMA_VERSION) {
            fail(format!("schemaVersion {} (current is {SCHEMA_VERSION})", d["schemaVersion"]));
        }
        if !d["id"].is_null() {
            fail("`id` must be null so import creates the dashboard".into());
        }
        if d.get("__inputs").is_some() {
            fail("uses __inputs; the datasource variable replaces it".into());
        }

        // Variables: datasource, instance and node.
        let vars: BTreeMap<&str, &Value> = d["templating"]["list"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|v| Some((v["name"].as_str()?, v)))
            .collect();
        match vars.get("datasource") {
            Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
            _ => fail("no `datasource` variable of type datasource for prometheus".into()),
        }
        for name in ["instance", "node"] {
            let Some(v) = vars.get(name) else {
                fail(format!("no `{name}` variable"));
                continue;
            };
            if v["type"] != "query" || v["datasource"]["uid"] != "${datasource}" {
                fail(format!("`{name}` must be a query variable on ${{datasource}}"));
            }
            if v["includeAll"] != true || v["multi"] != true {
                fail(format!("`{name}` needs includeAll and multi (the panels match it as a regex)"));
            }
            // "All" instances must expand to the instances listed (the nodes), not `.*`: the
            // `up` and `scrape_*` panels would otherwise show every target Prometheus scrapes.
            // "All" nodes is `.*`, which also matches nodes started without BITCRAPS_NODE_ID.
            let all_value = v["allValue"].as_str().unwrap_or_default();
            if (name == "instance" && !all_value.is_empty()) || (name == "node" && all_value != ".*") {
                fail(format!("`{name}` has allValue `{all_value}`"));
            }
            match label_values(v) {
                Some((selector, _)) => {
                    let (_, p) = check_expr(&selector, "variable", "");
                    for p in p.into_iter().filter(|p| !p.contains("filtered by")) {
                        fail(format!("${name}: {p}"));
                    }
                }
                None => fail(format!("`{name}` is not a label_values(selector, label) query")),
            }
        }

        // Panels.
        let mut ids = BTreeSet::new();
        let mut cells: BTreeSet<(u64, u64)> = BTreeSet::new();
        for p in all_panels(d) {
            let title = p["title"].as_str().unwrap_or("?");
            match p["id"].as_u64() {
                Some(id) if ids.insert(id) => {}
                other => problems.push(format!("{file}: panel `{title}` id {other:?} missing or duplicated")),
            }
            let g = &p["gridPos"];
            let (x, y, w, h) = (g["x"].as_u64(), g["y"].as_u64(), g["w"].as_u64(), g["h"].as_u64());
            match (x, y, w, h) {
                (Some(x), Some(y), Some(w), Some(h)) if w > 0 && h > 0 && x + w <= 24 => {
                    for cx in x..x + w {
                        for cy in y..y + h {
                            if !cells.insert((cx, cy)) {
                                problems.push(format!("{file}: panel `{title}` overlaps another at ({cx}, {cy})"));
                            }
                        }
                    }
                }
                _ => problems.push(format!("{file}: panel `{title}` has a bad gridPos {g}")),
            }
        }
        for p in data_panels(d) {
            let title = p["title"].as_str().unwrap_or("?");
            let mut fail = |msg: String| problems.push(format!("{file}: panel `{title}`: {msg}"));
            if p["datasource"]["type"] != "prometheus" || p["datasource"]["uid"] != "${datasource}" {
                fail(format!("datasource {} is not the ${{datasource}} variable", p["datasource"]));
            }
            let unit = p["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or_default();
            if !GRAFANA_UNITS.contains(&unit) && !unit.starts_with("suffix:") {
                fail(format!("unit `{unit}` missing or not a known Grafana unit"));
            }
            if p["description"].as_str().is_none_or(str::is_empty) {
                fail("no description".into());
            }
            let targets = p["targets"].as_array().map(Vec::as_slice).unwrap_or_default();
            if targets.is_empty() {
                fail("no queries".into());
            }
            let mut ref_ids = BTreeSet::new();
            let mut natural_units = Vec::new();
            for t in targets {
                if t["datasource"]["type"] != "prometheus" || t["datasource"]["uid"] != "${datasource}" {
                    fail(format!("target datasource {} is not the ${{datasource}} variable", t["datasource"]));
                }
                if !ref_ids.insert(t["refId"].as_str().unwrap_or_default()) {
                    fail("duplicate or missing refId".into());
                }
                let expr = t["expr"].as_str().unwrap_or_default();
                let (_, p) =
                    check_expr(expr, p["type"].as_str().unwrap_or_default(), t["format"].as_str().unwrap_or(""));
                for msg in p {
                    fail(format!("{expr}: {msg}"));
                }
                natural_units.push(
                    parser::parse(&STATIC_VARS.apply(expr))
                        .ok()
                        .and_then(|ast| natural_unit(&ast))
                        .and_then(|def| grafana_unit(def.unit).map(|u| (def.prometheus_name, u))),
                );
            }
            // A panel that only shows values of metrics in one unit must display that unit.
            if let Some(Some((metric, expected))) = natural_units.first() {
                if natural_units.iter().all(|u| u.map(|(_, g)| g) == Some(expected)) && unit != *expected {
                    fail(format!("shows {metric} (unit {expected}) but sets unit `{unit}`"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "dashboard problems:\n  {}", problems.join("\n  "));
}

/// The checks themselves catch what they should: a static check that never fails proves nothing.
#[test]
fn the_static_checks_reject_broken_queries() {
    let cases = [
        ("bitcraps_no_such_metric{instance=~\"$instance\", node_id=~\"$node\"}", "not in the semconv registry"),
        ("bitcraps_games_total{instance=~\"$instance\", node_id=~\"$node\"}", "is a counter"),
        ("rate(bitcraps_games_total{instance=~\"$instance\", node_id=~\"$node\"}[5m])", "not a fixed window"),
        ("rate(bitcraps_games_active{instance=~\"$instance\", node_id=~\"$node\"}[$__rate_interval])", "of the gauge"),
        ("bitcraps_games_active{node_id=~\"$node\"}", "not filtered by instance"),
        ("bitcraps_games_active{instance=~\"$instance\"}", "not filtered by node_id"),
        ("sum by (bet_type) (bitcraps_games_active{instance=~\"$instance\", node_id=~\"$node\"})", "carries the label"),
        (
            "sum(rate(bitcraps_errors_total{instance=~\"$instance\", node_id=~\"$node\", category=\"gamng\"}[$__rate_interval]))",
            "is not a value of",
        ),
        (
            "histogram_quantile(0.9, sum(rate(bitcraps_game_duration_seconds_bucket{instance=~\"$instance\", node_id=~\"$node\"}[$__rate_interval])))",
            "drops `le`",
        ),
        (
            "sum by (le) (rate(bitcraps_game_duration_seconds_bucket{instance=~\"$instance\", node_id=~\"$node\"}[$__rate_interval]))",
            "outside histogram_quantile",
        ),
        ("sum(rate(bitcraps_games_total{instance=~\"$instance\"", "does not parse"),
    ];
    for (expr, expected) in cases {
        let (_, problems) = check_expr(expr, "timeseries", "");
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{expr}: expected a problem with `{expected}`, got {problems:?}"
        );
    }
    let ok = "histogram_quantile(0.99, sum by (le) (rate(bitcraps_network_latency_seconds_bucket{instance=~\"$instance\", node_id=~\"$node\"}[$__rate_interval])))";
    assert_eq!(check_expr(ok, "timeseries", "").1, Vec::<String>::new());
}

// --- provisioning ---------------------------------------------------------------------------

#[test]
fn grafana_provisioning_points_at_the_dashboards_and_a_prometheus_datasource() {
    let read = |p: &str| -> serde_yaml::Value {
        let text = std::fs::read_to_string(repo().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    let ds = read("deploy/grafana/provisioning/datasources/bitcraps.yaml");
    assert_eq!(ds["apiVersion"].as_u64(), Some(1));
    let sources = ds["datasources"].as_sequence().expect("datasources list");
    assert!(
        sources.iter().any(|s| s["type"].as_str() == Some("prometheus") && s["access"].as_str() == Some("proxy")),
        "a proxied prometheus data source"
    );
    let dash = read("deploy/grafana/provisioning/dashboards/bitcraps.yaml");
    assert_eq!(dash["apiVersion"].as_u64(), Some(1));
    let provider = &dash["providers"][0];
    assert_eq!(provider["type"].as_str(), Some("file"));
    let path = provider["options"]["path"].as_str().expect("options.path");
    // The compose file mounts dashboards/ at this path; keep the two in step.
    let compose =
        std::fs::read_to_string(repo().join("deploy/docker-compose.yaml")).expect("deploy/docker-compose.yaml");
    assert!(compose.contains(&format!("../dashboards:{path}")), "docker-compose mounts ../dashboards at {path}");
}

#[test]
fn prometheus_config_passes_promtool() {
    if tool_missing("promtool") {
        return;
    }
    let path = repo().join("deploy/prometheus.yml");
    let out = Command::new("promtool").arg("check").arg("config").arg(&path).output().expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check config {}:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).expect("read");
    let cfg: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
    let jobs = cfg["scrape_configs"].as_sequence().expect("scrape_configs");
    let node = jobs.iter().find(|j| j["job_name"].as_str() == Some("bitcraps")).expect("a `bitcraps` job");
    assert_eq!(node["scrape_interval"].as_str(), Some("15s"), "the reference scrapes every 15 s");
    assert_eq!(node["metrics_path"].as_str().unwrap_or("/metrics"), "/metrics");
}
