//! `bitcraps-node --check-config FILE [LABEL=VALUE ...]`: a rules file checked the way the
//! node would load it, every located error listed; and, for a label set, where a firing alert
//! with those labels would go (the route it takes, its timing, and the channels of each
//! escalation tier), as `amtool config routes test` answers for Alertmanager.
//!
//! ```
//! use bitcraps_otel::alerting::check::{check_rules_text, parse_label_set};
//!
//! let check = check_rules_text("alerts.yml", "routes:\n  - match: { severity: critical }\n    escalation: page\nescalations:\n  page:\n    - { after: 0s, channels: [log] }\n", &|_| None);
//! assert!(check.errors.is_empty());
//! let labels = parse_label_set(&["severity=critical".to_string()])?;
//! assert!(check.route_report(&labels).contains("routes[0]"));
//! # Ok::<(), bitcraps_otel::alerting::MatcherError>(())
//! ```

use super::matcher::{MatchType, Matcher, MatcherError};
use super::{EscalationTier, RuleFileError, RuleSet};
use std::collections::BTreeMap;
use std::fmt::Write;

/// What checking a rules file found.
#[derive(Debug)]
pub struct ConfigCheck {
    /// The file's name, as errors quote it.
    pub origin: String,
    /// Every error, each with its line and field.
    pub errors: Vec<RuleFileError>,
    /// The rules, routing and channels, when the file is valid.
    pub set: Option<RuleSet>,
}

/// Checks rules YAML (`origin` names it); `${VAR}`s resolve through `env`.
pub fn check_rules_text(origin: &str, text: &str, env: &dyn Fn(&str) -> Option<String>) -> ConfigCheck {
    match super::parse_rules_with_env(origin, text, env) {
        Ok(set) => ConfigCheck { origin: origin.to_string(), errors: Vec::new(), set: Some(set) },
        Err(e) => ConfigCheck { origin: origin.to_string(), errors: vec![e], set: None },
    }
}

/// Reads and checks a rules file; `${VAR}`s come from the environment.
pub fn check_rules_file(path: &std::path::Path) -> ConfigCheck {
    let origin = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => check_rules_text(&origin, &text, &|var| std::env::var(var).ok()),
        Err(source) => {
            ConfigCheck { origin: origin.clone(), errors: vec![RuleFileError::Io { path: origin, source }], set: None }
        }
    }
}

/// `name=value` arguments (values may be quoted, as `amtool` takes them) as a label set.
pub fn parse_label_set(args: &[String]) -> Result<BTreeMap<String, String>, MatcherError> {
    let mut labels = BTreeMap::new();
    for a in args {
        let m = Matcher::parse(a)?;
        if m.op() != MatchType::Equal {
            return Err(MatcherError::Format(format!("{a} (labels are name=value)")));
        }
        labels.insert(m.name().to_string(), m.value().to_string());
    }
    Ok(labels)
}

fn duration(d: std::time::Duration) -> String {
    super::promexport::prom_duration(d)
}

impl ConfigCheck {
    /// Whether the file loads.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// The channel names a node loading this file registers: `log`, then the file's.
    pub fn channel_names(&self) -> Vec<String> {
        let mut names = vec!["log".to_string()];
        if let Some(set) = &self.set {
            names.extend(set.channels.iter().map(|c| c.name.clone()).filter(|n| n != "log"));
        }
        names
    }

    /// Every error, one per line, then a one-line verdict.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for e in &self.errors {
            let _ = writeln!(out, "{e}");
        }
        match &self.set {
            Some(set) if self.errors.is_empty() => {
                let rules = set.effective_rules(super::memory_limit_bytes());
                let from_file = set.rules.len();
                let _ = writeln!(
                    out,
                    "{}: valid: {} rules ({} predefined, {from_file} from the file), {} routes and a default route, {} escalation policies, channels: {}",
                    self.origin,
                    rules.len(),
                    rules.len() - from_file,
                    set.routing.routes.len(),
                    set.routing.escalations.len(),
                    self.channel_names().join(", "),
                );
            }
            _ => {
                let n = self.errors.len();
                let _ = writeln!(out, "{}: invalid: {n} error{}", self.origin, if n == 1 { "" } else { "s" });
            }
        }
        out
    }

    /// Where a firing alert with `labels` goes: its route, the route's timing, and each
    /// escalation tier's channels. Empty when the file is invalid.
    pub fn route_report(&self, labels: &BTreeMap<String, String>) -> String {
        let Some(set) = &self.set else { return String::new() };
        let registered = self.channel_names();
        let routing = &set.routing;
        let (index, route) = routing.route_for(labels);
        let shown: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let mut out = String::new();
        let which = match index {
            Some(i) => {
                let m: Vec<String> = route
                    .matchers
                    .iter()
                    .map(|m| {
                        format!("{}{}\"{}\"", m.name, if m.op == super::MatchOp::Equal { "=" } else { "!=" }, m.value)
                    })
                    .collect();
                format!("routes[{i}] (match {})", m.join(", "))
            }
            None => "the default route".to_string(),
        };
        let _ = writeln!(out, "a firing alert {{{}}} takes {which}", shown.join(", "));
        let _ = writeln!(
            out,
            "  grouped by [{}]; first notice after {}, changes every {}, repeated every {} until acknowledged",
            route.group_by.join(", "),
            duration(route.group_wait),
            duration(route.group_interval),
            duration(route.repeat_interval),
        );
        let tiers: Vec<EscalationTier> = routing.tiers_for(labels, &registered);
        if route.escalation.is_empty() {
            let _ = writeln!(out, "  no escalation policy: every channel at once");
        } else {
            let _ = writeln!(out, "  escalation policy `{}`:", route.escalation);
        }
        let width = tiers.iter().map(|t| duration(t.after).len()).max().unwrap_or(0);
        for t in &tiers {
            let channels: Vec<String> = t
                .channels
                .iter()
                .map(|c| if registered.contains(c) { c.clone() } else { format!("{c} (not defined)") })
                .collect();
            let _ = writeln!(out, "    after {:<width$}  {}", duration(t.after), channels.join(", "));
        }
        out
    }
}
