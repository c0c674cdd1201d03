//! Game instruments: games played and active, bets, volume, payouts, disputes, durations.

use super::{counter_by, histogram_by, up_down_by, CounterBy, HistogramBy, UpDownBy};
use crate::semconv::{metric, BetType, DisputeReason, GameType};
use opentelemetry::metrics::Meter;
use std::time::Duration;

/// Instruments of the game engine. Get it from [`super::Metrics::gaming`].
pub struct GamingMetrics {
    games: CounterBy<GameType>,
    active: UpDownBy<GameType>,
    duration: HistogramBy<GameType>,
    bets: CounterBy<BetType>,
    volume: CounterBy<BetType>,
    payouts: CounterBy<BetType>,
    disputes: CounterBy<DisputeReason>,
}

impl GamingMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        GamingMetrics {
            games: counter_by(meter, &metric::GAMES),
            active: up_down_by(meter, &metric::GAMES_ACTIVE),
            duration: histogram_by(meter, &metric::GAME_DURATION),
            bets: counter_by(meter, &metric::BETS),
            volume: counter_by(meter, &metric::BETTING_VOLUME),
            payouts: counter_by(meter, &metric::PAYOUTS),
            disputes: counter_by(meter, &metric::GAME_DISPUTES),
        }
    }

    /// A game began: one more active game.
    #[inline]
    pub fn game_started(&self, game_type: GameType) {
        self.active.get(game_type).add(1);
    }

    /// A game ended normally after `duration`: one fewer active, one more played.
    #[inline]
    pub fn game_completed(&self, game_type: GameType, duration: Duration) {
        self.active.get(game_type).add(-1);
        self.games.get(game_type).add(1);
        self.duration.get(game_type).record(duration.as_secs_f64());
    }

    /// A game ended without completing (all players left): one fewer active game.
    #[inline]
    pub fn game_abandoned(&self, game_type: GameType) {
        self.active.get(game_type).add(-1);
    }

    /// A bet of `amount` tokens whose type is not tracked (`bet_type="other"`).
    #[inline]
    pub fn bet_placed(&self, amount: u64) {
        self.bet_placed_on(BetType::Other, amount);
    }

    /// A bet of `amount` tokens on `bet_type`.
    #[inline]
    pub fn bet_placed_on(&self, bet_type: BetType, amount: u64) {
        self.bets.get(bet_type).add(1);
        self.volume.get(bet_type).add(amount);
    }

    /// `amount` tokens paid out on a winning `bet_type` bet.
    #[inline]
    pub fn payout(&self, bet_type: BetType, amount: u64) {
        self.payouts.get(bet_type).add(amount);
    }

    /// A player disputed a game outcome.
    #[inline]
    pub fn dispute(&self, reason: DisputeReason) {
        self.disputes.get(reason).add(1);
    }
}
