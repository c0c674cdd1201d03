//! [`AlertingSystem`]: rules, notifiers and routing behind one handle, and the background
//! task that collects from the alert reader and evaluates rules on their intervals.

use super::cycle::{guarded_cycle, lock, Core, Shared};
use super::engine::{Evaluator, Slot};
use super::matcher::Matcher;
use super::notify::Notifier;
use super::reader::AlertReader;
use super::route::{Router, RoutingConfig};
use super::rule::{CompiledRule, RuleDefinition};
use super::selfmetrics::SelfMetrics;
use super::silence::{Silence, SilenceError, SilenceSpec};
use super::state::{Alert, AlertState, Fingerprint};
use super::{AlertError, AlertRule};
use opentelemetry::metrics::MeterProvider;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Settings of an [`AlertingSystem`].
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::alerting::{AlertingConfig, AlertingSystem};
/// let system = AlertingSystem::new(AlertingConfig {
///     predefined_rules: false, // only the rules added later
///     tick: Duration::from_millis(500),
///     notify_timeout: Duration::from_secs(5),
///     ..Default::default()
/// });
/// assert!(system.rules().is_empty());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AlertingConfig {
    /// Load the predefined BitCraps rules (each can still be replaced by name).
    pub predefined_rules: bool,
    /// How often the background task wakes to evaluate due rules and send due notifications.
    pub tick: Duration,
    /// Routes, grouping, repeat and escalation.
    pub routing: RoutingConfig,
    /// Longest a notifier may take before the delivery counts as failed.
    pub notify_timeout: Duration,
    /// Where alerts, what was told to which channel, acknowledgements and silences are
    /// snapshotted after each cycle that changed them, and restored from at
    /// [`start`](AlertingSystem::start) (see [`STATE_FILE`](super::STATE_FILE)). `None`
    /// (the default for the library) keeps them in memory only; `bitcraps-node` sets it
    /// from `BITCRAPS_STATE_DIR`.
    pub state_dir: Option<std::path::PathBuf>,
    /// How long the node may have been down for its snapshot to be restored (default 24 h).
    pub state_max_age: Duration,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            predefined_rules: true,
            tick: Duration::from_secs(1),
            routing: RoutingConfig::default(),
            notify_timeout: Duration::from_secs(10),
            state_dir: None,
            state_max_age: Duration::from_secs(24 * 3600),
        }
    }
}

/// What [`AlertingSystem::evaluate_now`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CycleSummary {
    /// Rules evaluated (those due).
    pub evaluated: u64,
    /// Series in the collection the rules read.
    pub series: usize,
    /// Alerts that started firing.
    pub fired: usize,
    /// Alerts that resolved.
    pub resolved: usize,
    /// Notifications the channels confirmed (every alert delivered).
    pub notifications: usize,
    /// Notifications a channel did not (fully) deliver; their undelivered alerts are offered
    /// again at the route's next `group_interval`.
    pub failed: usize,
}

/// The alert engine: rules, alert states, routing and notifiers.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::alerting::{AlertCondition, AlertReader, AlertRule, AlertSeverity, AlertingConfig, AlertingSystem};
/// use opentelemetry::metrics::MeterProvider;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), bitcraps_otel::alerting::AlertError> {
/// let reader = AlertReader::new();
/// let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
/// let forks = provider.meter("bitcraps").u64_counter("bitcraps.consensus.forks").build();
///
/// let mut alerting = AlertingSystem::new(AlertingConfig { predefined_rules: false, ..Default::default() });
/// alerting.add_rule(AlertRule {
///     name: "AnyFork".into(),
///     metric_name: "bitcraps_consensus_forks_total".into(),
///     condition: AlertCondition::GreaterThan(0.0),
///     severity: AlertSeverity::Critical,
///     ..Default::default()
/// })?;
/// alerting.attach(reader);
/// forks.add(1, &[]);
/// let cycle = alerting.evaluate_now().await?;
/// assert_eq!(cycle.fired, 1);
/// assert_eq!(alerting.alerts()[0].rule, "AnyFork");
/// # Ok(()) }
/// ```
pub struct AlertingSystem {
    pub(super) shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AlertingSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertingSystem").field("running", &self.task.is_some()).finish_non_exhaustive()
    }
}

