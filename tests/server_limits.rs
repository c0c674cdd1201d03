//! The SDK's HTTP servers under slow, idle and too many clients: the header-read timeout, the
//! idle keep-alive timeout, and the connection cap that sheds the longest-idle connection
//! first. Timeouts run on tokio's paused clock, so elapsed times are exact.

use axum::routing::get;
use axum::Router;
use bitcraps_otel::config::ServerLimits;
use bitcraps_otel::health::{router as health_router, HealthChecker};
use bitcraps_otel::server::{self, ServerHandle};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

const DAY: Duration = Duration::from_secs(86_400);

fn limits(header_read_timeout: Duration, idle_timeout: Duration, max_connections: usize) -> ServerLimits {
    ServerLimits { header_read_timeout, idle_timeout, max_connections }
}

fn ping_router() -> Router {
    Router::new().route("/ping", get(|| async { "pong" }))
}

fn start(router: Router, limits: ServerLimits) -> (ServerHandle, SocketAddr) {
    let handle =
        server::serve("test", "127.0.0.1:0".parse().expect("addr"), router, limits, &tokio::runtime::Handle::current())
            .expect("serve");
    let addr = handle.local_addr();
    (handle, addr)
}

/// Sends a keep-alive `GET path` and reads one response (it has a Content-Length): the status.
async fn request(s: &mut TcpStream, path: &str) -> u16 {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed before a whole response: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
        let length = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
            .and_then(|v| v.parse::<usize>().ok())
            .expect("content-length");
        if body.len() >= length {
            return head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
        }
    }
}

/// Reads until the server closes the connection; panics on data (nothing was asked).
async fn closed_by_server(s: &mut TcpStream) {
    let mut chunk = [0u8; 256];
    match s.read(&mut chunk).await {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(n) => panic!("unexpected data: {:?}", String::from_utf8_lossy(&chunk[..n])),
        Err(e) => panic!("read: {e}"),
    }
}

