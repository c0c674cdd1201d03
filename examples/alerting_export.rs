//! Prints what a fleet runs instead of (or beside) the node's own engine, from one alert rules
//! file: the Prometheus rules file (recording + alerting rules), or with `--alertmanager` the
//! Alertmanager configuration (routes, receivers; secrets as file references). Without a
//! file, the predefined rules and default routing are used.
//!
//! ```text
//! cargo run -q --example alerting_export -- deploy/alerting/bitcraps-rules.yml > deploy/prometheus/bitcraps-alerts.yml
//! cargo run -q --example alerting_export -- --alertmanager deploy/alerting/bitcraps-rules.yml > deploy/alertmanager/alertmanager.yml
//! ```
//!
//! `--identity-labels node_id,region,zone` names the node's constant labels when they are
//! more than the default `node_id,region`. The memory rule is left out: its threshold
//! depends on the machine (see the README).

use bitcraps_otel::alerting::{
    alertmanager_yaml, parse_rules_with_env, prometheus_rules_with, AmConfigOptions, PromExportOptions, RuleSet,
};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut alertmanager = false;
    let mut path = None;
    let mut options = PromExportOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--alertmanager" => alertmanager = true,
            "--identity-labels" => match args.next() {
                Some(list) => options.identity_labels = list.split(',').map(|l| l.trim().to_string()).collect(),
                None => {
                    eprintln!("--identity-labels needs a comma-separated list");
                    return ExitCode::from(2);
                }
            },
            _ if path.is_none() => path = Some(a),
            other => {
                eprintln!("unexpected argument `{other}`");
                return ExitCode::from(2);
            }
        }
    }
    // Secrets stay `${VAR}` references: nothing generated here may hold their values.
    let keep_references = |var: &str| Some(format!("${{{var}}}"));
    let set = match &path {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(text) => match parse_rules_with_env(p, &text, &keep_references) {
                Ok(set) => set,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            },
            Err(e) => {
                eprintln!("{p}: cannot read: {e}");
                return ExitCode::from(2);
            }
        },
        None => RuleSet { predefined: true, ..Default::default() },
    };
    let out = if alertmanager {
        let mut registered = vec!["log".to_string()];
        registered.extend(set.channels.iter().map(|c| c.name.clone()));
        alertmanager_yaml(&set.routing, &set.channels, &registered, &AmConfigOptions::default())
    } else {
        prometheus_rules_with(&set.effective_rules(None), &options)
    };
    match out {
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
