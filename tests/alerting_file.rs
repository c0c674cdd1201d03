//! Rules files: located errors, reloads that fail keep the old rules, and the Prometheus
//! export of the shipped rule set matches the checked-in file and passes `promtool`.

mod common;

use bitcraps_otel::alerting::*;
use std::process::Command;

fn err(yaml: &str) -> String {
    parse_rules("rules.yml", yaml).expect_err("should be rejected").to_string()
}

#[test]
fn bad_files_are_rejected_with_line_field_and_reason() {
    // Not YAML at all.
    let e = err("rules:\n  - name: [unclosed\n");
    assert!(e.starts_with("rules.yml:2:"), "{e}");

    // A typo in a field name: the parser names the field path and the line.
    let e = err(
        "rules:\n  - name: A\n    metric: bitcraps.cpu.usage\n    condition: { greater_than: 1 }\n    severty: high\n",
    );
    assert!(e.starts_with("rules.yml:5:") && e.contains("rules[0]") && e.contains("severty"), "{e}");

    // A metric the registry does not know, in the second rule.
    let yaml = "rules:
  - name: A
    metric: bitcraps.cpu.usage
    condition: { greater_than: 1 }
  - name: B
    description: dice
    metric: bitcraps_dice_entropy
    condition: { less_than: 1 }
";
    assert_eq!(
        err(yaml),
        "rules.yml:7: rules[1].metric: unknown metric `bitcraps_dice_entropy` (not in the semconv registry)"
    );

    // Bad values, each at its own line.
    let e =
        err("rules:\n  - name: A\n    metric: bitcraps.cpu.usage\n    condition: { greater_than: 1 }\n    for: soon\n");
    assert!(e.starts_with("rules.yml:5: rules[0].for: `soon` is not a duration"), "{e}");
    let e = err("rules:\n  - name: A\n    metric: bitcraps.cpu.usage\n    condition:\n      greater_than: 1\n      less_than: 2\n");
    assert!(e.starts_with("rules.yml:4: rules[0].condition: give exactly one of"), "{e}");
    let e = err("rules:\n  - name: A\n    metric: bitcraps.cpu.usage\n    condition: { greater_than: 1 }\n    severity: urgent\n");
    assert!(e.starts_with("rules.yml:5: rules[0].severity: `urgent`"), "{e}");
    let e =
        err("rules:\n  - name: A\n    metric: bitcraps.cpu.usage\n    condition: { rate_over: 1m, greater_than: 1 }\n");
    assert!(e.starts_with("rules.yml:4: rules[0].condition: a rate needs a counter"), "{e}");
    let e = err("routes:\n  - match: { category: x }\n    escalation: nobody\n");
    assert!(e.starts_with("rules.yml:3: routes[0].escalation: no escalation policy named `nobody`"), "{e}");
    let e = err("escalations:\n  page:\n    - { after: later, channels: [sms] }\n");
    assert!(e.starts_with("rules.yml:2: escalations.page[0].after"), "{e}");
    // Channel names are checked when the file loads, not found missing at 3 a.m.
    let e = err("channels:\n  chat: { type: slack, webhook_url: \"https://h.example/x\" }\nescalations:\n  page:\n    - { after: 0s, channels: [chat] }\n    - { after: 5m, channels: [pagerduty] }\n");
    assert_eq!(
        e,
        "rules.yml:4: escalations.page[1].channels: no channel named `pagerduty` (defined: chat, log; add it under `channels:`)"
    );
    let e = err("fallback_channel: pager\n");
    assert!(e.starts_with("rules.yml:1: fallback_channel: no channel named `pager`"), "{e}");
    let ok = parse_rules(
        "rules.yml",
        "fallback_channel: log\nescalations:\n  chat:\n    - { after: 0s, channels: [log] }\n",
    );
    assert!(ok.is_ok(), "`log` always exists: {ok:?}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_reload_keeps_the_old_rules_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rules.yml");
    std::fs::write(
        &path,
        "predefined: false\nrules:\n  - name: Hot\n    metric: bitcraps.cpu.usage\n    condition: { greater_than: 80 }\n",
    )
    .expect("write");
    let alerting = AlertingSystem::new(AlertingConfig::default());
    assert!(alerting.rules().len() >= 10, "predefined rules by default");
    alerting.load_file(&path).expect("valid file");
    let names = |a: &AlertingSystem| a.rules().into_iter().map(|r| r.rule.name).collect::<Vec<_>>();
    assert_eq!(names(&alerting), ["Hot"]);

    std::fs::write(
        &path,
        "predefined: false\nrules:\n  - name: Hot\n    metric: bitcraps_nope\n    condition: { greater_than: 80 }\n",
    )
    .expect("write");
    let e = alerting.load_file(&path).expect_err("bad reload").to_string();
    assert!(e.contains(":4: rules[0].metric"), "{e}");
    assert_eq!(names(&alerting), ["Hot"], "old rules still in force");
}

