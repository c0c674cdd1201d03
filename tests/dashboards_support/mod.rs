//! The dashboards in `dashboards/` as data: loading, panels, their PromQL expressions, and
//! Grafana's variables; shared by the static checks and the live check.
#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Dashboard {
    pub file: String,
    pub json: Value,
}

pub fn load_dashboards() -> Vec<Dashboard> {
    let dir = repo().join("dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dashboards/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read dashboard");
            let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            Dashboard { file: p.file_name().expect("name").to_string_lossy().into_owned(), json }
        })
        .collect()
}

/// Every panel, rows' nested panels included.
pub fn all_panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().map(Vec::as_slice).unwrap_or_default() {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

/// Panels that query data (everything but rows).
pub fn data_panels(d: &Value) -> Vec<&Value> {
    all_panels(d).into_iter().filter(|p| p["type"] != "row").collect()
}

/// (panel title, refId, expr) for every target of every data panel.
pub fn expressions(d: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for p in data_panels(d) {
        for t in p["targets"].as_array().map(Vec::as_slice).unwrap_or_default() {
            out.push((
                p["title"].as_str().unwrap_or("?").to_string(),
                t["refId"].as_str().unwrap_or("?").to_string(),
                t["expr"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out
}

/// Grafana's variables replaced by concrete values.
pub struct Vars<'a> {
    pub rate_interval: &'a str,
    pub range: &'a str,
    pub instance: &'a str,
    pub node: &'a str,
}

impl Vars<'_> {
    pub fn apply(&self, expr: &str) -> String {
        expr.replace("${__rate_interval}", self.rate_interval)
            .replace("$__rate_interval", self.rate_interval)
            .replace("${__range}", self.range)
            .replace("$__range", self.range)
            .replace("${instance}", self.instance)
            .replace("$instance", self.instance)
            .replace("${node}", self.node)
            .replace("$node", self.node)
    }
}

/// `label_values(selector, label)` of a query variable: (selector, label).
pub fn label_values(var: &Value) -> Option<(String, String)> {
    let q = var["query"]["query"].as_str().or_else(|| var["query"].as_str())?.trim();
    let inner = q.strip_prefix("label_values(")?.strip_suffix(')')?;
    let (selector, label) = inner.rsplit_once(',')?;
    Some((selector.trim().to_string(), label.trim().to_string()))
}
