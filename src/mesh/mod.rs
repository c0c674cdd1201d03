//! The peer mesh: BitCraps nodes exchanging game, bet and consensus messages over TCP, and
//! the network and consensus metrics that real traffic produces.
//!
//! Transport and wire format:
//! - TCP, one connection per direction: each node dials every peer it knows and writes its
//!   messages there; it reads what its peers send on the connections it accepts. A node
//!   learns a peer from `--peers` or from the hello of a peer that dialled it (and dials back).
//! - Each message is a frame: a 4-byte big-endian length (1 to [`MAX_FRAME`] bytes), then an
//!   [`Envelope`]: version, [`MessageKind`], sender node id, subject id (game or round), a
//!   trace header of at most [`MAX_TRACE`] bytes (a [`Carrier`](crate::trace::Carrier)), and
//!   the payload.
//! - Tracing: every message sent is a `bitcraps.peer.send` span whose carrier rides in the
//!   header; the receiver's `bitcraps.peer.receive` span is its child, on the other node. A
//!   round is a `bitcraps.consensus.round` span on the proposer; the votes fan in as links.
//! - The first frame on a connection is a hello carrying the sender's listen address.
//!   Anything else (garbage, an oversized length, a malformed envelope) drops that
//!   connection with a WARN.
//! - Consensus: the proposer sends `propose`, every peer answers with a `vote` (sent to all,
//!   counted by the proposer), and the proposer sends `commit` once more than two thirds of
//!   the members ([`quorum`]) agreed. A round ends `timeout` at its deadline, or `peer_lost`
//!   when a peer whose vote the quorum needs is or goes away.
//! - Dropped connections are redialled with capped, jittered exponential backoff
//!   ([`Backoff`]).
//!
//! ```
//! use std::time::Duration;
//! use bitcraps_otel::mesh::{Mesh, MeshConfig, MessageKind};
//! use bitcraps_otel::metrics::Metrics;
//! use opentelemetry_sdk::metrics::SdkMeterProvider;
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let provider = SdkMeterProvider::builder().build();
//! let metrics = Metrics::new(&provider, Default::default());
//! let traces = bitcraps_otel::trace::Traces::noop(); // `telemetry.traces()` in a node
//! let a = Mesh::start(MeshConfig::new("127.0.0.1:0".parse()?, "node-a"), metrics.clone(), traces.clone()).await?;
//! let mut config = MeshConfig::new("127.0.0.1:0".parse()?, "node-b");
//! config.peers = vec![a.local_addr()];
//! let b = Mesh::start(config, metrics, traces).await?;
//! // b dials a; a learns b from its hello and dials back: a two-node mesh.
//! let mut stats = a.stats();
//! stats.wait_for(|s| s.peers_connected == 1 && s.peers_known == 1).await?;
//! b.stats().wait_for(|s| s.peers_connected == 1).await?;
//! a.propose();
//! stats.wait_for(|s| s.rounds_committed == 1).await?;
//! b.send(MessageKind::Bet, 7, b"pass_line:25".to_vec());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod backoff;
mod consensus;
pub mod context;
mod core;
mod envelope;
mod frame;
mod listener;
mod peer;
mod peers;

pub use backoff::Backoff;
pub use consensus::{quorum, Decision, RoundOutcome};
pub use envelope::{Envelope, EnvelopeError, MessageKind, MAX_SENDER, MAX_TRACE, WIRE_VERSION};
pub use frame::{read_frame, write_frame, FrameError, MAX_FRAME};
pub use peers::{parse_peers, PeerListError};

use crate::metrics::Metrics;
use crate::trace::Traces;
use opentelemetry::Context;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How a node joins the mesh.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::mesh::MeshConfig;
///
/// let mut config = MeshConfig::new("127.0.0.1:7001".parse()?, "node-1");
/// config.peers = bitcraps_otel::mesh::parse_peers("127.0.0.1:7002,127.0.0.1:7003")?;
/// config.round_timeout = Duration::from_secs(1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct MeshConfig {
    /// Where to accept peer connections (port 0: one the OS picks, see [`Mesh::local_addr`]).
    pub listen: SocketAddr,
    /// Peers to dial at start; more are learnt from the hellos of peers that dial in.
    pub peers: Vec<SocketAddr>,
    /// This node's id in every message (at most [`MAX_SENDER`] bytes, not empty).
    pub node_id: String,
    /// How long a consensus round waits for its votes. Default 2 s.
    pub round_timeout: Duration,
    /// The first reconnection delay. Default 100 ms.
    pub backoff_initial: Duration,
    /// The longest reconnection delay. Default 5 s.
    pub backoff_max: Duration,
    /// The most inbound connections at a time. Default 256.
    pub max_connections: usize,
    /// Messages queued per peer before new ones are dropped. Default 4096.
    pub queue: usize,
}

