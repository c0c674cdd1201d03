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
    /// When the current phase began.
    since: Instant,
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
            phase: Mutex::new(Phase { busy: 0, reading: true, since: now }),
            shed: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// Bytes arrived: after an idle spell, the next request head has started.
    pub(crate) fn on_bytes(&self) {
        let mut p = lock(&self.phase);
        if p.busy == 0 && !p.reading {
            p.reading = true;
            p.since = Instant::now();
            drop(p);
            self.wake.notify_one();
        }
    }

    /// A request head was parsed; the connection is busy until the response is written.
    pub(crate) fn request_started(&self) {
        lock(&self.phase).busy += 1;
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

    /// When the connection must be closed if its phase does not change; `None` while busy.
    pub(crate) fn deadline(&self, limits: &ServerLimits) -> Option<Instant> {
        let p = lock(&self.phase);
        match (p.busy, p.reading) {
            (0, true) => Some(p.since + limits.header_read_timeout),
            (0, false) => Some(p.since + limits.idle_timeout),
            _ => None,
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

    /// Since when the connection has been idle, or `None` while busy.
    fn idle_since(&self) -> Option<Instant> {
        let p = lock(&self.phase);
        (p.busy == 0).then_some(p.since)
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
        assert_eq!(conn.deadline(&limits), Some(start + Duration::from_secs(5)));
        conn.request_started();
        assert_eq!(conn.deadline(&limits), None);
        tokio::time::advance(Duration::from_secs(2)).await;
        conn.request_finished();
        assert_eq!(conn.deadline(&limits), Some(start + Duration::from_secs(62)));
        tokio::time::advance(Duration::from_secs(10)).await;
        conn.on_bytes();
        assert_eq!(conn.deadline(&limits), Some(start + Duration::from_secs(17)));
        // More bytes of the same head do not extend it.
        tokio::time::advance(Duration::from_secs(1)).await;
        conn.on_bytes();
        assert_eq!(conn.deadline(&limits), Some(start + Duration::from_secs(17)));
    }
}
