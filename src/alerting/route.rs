//! From alert states to notifications: routes (which alerts go where, grouped how),
//! escalation policies, dedup and repeat, and resolution notices; [`super::silence`] decides
//! which alerts stay quiet.

use super::notify::{AlertNotice, Notification};
use super::rule::LabelMatcher;
use super::silence::Silences;
use super::state::{AlertState, Entry, Fingerprint};
use super::AlertRule;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::time::Instant;

/// A step of an escalation policy: who is told once an alert has fired for `after`.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::alerting::{EscalationPolicy, EscalationTier};
/// // Chat first; page if nobody acknowledges within 5 minutes.
/// let page = EscalationPolicy::new(vec![
///     EscalationTier { after: Duration::from_secs(300), channels: vec!["pagerduty".into()] },
///     EscalationTier { after: Duration::ZERO, channels: vec!["slack".into()] },
/// ]);
/// assert_eq!(page.tiers[0].channels, ["slack"], "tiers are kept in order of `after`");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EscalationTier {
    /// Time since the alert fired before this tier is told (0 for the first tier).
    pub after: Duration,
    /// Channel names (as registered with `add_notifier`).
    pub channels: Vec<String>,
}

/// Tiers told in turn while an alert stays firing and unacknowledged.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::alerting::{EscalationPolicy, EscalationTier};
///
/// let policy = EscalationPolicy::new(vec![
///     EscalationTier { after: Duration::ZERO, channels: vec!["slack".into()] },
///     EscalationTier { after: Duration::from_secs(300), channels: vec!["pagerduty".into()] },
///     EscalationTier { after: Duration::from_secs(900), channels: vec!["sms".into()] },
/// ]);
/// assert_eq!(policy.tiers.len(), 3);
/// ```
///
/// ```
/// use std::collections::BTreeMap;
/// use std::time::Duration;
/// use bitcraps_otel::alerting::{EscalationPolicy, EscalationTier, RoutingConfig};
/// let chat = EscalationPolicy::new(vec![EscalationTier { after: Duration::ZERO, channels: vec!["log".into()] }]);
/// let routing = RoutingConfig { escalations: BTreeMap::from([("chat".to_string(), chat)]), ..Default::default() };
/// assert!(routing.escalations.contains_key("chat"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EscalationPolicy {
    /// The tiers, in order of `after`.
    pub tiers: Vec<EscalationTier>,
}

impl EscalationPolicy {
    /// A policy from tiers (sorted by `after`).
    pub fn new(mut tiers: Vec<EscalationTier>) -> Self {
        tiers.sort_by_key(|t| t.after);
        EscalationPolicy { tiers }
    }
}

/// Which alerts a route takes and how it groups and repeats them.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::alerting::{LabelMatcher, Route};
/// // Security alerts: no grouping delay, repeated every 30 minutes, through the `page` policy.
/// let security = Route {
///     matchers: vec![LabelMatcher::eq("category", "security")],
///     group_wait: Duration::ZERO,
///     repeat_interval: Duration::from_secs(1800),
///     escalation: "page".into(),
///     ..Default::default()
/// };
/// assert_eq!(security.group_by, ["category", "severity"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Alerts whose labels match all of these (empty: every alert).
    pub matchers: Vec<LabelMatcher>,
    /// Labels whose values form a group; a group's alerts go out together.
    pub group_by: Vec<String>,
    /// How long a new group waits for more alerts before its first notification.
    pub group_wait: Duration,
    /// Minimum time between notifications of new or resolved alerts of one group.
    pub group_interval: Duration,
    /// How often a still-firing, unacknowledged alert is told again on a channel.
    pub repeat_interval: Duration,
    /// Escalation policy name; empty: every registered channel at once.
    pub escalation: String,
}

impl Default for Route {
    fn default() -> Self {
        Route {
            matchers: Vec::new(),
            group_by: vec!["category".into(), "severity".into()],
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            escalation: String::new(),
        }
    }
}

/// Routes, the fallback route and named escalation policies.
///
/// ```
/// use std::collections::BTreeMap;
/// use bitcraps_otel::alerting::{LabelMatcher, Route, RoutingConfig};
/// let routing = RoutingConfig {
///     routes: vec![Route { matchers: vec![LabelMatcher::eq("category", "security")], ..Default::default() }],
///     ..Default::default()
/// };
/// let labels = BTreeMap::from([("category".to_string(), "security".to_string())]);
/// let (index, _route) = routing.route_for(&labels);
/// assert_eq!(index, Some(0), "the first matching route");
/// let other = BTreeMap::from([("category".to_string(), "gaming".to_string())]);
/// assert_eq!(routing.route_for(&other).0, None, "the default route");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoutingConfig {
    /// Tried in order; the first match takes the alert.
    pub routes: Vec<Route>,
    /// Takes alerts no route matched.
    pub default_route: Route,
    /// Policies by name.
    pub escalations: BTreeMap<String, EscalationPolicy>,
}

