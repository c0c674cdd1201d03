//! Consensus rounds as the proposer sees them: open a round, count the votes that come back,
//! and decide it: committed on quorum, or ended by a timeout or a lost peer.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

/// How a consensus round ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoundOutcome {
    /// A quorum voted for it and the proposer committed it.
    Committed,
    /// The votes did not reach a quorum before the round's deadline.
    Timeout,
    /// A peer whose vote the quorum needed went away (or was away) before voting.
    PeerLost {
        /// The lost peer's node id (or address, if it never said its id).
        peer: String,
    },
}

impl RoundOutcome {
    /// `committed`, `timeout` or `peer_lost`: the outcome as logs and span attributes say it.
    pub fn as_str(&self) -> &'static str {
        match self {
            RoundOutcome::Committed => "committed",
            RoundOutcome::Timeout => "timeout",
            RoundOutcome::PeerLost { .. } => "peer_lost",
        }
    }
}

/// A decided round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The round number.
    pub round: u64,
    /// How it ended.
    pub outcome: RoundOutcome,
    /// From proposal to decision.
    pub elapsed: Duration,
    /// Votes received, the proposer's own not included.
    pub votes: usize,
    /// Votes needed, the proposer's own included.
    pub quorum: usize,
}

/// The votes a round needs among `members` nodes (the proposer included): more than two
/// thirds, so every node of a 3-node mesh and 3 of 4.
///
/// ```
/// use bitcraps_otel::mesh::quorum;
/// assert_eq!((quorum(1), quorum(2), quorum(3), quorum(4), quorum(7)), (1, 2, 3, 3, 5));
/// ```
pub fn quorum(members: usize) -> usize {
    members * 2 / 3 + 1
}

struct Round {
    started: Instant,
    deadline: Instant,
    quorum: usize,
    votes: BTreeSet<String>,
}

/// The rounds this node proposed and has not decided yet.
pub(crate) struct Rounds {
    next: u64,
    open: BTreeMap<u64, Round>,
    timeout: Duration,
}

impl Rounds {
    /// No open round; each one lasts at most `timeout`.
    pub(crate) fn new(timeout: Duration) -> Rounds {
        Rounds { next: 1, open: BTreeMap::new(), timeout }
    }

    /// Opens a round among `members` nodes (this one included); its number.
    pub(crate) fn open(&mut self, now: Instant, members: usize) -> u64 {
        let round = self.next;
        self.next += 1;
        let q = quorum(members);
        self.open
            .insert(round, Round { started: now, deadline: now + self.timeout, quorum: q, votes: BTreeSet::new() });
        round
    }

    /// Counts `voter`'s vote for `round`: the time since the proposal (the vote's round trip)
    /// and the decision if the vote made the quorum. `None` for a round that is not open (late
    /// or unknown) or a repeated vote.
    pub(crate) fn vote(&mut self, round: u64, voter: &str, now: Instant) -> Option<(Duration, Option<Decision>)> {
        let r = self.open.get_mut(&round)?;
        if !r.votes.insert(voter.to_string()) {
            return None;
        }
        let rtt = now.saturating_duration_since(r.started);
        let decided = (1 + r.votes.len() >= r.quorum).then(|| self.decide(round, RoundOutcome::Committed, now));
        Some((rtt, decided.flatten()))
    }

    /// Ends a round at once (it cannot be held, e.g. a member is already away).
    pub(crate) fn end(&mut self, round: u64, outcome: RoundOutcome, now: Instant) -> Option<Decision> {
        self.decide(round, outcome, now)
    }

