//! The Kubernetes files under `deploy/kubernetes`: schema-valid, strictly (core kinds with
//! kubernetes-validate's offline schemas, the ServiceMonitor with the prometheus-operator
//! CRD's schema kept in `tests/data/`), and consistent with what the node serves and the
//! monitoring reference.

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

/// The ServiceMonitor CRD of the prometheus-operator release the docs target.
const SERVICEMONITOR_CRD: &str = "tests/data/servicemonitor-crd-v0.93.0.yaml";

/// Validates every resource of a YAML file against a CRD's `openAPIV3Schema`, strictly: as
/// the API server with strict field validation, a field the schema does not declare is an
/// error (unless the schema preserves unknown fields). Prints one line per resource; exits
/// non-zero if any fails. Arguments: the CRD file, the resource file.
const CRD_VALIDATOR: &str = r#"
import sys, yaml, jsonschema
crd = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d)
group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
schemas = {f"{group}/{v['name']}": v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"] if v.get("served")}
def strict(s):
    if isinstance(s, dict):
        if "properties" in s and "additionalProperties" not in s and not s.get("x-kubernetes-preserve-unknown-fields"):
            s["additionalProperties"] = False
        for v in s.values():
            strict(v)
    elif isinstance(s, list):
        for v in s:
            strict(v)
    return s
failed = 0
for doc in (d for d in yaml.safe_load_all(open(sys.argv[2])) if d):
    name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
    problems = []
    if doc.get("kind") != kind or doc.get("apiVersion") not in schemas:
        problems.append(f"not a {kind} of a served version: {doc.get('apiVersion')}")
    elif not (doc.get("metadata") or {}).get("name"):
        problems.append("metadata.name is required")
    else:
        validator = jsonschema.Draft7Validator(strict(schemas[doc["apiVersion"]]))
        problems += [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
    if problems:
        failed += 1
        print(f"{name} FAILED: " + "; ".join(problems))
    else:
        print(f"{name} passed")
sys.exit(1 if failed else 0)
"#;

fn kubernetes_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

/// Runs [`CRD_VALIDATOR`] on `file` against the ServiceMonitor CRD: (passed, report).
fn validate_servicemonitors(file: &Path) -> (bool, String) {
    let crd = Path::new(env!("CARGO_MANIFEST_DIR")).join(SERVICEMONITOR_CRD);
    let out = Command::new("python3").args(["-c", CRD_VALIDATOR]).arg(&crd).arg(file).output().expect("run python3");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Core kinds kubernetes-validate has schemas for; custom resources need their CRD's.
const CORE_KINDS: [&str; 3] = ["Deployment", "Service", "NetworkPolicy"];

#[test]
fn every_manifest_passes_the_kubernetes_schema() {
    if common::tool_missing("kubernetes-validate") || common::python_module_missing("jsonschema") {
        return;
    }
    // Every resource under deploy/kubernetes is validated by one schema or the other.
    let docs = documents();
    let files = |core: bool| -> Vec<String> {
        let mut files: Vec<String> = docs
            .iter()
            .filter(|(_, d)| d["kind"].as_str().is_some_and(|k| CORE_KINDS.contains(&k)) == core)
            .map(|(path, _)| path.clone())
            .collect();
        files.dedup();
        files
    };
    for (path, d) in &docs {
        let kind = d["kind"].as_str().unwrap_or_default();
        assert!(CORE_KINDS.contains(&kind) || kind == "ServiceMonitor", "{path}: no schema for kind `{kind}`");
    }
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .args(files(true))
        .current_dir(kubernetes_dir())
        .output()
        .expect("run kubernetes-validate");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{report}");
    let core = docs.iter().filter(|(_, d)| d["kind"].as_str().is_some_and(|k| CORE_KINDS.contains(&k))).count();
    assert_eq!(report.matches("passed").count(), core, "one pass per core resource expected:\n{report}");
    let custom = files(false);
    assert!(!custom.is_empty(), "the ServiceMonitor is found");
    for file in custom {
        let (ok, report) = validate_servicemonitors(Path::new(&file));
        assert!(ok && report.contains("ServiceMonitor/bitcraps-metrics passed"), "{file}:\n{report}");
    }
}

#[test]
fn the_servicemonitor_schema_check_rejects_broken_monitors() {
    if common::python_module_missing("jsonschema") {
        return;
    }
    let good = std::fs::read_to_string(kubernetes_dir().join("servicemonitor.yaml")).expect("read");
    let cases = [
        ("interval: 15s", "interval: 15 seconds", "does not match"),
        ("    - port: metrics", "    - prot: metrics", "Additional properties"),
        ("  endpoints:", "  endpoint:", "Additional properties"),
        ("apiVersion: monitoring.coreos.com/v1", "apiVersion: monitoring.coreos.com/v2", "served version"),
    ];
    for (from, to, expected) in cases {
        assert!(good.contains(from), "{from} not in servicemonitor.yaml");
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("broken.yaml");
        std::fs::write(&file, good.replacen(from, to, 1)).expect("write");
        let (ok, report) = validate_servicemonitors(&file);
        assert!(!ok && report.contains(expected), "{to}: expected `{expected}`:\n{report}");
    }
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
