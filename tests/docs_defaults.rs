//! The docs agree with the code: every default in a variable table of README.md or docs/*.md is
//! what `Config` (or `bitcraps-node --help`) reports, and every variable the configuration
//! reads is documented in README.md.

use bitcraps_otel::config::{resource, Config, OtlpSignal, Signal};
use bitcraps_otel::ConfigBuilder;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `OTEL_A_{X,Y}_B` → `OTEL_A_X_B`, `OTEL_A_Y_B`.
fn expand(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('{') else { return vec![pattern.to_string()] };
    let Some(close) = pattern[open..].find('}').map(|c| open + c) else { return vec![pattern.to_string()] };
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    pattern[open + 1..close].split(',').flat_map(|alt| expand(&format!("{head}{alt}{tail}"))).collect()
}

/// A table row: its variables (as written, brace patterns kept) and its default cell.
struct Row {
    file: String,
    variables: Vec<String>,
    default: Option<String>,
}

/// The cells of a table line: split on `|` outside backticks (and not escaped as `\|`).
fn cells(line: &str) -> Vec<String> {
    let inner = line.strip_prefix('|').unwrap_or(line);
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let (mut out, mut cell, mut code, mut prev) = (Vec::new(), String::new(), false, ' ');
    for ch in inner.chars() {
        match ch {
            '`' => code = !code,
            '|' if !code && prev != '\\' => {
                out.push(cell.trim().to_string());
                cell.clear();
                prev = ch;
                continue;
            }
            _ => {}
        }
        cell.push(ch);
        prev = ch;
    }
    out.push(cell.trim().to_string());
    out
}

/// Rows of every Markdown table whose first column is `variable`.
fn variable_rows(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = Vec::new();
    let mut columns: Option<Vec<String>> = None;
    for line in text.lines() {
        let line = line.trim();
        if !line.starts_with('|') {
            columns = None;
            continue;
        }
        let cells = cells(line);
        match &columns {
            None => {
                if cells.first().is_some_and(|c| c == "variable") {
                    columns = Some(cells);
                }
            }
            Some(cols) => {
                if cells.iter().all(|c| c.chars().all(|ch| ch == '-' || ch == ':')) {
                    continue;
                }
                let variables = cells[0]
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .filter(|v| v.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
                    .map(str::to_string)
                    .collect();
                let default = cols.iter().position(|c| c == "default").and_then(|i| cells.get(i)).cloned();
                rows.push(Row { file: path.display().to_string(), variables, default });
            }
        }
    }
    rows
}

fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn config(env: &[(&str, &str)]) -> Config {
    let env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    ConfigBuilder::from_lookup(move |k| env.get(k).cloned()).build().expect("a valid configuration")
}

fn with_endpoint() -> Config {
    config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")])
}

fn metrics_signal(c: &Config) -> OtlpSignal {
    c.otlp().and_then(|o| o.signal(Signal::Metrics)).cloned().expect("metrics go over OTLP")
}

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("`{text}` is not a duration: {e}"))
}

fn same(what: &str, documented: &str, actual: impl ToString) -> Result<(), String> {
    let actual = actual.to_string();
    if documented == actual {
        Ok(())
    } else {
        Err(format!("{what}: the docs say `{documented}`, the code has `{actual}`"))
    }
}