    /// `peer` went away; `present` are the peers still connected. Ends every open round that
    /// can no longer reach its quorum because `peer` had not voted.
    pub(crate) fn peer_lost(&mut self, peer: &str, present: &BTreeSet<String>, now: Instant) -> Vec<Decision> {
        let doomed: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, r)| !r.votes.contains(peer))
            .filter(|(_, r)| 1 + r.votes.len() + present.iter().filter(|p| !r.votes.contains(*p)).count() < r.quorum)
            .map(|(n, _)| *n)
            .collect();
        doomed
            .into_iter()
            .filter_map(|n| self.decide(n, RoundOutcome::PeerLost { peer: peer.to_string() }, now))
            .collect()
    }

    /// Ends every round whose deadline has passed.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Decision> {
        let late: Vec<u64> = self.open.iter().filter(|(_, r)| r.deadline <= now).map(|(n, _)| *n).collect();
        late.into_iter().filter_map(|n| self.decide(n, RoundOutcome::Timeout, now)).collect()
    }

    /// The earliest deadline of an open round.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.open.values().map(|r| r.deadline).min()
    }

    fn decide(&mut self, round: u64, outcome: RoundOutcome, now: Instant) -> Option<Decision> {
        let r = self.open.remove(&round)?;
        Some(Decision {
            round,
            outcome,
            elapsed: now.saturating_duration_since(r.started),
            votes: r.votes.len(),
            quorum: r.quorum,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_round_commits_on_the_last_needed_vote_and_only_once() {
        let t0 = Instant::now();
        let mut rounds = Rounds::new(Duration::from_secs(2));
        let r = rounds.open(t0, 3);
        let (rtt, decided) = rounds.vote(r, "b", t0 + Duration::from_millis(4)).expect("counted");
        assert_eq!((rtt, decided), (Duration::from_millis(4), None));
        assert_eq!(rounds.vote(r, "b", t0), None, "a repeated vote is not counted");
        let (_, decided) = rounds.vote(r, "c", t0 + Duration::from_millis(9)).expect("counted");
        let d = decided.expect("quorum of 3 reached");
        assert_eq!(
            (d.outcome, d.elapsed, d.votes, d.quorum),
            (RoundOutcome::Committed, Duration::from_millis(9), 2, 3)
        );
        assert_eq!(rounds.vote(r, "d", t0), None, "a late vote finds no round");
        assert_eq!(rounds.next_deadline(), None);
    }

    #[test]
    fn a_peer_lost_before_voting_ends_the_rounds_that_needed_it() {
        let t0 = Instant::now();
        let mut rounds = Rounds::new(Duration::from_secs(2));
        let voted = rounds.open(t0, 3);
        let waiting = rounds.open(t0, 3);
        rounds.vote(voted, "c", t0);
        let ended = rounds.peer_lost("c", &set(&["b"]), t0 + Duration::from_millis(30));
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert_eq!(ended[0].round, waiting);
        assert_eq!(ended[0].outcome, RoundOutcome::PeerLost { peer: "c".into() });
        assert_eq!(ended[0].outcome.as_str(), "peer_lost");
        // `voted` already had c's vote; b can still complete it.
        assert!(rounds.vote(voted, "b", t0).and_then(|(_, d)| d).is_some());
        // With 4 members a lost peer still leaves 3 of 4 reachable.
        let mut four = Rounds::new(Duration::from_secs(2));
        let spare = four.open(t0, 4);
        assert!(four.peer_lost("c", &set(&["b", "d"]), t0).is_empty());
        assert!(four.peer_lost("d", &set(&["b"]), t0).iter().any(|d| d.round == spare));
    }

    #[test]
    fn rounds_past_their_deadline_time_out() {
        let t0 = Instant::now();
        let mut rounds = Rounds::new(Duration::from_secs(2));
        let r = rounds.open(t0, 3);
        assert_eq!(rounds.next_deadline(), Some(t0 + Duration::from_secs(2)));
        assert!(rounds.expire(t0 + Duration::from_millis(1999)).is_empty());
        let ended = rounds.expire(t0 + Duration::from_secs(2));
        assert_eq!((ended[0].round, &ended[0].outcome), (r, &RoundOutcome::Timeout));
    }
}