/// Whether the server still holds the connection open (nothing to read, no EOF).
fn still_open(s: &TcpStream) -> bool {
    let mut chunk = [0u8; 16];
    matches!(s.try_read(&mut chunk), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[tokio::test(start_paused = true)]
async fn kept_alive_connection_is_closed_after_the_idle_timeout_and_not_before() {
    let idle = Duration::from_secs(60);
    let (_server, addr) = start(ping_router(), limits(Duration::from_secs(5), idle, 16));
    let mut s = TcpStream::connect(addr).await.expect("connect");
    assert_eq!(request(&mut s, "/ping").await, 200);
    let answered = Instant::now();
    closed_by_server(&mut s).await;
    let waited = answered.elapsed();
    assert!(waited >= idle, "closed after {waited:?}, before the idle timeout {idle:?}");
    assert!(waited < idle + Duration::from_secs(1), "closed after {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn second_request_within_the_idle_timeout_is_served_on_the_same_connection() {
    let (_server, addr) = start(ping_router(), limits(Duration::from_secs(5), Duration::from_secs(60), 16));
    let mut s = TcpStream::connect(addr).await.expect("connect");
    assert_eq!(request(&mut s, "/ping").await, 200);
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(request(&mut s, "/ping").await, 200);
    assert_eq!(request(&mut s, "/nope").await, 404);
}

#[tokio::test(start_paused = true)]
async fn silent_connection_is_closed_after_the_header_read_timeout() {
    let header = Duration::from_secs(5);
    let (_server, addr) = start(ping_router(), limits(header, Duration::from_secs(600), 16));
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).await.expect("connect");
    closed_by_server(&mut s).await;
    let waited = start.elapsed();
    assert!(waited >= header && waited < header + Duration::from_secs(1), "closed after {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn trickled_request_head_is_cut_at_the_header_read_timeout() {
    let header = Duration::from_secs(5);
    let (_server, addr) = start(ping_router(), limits(header, Duration::from_secs(600), 16));
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let (mut rx, mut tx) = s.split();
    let start = Instant::now();
    let trickle = async {
        tx.write_all(b"GET /ping HTTP/1.1\r\n").await.expect("write");
        // One header byte a second: every byte is progress, none of it completes the head.
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if tx.write_all(b"X").await.is_err() {
                break;
            }
        }
    };
    let closed = async {
        let mut chunk = [0u8; 256];
        // hyper may answer a timed-out head with nothing or with an error status; then EOF.
        while matches!(rx.read(&mut chunk).await, Ok(n) if n > 0) {}
    };
    tokio::select! {
        _ = closed => {}
        _ = trickle => panic!("the server kept a trickled head for 60 s"),
    }
    let waited = start.elapsed();
    assert!(waited >= header && waited < header + Duration::from_secs(1), "closed after {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn full_server_sheds_the_longest_idle_connection_first() {
    let (_server, addr) = start(ping_router(), limits(DAY, DAY, 3));
    let start = Instant::now();
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        assert_eq!(request(&mut s, "/ping").await, 200);
        conns.push(s);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The second connection is used again: the first is now the one idle the longest.
    assert_eq!(request(&mut conns[1], "/ping").await, 200);
    let mut newcomer = TcpStream::connect(addr).await.expect("connect");
    assert_eq!(request(&mut newcomer, "/ping").await, 200);
    closed_by_server(&mut conns[0]).await;
    assert!(start.elapsed() < DAY, "closed by a timeout, not by the cap");
    for s in &mut conns[1..] {
        assert!(still_open(s));
        assert_eq!(request(s, "/ping").await, 200);
    }
}

#[tokio::test(start_paused = true)]
async fn full_server_of_busy_connections_refuses_the_newcomer_and_finishes_every_response() {
    let release = Arc::new(Notify::new());
    let entered = Arc::new(Notify::new());
    let router = {
        let (release, entered) = (release.clone(), entered.clone());
        Router::new().route(
            "/slow",
            get(move || {
                let (release, entered) = (release.clone(), entered.clone());
                async move {
                    entered.notify_one();
                    release.notified().await;
                    "done"
                }
            }),
        )
    };
    let (_server, addr) = start(router, limits(DAY, DAY, 1));
    let mut busy = TcpStream::connect(addr).await.expect("connect");
    let slow = tokio::spawn(async move { request(&mut busy, "/slow").await });
    entered.notified().await;
    let mut newcomer = TcpStream::connect(addr).await.expect("connect");
    closed_by_server(&mut newcomer).await;
    release.notify_one();
    assert_eq!(slow.await.expect("task"), 200);
}

#[tokio::test(start_paused = true)]
async fn stopping_closes_idle_connections_and_the_listener() {
    let (mut server, addr) = start(ping_router(), limits(DAY, DAY, 16));
    let mut s = TcpStream::connect(addr).await.expect("connect");
    assert_eq!(request(&mut s, "/ping").await, 200);
    let start = Instant::now();
    let task = server.stop().expect("running");
    task.await.expect("accept loop ended");
    closed_by_server(&mut s).await;
    assert!(start.elapsed() < DAY, "closed by a timeout, not by the stop");
    assert!(TcpStream::connect(addr).await.is_err(), "the port is released");
}

/// Opens `n` connections that each send the start of a request head and never finish it.
async fn slowloris(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut socks = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.expect("write");
        socks.push(s);
    }
    socks
}

async fn probe(addr: SocketAddr) -> u16 {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    request(&mut s, "/health").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_probe_succeeds_while_500_slowloris_connections_are_open() {
    let checker = HealthChecker::new(Duration::from_secs(2), Duration::from_secs(2));
    let (_server, addr) = start(health_router(checker), limits(DAY, DAY, 1024));
    let socks = slowloris(addr, 500).await;
    assert_eq!(probe(addr).await, 200);
    assert_eq!(probe(addr).await, 200);
    let open = socks.iter().filter(|s| still_open(s)).count();
    assert_eq!(open, 500, "below the cap, no slowloris connection needs to go");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_probe_at_the_cap_succeeds_by_shedding_the_oldest_slowloris_connections() {
    let checker = HealthChecker::new(Duration::from_secs(2), Duration::from_secs(2));
    let cap = 64;
    let (_server, addr) = start(health_router(checker), limits(DAY, DAY, cap));
    let mut socks = slowloris(addr, 500).await;
    assert_eq!(probe(addr).await, 200);
    // The probe took the place of the oldest one: 500 - (cap - 1) were shed, oldest first.
    let shed = 500 - (cap - 1);
    for s in &mut socks[..shed] {
        closed_by_server(s).await;
    }
    let survivors = socks[shed..].iter().filter(|s| still_open(s)).count();
    assert_eq!(survivors, cap - 1, "the newest slowloris connections are the ones kept");
}

#[tokio::test(start_paused = true)]
async fn a_response_the_client_never_reads_is_cut_after_the_idle_timeout() {
    const BODY: usize = 64 * 1024 * 1024;
    let router = Router::new().route("/big", get(|| async { vec![b'x'; BODY] }));
    let idle = Duration::from_secs(60);
    let (_server, addr) = start(router, limits(Duration::from_secs(5), idle, 16));
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /big HTTP/1.1\r\nHost: test\r\n\r\n").await.expect("write");
    let asked = Instant::now();
    // Not reading: the server's writes stall once the socket buffers are full.
    tokio::time::sleep(idle * 2).await;
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got).await;
    assert!(got.len() < BODY, "the stalled response was cut, not finished ({} bytes)", got.len());
    assert!(asked.elapsed() >= idle);
}