pub(crate) fn matches_map(matchers: &[LabelMatcher], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| {
        let found = labels.get(&m.name).map(String::as_str);
        match m.op {
            super::MatchOp::Equal => found == Some(m.value.as_str()),
            super::MatchOp::NotEqual => found != Some(m.value.as_str()),
        }
    })
}

/// A route (by index; `usize::MAX` for the default route) and its group label values.
type GroupKey = (usize, Vec<String>);

#[derive(Debug, Default)]
struct GroupState {
    first_pending: Option<Instant>,
    last_flush: Option<Instant>,
}

/// What one dispatch decided to send, for bookkeeping once sent.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) notification: Notification,
    group: (usize, Vec<String>),
    flushes_group: bool,
}

/// Routing state: groups and silences.
#[derive(Debug, Default)]
pub(crate) struct Router {
    pub(crate) config: RoutingConfig,
    pub(crate) silences: Silences,
    groups: HashMap<(usize, Vec<String>), GroupState>,
}

/// How long a failed channel waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(30);

impl Router {
    pub(crate) fn new(config: RoutingConfig) -> Router {
        Router { config, ..Default::default() }
    }

    fn route_of<'c>(config: &'c RoutingConfig, labels: &BTreeMap<String, String>) -> (usize, &'c Route) {
        config
            .routes
            .iter()
            .enumerate()
            .find(|(_, r)| matches_map(&r.matchers, labels))
            .unwrap_or((usize::MAX, &config.default_route))
    }

    /// Decides what to send at `now`. `channels` are the registered channel names.
    pub(crate) fn dispatch(
        &mut self,
        alerts: &mut HashMap<Fingerprint, Entry>,
        rules: &HashMap<&str, &AlertRule>,
        channels: &[String],
        now: Instant,
    ) -> Vec<Outgoing> {
        let wall = super::wallclock::wall(now);
        self.silences.gc(wall);
        let Router { config, silences, groups, .. } = self;
        let everyone = [EscalationTier { after: Duration::ZERO, channels: channels.to_vec() }];
        // (group, channel) -> notification under construction, plus whether it carries news.
        let mut out: BTreeMap<(GroupKey, String), (Notification, bool)> = BTreeMap::new();
        let mut fps: Vec<&Fingerprint> = alerts.keys().collect();
        fps.sort();
        let fps: Vec<Fingerprint> = fps.into_iter().copied().collect();
        for fp in fps {
            let Some(entry) = alerts.get_mut(&fp) else { continue };
            entry.silenced = silences.is_silenced(&entry.labels, wall);
            let (route_idx, route) = Self::route_of(config, &entry.labels);
            let group_values: Vec<String> =
                route.group_by.iter().map(|g| entry.labels.get(g).cloned().unwrap_or_default()).collect();
            let key = (route_idx, group_values);
            let tiers: &[EscalationTier] = match config.escalations.get(&route.escalation) {
                Some(p) => &p.tiers,
                None => &everyone,
            };
            // (channel, tier, is news)
            let mut due: Vec<(String, usize, bool)> = Vec::new();
            match entry.state {
                AlertState::Firing if !entry.silenced => {
                    let elapsed = entry.fired_at.map_or(Duration::ZERO, |f| now.saturating_duration_since(f));
                    let never_sent = entry.delivery.sent.is_empty();
                    for (ti, tier) in tiers.iter().enumerate() {
                        if elapsed < tier.after || (ti > 0 && entry.acknowledged) {
                            continue;
                        }
                        for ch in &tier.channels {
                            if entry.delivery.retry_at.get(ch).is_some_and(|t| *t > now) {
                                continue;
                            }
                            match entry.delivery.sent.get(ch) {
                                None => due.push((ch.clone(), ti, never_sent)),
                                Some(t)
                                    if !entry.acknowledged
                                        && now.saturating_duration_since(*t) >= route.repeat_interval =>
                                {
                                    due.push((ch.clone(), ti, false))
                                }
                                Some(_) => {}
                            }
                        }
                    }
                }
                AlertState::Resolved => {
                    for ch in &entry.delivery.resolution_due {
                        if entry.delivery.retry_at.get(ch).is_none_or(|t| *t <= now) {
                            due.push((ch.clone(), 0, true));
                        }
                    }
                }
                _ => {}
            }
            if due.is_empty() {
                continue;
            }
            let group = groups.entry(key.clone()).or_default();
            let has_news = due.iter().any(|(_, _, news)| *news);
            if has_news && group.first_pending.is_none() {
                group.first_pending = Some(now);
            }
            let ready = match (group.last_flush, group.first_pending) {
                (Some(last), _) => now.saturating_duration_since(last) >= route.group_interval,
                (None, Some(first)) => now.saturating_duration_since(first) >= route.group_wait,
                (None, None) => true,
            };
            let Some(rule) = rules.get(entry.rule.as_str()) else { continue };
            let notice = AlertNotice {
                fingerprint: fp,
                rule: entry.rule.clone(),
                labels: entry.labels.clone(),
                description: rule.description.clone(),
                severity: entry.severity,
                value: entry.value,
                threshold: rule.condition.threshold(),
                tags: rule.tags.clone(),
            };
            for (ch, tier, news) in due {
                if news && !ready {
                    continue;
                }
                let group_labels: BTreeMap<String, String> =
                    route.group_by.iter().cloned().zip(key.1.iter().cloned()).collect();
                let (n, carries_news) = out.entry((key.clone(), ch.clone())).or_insert_with(|| {
                    (
                        Notification {
                            channel: ch.clone(),
                            group: group_labels,
                            firing: Vec::new(),
                            resolved: Vec::new(),
                            escalation_tier: 0,
                        },
                        false,
                    )
                });
                *carries_news |= news;
                n.escalation_tier = n.escalation_tier.max(tier);
                if entry.state == AlertState::Resolved {
                    n.resolved.push(notice.clone());
                } else {
                    n.firing.push(notice.clone());
                }
            }
        }
        out.into_iter()
            .map(|((group, _), (notification, news))| Outgoing { notification, group, flushes_group: news })
            .collect()
    }

    /// Records what happened to `sent` (`ok` per notification, same order).
    pub(crate) fn record(&mut self, alerts: &mut HashMap<Fingerprint, Entry>, sent: &[(Outgoing, bool)], now: Instant) {
        for (o, ok) in sent {
            let ch = &o.notification.channel;
            if *ok && o.flushes_group {
                let g = self.groups.entry(o.group.clone()).or_default();
                g.last_flush = Some(now);
                g.first_pending = None;
            }
            for a in &o.notification.firing {
                if let Some(e) = alerts.get_mut(&a.fingerprint) {
                    if *ok {
                        e.delivery.sent.insert(ch.clone(), now);
                        e.delivery.retry_at.remove(ch);
                    } else {
                        e.delivery.retry_at.insert(ch.clone(), now + RETRY_AFTER);
                    }
                }
            }
            for a in &o.notification.resolved {
                if let Some(e) = alerts.get_mut(&a.fingerprint) {
                    if *ok {
                        e.delivery.resolution_due.remove(ch);
                    } else {
                        e.delivery.retry_at.insert(ch.clone(), now + RETRY_AFTER);
                    }
                }
            }
        }
        alerts.retain(|_, e| !e.is_done());
        // Groups with nothing left forget their timers, so a later storm waits group_wait again.
        let live: std::collections::HashSet<(usize, Vec<String>)> = alerts
            .values()
            .filter(|e| e.state != AlertState::Inactive)
            .map(|e| {
                let (i, r) = Self::route_of(&self.config, &e.labels);
                (i, r.group_by.iter().map(|g| e.labels.get(g).cloned().unwrap_or_default()).collect())
            })
            .collect();
        self.groups.retain(|k, _| live.contains(k));
    }
}