impl MeshConfig {
    /// Listens on `listen` as `node_id`, with no peer yet and the defaults.
    pub fn new(listen: SocketAddr, node_id: impl Into<String>) -> MeshConfig {
        MeshConfig {
            listen,
            peers: Vec::new(),
            node_id: node_id.into(),
            round_timeout: Duration::from_secs(2),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            max_connections: 256,
            queue: 4096,
        }
    }
}

/// Why the mesh did not start.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// The listen address could not be bound.
    #[error("cannot listen for peers on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The node id is empty or longer than [`MAX_SENDER`] bytes.
    #[error("the mesh node id must be 1 to {MAX_SENDER} bytes, got {0:?}")]
    NodeId(String),
}

/// What the mesh has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeshStats {
    /// Peers with an open connection to this node (that said hello).
    pub peers_connected: usize,
    /// Peers this node dials (from its configuration or learnt).
    pub peers_known: usize,
    /// Messages received from peers, hellos not included.
    pub messages_received: u64,
    /// This node's rounds committed.
    pub rounds_committed: u64,
    /// This node's rounds ended by their deadline.
    pub rounds_timed_out: u64,
    /// This node's rounds ended because a peer was or went away.
    pub rounds_peer_lost: u64,
}

/// A running mesh node: a handle that can be cloned. Dropping the last one closes every
/// connection.
#[derive(Clone)]
pub struct Mesh {
    commands: mpsc::Sender<Command>,
    local: SocketAddr,
    stats: watch::Receiver<MeshStats>,
}

use self::core::Command;

impl Mesh {
    /// Binds the listen address, dials the configured peers, and runs the mesh on the
    /// current tokio runtime, recording into `metrics` and starting its spans through
    /// `traces` (`bitcraps.peer.send`/`receive` per message, `bitcraps.consensus.round` per
    /// round proposed here).
    pub async fn start(config: MeshConfig, metrics: Metrics, traces: Traces) -> Result<Mesh, MeshError> {
        if config.node_id.is_empty() || config.node_id.len() > MAX_SENDER {
            return Err(MeshError::NodeId(config.node_id));
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| MeshError::Bind { addr: config.listen, source })?;
        let local = listener.local_addr().map_err(|source| MeshError::Bind { addr: config.listen, source })?;
        let advertised = advertised(local);
        let hello = Envelope::new(MessageKind::Hello, config.node_id.clone(), 0)
            .with_payload(advertised.to_string().into_bytes())
            .encode()
            .map_err(|_| MeshError::NodeId(config.node_id.clone()))?;
        let (stats_tx, stats) = watch::channel(MeshStats::default());
        let (inbound_tx, inbound) = mpsc::channel(config.queue.max(1));
        let (commands, commands_rx) = mpsc::channel(config.queue.max(1));
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(listener::run(listener, inbound_tx, metrics.clone(), config.max_connections.max(1)));
        let core = core::Core::new(config, advertised, hello.into(), metrics, traces, stats_tx, tasks);
        tokio::spawn(core.run(commands_rx, inbound));
        Ok(Mesh { commands, local, stats })
    }

    /// The address the mesh listens on (the port the OS picked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The counts so far, updated as they change.
    pub fn stats(&self) -> watch::Receiver<MeshStats> {
        self.stats.clone()
    }

    /// Sends a message about game or round `id` to every peer, carrying the current trace
    /// context. Never blocks: when the mesh is overwhelmed the message is dropped.
    pub fn send(&self, kind: MessageKind, id: u64, payload: Vec<u8>) {
        let cx = Context::current();
        if self.commands.try_send(Command::Send { kind, id, payload, cx }).is_err() {
            tracing::debug!(kind = kind.as_str(), "mesh busy: peer message dropped");
        }
    }

    /// Proposes a consensus round to the peers, in the current trace context. Its outcome
    /// shows in the consensus metrics, the logs and [`Mesh::stats`]. Nothing happens until
    /// every known peer has connected once.
    pub fn propose(&self) {
        let cx = Context::current();
        if self.commands.try_send(Command::Propose { cx }).is_err() {
            tracing::debug!("mesh busy: consensus round not proposed");
        }
    }
}

impl Mesh {
    /// Stops the mesh for every handle: open rounds end (their spans too, so a tracer
    /// provider shut down next exports them), connections close. Returns once done.
    pub async fn close(&self) {
        let (done, closed) = tokio::sync::oneshot::channel();
        if self.commands.send(Command::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

/// The address peers can dial back: the bound one, with an unspecified IP made loopback.
fn advertised(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}
