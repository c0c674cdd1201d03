//! Reliability figures (not criterion: these are distributions and wall-clock exits):
//! - probe latency (p50/p99/max of 2,000 sequential `/health` probes, one connection each, as
//!   a kubelet makes them) on a quiet server and under 500 slowloris connections trickling
//!   request heads, for the SDK's server and for `axum::serve` (the peer) in the same run;
//! - the node's exit time after SIGTERM at `--rate 1e9` and at the default rate (drain 0 s).
//!
//! `cargo bench --bench reliability`

use axum::Router;
use bitcraps_otel::config::ServerLimits;
use bitcraps_otel::health::{router as health_router, HealthChecker};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PROBES: usize = 2_000;
const SLOWLORIS: usize = 500;

fn router() -> Router {
    health_router(HealthChecker::new(Duration::from_secs(2), Duration::from_secs(2)))
}

/// One `/health` probe on a fresh connection: its round trip.
fn probe(addr: SocketAddr) -> Duration {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    s.write_all(b"GET /health HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n").expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    assert!(out.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&out));
    start.elapsed()
}

/// 500 connections that send a request head one byte every 200 ms until dropped.
struct Slowloris {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    reconnects: Arc<std::sync::atomic::AtomicU64>,
}

impl Slowloris {
    fn start(addr: SocketAddr) -> Slowloris {
        let mut socks: Vec<TcpStream> = (0..SLOWLORIS)
            .map(|_| {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").expect("write");
                s
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let reconnects = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = reconnects.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                for s in &mut socks {
                    // A connection the server closed: open another, as an attacker would.
                    if s.write_all(b"X").is_err() {
                        counted.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut fresh) = TcpStream::connect(addr) {
                            let _ = fresh.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n");
                            *s = fresh;
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Slowloris { stop, thread: Some(thread), reconnects }
    }
}

impl Drop for Slowloris {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Probes per scenario and round; rounds interleave the scenarios, so a burst of load on the
/// shared machine spreads over all of them instead of landing on one.
const ROUNDS: usize = 5;

fn probe_latency() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let serve = |limits: ServerLimits| {
        bitcraps_otel::server::serve("health", "127.0.0.1:0".parse().expect("addr"), router(), limits, runtime.handle())
            .expect("serve")
    };
    let ours = serve(ServerLimits::default());
    let capped = serve(ServerLimits { max_connections: 64, ..ServerLimits::default() });
    let peer = {
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        runtime.spawn(async move { axum::serve(listener, router()).await });
        addr
    };
    let scenarios: [(&str, SocketAddr, bool); 5] = [
        ("axum::serve (peer), quiet", peer, false),
        ("bitcraps-otel server, quiet", ours.local_addr(), false),
        ("axum::serve (peer), 500 slowloris", peer, true),
        ("bitcraps-otel server, 500 slowloris", ours.local_addr(), true),
        ("bitcraps-otel server capped at 64, 500 slowloris", capped.local_addr(), true),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); scenarios.len()];
    let mut reconnects = vec![0u64; scenarios.len()];
    for _ in 0..ROUNDS {
        for (i, (_, addr, attacked)) in scenarios.iter().enumerate() {
            let attack = attacked.then(|| Slowloris::start(*addr));
            for _ in 0..20 {
                probe(*addr); // warm-up
            }
            times[i].extend((0..PROBES / ROUNDS).map(|_| probe(*addr)));
            reconnects[i] += attack.map_or(0, |a| a.reconnects.load(Ordering::Relaxed));
        }
    }
    println!(
        "probe latency, {PROBES} sequential /health probes per case, one connection each, {ROUNDS} interleaved rounds:"
    );
    for (i, (label, _, attacked)) in scenarios.iter().enumerate() {
        let t = &mut times[i];
        t.sort();
        let extra = if *attacked { format!("   attacker reconnects {}", reconnects[i]) } else { String::new() };
        println!(
            "{label:<50} p50 {:>7.1} µs  p99 {:>8.1} µs  max {:>8.1} µs{extra}",
            percentile(t, 0.5).as_secs_f64() * 1e6,
            percentile(t, 0.99).as_secs_f64() * 1e6,
            t[t.len() - 1].as_secs_f64() * 1e6,
        );
    }
}

/// Starts the node, waits for its health address, SIGTERMs it and times the exit.
fn exit_after_sigterm(rate: &str) -> Duration {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bitcraps-node"))
        .args(["--rate", rate, "--prometheus-addr", "127.0.0.1:0", "--seed", "1"])
        .env("BITCRAPS_HEALTH_ADDR", "127.0.0.1:0")
        .env("BITCRAPS_DRAIN_PERIOD", "0s")
        .env("BITCRAPS_LOG_FORMAT", "json")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the node");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        if line.expect("line").contains("alerting started") {
            break;
        }
    }
    // Let the simulation run flat out for a moment.
    std::thread::sleep(Duration::from_secs(1));
    let pid = i32::try_from(child.id()).expect("pid");
    let start = Instant::now();
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    let took = start.elapsed();
    assert!(status.success(), "{status:?}");
    for _ in lines {}
    took
}

fn exit_times() {
    println!("exit time after SIGTERM (drain 0 s), 5 runs each:");
    for rate in ["50", "1e9"] {
        let mut times: Vec<Duration> = (0..5).map(|_| exit_after_sigterm(rate)).collect();
        times.sort();
        println!(
            "--rate {rate:<5} median {:>7.1} ms   max {:>7.1} ms",
            times[2].as_secs_f64() * 1e3,
            times[4].as_secs_f64() * 1e3
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it too, briefly.
    if std::env::args().any(|a| a == "--bench") {
        probe_latency();
        exit_times();
    } else {
        println!("reliability: run with `cargo bench --bench reliability`");
    }
}