impl AlertingSystem {
    /// A system with `config`; the predefined rules are loaded when it says so.
    pub fn new(config: AlertingConfig) -> Self {
        let mut evaluator = Evaluator::default();
        let mut routing = config.routing;
        if config.predefined_rules {
            routing.inhibit_rules.extend(super::predefined::predefined_inhibitions());
            for rule in super::predefined::predefined_rules(super::predefined::memory_limit_bytes()) {
                match CompiledRule::compile(rule) {
                    Ok(c) => evaluator.slots.push(Slot::new(c)),
                    // The registry test keeps this unreachable; never take the node down for it.
                    Err(e) => tracing::error!(error = %e, "predefined alert rule does not compile"),
                }
            }
        }
        AlertingSystem {
            shared: Arc::new(Shared {
                core: Mutex::new(Core {
                    evaluator,
                    router: Router::new(routing),
                    metrics: None,
                    labels: Default::default(),
                }),
                notifiers: Mutex::new(BTreeMap::new()),
                file_channels: Mutex::new(BTreeMap::new()),
                reader: Mutex::new(None),
                tick: if config.tick.is_zero() { Duration::from_secs(1) } else { config.tick },
                notify_timeout: config.notify_timeout,
                last_cycle: Mutex::new(None),
                task: Mutex::new(None),
                state_dir: config.state_dir,
                state_max_age: config.state_max_age,
                dirty: Default::default(),
                writing: Default::default(),
            }),
            task: None,
        }
    }

    /// Adds a rule, or replaces the rule of the same name (predefined ones included).
    /// Rejected, with the metric's name, when the registry does not know the metric.
    pub fn add_rule(&self, rule: impl Into<RuleDefinition>) -> Result<(), AlertError> {
        let compiled = CompiledRule::compile(rule)?;
        let mut core = lock(&self.shared.core);
        let mut rules: Vec<CompiledRule> = core.evaluator.slots.iter().map(|s| s.compiled.clone()).collect();
        match rules.iter_mut().find(|r| r.rule.name == compiled.rule.name) {
            Some(r) => *r = compiled,
            None => rules.push(compiled),
        }
        core.evaluator.replace_rules(rules, Instant::now());
        Ok(())
    }

    /// Removes a rule by name; its firing alerts resolve.
    pub fn remove_rule(&self, name: &str) -> bool {
        let mut core = lock(&self.shared.core);
        let rules: Vec<CompiledRule> =
            core.evaluator.slots.iter().filter(|s| s.compiled.rule.name != name).map(|s| s.compiled.clone()).collect();
        let removed = rules.len() != core.evaluator.slots.len();
        core.evaluator.replace_rules(rules, Instant::now());
        removed
    }

    /// Replaces every rule and the routing at once. Everything is checked first (each rule,
    /// every bound of the routing): if anything is invalid nothing changes. Alerts of rules
    /// removed or changed resolve as [`apply`](Self::apply) describes.
    pub fn replace_rules(&self, rules: Vec<RuleDefinition>, routing: Option<RoutingConfig>) -> Result<(), AlertError> {
        let compiled = rules.into_iter().map(CompiledRule::compile).collect::<Result<Vec<_>, _>>()?;
        if let Some(r) = &routing {
            r.validate()?;
        }
        let mut core = lock(&self.shared.core);
        core.evaluator.replace_rules(compiled, Instant::now());
        if let Some(routing) = routing {
            core.router.config = routing;
        }
        Ok(())
    }

    /// The rules in force, in evaluation order.
    pub fn rules(&self) -> Vec<RuleDefinition> {
        lock(&self.shared.core)
            .evaluator
            .slots
            .iter()
            .map(|s| RuleDefinition { rule: s.compiled.rule.clone(), options: s.compiled.options.clone() })
            .collect()
    }

    /// Replaces routes, grouping and escalation policies.
    pub fn set_routing(&self, routing: RoutingConfig) {
        lock(&self.shared.core).router.config = routing;
    }

    /// Registers a channel under `name` (the name routes and escalation tiers refer to).
    pub fn add_notifier(&self, name: impl Into<String>, notifier: Arc<dyn Notifier>) {
        lock(&self.shared.notifiers).insert(name.into(), notifier);
    }

    /// Records the engine's own metrics on `provider` (by default: the global provider
    /// [`crate::init`] installs, when [`AlertingSystem::start`] runs).
    pub fn instrument(&self, provider: &impl MeterProvider) {
        self.instrument_meter(&provider.meter(crate::metrics::METER_NAME));
    }

