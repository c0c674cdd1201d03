//! A craps table: games made of come-out and point rolls, bets resolved by the dice.

use crate::metrics::Metrics;
use crate::semconv::{BetType, DisputeOutcome, DisputeReason, GameOutcome, GameType};
use crate::trace::{GameSpan, Traces};
use rand::rngs::StdRng;
use rand::Rng;
use std::time::Duration;

struct Game {
    id: u64,
    kind: GameType,
    started: f64,
    point: Option<u8>,
    shooters_left: u8,
    bets: Vec<(BetType, u64)>,
    /// The game's `bitcraps.game` span, when the simulator traces.
    span: Option<GameSpan>,
}

/// Games in progress on this node, and a simulated clock in seconds.
#[derive(Default)]
pub(super) struct Table {
    games: Vec<Game>,
    pub(super) clock: f64,
    pub(super) completed: u64,
    pub(super) bets: u64,
    /// Games started, for their ids.
    started: u64,
    pub(super) traces: Option<Traces>,
    /// Payouts made so far (the peer traffic reports each roll's new ones).
    pub(super) payouts: u64,
    /// The game the last operation touched, if any: (id, kind).
    pub(super) touched: Option<(u64, GameType)>,
}

const MAX_GAMES: usize = 12;

impl Table {
    pub(super) fn start_game(&mut self, m: &Metrics, rng: &mut StdRng) {
        self.touched = None;
        if self.games.len() >= MAX_GAMES {
            return;
        }
        let kind = [
            GameType::Cash,
            GameType::Cash,
            GameType::Cash,
            GameType::Tournament,
            GameType::Private,
            GameType::Practice,
        ][rng.random_range(0..6)];
        m.gaming().game_started(kind);
        self.started += 1;
        self.touched = Some((self.started, kind));
        let span = self.traces.as_ref().map(|t| t.game(&format!("game_{}", self.started), kind));
        self.games.push(Game {
            id: self.started,
            kind,
            started: self.clock,
            point: None,
            shooters_left: rng.random_range(1..=3),
            bets: Vec::new(),
            span,
        });
    }

    pub(super) fn bet(&mut self, m: &Metrics, rng: &mut StdRng) {
        if self.games.is_empty() {
            self.start_game(m, rng);
        }
        let i = rng.random_range(0..self.games.len());
        let game = &mut self.games[i];
        // Line bets are only made on the come-out roll; the rest any time.
        let bet_type = match (game.point, rng.random_range(0..10)) {
            (None, 0..=4) => BetType::PassLine,
            (None, 5) => BetType::DontPass,
            (Some(_), 0..=2) => BetType::Come,
            (Some(_), 3) => BetType::DontCome,
            (_, 6) => BetType::Field,
            (_, 7) => BetType::Place,
            (_, 8) => BetType::Hardway,
            _ => BetType::Proposition,
        };
        let amount = [1, 5, 5, 10, 10, 25, 25, 50, 100, 500][rng.random_range(0..10)];
        m.gaming().bet_placed_on(bet_type, amount);
        if let Some(span) = &game.span {
            span.bet(bet_type, amount);
        }
        game.bets.push((bet_type, amount));
        self.touched = Some((game.id, game.kind));
        self.bets += 1;
    }

    pub(super) fn roll(&mut self, m: &Metrics, rng: &mut StdRng) {
        if self.games.is_empty() {
            self.start_game(m, rng);
            return;
        }
        let i = rng.random_range(0..self.games.len());
        let (d1, d2): (u8, u8) = (rng.random_range(1..=6), rng.random_range(1..=6));
        let sum = d1 + d2;
        let game = &mut self.games[i];
        let touched = Some((game.id, game.kind));
        if let Some(span) = &game.span {
            span.roll(sum);
        }
        settle_one_roll_bets(game, m, d1, d2, &mut self.payouts);
        let seven_out = match game.point {
            None => {
                match sum {
                    7 | 11 => settle_line(game, m, true, &mut self.payouts),
                    2 | 3 | 12 => settle_line(game, m, false, &mut self.payouts),
                    p => game.point = Some(p),
                }
                false
            }
            Some(p) if sum == p => {
                settle_line(game, m, true, &mut self.payouts);
                game.point = None;
                false
            }
            Some(_) if sum == 7 => {
                settle_line(game, m, false, &mut self.payouts);
                game.point = None;
                true
            }
            Some(_) => false,
        };
        if seven_out {
            game.shooters_left = game.shooters_left.saturating_sub(1);
            if game.shooters_left == 0 {
                let game = self.games.swap_remove(i);
                self.finish(game, m, rng);
            }
        }
        self.touched = touched;
    }

