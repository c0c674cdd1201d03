//! [`init`], [`init_with`] and the [`Telemetry`] guard that owns every provider and server.

#[cfg(feature = "health")]
mod health;
mod runtime;
mod shutdown;

#[cfg(feature = "health")]
use health::{start_health, Health};
use runtime::Runtimes;
pub use shutdown::SHUTDOWN_DEADLINE;

#[cfg(feature = "alerting")]
use crate::alerting::AlertReader;
use crate::config::resource;
use crate::config::Config;
use crate::export::otlp_metrics::HistogramSources;
#[cfg(feature = "prometheus")]
use crate::export::prometheus::PrometheusBridge;
#[cfg(feature = "health")]
use crate::health::HealthChecker;
#[cfg(feature = "prometheus")]
use crate::http::ServerLayer;
use crate::metrics::{probe::DeviceProbe, Metrics, MetricsOptions};
#[cfg(feature = "prometheus")]
use crate::server;
#[cfg(feature = "http-server")]
use crate::server::ServerHandle;
use crate::Error;
use opentelemetry_sdk::metrics::{Instrument, SdkMeterProvider, Stream};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// Starts telemetry from the environment (`OTEL_*`, `BITCRAPS_*`); see
/// [`Config::from_env`]. Works inside or outside a tokio runtime.
///
/// It registers everything the reference's other calls need, in any order:
/// [`crate::logging::init_production_logging`] afterwards returns a handle on the logging this
/// installed (and before, `init` adopts what it installed); an
/// [`crate::alerting::AlertingSystem`] started afterwards finds the alert reader on its own.
///
/// ```no_run
/// let telemetry = bitcraps_otel::init()?;
/// telemetry.metrics().consensus().proposal_accepted();
/// // Dropping the guard stops the servers and flushes the exporters.
/// # Ok::<(), bitcraps_otel::Error>(())
/// ```
pub fn init() -> Result<Telemetry, Error> {
    TelemetryBuilder::new(Config::from_env()?).start()
}

/// Starts telemetry with an explicit configuration.
///
/// ```
/// use bitcraps_otel::{init_with, Config, Error};
///
/// let config = Config::builder().prometheus_addr("127.0.0.1:0").health_addr("127.0.0.1:0").build()?;
/// let telemetry = init_with(config.clone())?;
/// telemetry.metrics().gaming().bet_placed(5);
/// assert!(telemetry.render_prometheus().unwrap().contains("bitcraps_bets_total"));
///
/// // One guard at a time: a second init is an error, not a panic.
/// assert!(matches!(init_with(config), Err(Error::AlreadyInitialized)));
/// # Ok::<(), Error>(())
/// ```
pub fn init_with(config: Config) -> Result<Telemetry, Error> {
    TelemetryBuilder::new(config).start()
}

/// Adds what configuration cannot carry (trait objects) before starting.
///
/// ```
/// use std::sync::Arc;
/// use bitcraps_otel::{Config, TelemetryBuilder};
/// use bitcraps_otel::metrics::probe::SimulatedProbe;
///
/// let config = Config::builder().without_prometheus().without_health().build()?;
/// let telemetry = TelemetryBuilder::new(config)
///     .device_probe(Arc::new(SimulatedProbe::new()))
///     .start()?;
/// # Ok::<(), bitcraps_otel::Error>(())
/// ```
#[derive(Debug)]
pub struct TelemetryBuilder {
    config: Config,
    device_probe: Option<Arc<dyn DeviceProbe>>,
    #[cfg_attr(not(feature = "alerting"), allow(dead_code))]
    alerting: bool,
}

impl TelemetryBuilder {
    /// A builder for `config`.
    pub fn new(config: Config) -> Self {
        TelemetryBuilder { config, device_probe: None, alerting: true }
    }

    /// Where battery and thermal readings come from.
    pub fn device_probe(mut self, probe: Arc<dyn DeviceProbe>) -> Self {
        self.device_probe = Some(probe);
        self
    }

    #[cfg(feature = "alerting")]
    /// Whether to register the metric reader the alert engine collects through (on by default;
    /// [`Telemetry::alert_reader`] hands it out and [`crate::alerting::AlertingSystem::start`]
    /// finds it). Turn it off only for a process that never evaluates alerts.
    pub fn alerting(mut self, enabled: bool) -> Self {
        self.alerting = enabled;
        self
    }

