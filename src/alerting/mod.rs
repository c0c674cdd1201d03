//! The alerting engine: rules over the BitCraps semantic-convention metrics, evaluated on
//! data collected through an OpenTelemetry metric reader, with pending/firing/resolved
//! lifecycle, grouping, dedup and repeat, escalation, acknowledgement and silences. The same
//! rules load from YAML and export as Prometheus alerting and recording rules.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use bitcraps_otel::alerting::{AlertCondition, AlertRule, AlertSeverity, AlertingConfig, AlertingSystem, LogNotifier};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // BITCRAPS_ALERTING=1 makes init() register the reader the engine collects through.
//! std::env::set_var("BITCRAPS_ALERTING", "1");
//! let telemetry = bitcraps_otel::init()?;
//! let mut alerting = AlertingSystem::new(AlertingConfig::default()); // predefined rules on
//! alerting.add_notifier("log", Arc::new(LogNotifier));
//! alerting.add_rule(AlertRule {
//!     name: "High Game Error Rate".into(),
//!     metric_name: "gaming_error_rate".into(),
//!     condition: AlertCondition::GreaterThan(0.05),
//!     severity: AlertSeverity::High,
//!     category: "gaming".into(),
//!     evaluation_interval: Duration::from_secs(60),
//!     ..Default::default()
//! })?;
//! alerting.start().await?;
//! # drop(telemetry); Ok(()) }
//! ```
//!
//! One concept per module: [`rule`](AlertRule) and [`condition`](AlertCondition) say what
//! to watch; the engine evaluates them against a snapshot of the [`AlertReader`]; alert
//! [`state`](AlertState) follows a lifecycle; [`route`](Route) decides who hears what and
//! when; [`Notifier`] delivers; [`file`](load_rules_file) reads YAML and writes Prometheus rules.

mod amconfig;
pub mod api;
pub mod channels;
pub mod check;
mod condition;
mod cycle;
mod engine;
pub mod enhanced_notifications;
mod file;
mod identity;
mod inhibit;
pub mod limits;
mod matcher;
mod meta;
mod notify;
mod persist;
mod policy;
mod predefined;
mod promexport;
mod promql;
mod reader;
mod reload;
mod route;
mod rule;
mod selfmetrics;
mod silence;
mod snapshot;
mod state;
mod system;
mod wallclock;
pub(crate) mod yamlguard;

pub use amconfig::{alertmanager_yaml, AmConfigOptions, ALERTMANAGER_CONFIG_HEADER};
pub use condition::{AlertCondition, Threshold};
pub use file::{load_rules_file, parse_rules, parse_rules_with_env, RuleFileError, RuleSet, BUILTIN_CHANNELS};
pub use identity::{alert_labels, node_labels};
pub use inhibit::InhibitRule;
pub use matcher::{valid_label_name, MatchType, Matcher, MatcherError, MAX_MATCHER_VALUE};
pub use meta::DELIVERY_FAILING;
pub use notify::{AlertNotice, DeliveryReport, InMemoryNotifier, LogNotifier, Notification, Notifier, NotifyError};
pub use persist::{default_state_dir, STATE_FILE};
pub use policy::{ChannelPolicy, RateLimit};
pub use predefined::{memory_limit_bytes, predefined_inhibitions, predefined_rules};
pub use promexport::{prometheus_rules, prometheus_rules_with, PromExportOptions, PROMETHEUS_RULES_HEADER};
pub use reader::AlertReader;
pub use route::{EscalationPolicy, EscalationTier, Route, RoutingConfig};
pub use rule::{
    Aggregation, AggregationOp, AlertRule, AlertSeverity, LabelMatcher, MatchOp, RuleDefinition, RuleOptions,
};
pub use silence::{
    Silence, SilenceError, SilenceSpec, SilenceState, Silences, MAX_SILENCES, MAX_SILENCE_MATCHERS, MAX_SILENCE_TEXT,
    SILENCE_RETENTION,
};
pub use state::{Alert, AlertState, Fingerprint};
pub use system::{AlertingConfig, AlertingSystem, CycleSummary};

/// Everything the alerting API can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// A rule names a metric the semconv registry does not define (raw or derived).
    #[error("alert rule `{rule}`: unknown metric `{metric}` (not in the semconv registry; see semconv::METRICS and semconv::DERIVED)")]
    UnknownMetric {
        /// The rule.
        rule: String,
        /// The name it gave.
        metric: String,
    },
    /// A rule field has a value the engine cannot use.
    #[error("alert rule `{rule}`: {field}: {reason}")]
    InvalidRule {
        /// The rule.
        rule: String,
        /// The field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No metric reader to collect from: telemetry was started without alerting.
    #[error("no alert metric reader: start telemetry with BITCRAPS_ALERTING=1 or TelemetryBuilder::alerting(true), or attach() one")]
    NoReader,
    /// `start` was called outside a tokio runtime.
    #[error("the alerting system must be started inside a tokio runtime")]
    NoRuntime,
    /// Collecting from the reader failed (e.g. the meter provider was shut down).
    #[error("collecting metrics for alerting failed: {0}")]
    Collect(String),
    /// A rules file could not be read or is invalid.
    #[error(transparent)]
    File(#[from] RuleFileError),
    /// A notification channel of a rules file cannot be built.
    #[error(transparent)]
    Channel(#[from] channels::ChannelError),
    /// A route or escalation policy has a value past its bound (see [`limits`]).
    #[error("routing: {field}: {reason}")]
    InvalidRouting {
        /// The field at fault, e.g. `routes[0].group_wait`.
        field: String,
        /// Why.
        reason: String,
    },
    /// An evaluation cycle panicked (the panic was caught; the engine goes on).
    #[error("alert evaluation panicked: {0}")]
    Panicked(String),
}