    /// Traces games from now on, starting spans for the games already open.
    pub(super) fn trace_games(&mut self, traces: Traces) {
        for game in self.games.iter_mut().filter(|g| g.span.is_none()) {
            game.span = Some(traces.game(&format!("game_{}", game.id), game.kind));
        }
        self.traces = Some(traces);
    }

    /// A game in progress, for work (a consensus round) that belongs to one.
    pub(super) fn any_game_span(&self, rng: &mut StdRng) -> Option<&GameSpan> {
        if self.games.is_empty() {
            return None;
        }
        self.games[rng.random_range(0..self.games.len())].span.as_ref()
    }

    /// The span of game `id`, while it is in progress and traced.
    pub(super) fn game_span(&self, id: u64) -> Option<&GameSpan> {
        self.games.iter().find(|g| g.id == id).and_then(|g| g.span.as_ref())
    }

    fn finish(&mut self, mut game: Game, m: &Metrics, rng: &mut StdRng) {
        // The rest of the game's work (and its log lines) happens inside its span.
        let entered = game.span.as_ref().map(|s| s.enter());
        // A handful of games end with every player gone, and a few with a dispute.
        let mut outcome = if rng.random_bool(0.03) {
            m.gaming().game_abandoned(game.kind);
            GameOutcome::Abandoned
        } else {
            let elapsed = (self.clock - game.started).max(0.0);
            m.gaming().game_completed(game.kind, Duration::from_secs_f64(elapsed));
            self.completed += 1;
            GameOutcome::Completed
        };
        if rng.random_bool(0.02) {
            let reason = [DisputeReason::DiceCommitment, DisputeReason::PayoutMismatch, DisputeReason::Timeout]
                [rng.random_range(0..3)];
            m.gaming().dispute(reason);
            outcome = GameOutcome::Disputed;
            let dispute = self.traces.as_ref().map(|t| t.dispute(&format!("game_{}", game.id), reason));
            let upheld = rng.random_bool(0.3);
            tracing::info!(simulated = true, reason = %reason, upheld, "game outcome disputed");
            if let Some(d) = dispute {
                d.resolve(if upheld { DisputeOutcome::Upheld } else { DisputeOutcome::Dismissed });
            }
        }
        drop(entered);
        if let Some(span) = game.span.as_mut() {
            span.set_outcome(outcome);
        }
        if self.games.is_empty() {
            self.start_game(m, rng);
        }
    }
}

/// Pays winning pass/come bets (or don't-pass/don't-come ones) and clears the line.
fn settle_line(game: &mut Game, m: &Metrics, pass_wins: bool, payouts: &mut u64) {
    let span = game.span.as_ref();
    game.bets.retain(|&(t, amount)| {
        let wins = match t {
            BetType::PassLine | BetType::Come | BetType::Place => pass_wins,
            BetType::DontPass | BetType::DontCome => !pass_wins,
            _ => return true,
        };
        if wins {
            m.gaming().payout(t, amount * 2);
            *payouts += 1;
            if let Some(span) = span {
                span.payout(t, amount * 2);
            }
        }
        false
    });
}

/// Field, hardway and proposition bets resolve on the next roll.
fn settle_one_roll_bets(game: &mut Game, m: &Metrics, d1: u8, d2: u8, payouts: &mut u64) {
    let sum = d1 + d2;
    let span = game.span.as_ref();
    game.bets.retain(|&(t, amount)| {
        let multiple = match t {
            BetType::Field => match sum {
                2 | 12 => 3,
                3 | 4 | 9 | 10 | 11 => 2,
                _ => 0,
            },
            BetType::Hardway if d1 == d2 && (4..=10).contains(&sum) => 8,
            BetType::Hardway => 0,
            BetType::Proposition if sum == 2 || sum == 12 => 31,
            BetType::Proposition => 0,
            _ => return true,
        };
        if multiple > 0 {
            m.gaming().payout(t, amount * multiple);
            *payouts += 1;
            if let Some(span) = span {
                span.payout(t, amount * multiple);
            }
        }
        false
    });
}
