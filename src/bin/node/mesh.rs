//! The node's peer mesh: the `--listen`, `--peers` and `--mesh` options (and their
//! variables), starting the mesh, and feeding it the simulator's game and consensus activity.

use bitcraps_otel::mesh::{parse_peers, Mesh, MeshConfig, MessageKind};
use bitcraps_otel::sim::{Activity, PeerTraffic};
use std::net::SocketAddr;

/// Most nodes `--mesh` starts (the loopback demo; a real mesh runs one node per host).
pub const MAX_MESH: u16 = 16;

/// How this node joins a mesh, from the options and the environment.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Where to accept peers.
    pub listen: SocketAddr,
    /// Peers to dial.
    pub peers: Vec<SocketAddr>,
    /// With `--mesh N`: the N-1 other nodes to start.
    pub children: u16,
    /// `BITCRAPS_MESH_ROUND_TIMEOUT`: how long a consensus round waits for votes.
    pub round_timeout: Option<std::time::Duration>,
}

/// Reads `--listen`/`BITCRAPS_MESH_LISTEN`, `--peers`/`BITCRAPS_MESH_PEERS` and `--mesh`.
/// `Ok(None)`: no mesh, the node runs alone as it always did. Errors name the flag or variable.
pub fn plan(listen: Option<&str>, peers: Option<&str>, mesh: Option<u16>) -> Result<Option<Plan>, String> {
    let listen = from_flag_or_env(listen, "--listen", "BITCRAPS_MESH_LISTEN");
    let peers = from_flag_or_env(peers, "--peers", "BITCRAPS_MESH_PEERS");
    if listen.is_none() && peers.is_none() && mesh.is_none() {
        return Ok(None);
    }
    let listen_addr = match &listen {
        None => SocketAddr::from(([127, 0, 0, 1], 0)),
        Some((text, source)) => text.trim().parse().map_err(|e| {
            format!("{source}: `{text}` is not a listen address (expected IP:PORT, e.g. 127.0.0.1:7001): {e}")
        })?,
    };
    let peer_addrs = match &peers {
        None => Vec::new(),
        Some((text, source)) => parse_peers(text).map_err(|e| format!("{source}: {e}"))?,
    };
    let children = match mesh {
        None => 0,
        Some(n) if !(2..=MAX_MESH).contains(&n) => {
            return Err(format!("--mesh: a mesh has 2 to {MAX_MESH} nodes, got {n}"));
        }
        Some(_) if !peer_addrs.is_empty() => {
            return Err("--mesh starts its own peers; it cannot be combined with --peers or BITCRAPS_MESH_PEERS".into());
        }
        Some(n) => n - 1,
    };
    let round_timeout = match std::env::var("BITCRAPS_MESH_ROUND_TIMEOUT").ok().filter(|v| !v.trim().is_empty()) {
        None => None,
        Some(text) => match humantime::parse_duration(text.trim()) {
            Ok(d) if !d.is_zero() => Some(d),
            _ => return Err(format!("BITCRAPS_MESH_ROUND_TIMEOUT: `{text}` is not a positive duration such as `2s`")),
        },
    };
    Ok(Some(Plan { listen: listen_addr, peers: peer_addrs, children, round_timeout }))
}

/// The flag's value, else the variable's (empty counts as unset), with where it came from.
fn from_flag_or_env(flag: Option<&str>, name: &str, var: &str) -> Option<(String, String)> {
    match flag {
        Some(v) => Some((v.to_string(), name.to_string())),
        None => std::env::var(var).ok().filter(|v| !v.trim().is_empty()).map(|v| (v, var.to_string())),
    }
}

/// Starts the mesh and says where it listens (tests and `--mesh` read the address back).
pub async fn start(
    plan: &Plan,
    node_id: &str,
    metrics: bitcraps_otel::metrics::Metrics,
    traces: bitcraps_otel::trace::Traces,
) -> Result<Mesh, String> {
    let mut config = MeshConfig::new(plan.listen, node_id);
    config.peers = plan.peers.clone();
    if let Some(t) = plan.round_timeout {
        config.round_timeout = t;
    }
    let mesh = Mesh::start(config, metrics, traces).await.map_err(|e| e.to_string())?;
    let addr = mesh.local_addr();
    let peers: Vec<String> = plan.peers.iter().map(ToString::to_string).collect();
    tracing::info!(%addr, node = node_id, peers = %peers.join(","), "peer mesh listening on tcp://{addr}");
    Ok(mesh)
}

/// The simulator's activity as peer messages: games, bets, rolls and payouts are sent to
/// every peer; consensus rounds are proposed to them.
pub fn traffic(mesh: Mesh) -> PeerTraffic {
    Box::new(move |activity| match activity {
        Activity::ConsensusRound => mesh.propose(),
        Activity::GameStarted { game, game_type } => mesh.send(MessageKind::GameStarted, game, payload(game_type, "")),
        Activity::Bet { game, game_type } => mesh.send(MessageKind::Bet, game, payload(game_type, "")),
        Activity::Roll { game, game_type } => mesh.send(MessageKind::Roll, game, payload(game_type, "")),
        Activity::Payout { game, game_type, count } => {
            mesh.send(MessageKind::Payout, game, payload(game_type, &count.to_string()))
        }
    })
}

fn payload(game_type: bitcraps_otel::semconv::GameType, extra: &str) -> Vec<u8> {
    use bitcraps_otel::semconv::AttributeEnum as _;
    format!("{}{}{extra}", game_type.as_str(), if extra.is_empty() { "" } else { ":" }).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_mesh_option_means_no_mesh_and_bad_values_name_their_flag() {
        // The variables are read too; this test sets none, so only the flags matter.
        if std::env::var_os("BITCRAPS_MESH_LISTEN").is_some() || std::env::var_os("BITCRAPS_MESH_PEERS").is_some() {
            return;
        }
        assert!(plan(None, None, None).expect("valid").is_none());
        let p = plan(None, Some("127.0.0.1:7002"), None).expect("valid").expect("a mesh");
        assert_eq!((p.listen.port(), p.peers.len(), p.children), (0, 1, 0));
        assert!(plan(Some("nowhere"), None, None).expect_err("bad").starts_with("--listen:"));
        assert!(plan(None, Some("127.0.0.1"), None).expect_err("bad").starts_with("--peers:"));
        assert!(plan(None, None, Some(1)).expect_err("bad").starts_with("--mesh:"));
        assert!(plan(None, Some("127.0.0.1:7002"), Some(3)).is_err());
        assert_eq!(plan(None, None, Some(3)).expect("valid").expect("a mesh").children, 2);
    }
}
