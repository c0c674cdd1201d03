//! The simulated BitCraps node: games, bets, payouts, disputes, consensus rounds, peer
//! traffic and cache lookups at a configurable rate, recorded only through [`Metrics`].
//!
//! ```
//! use std::time::Duration;
//! use bitcraps_otel::metrics::Metrics;
//! use bitcraps_otel::sim::{SimConfig, Simulator};
//! use opentelemetry_sdk::metrics::SdkMeterProvider;
//!
//! let provider = SdkMeterProvider::builder().build();
//! let metrics = Metrics::new(&provider, Default::default());
//! let mut sim = Simulator::new(metrics, SimConfig { rate: 500.0, seed: Some(7) });
//! sim.advance(Duration::from_secs(2));
//! assert!(sim.stats().events > 500);
//! ```

mod activity;
mod table;

pub use activity::{Activity, PeerTraffic};

use crate::metrics::Metrics;
use crate::semconv::{
    AttributeEnum, CacheName, ConsensusRejectionReason, ConsensusVote, ErrorCategory, ErrorSeverity, OperationName,
    PeerTransport,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use std::time::Duration;
use table::Table;

/// Most events [`Simulator::run`] generates per 50 ms tick: past it the simulation falls
/// behind the asked rate instead of holding a runtime worker (and so shutdown) for seconds.
pub const MAX_EVENTS_PER_TICK: u64 = 20_000;
/// The highest rate [`Simulator::run`] keeps up with: [`MAX_EVENTS_PER_TICK`] every 50 ms.
pub const MAX_RATE: f64 = MAX_EVENTS_PER_TICK as f64 * 20.0;

/// How busy the simulated node is.
///
/// ```
/// use bitcraps_otel::sim::SimConfig;
/// // A busy, reproducible node.
/// let config = SimConfig { rate: 2_000.0, seed: Some(42) };
/// assert_eq!(SimConfig::default().rate, 50.0);
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Mean events per second (Poisson arrivals).
    pub rate: f64,
    /// Seed for a reproducible run; `None` seeds from the OS.
    pub seed: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig { rate: 50.0, seed: None }
    }
}

/// What the simulator has done so far.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::metrics::Metrics;
/// use bitcraps_otel::sim::{SimConfig, Simulator};
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// let provider = SdkMeterProvider::builder().build();
/// let mut sim = Simulator::new(Metrics::new(&provider, Default::default()), SimConfig { rate: 1_000.0, seed: Some(1) });
/// sim.advance(Duration::from_secs(10));
/// let stats = sim.stats();
/// assert!(stats.events > 9_000 && stats.rounds > 0 && stats.peers >= 2);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Events generated.
    pub events: u64,
    /// Games completed.
    pub games_completed: u64,
    /// Bets placed.
    pub bets: u64,
    /// Consensus rounds run.
    pub rounds: u64,
    /// Open peer connections.
    pub peers: u64,
    /// Incidents injected: consensus forks, security events, critical errors.
    pub incidents: u64,
}

/// Drives a simulated node. Call [`Simulator::advance`] with elapsed time, or
/// [`Simulator::run`] to drive it from a tokio interval.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::metrics::Metrics;
/// use bitcraps_otel::sim::{SimConfig, Simulator};
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let provider = SdkMeterProvider::builder().build();
/// let sim = Simulator::new(Metrics::new(&provider, Default::default()), SimConfig { rate: 500.0, seed: Some(7) })
///     .without_incidents(); // no forks, security events or critical errors
/// let progress = sim.progress();
/// // Real time, until the stop future resolves.
/// let stats = sim.run(tokio::time::sleep(Duration::from_millis(300))).await;
/// assert_eq!(stats.incidents, 0);
/// assert_eq!(progress.borrow().events, stats.events.min(progress.borrow().events));
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Simulator {
    metrics: Metrics,
    rng: StdRng,
    until_next: f64,
    rate: f64,
    table: Table,
    connections: Vec<PeerTransport>,
    stats: SimStats,
    /// Whether forks, security events and critical errors are injected.
    incidents: bool,
    /// Incident kinds already announced at WARN (later ones go to DEBUG).
    announced: Vec<&'static str>,
    progress: tokio::sync::watch::Sender<SimStats>,
    /// Where game and consensus activity goes when a real mesh carries the peer traffic.
    peer_traffic: Option<PeerTraffic>,
}

