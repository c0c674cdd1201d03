//! The OpenTelemetry Collector configurations in `collector/`.
//!
//! No collector binary can be installed on this machine (Debian has none, and the PyPI package
//! lacks an OTLP receiver), so the files are checked the way the collector would check their
//! structure: every pipeline references defined components, every defined component is used,
//! each signal has its pipeline, and the processors run in the documented order. Which
//! components a stock `otelcol-contrib` contains comes from that distribution's own release
//! manifest, kept as data in `tests/data/`. On top of that, the label renames of the
//! `transform` processor must equal the semconv registry's, or metrics arriving through the
//! collector would not match the dashboards.

use bitcraps_otel::semconv;
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const CONFIGS: [&str; 2] = ["collector/otel-collector.yaml", "collector/otel-collector.debug.yaml"];

/// The release manifest of the stock `otelcol-contrib` distribution the docs point users at.
const CONTRIB_MANIFEST: &str = "tests/data/otelcol-contrib-v0.159.0-manifest.yaml";

/// Components the configurations use that no `otelcol-contrib` release ships (they need a
/// custom collector build, which docs/observability.md must explain).
const COMMUNITY: [(&str, &str); 1] = [("exporters", "fluentforward")];

const KINDS: [&str; 4] = ["receivers", "processors", "exporters", "extensions"];

/// Component types per kind in the `otelcol-contrib` manifest, normalized by [`normalized`].
/// A module `.../exporter/prometheusremotewriteexporter v0.159.0` gives `prometheusremotewrite`.
fn contrib_components() -> BTreeMap<String, BTreeSet<String>> {
    let manifest = load(CONTRIB_MANIFEST);
    let mut out = BTreeMap::new();
    for kind in KINDS {
        let suffix = kind.trim_end_matches('s');
        let set: BTreeSet<String> = manifest[kind]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry["gomod"].as_str())
            .filter_map(|gomod| gomod.split_whitespace().next()?.rsplit('/').next())
            .map(|module| module.strip_suffix(suffix).unwrap_or(module).to_string())
            .collect();
        out.insert(kind.to_string(), set);
    }
    out
}

/// A component type as its Go module spells it: `memory_limiter` is `memorylimiterprocessor`.
fn normalized(component_type: &str) -> String {
    component_type.replace('_', "")
}

