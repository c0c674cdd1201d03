//! Real `amtool` against the real node binary and against a real Alertmanager 0.25 started
//! here: the node's `alertmanager` channel delivers its alert to Alertmanager (with the node's
//! labels), both list the same alert, and the same silence commands (add, query, expire, and
//! the refused ones) give the same results on both.

mod common;

use common::{start_node, tool_missing, wait_for, KillOnDrop};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "amtool-admin-t0ken";

/// Starts Alertmanager on a port it picks and returns it with its address.
fn start_alertmanager(dir: &Path) -> (KillOnDrop, SocketAddr) {
    let config = dir.join("alertmanager.yml");
    std::fs::write(&config, "route:\n  receiver: fleet-pager\nreceivers:\n  - name: fleet-pager\n")
        .expect("write config");
    let mut child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", config.display()))
        .arg("--web.listen-address=127.0.0.1:0")
        .arg("--cluster.listen-address=")
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn prometheus-alertmanager");
    let stderr = child.stderr.take().expect("stderr");
    let child = KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("msg=\"Listening on\"") {
                if let Some(addr) = line.split("address=").nth(1).and_then(|a| a.trim().parse::<SocketAddr>().ok()) {
                    let _ = tx.send(addr);
                }
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("Alertmanager says where it listens");
    (child, addr)
}

struct Amtool {
    url: String,
    http_config: Option<String>,
}

/// One amtool run: (succeeded, stdout, stderr).
impl Amtool {
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let mut cmd = Command::new("amtool");
        cmd.arg(format!("--alertmanager.url={}", self.url)).arg("--timeout=20s");
        if let Some(h) = &self.http_config {
            cmd.arg(format!("--http.config.file={h}"));
        }
        let out = cmd.args(args).output().expect("run amtool");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["-o", "json"];
        all.extend_from_slice(args);
        let (ok, out, err) = self.run(&all);
        assert!(ok, "amtool {args:?} against {} failed: {err}", self.url);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("amtool {args:?}: not JSON ({e}): {out}"))
    }
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

/// What two servers must agree on about a silence list: matchers, author, comment, state,
/// and the window's length in whole minutes.
fn silence_summary(list: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|s| {
            let t = |k: &str| {
                humantime::parse_rfc3339_weak(s[k].as_str().unwrap_or("").trim_end_matches('Z')).expect("a time")
            };
            let minutes = t("endsAt").duration_since(t("startsAt")).map(|d| (d.as_secs() + 30) / 60).unwrap_or(0);
            serde_json::json!({
                "matchers": s["matchers"], "createdBy": s["createdBy"], "comment": s["comment"],
                "state": s["status"]["state"], "minutes": minutes,
            })
        })
        .collect();
    out.sort_by_key(|v| v.to_string());
    out
}

