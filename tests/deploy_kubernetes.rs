//! The Kubernetes files under `deploy/kubernetes`: schema-valid (kubernetes-validate, strict,
//! offline schemas) and consistent with what the node serves and the monitoring reference.

mod common;

use serde_yaml::Value;
use std::path::Path;
use std::process::Command;

fn documents() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let mut docs = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("deploy/kubernetes").filter_map(|e| e.ok()).collect();
    files.sort_by_key(|e| e.path());
    for entry in files {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            docs.push((path.display().to_string(), value));
        }
    }
    docs
}

use serde::Deserialize;

fn of_kind<'a>(docs: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    docs.iter().map(|(_, d)| d).filter(|d| d["kind"] == kind).collect()
}

fn named<'a>(docs: &'a [(String, Value)], kind: &str, name: &str) -> &'a Value {
    of_kind(docs, kind)
        .into_iter()
        .find(|d| d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} named {name}"))
}

#[test]
fn every_manifest_passes_the_kubernetes_schema() {
    if common::tool_missing("kubernetes-validate") {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .args(["deployment.yaml", "service.yaml", "networkpolicy.yaml"])
        .current_dir(&dir)
        .output()
        .expect("run kubernetes-validate");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{report}");
    assert_eq!(report.matches("passed").count(), 4, "one pass per resource expected:\n{report}");
}

#[test]
fn deployment_probes_and_ports_match_the_sdk() {
    let docs = documents();
    let deploy = named(&docs, "Deployment", "bitcraps");
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    let ports = container["ports"].as_sequence().expect("ports");
    let port = |name: &str| ports.iter().find(|p| p["name"] == name).and_then(|p| p["containerPort"].as_u64());
    assert_eq!(port("metrics"), Some(9090));
    assert_eq!(port("health"), Some(8080));
    let live = &container["livenessProbe"]["httpGet"];
    let ready = &container["readinessProbe"]["httpGet"];
    assert_eq!((live["path"].as_str(), live["port"].as_u64()), (Some("/health"), Some(8080)));
    assert_eq!((ready["path"].as_str(), ready["port"].as_u64()), (Some("/ready"), Some(8080)));
    // The addresses the node is told to serve on are the ports the pod exposes.
    let env = container["env"].as_sequence().expect("env");
    let var = |name: &str| env.iter().find(|e| e["name"] == name).and_then(|e| e["value"].as_str()).map(str::to_string);
    assert_eq!(var("BITCRAPS_PROMETHEUS_ADDR").as_deref(), Some("0.0.0.0:9090"));
    assert_eq!(var("BITCRAPS_HEALTH_ADDR").as_deref(), Some("0.0.0.0:8080"));
    // Every BITCRAPS_/OTEL_ value given is one the SDK accepts.
    let lookup = |k: &str| var(k);
    bitcraps_otel::ConfigBuilder::from_lookup(lookup).build().expect("the deployment's environment is a valid config");
    // The drain must finish before Kubernetes gives up on the pod.
    let drain = humantime::parse_duration(&var("BITCRAPS_DRAIN_PERIOD").expect("drain period")).expect("duration");
    let grace = deploy["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as_u64().expect("grace");
    assert!(drain.as_secs() + 10 <= grace, "drain {drain:?} vs grace {grace}s");
}

#[test]
fn services_and_service_monitor_expose_the_named_ports() {
    let docs = documents();
    let metrics = named(&docs, "Service", "bitcraps-metrics");
    let health = named(&docs, "Service", "bitcraps-health");
    assert_eq!(metrics["spec"]["ports"][0]["name"], "metrics");
    assert_eq!(metrics["spec"]["ports"][0]["port"].as_u64(), Some(9090));
    assert_eq!(health["spec"]["ports"][0]["name"], "health");
    assert_eq!(health["spec"]["ports"][0]["port"].as_u64(), Some(8080));
    let sm = named(&docs, "ServiceMonitor", "bitcraps-metrics");
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["spec"]["selector"]["matchLabels"]["app"], "bitcraps");
    assert_eq!(metrics["metadata"]["labels"]["app"], "bitcraps", "the ServiceMonitor must select the metrics Service");
    let ep = &sm["spec"]["endpoints"][0];
    assert_eq!(
        (ep["port"].as_str(), ep["interval"].as_str(), ep["path"].as_str()),
        (Some("metrics"), Some("15s"), Some("/metrics"))
    );
}

#[test]
fn network_policy_admits_only_monitoring_to_metrics_and_health() {
    let docs = documents();
    let np = named(&docs, "NetworkPolicy", "bitcraps-monitoring-only");
    assert_eq!(np["spec"]["podSelector"]["matchLabels"]["app"], "bitcraps");
    let rules = np["spec"]["ingress"].as_sequence().expect("ingress rules");
    for rule in rules {
        let ports: Vec<u64> =
            rule["ports"].as_sequence().into_iter().flatten().filter_map(|p| p["port"].as_u64()).collect();
        let monitoring_ports = ports.contains(&9090) || ports.contains(&8080);
        if monitoring_ports {
            let from = rule["from"].as_sequence().expect("metrics/health rules must restrict their sources");
            assert!(!from.is_empty());
            for source in from {
                assert_eq!(
                    source["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], "monitoring",
                    "{source:?}"
                );
                assert!(source["ipBlock"].is_null() && source["podSelector"].is_null());
            }
        }
    }
    let covered: Vec<u64> = rules
        .iter()
        .filter(|r| !r["from"].is_null())
        .flat_map(|r| r["ports"].as_sequence().into_iter().flatten().filter_map(|p| p["port"].as_u64()))
        .collect();
    assert!(covered.contains(&9090) && covered.contains(&8080), "{covered:?}");
}
