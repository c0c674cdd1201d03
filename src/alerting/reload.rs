//! Putting a rules file in force, and doing it again: every rule compiled, every bound and
//! every channel checked and built before anything is replaced, then rules, routing and
//! the file's channels swapped together. The file is read and parsed on a blocking thread,
//! never on a runtime worker.

use super::cycle::lock;
use super::limits::{at_most, MAX_ESCALATION_AFTER, MAX_GROUP_INTERVAL, MAX_REPEAT_INTERVAL};
use super::route::{Route, RoutingConfig};
use super::rule::CompiledRule;
use super::{AlertError, AlertingSystem, RuleSet};
use std::collections::BTreeMap;
use std::path::Path;
use tokio::time::Instant;

impl RoutingConfig {
    /// Checks every bound of the routes and escalation policies (see
    /// [`limits`](super::limits)); the error names the field.
    pub fn validate(&self) -> Result<(), AlertError> {
        let route = |name: String, r: &Route| -> Result<(), AlertError> {
            for (field, value, max) in [
                ("group_wait", r.group_wait, MAX_GROUP_INTERVAL),
                ("group_interval", r.group_interval, MAX_GROUP_INTERVAL),
                ("repeat_interval", r.repeat_interval, MAX_REPEAT_INTERVAL),
            ] {
                at_most(value, max)
                    .map_err(|reason| AlertError::InvalidRouting { field: format!("{name}.{field}"), reason })?;
            }
            Ok(())
        };
        for (i, r) in self.routes.iter().enumerate() {
            route(format!("routes[{i}]"), r)?;
        }
        route("default_route".into(), &self.default_route)?;
        for (name, policy) in &self.escalations {
            for (t, tier) in policy.tiers.iter().enumerate() {
                at_most(tier.after, MAX_ESCALATION_AFTER).map_err(|reason| AlertError::InvalidRouting {
                    field: format!("escalations.{name}[{t}].after"),
                    reason,
                })?;
            }
        }
        Ok(())
    }
}

impl AlertingSystem {
    /// Puts a rules file in force: its rules (the predefined ones too, unless the file says
    /// otherwise), its routing and its channels, all at once. Everything is checked and
    /// every channel built first; if anything fails, nothing changes and the error says
    /// what. Channels registered in code (not by a file) stay; a file's channels replace the
    /// previous file's (an unchanged one keeps its queue and counters).
    ///
    /// Alerts of a rule that was removed or disabled resolve at once (their resolve is
    /// sent); a changed rule's alerts resolve at its next evaluation unless the new
    /// definition still fires them. No alert is left firing that no rule evaluates.
    pub fn apply(&self, set: &RuleSet) -> Result<(), AlertError> {
        self.apply_with(set, |_| {})
    }

    /// [`apply`](Self::apply), with a last say over the effective rules (the predefined
    /// ones and the file's) before they are checked: an application can label them, say.
    ///
    /// ```
    /// use bitcraps_otel::alerting::{AlertingConfig, AlertingSystem, RuleSet};
    ///
    /// let system = AlertingSystem::new(AlertingConfig { predefined_rules: false, ..Default::default() });
    /// let set = RuleSet { predefined: true, ..Default::default() };
    /// system.apply_with(&set, |rules| {
    ///     for r in rules.iter_mut() {
    ///         r.options.labels.insert("team".into(), "tables".into());
    ///     }
    /// })?;
    /// assert!(system.rules().iter().all(|r| r.options.labels["team"] == "tables"));
    /// # Ok::<(), bitcraps_otel::alerting::AlertError>(())
    /// ```
    pub fn apply_with(
        &self,
        set: &RuleSet,
        adjust: impl FnOnce(&mut Vec<super::RuleDefinition>),
    ) -> Result<(), AlertError> {
        let mut effective = set.effective_rules(super::predefined::memory_limit_bytes());
        adjust(&mut effective);
        let rules = effective.into_iter().map(CompiledRule::compile).collect::<Result<Vec<_>, _>>()?;
        let routing = set.effective_routing();
        routing.validate()?;
        let shared = &self.shared;
        let mut built = BTreeMap::new();
        {
            let previous = lock(&shared.file_channels);
            let notifiers = lock(&shared.notifiers);
            for c in &set.channels {
                let unchanged = previous.get(&c.name) == Some(c);
                let notifier = match notifiers.get(&c.name) {
                    Some(n) if unchanged => n.clone(),
                    _ => c.build()?,
                };
                built.insert(c.name.clone(), (c.clone(), notifier));
            }
        }
        {
            let mut previous = lock(&shared.file_channels);
            let mut notifiers = lock(&shared.notifiers);
            for name in previous.keys() {
                notifiers.remove(name);
            }
            previous.clear();
            for (name, (config, notifier)) in built {
                notifiers.insert(name.clone(), notifier);
                previous.insert(name, config);
            }
        }
        let mut core = lock(&shared.core);
        core.evaluator.replace_rules(rules, Instant::now());
        core.router.config = routing;
        shared.touch();
        Ok(())
    }

    /// Reads a rules file (on a blocking thread) and [`apply`](Self::apply)s it; on any
    /// error the rules, routing and channels in force stay.
    pub async fn reload_file(&self, path: impl AsRef<Path>) -> Result<(), AlertError> {
        let path = path.as_ref().to_path_buf();
        let set = tokio::task::spawn_blocking(move || super::load_rules_file(&path))
            .await
            .map_err(|e| AlertError::Panicked(format!("reading the rules file: {e}")))??;
        self.apply(&set)
    }

    /// [`reload_file`](Self::reload_file) for code that is not async (it parses on the
    /// calling thread).
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<(), AlertError> {
        let set = super::load_rules_file(path)?;
        self.apply(&set)
    }
}
