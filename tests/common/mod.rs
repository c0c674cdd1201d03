//! Helpers shared by the integration tests: the node binary and Prometheus as fixtures,
//! loopback HTTP, waiting on conditions, child processes killed when a test ends, tests re-run
//! in a child process with their own environment, and what happens when a tool is missing.
#![allow(dead_code, unused_imports)]

mod child;
#[cfg(feature = "mesh")]
pub mod mesh;
mod node;
mod prometheus;
mod receiver;
mod skip;

pub use child::{child_output, is_child, run_in_child};
pub use node::{start_node, Node};
pub use prometheus::{start_prometheus, Prometheus};
pub use receiver::{start_receiver, Receiver, Seen};
pub use skip::{python_module_missing, skip_for_missing, tool_missing, ALLOW_SKIP, SKIP_LOG};

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::Child;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a wait on a condition may last before the test calls it a hang. Not a performance
/// claim: everything waited on with it normally takes well under a second, and the figure is
/// generous so that a loaded 2-core machine never trips it.
pub const LIVENESS: Duration = Duration::from_secs(120);

/// A child process killed on drop.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl KillOnDrop {
    /// Waits for the process to exit; `None` if it is still running after [`LIVENESS`] (a hang).
    pub fn wait_exit(&mut self) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < LIVENESS {
            match self.0.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => return None,
            }
        }
        None
    }
}

/// The lines a child process prints, collected as they come, so a test can wait for a line
/// (an explicit signal) and show the output when it fails.
#[derive(Clone)]
pub struct Output(Arc<(Mutex<OutputState>, Condvar)>);

struct OutputState {
    lines: Vec<String>,
    open_streams: usize,
}

impl Output {
    /// Output fed by `streams` streams (see [`Output::drain`]).
    pub fn new(streams: usize) -> Output {
        Output(Arc::new((Mutex::new(OutputState { lines: Vec::new(), open_streams: streams }), Condvar::new())))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, OutputState> {
        self.0 .0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads `stream` line by line on a thread of its own until it ends.
    pub fn drain(&self, stream: impl std::io::Read + Send + 'static) {
        let output = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                output.state().lines.push(line);
                output.0 .1.notify_all();
            }
            output.state().open_streams -= 1;
            output.0 .1.notify_all();
        });
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.state().lines.clone()
    }

    /// The last `n` lines, joined.
    pub fn tail(&self, n: usize) -> String {
        let state = self.state();
        state.lines[state.lines.len().saturating_sub(n)..].join("\n")
    }

    /// Waits until `done(lines)` holds (true), every stream has ended without it (false), or
    /// `limit` passes (false).
    pub fn wait_until(&self, limit: Duration, mut done: impl FnMut(&[String]) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let mut state = self.state();
        loop {
            if done(&state.lines) {
                return true;
            }
            let now = Instant::now();
            if state.open_streams == 0 || now >= deadline {
                return false;
            }
            state = self.0 .1.wait_timeout(state, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// A plain HTTP/1.0 request on loopback (1.0, so no server answers chunked): (status, body). Panics if the server is not there.
pub fn http(method: &str, addr: SocketAddr, path: &str) -> (u16, String) {
    try_http(method, addr, path).unwrap_or_else(|| panic!("no HTTP answer from {addr}{path}"))
}

/// Like [`http`], but `None` when nothing answers (a server still starting).
pub fn try_http(method: &str, addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, LIVENESS).ok()?;
    s.set_read_timeout(Some(LIVENESS)).ok()?;
    write!(s, "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// Now, in Unix seconds (the clock Prometheus stamps samples with).
pub fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Polls `f` every 100 ms until it returns `Some`, or [`LIVENESS`] passes (a hang: `None`).
/// For conditions the test cannot be told about; prefer waiting on a line or a channel.
pub fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < LIVENESS {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
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

/// Percent-encodes a query-string value.
pub fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
