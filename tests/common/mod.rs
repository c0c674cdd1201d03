//! Helpers shared by the integration tests: running the node binary, loopback ports, and
//! child processes that are killed when a test ends, pass or fail.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A child process killed on drop.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The running node, the address its bridge listens on, and its health endpoints' address.
pub struct Node {
    pub child: KillOnDrop,
    pub addr: SocketAddr,
    pub health: Option<SocketAddr>,
}

/// Starts `bitcraps-node` on a loopback port chosen by the OS and waits until it says where.
pub fn start_node(extra_env: &[(&str, &str)], args: &[&str]) -> Node {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bitcraps-node"));
    cmd.args(["--prometheus-addr", "127.0.0.1:0", "--rate", "400", "--seed", "42"])
        .args(args)
        .env("BITCRAPS_COLLECTION_INTERVAL", "1s")
        .env("BITCRAPS_HEALTH_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn bitcraps-node");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("http://").nth(1) {
                let mut parts = rest.splitn(2, '/');
                let addr = parts.next().and_then(|a| a.parse::<SocketAddr>().ok());
                let path = parts.next().unwrap_or("");
                if let Some(addr) = addr {
                    let what = if path.starts_with("metrics") { "metrics" } else { "health" };
                    let _ = tx.send((what, addr));
                }
            }
        }
    });
    let child = KillOnDrop(child);
    let (mut addr, mut health) = (None, None);
    // The node announces the bridge, then the health endpoints (when enabled).
    while addr.is_none() || (health.is_none() && addr.is_some()) {
        match rx.recv_timeout(Duration::from_secs(if addr.is_none() { 30 } else { 2 })) {
            Ok(("metrics", a)) => addr = Some(a),
            Ok((_, a)) => health = Some(a),
            Err(_) => break,
        }
    }
    let addr = addr.expect("the node announced its metrics address");
    Node { child, addr, health }
}

/// A plain HTTP/1.0 request on loopback (1.0, so no server answers chunked): (status, body). Panics if the server is not there.
pub fn http(method: &str, addr: SocketAddr, path: &str) -> (u16, String) {
    try_http(method, addr, path).unwrap_or_else(|| panic!("no HTTP answer from {addr}{path}"))
}

/// Like [`http`], but `None` when nothing answers (a server still starting).
pub fn try_http(method: &str, addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// Polls `f` every 200 ms until it returns `Some` or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    f()
}

/// A free loopback port (bound then released; good enough for a test-owned server).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Whether a required external tool is missing: fails under CI, skips locally.
pub fn tool_missing(tool: &str) -> bool {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{tool} is required under CI (.ci/run installs it)");
        eprintln!("skipping: {tool} not installed (bash .ci/run installs it)");
    }
    !found
}

/// The 23 names of the monitoring reference's Metric Reference, with their Prometheus TYPE.
pub const REFERENCE_METRICS: [(&str, &str); 23] = [
    ("bitcraps_cpu_usage_percent", "gauge"),
    ("bitcraps_memory_usage_bytes", "gauge"),
    ("bitcraps_thread_count", "gauge"),
    ("bitcraps_uptime_seconds", "gauge"),
    ("bitcraps_network_messages_sent_total", "counter"),
    ("bitcraps_network_messages_received_total", "counter"),
    ("bitcraps_network_active_connections", "gauge"),
    ("bitcraps_network_latency_seconds", "histogram"),
    ("bitcraps_consensus_proposals_accepted_total", "counter"),
    ("bitcraps_consensus_proposals_rejected_total", "counter"),
    ("bitcraps_consensus_latency_seconds", "histogram"),
    ("bitcraps_consensus_forks_total", "counter"),
    ("bitcraps_games_total", "counter"),
    ("bitcraps_games_active", "gauge"),
    ("bitcraps_bets_total", "counter"),
    ("bitcraps_betting_volume_total", "counter"),
    ("bitcraps_payouts_total", "counter"),
    ("bitcraps_game_disputes_total", "counter"),
    ("bitcraps_battery_level_percent", "gauge"),
    ("bitcraps_battery_charging", "gauge"),
    ("bitcraps_device_temperature_celsius", "gauge"),
    ("bitcraps_thermal_throttling", "gauge"),
    ("bitcraps_errors_total", "counter"),
];

/// A real Prometheus server on a loopback port, scraping `target` every second, with its
/// storage in a temporary directory; killed (and the directory removed) on drop.
pub struct Prometheus {
    pub addr: SocketAddr,
    _process: KillOnDrop,
    _dir: tempfile::TempDir,
}

/// Starts Prometheus scraping `target` as job `bitcraps`.
pub fn start_prometheus(target: SocketAddr) -> Prometheus {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: bitcraps\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("write config");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let process = KillOnDrop(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    Prometheus { addr, _process: process, _dir: dir }
}

/// Percent-encodes a query-string value.
pub fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