/// Where a component of `kind` with this id ships: `contrib`, `community`, or `None` (unknown).
fn distribution(contrib: &BTreeMap<String, BTreeSet<String>>, kind: &str, id: &str) -> Option<&'static str> {
    let t = component_type(id);
    if contrib.get(kind).is_some_and(|set| set.contains(&normalized(t))) {
        Some("contrib")
    } else if COMMUNITY.iter().any(|(k, c)| *k == kind && *c == t) {
        Some("community")
    } else {
        None
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: not YAML: {e}"))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_mapping().map(|m| m.keys().filter_map(|k| k.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence().map(|s| s.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// `type/name` -> `type`.
fn component_type(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

/// Structural problems of one collector configuration.
fn structure_problems(cfg: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let contrib = contrib_components();
    let defined: BTreeMap<&str, BTreeSet<String>> = KINDS.into_iter().map(|k| (k, keys(&cfg[k]))).collect();
    let mut used: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (kind, ids) in &defined {
        for id in ids {
            if distribution(&contrib, kind, id).is_none() {
                problems.push(format!("{kind}: unknown component type `{id}`"));
            }
        }
    }
    for ext in strings(&cfg["service"]["extensions"]) {
        if !defined["extensions"].contains(&ext) {
            problems.push(format!("service.extensions: `{ext}` is not defined"));
        }
        used.entry("extensions").or_default().insert(ext);
    }
    let pipelines = cfg["service"]["pipelines"].as_mapping().cloned().unwrap_or_default();
    let mut signals = BTreeSet::new();
    for (name, p) in &pipelines {
        let name = name.as_str().unwrap_or("?");
        let signal = component_type(name);
        if !["metrics", "traces", "logs"].contains(&signal) {
            problems.push(format!("pipeline `{name}`: unknown signal"));
        }
        signals.insert(signal.to_string());
        for kind in ["receivers", "processors", "exporters"] {
            let ids = strings(&p[kind]);
            if ids.is_empty() && kind != "processors" {
                problems.push(format!("pipeline `{name}` has no {kind}"));
            }
            let unique: BTreeSet<_> = ids.iter().collect();
            if unique.len() != ids.len() {
                problems.push(format!("pipeline `{name}` lists a {kind} twice"));
            }
            for id in &ids {
                if !defined[kind].contains(id) {
                    problems.push(format!("pipeline `{name}`: {kind} `{id}` is not defined"));
                }
                used.entry(kind).or_default().insert(id.clone());
            }
        }
        // memory_limiter must see data first, batch must see it last (after any transform).
        let procs = strings(&p["processors"]);
        if procs.first().map(|p| component_type(p)) != Some("memory_limiter") {
            problems.push(format!("pipeline `{name}`: memory_limiter must be the first processor"));
        }
        if procs.last().map(|p| component_type(p)) != Some("batch") {
            problems.push(format!("pipeline `{name}`: batch must be the last processor"));
        }
        // A transform with metric statements only acts in a metrics pipeline.
        for id in procs.iter().filter(|p| component_type(p) == "transform") {
            let section = match signal {
                "metrics" => "metric_statements",
                "traces" => "trace_statements",
                _ => "log_statements",
            };
            if cfg["processors"][id.as_str()][section].is_null() {
                problems.push(format!("pipeline `{name}`: `{id}` has no {section}"));
            }
        }
    }
    for signal in ["metrics", "traces", "logs"] {
        if !signals.contains(signal) {
            problems.push(format!("no {signal} pipeline"));
        }
    }
    for (kind, ids) in &defined {
        for id in ids {
            if !used.get(kind).is_some_and(|u| u.contains(id)) {
                problems.push(format!("{kind}: `{id}` is defined but no pipeline uses it"));
            }
        }
    }
    problems
}

#[test]
fn every_pipeline_references_defined_components_and_every_component_is_used() {
    for path in CONFIGS {
        let problems = structure_problems(&load(path));
        assert!(problems.is_empty(), "{path}:\n  {}", problems.join("\n  "));
    }
}

/// A change that breaks a configuration.
type Mutation = Box<dyn Fn(&mut Value)>;

#[test]
fn the_structure_check_catches_broken_configs() {
    let good = load(CONFIGS[0]);
    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut cfg = good.clone();
        f(&mut cfg);
        structure_problems(&cfg)
    };
    let cases: [(&str, Mutation); 5] = [
        (
            "is not defined",
            Box::new(|c| {
                c["service"]["pipelines"]["traces"]["exporters"] = serde_yaml::from_str("[otlp/nowhere]").expect("yaml")
            }),
        ),
        (
            "no pipeline uses it",
            Box::new(|c| c["exporters"]["debug"] = serde_yaml::from_str("{verbosity: basic}").expect("yaml")),
        ),
        (
            "must be the first processor",
            Box::new(|c| {
                c["service"]["pipelines"]["logs"]["processors"] =
                    serde_yaml::from_str("[batch, memory_limiter]").expect("yaml")
            }),
        ),
        ("unknown component type", Box::new(|c| c["exporters"]["jaeger"] = serde_yaml::from_str("{}").expect("yaml"))),
        (
            "no logs pipeline",
            Box::new(|c| {
                if let Some(m) = c["service"]["pipelines"].as_mapping_mut() {
                    m.remove("logs");
                }
            }),
        ),
    ];
    for (expected, f) in cases {
        let problems = mutate(&*f);
        assert!(problems.iter().any(|p| p.contains(expected)), "expected `{expected}`, got {problems:?}");
    }
}

#[test]
fn the_production_config_exports_each_signal_where_the_issue_says() {
    let cfg = load(CONFIGS[0]);
    let exporters = |signal: &str| -> BTreeSet<String> {
        strings(&cfg["service"]["pipelines"][signal]["exporters"])
            .iter()
            .map(|e| component_type(e).to_string())
            .collect()
    };
    assert!(exporters("metrics").contains("prometheus") || exporters("metrics").contains("prometheusremotewrite"));
    assert!(exporters("traces").contains("otlp") || exporters("traces").contains("otlphttp"));
    assert!(exporters("logs").contains("elasticsearch"), "logs go to Elasticsearch");
    assert!(exporters("logs").contains("fluentforward"), "logs go to Fluentd (forward)");
    let otlp = &cfg["receivers"]["otlp"]["protocols"];
    assert!(otlp["grpc"]["endpoint"].as_str().is_some_and(|e| e.ends_with(":4317")), "OTLP/gRPC on 4317");
    assert!(otlp["http"]["endpoint"].as_str().is_some_and(|e| e.ends_with(":4318")), "OTLP/HTTP on 4318");
    let ml = &cfg["processors"]["memory_limiter"];
    assert!(ml["check_interval"].is_string(), "memory_limiter needs check_interval");
    assert!(ml["limit_mib"].is_number() || ml["limit_percentage"].is_number(), "memory_limiter needs a limit");
}

#[test]
fn the_contrib_manifest_is_read_as_the_collector_names_its_components() {
    let contrib = contrib_components();
    // The stock distribution ships a few hundred components; these are some it must have...
    assert!(contrib.values().map(BTreeSet::len).sum::<usize>() > 200, "{contrib:?}");
    for (kind, id) in [
        ("receivers", "otlp"),
        ("processors", "memory_limiter"),
        ("processors", "batch"),
        ("exporters", "otlphttp"),
        ("exporters", "prometheusremotewrite"),
        ("extensions", "health_check"),
    ] {
        assert_eq!(distribution(&contrib, kind, id), Some("contrib"), "{kind} {id}");
    }
    // ...and some it does not: the Jaeger exporter left contrib in 2023, and a receiver is not
    // an exporter.
    assert_eq!(distribution(&contrib, "exporters", "jaeger"), None);
    assert_eq!(distribution(&contrib, "exporters", "fluentforward"), Some("community"));
    assert_eq!(distribution(&contrib, "receivers", "fluentforward"), Some("contrib"));
}

#[test]
fn the_debug_variant_uses_only_components_of_the_otelcol_contrib_release_and_prints_everything() {
    let cfg = load(CONFIGS[1]);
    for signal in ["metrics", "traces", "logs"] {
        let exporters = strings(&cfg["service"]["pipelines"][signal]["exporters"]);
        assert!(exporters.iter().any(|e| component_type(e) == "debug"), "{signal} pipeline prints to debug");
    }
    let contrib = contrib_components();
    for kind in KINDS {
        for id in keys(&cfg[kind]) {
            assert_eq!(
                distribution(&contrib, kind, &id),
                Some("contrib"),
                "{kind} `{id}` is not in otelcol-contrib ({CONTRIB_MANIFEST})"
            );
        }
    }
}

#[test]
fn components_outside_otelcol_contrib_are_documented() {
    let docs = std::fs::read_to_string(repo().join("docs/observability.md")).expect("docs/observability.md");
    let contrib = contrib_components();
    for path in CONFIGS {
        let cfg = load(path);
        for kind in KINDS {
            for id in keys(&cfg[kind]) {
                if distribution(&contrib, kind, &id) == Some("community") {
                    assert!(docs.contains(component_type(&id)), "docs/observability.md must explain how to get `{id}`");
                }
            }
        }
    }
}

/// `set(attributes["to"], attributes["from"])` + `delete_key(attributes, "from")` pairs of the
/// transform processor, and the resource attribute copied to a label.
fn renames(cfg: &Value) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut moved = BTreeMap::new();
    let mut deleted = BTreeSet::new();
    let mut from_resource = BTreeMap::new();
    let quoted = |s: &str| -> Vec<String> { s.split('"').skip(1).step_by(2).map(str::to_string).collect() };
    for group in
        cfg["processors"]["transform/prometheus_labels"]["metric_statements"].as_sequence().into_iter().flatten()
    {
        assert_eq!(group["context"].as_str(), Some("datapoint"));
        for st in strings(&group["statements"]) {
            let q = quoted(&st);
            if st.starts_with("set(attributes[") && st.contains("], resource.attributes[") {
                from_resource.insert(q[1].clone(), q[0].clone());
            } else if st.starts_with("set(attributes[") && q.len() >= 2 {
                moved.insert(q[1].clone(), q[0].clone());
            } else if st.starts_with("delete_key(attributes,") && q.len() == 1 {
                deleted.insert(q[0].clone());
            } else {
                panic!("unexpected statement: {st}");
            }
        }
    }
    for from in moved.keys() {
        assert!(deleted.contains(from), "`{from}` is copied but not deleted: both names would be exported");
    }
    (moved, from_resource)
}

#[test]
fn the_collector_renames_attributes_exactly_as_the_registry_and_the_bridge_do() {
    // What the node's own Prometheus bridge does: registry label names for metric attributes.
    let mut expected = BTreeMap::new();
    for m in semconv::METRICS {
        for a in m.attributes {
            if a.prometheus_label != a.id.replace(['.', '-'], "_") {
                expected.insert(a.id.to_string(), a.prometheus_label.to_string());
            }
        }
    }
    assert!(!expected.is_empty());
    for path in CONFIGS {
        let (moved, from_resource) = renames(&load(path));
        assert_eq!(moved, expected, "{path}: transform/prometheus_labels renames differ from the registry");
        assert_eq!(
            from_resource.get(semconv::attribute::NODE_ID.id).map(String::as_str),
            Some("node_id"),
            "{path}: the node id resource attribute becomes the node_id label the dashboards filter on"
        );
    }
}
