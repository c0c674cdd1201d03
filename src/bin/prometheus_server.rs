//! `prometheus_server`: the Prometheus bridge alone, with the process's system metrics and no
//! simulated traffic, as the monitoring reference's `cargo run --bin prometheus_server`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
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
    let _ = tokio::signal::ctrl_c().await;
    match tokio::task::spawn_blocking(move || telemetry.shutdown()).await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}
