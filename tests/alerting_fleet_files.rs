//! The files a fleet runs, made from the shipped rules file: the checked-in Alertmanager
//! configuration is its current export and `amtool check-config` accepts it; `amtool config
//! routes test` on it sends an alert to the same channels `bitcraps-node --check-config`
//! says the node would; and `--check-config` reports errors with their lines.

mod common;

use bitcraps_otel::alerting::{alertmanager_yaml, parse_rules_with_env, AmConfigOptions};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

const SHIPPED_RULES: &str = "deploy/alerting/bitcraps-rules.yml";
const SHIPPED_AM: &str = "deploy/alertmanager/alertmanager.yml";

fn expected_alertmanager_config() -> String {
    let text = std::fs::read_to_string(repo(SHIPPED_RULES)).expect("shipped rules");
    let set = parse_rules_with_env(SHIPPED_RULES, &text, &|var| Some(format!("${{{var}}}"))).expect("valid rules");
    let mut registered = vec!["log".to_string()];
    registered.extend(set.channels.iter().map(|c| c.name.clone()));
    alertmanager_yaml(&set.routing, &set.channels, &registered, &AmConfigOptions::default()).expect("export")
}

/// Dummy values for every `${VAR}` the shipped file uses, so the node can load it.
fn shipped_env() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo(SHIPPED_RULES)).expect("shipped rules");
    let mut vars = BTreeSet::new();
    for part in text.split("${").skip(1) {
        if let Some((var, _)) = part.split_once('}') {
            vars.insert(var.to_string());
        }
    }
    vars.into_iter().map(|v| (v.clone(), format!("https://example.invalid/{v}"))).collect()
}

fn check_config(file: &str, labels: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bitcraps-node"))
        .arg("--check-config")
        .arg(file)
        .args(labels)
        .envs(shipped_env())
        .output()
        .expect("run bitcraps-node --check-config");
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn the_checked_in_alertmanager_config_is_the_export_of_the_shipped_rules_and_amtool_accepts_it() {
    let checked_in = std::fs::read_to_string(repo(SHIPPED_AM)).expect("checked-in Alertmanager configuration");
    assert!(
        checked_in == expected_alertmanager_config(),
        "{SHIPPED_AM} is stale; regenerate with\n  cargo run -q --example alerting_export -- --alertmanager {SHIPPED_RULES} > {SHIPPED_AM}"
    );
    for secret in shipped_env().iter().map(|(_, v)| v) {
        assert!(!checked_in.contains(secret.as_str()), "no secret value is written");
    }
    if common::tool_missing("amtool") {
        return;
    }
    let out = Command::new("amtool").arg("check-config").arg(repo(SHIPPED_AM)).output().expect("run amtool");
    assert!(
        out.status.success(),
        "amtool check-config: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn alertmanager_routes_an_alert_to_the_channels_the_node_would() {
    if common::tool_missing("amtool") {
        return;
    }
    let rules = repo(SHIPPED_RULES);
    let rules = rules.to_str().expect("utf-8 path");
    for labels in [
        &["alertname=SecurityIncidents", "category=security", "severity=critical"][..],
        &["alertname=NoPeerConnections", "category=network", "severity=critical"][..],
        &["alertname=BatteryLow", "category=mobile", "severity=medium"][..],
    ] {
        let (code, report) = check_config(rules, labels);
        assert_eq!(code, 0, "{report}");
        let node: BTreeSet<String> = report
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("after "))
            .filter_map(|l| l.split_once(char::is_whitespace).map(|(_, channels)| channels.trim().to_string()))
            .flat_map(|channels| {
                channels.split(", ").filter_map(|c| c.split_whitespace().next().map(str::to_string)).collect::<Vec<_>>()
            })
            .collect();
        let out = Command::new("amtool")
            .args(["config", "routes", "test", "--config.file"])
            .arg(repo(SHIPPED_AM))
            .args(labels)
            .output()
            .expect("run amtool");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let am: BTreeSet<String> =
            String::from_utf8_lossy(&out.stdout).trim().split(',').map(|s| s.trim().to_string()).collect();
        assert!(!node.is_empty(), "{report}");
        assert_eq!(node, am, "{labels:?}: the node says\n{report}");
    }
}

#[test]
fn check_config_reports_the_line_and_field_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "rules:\n  - name: Fine\n    metric: bitcraps.cpu.usage\n    condition: { greater_than: 90 }\n  - name: Broken\n    metric: bitcraps_nope\n    condition: { greater_than: 1 }\n").expect("write");
    let (code, out) = check_config(bad.to_str().expect("path"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bad.yml:6: rules[1].metric: unknown metric `bitcraps_nope`"), "{out}");
    assert!(out.contains("invalid: 1 error"), "{out}");
    let (code, out) = check_config(bad.to_str().expect("path"), &["severity=~x"]);
    assert_eq!(code, 2, "labels are name=value: {out}");
    let (code, out) = check_config(repo(SHIPPED_RULES).to_str().expect("path"), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid:"), "{out}");
}
