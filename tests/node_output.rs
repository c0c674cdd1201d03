//! What the node prints for a person and for a log pipeline: readable coloured lines and a
//! summary on a terminal (a real pseudo-terminal through `script`), JSON lines otherwise,
//! simulated incidents labelled and switchable, alert labels as JSON objects, `--help`.
//! Every test waits on the node's output, not on time.
#![cfg(unix)]

mod common;

use common::KillOnDrop;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A failure detector only: a healthy node prints each awaited line in seconds.
const STUCK: Duration = Duration::from_secs(120);

const NODE: &str = env!("CARGO_BIN_EXE_bitcraps-node");

/// Lines of a child's stdout, read on a thread.
struct Lines {
    _child: KillOnDrop,
    rx: Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn spawn(mut cmd: Command) -> Lines {
        // Alert state on disk would carry firing alerts over from an earlier run.
        cmd.env("BITCRAPS_PROMETHEUS_ADDR", "127.0.0.1:0")
            .env("BITCRAPS_HEALTH_ADDR", "127.0.0.1:0")
            .env("BITCRAPS_STATE_DIR", "off")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("BITCRAPS_LOG_FORMAT")
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .env_remove("BITCRAPS_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines { _child: KillOnDrop(child), rx, seen: Vec::new() }
    }

    /// The node, its stdout a pipe.
    fn piped(args: &[&str]) -> Lines {
        let mut cmd = Command::new(NODE);
        cmd.args(args);
        Lines::spawn(cmd)
    }

    /// The node on a pseudo-terminal (`script` runs it; its output is the terminal's).
    fn on_a_terminal(args: &str) -> Lines {
        let mut cmd = Command::new("script");
        cmd.args(["-qfec", &format!("{NODE} {args}"), "/dev/null"]).env("TERM", "xterm");
        Lines::spawn(cmd)
    }

    /// Waits for a line satisfying `pred`; panics with everything printed so far.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        while start.elapsed() < STUCK {
            match self.rx.recv_timeout(Duration::from_secs(1)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("no line {what}; the node printed:\n{}", self.seen.join("\n"));
    }
}

/// `line` without ANSI escape sequences.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

#[test]
fn on_a_terminal_the_node_writes_coloured_readable_lines_and_a_summary() {
    if common::tool_missing("script") {
        return;
    }
    let mut node = Lines::on_a_terminal("--rate 400 --seed 5 --summary 1s");
    let first = node.wait_for("announcing the node", |l| l.contains("simulating a BitCraps node"));
    assert!(first.contains("\x1b["), "coloured: {first:?}");
    let first = plain(&first);
    assert!(!first.trim_start().starts_with('{'), "not JSON: {first}");
    assert!(first.contains(" INFO ") && first.contains("400 events/s"), "{first}");
    let summary = plain(&node.wait_for("with the summary", |l| l.contains("events/s | games played")));
    for part in ["bets", "consensus rounds", "peers", "simulated incidents", "alerts firing:"] {
        assert!(summary.contains(part), "{part} in {summary}");
    }
    assert!(
        node.seen.iter().all(|l| !l.contains("Global meter provider")),
        "the SDK's start-up notice is DEBUG: {:?}",
        node.seen
    );
}

#[test]
fn no_color_keeps_the_terminal_format_without_escape_codes() {
    if common::tool_missing("script") {
        return;
    }
    // `env` sets NO_COLOR past Lines::spawn, which clears it for every other test.
    let mut cmd = Command::new("env");
    cmd.args(["NO_COLOR=1", "script", "-qfec", &format!("{NODE} --rate 50 --summary off"), "/dev/null"])
        .env("TERM", "xterm");
    let mut node = Lines::spawn(cmd);
    let line = node.wait_for("announcing the node", |l| l.contains("simulating a BitCraps node"));
    assert!(!line.contains('\x1b'), "{line:?}");
    assert!(!line.trim_start().starts_with('{'), "{line}");
}

#[test]
fn piped_output_is_json_with_no_sdk_chatter() {
    let mut node = Lines::piped(&["--rate", "400", "--seed", "5"]);
    node.wait_for("saying where /ready is", |l| l.contains("serving health probes"));
    for line in &node.seen {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
        assert!(!line.contains("Global meter provider"), "{line}");
    }
}

#[test]
fn json_summary_when_asked_carries_every_number_as_a_field() {
    let mut node = Lines::piped(&["--rate", "400", "--seed", "5", "--summary", "1s"]);
    let line = node.wait_for("with the summary", |l| l.contains("\"message\":\"summary\""));
    let v: Value = serde_json::from_str(&line).expect("JSON");
    for field in
        ["events_per_second", "games", "bets", "consensus_rounds", "peers", "simulated_incidents", "alerts_firing"]
    {
        assert!(v["fields"][field].is_number(), "{field} in {line}");
    }
}

#[test]
fn simulated_incidents_are_announced_as_simulated_and_alerts_on_them_carry_structured_labels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.yml");
    // No group wait, so the first notification is not held back 30 s.
    std::fs::write(&rules, "predefined: true\ndefault_route:\n  group_wait: 0s\n").expect("write rules");
    let mut node = Lines::piped(&["--rate", "3000", "--seed", "5", "--alert-rules", rules.to_str().expect("utf-8")]);
    let incident = node.wait_for("announcing an incident", |l| l.contains("simulated incident injected"));
    let v: Value = serde_json::from_str(&incident).expect("JSON");
    assert_eq!(v["level"], "WARN");
    assert_eq!(v["fields"]["simulated"], true, "{incident}");
    let alert =
        node.wait_for("of a firing security alert", |l| l.contains("alert firing") && l.contains("SecurityIncidents"));
    let v: Value = serde_json::from_str(&alert).expect("JSON");
    let labels = &v["fields"]["labels"];
    assert!(labels.is_object(), "labels are an object, not a string: {alert}");
    assert_eq!(labels["alertname"], "SecurityIncidents");
    assert_eq!(labels["simulated"], "true", "{alert}");
}