    /// Builds the providers, starts the servers and installs the globals.
    pub fn start(self) -> Result<Telemetry, Error> {
        if INITIALIZED.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(Error::AlreadyInitialized);
        }
        let started = start(self);
        if started.is_err() {
            INITIALIZED.store(false, Ordering::Release);
        }
        started
    }
}

fn start(builder: TelemetryBuilder) -> Result<Telemetry, Error> {
    let TelemetryBuilder { config, device_probe, alerting } = builder;
    let runtimes = Runtimes::acquire(config.otlp.is_some() && !config.sdk_disabled)?;
    let handle = runtimes.handle();
    let export = runtimes.export_handle();
    // Logging first, so everything after it is logged; its guard rides in the telemetry guard.
    // When logging is already installed (`init_production_logging` first), this adopts it.
    let logging = match config.installs_logging() {
        true => Some(crate::logging::install(&config, resource(&config), Some(&export))?),
        false => None,
    };
    config.log_effective();
    let traces = match &logging {
        Some(l) => l.traces(),
        None => {
            crate::trace::propagators::install(config.propagators());
            let sampler = config.traces_sampler();
            let provider = crate::logging::pipeline::local_tracer_provider(resource(&config), sampler);
            crate::trace::Traces::with_sampler(&provider, sampler)
        }
    };

    if config.sdk_disabled {
        // Instruments still work (a provider with no reader drops every measurement), so
        // instrumented code needs no `if`.
        let provider = SdkMeterProvider::builder().build();
        let metrics = Metrics::new(&provider, MetricsOptions { system_metrics: false, ..Default::default() });
        let telemetry =
            Telemetry::assemble(config, runtimes, provider, metrics).with_logging(logging).with_traces(traces);
        #[cfg(feature = "health")]
        let telemetry = {
            let health = Health::detached(&telemetry.config);
            telemetry.with_health(health)
        };
        return Ok(telemetry);
    }

    let limit = config.cardinality_limit;
    #[allow(unused_mut)] // no reader is added when every reader's feature is off
    let mut provider = SdkMeterProvider::builder()
        .with_resource(resource(&config))
        // One limit for every instrument: past it, new attribute sets land in the
        // `otel.metric.overflow` series instead of growing memory.
        .with_view(move |_: &Instrument| Stream::builder().with_cardinality_limit(limit).build().ok());

    #[cfg(feature = "prometheus")]
    let mut bridge = None;
    #[cfg(feature = "prometheus")]
    if config.prometheus_addr.is_some() {
        let (b, reader) = PrometheusBridge::new(config.constant_labels.clone()).map_err(|e| Error::Exporter {
            signal: "metrics",
            endpoint: "prometheus".into(),
            reason: e.to_string(),
        })?;
        provider = provider.with_reader(reader);
        bridge = Some(b);
    }
    let histogram_sources = HistogramSources::default();
    if let Some(otlp) = &config.otlp {
        if let Some(reader) = crate::export::otlp::metric_reader(otlp, export.clone(), histogram_sources.clone())? {
            provider = provider.with_reader(reader);
        }
    }
    #[cfg(feature = "alerting")]
    let alert_reader = alerting.then(AlertReader::new);
    #[cfg(feature = "alerting")]
    if let Some(reader) = &alert_reader {
        provider = provider.with_reader(reader.clone());
    }
    #[cfg(not(feature = "alerting"))]
    let _ = alerting;
    let provider = provider.build();
    let metrics = Metrics::new(
        &provider,
        MetricsOptions {
            collection_interval: config.collection_interval,
            device_probe,
            system_metrics: true,
            exemplar_filter: config.exemplar_filter(),
        },
    );
    // Histograms live outside the SDK: every consumer reads them from the metrics handle.
    #[cfg(feature = "prometheus")]
    if let Some(bridge) = &bridge {
        bridge.attach(&metrics);
    }
    #[cfg(feature = "alerting")]
    if let Some(reader) = &alert_reader {
        reader.attach_histograms(metrics.histogram_source());
    }
    histogram_sources.attach(metrics.histogram_source());

    #[cfg(feature = "prometheus")]
    let prometheus = match (&bridge, config.prometheus_addr) {
        (Some(b), Some(addr)) => match server::serve(
            "prometheus",
            addr,
            b.router().layer(ServerLayer::new(&metrics)),
            config.server_limits,
            &handle,
        ) {
            Ok(s) => Some(s),
            Err(e) => {
                let _ = provider.shutdown();
                return Err(e);
            }
        },
        _ => None,
    };

    opentelemetry::global::set_meter_provider(provider.clone());
    Metrics::set_global(Some(metrics.clone()));
    #[cfg(feature = "health")]
    let health_provider = provider.clone();
    let telemetry = Telemetry::assemble(config, runtimes, provider, metrics).with_logging(logging).with_traces(traces);
    #[cfg(feature = "prometheus")]
    let telemetry = telemetry.with_prometheus(bridge, prometheus);
    // The guard owns the reader; the global is only the reference's `AlertingSystem::start()` path.
    #[cfg(feature = "alerting")]
    let telemetry = {
        AlertReader::set_global(alert_reader.clone());
        telemetry.with_alert_reader(alert_reader)
    };
    // On failure the half-built guard drops, which stops what started and unpublishes the globals.
    #[cfg(feature = "health")]
    let telemetry = {
        let health = start_health(
            &telemetry.config,
            &health_provider,
            &telemetry.metrics,
            telemetry.prometheus_addr(),
            &handle,
        )?;
        telemetry.with_health(health)
    };
    #[cfg(not(feature = "health"))]
    let _ = handle;
    Ok(telemetry)
}

