//! `/health` and `/ready`: status codes and bodies for every kind of check result, caching
//! under a probe storm, shutdown, the status gauge, and a bounded load on loopback (no
//! errors; its speed is `cargo bench --bench health`).

mod common;

use bitcraps_otel::health::{router, CheckOutcome, FnCheck, HealthChecker};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

async fn serve(checker: HealthChecker) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router(checker)).await });
    addr
}

async fn get(client: &reqwest::Client, addr: SocketAddr, path: &str) -> (u16, Value) {
    let resp = client.get(format!("http://{addr}{path}")).send().await.expect("request");
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

fn check<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["checks"].as_array().and_then(|c| c.iter().find(|c| c["name"] == name)).unwrap_or(&Value::Null)
}

/// Results cached for an hour, and an hour's time limit per check: no check here can time
/// out because the machine is busy, and only tests that change them depend on either.
fn checker() -> HealthChecker {
    HealthChecker::new(HOUR, HOUR)
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_passing_is_ready() {
    let c = checker();
    c.register(FnCheck::new("ledger", || async { CheckOutcome::pass() })).expect("register");
    c.register(FnCheck::new("mesh", || async { CheckOutcome::pass() }).non_critical()).expect("register");
    let addr = serve(c).await;
    let client = reqwest::Client::new();
    let (status, body) = get(&client, addr, "/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(check(&body, "ledger")["status"], "pass");
    assert_eq!(check(&body, "mesh")["critical"], false);
    let (status, live) = get(&client, addr, "/health").await;
    assert_eq!(status, 200);
    assert_eq!(live["status"], "ok");
    assert_eq!(live["version"], env!("CARGO_PKG_VERSION"));
    assert!(live["uptime_seconds"].as_f64().is_some_and(|u| u >= 0.0), "{live}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_non_critical_is_degraded_but_ready() {
    let c = checker();
    c.register(FnCheck::new("ledger", || async { CheckOutcome::pass() })).expect("register");
    c.register(FnCheck::new("mesh", || async { CheckOutcome::fail("2 of 9 peers") }).non_critical()).expect("register");
    let addr = serve(c).await;
    let (status, body) = get(&reqwest::Client::new(), addr, "/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(check(&body, "mesh")["status"], "fail");
    assert_eq!(check(&body, "mesh")["reason"], "2 of 9 peers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_critical_is_503_naming_the_check() {
    let c = checker();
    c.register(FnCheck::new("ledger", || async { CheckOutcome::fail("disk full") })).expect("register");
    c.register(FnCheck::new("mesh", || async { CheckOutcome::pass() })).expect("register");
    let addr = serve(c).await;
    let (status, body) = get(&reqwest::Client::new(), addr, "/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(check(&body, "ledger")["reason"], "disk full");
    assert_eq!(check(&body, "mesh")["status"], "pass");
}

/// The paused clock: the 200 ms limit is reached by tokio's auto-advance, not by waiting,
/// so the result holds however loaded the machine is.
#[tokio::test(start_paused = true)]
async fn a_hanging_check_times_out_and_a_panicking_one_fails() {
    let c = HealthChecker::new(HOUR, Duration::from_millis(200));
    c.register(FnCheck::new("stuck", || async {
        tokio::time::sleep(HOUR).await;
        CheckOutcome::pass()
    }))
    .expect("register");
    c.register(FnCheck::new("buggy", || async { panic!("check bug") }).with_timeout(HOUR)).expect("register");
    let started = tokio::time::Instant::now();
    let report = c.readiness().await;
    // The report came at the stuck check's limit, not at its hour.
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(1), "{waited:?}");
    assert!(!report.is_ready());
    let reason = |name: &str| report.checks.iter().find(|r| r.name == name).and_then(|r| r.reason.clone());
    assert_eq!(reason("stuck").as_deref(), Some("timed out after 200 ms"));
    assert_eq!(reason("buggy").as_deref(), Some("check panicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_check_is_a_503_and_takes_nothing_down() {
    let c = HealthChecker::new(Duration::ZERO, HOUR);
    c.register(FnCheck::new("buggy", || async { panic!("check bug") })).expect("register");
    let addr = serve(c).await;
    let client = reqwest::Client::new();
    let (status, body) = get(&client, addr, "/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(check(&body, "buggy")["reason"], "check panicked");
    // The panic took nothing down: both endpoints still answer, and the check runs again.
    assert_eq!(get(&client, addr, "/health").await.0, 200);
    assert_eq!(get(&client, addr, "/ready").await.0, 503);
}

/// A result lives an hour and a check may take an hour, so however slowly the 200 probes
/// arrive, each either joins the one run in flight or reads its cached result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_storm_runs_each_check_once_per_ttl() {
    let runs = Arc::new(AtomicUsize::new(0));
    let c = checker();
    let counted = runs.clone();
    c.register(FnCheck::new("db", move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            // Keeps the run in flight while probes pile up behind it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            CheckOutcome::pass()
        }
    }))
    .expect("register");
    let addr = serve(c).await;
    let client = reqwest::Client::new();
    let probes: Vec<_> = (0..200)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { get(&client, addr, "/ready").await.0 })
        })
        .collect();
    for p in probes {
        assert_eq!(p.await.expect("probe"), 200);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "200 concurrent probes, one check run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_ttl_runs_every_probe() {
    let runs = Arc::new(AtomicUsize::new(0));
    let c = HealthChecker::new(Duration::ZERO, Duration::from_secs(1));
    let counted = runs.clone();
    c.register(FnCheck::new("db", move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { CheckOutcome::pass() }
    }))
    .expect("register");
    for _ in 0..5 {
        assert!(c.readiness().await.is_ready());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_turns_ready_to_503_and_liveness_stays() {
    let c = checker();
    c.register(FnCheck::new("ledger", || async { CheckOutcome::pass() })).expect("register");
    let addr = serve(c.clone()).await;
    let client = reqwest::Client::new();
    assert_eq!(get(&client, addr, "/ready").await.0, 200);
    c.begin_shutdown();
    let (status, body) = get(&client, addr, "/ready").await;
    assert_eq!((status, body["shutting_down"].clone()), (503, Value::Bool(true)), "{body}");
    assert_eq!(get(&client, addr, "/health").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_errors_and_head() {
    let addr = serve(checker()).await;
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("http://{addr}/nope")).send().await.expect("req").status(), 404);
    assert_eq!(client.post(format!("http://{addr}/ready")).send().await.expect("req").status(), 405);
    assert_eq!(client.delete(format!("http://{addr}/health")).send().await.expect("req").status(), 405);
    for path in ["/health", "/ready"] {
        let resp = client.head(format!("http://{addr}{path}")).send().await.expect("head");
        assert_eq!(resp.status(), 200, "{path}");
        assert!(resp.bytes().await.expect("body").is_empty());
    }
}

#[test]
fn registration_rejects_bad_and_duplicate_names() {
    let c = checker();
    c.register(FnCheck::new("db", || async { CheckOutcome::pass() })).expect("register");
    assert!(c.register(FnCheck::new("db", || async { CheckOutcome::pass() })).is_err());
    assert!(c.register(FnCheck::new("", || async { CheckOutcome::pass() })).is_err());
    assert!(c.register(FnCheck::new("has space", || async { CheckOutcome::pass() })).is_err());
    for i in 1..bitcraps_otel::health::MAX_CHECKS {
        c.register(FnCheck::new(format!("c{i}"), || async { CheckOutcome::pass() })).expect("under the cap");
    }
    assert!(c.register(FnCheck::new("one_too_many", || async { CheckOutcome::pass() })).is_err());
}

#[test]
fn init_serves_health_with_the_sdk_checks_and_a_status_gauge() {
    let config = bitcraps_otel::Config::builder()
        .prometheus_addr("127.0.0.1:0")
        .health_addr("127.0.0.1:0")
        .health_check_timeout(HOUR)
        .build()
        .expect("config");
    let telemetry = bitcraps_otel::init_with(config).expect("init");
    let health = telemetry.health_addr().expect("health served");
    telemetry
        .health()
        .expect("checker")
        .register(FnCheck::new("ledger", || async { CheckOutcome::fail("replaying") }))
        .expect("register");
    let (status, body) = common::http("GET", health, "/ready");
    assert_eq!(status, 503, "{body}");
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(check(&body, "prometheus_bridge")["status"], "pass", "{body}");
    assert_eq!(check(&body, "ledger")["reason"], "replaying");
    let text = telemetry.render_prometheus().expect("bridge");
    let status = |check: &str| {
        let prefix = format!("bitcraps_health_check_status{{check=\"{check}\"");
        text.lines().find(|l| l.starts_with(&prefix)).and_then(|l| l.rsplit(' ').next()).map(str::to_string)
    };
    assert_eq!(status("ledger").as_deref(), Some("0"), "{text}");
    assert_eq!(status("prometheus_bridge").as_deref(), Some("1"), "{text}");
}

fn sigterm(node: &common::Node) {
    let pid = node.child.0.id().to_string();
    let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(sent.success());
}

/// Deterministic without timing: the drain lasts an hour, so the node is certainly still
/// draining when `/ready` is probed (the fixture kills it at the end).
#[cfg(unix)]
#[test]
fn sigterm_makes_the_node_unready_while_it_drains() {
    let mut node = common::start_node(&[("BITCRAPS_DRAIN_PERIOD", "1h")], &[]);
    let health = node.health.expect("the node announced its health address");
    let ready = common::wait_for(|| (common::try_http("GET", health, "/ready")?.0 == 200).then_some(()));
    assert!(ready.is_some(), "the node became ready");
    sigterm(&node);
    let draining = node.output.wait_until(common::LIVENESS, |lines| {
        lines.iter().any(|l| l.contains("shutdown requested: not ready, draining"))
    });
    assert!(draining, "the node did not say it is draining");
    let (status, body) = common::http("GET", health, "/ready");
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!((status, &body["shutting_down"]), (503, &Value::Bool(true)), "{body}");
    assert_eq!(common::http("GET", health, "/health").0, 200, "liveness holds while draining");
    assert!(node.child.0.try_wait().expect("wait").is_none(), "the node is still draining");
}

#[cfg(unix)]
#[test]
fn after_its_drain_the_node_exits_cleanly_on_sigterm() {
    let mut node = common::start_node(&[("BITCRAPS_DRAIN_PERIOD", "0s")], &[]);
    sigterm(&node);
    let code = node.child.wait_exit().expect("the node exited").code();
    let stopped =
        node.output.wait_until(common::LIVENESS, |lines| lines.iter().any(|l| l.contains("simulation stopped")));
    assert!(stopped, "the node did not stop its simulation");
    assert_eq!(code, Some(0), "clean exit after draining");
}

/// 5,000 requests at 64 concurrency against `/health` and `/ready`, with results cached for
/// 1 s so checks re-run during the load: zero errors allowed. No figure: throughput and
/// latency are measured by `cargo bench --bench health`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_on_loopback_has_no_errors() {
    const REQUESTS: usize = 5_000;
    const CONCURRENCY: usize = 64;
    let c = HealthChecker::new(Duration::from_secs(1), HOUR);
    c.register(FnCheck::new("ledger", || async { CheckOutcome::pass() })).expect("register");
    let addr = serve(c).await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY).build().expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, next) = (client.clone(), next.clone());
            tokio::spawn(async move {
                let (mut ok, mut errors) = (0usize, Vec::new());
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= REQUESTS {
                        break;
                    }
                    let path = if i % 2 == 0 { "/health" } else { "/ready" };
                    match client.get(format!("http://{addr}{path}")).send().await {
                        Ok(r) if r.status() == 200 => match r.bytes().await {
                            Ok(_) => ok += 1,
                            Err(e) => errors.push(format!("{path}: body: {e}")),
                        },
                        Ok(r) => errors.push(format!("{path}: status {}", r.status())),
                        Err(e) => errors.push(format!("{path}: {e}")),
                    }
                }
                (ok, errors)
            })
        })
        .collect();
    let (mut ok, mut errors) = (0, Vec::new());
    for w in workers {
        let (o, e) = w.await.expect("worker");
        ok += o;
        errors.extend(e);
    }
    assert!(errors.is_empty(), "{} errors, first: {:?}", errors.len(), errors.first());
    assert_eq!(ok, REQUESTS);
}

#[test]
fn the_node_reports_its_alert_engine_in_ready() {
    let node = common::start_node(&[], &[]);
    let health = node.health.expect("health address");
    let body = common::wait_for(|| {
        let (_, body) = common::try_http("GET", health, "/ready")?;
        let v: Value = serde_json::from_str(&body).ok()?;
        (check(&v, "alerting")["status"] == "pass").then_some(v)
    });
    assert!(body.is_some(), "the alerting check never passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alerting_check_fails_when_the_engine_is_not_running() {
    use bitcraps_otel::alerting::{AlertingConfig, AlertingSystem};
    let system = AlertingSystem::new(AlertingConfig::default());
    let c = checker();
    c.register(system.health_check()).expect("register");
    let report = c.readiness().await;
    let alerting = report.checks.iter().find(|r| r.name == "alerting").expect("alerting check");
    assert_eq!(alerting.reason.as_deref(), Some("the evaluation loop is not running"));
    assert!(!alerting.critical);
    assert!(report.is_ready(), "a non-critical failure only degrades");
}
