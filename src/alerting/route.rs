//! From alert states to notifications: routes (which alerts go where, grouped how),
//! escalation policies, dedup and repeat, and resolution notices; [`super::silence`] decides
//! which alerts stay quiet.

use super::inhibit::InhibitRule;
use super::notify::{AlertNotice, Notification};
use super::policy::{ChannelPolicy, RateLimiter};
use super::rule::LabelMatcher;
use super::silence::Silences;
use super::state::{AlertState, Entry, Fingerprint};
use super::AlertRule;
use std::borrow::Cow;
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
    /// Escalation policy name; empty: the default channels
    /// ([`RoutingConfig::default_channels`]) at once.
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
    /// Where the engine's own alerts go (`AlertDeliveryFailing`, raised when a channel
    /// cannot deliver). `None`: they are only logged and listed.
    pub fallback_channel: Option<String>,
    /// The channels a route without an escalation policy tells. `None`: every registered
    /// channel that no escalation policy names (so a pager kept for escalation is never
    /// paged by a route that did not ask for it).
    pub default_channels: Option<Vec<String>>,
    /// Alerts not notified while another alert fires (Alertmanager's inhibition).
    pub inhibit_rules: Vec<InhibitRule>,
    /// Per-channel policies (`send_resolved`, rate limit), by channel name; a channel not
    /// listed gets [`ChannelPolicy::default`].
    pub channel_policies: BTreeMap<String, ChannelPolicy>,
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

/// A route (by index; `usize::MAX` for the default route, [`META_ROUTE`] for the engine's
/// own alerts) and its group label values.
type GroupKey = (usize, Vec<String>);

/// The route index of the engine's own alerts (they go to the fallback channel only).
const META_ROUTE: usize = usize::MAX - 1;

#[derive(Debug, Default)]
struct GroupState {
    first_pending: Option<Instant>,
    last_flush: Option<Instant>,
}

/// One notification the router handed out, and what to do when its verdict comes back.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) notification: Notification,
    /// How long an undelivered alert waits before it is offered again (the route's
    /// `group_interval`).
    pub(crate) retry_after: Duration,
}