#[test]
fn overrides_and_disables_apply_to_predefined_rules() {
    let set = parse_rules(
        "x",
        "disable: [BatteryLow]\nrules:\n  - name: HighCpuUsage\n    metric: bitcraps.cpu.usage\n    condition: { greater_than: 95 }\n",
    )
    .expect("valid");
    let rules = set.effective_rules(None);
    assert!(!rules.iter().any(|r| r.rule.name == "BatteryLow"));
    let cpu: Vec<_> = rules.iter().filter(|r| r.rule.name == "HighCpuUsage").collect();
    assert_eq!(cpu.len(), 1);
    assert_eq!(cpu[0].rule.condition, AlertCondition::GreaterThan(95.0));
}

const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/alerting/bitcraps-rules.yml");
const EXPORTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/prometheus/bitcraps-alerts.yml");

/// The environment the shipped file's `${VAR}` secrets come from.
const SHIPPED_ENV: [(&str, &str); 6] = [
    ("BITCRAPS_SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/TEST"),
    ("BITCRAPS_PAGERDUTY_ROUTING_KEY", "R0UT1NGKEY"),
    ("BITCRAPS_TWILIO_ACCOUNT_SID", "AC0"),
    ("BITCRAPS_TWILIO_AUTH_TOKEN", "TOKEN"),
    ("BITCRAPS_SMS_FROM", "+15550000000"),
    ("BITCRAPS_SMS_TO", "+15551112222"),
];

#[test]
fn the_checked_in_prometheus_rules_are_the_export_of_the_shipped_rules() {
    for (k, v) in SHIPPED_ENV {
        std::env::set_var(k, v);
    }
    let set = load_rules_file(SHIPPED).expect("shipped rules load");
    let named: Vec<&str> = set.channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(named, ["pagerduty", "slack", "sms"], "every channel the escalations name is defined");
    let expected = prometheus_rules(&set.effective_rules(None)).expect("export");
    let actual = std::fs::read_to_string(EXPORTED).expect("read export");
    assert!(
        actual == expected,
        "{EXPORTED} is stale; regenerate with the variables of SHIPPED_ENV set and\n  cargo run -q --example alerting_export -- deploy/alerting/bitcraps-rules.yml > deploy/prometheus/bitcraps-alerts.yml"
    );
    // Every rule of the set is there, and every derived metric it reads is recorded.
    for r in set.effective_rules(None) {
        assert!(actual.contains(&format!("alert: {}\n", r.rule.name)), "{}", r.rule.name);
    }
    assert!(actual.contains("record: bitcraps_gaming_error_ratio"));
}

