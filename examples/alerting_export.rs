//! Prints the Prometheus rules file (recording + alerting rules) for an alert rules file,
//! or for the predefined rules when no file is given:
//!
//! ```text
//! cargo run -q --example alerting_export -- deploy/alerting/bitcraps-rules.yml > deploy/prometheus/bitcraps-alerts.yml
//! ```
//!
//! The memory rule is left out: its threshold depends on the machine (see the README).

use bitcraps_otel::alerting::{load_rules_file, prometheus_rules, RuleSet};
use std::process::ExitCode;

fn main() -> ExitCode {
    let set = match std::env::args().nth(1) {
        Some(path) => match load_rules_file(&path) {
            Ok(set) => set,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        None => RuleSet { predefined: true, ..Default::default() },
    };
    match prometheus_rules(&set.effective_rules(None)) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
