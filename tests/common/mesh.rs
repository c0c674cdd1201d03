//! Mesh fixtures: the peer-mesh address a node announces, metric values read from its
//! `/metrics`, and a scripted peer that speaks the wire format by hand.

use super::{http, Node, LIVENESS};
use bitcraps_otel::mesh::{Envelope, MessageKind, MAX_FRAME};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// The address a node's "peer mesh listening on tcp://ADDR" line announces (waits for it).
pub fn mesh_addr(node: &Node) -> SocketAddr {
    let find = |lines: &[String]| lines.iter().find_map(|l| mesh_address(l));
    assert!(node.output.wait_until(LIVENESS, |lines| find(lines).is_some()), "no mesh address announced");
    find(&node.output.lines()).expect("announced")
}

/// Every mesh address announced in `lines`, in order.
pub fn mesh_address(line: &str) -> Option<SocketAddr> {
    if !line.contains("peer mesh listening on") {
        return None;
    }
    let rest = line.split("tcp://").nth(1)?;
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':')).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The sum of the samples of `name` whose labels contain every `labels` pair, in the
/// Prometheus text at `addr`/metrics.
pub fn metric(addr: SocketAddr, name: &str, labels: &[(&str, &str)]) -> f64 {
    let (status, body) = http("GET", addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    sample_sum(&body, name, labels)
}

/// [`metric`] on a text already fetched.
pub fn sample_sum(body: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
        .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Writes `envelope` as one frame.
pub fn send(stream: &mut TcpStream, envelope: &Envelope) {
    let body = envelope.encode().expect("a valid envelope");
    stream.write_all(&(body.len() as u32).to_be_bytes()).expect("write the length");
    stream.write_all(&body).expect("write the body");
}

/// Reads one frame; `None` when the stream ends.
pub fn receive(stream: &mut TcpStream) -> Option<Envelope> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let len = u32::from_be_bytes(len) as usize;
    assert!(len <= MAX_FRAME, "the node sent a {len}-byte frame");
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).ok()?;
    Some(Envelope::decode(&body).expect("the node sends valid envelopes"))
}

/// A hello from a scripted peer `id` that listens on `listen`.
pub fn hello(id: &str, listen: SocketAddr) -> Envelope {
    Envelope::new(MessageKind::Hello, id, 0).with_payload(listen.to_string().into_bytes())
}

/// Waits until the peer closes `stream` (reads return end of stream or an error).
pub fn wait_closed(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(LIVENESS)).expect("read timeout");
    let mut buf = [0u8; 512];
    let start = std::time::Instant::now();
    while start.elapsed() < LIVENESS {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
            Ok(_) => {}
        }
    }
    false
}
