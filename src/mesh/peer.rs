//! One outbound peer connection: dial, say hello, write the frames queued for the peer, and
//! when the peer goes away, redial with capped, jittered exponential backoff.

use super::backoff::Backoff;
use super::frame::write_frame;
use crate::metrics::Metrics;
use crate::semconv::PeerTransport;
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// How long one dial may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps a connection to `addr` open for as long as `queue` has senders; `hello` (a frame
/// body) opens every connection. Frames queued while the peer is unreachable are dropped:
/// game and consensus messages are only worth sending while they are current.
pub(super) async fn run(
    addr: SocketAddr,
    hello: Bytes,
    mut queue: mpsc::Receiver<Bytes>,
    metrics: Metrics,
    mut backoff: Backoff,
) {
    let mut rng = StdRng::from_os_rng();
    let mut ever_connected = false;
    loop {
        let error = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                backoff.reset();
                ever_connected = true;
                let _ = stream.set_nodelay(true);
                metrics.network().connection_opened(PeerTransport::Tcp);
                tracing::info!(peer = %addr, "connected to peer {addr}");
                let ended = serve(stream, &hello, &mut queue, &metrics).await;
                metrics.network().connection_closed(PeerTransport::Tcp);
                match ended {
                    None => return,
                    Some(why) => {
                        tracing::warn!(peer = %addr, reason = %why, "lost the connection to peer {addr} ({why}); reconnecting with backoff");
                        continue;
                    }
                }
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {CONNECT_TIMEOUT:?}"),
        };
        let delay = backoff.next_delay(&mut rng);
        let attempt = backoff.attempts();
        if attempt == 1 && ever_connected {
            tracing::warn!(peer = %addr, error = %error, retry_in_ms = delay.as_millis() as u64, "peer {addr} is unreachable; retrying with backoff");
        } else if attempt == 1 {
            tracing::info!(peer = %addr, error = %error, retry_in_ms = delay.as_millis() as u64, "peer {addr} is not reachable yet; retrying with backoff");
        } else {
            tracing::debug!(peer = %addr, error = %error, attempt, retry_in_ms = delay.as_millis() as u64, "peer still unreachable");
        }
        if !drop_queued_for(delay, &mut queue).await {
            return;
        }
    }
}

/// Writes queued frames until the peer closes (`Some(why)`) or the queue closes (`None`).
async fn serve(
    stream: TcpStream,
    hello: &[u8],
    queue: &mut mpsc::Receiver<Bytes>,
    metrics: &Metrics,
) -> Option<String> {
    let (mut reader, mut writer) = stream.into_split();
    if let Err(e) = write_frame(&mut writer, hello).await {
        return Some(e.to_string());
    }
    metrics.network().message_sent(PeerTransport::Tcp);
    // Peers never write on a connection they accepted: reading only notices its end.
    let mut sink = [0u8; 64];
    loop {
        tokio::select! {
            frame = queue.recv() => {
                let frame = frame?;
                if let Err(e) = write_frame(&mut writer, &frame).await {
                    return Some(e.to_string());
                }
                metrics.network().message_sent(PeerTransport::Tcp);
            }
            read = reader.read(&mut sink) => match read {
                Ok(0) => return Some("closed by the peer".into()),
                Err(e) => return Some(e.to_string()),
                Ok(_) => {}
            },
        }
    }
}

/// Waits `delay`, dropping what is queued meanwhile; `false` if the queue closed.
async fn drop_queued_for(delay: Duration, queue: &mut mpsc::Receiver<Bytes>) -> bool {
    let until = tokio::time::Instant::now() + delay;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(until) => return true,
            frame = queue.recv() => if frame.is_none() { return false },
        }
    }
}
