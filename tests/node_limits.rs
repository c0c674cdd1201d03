//! The node's probes keep answering under hostile load: 500 slowloris connections trickling
//! request heads with 512 file descriptors, and 300 idle sockets per server with 256.

mod common;

use common::{http, KillOnDrop};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// The node started through `sh` (so `ulimit` applies), its bridge and its health address.
struct Node {
    _child: KillOnDrop,
    metrics: SocketAddr,
    health: SocketAddr,
}

fn start_node(shell_prefix: &str) -> Node {
    let script = format!("{shell_prefix} exec \"$0\" \"$@\"");
    let mut child = Command::new("sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_bitcraps-node")])
        .args(["--rate", "200", "--seed", "7"])
        .env("BITCRAPS_PROMETHEUS_ADDR", "127.0.0.1:0")
        .env("BITCRAPS_STATE_DIR", "off")
        .env("BITCRAPS_HEALTH_ADDR", "127.0.0.1:0")
        .env("BITCRAPS_LOG_FORMAT", "json")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the node");
    let stdout = child.stdout.take().expect("stdout");
    let child = KillOnDrop(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Some(rest) = line.split("http://").nth(1) else { continue };
            let (addr, path) = rest.split_once('/').unwrap_or((rest, ""));
            if let Ok(addr) = addr.parse::<SocketAddr>() {
                let _ = tx.send((path.starts_with("metrics"), addr));
            }
        }
    });
    let (mut metrics, mut health) = (None, None);
    while metrics.is_none() || health.is_none() {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok((true, a)) => metrics = Some(a),
            Ok((false, a)) => health = Some(a),
            Err(_) => panic!("the node did not announce both servers"),
        }
    }
    Node { _child: child, metrics: metrics.expect("metrics"), health: health.expect("health") }
}

fn assert_probes_answer(node: &Node) {
    let (status, body) = http("GET", node.health, "/ready");
    assert_eq!(status, 200, "/ready: {body}");
    let (status, _) = http("GET", node.health, "/health");
    assert_eq!(status, 200, "/health");
    let (status, body) = http("GET", node.metrics, "/metrics");
    assert_eq!(status, 200, "/metrics");
    assert!(body.contains("bitcraps_bets_total"), "a full exposition");
}

#[test]
fn probes_answer_with_256_file_descriptors_and_300_idle_sockets_per_server() {
    let node = start_node("ulimit -n 256 &&");
    let mut idle = Vec::new();
    for addr in [node.metrics, node.health] {
        for _ in 0..300 {
            idle.push(TcpStream::connect(addr).expect("connect: the kernel queues what the node has not accepted"));
        }
    }
    assert_probes_answer(&node);
    assert_probes_answer(&node);
    // The node made room by closing idle sockets, the oldest first.
    let mut closed = 0;
    for s in &mut idle {
        s.set_nonblocking(true).expect("nonblocking");
        let mut b = [0u8; 1];
        match s.read(&mut b) {
            Ok(0) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            _ => {}
        }
    }
    assert!(closed > 0, "no idle socket was closed: the node cannot have served the probes within 256 descriptors");
}

#[test]
fn probes_answer_while_500_slowloris_connections_trickle_request_heads() {
    // 512 descriptors: holding every slowloris connection would exhaust them.
    let node = start_node("ulimit -n 512 &&");
    let mut socks = Vec::new();
    for i in 0..500 {
        let addr = if i % 2 == 0 { node.health } else { node.metrics };
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n").expect("write");
        socks.push(s);
    }
    // Keep trickling one byte per connection while the probes run.
    let stop = Arc::new(AtomicBool::new(false));
    let trickler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for s in &mut socks {
                    let _ = s.write_all(b"X");
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    for _ in 0..3 {
        assert_probes_answer(&node);
    }
    stop.store(true, Ordering::Relaxed);
    trickler.join().expect("trickler");
}
