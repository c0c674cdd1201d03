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
//! // init() registers the reader the engine collects through; start() finds it.
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
mod error;
mod file;
mod identity;
mod inhibit;
mod labels;
pub mod limits;
mod matcher;
mod memo;
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
mod windows;
pub(crate) mod yamlguard;

pub use amconfig::{alertmanager_yaml, AmConfigOptions, ALERTMANAGER_CONFIG_HEADER};
pub use condition::{AlertCondition, Threshold};
pub use error::AlertError;
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
