//! `GET /api/v2/alerts` with 1,000 firing alerts, 64 requests in flight, against a real
//! Alertmanager 0.25 holding the same 1,000 alerts (same labels), in the same run.
//!
//! Ours is the alerting API router over an engine whose rule fires on 1,000 series, served by
//! axum in this process (2 tokio workers); the peer is `prometheus-alertmanager` started here
//! on loopback with the alerts posted to it. Every response must be a 200 with 1,000 alerts:
//! any error aborts the run, so a finished run is a run without errors.
//!
//! Run: `cargo bench --bench alerting_api` (needs Debian's `prometheus-alertmanager`).

use bitcraps_otel::alerting::api::{self, ApiOptions};
use bitcraps_otel::alerting::{AlertCondition, AlertReader, AlertRule, AlertSeverity, AlertingConfig, AlertingSystem};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry::metrics::MeterProvider;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ALERTS: usize = 1_000;
const IN_FLIGHT: usize = 64;

/// The Alertmanager process, killed on drop, and its directory, removed after it.
struct Peer(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// The engine with 1,000 firing alerts and its API on loopback.
async fn ours() -> (SocketAddr, Arc<AlertingSystem>, SdkMeterProvider, Vec<serde_json::Value>) {
    let reader = AlertReader::new();
    let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
    let cpu = provider.meter("bitcraps").f64_gauge("bitcraps.cpu.usage").build();
    for core in 0..ALERTS {
        cpu.record(99.0, &[KeyValue::new("core", format!("core-{core:04}"))]);
    }
    let alerting = AlertingSystem::new(AlertingConfig { predefined_rules: false, ..Default::default() });
    alerting
        .add_rule(AlertRule {
            name: "CoreHot".into(),
            description: "A core above 85 %".into(),
            metric_name: "bitcraps.cpu.usage".into(),
            condition: AlertCondition::GreaterThan(85.0),
            severity: AlertSeverity::High,
            category: "system".into(),
            ..Default::default()
        })
        .expect("rule");
    alerting.attach(reader);
    let cycle = alerting.evaluate_now().await.expect("cycle");
    assert_eq!(cycle.fired, ALERTS);
    let posted: Vec<serde_json::Value> = alerting
        .alerts()
        .into_iter()
        .map(|a| serde_json::json!({"labels": a.labels, "annotations": {"summary": a.description}}))
        .collect();
    let alerting = Arc::new(alerting);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = api::router(Arc::clone(&alerting), ApiOptions::default());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, alerting, provider, posted)
}

/// A real Alertmanager on a port it picks, holding `alerts`.
async fn peer(alerts: &[serde_json::Value]) -> (SocketAddr, Peer) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("am.yml");
    std::fs::write(&config, "route:\n  receiver: none\nreceivers:\n  - name: none\n").expect("config");
    let mut child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", config.display()))
        .arg("--web.listen-address=127.0.0.1:0")
        .arg("--cluster.listen-address=")
        // Its default admits max(GOMAXPROCS, 8) GETs at once and answers the rest 503: let it
        // take all 64, so it is measured at its best and not for its refusals.
        .arg(format!("--web.get-concurrency={IN_FLIGHT}"))
        .arg(format!("--storage.path={}", dir.path().join("data").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prometheus-alertmanager (Debian package prometheus-alertmanager) must be installed");
    let stderr = child.stderr.take().expect("stderr");
    let peer = Peer(child, dir);
    let addr = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.contains("msg=\"Listening on\"")
                .then(|| l.split("address=").nth(1).and_then(|a| a.trim().parse::<SocketAddr>().ok()))
                .flatten()
        })
        .expect("Alertmanager says where it listens");
    let client = reqwest::Client::new();
    let resp = client.post(format!("http://{addr}/api/v2/alerts")).json(&alerts).send().await.expect("post alerts");
    assert!(resp.status().is_success(), "posting alerts: {}", resp.status());
    (addr, peer)
}

async fn get(client: &reqwest::Client, url: &str) {
    let resp = client.get(url).send().await.expect("request");
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    let body: serde_json::Value = resp.json().await.expect("JSON body");
    assert_eq!(body.as_array().map(Vec::len), Some(ALERTS), "{url}: every alert, every time");
}

fn alerts_endpoint(c: &mut Criterion) {
    let rt = runtime();
    let (ours, _alerting, _provider, posted) = rt.block_on(ours());
    let (theirs, _peer) = rt.block_on(peer(&posted));
    let client = reqwest::Client::builder().pool_max_idle_per_host(IN_FLIGHT).build().expect("client");
    // Alertmanager lists an alert once it has been ingested: wait for all of them.
    rt.block_on(async {
        let url = format!("http://{theirs}/api/v2/alerts");
        let start = Instant::now();
        loop {
            let n =
                client.get(&url).send().await.expect("request").json::<Vec<serde_json::Value>>().await.map(|v| v.len());
            if n.ok() == Some(ALERTS) || start.elapsed() > Duration::from_secs(60) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let cases = [
        ("alertmanager_0.25", format!("http://{theirs}/api/v2/alerts")),
        ("ours", format!("http://{ours}/api/v2/alerts")),
    ];
    let mut group = c.benchmark_group("alerting_api/get_alerts_1000/concurrent64");
    group.sample_size(10).warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(15));
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

criterion_group!(benches, alerts_endpoint);
criterion_main!(benches);