/// The guard [`init`] returns. It owns the meter provider, the Prometheus server and (when
/// `init` ran outside tokio) a small runtime. Drop it, or call [`Telemetry::shutdown`] to see
/// errors, to stop serving and flush everything buffered.
pub struct Telemetry {
    config: Config,
    metrics: Metrics,
    provider: Option<SdkMeterProvider>,
    #[cfg(feature = "prometheus")]
    bridge: Option<PrometheusBridge>,
    #[cfg(feature = "prometheus")]
    prometheus: Option<ServerHandle>,
    logging: Option<crate::logging::LoggingGuard>,
    traces: crate::trace::Traces,
    #[cfg(feature = "health")]
    health: Option<Health>,
    #[cfg(feature = "alerting")]
    alert_reader: Option<AlertReader>,
    runtimes: Runtimes,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("service_name", &self.config.service_name)
            .field("prometheus_addr", &self.prometheus_addr())
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    fn assemble(config: Config, runtimes: Runtimes, provider: SdkMeterProvider, metrics: Metrics) -> Telemetry {
        Telemetry {
            config,
            metrics,
            provider: Some(provider),
            #[cfg(feature = "prometheus")]
            bridge: None,
            #[cfg(feature = "prometheus")]
            prometheus: None,
            logging: None,
            traces: crate::trace::Traces::noop(),
            #[cfg(feature = "health")]
            health: None,
            #[cfg(feature = "alerting")]
            alert_reader: None,
            runtimes,
        }
    }

    #[cfg(feature = "prometheus")]
    fn with_prometheus(mut self, bridge: Option<PrometheusBridge>, server: Option<ServerHandle>) -> Telemetry {
        self.bridge = bridge;
        self.prometheus = server;
        self
    }

    #[cfg(feature = "alerting")]
    fn with_alert_reader(mut self, reader: Option<AlertReader>) -> Telemetry {
        self.alert_reader = reader;
        self
    }

    /// The metric reader the alert engine collects through (`None` with `OTEL_SDK_DISABLED` or
    /// [`TelemetryBuilder::alerting`]`(false)`).
    ///
    /// ```
    /// use bitcraps_otel::alerting::{AlertingConfig, AlertingSystem};
    /// use bitcraps_otel::{init_with, Config};
    ///
    /// let telemetry = init_with(Config::builder().without_prometheus().without_health().build()?)?;
    /// let alerting = AlertingSystem::new(AlertingConfig::default());
    /// alerting.attach(telemetry.alert_reader().expect("registered by init").clone());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "alerting")]
    pub fn alert_reader(&self) -> Option<&AlertReader> {
        self.alert_reader.as_ref()
    }

