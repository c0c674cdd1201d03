//! The connections one server holds open: each one's phase (reading a request head, busy,
//! idle), its deadline, and which one to shed when the server is full.

use crate::config::ServerLimits;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Where a connection is in its life, and since when.
#[derive(Clone, Copy, Debug)]
struct Phase {
    /// Requests being handled or responses being written.
    busy: u32,
    /// With `busy == 0`: `true` while a request head is arriving (from accept, or from the
    /// first byte after an idle spell), `false` while kept alive with nothing to read.
    reading: bool,
    /// A whole request head (up to its blank line) has arrived and waits to be handled: the
    /// connection is as good as busy and is not shed (a slowloris never gets here).
    head_complete: bool,
    /// The last 3 bytes read, to find a blank line split across reads.
    tail: [u8; 3],
    /// When the current phase began; while busy, the last progress (start or a write).
    since: Instant,
}

/// Whether `tail` followed by `bytes` contains the blank line ending a request head.
fn ends_head(tail: [u8; 3], bytes: &[u8]) -> bool {
    let joined = tail.iter().chain(bytes.iter().take(3));
    let mut window = [0u8; 6];
    let mut n = 0;
    for (slot, b) in window.iter_mut().zip(joined) {
        *slot = *b;
        n += 1;
    }
    window[..n].windows(4).any(|w| w == b"\r\n\r\n") || bytes.windows(4).any(|w| w == b"\r\n\r\n")
}

fn new_tail(tail: [u8; 3], bytes: &[u8]) -> [u8; 3] {
    let mut out = tail;
    for &b in bytes.iter().rev().take(3).rev() {
        out = [out[1], out[2], b];
    }
    out
}

