//! Game instruments: games played and active, bets, volume, payouts, disputes, durations.

use super::{CounterSeries, HistogramRegistry, HistogramSeries, UpDownSeries};
use crate::semconv::{metric, BetType, DisputeReason, GameType};
use opentelemetry::metrics::Meter;
use std::time::Duration;

/// Instruments of the game engine. Get it from [`super::Metrics::gaming`].
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::export::prometheus::PrometheusBridge;
/// use bitcraps_otel::metrics::Metrics;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// let (bridge, reader) = PrometheusBridge::new([])?;
/// let provider = SdkMeterProvider::builder().with_reader(reader).build();
/// let metrics = Metrics::new(&provider, Default::default());
/// bridge.attach(&metrics); // the histograms, which live outside the SDK
/// use bitcraps_otel::semconv::{BetType, GameType};
/// let gaming = metrics.gaming();
/// gaming.game_started(GameType::Cash);
/// gaming.bet_placed_on(BetType::PassLine, 25);
/// gaming.payout(BetType::PassLine, 50);
/// gaming.game_completed(GameType::Cash, Duration::from_secs(95));
/// let text = bridge.render();
/// assert!(text.contains("bitcraps_bets_total{bet_type=\"pass_line\"} 1"));
/// assert!(text.contains("bitcraps_betting_volume_total{bet_type=\"pass_line\"} 25"));
/// assert!(text.contains("bitcraps_games_active{game_type=\"cash\"} 0"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GamingMetrics {
    games: CounterSeries<GameType>,
    active: UpDownSeries<GameType>,
    duration: HistogramSeries<GameType>,
    bets: CounterSeries<BetType>,
    volume: CounterSeries<BetType>,
    payouts: CounterSeries<BetType>,
    disputes: CounterSeries<DisputeReason>,
}

impl GamingMetrics {
    pub(crate) fn new(meter: &Meter, histograms: &mut HistogramRegistry) -> Self {
        GamingMetrics {
            games: CounterSeries::by(meter, &metric::GAMES),
            active: UpDownSeries::by(meter, &metric::GAMES_ACTIVE),
            duration: HistogramSeries::by(histograms, &metric::GAME_DURATION),
            bets: CounterSeries::by(meter, &metric::BETS),
            volume: CounterSeries::by(meter, &metric::BETTING_VOLUME),
            payouts: CounterSeries::by(meter, &metric::PAYOUTS),
            disputes: CounterSeries::by(meter, &metric::GAME_DISPUTES),
        }
    }

    /// A game began: one more active game.
    #[inline]
    pub fn game_started(&self, game_type: GameType) {
        self.active.add(game_type, 1);
    }

    /// A game ended normally after `duration`: one fewer active, one more played.
    #[inline]
    pub fn game_completed(&self, game_type: GameType, duration: Duration) {
        self.active.add(game_type, -1);
        self.games.add_for(game_type, 1);
        self.duration.record_for(game_type, duration.as_secs_f64());
    }

    /// A game ended without completing (all players left): one fewer active game.
    #[inline]
    pub fn game_abandoned(&self, game_type: GameType) {
        self.active.add(game_type, -1);
    }

    /// A bet of `amount` tokens whose type is not tracked (`bet_type="other"`).
    #[inline]
    pub fn bet_placed(&self, amount: u64) {
        self.bet_placed_on(BetType::Other, amount);
    }

    /// A bet of `amount` tokens on `bet_type`.
    #[inline]
    pub fn bet_placed_on(&self, bet_type: BetType, amount: u64) {
        self.bets.add_for(bet_type, 1);
        self.volume.add_for(bet_type, amount);
    }

    /// `amount` tokens paid out on a winning `bet_type` bet.
    #[inline]
    pub fn payout(&self, bet_type: BetType, amount: u64) {
        self.payouts.add_for(bet_type, amount);
    }

    /// A player disputed a game outcome.
    #[inline]
    pub fn dispute(&self, reason: DisputeReason) {
        self.disputes.add_for(reason, 1);
    }
}