    #[cfg(feature = "health")]
    fn with_health(mut self, health: Health) -> Telemetry {
        self.health = Some(health);
        self
    }

    /// The readiness checker behind `/ready`: register your own dependency checks here.
    ///
    /// ```no_run
    /// use bitcraps_otel::health::{CheckOutcome, FnCheck};
    /// let telemetry = bitcraps_otel::init()?;
    /// if let Some(health) = telemetry.health() {
    ///     health.register(FnCheck::new("ledger", || async { CheckOutcome::pass() }))?;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "health")]
    pub fn health(&self) -> Option<&HealthChecker> {
        self.health.as_ref().map(|h| &h.checker)
    }

    /// The address `/health` and `/ready` are served on (port 0 resolved; always `None`
    /// without the `health` feature).
    pub fn health_addr(&self) -> Option<SocketAddr> {
        #[cfg(feature = "health")]
        return self.health.as_ref().and_then(|h| h.server.as_ref()).map(ServerHandle::local_addr);
        #[cfg(not(feature = "health"))]
        None
    }

    /// Graceful stop: `/ready` turns 503 at once, in-flight work drains for the configured
    /// drain period, then everything is flushed and shut down.
    pub async fn shutdown_gracefully(self) -> Result<(), Error> {
        #[cfg(feature = "health")]
        if let Some(h) = &self.health {
            h.checker.begin_shutdown();
        }
        tokio::time::sleep(self.config.health.drain_period).await;
        // Provider shutdown blocks while exporters flush; keep it off the async workers.
        tokio::task::spawn_blocking(move || self.shutdown())
            .await
            .map_err(|e| Error::Shutdown(format!("shutdown task failed: {e}")))?
    }

    fn with_logging(mut self, logging: Option<crate::logging::LoggingGuard>) -> Telemetry {
        self.logging = logging;
        self
    }

    /// The logging guard (tracer and logger providers), when `init` installed or adopted logging.
    pub fn logging(&self) -> Option<&crate::logging::LoggingGuard> {
        self.logging.as_ref()
    }

    fn with_traces(mut self, traces: crate::trace::Traces) -> Telemetry {
        self.traces = traces;
        self
    }

    /// The typed spans, recorded with the configured sampler and exported over OTLP when a
    /// traces endpoint is configured. Cheap to clone.
    ///
    /// ```
    /// use bitcraps_otel::semconv::GameType;
    /// use bitcraps_otel::{init_with, Config};
    ///
    /// let telemetry = init_with(Config::builder().without_prometheus().without_health().build()?)?;
    /// let game = telemetry.traces().game("game_456", GameType::Cash);
    /// game.in_scope(|| tracing::info!("inside the game: this line carries its trace id"));
    /// game.complete();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn traces(&self) -> crate::trace::Traces {
        self.traces.clone()
    }

    /// The typed instruments.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The SDK meter provider, for instruments of your own or extra readers' data.
    pub fn meter_provider(&self) -> Option<&SdkMeterProvider> {
        self.provider.as_ref()
    }

    /// The address the Prometheus bridge actually listens on (port 0 resolved; always `None`
    /// without the `prometheus` feature).
    pub fn prometheus_addr(&self) -> Option<SocketAddr> {
        #[cfg(feature = "prometheus")]
        return self.prometheus.as_ref().map(ServerHandle::local_addr);
        #[cfg(not(feature = "prometheus"))]
        None
    }

    /// What `GET /metrics` would return now, without HTTP (always `None` without the
    /// `prometheus` feature).
    pub fn render_prometheus(&self) -> Option<String> {
        #[cfg(feature = "prometheus")]
        return self.bridge.as_ref().map(PrometheusBridge::render);
        #[cfg(not(feature = "prometheus"))]
        None
    }

    /// A handle on the runtime the SDK's servers run on.
    pub fn runtime(&self) -> tokio::runtime::Handle {
        self.runtimes.handle()
    }

    /// Stops the servers, flushes and shuts down the providers, and reports what failed. It
    /// returns within [`SHUTDOWN_DEADLINE`] whatever the collector does; so does dropping the
    /// guard, which logs the error instead.
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.shutdown_inner()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown_inner() {
            tracing::warn!(error = %e, "telemetry shutdown on drop failed");
        }
    }
}
