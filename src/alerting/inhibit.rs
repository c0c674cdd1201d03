//! Inhibition, as Alertmanager has it: while an alert matching a rule's source matchers
//! fires, alerts matching its target matchers that have the same values for its `equal`
//! labels are not notified (their state is kept, and they are told once released). Losing
//! the network then pages once, for the cause, not again for each symptom.

use super::matcher::Matcher;
use super::state::{AlertState, Entry, Fingerprint};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One inhibition rule.
///
/// ```
/// use bitcraps_otel::alerting::{InhibitRule, Matcher};
///
/// // No peer at all makes "no peer messages" a symptom, not news — on the same node.
/// let rule = InhibitRule {
///     source: vec![Matcher::eq("alertname", "NoPeerConnections")?],
///     target: vec![Matcher::eq("alertname", "NoPeerMessages")?],
///     equal: vec!["node_id".into()],
/// };
/// assert_eq!(rule.target[0].to_string(), "alertname=\"NoPeerMessages\"");
/// # Ok::<(), bitcraps_otel::alerting::MatcherError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InhibitRule {
    /// A firing alert matching all of these inhibits...
    pub source: Vec<Matcher>,
    /// ...alerts matching all of these...
    pub target: Vec<Matcher>,
    /// ...that have the same value for each of these labels (a label missing on both counts
    /// as the same, as in Alertmanager).
    pub equal: Vec<String>,
}

impl InhibitRule {
    fn key(&self, labels: &BTreeMap<String, String>) -> Vec<Option<String>> {
        self.equal.iter().map(|l| labels.get(l).filter(|v| !v.is_empty()).cloned()).collect()
    }
}

/// For every alert inhibited now, the fingerprints of the firing alerts inhibiting it. An
/// alert never inhibits itself.
pub(crate) fn inhibited(
    rules: &[InhibitRule],
    alerts: &HashMap<Fingerprint, Entry>,
) -> HashMap<Fingerprint, Vec<Fingerprint>> {
    let mut out: HashMap<Fingerprint, Vec<Fingerprint>> = HashMap::new();
    for rule in rules {
        // The sources of this rule by their `equal` values: one pass over the alerts, so a
        // storm costs alerts × rules, not alerts².
        let mut sources: HashMap<Vec<Option<String>>, Vec<Fingerprint>> = HashMap::new();
        for (fp, e) in alerts.iter().filter(|(_, e)| e.state == AlertState::Firing) {
            if rule.source.iter().all(|m| m.matches(&e.labels)) {
                sources.entry(rule.key(&e.labels)).or_default().push(*fp);
            }
        }
        if sources.is_empty() {
            continue;
        }
        for (fp, e) in alerts {
            if !rule.target.iter().all(|m| m.matches(&e.labels)) {
                continue;
            }
            if let Some(by) = sources.get(&rule.key(&e.labels)) {
                let by: Vec<Fingerprint> = by.iter().filter(|s| *s != fp).copied().collect();
                if !by.is_empty() {
                    let seen: HashSet<Fingerprint> =
                        out.get(fp).map(|v| v.iter().copied().collect()).unwrap_or_default();
                    out.entry(*fp).or_default().extend(by.into_iter().filter(|s| !seen.contains(s)));
                }
            }
        }
    }
    out
}
