//! The mesh's event loop: one task that owns the peers, the membership and the open rounds,
//! fed by the node's commands and by the inbound connections' events.

use super::backoff::Backoff;
use super::consensus::{quorum, Decision, RoundOutcome, Rounds};
use super::context;
use super::envelope::{Envelope, MessageKind};
use super::listener::Inbound;
use super::{MeshConfig, MeshStats};
use crate::metrics::Metrics;
use crate::semconv::{ConsensusRejectionReason, ConsensusVote, PeerTransport};
use crate::trace::{ConsensusSpan, Traces};
use bytes::Bytes;
use opentelemetry::Context;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What the node asks of the mesh.
pub(super) enum Command {
    /// Send a message to every connected peer, in the caller's context `cx`.
    Send { kind: MessageKind, id: u64, payload: Vec<u8>, cx: Context },
    /// Propose a consensus round, in the caller's context `cx`.
    Propose { cx: Context },
    /// End the open rounds' spans, close every connection, then say so.
    Close(tokio::sync::oneshot::Sender<()>),
}

pub(super) struct Core {
    node_id: String,
    advertised: SocketAddr,
    hello: Bytes,
    metrics: Metrics,
    config: MeshConfig,
    /// Outbound queues by peer listen address: every peer this node knows, connected or not.
    outbound: BTreeMap<SocketAddr, mpsc::Sender<Bytes>>,
    /// Inbound connections that said hello: (node id, listen address).
    present: BTreeMap<u64, (String, SocketAddr)>,
    /// Peer addresses that have been connected at least once.
    seen: BTreeSet<SocketAddr>,
    /// The node id last heard from each peer address.
    names: BTreeMap<SocketAddr, String>,
    rounds: Rounds,
    traces: Traces,
    /// The spans of the rounds still open.
    round_spans: HashMap<u64, ConsensusSpan>,
    /// Whether the current run of rounds ended for an away peer has been logged at WARN.
    away_warned: bool,
    stats: watch::Sender<MeshStats>,
    tasks: JoinSet<()>,
}

impl Core {
    pub(super) fn new(
        config: MeshConfig,
        advertised: SocketAddr,
        hello: Bytes,
        metrics: Metrics,
        traces: Traces,
        stats: watch::Sender<MeshStats>,
        tasks: JoinSet<()>,
    ) -> Core {
        let mut core = Core {
            node_id: config.node_id.clone(),
            advertised,
            hello,
            metrics,
            rounds: Rounds::new(config.round_timeout),
            traces,
            round_spans: HashMap::new(),
            outbound: BTreeMap::new(),
            present: BTreeMap::new(),
            seen: BTreeSet::new(),
            names: BTreeMap::new(),
            away_warned: false,
            stats,
            tasks,
            config,
        };
        for addr in core.config.peers.clone() {
            core.add_peer(addr);
        }
        core
    }