#[test]
fn promtool_accepts_the_exported_rules() {
    if common::tool_missing("promtool") {
        return;
    }
    let out = Command::new("promtool").args(["check", "rules", EXPORTED]).output().expect("run promtool");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS"), "{text}");

    // And a rule set exercising every condition kind, written fresh.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("all.yml");
    let set = parse_rules(
        "all",
        "predefined: true
rules:
  - { name: Gt, metric: bitcraps.cpu.usage, condition: { greater_than: 1 } }
  - { name: Lt, metric: bitcraps.cpu.usage, condition: { less_than: 1 } }
  - { name: Eq, metric: bitcraps.thermal.throttling, condition: { equal: 1 } }
  - { name: Ne, metric: bitcraps.thermal.throttling, condition: { not_equal: 0 } }
  - { name: Out, metric: bitcraps.device.temperature, condition: { outside: [5, 45] } }
  - { name: Rate, metric: bitcraps.bets, condition: { rate_over: 90s, greater_than: 3 }, aggregate: sum, by: [bitcraps.bet.type] }
  - { name: Ratio, metric: bitcraps.errors, match: { category: gaming }, condition: { ratio_to: bitcraps.games, less_than: 0.5 } }
  - { name: Absent, metric: bitcraps.battery.level, condition: { absent_for: 10m } }
  - { name: Anomaly, metric: bitcraps.consensus.latency, condition: { anomaly: { deviations: 3, alpha: 0.2 } }, keep_firing_for: 30s }
  - { name: With spaces, metric: bitcraps_games_total, match: { game_type: \"!=practice\" }, condition: { greater_than: 0 }, labels: { team: dice } }
",
    )
    .expect("valid");
    std::fs::write(&path, prometheus_rules(&set.effective_rules(Some(1 << 30))).expect("export")).expect("write");
    let out = Command::new("promtool").args(["check", "rules"]).arg(&path).output().expect("run promtool");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{}", std::fs::read_to_string(&path).unwrap_or_default());
}

#[test]
fn values_past_their_bounds_are_located_errors_not_a_dead_engine() {
    let rule = |extra: &str| {
        format!("rules:\n  - name: A\n    metric: bitcraps.cpu.usage\n    condition: {{ greater_than: 1 }}\n{extra}")
    };
    let e = err(&rule("    every: 500000000000y\n"));
    assert!(e.starts_with("rules.yml:5: rules[0].every: "), "{e}");
    let e = err(&rule("    every: 2d\n"));
    assert_eq!(e, "rules.yml:5: rules[0].every: must be at most 1day");
    let e = err(&rule("    for: 30d\n"));
    assert_eq!(e, "rules.yml:5: rules[0].for: must be at most 7days");
    let e = err("rules:\n  - name: A\n    metric: bitcraps.consensus.forks\n    condition: { rate_over: 9999d, greater_than: 1 }\n");
    assert_eq!(e, "rules.yml:4: rules[0].condition.rate_over: must be at most 7days");
    let e = err("default_route:\n  repeat_interval: 1000y\n");
    assert_eq!(e, "rules.yml:1: default_route.repeat_interval: must be at most 30days");
    let e = err("escalations:\n  page:\n    - { after: 100d, channels: [log] }\n");
    assert_eq!(e, "rules.yml:2: escalations.page[0].after: must be at most 7days");
    let e = err("channels:\n  chat:\n    type: slack\n    webhook_url: \"https://h.example/x\"\n    queue_capacity: 3000000000000000000\n");
    assert_eq!(e, "rules.yml:2: channels.chat.queue_capacity: must be 1 to 65536");
}

#[test]
fn a_file_too_large_or_too_deep_is_refused_before_parsing() {
    let deep = format!("rules: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let e = err(&deep);
    assert_eq!(e, "rules.yml:1: nested more than 64 levels deep");
    let big = format!("# {}\nrules: []\n", "x".repeat(5 << 20));
    assert!(err(&big).contains("a rules file is at most 4194304 bytes"), "{}", err(&big));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.yml");
    std::fs::write(&path, &big).expect("write");
    let e = load_rules_file(&path).expect_err("too big").to_string();
    assert!(e.ends_with("4194305 bytes; a rules file is at most 4194304 bytes"), "{e}");
}

#[test]
fn ten_thousand_rules_load_and_a_duplicate_among_them_is_found() {
    let mut text = String::from("predefined: false\nrules:\n");
    for i in 0..10_000 {
        text.push_str(&format!(
            "  - {{ name: R{i}, metric: bitcraps.cpu.usage, condition: {{ greater_than: {i} }} }}\n"
        ));
    }
    assert_eq!(parse_rules("rules.yml", &text).expect("10,000 rules").rules.len(), 10_000);
    text.push_str("  - { name: R5000, metric: bitcraps.cpu.usage, condition: { greater_than: 1 } }\n");
    assert_eq!(err(&text), "rules.yml:10003: rules[10000].name: a second rule is named `R5000`");
}
