//! Peer address lists as the node's `--peers` flag takes them: `HOST:PORT` entries separated
//! by commas.

use std::net::{SocketAddr, ToSocketAddrs};

/// Why a peer list is not valid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeerListError {
    /// An entry between commas is empty.
    #[error("entry {position} is empty (expected HOST:PORT[,HOST:PORT...])")]
    Empty {
        /// The entry's 1-based position.
        position: usize,
    },
    /// An entry is not `HOST:PORT`, or its host does not resolve.
    #[error("`{entry}` is not a peer address (expected HOST:PORT, e.g. 127.0.0.1:7001): {reason}")]
    Invalid {
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Parses `HOST:PORT[,HOST:PORT...]`; duplicates are kept once, in order.
///
/// ```
/// use bitcraps_otel::mesh::parse_peers;
///
/// let peers = parse_peers("127.0.0.1:7001, 127.0.0.1:7002")?;
/// assert_eq!(peers.len(), 2);
/// assert!(parse_peers("127.0.0.1").is_err());
/// assert!(parse_peers("127.0.0.1:7001,,").is_err());
/// # Ok::<(), bitcraps_otel::mesh::PeerListError>(())
/// ```
pub fn parse_peers(text: &str) -> Result<Vec<SocketAddr>, PeerListError> {
    let mut peers = Vec::new();
    for (i, entry) in text.split(',').map(str::trim).enumerate() {
        if entry.is_empty() {
            return Err(PeerListError::Empty { position: i + 1 });
        }
        let addr = match entry.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => resolve(entry)?,
        };
        if addr.port() == 0 {
            return Err(PeerListError::Invalid { entry: entry.into(), reason: "port 0 cannot be dialled".into() });
        }
        if !peers.contains(&addr) {
            peers.push(addr);
        }
    }
    Ok(peers)
}

fn resolve(entry: &str) -> Result<SocketAddr, PeerListError> {
    let invalid = |reason: String| PeerListError::Invalid { entry: entry.into(), reason };
    if !entry.contains(':') {
        return Err(invalid("no port".into()));
    }
    let mut addrs = entry.to_socket_addrs().map_err(|e| invalid(e.to_string()))?;
    addrs.next().ok_or_else(|| invalid("the host has no address".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_lists_parse_and_every_bad_entry_is_named() {
        assert_eq!(parse_peers("[::1]:9,127.0.0.1:9,127.0.0.1:9").map(|p| p.len()), Ok(2));
        for bad in ["", "127.0.0.1", "127.0.0.1:x", "127.0.0.1:70000", "127.0.0.1:0", "1.2.3.4:5,"] {
            let e = parse_peers(bad).expect_err(bad);
            let shown = e.to_string();
            assert!(shown.contains("expected HOST:PORT"), "{bad}: {shown}");
        }
    }
}
