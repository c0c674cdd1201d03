//! The reference's three calls (`init`, `init_production_logging`, `AlertingSystem::start`)
//! compose in any order: logging is installed once and shared, the alert reader is always
//! registered, and calling anything twice is neither a panic nor a second pipeline.

use bitcraps_otel::alerting::{AlertError, AlertReader, AlertingConfig, AlertingSystem};
use bitcraps_otel::logging::init_production_logging;
use bitcraps_otel::{init, Error};
use std::sync::Mutex;

// `init` and the global subscriber are process-wide: the tests take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Takes the turn and points the plain `init()` at loopback ports picked by the OS.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Every test holds the turn for its whole run, so nothing reads the environment meanwhile.
    std::env::set_var("BITCRAPS_PROMETHEUS_ADDR", "127.0.0.1:0");
    std::env::set_var("BITCRAPS_HEALTH_ADDR", "127.0.0.1:0");
    std::env::remove_var("OTEL_EXPORTER_OTLP_ENDPOINT");
    std::env::remove_var("BITCRAPS_ALERTING");
    guard
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime")
}

/// Starts an alerting system the reference's way and stops it again.
fn start_alerting(rt: &tokio::runtime::Runtime) -> Result<(), AlertError> {
    rt.block_on(async {
        let mut alerting = AlertingSystem::new(AlertingConfig::default());
        alerting.start().await?;
        alerting.stop();
        Ok(())
    })
}

#[test]
fn init_then_logging_then_alerting_works_without_any_variable() {
    let _turn = turn();
    let rt = runtime();
    let telemetry = rt.block_on(async { init() }).expect("init");
    let logging = init_production_logging().expect("logging after init");
    assert!(!logging.is_owner(), "init owns the logging it installed");
    let installed = telemetry.logging().expect("init installed logging");
    assert!(logging.shares_with(installed), "a second logging pipeline was built");
    assert!(installed.is_owner());

    let reader = telemetry.alert_reader().expect("the alert reader is always registered");
    assert!(AlertReader::global().is_some(), "the reference's path finds no reader");
    assert!(reader.collect().is_ok());
    start_alerting(&rt).expect("alerting after a plain init");

    // The shared handle does not own: dropping it leaves logging in place.
    drop(logging);
    assert!(tracing::enabled!(tracing::Level::INFO), "dropping a shared handle stopped logging");
    let again = init_production_logging().expect("logging again");
    assert!(again.shares_with(telemetry.logging().expect("logging")));
    drop(again);
    rt.block_on(async { tokio::task::spawn_blocking(move || telemetry.shutdown()).await })
        .expect("join")
        .expect("shutdown");
    assert!(AlertReader::global().is_none(), "the reader outlived its guard");
    // The guard is gone, so the next call installs (and owns) logging again.
    let fresh = init_production_logging().expect("logging after the guard");
    assert!(fresh.is_owner());
    fresh.shutdown().expect("shutdown");
}

#[test]
fn logging_then_init_adopts_the_installed_logging() {
    let _turn = turn();
    let rt = runtime();
    let logging = init_production_logging().expect("logging first");
    assert!(logging.is_owner());
    let telemetry = rt.block_on(async { init() }).expect("init after logging");
    let adopted = telemetry.logging().expect("init adopted the logging");
    assert!(adopted.shares_with(&logging), "init built a second logging pipeline");
    assert!(!adopted.is_owner());
    start_alerting(&rt).expect("alerting");

    // The telemetry guard goes first; the logging it adopted stays, owned by its installer.
    rt.block_on(async { tokio::task::spawn_blocking(move || telemetry.shutdown()).await })
        .expect("join")
        .expect("shutdown");
    assert!(tracing::enabled!(tracing::Level::INFO));
    let still = init_production_logging().expect("logging");
    assert!(still.shares_with(&logging), "the adopted logging was replaced on shutdown");
    drop(still);
    logging.shutdown().expect("shutdown");
}

#[test]
fn alerting_before_init_is_a_clean_error_and_works_after() {
    let _turn = turn();
    let rt = runtime();
    match start_alerting(&rt) {
        Err(AlertError::NoReader) => {}
        other => panic!("expected NoReader before init, got {other:?}"),
    }
    let telemetry = rt.block_on(async { init() }).expect("init");
    start_alerting(&rt).expect("alerting after init");
    rt.block_on(async { tokio::task::spawn_blocking(move || telemetry.shutdown()).await })
        .expect("join")
        .expect("shutdown");
}

#[test]
fn calling_each_twice_is_an_error_or_a_handle_never_a_second_pipeline() {
    let _turn = turn();
    let rt = runtime();
    let first = rt.block_on(async { init() }).expect("init");
    let second = rt.block_on(async { init() });
    assert!(matches!(second, Err(Error::AlreadyInitialized)), "{second:?}");

    let a = init_production_logging().expect("logging");
    let b = init_production_logging().expect("logging twice");
    assert!(a.shares_with(&b) && !a.is_owner() && !b.is_owner());
    start_alerting(&rt).expect("alerting once");
    start_alerting(&rt).expect("alerting twice");
    drop((a, b));
    rt.block_on(async { tokio::task::spawn_blocking(move || first.shutdown()).await })
        .expect("join")
        .expect("shutdown");

    let x = init_production_logging().expect("logging alone");
    let y = init_production_logging().expect("logging alone twice");
    assert!(x.is_owner() && !y.is_owner() && x.shares_with(&y));
    drop(y);
    x.shutdown().expect("shutdown");
}
