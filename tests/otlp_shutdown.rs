//! A shutdown that cannot hang: `shutdown()` and dropping the guard return whatever the
//! collector does (down, accepting connections and never answering, slow) and whatever the
//! caller runs in (no runtime, a current-thread runtime, a multi-thread runtime). Against a
//! collector that never answers, with every timeout set to an hour, only the guard's own
//! deadline can end the wait, and the error says so.

mod otlp_support;

use bitcraps_otel::config::OtlpProtocol;
use bitcraps_otel::{init_with, Config, Error, Telemetry, SHUTDOWN_DEADLINE};
use std::sync::Mutex;
use std::time::Duration;

// Telemetry and the global subscriber are process-wide: the tests take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How long a test waits before calling a shutdown hung. Not a performance bound: the
/// deadline under test is [`SHUTDOWN_DEADLINE`]; this only keeps a regression from hanging CI.
const HANG: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, Debug)]
enum Collector {
    Down,
    Hanging,
    Slow,
}

#[derive(Clone, Copy, Debug)]
enum Caller {
    NoRuntime,
    CurrentThread,
    MultiThread,
}

/// Starts a collector of the given kind on a runtime of the test's own; returns its URL and
/// whether it speaks gRPC.
fn collector(kind: Collector, rt: &tokio::runtime::Runtime) -> (String, OtlpProtocol, otlp_support::Collector) {
    let received = otlp_support::Collector::default();
    let (url, protocol) = rt.block_on(async {
        match kind {
            Collector::Down => {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let addr = l.local_addr().expect("addr");
                drop(l);
                (format!("http://{addr}"), OtlpProtocol::Grpc)
            }
            Collector::Hanging => (otlp_support::hanging().await, OtlpProtocol::Grpc),
            Collector::Slow => {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let addr = l.local_addr().expect("addr");
                let app = otlp_support::http_app(received.clone(), "").layer(axum::middleware::from_fn(
                    |req: axum::extract::Request, next: axum::middleware::Next| async move {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        next.run(req).await
                    },
                ));
                tokio::spawn(async move { axum::serve(l, app).await });
                (format!("http://{addr}"), OtlpProtocol::HttpProtobuf)
            }
        }
    });
    (url, protocol, received)
}

fn config(endpoint: &str, protocol: OtlpProtocol) -> Config {
    Config::builder()
        .without_prometheus()
        .without_health()
        .otlp_endpoint(endpoint)
        .otlp_protocol(protocol)
        // Only the guard's deadline may end the wait.
        .otlp_timeout(Duration::from_secs(3600))
        .metric_export_timeout(Duration::from_secs(3600))
        .metric_export_interval(Duration::from_secs(3600))
        .build()
        .expect("config")
}

fn emit(t: &Telemetry) {
    t.metrics().gaming().bet_placed(1);
    tracing::info_span!("before-shutdown").in_scope(|| tracing::info!("last words"));
}

/// Starts telemetry in `caller`'s setting, emits, and shuts down there (by `shutdown()`, or by
/// dropping the guard when `drop` is set). Returns `shutdown()`'s result (`Ok` when dropped).
fn run(caller: Caller, endpoint: String, protocol: OtlpProtocol, drop_guard: bool) -> Result<(), Error> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let work = move || {
            let t = init_with(config(&endpoint, protocol)).expect("init");
            emit(&t);
            if drop_guard {
                drop(t);
                Ok(())
            } else {
                t.shutdown()
            }
        };
        let result = match caller {
            Caller::NoRuntime => work(),
            Caller::CurrentThread => {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                // The guard is shut down on the runtime's only thread, which then cannot run
                // anything else: the exporters must not need it.
                rt.block_on(async move { work() })
            }
            Caller::MultiThread => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move { work() })
            }
        };
        let _ = tx.send(result);
    });
    rx.recv_timeout(HANG).unwrap_or_else(|_| panic!("shutdown hung for {HANG:?} ({caller:?})"))
}

fn each_caller(kind: Collector, check: impl Fn(Caller, Result<(), Error>, &otlp_support::Collector)) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    for caller in [Caller::NoRuntime, Caller::CurrentThread, Caller::MultiThread] {
        let (url, protocol, received) = collector(kind, &rt);
        check(caller, run(caller, url.clone(), protocol, false), &received);
        let (url, protocol, _) = collector(kind, &rt);
        // Dropping the guard takes the same path; it must return too.
        run(caller, url, protocol, true).expect("drop reports nothing");
    }
}

#[test]
fn a_collector_that_never_answers_is_cut_off_at_the_deadline() {
    each_caller(Collector::Hanging, |caller, result, _| {
        let err = result.expect_err("nothing can have been delivered").to_string();
        let deadline = humantime::format_duration(SHUTDOWN_DEADLINE).to_string();
        assert!(err.contains(&format!("did not finish within {deadline}")), "{caller:?}: {err}");
    });
}

#[test]
fn a_collector_that_is_down_fails_the_final_export_at_once_naming_the_cause() {
    each_caller(Collector::Down, |caller, result, _| {
        let err = result.expect_err("the final export cannot succeed").to_string();
        for signal in ["metrics", "traces", "logs"] {
            assert!(err.contains(&format!("final {signal} export")), "{caller:?}: {signal} missing from {err}");
        }
        assert!(err.contains("connection refused"), "{caller:?}: {err}");
        assert!(!err.contains("did not finish"), "{caller:?}: a refused connection waited for the deadline: {err}");
    });
}

#[test]
fn a_slow_collector_gets_everything_before_shutdown_returns() {
    each_caller(Collector::Slow, |caller, result, received| {
        result.unwrap_or_else(|e| panic!("{caller:?}: {e}"));
        let mut signals: Vec<_> = received.arrivals().iter().map(|a| a.signal).collect();
        signals.sort_unstable();
        signals.dedup();
        assert_eq!(signals, ["logs", "metrics", "traces"], "{caller:?}");
    });
}