/// One open connection, shared by its task, its I/O wrapper and its requests.
#[derive(Debug)]
pub(crate) struct Conn {
    id: u64,
    phase: Mutex<Phase>,
    /// Set when the server wants the connection gone; its task drops it at once.
    shed: AtomicBool,
    /// Wakes the connection's task: its phase changed, or it was shed.
    pub(crate) wake: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state is a few plain fields, valid after any panic: keep serving.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Conn {
    fn new(id: u64, now: Instant) -> Conn {
        Conn {
            id,
            // A new connection owes its first request head right away.
            phase: Mutex::new(Phase { busy: 0, reading: true, head_complete: false, tail: [0; 3], since: now }),
            shed: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// `bytes` arrived: after an idle spell, the next request head has started; a blank line
    /// completes the head being read.
    pub(crate) fn on_bytes(&self, bytes: &[u8]) {
        let mut p = lock(&self.phase);
        let mut changed = false;
        if p.busy == 0 && !p.reading {
            p.reading = true;
            p.since = Instant::now();
            changed = true;
        }
        if p.busy == 0 && !p.head_complete && ends_head(p.tail, bytes) {
            p.head_complete = true;
        }
        p.tail = new_tail(p.tail, bytes);
        drop(p);
        if changed {
            self.wake.notify_one();
        }
    }

    /// Response bytes went out: a busy connection is making progress.
    pub(crate) fn on_write(&self) {
        let mut p = lock(&self.phase);
        if p.busy > 0 {
            p.since = Instant::now();
        }
    }

    /// A request head was parsed; the connection is busy until the response is written.
    pub(crate) fn request_started(&self) {
        let mut p = lock(&self.phase);
        p.busy += 1;
        p.head_complete = false;
        p.since = Instant::now();
    }

    /// A response was written (or abandoned); with nothing else in flight, the connection idles.
    pub(crate) fn request_finished(&self) {
        let mut p = lock(&self.phase);
        p.busy = p.busy.saturating_sub(1);
        if p.busy == 0 {
            p.reading = false;
            p.since = Instant::now();
        }
        drop(p);
        self.wake.notify_one();
    }

    /// When the connection must be closed if its phase does not change: the header-read
    /// deadline while a head arrives, the idle deadline between requests, and while busy, an
    /// idle timeout's worth of no progress (a client that never reads its response).
    pub(crate) fn deadline(&self, limits: &ServerLimits) -> Instant {
        let p = lock(&self.phase);
        match (p.busy, p.reading) {
            (0, true) => p.since + limits.header_read_timeout,
            _ => p.since + limits.idle_timeout,
        }
    }

    /// Whether no request is in flight (so closing loses nothing the client was promised).
    pub(crate) fn is_idle(&self) -> bool {
        lock(&self.phase).busy == 0
    }

    /// Whether the server asked this connection to close.
    pub(crate) fn is_shed(&self) -> bool {
        self.shed.load(Ordering::Acquire)
    }

    /// Since when the connection has been idle, or `None` while busy (or about to be).
    fn idle_since(&self) -> Option<Instant> {
        let p = lock(&self.phase);
        (p.busy == 0 && !p.head_complete).then_some(p.since)
    }
}

#[derive(Debug, Default)]
struct Inner {
    conns: HashMap<u64, Arc<Conn>>,
    /// Connections not yet asked to close.
    live: usize,
}

/// The open connections of one server.
#[derive(Debug, Default)]
pub(crate) struct Table {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    /// Notified whenever a connection closes.
    pub(crate) closed: Notify,
}

impl Table {
    /// Registers a connection accepted now.
    pub(crate) fn insert(&self) -> Arc<Conn> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::new(id, Instant::now()));
        let mut inner = lock(&self.inner);
        inner.conns.insert(id, conn.clone());
        inner.live += 1;
        conn
    }

    /// Forgets a connection whose task ended.
    pub(crate) fn remove(&self, conn: &Conn) {
        let mut inner = lock(&self.inner);
        if inner.conns.remove(&conn.id).is_some() && !conn.is_shed() {
            inner.live -= 1;
        }
        drop(inner);
        self.closed.notify_one();
    }

    /// Open connections not already asked to close.
    pub(crate) fn live(&self) -> usize {
        lock(&self.inner).live
    }

    /// Asks the connection idle the longest to close; `false` when every one is busy.
    pub(crate) fn shed_oldest_idle(&self) -> bool {
        let mut inner = lock(&self.inner);
        let oldest = inner
            .conns
            .values()
            .filter(|c| !c.is_shed())
            .filter_map(|c| c.idle_since().map(|since| (since, c.id)))
            .min()
            .and_then(|(_, id)| inner.conns.get(&id).cloned());
        let Some(conn) = oldest else { return false };
        conn.shed.store(true, Ordering::Release);
        inner.live -= 1;
        drop(inner);
        conn.wake.notify_one();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn sheds_the_longest_idle_never_a_busy_one() {
        let table = Table::default();
        let a = table.insert();
        tokio::time::advance(Duration::from_secs(1)).await;
        let b = table.insert();
        tokio::time::advance(Duration::from_secs(1)).await;
        let c = table.insert();
        // `a` is busy: `b` is the oldest idle one.
        a.request_started();
        assert!(table.shed_oldest_idle());
        assert!(b.is_shed() && !a.is_shed() && !c.is_shed());
        assert_eq!(table.live(), 2);
        // `a` finishes after `c` was accepted: `c` has now been idle longer.
        tokio::time::advance(Duration::from_secs(1)).await;
        a.request_finished();
        assert!(table.shed_oldest_idle());
        assert!(c.is_shed() && !a.is_shed());
        a.request_started();
        assert!(!table.shed_oldest_idle(), "the only connection left is busy");
        table.remove(&b);
        table.remove(&c);
        assert_eq!(table.live(), 1);
        table.remove(&a);
        assert_eq!(table.live(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_the_phase() {
        let limits = ServerLimits {
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            max_connections: 8,
        };
        let start = Instant::now();
        let conn = Table::default().insert();
        assert_eq!(conn.deadline(&limits), start + Duration::from_secs(5));
        conn.request_started();
        assert_eq!(conn.deadline(&limits), start + Duration::from_secs(60), "no progress for an idle timeout");
        tokio::time::advance(Duration::from_secs(1)).await;
        conn.on_write();
        assert_eq!(conn.deadline(&limits), start + Duration::from_secs(61), "progress moves it");
        tokio::time::advance(Duration::from_secs(1)).await;
        conn.request_finished();
        assert_eq!(conn.deadline(&limits), start + Duration::from_secs(62));
        tokio::time::advance(Duration::from_secs(10)).await;
        conn.on_bytes(b"GET");
        assert_eq!(conn.deadline(&limits), start + Duration::from_secs(17));
        // More bytes of the same head do not extend it.
        tokio::time::advance(Duration::from_secs(1)).await;
        conn.on_bytes(b" / HTTP/1.1");
        assert_eq!(conn.deadline(&limits), start + Duration::from_secs(17));
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_with_a_whole_head_waiting_is_not_shed() {
        let table = Table::default();
        let probe = table.insert();
        tokio::time::advance(Duration::from_secs(1)).await;
        let slowloris = table.insert();
        slowloris.on_bytes(b"GET / HTTP/1.1\r\nX: ");
        // The blank line arrives split across reads.
        probe.on_bytes(b"GET /ready HTTP/1.1\r\nHost: x\r");
        probe.on_bytes(b"\n\r\n");
        assert!(table.shed_oldest_idle());
        assert!(slowloris.is_shed() && !probe.is_shed(), "the older connection holds a whole request");
        assert!(!table.shed_oldest_idle(), "nothing else is idle");
    }

    #[test]
    fn blank_lines_are_found_within_and_across_reads() {
        assert!(ends_head([0; 3], b"GET / HTTP/1.1\r\n\r\n"));
        assert!(ends_head(*b"\r\n\r", b"\n"));
        assert!(ends_head(*b"x\r\n", b"\r\nbody"));
        assert!(!ends_head(*b"x\r\n", b"X-A: b\r\n"));
        assert_eq!(new_tail(*b"abc", b"de"), *b"cde");
    }
}
