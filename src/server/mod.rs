//! Binding, serving and stopping the SDK's HTTP servers (the Prometheus bridge and the health
//! endpoints) under [`ServerLimits`]: a header-read timeout, an idle keep-alive timeout, and a
//! cap on open connections that sheds the longest-idle connection first.
//!
//! ```
//! use std::time::Duration;
//! use axum::{routing::get, Router};
//! use bitcraps_otel::config::ServerLimits;
//! use bitcraps_otel::server;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Runtime::new()?;
//! let limits = ServerLimits { max_connections: 16, ..ServerLimits::default() };
//! let router = Router::new().route("/ping", get(|| async { "pong" }));
//! let mut handle = server::serve("ping", "127.0.0.1:0".parse()?, router, limits, runtime.handle())?;
//! assert_ne!(handle.local_addr().port(), 0);
//! handle.stop();
//! # Ok(()) }
//! ```

mod connection;
mod table;

use crate::config::ServerLimits;
use crate::Error;
use axum::Router;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use table::Table;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running server; dropping it (or [`ServerHandle::stop`]) stops accepting connections.
///
/// ```
/// use axum::{routing::get, Router};
/// use bitcraps_otel::config::ServerLimits;
/// use bitcraps_otel::server::serve;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let runtime = tokio::runtime::Runtime::new()?;
/// let app = Router::new().route("/ping", get(|| async { "pong" }));
/// let mut server = serve("ping", "127.0.0.1:0".parse()?, app, ServerLimits::default(), runtime.handle())?;
/// let addr = server.local_addr();
/// assert!(std::net::TcpStream::connect(addr).is_ok());
/// if let Some(task) = server.stop() {
///     runtime.block_on(task)?; // the listener is closed
/// }
/// assert!(std::net::TcpStream::connect(addr).is_err());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    stop: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address actually bound (resolves port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes idle connections and lets in-flight requests finish. The
    /// returned task ends when the listener is closed.
    pub fn stop(&mut self) -> Option<JoinHandle<()>> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(true);
        }
        self.task.take()
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds `addr` synchronously (so a taken port is an error from `init`, not a log line later)
/// and serves `router` on `runtime` under `limits`.
pub fn serve(
    what: &'static str,
    addr: SocketAddr,
    router: Router,
    limits: ServerLimits,
    runtime: &tokio::runtime::Handle,
) -> Result<ServerHandle, Error> {
    let bind_err = |source| Error::Bind { what, addr, source };
    let std_listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    std_listener.set_nonblocking(true).map_err(bind_err)?;
    let local_addr = std_listener.local_addr().map_err(bind_err)?;
    let listener = {
        let _enter = runtime.enter();
        TcpListener::from_std(std_listener).map_err(bind_err)?
    };
    let (tx, rx) = watch::channel(false);
    let cap = connection_cap(what, limits.max_connections);
    let task = runtime.spawn(accept_loop(what, listener, router, limits, cap, rx));
    Ok(ServerHandle { local_addr, stop: Some(tx), task: Some(task) })
}

/// Descriptors kept for everything but the servers (exporters, files, the application).
const RESERVED_FDS: u64 = 64;

/// The configured cap, lowered so that one server never holds more than a quarter of the
/// descriptors the process may open: the two servers together then leave half of them to
/// everything else, and a flood of idle sockets cannot starve the other server.
fn connection_cap(what: &'static str, configured: usize) -> usize {
    let Some(fds) = fd_limit() else { return configured };
    let by_fds = usize::try_from(fds.saturating_sub(RESERVED_FDS) / 4).unwrap_or(usize::MAX).max(8);
    if by_fds < configured {
        tracing::debug!(
            server = what,
            configured,
            cap = by_fds,
            fd_limit = fds,
            "connection cap lowered to a quarter of the file-descriptor limit"
        );
        by_fds
    } else {
        configured
    }
}

/// The soft limit on open file descriptors, when there is one.
#[cfg(unix)]
fn fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own and reads nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (rc == 0 && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

#[cfg(not(unix))]
fn fd_limit() -> Option<u64> {
    None
}

/// Whether an accept failed for lack of descriptors or memory: the connection waits in the
/// kernel's backlog, and closing one of ours makes room for it.
fn out_of_resources(e: &io::Error) -> bool {
    #[cfg(unix)]
    if let Some(code) = e.raw_os_error() {
        return matches!(code, libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM);
    }
    let _ = e;
    false
}

/// How often at most the server reports shed connections.
const SHED_REPORT_EVERY: Duration = Duration::from_secs(60);

/// Counts shed connections and reports them at most once per [`SHED_REPORT_EVERY`].
struct ShedReport {
    what: &'static str,
    cap: usize,
    unreported: u64,
    last: Option<tokio::time::Instant>,
}

impl ShedReport {
    fn shed(&mut self, why: &'static str) {
        self.unreported += 1;
        let now = tokio::time::Instant::now();
        if self.last.is_none_or(|at| now.duration_since(at) >= SHED_REPORT_EVERY) {
            tracing::warn!(
                server = self.what,
                cap = self.cap,
                shed = self.unreported,
                reason = why,
                "closing the longest-idle connections to make room for new ones"
            );
            self.unreported = 0;
            self.last = Some(now);
        }
    }
}

async fn accept_loop(
    what: &'static str,
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    cap: usize,
    mut stop: watch::Receiver<bool>,
) {
    let table = Arc::new(Table::default());
    let mut report = ShedReport { what, cap, unreported: 0, last: None };
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.changed() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                if table.live() >= cap {
                    if table.shed_oldest_idle() {
                        report.shed("connection cap reached");
                    } else {
                        // Every connection is busy with a request: refuse the newcomer
                        // rather than cut a response short.
                        tracing::debug!(server = what, cap, "connection cap reached, all busy: refusing");
                        continue;
                    }
                }
                let _ = stream.set_nodelay(true);
                let conn = table.insert();
                let full = table.live() >= cap;
                tokio::spawn(connection::serve(stream, router.clone(), limits, conn, table.clone(), stop.clone()));
                if full {
                    // Under a flood of new connections, let the newcomer read its request
                    // before the next accept can shed it: a probe is then busy, a slowloris not.
                    tokio::task::yield_now().await;
                }
            }
            Err(e) if out_of_resources(&e) => {
                // Free a descriptor and wait until it is closed (or a moment, when every
                // connection is busy), then accept the waiting connection.
                if table.shed_oldest_idle() {
                    report.shed("out of file descriptors");
                }
                tokio::select! {
                    _ = table.closed.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = stop.changed() => break,
                }
            }
            // A client that gave up before accept (ECONNABORTED and the like).
            Err(e) => tracing::debug!(server = what, error = %e, "accept failed"),
        }
    }
    // Dropping the listener frees the port; each connection watches `stop` itself.
    drop(listener);
}