fn node_help() -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bitcraps-node")).arg("--help").output().expect("--help");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Checks the documented default `d` of `var` against what the code reports.
fn check(var: &str, d: &str) -> Result<(), String> {
    let c = config(&[]);
    match var {
        "OTEL_SERVICE_NAME" => same(var, d, c.service_name()),
        "OTEL_RESOURCE_ATTRIBUTES" => {
            let extra: Vec<String> = resource(&c)
                .iter()
                .map(|(k, _)| k.as_str().to_string())
                .filter(|k| {
                    !(k.starts_with("service.") || k.starts_with("telemetry.sdk.") || k.starts_with("bitcraps."))
                })
                .collect();
            if d.is_empty() && extra.is_empty() {
                Ok(())
            } else {
                Err(format!("{var}: documented `{d}`, extra resource attributes {extra:?}"))
            }
        }
        "OTEL_SDK_DISABLED" => same(var, d, c.sdk_disabled()),
        "OTEL_EXPORTER_OTLP_ENDPOINT" => match (d, c.otlp()) {
            ("unset (no OTLP)" | "unset" | "none", None) => Ok(()),
            (_, o) => Err(format!("{var}: documented `{d}`, OTLP is {o:?}")),
        },
        "OTEL_EXPORTER_OTLP_PROTOCOL" => same(var, d, metrics_signal(&with_endpoint()).protocol.as_str()),
        "OTEL_EXPORTER_OTLP_HEADERS" => match metrics_signal(&with_endpoint()).headers.len() {
            0 if d.is_empty() => Ok(()),
            n => Err(format!("{var}: documented `{d}`, {n} headers")),
        },
        "OTEL_EXPORTER_OTLP_TIMEOUT" => same(var, d, metrics_signal(&with_endpoint()).timeout.as_millis()),
        "OTEL_EXPORTER_OTLP_COMPRESSION" => {
            same(var, d, metrics_signal(&with_endpoint()).compression.map_or("none", |c| c.as_str()))
        }
        "OTEL_EXPORTER_OTLP_CERTIFICATE" => match metrics_signal(&with_endpoint()).tls.certificate {
            None if d == "system roots" => Ok(()),
            other => Err(format!("{var}: documented `{d}`, the code has {other:?}")),
        },
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE" | "OTEL_EXPORTER_OTLP_CLIENT_KEY" => {
            let tls = metrics_signal(&with_endpoint()).tls;
            match (tls.client_certificate, tls.client_key) {
                (None, None) if d.is_empty() => Ok(()),
                other => Err(format!("{var}: documented `{d}`, the code has {other:?}")),
            }
        }
        "OTEL_TRACES_EXPORTER" | "OTEL_METRICS_EXPORTER" | "OTEL_LOGS_EXPORTER" => {
            let c = with_endpoint();
            let signal = match var {
                "OTEL_TRACES_EXPORTER" => Signal::Traces,
                "OTEL_METRICS_EXPORTER" => Signal::Metrics,
                _ => Signal::Logs,
            };
            match c.otlp().and_then(|o| o.signal(signal)) {
                Some(_) if d == "otlp" => Ok(()),
                other => Err(format!("{var}: documented `{d}`, with an endpoint the signal is {other:?}")),
            }
        }
        "OTEL_METRIC_EXPORT_INTERVAL" => {
            let c = with_endpoint();
            let interval = c.otlp().map(|o| o.metric_export_interval);
            match d {
                "the collection interval" if interval == Some(c.collection_interval()) => Ok(()),
                _ => Err(format!("{var}: documented `{d}`, the code has {interval:?}")),
            }
        }
        "OTEL_METRIC_EXPORT_TIMEOUT" => {
            same(var, d, with_endpoint().otlp().map_or(0, |o| o.metric_export_timeout.as_millis()))
        }
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE" => {
            same(var, d, with_endpoint().otlp().map_or("", |o| o.temporality.as_str()))
        }
        "OTEL_METRICS_EXEMPLAR_FILTER" => same(var, d, c.exemplar_filter().as_str()),
        "OTEL_TRACES_SAMPLER" => same(var, d, c.traces_sampler().as_str()),
        "OTEL_TRACES_SAMPLER_ARG" => {
            // With a ratio sampler and no argument, the ratio is the documented default.
            let r = config(&[("OTEL_TRACES_SAMPLER", "traceidratio")]).traces_sampler();
            same(var, d, format!("{r}").trim_start_matches("traceidratio(").trim_end_matches(')'))
        }
        "OTEL_PROPAGATORS" => same(var, d, c.propagators().iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",")),
        "OTEL_EXPORTER_PROMETHEUS_HOST" => {
            same(var, d, c.prometheus_addr().map_or("off".into(), |a| a.ip().to_string()))
        }
        "OTEL_EXPORTER_PROMETHEUS_PORT" => same(var, d, c.prometheus_addr().map_or(0, |a| a.port())),
        "BITCRAPS_PROMETHEUS_ADDR" => same(var, d, c.prometheus_addr().map_or("off".into(), |a| a.to_string())),
        "BITCRAPS_HEALTH_ADDR" => same(var, d, c.health().addr.map_or("off".into(), |a| a.to_string())),
        "BITCRAPS_NODE_ID" => {
            let host = sysinfo::System::host_name().unwrap_or_default();
            match (d, c.constant_labels().get("node_id")) {
                ("host name", Some(id)) if *id == host => Ok(()),
                (_, id) => Err(format!("{var}: documented `{d}`, the code has {id:?} (host {host})")),
            }
        }
        "BITCRAPS_REGION" => match (d, c.constant_labels().get("region")) {
            ("unset" | "", None) => Ok(()),
            (_, r) => Err(format!("{var}: documented `{d}`, the code has {r:?}")),
        },
        "BITCRAPS_CONSTANT_LABELS" => {
            let names: Vec<&String> = c.constant_labels().keys().filter(|k| *k != "node_id").collect();
            if d.is_empty() && names.is_empty() {
                Ok(())
            } else {
                Err(format!("{var}: documented `{d}`, labels {names:?}"))
            }
        }
        "BITCRAPS_COLLECTION_INTERVAL" => {
            same(var, &format!("{:?}", duration(d)?), format!("{:?}", c.collection_interval()))
        }
        "BITCRAPS_CARDINALITY_LIMIT" => same(var, d, c.cardinality_limit()),
        "BITCRAPS_HEALTH_CACHE_TTL" => same(var, &format!("{:?}", duration(d)?), format!("{:?}", c.health().cache_ttl)),
        "BITCRAPS_HEALTH_CHECK_TIMEOUT" => {
            same(var, &format!("{:?}", duration(d)?), format!("{:?}", c.health().check_timeout))
        }
        "BITCRAPS_DRAIN_PERIOD" => same(var, &format!("{:?}", duration(d)?), format!("{:?}", c.health().drain_period)),
        "BITCRAPS_HTTP_HEADER_TIMEOUT" => {
            same(var, &format!("{:?}", duration(d)?), format!("{:?}", c.server_limits().header_read_timeout))
        }
        "BITCRAPS_HTTP_IDLE_TIMEOUT" => {
            same(var, &format!("{:?}", duration(d)?), format!("{:?}", c.server_limits().idle_timeout))
        }
        "BITCRAPS_HTTP_MAX_CONNECTIONS" => same(var, d, c.server_limits().max_connections),
        "BITCRAPS_SIM_RATE" => {
            let help = node_help();
            let rate = help
                .split("--rate")
                .nth(1)
                .and_then(|r| r.split("[default: ").nth(1))
                .and_then(|r| r.split(']').next());
            same(var, d, rate.unwrap_or("(none in --help)"))
        }
        "BITCRAPS_MESH_LISTEN" | "BITCRAPS_MESH_PEERS" => {
            // No mesh unless asked: the node's --help names the variable and no default.
            let help = node_help();
            let flag = if var == "BITCRAPS_MESH_LISTEN" { "--listen <" } else { "--peers <" };
            let option = help.split(flag).nth(1).unwrap_or("");
            match d {
                "unset (no mesh)" | "unset" if option.contains(var) && !option.contains("[default:") => Ok(()),
                _ => Err(format!("{var}: documented `{d}`; --help says {option:?}")),
            }
        }
        "BITCRAPS_MESH_ROUND_TIMEOUT" => {
            let config = bitcraps_otel::mesh::MeshConfig::new(([127, 0, 0, 1], 0).into(), "n");
            same(var, d, humantime::format_duration(config.round_timeout))
        }
        "BITCRAPS_SUMMARY" => {
            let help = node_help();
            let summary = help.split("--summary").nth(1).unwrap_or("");
            match d {
                "10s on a terminal, off in JSON"
                    if summary.contains("default 10s on a terminal") && summary.contains("off in JSON") =>
                {
                    Ok(())
                }
                _ => Err(format!("{var}: documented `{d}`; --help says {summary:?}")),
            }
        }
        _ if var.contains('{') => {
            // Per-signal variables default to the generic ones.
            let c = config(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "1234"),
            ]);
            let o = c.otlp().ok_or("no OTLP")?;
            let all_generic = Signal::ALL.iter().all(|s| {
                o.signal(*s)
                    .is_some_and(|x| x.protocol.as_str() == "http/protobuf" && x.timeout == Duration::from_millis(1234))
            });
            match d {
                "the generic one" if all_generic => Ok(()),
                _ => {
                    Err(format!("{var}: documented `{d}`; per-signal settings follow the generic ones: {all_generic}"))
                }
            }
        }
        _ => Err(format!("{var}: no check of its documented default `{d}`: add one to tests/docs_defaults.rs")),
    }
}