/// Routing state: groups, silences, and which channels are failing.
#[derive(Debug, Default)]
pub(crate) struct Router {
    pub(crate) config: RoutingConfig,
    pub(crate) silences: Silences,
    groups: HashMap<(usize, Vec<String>), GroupState>,
    /// Channels whose last delivery failed, with why (drives the delivery-failure alert).
    pub(crate) failing: super::meta::Failing,
    /// The node's own labels, on every alert the router makes itself.
    pub(crate) node: BTreeMap<String, String>,
    /// Recent sends of rate-limited channels.
    limiter: RateLimiter,
}

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

    /// The route of an alert: the fallback route for the engine's own alerts, else the first
    /// matching route, else the default route.
    fn route_for<'c>(config: &'c RoutingConfig, entry: &Entry) -> (usize, Cow<'c, Route>) {
        if super::meta::is_meta(entry) {
            let route =
                Route { group_by: vec!["channel".into()], group_wait: Duration::ZERO, ..config.default_route.clone() };
            return (META_ROUTE, Cow::Owned(route));
        }
        let (i, r) = Self::route_of(config, &entry.labels);
        (i, Cow::Borrowed(r))
    }

    /// Decides what to send at `now`. `channels` are the registered channel names. Every
    /// (alert, channel) handed out is in flight until [`Router::record`] has its verdict.
    pub(crate) fn dispatch(
        &mut self,
        alerts: &mut HashMap<Fingerprint, Entry>,
        rules: &HashMap<&str, &AlertRule>,
        channels: &[String],
        now: Instant,
    ) -> Vec<Outgoing> {
        let wall = super::wallclock::wall(now);
        self.silences.gc(wall);
        let Router { config, silences, groups, limiter, .. } = self;
        let defaults = [EscalationTier { after: Duration::ZERO, channels: config.default_channels_of(channels) }];
        let inhibitions = super::inhibit::inhibited(&config.inhibit_rules, alerts);
        // (group, channel) -> notification under construction, plus the retry interval.
        let mut out: BTreeMap<(GroupKey, String), (Notification, Duration)> = BTreeMap::new();
        let mut flushed: Vec<GroupKey> = Vec::new();
        let mut fps: Vec<&Fingerprint> = alerts.keys().collect();
        fps.sort();
        let fps: Vec<Fingerprint> = fps.into_iter().copied().collect();
        for fp in fps {
            let Some(entry) = alerts.get_mut(&fp) else { continue };
            entry.silenced = silences.is_silenced(&entry.labels, wall);
            entry.inhibited_by = inhibitions.get(&fp).cloned().unwrap_or_default();
            let (route_idx, route) = Self::route_for(config, entry);
            let group_values: Vec<String> =
                route.group_by.iter().map(|g| entry.labels.get(g).cloned().unwrap_or_default()).collect();
            let key = (route_idx, group_values);
            let fallback: Vec<EscalationTier>;
            let tiers: &[EscalationTier] = if route_idx == META_ROUTE {
                // Never to the failing channel itself: that would fail too, and loop.
                let failing = entry.labels.get("channel");
                fallback = config
                    .fallback_channel
                    .iter()
                    .filter(|f| Some(*f) != failing)
                    .map(|f| EscalationTier { after: Duration::ZERO, channels: vec![f.clone()] })
                    .collect();
                &fallback
            } else {
                match config.escalations.get(&route.escalation) {
                    Some(p) => &p.tiers,
                    None => &defaults,
                }
            };
            // A channel a reload removed has nobody left to tell of the resolution, and one
            // whose policy says so is not told.
            if entry.state == AlertState::Resolved {
                let policies = &config.channel_policies;
                entry
                    .delivery
                    .resolution_due
                    .retain(|ch| channels.contains(ch) && policies.get(ch).is_none_or(|p| p.send_resolved));
            }
            // (channel, tier, is news)
            let mut due: Vec<(String, usize, bool)> = Vec::new();
            let delivery = &entry.delivery;
            let waiting =
                |ch: &String| delivery.in_flight.contains(ch) || delivery.retry_at.get(ch).is_some_and(|t| *t > now);
            match entry.state {
                AlertState::Firing if !entry.silenced && entry.inhibited_by.is_empty() => {
                    let elapsed = entry.fired_at.map_or(Duration::ZERO, |f| now.saturating_duration_since(f));
                    for (ti, tier) in tiers.iter().enumerate() {
                        if elapsed < tier.after || (ti > 0 && entry.acknowledged) {
                            continue;
                        }
                        for ch in tier.channels.iter().filter(|ch| !waiting(ch)) {
                            match delivery.sent.get(ch) {
                                // First word to a first-tier channel waits for its group;
                                // an escalation goes out when its time comes.
                                None => due.push((ch.clone(), ti, ti == 0)),
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
                    for ch in delivery.resolution_due.iter().filter(|ch| !waiting(ch)) {
                        due.push((ch.clone(), 0, true));
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
            // A removed rule's alerts keep its description in `note`, for their resolve.
            let (description, threshold, tags) = match (rules.get(entry.rule.as_str()), &entry.note) {
                (Some(rule), _) if !super::meta::is_meta(entry) => {
                    (rule.description.clone(), rule.condition.threshold(), rule.tags.clone())
                }
                (_, Some(note)) => (note.clone(), None, Vec::new()),
                (_, None) => (String::new(), None, Vec::new()),
            };
            let notice = AlertNotice {
                fingerprint: fp,
                rule: entry.rule.clone(),
                labels: entry.labels.clone(),
                description,
                severity: entry.severity,
                value: entry.value,
                threshold,
                tags,
            };
            for (ch, tier, news) in due {
                if news && !ready {
                    continue;
                }
                if news && !flushed.contains(&key) {
                    flushed.push(key.clone());
                }
                let group_labels: BTreeMap<String, String> =
                    route.group_by.iter().cloned().zip(key.1.iter().cloned()).collect();
                let (n, _) = out.entry((key.clone(), ch.clone())).or_insert_with(|| {
                    (
                        Notification {
                            channel: ch.clone(),
                            group: group_labels,
                            firing: Vec::new(),
                            resolved: Vec::new(),
                            escalation_tier: 0,
                        },
                        route.group_interval,
                    )
                });
                n.escalation_tier = n.escalation_tier.max(tier);
                if entry.state == AlertState::Resolved {
                    n.resolved.push(notice.clone());
                } else {
                    n.firing.push(notice.clone());
                }
                entry.delivery.in_flight.insert(ch);
            }
        }
        // A group's timers run from when its news was handed out, whatever the verdict: a
        // failed alert is offered again by its own retry time, not by the group's.
        for key in flushed {
            let g = groups.entry(key).or_default();
            g.last_flush = Some(now);
            g.first_pending = None;
        }
        let mut outgoing: Vec<Outgoing> =
            out.into_values().map(|(notification, retry_after)| Outgoing { notification, retry_after }).collect();
        Self::limit_rates(config, limiter, &mut outgoing, alerts, now);
        outgoing
    }

    /// Holds back what a rate-limited channel has no room for, most severe first through;
    /// held alerts are no longer in flight, so a later cycle offers them again.
    fn limit_rates(
        config: &RoutingConfig,
        limiter: &mut RateLimiter,
        outgoing: &mut Vec<Outgoing>,
        alerts: &mut HashMap<Fingerprint, Entry>,
        now: Instant,
    ) {
        let top = |o: &Outgoing| o.notification.firing.iter().chain(&o.notification.resolved).map(|a| a.severity).max();
        outgoing.sort_by_key(|o| std::cmp::Reverse(top(o)));
        let mut held: BTreeMap<String, usize> = BTreeMap::new();
        outgoing.retain(|o| {
            let ch = &o.notification.channel;
            let Some(limit) = config.channel_policies.get(ch).and_then(|p| p.rate_limit) else { return true };
            if limiter.take(ch, &limit, now) {
                return true;
            }
            for a in o.notification.firing.iter().chain(&o.notification.resolved) {
                if let Some(e) = alerts.get_mut(&a.fingerprint) {
                    e.delivery.in_flight.remove(ch);
                }
            }
            *held.entry(ch.clone()).or_default() += 1;
            false
        });
        for (ch, n) in held {
            if let Some(limit) = config.channel_policies.get(&ch).and_then(|p| p.rate_limit) {
                limiter.log_held(&ch, n, &limit, now);
            }
        }
    }

    /// Takes a channel's verdict on one notification: confirmed alerts are marked told (or
    /// their resolution done), the others are offered again after `retry_after`, and the
    /// channel's failing state (and its delivery-failure alert) follows the verdict.
    pub(crate) fn record(
        &mut self,
        alerts: &mut HashMap<Fingerprint, Entry>,
        sent: &Outgoing,
        report: &super::DeliveryReport,
        now: Instant,
    ) {
        let n = &sent.notification;
        let ch = &n.channel;
        let retry_at = now.checked_add(sent.retry_after).unwrap_or(now);
        for (a, firing) in n.firing.iter().map(|a| (a, true)).chain(n.resolved.iter().map(|a| (a, false))) {
            let Some(e) = alerts.get_mut(&a.fingerprint) else { continue };
            e.delivery.in_flight.remove(ch);
            let delivered = report.delivered.contains(&a.fingerprint);
            if !delivered {
                e.delivery.retry_at.insert(ch.clone(), retry_at);
                continue;
            }
            e.delivery.retry_at.remove(ch);
            match (firing, e.state) {
                (true, AlertState::Firing) => {
                    e.delivery.sent.insert(ch.clone(), now);
                }
                // It resolved while the firing was on its way: the channel now believes it
                // fires, so it must hear of the resolution too.
                (true, _) => {
                    e.delivery.resolution_due.insert(ch.clone());
                }
                (false, _) => {
                    e.delivery.resolution_due.remove(ch);
                }
            }
        }
        match &report.error {
            Some(err) => {
                self.failing.insert(ch.clone(), err.to_string());
            }
            None => {
                self.failing.remove(ch);
            }
        }
        // A channel with nothing left to offer is not failing any more.
        self.failing.retain(|c, _| {
            alerts.values().any(|e| e.delivery.retry_at.contains_key(c) || e.delivery.in_flight.contains(c))
        });
        super::meta::sync(alerts, &self.failing, &self.node, now);
        self.forget_done(alerts);
    }

    /// Drops finished alerts and the groups nothing is left in, so a later storm waits
    /// `group_wait` again.
    pub(crate) fn forget_done(&mut self, alerts: &mut HashMap<Fingerprint, Entry>) {
        alerts.retain(|_, e| !e.is_done());
        let live: std::collections::HashSet<(usize, Vec<String>)> = alerts
            .values()
            .filter(|e| e.state != AlertState::Inactive)
            .map(|e| {
                let (i, r) = Self::route_for(&self.config, e);
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
            None => vec![EscalationTier { after: Duration::ZERO, channels: self.default_channels_of(registered) }],
        }
    }

    /// The channels a route without an escalation policy tells, of the `registered` ones:
    /// [`default_channels`](Self::default_channels) when set, else every registered channel
    /// no escalation policy names.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bitcraps_otel::alerting::{EscalationPolicy, EscalationTier, RoutingConfig};
    ///
    /// let mut config = RoutingConfig::default();
    /// config.escalations.insert("page".into(), EscalationPolicy::new(vec![
    ///     EscalationTier { after: Duration::from_secs(300), channels: vec!["pagerduty".into()] },
    /// ]));
    /// let registered = ["log".to_string(), "pagerduty".to_string(), "slack".to_string()];
    /// assert_eq!(config.default_channels_of(&registered), ["log", "slack"]);
    /// ```
    pub fn default_channels_of(&self, registered: &[String]) -> Vec<String> {
        match &self.default_channels {
            Some(list) => list.clone(),
            None => {
                let escalating: std::collections::BTreeSet<&String> =
                    self.escalations.values().flat_map(|p| p.tiers.iter().flat_map(|t| &t.channels)).collect();
                registered.iter().filter(|c| !escalating.contains(c)).cloned().collect()
            }
        }
    }
}
