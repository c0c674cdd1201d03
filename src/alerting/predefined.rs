//! The predefined BitCraps alert rules of the monitoring reference: CPU, memory, network
//! connectivity, consensus, gaming errors, battery and thermal, security. Each is an ordinary
//! [`RuleDefinition`]; a rule added with the same name replaces it, and
//! [`super::AlertingConfig::predefined_rules`] turns the set off.

use super::condition::{AlertCondition, Threshold};
use super::rule::{Aggregation, AggregationOp, AlertRule, AlertSeverity, RuleDefinition, RuleOptions};
use std::time::Duration;

const MIN: u64 = 60;

fn rule(
    name: &str,
    description: &str,
    metric: &str,
    condition: AlertCondition,
    severity: AlertSeverity,
    category: &str,
    for_secs: u64,
) -> RuleDefinition {
    AlertRule {
        name: name.into(),
        description: description.into(),
        metric_name: metric.into(),
        condition,
        severity,
        category: category.into(),
        evaluation_interval: Duration::from_secs(15),
        tags: vec!["predefined".into()],
    }
    .with_options(RuleOptions { for_duration: Duration::from_secs(for_secs), ..Default::default() })
}

/// Memory the process may use: the cgroup limit when there is one, else physical memory.
pub fn memory_limit_bytes() -> Option<u64> {
    let mut sys = sysinfo::System::new().ok()?;
    sys.refresh_memory();
    let total = sys.total_memory();
    let limit = sys.cgroup_limits().map(|c| c.total_memory).filter(|l| *l > 0 && *l < total).unwrap_or(total);
    (limit > 0).then_some(limit)
}

/// The predefined rules, in a stable order. `memory_limit` sets the 90 % line of the
/// memory rule (see [`memory_limit_bytes`]); without it the memory rule is left out.
pub fn predefined_rules(memory_limit: Option<u64>) -> Vec<RuleDefinition> {
    use AlertSeverity::{Critical, High, Medium};
    let mut no_connections = rule(
        "NoPeerConnections",
        "The node has no open peer connection",
        "bitcraps.network.active_connections",
        AlertCondition::LessThan(1.0),
        Critical,
        "network",
        MIN,
    );
    no_connections.options.aggregation = Some(Aggregation::over_all(AggregationOp::Sum));
    let mut rules = vec![
        rule(
            "HighCpuUsage",
            "CPU usage of the node process above 85 % for 2 minutes",
            "bitcraps.cpu.usage",
            AlertCondition::GreaterThan(85.0),
            High,
            "system",
            2 * MIN,
        ),
        no_connections,
        rule(
            "NoPeerMessages",
            "No peer message sent or received for 2 minutes",
            "bitcraps.network.message_rate",
            AlertCondition::LessThan(0.001),
            High,
            "network",
            MIN,
        ),
        rule(
            "ConsensusRejectionsHigh",
            "More than 20 % of consensus proposals rejected over 5 minutes",
            "bitcraps.consensus.rejection_ratio",
            AlertCondition::GreaterThan(0.2),
            High,
            "consensus",
            5 * MIN,
        ),
        rule(
            "ConsensusForkDetected",
            "A fork of the game ledger was detected in the last 5 minutes",
            "bitcraps.consensus.forks",
            AlertCondition::Rate { window: Duration::from_secs(5 * MIN), threshold: Threshold::GreaterThan(0.0) },
            Critical,
            "consensus",
            0,
        ),
        rule(
            "HighGameErrorRate",
            "Gaming errors above 5 % of completed games",
            "gaming_error_rate",
            AlertCondition::GreaterThan(0.05),
            High,
            "gaming",
            2 * MIN,
        ),
        rule(
            "BatteryLow",
            "Device battery below 15 %",
            "bitcraps.battery.level",
            AlertCondition::LessThan(15.0),
            Medium,
            "mobile",
            MIN,
        ),
        rule(
            "DeviceOverheating",
            "Device temperature above 45 °C for 2 minutes",
            "bitcraps.device.temperature",
            AlertCondition::GreaterThan(45.0),
            High,
            "mobile",
            2 * MIN,
        ),
        rule(
            "ThermalThrottling",
            "The device has throttled the CPU for heat for 5 minutes",
            "bitcraps.thermal.throttling",
            AlertCondition::Equal(1.0),
            Medium,
            "mobile",
            5 * MIN,
        ),
        rule(
            "SecurityIncidents",
            "Security events (failed signatures, identity or permission checks) in the last 5 minutes",
            "bitcraps.security.event_rate",
            AlertCondition::GreaterThan(0.0),
            Critical,
            "security",
            0,
        ),
    ];
    if let Some(limit) = memory_limit {
        rules.insert(
            1,
            rule(
                "HighMemoryUsage",
                "Resident memory above 90 % of the memory available to the node",
                "bitcraps.memory.usage",
                AlertCondition::GreaterThan((limit as f64 * 0.9).round()),
                High,
                "system",
                2 * MIN,
            ),
        );
    }
    rules
}

/// The inhibitions that go with the predefined rules: on the same node, having no peer at
/// all makes "no peer messages" a symptom, and overheating makes thermal throttling one.
/// Each applies while both of its rules are in force.
pub fn predefined_inhibitions() -> Vec<super::InhibitRule> {
    [("NoPeerConnections", "NoPeerMessages"), ("DeviceOverheating", "ThermalThrottling")]
        .into_iter()
        .filter_map(|(cause, symptom)| {
            Some(super::InhibitRule {
                source: vec![super::Matcher::eq("alertname", cause).ok()?],
                target: vec![super::Matcher::eq("alertname", symptom).ok()?],
                equal: vec!["node_id".into()],
            })
        })
        .collect()
}