/// Relative weights of the event kinds; peer traffic dominates, errors are rare.
const WEIGHTS: [(Event, u32); 9] = [
    (Event::Send, 30),
    (Event::Receive, 30),
    (Event::Bet, 14),
    (Event::Roll, 8),
    (Event::Round, 10),
    (Event::Cache, 15),
    (Event::Churn, 2),
    (Event::NewGame, 2),
    (Event::Error, 1),
];

#[derive(Clone, Copy, Debug)]
enum Event {
    Send,
    Receive,
    Bet,
    Roll,
    Round,
    Cache,
    Churn,
    NewGame,
    Error,
}

impl Simulator {
    /// A simulator recording into `metrics`.
    pub fn new(metrics: Metrics, config: SimConfig) -> Simulator {
        let mut rng = match config.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        let rate = if config.rate.is_finite() && config.rate > 0.0 { config.rate } else { 1.0 };
        let until_next = next_arrival(&mut rng, rate);
        let mut sim = Simulator {
            metrics,
            rng,
            until_next,
            rate,
            table: Table::default(),
            connections: Vec::new(),
            stats: SimStats::default(),
            incidents: true,
            announced: Vec::new(),
            progress: tokio::sync::watch::Sender::new(SimStats::default()),
            peer_traffic: None,
        };
        // A node joins the mesh with a few peers and a game or two.
        for _ in 0..4 {
            sim.open_connection();
        }
        sim.table.start_game(&sim.metrics, &mut sim.rng);
        sim
    }

    /// Counts so far.
    pub fn stats(&self) -> SimStats {
        SimStats {
            games_completed: self.table.completed,
            bets: self.table.bets,
            peers: self.connections.len() as u64,
            ..self.stats
        }
    }

    /// Opens typed spans for its work: a `bitcraps.game` span per game (bets, rolls and payouts
    /// as events), a `bitcraps.consensus.round` span per round inside a game's, and a
    /// `bitcraps.dispute` span per dispute. The consensus latency is recorded inside the round,
    /// so its exemplar points at it, and the simulator's log lines carry the ids.
    pub fn with_traces(mut self, traces: crate::trace::Traces) -> Simulator {
        self.table.trace_games(traces);
        self
    }

    /// Injects no incidents: no consensus forks, no security events (invalid signatures) and
    /// no critical errors, so no alert fires on them.
    pub fn without_incidents(mut self) -> Simulator {
        self.incidents = false;
        self
    }

    /// Hands the peer traffic to a real mesh: every game start, bet, roll, payout and consensus
    /// round goes to `traffic` as an [`Activity`], and the simulator itself records no
    /// network metrics and no consensus round (the mesh records them from real messages).
    /// Its simulated peer connections are closed.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use bitcraps_otel::metrics::Metrics;
    /// use bitcraps_otel::sim::{Activity, SimConfig, Simulator};
    /// use opentelemetry_sdk::metrics::SdkMeterProvider;
    ///
    /// let provider = SdkMeterProvider::builder().build();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&seen);
    /// let mut sim = Simulator::new(Metrics::new(&provider, Default::default()), SimConfig { rate: 500.0, seed: Some(3) })
    ///     .with_peer_traffic(Box::new(move |a: Activity| log.lock().unwrap().push(a)));
    /// sim.advance(Duration::from_secs(2));
    /// let seen = seen.lock().unwrap();
    /// assert!(seen.iter().any(|a| matches!(a, Activity::ConsensusRound)));
    /// assert!(seen.iter().any(|a| matches!(a, Activity::Bet { .. })));
    /// assert_eq!(sim.stats().peers, 0);
    /// ```
    pub fn with_peer_traffic(mut self, traffic: PeerTraffic) -> Simulator {
        for t in self.connections.drain(..) {
            self.metrics.network().connection_closed(t);
        }
        self.peer_traffic = Some(traffic);
        self
    }

