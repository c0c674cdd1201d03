//! The `prometheus_server` binary (the monitoring reference's `cargo run --bin
//! prometheus_server`): the bridge alone, with the process's system metrics and no simulated
//! traffic, configured from the environment, stopping cleanly on a signal.

mod common;

use common::{http, KillOnDrop, Output, LIVENESS};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

struct Server {
    child: KillOnDrop,
    output: Output,
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- prometheus_server output ---\n{}", self.output.tail(100));
        }
    }
}

/// Starts the binary with `env` on top of loopback addresses and waits for its first line
/// about the bridge (its address, or that it is disabled).
fn start(env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_prometheus_server"))
        .env("BITCRAPS_PROMETHEUS_ADDR", "127.0.0.1:0")
        .env("BITCRAPS_HEALTH_ADDR", "127.0.0.1:0")
        .env("BITCRAPS_COLLECTION_INTERVAL", "1s")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn prometheus_server");
    let output = Output::new(2);
    output.drain(child.stdout.take().expect("stdout"));
    output.drain(child.stderr.take().expect("stderr"));
    let server = Server { child: KillOnDrop(child), output };
    let said = server.output.wait_until(LIVENESS, |lines| lines.iter().any(|l| l.contains("Prometheus")));
    assert!(said, "prometheus_server said nothing about its bridge");
    server
}

impl Server {
    fn metrics_addr(&self) -> SocketAddr {
        self.output
            .lines()
            .iter()
            .find_map(|l| {
                let rest = l.split("serving Prometheus metrics on http://").nth(1)?;
                rest.split('/').next()?.parse().ok()
            })
            .expect("the address line")
    }

    /// Waits until the process has a handler for `signal` (Linux's `SigCgt` mask), so a
    /// signal sent now is handled rather than killing it: the condition, not a delay.
    fn wait_until_it_handles(&self, signal: u32) {
        let path = format!("/proc/{}/status", self.child.0.id());
        let handled = common::wait_for(|| {
            let status = std::fs::read_to_string(&path).ok()?;
            let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?.trim().to_string();
            let mask = u64::from_str_radix(&mask, 16).ok()?;
            (mask & (1 << (signal - 1)) != 0).then_some(())
        });
        assert!(handled.is_some(), "prometheus_server never handled signal {signal}");
    }

    /// Sends `name` and waits for the exit code (`None`: killed by the signal).
    fn signal_and_wait(&mut self, name: &str) -> Option<i32> {
        let pid = self.child.0.id().to_string();
        assert!(Command::new("kill").args([&format!("-{name}"), &pid]).status().expect("kill").success());
        self.child.wait_exit().expect("prometheus_server exited").code()
    }
}

const SIGINT: u32 = 2;

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.strip_prefix(series).is_some_and(|r| r.starts_with(['{', ' '])))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[cfg(target_os = "linux")]
#[test]
fn prometheus_server_serves_system_metrics_without_simulated_traffic_and_stops_on_ctrl_c() {
    let mut server = start(&[("BITCRAPS_NODE_ID", "bridge-only")]);
    let addr = server.metrics_addr();
    // System metrics are collected in the background: wait until the first collection shows.
    let text = common::wait_for(|| {
        let (status, text) = http("GET", addr, "/metrics");
        (status == 200 && value(&text, "bitcraps_memory_usage_bytes").is_some_and(|m| m > 0.0)).then_some(text)
    })
    .expect("the bridge serves the process's memory");
    for gauge in ["bitcraps_cpu_usage_percent", "bitcraps_thread_count", "bitcraps_uptime_seconds"] {
        assert!(value(&text, gauge).is_some(), "{gauge} missing:\n{text}");
    }
    assert!(text.contains("node_id=\"bridge-only\""), "the environment's node id labels the series");
    // No simulator: nothing bets, plays or talks to peers.
    for traffic in ["bitcraps_bets_total", "bitcraps_games_total", "bitcraps_network_messages_sent_total"] {
        let moved = text.lines().filter(|l| l.starts_with(traffic)).any(|l| !l.ends_with(" 0"));
        assert!(!moved, "{traffic} moved without a simulator:\n{text}");
    }
    server.wait_until_it_handles(SIGINT);
    assert_eq!(server.signal_and_wait("INT"), Some(0), "a clean exit on ctrl-c");
}

#[cfg(target_os = "linux")]
#[test]
fn prometheus_server_with_the_bridge_off_says_so_and_stops_on_ctrl_c() {
    let mut server = start(&[("BITCRAPS_PROMETHEUS_ADDR", "off")]);
    let lines = server.output.lines();
    assert!(lines.iter().any(|l| l.contains("the Prometheus bridge is disabled")), "{lines:?}");
    server.wait_until_it_handles(SIGINT);
    assert_eq!(server.signal_and_wait("INT"), Some(0));
}

#[cfg(target_os = "linux")]
#[test]
fn prometheus_server_stops_cleanly_on_sigterm() {
    let mut server = start(&[]);
    // Its ctrl-c handler shows it is past start-up; it must handle SIGTERM by then too.
    server.wait_until_it_handles(SIGINT);
    assert_eq!(server.signal_and_wait("TERM"), Some(0), "a clean exit on SIGTERM");
}

#[test]
fn prometheus_server_rejects_a_bad_environment_naming_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_prometheus_server"))
        .env("BITCRAPS_PROMETHEUS_ADDR", "nine-thousand")
        .output()
        .expect("run prometheus_server");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("BITCRAPS_PROMETHEUS_ADDR") && stderr.contains("nine-thousand"), "{stderr}");
}

#[test]
fn prometheus_server_help_prints_help_and_binds_nothing() {
    // A port that is taken: if --help tried to serve, it would fail on it instead.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_prometheus_server"))
        .arg("--help")
        .env("BITCRAPS_PROMETHEUS_ADDR", &addr)
        .env("BITCRAPS_HEALTH_ADDR", &addr)
        .output()
        .expect("run --help");
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Usage: prometheus_server") && help.contains("BITCRAPS_PROMETHEUS_ADDR"), "{help}");
    assert!(!help.contains("serving Prometheus metrics"), "{help}");
}
