//! The node's periodic one-line summary: events per second, games, bets, consensus rounds,
//! peers, simulated incidents and firing alerts, so a terminal shows the node is alive.

use bitcraps_otel::alerting::{AlertState, AlertingSystem};
use bitcraps_otel::sim::SimStats;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How the summary is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A sentence, for people (the numbers are in the message, not repeated as fields).
    Sentence,
    /// A short message with every number as a field, for log pipelines.
    Fields,
}

/// Logs a summary every `every` until the task is dropped.
pub fn spawn(
    every: Duration,
    style: Style,
    mut progress: watch::Receiver<SimStats>,
    alerting: Option<Arc<AlertingSystem>>,
    mesh: Option<watch::Receiver<bitcraps_otel::mesh::MeshStats>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = *progress.borrow_and_update();
        let mut last_at = tokio::time::Instant::now();
        loop {
            ticks.tick().await;
            let mut now = *progress.borrow_and_update();
            // With a mesh, the peers are the real ones connected to this node.
            if let Some(mesh) = &mesh {
                now.peers = mesh.borrow().peers_connected as u64;
            }
            let at = tokio::time::Instant::now();
            let secs = at.duration_since(last_at).as_secs_f64().max(1e-3);
            let rate = now.events.saturating_sub(last.events) as f64 / secs;
            let firing = firing_rules(alerting.as_deref());
            log(style, rate, &now, &firing);
            (last, last_at) = (now, at);
        }
    })
}

/// Names of the rules with a firing alert, each once, most severe first.
fn firing_rules(alerting: Option<&AlertingSystem>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for alert in alerting.map(AlertingSystem::alerts).unwrap_or_default() {
        if alert.state == AlertState::Firing && !names.contains(&alert.rule) {
            names.push(alert.rule);
        }
    }
    names
}

fn log(style: Style, rate: f64, s: &SimStats, firing: &[String]) {
    match style {
        Style::Sentence => {
            let alerts = match firing {
                [] => "none".to_string(),
                names => names.join(", "),
            };
            tracing::info!(
                "{rate:.0} events/s | games played {} | bets {} | consensus rounds {} | peers {} | simulated incidents {} | alerts firing: {alerts}",
                s.games_completed,
                s.bets,
                s.rounds,
                s.peers,
                s.incidents,
            );
        }
        Style::Fields => tracing::info!(
            events_per_second = (rate * 10.0).round() / 10.0,
            games = s.games_completed,
            bets = s.bets,
            consensus_rounds = s.rounds,
            peers = s.peers,
            simulated_incidents = s.incidents,
            alerts_firing = firing.len(),
            firing = %firing.join(","),
            "summary"
        ),
    }
}