    /// Runs until the node drops its handle; every connection task ends with it.
    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>, mut inbound: mpsc::Receiver<Inbound>) {
        loop {
            let deadline = self.rounds.next_deadline();
            let far = Instant::now() + std::time::Duration::from_secs(3600);
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Close(done)) => {
                        self.close();
                        let _ = done.send(());
                        return;
                    }
                    Some(c) => self.command(c),
                    None => break,
                },
                Some(event) = inbound.recv() => self.inbound(event),
                _ = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => {
                    for d in self.rounds.expire(Instant::now()) {
                        self.decided(d, true);
                    }
                }
            }
        }
        self.close();
    }

    /// Rounds still open end here (their spans with outcome `other`), and so do the
    /// connections.
    fn close(&mut self) {
        self.round_spans.clear();
        self.tasks.abort_all();
    }

    fn add_peer(&mut self, addr: SocketAddr) {
        if addr == self.advertised || self.outbound.contains_key(&addr) {
            return;
        }
        let (tx, rx) = mpsc::channel(self.config.queue);
        self.outbound.insert(addr, tx);
        let backoff = Backoff::new(self.config.backoff_initial, self.config.backoff_max);
        self.tasks.spawn(super::peer::run(addr, self.hello.clone(), rx, self.metrics.clone(), backoff));
        self.publish();
    }

    /// Sends `envelope` to every peer, each copy in a `bitcraps.peer.send` span (a child of the
    /// current context) whose carrier is the copy's trace header.
    fn broadcast(&mut self, envelope: Envelope) {
        let kind = envelope.kind;
        let mut envelope = envelope;
        for (addr, queue) in &self.outbound {
            let name = self.names.get(addr).cloned().unwrap_or_else(|| addr.to_string());
            let span = self.traces.peer_send(&name, PeerTransport::Tcp, kind.semconv());
            span.set_body_size(envelope.payload.len());
            envelope.trace = context::inject(span.context());
            let bytes = match envelope.encode() {
                Ok(b) => Bytes::from(b),
                Err(e) => {
                    span.fail(e.to_string());
                    tracing::warn!(error = %e, kind = kind.as_str(), "peer message not sent: {e}");
                    return;
                }
            };
            // A peer that cannot keep up loses messages rather than stall the node.
            if queue.try_send(bytes).is_err() {
                span.fail("peer queue full or closed");
                tracing::debug!(peer = %addr, kind = kind.as_str(), "peer queue full or closed: message dropped");
            }
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Send { kind, id, payload, cx } => {
                let _cx = cx.attach();
                let envelope = Envelope::new(kind, self.node_id.clone(), id).with_payload(payload);
                self.broadcast(envelope);
            }
            Command::Propose { cx } => {
                let _cx = cx.attach();
                self.propose();
            }
            Command::Close(_) => {}
        }
    }

    fn present_addrs(&self) -> BTreeSet<SocketAddr> {
        self.present.values().map(|(_, a)| *a).collect()
    }

    fn present_names(&self) -> BTreeSet<String> {
        self.present.values().map(|(n, _)| n.clone()).collect()
    }

    fn propose(&mut self) {
        // Alone, or before every known peer has been here once, there is nobody to agree with.
        if self.outbound.is_empty() || !self.outbound.keys().all(|a| self.seen.contains(a)) {
            tracing::debug!("consensus round not proposed: the mesh has not formed yet");
            return;
        }
        let now = Instant::now();
        let members = self.outbound.len() + 1;
        let present = self.present_addrs();
        let missing: Vec<SocketAddr> = self.outbound.keys().filter(|a| !present.contains(a)).copied().collect();
        let round = self.rounds.open(now, members);
        let span = self.traces.consensus_round(round);
        span.propose();
        let mut own = span;
        own.vote(&self.node_id.clone(), ConsensusVote::Accept);
        self.round_spans.insert(round, own);
        if members - missing.len() < quorum(members) {
            let peer = self.names.get(&missing[0]).cloned().unwrap_or_else(|| missing[0].to_string());
            if let Some(d) = self.rounds.end(round, RoundOutcome::PeerLost { peer }, now) {
                self.decided(d, false);
            }
            return;
        }
        let cx = self.round_spans.get(&round).map(|s| s.context().clone()).unwrap_or_default();
        let _round = cx.attach();
        self.broadcast(Envelope::new(MessageKind::Propose, self.node_id.clone(), round));
    }

    fn inbound(&mut self, event: Inbound) {
        match event {
            Inbound::Up { conn, node, addr } => {
                self.present.insert(conn, (node.clone(), addr));
                self.seen.insert(addr);
                self.names.insert(addr, node);
                self.add_peer(addr);
                self.publish();
            }
            Inbound::Down { conn, reason } => {
                let Some((node, addr)) = self.present.remove(&conn) else { return };
                self.publish();
                if self.present.values().any(|(n, _)| *n == node) {
                    return; // a newer connection of the same peer is up
                }
                tracing::warn!(peer = %node, %addr, reason = %reason, "peer {node} went away ({reason})");
                for d in self.rounds.peer_lost(&node, &self.present_names(), Instant::now()) {
                    self.decided(d, true);
                }
            }
            Inbound::Message { conn, envelope } => {
                let Some((from, _)) = self.present.get(&conn).cloned() else { return };
                self.stats.send_modify(|s| s.messages_received += 1);
                self.message(from, envelope);
            }
        }
    }

    fn message(&mut self, from: String, envelope: Envelope) {
        let carrier = context::extract(&envelope.trace);
        let kind = envelope.kind;
        match kind {
            MessageKind::Vote if envelope.payload == self.node_id.as_bytes() => {
                // Votes fan in to the round: each receive is a child of the round, linked to
                // the voter's span, and the round links to it too.
                let Some(span) = self.round_spans.get_mut(&envelope.id) else { return };
                let cx = span.context().clone();
                let _round = cx.attach();
                let _receive = self.traces.peer_receive_linked(&from, PeerTransport::Tcp, kind.semconv(), &carrier);
                span.vote_from(&from, ConsensusVote::Accept, &carrier);
                if let Some((rtt, decided)) = self.rounds.vote(envelope.id, &from, Instant::now()) {
                    self.metrics.network().record_latency(rtt);
                    if let Some(d) = decided {
                        self.decided(d, true);
                    }
                }
            }
            MessageKind::Propose => {
                // The vote continues the proposer's trace; everyone hears it, the proposer
                // counts it.
                let receive = self.traces.peer_receive(&from, PeerTransport::Tcp, kind.semconv(), &carrier);
                receive.set_body_size(envelope.payload.len());
                let _in = receive.enter();
                let vote = Envelope::new(MessageKind::Vote, self.node_id.clone(), envelope.id)
                    .with_payload(envelope.sender.into_bytes());
                self.broadcast(vote);
            }
            _ => {
                let receive = self.traces.peer_receive(&from, PeerTransport::Tcp, kind.semconv(), &carrier);
                receive.set_body_size(envelope.payload.len());
            }
        }
    }

    /// Records a decided round; `held` says whether it was proposed to the peers (not ended
    /// at once for a peer already away).
    fn decided(&mut self, d: Decision, held: bool) {
        let consensus = self.metrics.consensus();
        consensus.record_latency(d.elapsed);
        let round = d.round;
        let span = self.round_spans.remove(&round);
        let cx = span.as_ref().map(|s| s.context().clone()).unwrap_or_default();
        let _round = cx.attach();
        match &d.outcome {
            RoundOutcome::Committed => {
                consensus.proposal_accepted();
                self.away_warned = false;
                self.broadcast(Envelope::new(MessageKind::Commit, self.node_id.clone(), round));
                if let Some(span) = span {
                    span.commit();
                }
                tracing::debug!(round, outcome = "committed", votes = d.votes, "consensus round {round} committed");
                self.stats.send_modify(|s| s.rounds_committed += 1);
            }
            RoundOutcome::Timeout => {
                consensus.proposal_rejected_for(ConsensusRejectionReason::Timeout);
                if let Some(span) = span {
                    span.reject(ConsensusRejectionReason::Timeout);
                }
                tracing::warn!(
                    round, outcome = "timeout", votes = d.votes, quorum = d.quorum,
                    "consensus round {round} ended without a decision: {} of {} votes before the timeout (outcome timeout)",
                    d.votes + 1, d.quorum
                );
                self.stats.send_modify(|s| s.rounds_timed_out += 1);
            }
            RoundOutcome::PeerLost { peer } => {
                consensus.proposal_rejected_for(ConsensusRejectionReason::PeerLost);
                if let Some(span) = span {
                    span.peer_lost(peer);
                }
                if held {
                    tracing::warn!(
                        round, outcome = "peer_lost", %peer, votes = d.votes, quorum = d.quorum,
                        "consensus round {round} ended without a decision: peer {peer} went away before voting (outcome peer_lost)"
                    );
                } else if !self.away_warned {
                    self.away_warned = true;
                    tracing::warn!(
                        round, outcome = "peer_lost", %peer, quorum = d.quorum,
                        "consensus round {round} ended without a decision: peer {peer} is away and the quorum needs it (outcome peer_lost); later rounds end the same way until it is back"
                    );
                } else {
                    tracing::debug!(round, outcome = "peer_lost", %peer, "consensus round {round} ended: peer {peer} is away");
                }
                self.stats.send_modify(|s| s.rounds_peer_lost += 1);
            }
        }
    }

    fn publish(&self) {
        let peers = self.present_names().len();
        let known = self.outbound.len();
        self.stats.send_modify(|s| {
            s.peers_connected = peers;
            s.peers_known = known;
        });
    }
}
