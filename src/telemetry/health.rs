//! The health part of the guard: the readiness checker with the SDK's own checks (the
//! Prometheus bridge serving, the OTLP exporters' state), its status gauge and its server.

use crate::config::Config;
use crate::export::status::ExportStatus;
use crate::health::{CheckOutcome, FnCheck, HealthCheck, HealthChecker, TcpServingCheck};
use crate::server::{self, ServerHandle};
use crate::Error;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use std::sync::Arc;

/// The readiness checker with the SDK's own checks, its status gauge, and its server.
pub(super) fn start_health(
    config: &Config,
    provider: &SdkMeterProvider,
    metrics: &crate::metrics::Metrics,
    prometheus: Option<std::net::SocketAddr>,
    handle: &tokio::runtime::Handle,
) -> Result<Health, Error> {
    use opentelemetry::metrics::MeterProvider as _;
    let checker = HealthChecker::new(config.health.cache_ttl, config.health.check_timeout);
    // The SDK's own parts only degrade readiness: a node that cannot export telemetry can
    // still play craps, and pulling it from service would not fix the exporter.
    let mut own: Vec<Arc<dyn HealthCheck>> = Vec::new();
    if let Some(addr) = prometheus {
        own.push(Arc::new(TcpServingCheck::new("prometheus_bridge", addr, false)));
    }
    if config.otlp.is_some() {
        // The same state the export WARN lines describe, for every signal's exporter.
        own.push(Arc::new(
            FnCheck::new("otlp_export", || async {
                match ExportStatus::failures().as_slice() {
                    [] => CheckOutcome::pass(),
                    failures => CheckOutcome::fail(failures.join("; ")),
                }
            })
            .non_critical(),
        ));
    }
    for check in own {
        // A fresh checker and distinct names: registration cannot fail here.
        let _ = checker.register_arc(check);
    }
    let gauge = crate::health::status_gauge(&provider.meter(crate::metrics::METER_NAME), checker.clone());
    // Run the checks once per collection interval even when nothing probes, so the status
    // gauge (and alerts on it) reflect reality on a node no orchestrator watches.
    let refresher = {
        let (checker, every) = (checker.clone(), config.collection_interval);
        handle.spawn(async move {
            loop {
                let _ = checker.readiness().await;
                tokio::time::sleep(every).await;
            }
        })
    };
    let server = match config.health.addr {
        Some(addr) => {
            // `route_layer`: the probes' own routes only (excluded by default, so recorded only
            // when a user's exclusions say so). Requests falling through to the mounted routes
            // are recorded by the layer those routes carry, under their own templates; this
            // layer would see them unmatched.
            let router = crate::health::router(checker.clone()).route_layer(crate::http::ServerLayer::new(metrics));
            Some(server::serve("health", addr, router, config.server_limits, handle)?)
        }
        None => None,
    };
    Ok(Health { checker, server, _gauge: Some(gauge), refresher: Some(refresher) })
}

/// The health part of the guard.
pub(super) struct Health {
    pub(super) checker: HealthChecker,
    pub(super) server: Option<ServerHandle>,
    _gauge: Option<opentelemetry::metrics::ObservableGauge<i64>>,
    refresher: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Health {
    fn drop(&mut self) {
        if let Some(task) = self.refresher.take() {
            task.abort();
        }
    }
}

impl Health {
    pub(super) fn detached(config: &Config) -> Health {
        Health {
            checker: HealthChecker::new(config.health.cache_ttl, config.health.check_timeout),
            server: None,
            _gauge: None,
            refresher: None,
        }
    }
}