#[test]
fn every_documented_default_is_what_the_code_reports() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in doc_files() {
        for row in variable_rows(&file) {
            let Some(default) = &row.default else { continue };
            let parts: Vec<String> = default.split(", ").map(|p| p.replace('`', "").trim().to_string()).collect();
            for (i, var) in row.variables.iter().enumerate() {
                // `2s`, `2s` for two variables; a single cell for several applies to each.
                let d = if parts.len() == row.variables.len() { parts[i].clone() } else { default.replace('`', "") };
                checked += 1;
                if let Err(e) = check(var, d.trim()) {
                    failures.push(format!("{}: {e}", row.file));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} documented defaults disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 30, "the tables were read ({checked} defaults)");
}

#[test]
fn every_variable_the_configuration_reads_is_in_the_readme() {
    let asked = Mutex::new(BTreeSet::new());
    let _ = ConfigBuilder::from_lookup(|k| {
        asked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(k.to_string());
        None
    })
    .build();
    let asked = asked.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    assert!(asked.len() > 20, "the lookup saw the variables: {asked:?}");
    let documented: BTreeSet<String> = variable_rows(&repo().join("README.md"))
        .iter()
        .flat_map(|r| r.variables.iter().flat_map(|v| expand(v)))
        .collect();
    let missing: Vec<&String> = asked.iter().filter(|v| !documented.contains(*v)).collect();
    assert!(missing.is_empty(), "read by the configuration but not in README.md's tables: {missing:?}");
}

#[test]
fn a_false_default_is_caught() {
    // The claim docs/observability.md used to make.
    assert!(check("BITCRAPS_NODE_ID", "none").is_err());
    assert!(check("BITCRAPS_COLLECTION_INTERVAL", "30s").is_err());
    assert!(check("BITCRAPS_HTTP_MAX_CONNECTIONS", "10").is_err());
}
