//! The node binary and its signals: `kill -HUP` never kills it, the hang-up of its terminal
//! stops it, a second SIGTERM/SIGINT exits at once and says what it skipped, and SIGTERM stops
//! it at any simulated rate. Every test waits on what the node prints, not on time.
#![cfg(unix)]

mod common;

use common::KillOnDrop;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// How long a test waits for a line before it calls the node stuck (a failure detector only:
/// a healthy node prints each line in well under a second).
const STUCK: Duration = Duration::from_secs(120);

struct Node {
    child: KillOnDrop,
    lines: Receiver<String>,
    health: SocketAddr,
}

impl Node {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Node {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bitcraps-node"));
        cmd.args(["--prometheus-addr", "127.0.0.1:0", "--seed", "3"])
            .args(args)
            .env("BITCRAPS_HEALTH_ADDR", "127.0.0.1:0")
            .env("BITCRAPS_STATE_DIR", "off")
            .env("BITCRAPS_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn bitcraps-node");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut node = Node { child: KillOnDrop(child), lines, health: "0.0.0.0:0".parse().expect("addr") };
        let line = node.wait_for("serving health probes");
        let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).expect("an address");
        node.health = addr.parse().expect("health address");
        node
    }

    /// Waits for a line containing `needle` and returns it; panics with what was printed.
    fn wait_for(&mut self, needle: &str) -> String {
        let start = Instant::now();
        let mut seen = Vec::new();
        while start.elapsed() < STUCK {
            match self.lines.recv_timeout(Duration::from_secs(1)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("no line with {needle:?}; the node printed:\n{}", seen.join("\n"));
    }

    fn signal(&self, sig: i32) {
        let pid = i32::try_from(self.child.0.id()).expect("pid");
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill");
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.0.try_wait().expect("wait") {
                return status;
            }
            assert!(start.elapsed() < STUCK, "the node did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything printed until stdout closed.
    fn rest(&mut self) -> Vec<String> {
        self.lines.iter().collect()
    }
}

fn sighup_is_logged_ignored_and_survived(args: &[&str], reason: &str) {
    let mut node = Node::start(args, &[]);
    node.signal(libc::SIGHUP);
    let line = node.wait_for("SIGHUP ignored");
    assert!(line.contains(reason), "{line}");
    node.signal(libc::SIGHUP);
    node.wait_for("SIGHUP ignored");
    assert!(node.child.0.try_wait().expect("wait").is_none(), "the node died of SIGHUP");
    let (status, _) = common::http("GET", node.health, "/health");
    assert_eq!(status, 200);
    node.signal(libc::SIGTERM);
    assert_eq!(node.wait_exit().code(), Some(0));
}

#[test]
fn sighup_without_alert_rules_is_logged_and_ignored() {
    sighup_is_logged_ignored_and_survived(&[], "no --alert-rules file");
}

#[test]
fn sighup_with_alerting_off_is_logged_and_ignored() {
    sighup_is_logged_ignored_and_survived(&["--no-alerting"], "--no-alerting");
}

#[test]
fn second_sigterm_during_the_drain_exits_at_once_and_reports_what_it_skipped() {
    // An hour's drain: only the second signal can end this node in the test's lifetime.
    let mut node = Node::start(&[], &[("BITCRAPS_DRAIN_PERIOD", "1h")]);
    node.signal(libc::SIGTERM);
    node.wait_for("shutdown requested");
    node.signal(libc::SIGTERM);
    let status = node.wait_exit();
    assert_eq!(status.code(), Some(143), "{status:?}");
    let rest = node.rest().join("\n");
    assert!(rest.contains("second SIGTERM received: exiting now"), "{rest}");
    assert!(rest.contains("no OTLP exporter is configured"), "says what was skipped: {rest}");
}

#[test]
fn second_ctrl_c_exits_at_once_and_names_the_skipped_otlp_flush() {
    // A collector that accepts and never answers, held for the whole test: the skipped
    // flush is the OTLP one.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", silent.local_addr().expect("addr"));
    let mut node = Node::start(&[], &[("BITCRAPS_DRAIN_PERIOD", "1h"), ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    node.signal(libc::SIGINT);
    node.wait_for("shutdown requested");
    node.signal(libc::SIGINT);
    assert_eq!(node.wait_exit().code(), Some(130));
    let rest = node.rest().join("\n");
    assert!(rest.contains("second SIGINT received"), "{rest}");
    assert!(rest.contains("final OTLP flush"), "{rest}");
}

#[test]
fn sigterm_stops_a_node_simulating_a_billion_events_per_second() {
    let mut node = Node::start(&["--rate", "1e9"], &[("BITCRAPS_DRAIN_PERIOD", "0s")]);
    node.wait_for("more than the simulator generates");
    node.signal(libc::SIGTERM);
    let status = node.wait_exit();
    assert_eq!(status.code(), Some(0), "{status:?}");
    let rest = node.rest().join("\n");
    assert!(rest.contains("simulation stopped"), "{rest}");
}

/// `pid`'s state letter from `/proc` (`None` once the process is gone).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses and may hold spaces.
    stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next())
}

#[test]
fn closing_the_terminal_stops_the_node_instead_of_leaving_it_running() {
    if common::tool_missing("script") {
        return;
    }
    // `script` gives the node a pseudo-terminal; killing `script` closes it, as closing a
    // terminal window does, and the kernel sends the node SIGHUP.
    let node_cmd = format!("{} --rate 50 --summary off", env!("CARGO_BIN_EXE_bitcraps-node"));
    let mut child = Command::new("script")
        .args(["-qfec", &node_cmd, "/dev/null"])
        .env("TERM", "xterm")
        .env("BITCRAPS_PROMETHEUS_ADDR", "127.0.0.1:0")
        .env("BITCRAPS_HEALTH_ADDR", "127.0.0.1:0")
        .env("BITCRAPS_STATE_DIR", "off")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn script");
    let stdout = child.stdout.take().expect("stdout");
    let mut script = KillOnDrop(child);
    let mut printed = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let announced = line.contains("serving health probes");
        printed.push(line);
        if announced {
            break;
        }
    }
    assert!(printed.last().is_some_and(|l| l.contains("serving health probes")), "{printed:?}");
    let script_pid = script.0.id();
    let children = std::fs::read_to_string(format!("/proc/{script_pid}/task/{script_pid}/children"))
        .expect("the children of script");
    let node: u32 = children.split_whitespace().next().and_then(|p| p.parse().ok()).expect("the node's pid");

    script.0.kill().expect("kill script");
    let _ = script.0.wait();
    let start = Instant::now();
    while proc_state(node).is_some_and(|s| s != 'Z') {
        if start.elapsed() > STUCK {
            // SAFETY: kill(2) on the node this test started; no memory is involved.
            unsafe { libc::kill(node as i32, libc::SIGKILL) };
            panic!("the node kept running after its terminal closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