    /// Passes `activity` to the mesh, if one carries the peer traffic.
    /// Inside the game's span (when tracing), so the messages it sends join the game's trace;
    /// a consensus round joins a game in progress, as simulated rounds do.
    fn tell(&mut self, activity: Activity) {
        let Some(traffic) = self.peer_traffic.as_mut() else { return };
        let span = match activity {
            Activity::GameStarted { game, .. }
            | Activity::Bet { game, .. }
            | Activity::Roll { game, .. }
            | Activity::Payout { game, .. } => self.table.game_span(game),
            Activity::ConsensusRound => self.table.any_game_span(&mut self.rng),
        };
        let _entered = span.map(|s| s.enter());
        traffic(activity);
    }

    /// The game the table last touched, as an activity.
    fn touched(&self, make: impl FnOnce(u64, crate::semconv::GameType) -> Activity) -> Option<Activity> {
        self.table.touched.map(|(id, kind)| make(id, kind))
    }

    /// The counts as [`Simulator::run`] goes, updated every tick.
    pub fn progress(&self) -> tokio::sync::watch::Receiver<SimStats> {
        self.progress.subscribe()
    }

    /// Counts an injected incident; the first of each kind is announced at WARN, labelled as
    /// simulated, so nobody mistakes the alert that follows for a real one.
    fn incident(&mut self, kind: &'static str) {
        self.stats.incidents += 1;
        if self.announced.contains(&kind) {
            tracing::debug!(simulated = true, incident = kind, "simulated incident injected: {kind}");
        } else {
            self.announced.push(kind);
            tracing::warn!(
                simulated = true,
                incident = kind,
                "simulated incident injected: {kind} (the simulator makes these on purpose; alerts on them are expected)"
            );
        }
    }

    /// Runs every event that falls within the next `elapsed`.
    pub fn advance(&mut self, elapsed: Duration) {
        self.advance_at_most(elapsed, u64::MAX);
    }

    /// Like [`Simulator::advance`], but runs at most `max_events`; the rest of `elapsed` passes
    /// with no events (the simulation falls behind rather than catch up).
    fn advance_at_most(&mut self, elapsed: Duration, max_events: u64) {
        let mut left = elapsed.as_secs_f64();
        let mut budget = max_events;
        while self.until_next <= left {
            if budget == 0 {
                self.table.clock += left;
                self.until_next = next_arrival(&mut self.rng, self.rate);
                return;
            }
            budget -= 1;
            left -= self.until_next;
            self.table.clock += self.until_next;
            self.until_next = next_arrival(&mut self.rng, self.rate);
            self.event();
        }
        self.table.clock += left;
        self.until_next -= left;
    }