impl RoutingConfig {
    /// The route an alert with `labels` takes: the first of `routes` whose matchers all match
    /// (with its index), else the default route (`None`).
    ///
    /// ```
    /// use bitcraps_otel::alerting::{LabelMatcher, Route, RoutingConfig};
    ///
    /// let config = RoutingConfig {
    ///     routes: vec![Route { matchers: vec![LabelMatcher::eq("severity", "critical")], ..Route::default() }],
    ///     ..Default::default()
    /// };
    /// let labels = [("severity".to_string(), "critical".to_string())].into();
    /// assert_eq!(config.route_for(&labels).0, Some(0));
    /// assert_eq!(config.route_for(&Default::default()).0, None);
    /// ```
    pub fn route_for(&self, labels: &BTreeMap<String, String>) -> (Option<usize>, &Route) {
        match self.routes.iter().position(|r| matches_map(&r.matchers, labels)) {
            Some(i) => (Some(i), &self.routes[i]),
            None => (None, &self.default_route),
        }
    }

    /// The escalation tiers a firing alert with `labels` goes through. `registered` are the
    /// channel names known to the engine; a route without a policy tells them all at once.
    /// Kept in step with what `Router::dispatch` does.
    pub fn tiers_for(&self, labels: &BTreeMap<String, String>, registered: &[String]) -> Vec<EscalationTier> {
        let (_, route) = self.route_for(labels);
        match self.escalations.get(&route.escalation) {
            Some(policy) => policy.tiers.clone(),
            None => vec![EscalationTier { after: Duration::ZERO, channels: registered.to_vec() }],
        }
    }
}
