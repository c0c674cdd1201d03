//! Property tests of the two HTTP routers (the Prometheus bridge and the health endpoints):
//! arbitrary methods, paths, headers and bodies never panic and always get a well-formed 2xx
//! or 4xx; arbitrary bytes on the wire get a well-formed answer or a closed connection, and
//! the server keeps serving.
//!
//! CI runs a bounded number of cases from a fixed seed (a few seconds); for a longer run with
//! other inputs:
//!   PROPTEST_CASES=100000 PROPTEST_RNG_SEED=$RANDOM cargo test --release --test http_fuzz

mod fuzz_support;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use axum::Router;
use bitcraps_otel::config::ServerLimits;
use bitcraps_otel::export::prometheus::PrometheusBridge;
use bitcraps_otel::health::{router as health_router, CheckOutcome, FnCheck, HealthChecker};
use bitcraps_otel::metrics::Metrics;
use bitcraps_otel::server::{self, ServerHandle};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;
use tower_service::Service as _;

/// The routers, their servers and the runtime they run on, shared by every case.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    bridge: Router,
    health: Router,
    servers: Vec<(SocketAddr, ServerHandle)>,
    _provider: SdkMeterProvider,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let (bridge, reader) = PrometheusBridge::new([("node_id".to_string(), "fuzz".to_string())]).expect("bridge");
        let provider = SdkMeterProvider::builder().with_reader(reader).build();
        let metrics = Metrics::new(&provider, Default::default());
        metrics.gaming().bet_placed(10);
        let checker = HealthChecker::new(Duration::from_secs(60), Duration::from_secs(5));
        checker.register(FnCheck::new("ledger", || async { CheckOutcome::pass() })).expect("register");
        let (bridge, health) = (bridge.router(), health_router(checker));
        // Short timeouts: a case that sends half a request head is cut quickly.
        let limits = ServerLimits {
            header_read_timeout: Duration::from_millis(500),
            idle_timeout: Duration::from_millis(500),
            max_connections: 64,
        };
        let servers = [("prometheus", bridge.clone()), ("health", health.clone())]
            .into_iter()
            .map(|(what, router)| {
                let h = server::serve(what, "127.0.0.1:0".parse().expect("addr"), router, limits, runtime.handle())
                    .expect("serve");
                (h.local_addr(), h)
            })
            .collect();
        Fixture { runtime, bridge, health, servers, _provider: provider }
    })
}

fn cases(default: u32) -> RunnerConfig {
    fuzz_support::runner_config(default, 0xB17C_4A95)
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        prop::sample::select(vec![
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
            Method::PATCH,
            Method::TRACE,
            Method::CONNECT,
        ]),
        "[A-Z!#$%&'*+.^_`|~-]{1,12}".prop_filter_map("a method token", |m| Method::from_bytes(m.as_bytes()).ok()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec!["/metrics", "/health", "/ready", "/", "/metrics/", "//health", "/READY"]);
    prop_oneof![
        known.clone().prop_map(str::to_string),
        (known, "[ -~]{0,40}").prop_map(|(p, tail)| format!("{p}{tail}")),
        "/[!-~]{0,80}",
        Just("/%00/../..%2f%ff?x=%zz#f".to_string()),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "accept",
            "accept-encoding",
            "content-type",
            "content-length",
            "transfer-encoding",
            "connection",
            "host",
            "traceparent",
            "expect",
            "upgrade",
        ])
        .prop_map(str::to_string),
        "[a-z0-9-]{1,24}",
    ];
    prop::collection::vec((name, prop::collection::vec(any::<u8>(), 0..64)), 0..8)
}

/// Calls `router` in-process with `req` and checks the answer.
fn check_in_process(router: &Router, req: Request<Body>) -> Result<(), TestCaseError> {
    let head = req.method() == Method::HEAD;
    let mut router = router.clone();
    let response = fixture().runtime.block_on(async move {
        futures_util::future::poll_fn(|cx| {
            <Router as tower_service::Service<Request<Body>>>::poll_ready(&mut router, cx)
        })
        .await
        .expect("ready");
        let response = router.call(req).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, 64 * 1024 * 1024).await;
        (parts, body)
    });
    let (parts, body) = response;
    let status = parts.status.as_u16();
    prop_assert!((200..300).contains(&status) || (400..500).contains(&status), "status {}", status);
    prop_assert!(body.is_ok(), "the body is readable");
    if status == 200 && !head {
        prop_assert!(parts.headers.contains_key("content-type"), "a 200 says what it is");
    }
    Ok(())
}