    /// Drives the simulation in real time until `stop` resolves.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) -> SimStats {
        let tick = Duration::from_millis(50);
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        let mut last = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = interval.tick() => {
                    let now = tokio::time::Instant::now();
                    self.advance_at_most(now - last, MAX_EVENTS_PER_TICK);
                    last = now;
                    self.progress.send_replace(self.stats());
                }
            }
        }
        self.stats()
    }

    fn event(&mut self) {
        self.stats.events += 1;
        let total: u32 = WEIGHTS.iter().map(|(_, w)| w).sum();
        let mut pick = self.rng.random_range(0..total);
        let mut event = Event::Send;
        for (e, w) in WEIGHTS {
            if pick < w {
                event = e;
                break;
            }
            pick -= w;
        }
        if self.peer_traffic.is_some() && self.peer_event(event) {
            return;
        }
        let m = &self.metrics;
        match event {
            Event::Send => {
                let t = transport(&mut self.rng);
                m.network().message_sent(t);
                m.network().record_latency(Duration::from_secs_f64(latency(&mut self.rng, t)));
            }
            Event::Receive => m.network().message_received(transport(&mut self.rng)),
            Event::Bet => self.table.bet(m, &mut self.rng),
            Event::Roll => self.table.roll(m, &mut self.rng),
            Event::NewGame => self.table.start_game(m, &mut self.rng),
            Event::Round => self.consensus_round(),
            Event::Cache => {
                let (cache, hit_rate) = *pick_weighted(
                    &mut self.rng,
                    &[
                        ((CacheName::GameState, 0.92), 5),
                        ((CacheName::Peer, 0.75), 3),
                        ((CacheName::Signature, 0.6), 3),
                        ((CacheName::Asset, 0.97), 1),
                    ],
                );
                if self.rng.random_bool(hit_rate) {
                    m.mobile().cache_hit(cache);
                } else {
                    m.mobile().cache_miss(cache);
                }
            }
            Event::Churn => {
                if self.connections.len() > 2 && self.rng.random_bool(0.5) {
                    let i = self.rng.random_range(0..self.connections.len());
                    let t = self.connections.swap_remove(i);
                    m.network().connection_closed(t);
                } else if self.connections.len() < 24 {
                    self.open_connection();
                }
            }
            Event::Error => {
                let m = m.clone();
                let category = ErrorCategory::ALL[self.rng.random_range(0..ErrorCategory::ALL.len() - 1)];
                let severity = *pick_weighted(
                    &mut self.rng,
                    &[
                        (ErrorSeverity::Low, 50),
                        (ErrorSeverity::Warning, 35),
                        (ErrorSeverity::High, 12),
                        (ErrorSeverity::Critical, 3),
                    ],
                );
                let incident = category == ErrorCategory::Security || severity == ErrorSeverity::Critical;
                match (incident, self.incidents) {
                    (false, _) => m.errors().record(category, severity),
                    (true, true) => {
                        m.errors().record(category, severity);
                        self.incident(if category == ErrorCategory::Security {
                            "security error"
                        } else {
                            "critical error"
                        });
                    }
                    // An ordinary error in its place keeps the error rate's shape.
                    (true, false) => m.errors().record(
                        if category == ErrorCategory::Security { ErrorCategory::Network } else { category },
                        ErrorSeverity::Warning,
                    ),
                }
            }
        }
    }

    /// An event when a mesh carries the peer traffic: game events are played and told to the
    /// mesh, consensus rounds are left to it, simulated messages and churn do not happen.
    /// `false` for the events that stay as they are (cache lookups, errors).
    fn peer_event(&mut self, event: Event) -> bool {
        let m = &self.metrics;
        let activity = match event {
            Event::Send | Event::Receive | Event::Churn => None,
            Event::Round => {
                self.stats.rounds += 1;
                Some(Activity::ConsensusRound)
            }
            Event::Bet => {
                self.table.bet(m, &mut self.rng);
                self.touched(|game, game_type| Activity::Bet { game, game_type })
            }
            Event::NewGame => {
                self.table.start_game(m, &mut self.rng);
                self.touched(|game, game_type| Activity::GameStarted { game, game_type })
            }
            Event::Roll => {
                let before = self.table.payouts;
                self.table.roll(m, &mut self.rng);
                let paid = self.table.payouts - before;
                if let (Some(roll), true) =
                    (self.touched(|game, game_type| Activity::Roll { game, game_type }), paid > 0)
                {
                    self.tell(roll);
                    self.touched(|game, game_type| Activity::Payout { game, game_type, count: paid })
                } else {
                    self.touched(|game, game_type| Activity::Roll { game, game_type })
                }
            }
            Event::Cache | Event::Error => return false,
        };
        if let Some(a) = activity {
            self.tell(a);
        }
        true
    }

    fn open_connection(&mut self) {
        let t = transport(&mut self.rng);
        self.connections.push(t);
        self.metrics.network().connection_opened(t);
    }

    fn consensus_round(&mut self) {
        // The round runs inside a game's span (when tracing), so the game's trace holds it.
        let game = self.table.any_game_span(&mut self.rng).map(|g| g.enter());
        let round = self.table.traces.as_ref().map(|t| t.consensus_round(self.stats.rounds + 1));
        let entered = round.as_ref().map(|r| r.enter());
        let outcome = self.consensus_round_inner();
        drop(entered);
        if let Some(mut round) = round {
            round.propose();
            // This node and three simulated voters.
            for peer in ["self", "peer_1", "peer_2", "peer_3"] {
                let vote = if outcome.is_none() { ConsensusVote::Accept } else { ConsensusVote::Reject };
                round.vote(peer, vote);
            }
            match outcome {
                None => round.commit(),
                Some(reason) => round.reject(reason),
            }
        }
        drop(game);
    }

    /// One round's metrics and incidents; the rejection reason, `None` when it committed.
    fn consensus_round_inner(&mut self) -> Option<ConsensusRejectionReason> {
        let incidents = self.incidents;
        self.stats.rounds += 1;
        // Rounds settle in tens of milliseconds, with a long tail when votes straggle.
        let decided = LogNormal::new((0.06f64).ln(), 0.7).map_or(0.06, |d| d.sample(&mut self.rng));
        let decided = Duration::from_secs_f64(decided.min(30.0));
        self.metrics.consensus().record_latency(decided);
        // What `log_performance!("consensus_decision", ..)` records in a real node.
        self.metrics.events().operation(OperationName::ConsensusDecision, decided);
        let mut rejected = None;
        if self.rng.random_bool(0.96) {
            self.metrics.consensus().proposal_accepted();
        } else {
            let reason = *pick_weighted(
                &mut self.rng,
                &[
                    (ConsensusRejectionReason::Timeout, 5),
                    (ConsensusRejectionReason::StaleRound, 3),
                    (ConsensusRejectionReason::Conflict, 2),
                    (ConsensusRejectionReason::InvalidSignature, if incidents { 1 } else { 0 }),
                ],
            );
            self.metrics.consensus().proposal_rejected_for(reason);
            rejected = Some(reason);
            if reason == ConsensusRejectionReason::InvalidSignature {
                self.metrics.errors().record(ErrorCategory::Security, ErrorSeverity::High);
                self.incident("invalid signature (security event)");
            }
        }
        if self.rng.random_bool(0.003) && incidents {
            self.metrics.consensus().fork_detected();
            self.metrics.errors().record(ErrorCategory::Consensus, ErrorSeverity::Critical);
            self.incident("consensus fork");
        }
        tracing::debug!(simulated = true, accepted = rejected.is_none(), "consensus round decided");
        rejected
    }
}

