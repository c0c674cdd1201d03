//! `bitcraps-node`: a simulated BitCraps node instrumented only through `bitcraps_otel`.
//!
//! Serves Prometheus metrics on `BITCRAPS_PROMETHEUS_ADDR` (default `0.0.0.0:9090`) and pushes
//! OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Logs readable lines on a terminal and JSON
//! lines otherwise, through the SDK's logging, which `start` installs (`--help` says more).
//! Stops cleanly on ctrl-c or SIGTERM.

#[path = "node/alerting_ops.rs"]
mod alerting_ops;
#[path = "node/mesh.rs"]
mod mesh;
#[path = "node/output.rs"]
mod output;
#[path = "node/rules.rs"]
mod rules;
#[path = "node/signals.rs"]
mod signals;
#[path = "node/spawn.rs"]
mod spawn;
#[path = "node/summary.rs"]
mod summary;

use bitcraps_otel::alerting::{self, AlertingConfig, AlertingSystem, LogNotifier, RuleSet};
use bitcraps_otel::metrics::probe::SimulatedProbe;
use bitcraps_otel::sim::{SimConfig, Simulator};
use bitcraps_otel::{ConfigBuilder, TelemetryBuilder};
use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "bitcraps-node",
    version,
    about = "A simulated BitCraps node instrumented with bitcraps-otel",
    after_help = output::AFTER_HELP
)]
struct Args {
    /// Mean simulated events per second (bets, rolls, consensus rounds, peer messages...).
    #[arg(long, env = "BITCRAPS_SIM_RATE", default_value_t = 50.0)]
    rate: f64,
    /// Seed for a reproducible simulation.
    #[arg(long, env = "BITCRAPS_SIM_SEED")]
    seed: Option<u64>,
    /// Stop after this long (e.g. `30s`); runs until ctrl-c/SIGTERM when absent.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Prometheus bridge address; overrides BITCRAPS_PROMETHEUS_ADDR.
    #[arg(long)]
    prometheus_addr: Option<String>,
    /// Node id label; overrides BITCRAPS_NODE_ID.
    #[arg(long)]
    node_id: Option<String>,
    /// Alert rules, routes and escalation policies (YAML), on top of the predefined rules
    /// unless the file says `predefined: false`. Reloaded on SIGHUP; a bad reload keeps the
    /// rules in force.
    #[arg(long, env = "BITCRAPS_ALERT_RULES")]
    alert_rules: Option<std::path::PathBuf>,
    /// Run no alert engine (and register no alert metric reader).
    #[arg(long)]
    no_alerting: bool,
    /// Inject no simulated incidents (consensus forks, security events, critical errors).
    #[arg(long)]
    no_incidents: bool,
    /// One-line summary every this long (`10s`, `1m`) or `off`; default 10s on a terminal,
    /// off in JSON.
    #[arg(long, env = "BITCRAPS_SUMMARY", value_parser = output::parse_summary, value_name = "INTERVAL|off")]
    summary: Option<output::Summary>,
    /// Check an alert rules file and exit: every error with its line, or a summary. With
    /// labels after it (`severity=critical category=security`), also show where a firing
    /// alert with those labels would go.
    #[arg(long, value_name = "FILE")]
    check_config: Option<std::path::PathBuf>,
    /// Join a peer mesh: accept peer connections on this address (IP:PORT; port 0 lets the OS
    /// pick one, which the node prints). Default 127.0.0.1:0 when --peers or --mesh is given.
    /// Env: BITCRAPS_MESH_LISTEN.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Peers to dial (HOST:PORT, comma-separated). Game, bet and consensus messages then go
    /// over TCP to them, and consensus rounds need their votes. Env: BITCRAPS_MESH_PEERS.
    #[arg(long, value_name = "ADDR[,ADDR...]")]
    peers: Option<String>,
    /// Start a mesh of N nodes on loopback: this one and N-1 child processes of it, each with
    /// its own node id and ports; the children stop with this node.
    #[arg(long, value_name = "N")]
    mesh: Option<u16>,
    /// With --check-config: the labels of the alert to route.
    #[arg(requires = "check_config", value_name = "LABEL=VALUE")]
    labels: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(path) = &args.check_config {
        return alerting_ops::check_config(path, &args.labels);
    }
    if !(args.rate.is_finite() && args.rate > 0.0) {
        eprintln!("bitcraps-node: --rate must be a positive number, got {}", args.rate);
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bitcraps-node: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    // Listen for signals before anything is served: a SIGTERM that lands between "ready" and
    // the first poll of a lazily created handler would otherwise kill the node undrained.
    let mut signals = signals::Signals::install();
    let plan = match mesh::plan(args.listen.as_deref(), args.peers.as_deref(), args.mesh) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bitcraps-node: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    // `--mesh`: this node is `<id>-1`, its children `<id>-2` onward.
    let mesh_base = plan.as_ref().filter(|p| p.children > 0).map(|_| {
        args.node_id
            .clone()
            .or_else(|| std::env::var("BITCRAPS_NODE_ID").ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| "node".into())
    });
    let mut builder = ConfigBuilder::from_env();
    if let Some(format) = output::default_format() {
        builder = builder.log_format(format);
    }
    if let Some(addr) = args.prometheus_addr.clone() {
        builder = builder.prometheus_addr(addr);
    }
    if let Some(base) = &mesh_base {
        builder = builder.node_id(format!("{base}-1"));
    } else if let Some(id) = args.node_id.clone() {
        builder = builder.node_id(id);
    }
    let config = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bitcraps-node: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let api_options = if args.no_alerting {
        None
    } else {
        match alerting::api::ApiOptions::from_env() {
            Ok(o) => Some(o),
            Err(e) => {
                eprintln!("bitcraps-node: invalid configuration: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let alert_rules = match args.alert_rules.as_deref().map(alerting::load_rules_file).transpose() {
        Ok(rules) => rules,
        Err(e) => {
            eprintln!("bitcraps-node: invalid alert rules: {e}");
            return ExitCode::from(2);
        }
    };
    let telemetry = match TelemetryBuilder::new(config)
        .device_probe(Arc::new(SimulatedProbe::new()))
        .alerting(!args.no_alerting)
        .start()
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bitcraps-node: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        "bitcraps-node {}: simulating a BitCraps node at {} events/s{} (ctrl-c to stop, --help for more)",
        env!("CARGO_PKG_VERSION"),
        args.rate,
        if args.no_incidents { ", without incidents" } else { ", with simulated incidents" },
    );
    if let Some(addr) = telemetry.prometheus_addr() {
        tracing::info!(%addr, "serving Prometheus metrics on http://{addr}/metrics");
    }
    if let Some(addr) = telemetry.health_addr() {
        tracing::info!(%addr, "serving health probes on http://{addr}/health and /ready");
    }
    let hangup = signals.take_hangup();
    let state_dir = alert_state_dir(telemetry.config().constant_labels().get("node_id").map(String::as_str));
    let _alerting = match (args.no_alerting, &args.alert_rules) {
        (true, _) => {
            signals::ignore_hangups(hangup, "alerting is off (--no-alerting)");
            None
        }
        (false, None) => {
            signals::ignore_hangups(hangup, "no --alert-rules file to reload");
            start_alerting(alert_rules, None, state_dir)
        }
        (false, Some(path)) => start_alerting(alert_rules, hangup.map(|h| (h, path.clone())), state_dir),
    };
    if let (Some(alerting), Some(health)) = (&_alerting, telemetry.health()) {
        if let Err(e) = health.register(alerting.health_check()) {
            tracing::warn!(error = %e, "alerting health check not registered");
        }
        if let Some(options) = api_options {
            let node = telemetry.config().constant_labels().get("node_id").cloned();
            alerting_ops::serve_api(alerting, health, telemetry.health_addr(), options, node, telemetry.metrics());
        }
    }
    if args.rate > bitcraps_otel::sim::MAX_RATE {
        tracing::warn!(
            rate = args.rate,
            max = bitcraps_otel::sim::MAX_RATE,
            "--rate is more than the simulator generates; it runs at its maximum instead"
        );
    }
    let mut sim = Simulator::new(telemetry.metrics().clone(), SimConfig { rate: args.rate, seed: args.seed })
        .with_traces(telemetry.traces());
    if args.no_incidents {
        sim = sim.without_incidents();
    }
    let mut children = None;
    let _mesh = match &plan {
        None => None,
        Some(plan) => {
            let node_id = telemetry
                .config()
                .constant_labels()
                .get("node_id")
                .cloned()
                .unwrap_or_else(|| format!("node-{}", std::process::id()));
            let mesh = match mesh::start(plan, &node_id, telemetry.metrics().clone(), telemetry.traces()).await {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(error = %e, "the peer mesh did not start");
                    eprintln!("bitcraps-node: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if let Some(base) = &mesh_base {
                let template = child_template(&args, telemetry.config());
                match spawn::start(plan.children, base, mesh.local_addr(), &template) {
                    Ok(c) => children = Some(c),
                    Err(e) => {
                        tracing::error!(error = %e, "the mesh nodes did not start");
                        eprintln!("bitcraps-node: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            sim = sim.with_peer_traffic(mesh::traffic(mesh.clone()));
            Some(mesh)
        }
    };
    let format = telemetry.config().log_format();
    let summary_task = output::summary_interval(args.summary, format).map(|every| {
        let style = match format {
            bitcraps_otel::config::LogFormat::Json => summary::Style::Fields,
            bitcraps_otel::config::LogFormat::Pretty => summary::Style::Sentence,
        };
        let mesh_stats = _mesh.as_ref().map(|m| m.stats());
        summary::spawn(every, style, sim.progress(), _alerting.clone(), mesh_stats)
    });
    let (stop_sim, sim_stopped) = tokio::sync::oneshot::channel::<()>();
    let sim_task = tokio::spawn(sim.run(async move {
        let _ = sim_stopped.await;
    }));
    let signalled = match args.duration {
        Some(d) => tokio::select! { _ = tokio::time::sleep(d) => None, s = signals.stop() => Some(s) },
        None => Some(signals.stop().await),
    };
    let skipped = match telemetry.config().otlp() {
        Some(_) => "the drain and the final OTLP flush: telemetry recorded since the last export is not sent",
        None => "the drain; no OTLP exporter is configured, so no telemetry is lost",
    };
    signals::exit_on_second_signal(signals, skipped);
    if let (Some(children), Some(_)) = (&children, signalled) {
        children.terminate();
    }
    if let Some(signal) = signalled {
        // Out of the load balancer first, then let in-flight games settle, then flush.
        let drain = telemetry.config().health().drain_period;
        if let Some(health) = telemetry.health() {
            health.begin_shutdown();
        }
        tracing::info!(
            signal = signal.name(),
            drain_ms = drain.as_millis() as u64,
            "shutdown requested: not ready, draining (send it again to exit at once)"
        );
        tokio::time::sleep(drain).await;
    }
    if let Some(task) = &summary_task {
        task.abort();
    }
    let _ = stop_sim.send(());
    let stats = sim_task.await.unwrap_or_default();
    tracing::info!(
        events = stats.events,
        games = stats.games_completed,
        bets = stats.bets,
        rounds = stats.rounds,
        "simulation stopped"
    );
    if let Some(mesh) = &_mesh {
        // Its open rounds' spans end before the tracer provider flushes.
        mesh.close().await;
    }
    if let Some(children) = children.take() {
        // They drain as this node did, then flush; a child that hangs is killed.
        let grace = telemetry.config().health().drain_period + Duration::from_secs(15);
        let _ = tokio::task::spawn_blocking(move || children.wait(grace)).await;
    }
    match tokio::task::spawn_blocking(move || telemetry.shutdown()).await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "telemetry did not shut down cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "shutdown task failed");
            ExitCode::FAILURE
        }
    }
}

/// What the `--mesh` children inherit from this node's options and configuration.
fn child_template(args: &Args, config: &bitcraps_otel::Config) -> spawn::ChildTemplate {
    let mut pass = vec!["--rate".to_string(), args.rate.to_string(), "--summary".into(), "off".into()];
    if let Some(d) = args.duration {
        pass.extend(["--duration".into(), humantime::format_duration(d).to_string()]);
    }
    if args.no_alerting {
        pass.push("--no-alerting".into());
    }
    if args.no_incidents {
        pass.push("--no-incidents".into());
    }
    if let Some(path) = &args.alert_rules {
        pass.extend(["--alert-rules".into(), path.display().to_string()]);
    }
    let pretty = config.log_format() == bitcraps_otel::config::LogFormat::Pretty;
    spawn::ChildTemplate {
        args: pass,
        seed: args.seed,
        prometheus: config.prometheus_addr(),
        health: config.health().addr,
        log_format: if pretty { "pretty" } else { "json" },
        prefix_lines: pretty,
    }
}

/// Starts the alert engine (predefined rules plus the file's) with the log as its channel,
/// and reloads the file on SIGHUP.
fn start_alerting(
    rules: Option<RuleSet>,
    reload: Option<(signals::Hangup, std::path::PathBuf)>,
    state_dir: Option<std::path::PathBuf>,
) -> Option<Arc<AlertingSystem>> {
    let mut set = rules.unwrap_or_else(|| RuleSet { predefined: true, ..Default::default() });
    // A channel that cannot deliver is at least said in the log.
    set.routing.fallback_channel.get_or_insert_with(|| "log".into());
    if let Some(dir) = &state_dir {
        tracing::info!(dir = %dir.display(), "alert state kept on disk (BITCRAPS_STATE_DIR; off to disable)");
    }
    let config = AlertingConfig { predefined_rules: false, state_dir, ..Default::default() };
    let mut system = AlertingSystem::new(config);
    system.add_notifier("log", Arc::new(LogNotifier));
    // The rules, routing and the file's `channels:` (PagerDuty, Slack, Teams, e-mail, SMS,
    // webhooks), all checked before anything is put in force.
    match rules::apply(&system, &set) {
        Ok(()) if set.channels.is_empty() => {}
        Ok(()) => tracing::info!(channels = set.channels.len(), "notification channels registered"),
        Err(e) => tracing::error!(error = %e, "alert rules not applied"),
    }
    if let Err(e) = system.start_background() {
        tracing::error!(error = %e, "alerting not started");
        return None;
    }
    tracing::info!(rules = system.rules().len(), "alerting started");
    let system = Arc::new(system);
    if let Some((mut hangup, path)) = reload {
        let weak = Arc::downgrade(&system);
        tokio::spawn(async move {
            while hangup.recv().await {
                let Some(system) = weak.upgrade() else { return };
                match reload_rules(&system, &path).await {
                    Ok(channels) => tracing::info!(
                        rules = system.rules().len(), channels, path = %path.display(),
                        "alert rules and channels reloaded"
                    ),
                    Err(e) => {
                        tracing::error!(error = %e, "alert rules reload failed; the previous rules stay in force")
                    }
                }
            }
        });
    }
    Some(system)
}

/// Where the alert engine keeps its state: `BITCRAPS_STATE_DIR` (`off` or empty: nowhere),
/// else `$XDG_STATE_HOME/bitcraps-node/<node id>` or `~/.local/state/bitcraps-node/<node id>`.
fn alert_state_dir(node_id: Option<&str>) -> Option<std::path::PathBuf> {
    match std::env::var_os("BITCRAPS_STATE_DIR") {
        Some(v) if v.is_empty() || v == "off" => None,
        Some(v) => Some(std::path::PathBuf::from(v)),
        None => alerting::default_state_dir(node_id.unwrap_or("node")),
    }
}

/// Re-reads the rules file (off the runtime workers) and puts its rules, routing and
/// channels in force together; the channel count on success.
async fn reload_rules(system: &AlertingSystem, path: &std::path::Path) -> Result<usize, alerting::AlertError> {
    let p = path.to_path_buf();
    let mut set = tokio::task::spawn_blocking(move || alerting::load_rules_file(&p))
        .await
        .map_err(|e| alerting::AlertError::Panicked(e.to_string()))??;
    set.routing.fallback_channel.get_or_insert_with(|| "log".into());
    rules::apply(system, &set)?;
    Ok(set.channels.len())
}
