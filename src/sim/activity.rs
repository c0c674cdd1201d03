//! What the simulated node tells a real peer mesh: the game and consensus activity that
//! becomes peer messages when `bitcraps-node` runs with peers.

use crate::semconv::GameType;

/// One piece of simulated activity that peers hear about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// A game started.
    GameStarted {
        /// The game's id, unique on this node.
        game: u64,
        /// What kind of game.
        game_type: GameType,
    },
    /// A bet was placed in a game.
    Bet {
        /// The game's id.
        game: u64,
        /// What kind of game.
        game_type: GameType,
    },
    /// The dice were rolled in a game.
    Roll {
        /// The game's id.
        game: u64,
        /// What kind of game.
        game_type: GameType,
    },
    /// A roll paid out winning bets.
    Payout {
        /// The game's id.
        game: u64,
        /// What kind of game.
        game_type: GameType,
        /// How many bets it paid.
        count: u64,
    },
    /// The node wants a consensus round (the mesh runs it with its peers).
    ConsensusRound,
}

/// Where a simulator with peers sends its [`Activity`] (see
/// [`Simulator::with_peer_traffic`](super::Simulator::with_peer_traffic)). Called on the
/// simulator's task, so it must not block.
pub type PeerTraffic = Box<dyn FnMut(Activity) + Send>;