fn transport(rng: &mut StdRng) -> PeerTransport {
    *pick_weighted(
        rng,
        &[(PeerTransport::Ble, 45), (PeerTransport::Tcp, 35), (PeerTransport::Udp, 15), (PeerTransport::WifiDirect, 5)],
    )
}

/// Exponential inter-arrival time of a Poisson process with `rate` events per second.
fn next_arrival(rng: &mut StdRng, rate: f64) -> f64 {
    let u: f64 = rng.random();
    -(1.0 - u).ln() / rate
}

/// Round-trip time in seconds: BLE is slow and jittery, TCP and UDP quicker.
fn latency(rng: &mut StdRng, t: PeerTransport) -> f64 {
    let (median, sigma) = match t {
        PeerTransport::Ble => (0.045, 0.6),
        PeerTransport::WifiDirect => (0.012, 0.5),
        PeerTransport::Tcp => (0.020, 0.5),
        PeerTransport::Udp | PeerTransport::Other => (0.008, 0.4),
    };
    LogNormal::new(f64::ln(median), sigma).map_or(median, |d| d.sample(rng)).min(10.0)
}

fn pick_weighted<'a, T>(rng: &mut StdRng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total.max(1));
    for (item, w) in items {
        if pick < *w {
            return item;
        }
        pick -= w;
    }
    &items[items.len() - 1].0
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::metrics::SdkMeterProvider;

    #[derive(Clone, Debug, Default)]
    struct Kept(std::sync::Arc<std::sync::Mutex<Vec<opentelemetry_sdk::trace::SpanData>>>);
    impl opentelemetry_sdk::trace::SpanProcessor for Kept {
        fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}
        fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(span);
        }
        fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
            Ok(())
        }
    }

    #[test]
    fn traced_rounds_run_inside_games_and_their_latency_exemplars_point_at_them() {
        let kept = Kept::default();
        let tracer_provider =
            opentelemetry_sdk::trace::SdkTracerProvider::builder().with_span_processor(kept.clone()).build();
        let metrics = Metrics::new(&SdkMeterProvider::builder().build(), Default::default());
        let mut sim = Simulator::new(metrics.clone(), SimConfig { rate: 1_000.0, seed: Some(3) })
            .with_traces(crate::trace::Traces::new(&tracer_provider));
        sim.advance(Duration::from_secs(30));
        drop(sim); // ends the games still open
        let spans = kept.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let games: std::collections::HashSet<_> =
            spans.iter().filter(|s| s.name == "bitcraps.game").map(|s| s.span_context.span_id()).collect();
        let rounds: Vec<_> = spans.iter().filter(|s| s.name == "bitcraps.consensus.round").collect();
        assert!(!games.is_empty() && rounds.len() > 10, "{} games, {} rounds", games.len(), rounds.len());
        assert!(rounds.iter().all(|r| games.contains(&r.parent_span_id)), "every round is inside a game");
        let round_ids: std::collections::HashSet<_> =
            rounds.iter().map(|r| r.span_context.span_id().to_bytes()).collect();
        let mut families = Vec::new();
        metrics.histogram_source().collect(&mut families);
        let latency =
            families.iter().find(|f| f.def.name == crate::semconv::metric::CONSENSUS_LATENCY.name).expect("latency");
        let exemplars: Vec<_> = latency.points.iter().flat_map(|p| &p.exemplars).collect();
        assert!(!exemplars.is_empty());
        assert!(exemplars.iter().all(|e| round_ids.contains(&e.span_id)), "exemplars point at consensus rounds");
    }

    fn sim(rate: f64) -> Simulator {
        let provider = SdkMeterProvider::builder().build();
        Simulator::new(Metrics::new(&provider, Default::default()), SimConfig { rate, seed: Some(1) })
    }

    #[test]
    fn a_bounded_advance_stops_at_its_budget_and_drops_the_backlog() {
        let mut s = sim(1e9);
        s.advance_at_most(Duration::from_secs(1), 1_000);
        assert_eq!(s.stats().events, 1_000);
        // The skipped second is not owed later.
        s.advance_at_most(Duration::from_nanos(1), 1_000);
        assert!(s.stats().events <= 1_002, "{}", s.stats().events);
    }

    #[tokio::test(start_paused = true)]
    async fn run_at_a_billion_events_per_second_stops_when_asked() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(sim(1e9).run(async move {
            let _ = rx.await;
        }));
        tokio::time::sleep(Duration::from_millis(120)).await;
        let _ = tx.send(());
        let stats = run.await.expect("the simulation task ended");
        assert!(stats.events >= MAX_EVENTS_PER_TICK, "it ran: {}", stats.events);
        assert!(stats.events <= 4 * MAX_EVENTS_PER_TICK, "each tick is bounded: {}", stats.events);
    }
}