#[test]
fn no_incidents_means_no_forks_and_no_security_events() {
    let mut node = Lines::piped(&["--rate", "5000", "--seed", "5", "--no-incidents", "--summary", "1s"]);
    // A few summaries at 5,000 events/s: far more than it takes to see every kind of incident.
    let mut last = Value::Null;
    for _ in 0..3 {
        let line = node.wait_for("with a summary", |l| l.contains("\"message\":\"summary\""));
        last = serde_json::from_str(&line).expect("JSON");
    }
    assert!(last["fields"]["consensus_rounds"].as_u64().is_some_and(|r| r > 1000), "{last}");
    assert_eq!(last["fields"]["simulated_incidents"], 0, "{last}");
    assert!(node.seen.iter().all(|l| !l.contains("simulated incident")), "{:?}", node.seen);
    let addr = node
        .seen
        .iter()
        .find_map(|l| l.split("http://").nth(1).filter(|r| r.contains("/metrics")))
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse().ok())
        .expect("the bridge's address");
    let (_, metrics) = common::http("GET", addr, "/metrics");
    // Every series is pre-bound, so zeros are exported: look at the values.
    let nonzero = |l: &&str| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v > 0.0);
    let forks: Vec<&str> = metrics.lines().filter(|l| l.starts_with("bitcraps_consensus_forks_total")).collect();
    assert!(!forks.is_empty() && !forks.iter().any(nonzero), "{forks:?}");
    let security: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("bitcraps_errors_total") && l.contains("category=\"security\""))
        .filter(nonzero)
        .collect();
    assert!(security.is_empty(), "{security:?}");
    let critical: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("bitcraps_errors_total") && l.contains("severity=\"critical\""))
        .filter(nonzero)
        .collect();
    assert!(critical.is_empty(), "{critical:?}");
}

#[test]
fn help_explains_output_formats_incidents_and_signals() {
    let out = Command::new(NODE).arg("--help").output().expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in
        ["terminal", "JSON", "BITCRAPS_LOG_FORMAT", "NO_COLOR", "--summary", "--no-incidents", "SIGHUP", "second"]
    {
        assert!(help.contains(needle), "--help mentions {needle}:\n{help}");
    }
}
