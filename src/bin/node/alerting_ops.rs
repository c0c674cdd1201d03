//! The node's alerting operations: the operators' API on the health server, and
//! `--check-config`.

use bitcraps_otel::alerting::{self, AlertingSystem};
use std::process::ExitCode;
use std::sync::Arc;

/// Mounts the operators' API (an Alertmanager API v2 subset, plus acknowledgements) on the
/// health server. Writes need `BITCRAPS_ADMIN_TOKEN`; without it they are refused, saying why.
pub(crate) fn serve_api(
    alerting: &Arc<AlertingSystem>,
    health: &bitcraps_otel::health::HealthChecker,
    addr: Option<std::net::SocketAddr>,
    options: alerting::api::ApiOptions,
    node: Option<String>,
    metrics: &bitcraps_otel::metrics::Metrics,
) {
    let writes = if options.admin_token.is_some() { "enabled" } else { "disabled: BITCRAPS_ADMIN_TOKEN is not set" };
    let options = alerting::api::ApiOptions { name: node, ..options };
    // Instrumented like any BitCraps HTTP API: per-route duration, active requests, server spans.
    let api =
        alerting::api::router(Arc::clone(alerting), options).layer(bitcraps_otel::http::ServerLayer::new(metrics));
    health.mount(api);
    if let Some(addr) = addr {
        tracing::info!(%addr, writes, "serving the alerting API (Alertmanager API v2 subset) on http://{addr}/api/v2/");
    }
}

/// `--check-config FILE [LABEL=VALUE ...]`: prints every error (exit 1) or a summary (exit 0),
/// then, given labels, where a firing alert with them would go. Bad labels exit 2.
pub(crate) fn check_config(path: &std::path::Path, labels: &[String]) -> ExitCode {
    let labels = match alerting::check::parse_label_set(labels) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bitcraps-node: --check-config labels: {e}");
            return ExitCode::from(2);
        }
    };
    let check = alerting::check::check_rules_file(path);
    print!("{}", check.summary());
    if !check.is_valid() {
        return ExitCode::from(1);
    }
    if !labels.is_empty() {
        print!("{}", check.route_report(&labels));
    }
    ExitCode::SUCCESS
}
