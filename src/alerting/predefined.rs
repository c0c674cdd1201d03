//! The predefined BitCraps alert rules of the monitoring reference: CPU, memory, network
//! connectivity, consensus, gaming errors, battery and thermal, security. Each is an ordinary
//! [`AlertRule`]; a rule added with the same name replaces it, and
//! [`super::AlertingConfig::predefined_rules`] turns the set off.

use super::condition::{AlertCondition, Threshold};
use super::rule::{Aggregation, AggregationOp, AlertRule, AlertSeverity};
use std::time::Duration;

const MIN: u64 = 60;

fn rule(name: &str, description: &str, metric: &str, condition: AlertCondition) -> AlertRule {
    AlertRule {
        name: name.into(),
        description: description.into(),
        metric_name: metric.into(),
        condition,
        evaluation_interval: Duration::from_secs(15),
        tags: vec!["predefined".into()],
        ..Default::default()
    }
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
pub fn predefined_rules(memory_limit: Option<u64>) -> Vec<AlertRule> {
    let mut rules = vec![
        AlertRule {
            severity: AlertSeverity::High,
            category: "system".into(),
            for_duration: Duration::from_secs(2 * MIN),
            ..rule(
                "HighCpuUsage",
                "CPU usage of the node process above 85 % for 2 minutes",
                "bitcraps.cpu.usage",
                AlertCondition::GreaterThan(85.0),
            )
        },
        AlertRule {
            severity: AlertSeverity::Critical,
            category: "network".into(),
            for_duration: Duration::from_secs(MIN),
            aggregation: Some(Aggregation::over_all(AggregationOp::Sum)),
            ..rule(
                "NoPeerConnections",
                "The node has no open peer connection",
                "bitcraps.network.active_connections",
                AlertCondition::LessThan(1.0),
            )
        },
        AlertRule {
            severity: AlertSeverity::High,
            category: "network".into(),
            for_duration: Duration::from_secs(MIN),
            ..rule(
                "NoPeerMessages",
                "No peer message sent or received for 2 minutes",
                "bitcraps.network.message_rate",
                AlertCondition::LessThan(0.001),
            )
        },
        AlertRule {
            severity: AlertSeverity::High,
            category: "consensus".into(),
            for_duration: Duration::from_secs(5 * MIN),
            ..rule(
                "ConsensusRejectionsHigh",
                "More than 20 % of consensus proposals rejected over 5 minutes",
                "bitcraps.consensus.rejection_ratio",
                AlertCondition::GreaterThan(0.2),
            )
        },
        AlertRule {
            severity: AlertSeverity::Critical,
            category: "consensus".into(),
            ..rule(
                "ConsensusForkDetected",
                "A fork of the game ledger was detected in the last 5 minutes",
                "bitcraps.consensus.forks",
                AlertCondition::Rate { window: Duration::from_secs(5 * MIN), threshold: Threshold::GreaterThan(0.0) },
            )
        },
        AlertRule {
            severity: AlertSeverity::High,
            category: "gaming".into(),
            for_duration: Duration::from_secs(2 * MIN),
            ..rule(
                "HighGameErrorRate",
                "Gaming errors above 5 % of completed games",
                "gaming_error_rate",
                AlertCondition::GreaterThan(0.05),
            )
        },
        AlertRule {
            severity: AlertSeverity::Medium,
            category: "mobile".into(),
            for_duration: Duration::from_secs(MIN),
            ..rule("BatteryLow", "Device battery below 15 %", "bitcraps.battery.level", AlertCondition::LessThan(15.0))
        },
        AlertRule {
            severity: AlertSeverity::High,
            category: "mobile".into(),
            for_duration: Duration::from_secs(2 * MIN),
            ..rule(
                "DeviceOverheating",
                "Device temperature above 45 °C for 2 minutes",
                "bitcraps.device.temperature",
                AlertCondition::GreaterThan(45.0),
            )
        },
        AlertRule {
            severity: AlertSeverity::Medium,
            category: "mobile".into(),
            for_duration: Duration::from_secs(5 * MIN),
            ..rule(
                "ThermalThrottling",
                "The device has throttled the CPU for heat for 5 minutes",
                "bitcraps.thermal.throttling",
                AlertCondition::Equal(1.0),
            )
        },
        AlertRule {
            severity: AlertSeverity::Critical,
            category: "security".into(),
            ..rule(
                "SecurityIncidents",
                "Security events (failed signatures, identity or permission checks) in the last 5 minutes",
                "bitcraps.security.event_rate",
                AlertCondition::GreaterThan(0.0),
            )
        },
    ];
    if let Some(limit) = memory_limit {
        rules.insert(
            1,
            AlertRule {
                severity: AlertSeverity::High,
                category: "system".into(),
                for_duration: Duration::from_secs(2 * MIN),
                ..rule(
                    "HighMemoryUsage",
                    "Resident memory above 90 % of the memory available to the node",
                    "bitcraps.memory.usage",
                    AlertCondition::GreaterThan((limit as f64 * 0.9).round()),
                )
            },
        );
    }
    rules
}
