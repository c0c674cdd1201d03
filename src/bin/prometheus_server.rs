//! `prometheus_server`: the Prometheus bridge alone, with the process's system metrics and no
//! simulated traffic, as the monitoring reference's `cargo run --bin prometheus_server`.

use clap::Parser;
use std::process::ExitCode;

/// Everything comes from the environment; the flags only ask for help or the version.
#[derive(Parser, Debug)]
#[command(
    name = "prometheus_server",
    version,
    about = "The BitCraps Prometheus bridge alone: the process's system metrics, no simulated traffic",
    after_help = "\
Configured from the environment, like bitcraps_otel::init():
  BITCRAPS_PROMETHEUS_ADDR   where /metrics is served (default 0.0.0.0:9090; `off` turns it off)
  BITCRAPS_HEALTH_ADDR       where /health and /ready are served (default 0.0.0.0:8080)
  BITCRAPS_NODE_ID           the node_id label (default: the host name)
Every other BITCRAPS_* and OTEL_* variable is listed in README.md, section Configuration.
Stops cleanly on SIGTERM or ctrl-c; SIGHUP is ignored."
)]
struct Args {}

fn main() -> ExitCode {
    let Args {} = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("prometheus_server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run())
}

async fn run() -> ExitCode {
    // Handlers first: a signal that arrives before its handler exists kills the process.
    let stop = stop_signal();
    let telemetry = match bitcraps_otel::init() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("prometheus_server: {e}");
            return ExitCode::FAILURE;
        }
    };
    match telemetry.prometheus_addr() {
        Some(addr) => println!("serving Prometheus metrics on http://{addr}/metrics (ctrl-c to stop)"),
        None => println!("the Prometheus bridge is disabled (BITCRAPS_PROMETHEUS_ADDR=off)"),
    }
    stop.await;
    match tokio::task::spawn_blocking(move || telemetry.shutdown()).await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// Resolves on SIGTERM or SIGINT; SIGHUP is registered (so it cannot kill) and ignored.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        if let Ok(mut hup) = signal(SignalKind::hangup()) {
            tokio::spawn(async move { while hup.recv().await.is_some() {} });
        }
        async move {
            let next = |s: Option<tokio::signal::unix::Signal>| async move {
                let received = match s {
                    Some(mut s) => s.recv().await.is_some(),
                    None => false,
                };
                if !received {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = next(term.ok()) => {}
                _ = next(int.ok()) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