    fn instrument_meter(&self, meter: &opentelemetry::metrics::Meter) {
        let kinds: Vec<_> = lock(&self.shared.notifiers).values().map(|n| n.kind()).collect();
        let shared = Arc::downgrade(&self.shared);
        let healthy = move || shared.upgrade().is_some_and(|s| super::cycle::health(&s).healthy);
        lock(&self.shared.core).metrics = Some(SelfMetrics::new(meter, &kinds, healthy));
    }

    /// Uses `reader` for collections (instead of the one [`crate::init`] registered).
    pub fn attach(&self, reader: AlertReader) {
        *lock(&self.shared.reader) = Some(reader);
    }

    /// Starts evaluating in the background on the current tokio runtime, reading through the
    /// reader the live [`crate::Telemetry`] guard owns (registered unless
    /// [`crate::TelemetryBuilder::alerting`]`(false)`) unless one was [`attach`](Self::attach)ed.
    pub async fn start(&mut self) -> Result<(), AlertError> {
        self.start_background()
    }

    /// [`start`](Self::start) for code that is not async but runs inside a tokio runtime.
    pub fn start_background(&mut self) -> Result<(), AlertError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| AlertError::NoRuntime)?;
        {
            let mut reader = lock(&self.shared.reader);
            if reader.is_none() {
                *reader = Some(AlertReader::global().ok_or(AlertError::NoReader)?);
            }
        }
        if lock(&self.shared.core).metrics.is_none() {
            self.instrument_meter(&opentelemetry::global::meter(crate::metrics::METER_NAME));
        }
        if let Some(task) = self.task.take() {
            task.abort();
        } else {
            super::persist::restore_at_start(&self.shared);
        }
        let shared = Arc::clone(&self.shared);
        let task = handle.spawn(async move {
            let mut interval = tokio::time::interval(shared.tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                // Deliveries run on in their own tasks: the loop never waits for a channel.
                let result = guarded_cycle(&shared).map(drop);
                if let Err(e) = &result {
                    tracing::warn!(target: "bitcraps_otel::alerting", error = %e, "alert evaluation failed");
                }
                *lock(&shared.last_cycle) = Some((Instant::now(), result.map_err(|e| e.to_string())));
                super::persist::save_in_background(&shared);
            }
        });
        *lock(&self.shared.task) = Some(task.abort_handle());
        self.task = Some(task);
        Ok(())
    }

    /// A readiness check for [`crate::health`]: passes while the background loop completes
    /// cycles on time and without error. Non-critical: a node without alerting still plays.
    ///
    /// ```no_run
    /// # async fn f(telemetry: bitcraps_otel::Telemetry) -> Result<(), Box<dyn std::error::Error>> {
    /// use bitcraps_otel::alerting::{AlertingConfig, AlertingSystem};
    /// let mut alerting = AlertingSystem::new(AlertingConfig::default());
    /// alerting.start().await?;
    /// if let Some(health) = telemetry.health() {
    ///     health.register(alerting.health_check())?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn health_check(&self) -> crate::health::FnCheck {
        let shared = Arc::clone(&self.shared);
        crate::health::FnCheck::new("alerting", move || {
            let outcome = super::cycle::health(&shared);
            async move { outcome }
        })
        .non_critical()
    }

    /// Stops the background task (rules and alert states are kept).
    pub fn stop(&mut self) {
        if self.task.is_some() {
            super::persist::save_now(&self.shared);
        }
        *lock(&self.shared.task) = None;
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Runs one cycle now: collect, evaluate the due rules, send due notifications, and wait
    /// for the channels' verdicts on them (each channel's own retries and timeouts bound the
    /// wait; `notify_timeout` bounds a notifier that has none). The background loop started
    /// by [`start`](Self::start) does the same without waiting for the channels.
    pub async fn evaluate_now(&self) -> Result<CycleSummary, AlertError> {
        let (mut summary, deliveries) = guarded_cycle(&self.shared)?;
        for delivered in futures_util::future::join_all(deliveries).await {
            match delivered {
                Ok(true) => summary.notifications += 1,
                _ => summary.failed += 1,
            }
        }
        Ok(summary)
    }

    /// Runs one cycle as the background loop does: collect, evaluate the due rules, and hand
    /// due notifications to their channels, without waiting for the channels' verdicts
    /// (each is recorded when it comes). For applications that drive the engine from a
    /// scheduler of their own; needs a tokio runtime.
    pub fn dispatch_now(&self) -> Result<CycleSummary, AlertError> {
        guarded_cycle(&self.shared).map(|(summary, _)| summary)
    }

    /// Alerts that are pending or firing, most severe first.
    pub fn alerts(&self) -> Vec<Alert> {
        let core = lock(&self.shared.core);
        let rules: HashMap<&str, &AlertRule> =
            core.evaluator.slots.iter().map(|s| (s.compiled.rule.name.as_str(), &s.compiled.rule)).collect();
        let now = Instant::now();
        let mut out: Vec<Alert> = core
            .evaluator
            .alerts
            .iter()
            .filter(|(_, e)| matches!(e.state, AlertState::Pending | AlertState::Firing))
            .map(|(fp, e)| {
                let (desc, tags) =
                    rules.get(e.rule.as_str()).map_or(("", &[][..]), |r| (r.description.as_str(), r.tags.as_slice()));
                e.view(*fp, desc, tags, now)
            })
            .collect();
        out.sort_by(|a, b| {
            b.severity.cmp(&a.severity).then_with(|| a.rule.cmp(&b.rule)).then(a.fingerprint.cmp(&b.fingerprint))
        });
        out
    }

    /// Acknowledges a firing alert: no more escalation tiers or repeats for it (resolution
    /// is still announced). False when no such alert is firing.
    pub fn acknowledge(&self, fingerprint: Fingerprint) -> bool {
        let mut core = lock(&self.shared.core);
        match core.evaluator.alerts.get_mut(&fingerprint) {
            Some(e) if e.state == AlertState::Firing => {
                e.acknowledged = true;
                self.shared.touch();
                true
            }
            _ => false,
        }
    }

    /// Silences alerts matching all `matchers` from now for `duration`; returns the silence
    /// id. Refused like Alertmanager refuses one (no matcher, or only matchers that would
    /// also select alerts without the label).
    ///
    /// ```
    /// use std::time::Duration;
    /// use bitcraps_otel::alerting::{AlertingConfig, AlertingSystem, Matcher};
    ///
    /// let alerting = AlertingSystem::new(AlertingConfig::default());
    /// let id = alerting.silence(vec![Matcher::eq("alertname", "BatteryLow")?], Duration::from_secs(3600), "lab devices")?;
    /// assert_eq!(alerting.silences()[0].id, id);
    /// alerting.expire_silence(&id)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn silence(
        &self,
        matchers: Vec<Matcher>,
        duration: Duration,
        comment: impl Into<String>,
    ) -> Result<String, SilenceError> {
        let now = super::wallclock::now();
        self.set_silence(SilenceSpec {
            id: None,
            matchers,
            starts_at: now,
            ends_at: now.checked_add(duration).unwrap_or(now),
            created_by: "bitcraps-otel".into(),
            comment: comment.into(),
        })
    }

    /// Creates a silence, or changes the one `spec.id` names (Alertmanager's rules: a change
    /// of matchers, or of an active silence's start, expires it and makes a new one).
    /// Returns the id in force.
    pub fn set_silence(&self, spec: SilenceSpec) -> Result<String, SilenceError> {
        let now = super::wallclock::now();
        let id = lock(&self.shared.core).router.silences.set(spec, now)?;
        self.shared.touch();
        Ok(id)
    }

    /// Ends a silence now. Expiring an expired silence is not an error; an unknown id is.
    pub fn expire_silence(&self, id: &str) -> Result<(), SilenceError> {
        let now = super::wallclock::now();
        lock(&self.shared.core).router.silences.expire(id, now)?;
        self.shared.touch();
        Ok(())
    }

    /// Every silence held (active, pending, and expired ones within their retention).
    pub fn silences(&self) -> Vec<Silence> {
        lock(&self.shared.core).router.silences.iter().cloned().collect()
    }

    /// Runs `f` on the rules, alerts and routing state under the engine's lock (for the
    /// operators' API, which renders them without copying the engine).
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&Evaluator, &Router) -> R) -> R {
        let core = lock(&self.shared.core);
        f(&core.evaluator, &core.router)
    }

    /// The registered channel names.
    pub(crate) fn channel_names(&self) -> Vec<String> {
        lock(&self.shared.notifiers).keys().cloned().collect()
    }
}

impl Drop for AlertingSystem {
    fn drop(&mut self) {
        self.stop();
    }
}