#[test]
fn routers_answer_arbitrary_requests_with_a_2xx_or_4xx_and_never_panic() {
    let f = fixture();
    let strategy = (any::<bool>(), method(), path(), headers(), prop::collection::vec(any::<u8>(), 0..2048));
    let mut runner = TestRunner::new(cases(1500));
    runner
        .run(&strategy, |(to_bridge, method, path, headers, body)| {
            let mut builder = Request::builder().method(method).uri(path.as_str());
            for (name, value) in &headers {
                if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value)) {
                    builder = builder.header(n, v);
                }
            }
            // Paths the http crate refuses never reach a server as a request.
            let Ok(req) = builder.body(Body::from(body)) else { return Ok(()) };
            check_in_process(if to_bridge { &f.bridge } else { &f.health }, req)
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Bytes on the wire: mostly a request assembled from plausible and arbitrary parts (so that
/// routing, not only parsing, is reached), sometimes plain garbage.
fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        3 => prop::sample::select(vec!["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]).prop_map(str::to_string),
        1 => "[!-~]{1,10}",
    ];
    let version = prop_oneof![
        4 => Just("HTTP/1.1"),
        1 => prop::sample::select(vec!["HTTP/1.0", "HTTP/2.0", "HTTP/9", "http/1.1", "", "HTTP/1.1 extra"]),
    ];
    let header_name = prop_oneof![4 => "[A-Za-z0-9-]{1,20}", 1 => "[!-~]{1,20}"];
    let header_value = prop_oneof![4 => "[ -~]{0,40}", 1 => "[\\x00-\\xff]{0,40}"];
    let request = (
        method,
        path(),
        version,
        prop::collection::vec((header_name, header_value), 0..6),
        prop::collection::vec(any::<u8>(), 0..512),
    )
        .prop_map(|(m, p, v, hs, body)| {
            let mut out = format!("{m} {p} {v}\r\nHost: fuzz\r\n").into_bytes();
            for (k, val) in hs {
                out.extend_from_slice(k.as_bytes());
                out.extend_from_slice(b": ");
                out.extend(val.chars().map(|c| c as u32 as u8));
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&body);
            out
        });
    prop_oneof![4 => request, 1 => prop::collection::vec(any::<u8>(), 0..1024)]
}

/// Sends `bytes`, half-closes, and reads whatever comes back until the server closes.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    // The server may close before reading everything (a bad head): later writes may fail.
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn servers_answer_arbitrary_bytes_with_a_well_formed_response_or_a_close_and_keep_serving() {
    let f = fixture();
    let mut runner = TestRunner::new(cases(300));
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    runner
        .run(&(any::<prop::sample::Index>(), wire_bytes()), |(which, bytes)| {
            let (addr, _) = &f.servers[which.index(f.servers.len())];
            let answer = exchange(*addr, &bytes);
            if !answer.is_empty() {
                let text = String::from_utf8_lossy(&answer);
                let status_line = text.lines().next().unwrap_or("");
                let status: u16 = status_line
                    .strip_prefix("HTTP/1.")
                    .and_then(|r| r.get(2..5))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                prop_assert!(
                    (200..300).contains(&status) || (400..500).contains(&status) || status == 505,
                    "not a well-formed 2xx/4xx: {:?}",
                    status_line
                );
                *statuses.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(status).or_default() += 1;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let statuses = statuses.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    eprintln!("answers by status: {statuses:?}");
    // The inputs reach the routes, not only the parser (a fixed seed: the same inputs each run).
    for reached in [200, 404] {
        assert!(statuses.contains_key(&reached), "no {reached} among {statuses:?}");
    }
    for (addr, _) in &f.servers {
        let answer = String::from_utf8_lossy(&exchange(*addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")).to_string();
        assert!(answer.starts_with("HTTP/1.1 "), "still serving after the fuzzing: {answer:?}");
    }
}
