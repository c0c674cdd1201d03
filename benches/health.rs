//! `/health` and `/ready` on loopback, against the floor of the same stack.
//!
//! The server is the SDK's health router with one registered check whose result is cached for
//! 1 s (what a node serves); the peer is an axum route returning a fixed JSON body, the least
//! an HTTP endpoint on axum can do. Both run in one tokio runtime (2 workers) with a
//! keep-alive `reqwest` client, in the same run:
//!
//! - `health/sequential/*`: one request at a time (latency of one probe);
//! - `health/concurrent64/*`: 64 requests in flight per iteration (time per request under a
//!   probe storm).
//!
//! Run: `cargo bench --bench health`.

use bitcraps_otel::health::{router, CheckOutcome, FnCheck, HealthChecker};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const IN_FLIGHT: usize = 64;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// The SDK's router with one passing check, results cached for 1 s.
async fn ours() -> SocketAddr {
    let checker = HealthChecker::new(Duration::from_secs(1), Duration::from_secs(1));
    checker.register(FnCheck::new("ledger", || async { CheckOutcome::pass() })).expect("register");
    serve(router(checker)).await
}

/// The floor: a fixed body, no state, no checks.
async fn floor() -> SocketAddr {
    let fixed = || async { ([(axum::http::header::CONTENT_TYPE, "application/json")], "{\"status\":\"ok\"}") };
    serve(axum::Router::new().route("/health", axum::routing::get(fixed))).await
}

async fn get(client: &reqwest::Client, url: &str) {
    let resp = client.get(url).send().await.expect("request");
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    std::hint::black_box(resp.bytes().await.expect("body"));
}

fn endpoints(c: &mut Criterion) {
    let rt = runtime();
    let (ours, floor) = rt.block_on(async { (ours().await, floor().await) });
    let client = reqwest::Client::builder().pool_max_idle_per_host(IN_FLIGHT).build().expect("client");
    let cases = [
        ("floor_fixed_body", format!("http://{floor}/health")),
        ("ours_health", format!("http://{ours}/health")),
        ("ours_ready_cached_check", format!("http://{ours}/ready")),
    ];

    let mut group = c.benchmark_group("health/sequential");
    group.throughput(Throughput::Elements(1));
    for (name, url) in &cases {
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        get(&client, url).await;
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("health/concurrent64");
    group.throughput(Throughput::Elements(IN_FLIGHT as u64));
    for (name, url) in &cases {
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let batch = (0..IN_FLIGHT).map(|_| {
                            let (client, url) = (client.clone(), url.clone());
                            tokio::spawn(async move { get(&client, &url).await })
                        });
                        for r in futures_util::future::join_all(batch).await {
                            r.expect("request task");
                        }
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, endpoints);
criterion_main!(benches);
