//! Concurrent scrapes share one render: a storm of simultaneous scrapes must not take a
//! blocking thread each (issue 14: 600 scrapers once made 515 threads). Alone in its test
//! binary, so the process's thread count is this test's own.
#![cfg(target_os = "linux")]

use bitcraps_otel::export::prometheus::PrometheusBridge;
use bitcraps_otel::metrics::{Metrics, MetricsOptions};
use bitcraps_otel::sim::{SimConfig, Simulator};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Threads:").and_then(|n| n.trim().parse().ok())))
        .expect("Threads in /proc/self/status")
}

#[test]
fn two_hundred_simultaneous_scrapes_take_one_blocking_thread_not_one_each() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (bridge, reader) = PrometheusBridge::new([("node_id".to_string(), "storm".to_string())]).expect("bridge");
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    let metrics = Metrics::new(&provider, MetricsOptions { system_metrics: false, ..Default::default() });
    bridge.attach(&metrics);
    // A realistic page, so renders take long enough for scrapes to pile up behind them.
    Simulator::new(metrics, SimConfig { rate: 1000.0, seed: Some(3) }).advance(Duration::from_secs(30));
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = bridge.router();
    rt.spawn(async move { axum::serve(listener, router).await });

    let before = threads();
    let statuses: Vec<String> = rt.block_on(async {
        let scrapes = (0..200).map(|_| {
            tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
                s.write_all(b"GET /metrics HTTP/1.1\r\nHost: storm\r\nConnection: close\r\n\r\n").await.expect("send");
                let mut answer = Vec::new();
                s.read_to_end(&mut answer).await.expect("read");
                String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_string()
            })
        });
        let mut out = Vec::new();
        for s in scrapes.collect::<Vec<_>>() {
            out.push(s.await.expect("scrape task"));
        }
        out
    });
    // Idle blocking threads live on for 10 s, so the count now still holds every thread the
    // storm started.
    let added = threads().saturating_sub(before);
    assert!(statuses.iter().all(|s| s == "HTTP/1.1 200 OK"), "{:?}", statuses.iter().find(|s| *s != "HTTP/1.1 200 OK"));
    assert!(added <= 2, "200 simultaneous scrapes started {added} threads");
}
