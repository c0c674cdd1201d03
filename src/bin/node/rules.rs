//! The node's alert rules: the predefined ones plus the rules file's, with the rules that
//! read simulated metrics labelled `simulated="true"` so no alert of a simulator passes for
//! a real one.

use bitcraps_otel::alerting::{AlertError, AlertingSystem, RuleDefinition, RuleSet};

/// Metrics the node measures for real (its own process and health checks); every other
/// metric of the node comes from the simulator.
const REAL_METRIC_PREFIXES: [&str; 6] = ["cpu", "memory", "thread", "uptime", "health", "process"];

/// Whether `metric` (an OpenTelemetry or Prometheus name) is produced by the simulator.
fn is_simulated(metric: &str) -> bool {
    let rest = metric.strip_prefix("bitcraps").map(|r| r.trim_start_matches(['.', '_'])).unwrap_or(metric);
    !REAL_METRIC_PREFIXES.iter().any(|p| rest.starts_with(p))
}

/// Labels every rule on a simulated metric with `simulated="true"`.
fn label_simulated(rules: &mut [RuleDefinition]) {
    for r in rules.iter_mut().filter(|r| is_simulated(&r.rule.metric_name)) {
        r.options.labels.insert("simulated".into(), "true".into());
    }
}

/// Puts `set` in force (rules, routing and channels), its simulated rules labelled; an
/// invalid set changes nothing.
pub fn apply(system: &AlertingSystem, set: &RuleSet) -> Result<(), AlertError> {
    system.apply_with(set, |rules| label_simulated(rules))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_metrics_are_real_and_game_metrics_simulated() {
        for real in ["bitcraps.cpu.usage", "bitcraps_memory_usage_bytes", "bitcraps.health.check.status"] {
            assert!(!is_simulated(real), "{real}");
        }
        for simulated in ["bitcraps.consensus.forks", "bitcraps.security.event_rate", "gaming_error_rate"] {
            assert!(is_simulated(simulated), "{simulated}");
        }
    }
}