#[test]
fn amtool_gives_the_same_answers_from_the_node_and_from_alertmanager() {
    if tool_missing("amtool") || tool_missing("prometheus-alertmanager") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (_am, am_addr) = start_alertmanager(dir.path());
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        format!(
            "predefined: false
rules:
  - name: NodeUp
    description: The node is up
    metric: bitcraps.uptime
    condition: {{ greater_than: 0 }}
    severity: low
    category: fleet
    every: 1s
default_route:
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  escalation: fleet
escalations:
  fleet:
    - {{ after: 0s, channels: [log, alertmanager] }}
channels:
  alertmanager:
    type: alertmanager
    url: http://{am_addr}
    resend_interval: 2s
"
        ),
    )
    .expect("write rules");
    let http_config = dir.path().join("http.yml");
    std::fs::write(&http_config, format!("authorization:\n  credentials: {TOKEN}\n")).expect("write http config");
    let node = start_node(
        &[("BITCRAPS_ADMIN_TOKEN", TOKEN), ("BITCRAPS_NODE_ID", "node-amtool")],
        &["--alert-rules", rules.to_str().expect("utf-8 path")],
    );
    let health = node.health.expect("the node serves its health address");
    let on_node = Amtool { url: format!("http://{health}"), http_config: Some(http_config.display().to_string()) };
    let on_am = Amtool { url: format!("http://{am_addr}"), http_config: None };
    let node_no_token = Amtool { url: format!("http://{health}"), http_config: None };

    // The node's channel delivers; Alertmanager lists the alert the node lists.
    let alert_labels = |a: &Amtool| -> Option<Vec<Value>> {
        let list = a.json(&["alert", "query"]);
        let labels: Vec<Value> = list.as_array()?.iter().map(|x| x["labels"].clone()).collect();
        (!labels.is_empty()).then_some(labels)
    };
    let from_node = wait_for(|| alert_labels(&on_node)).expect("the node fires NodeUp");
    let from_am = wait_for(|| alert_labels(&on_am)).expect("the alert reaches Alertmanager");
    assert_eq!(from_node, from_am, "one alert, one identity");
    assert_eq!(from_am[0]["alertname"], "NodeUp");
    let summary = |a: &Amtool| a.json(&["alert", "query"])[0]["annotations"]["summary"].clone();
    assert_eq!(summary(&on_node), summary(&on_am));

    // Silences: the same commands, the same results.
    let add = [
        "silence",
        "add",
        "alertname=NodeUp",
        "category=~\"fle.*\"",
        "-c",
        "fleet maintenance",
        "-a",
        "tester",
        "-d",
        "2h",
    ];
    let mut ids = Vec::new();
    for a in [&on_node, &on_am] {
        let (ok, out, err) = a.run(&add);
        assert!(ok, "silence add against {}: {err}", a.url);
        let id = out.trim().to_string();
        assert!(is_uuid(&id), "a silence id, not {id:?}");
        ids.push(id);
    }
    assert_eq!(
        silence_summary(&on_node.json(&["silence", "query"])),
        silence_summary(&on_am.json(&["silence", "query"]))
    );
    let first = silence_summary(&on_am.json(&["silence", "query"]));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["minutes"], 120);
    assert_eq!(first[0]["state"], "active");
    for (a, id) in [(&on_node, &ids[0]), (&on_am, &ids[1])] {
        let (ok, out, err) = a.run(&["silence", "query", "-q", "alertname=NodeUp"]);
        assert!(ok, "{err}");
        assert_eq!(out.trim(), id.as_str(), "filtered by matcher on {}", a.url);
        let (ok, out, _) = a.run(&["silence", "query", "-q", "alertname=Other"]);
        assert!(ok && out.trim().is_empty(), "no silence has that matcher");
    }
    // Silenced: gone from the default alert query, shown as suppressed with -s, on both.
    for a in [&on_node, &on_am] {
        let hidden = wait_for(|| a.json(&["alert", "query"]).as_array()?.is_empty().then_some(()));
        assert!(hidden.is_some(), "silenced alerts leave the default query on {}", a.url);
        let shown = a.json(&["alert", "query", "-s"]);
        assert_eq!(shown[0]["status"]["state"], "suppressed", "{}", a.url);
    }

    // Refused the same way by both.
    let refused: [&[&str]; 2] = [
        &["silence", "add", "foo=~.*", "-c", "too broad"],
        &[
            "silence",
            "add",
            "alertname=NodeUp",
            "-c",
            "old",
            "--start=2020-01-01T00:00:00Z",
            "--end=2020-01-02T00:00:00Z",
        ],
    ];
    for args in refused {
        let (node_ok, _, node_err) = on_node.run(args);
        let (am_ok, _, am_err) = on_am.run(args);
        assert!(!node_ok && !am_ok, "{args:?} must fail on both: node {node_err} / am {am_err}");
    }
    let unknown = "11111111-2222-4333-8444-555555555555";
    assert!(!on_node.run(&["silence", "expire", unknown]).0 && !on_am.run(&["silence", "expire", unknown]).0);
    let (ok, _, err) = node_no_token.run(&add);
    assert!(!ok && err.contains("401"), "without the token the node refuses writes: {err}");

    // Expire: gone from the active list, listed as expired, the alert active again.
    for (a, id) in [(&on_node, &ids[0]), (&on_am, &ids[1])] {
        let (ok, _, err) = a.run(&["silence", "expire", id]);
        assert!(ok, "expire on {}: {err}", a.url);
    }
    assert_eq!(on_node.json(&["silence", "query"]), Value::Array(vec![]));
    assert_eq!(on_am.json(&["silence", "query"]), Value::Array(vec![]));
    let expired = |a: &Amtool| silence_summary(&a.json(&["silence", "query", "--expired"]));
    assert_eq!(expired(&on_node), expired(&on_am));
    assert_eq!(expired(&on_am)[0]["state"], "expired");
    for a in [&on_node, &on_am] {
        let back = wait_for(|| alert_labels(a));
        assert!(back.is_some(), "the alert is active again on {}", a.url);
    }

    // Every request is in the node's log, with who made it; the token never is.
    let log = node.output.lines();
    assert!(log.iter().all(|l| !l.contains(TOKEN)), "the admin token reached the log");
    let requests: Vec<&String> = log.iter().filter(|l| l.contains("alerting API")).collect();
    for (method, path, caller) in [
        ("GET", "/api/v2/alerts", "anonymous"),
        ("POST", "/api/v2/silences", "admin"),
        ("POST", "/api/v2/silences", "refused"),
        ("DELETE", "/api/v2/silence/", "admin"),
    ] {
        let found = requests.iter().any(|l| {
            l.contains(&format!("\"method\":\"{method}\""))
                && l.contains(&format!("\"path\":\"{path}"))
                && l.contains(&format!("\"caller\":\"{caller}\""))
        });
        assert!(
            found,
            "no log line for {method} {path} by {caller}:\n{}",
            requests.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("\n")
        );
    }
}
