//! The mesh port: accepts peer connections, checks each opens with a hello, and turns their
//! frames into events for the mesh. Hostile or garbage bytes drop that connection with a
//! WARN; nothing a peer sends can stop the listener.

use super::envelope::{Envelope, MessageKind};
use super::frame::{read_frame, FrameError};
use crate::metrics::Metrics;
use crate::semconv::PeerTransport;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

/// How long a new connection has to send its hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// What inbound connections tell the mesh.
#[derive(Debug)]
pub(super) enum Inbound {
    /// A peer said hello: its node id and the address it listens on.
    Up { conn: u64, node: String, addr: SocketAddr },
    /// A message from a connection that said hello.
    Message { conn: u64, envelope: Envelope },
    /// That connection ended.
    Down { conn: u64, reason: String },
}

/// Accepts connections until dropped, at most `max_connections` at a time.
pub(super) async fn run(
    listener: TcpListener,
    events: mpsc::Sender<Inbound>,
    metrics: Metrics,
    max_connections: usize,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut connections = JoinSet::new();
    let mut next = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        tracing::warn!(%remote, max_connections, "refusing a peer connection: at the connection limit");
                        continue;
                    };
                    next += 1;
                    let (events, metrics, conn) = (events.clone(), metrics.clone(), next);
                    connections.spawn(async move {
                        connection(stream, remote, conn, events, metrics).await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accepting a peer connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(
    mut stream: TcpStream,
    remote: SocketAddr,
    conn: u64,
    events: mpsc::Sender<Inbound>,
    metrics: Metrics,
) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    let (node, addr) = match tokio::time::timeout(HELLO_TIMEOUT, hello(&mut stream, &mut buf)).await {
        Ok(Ok(Some(id))) => id,
        Ok(Ok(None)) => return,
        Ok(Err(why)) => {
            tracing::warn!(%remote, reason = %why, "dropping a peer connection from {remote}: {why}");
            return;
        }
        Err(_) => {
            tracing::warn!(%remote, "dropping a peer connection from {remote}: no hello within {HELLO_TIMEOUT:?}");
            return;
        }
    };
    metrics.network().connection_opened(PeerTransport::Tcp);
    metrics.network().message_received(PeerTransport::Tcp);
    tracing::info!(peer = %node, %addr, %remote, "peer {node} connected from {remote}");
    let mut reason = String::new();
    if events.send(Inbound::Up { conn, node: node.clone(), addr }).await.is_ok() {
        reason = loop {
            match read_frame(&mut stream, &mut buf).await {
                Ok(()) => match Envelope::decode(&buf) {
                    Ok(envelope) => {
                        metrics.network().message_received(PeerTransport::Tcp);
                        if events.send(Inbound::Message { conn, envelope }).await.is_err() {
                            break "the mesh stopped".into();
                        }
                    }
                    Err(e) => {
                        tracing::warn!(peer = %node, %remote, error = %e, "dropping the connection of peer {node}: {e}");
                        break format!("it sent a malformed message ({e})");
                    }
                },
                Err(FrameError::Closed) => break "connection closed".into(),
                Err(e) => {
                    tracing::warn!(peer = %node, %remote, error = %e, "dropping the connection of peer {node}: {e}");
                    break e.to_string();
                }
            }
        };
    }
    metrics.network().connection_closed(PeerTransport::Tcp);
    let _ = events.send(Inbound::Down { conn, reason }).await;
}

/// Reads the hello: the sender's id and listen address, `None` if the stream closed first.
async fn hello(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Option<(String, SocketAddr)>, String> {
    match read_frame(stream, buf).await {
        Ok(()) => {}
        Err(FrameError::Closed) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    }
    let envelope = Envelope::decode(buf).map_err(|e| e.to_string())?;
    if envelope.kind != MessageKind::Hello {
        return Err(format!("its first message was a {}, not a hello", envelope.kind.as_str()));
    }
    let addr = std::str::from_utf8(&envelope.payload)
        .ok()
        .and_then(|a| a.parse::<SocketAddr>().ok())
        .ok_or_else(|| "its hello carries no listen address".to_string())?;
    if envelope.sender.is_empty() {
        return Err("its hello carries no node id".into());
    }
    Ok(Some((envelope.sender, addr)))
}
