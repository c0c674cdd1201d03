//! Binding, serving and gracefully stopping the SDK's axum servers.

use crate::Error;
use axum::Router;
use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server; dropping it (or [`ServerHandle::stop`]) stops accepting connections.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address actually bound (resolves port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and lets in-flight requests finish.
    pub fn stop(&mut self) -> Option<JoinHandle<()>> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
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
/// and serves `router` on `runtime`.
pub fn serve(
    what: &'static str,
    addr: SocketAddr,
    router: Router,
    runtime: &tokio::runtime::Handle,
) -> Result<ServerHandle, Error> {
    let bind_err = |source| Error::Bind { what, addr, source };
    let std_listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    std_listener.set_nonblocking(true).map_err(bind_err)?;
    let local_addr = std_listener.local_addr().map_err(bind_err)?;
    let listener = {
        let _enter = runtime.enter();
        tokio::net::TcpListener::from_std(std_listener).map_err(bind_err)?
    };
    let (tx, rx) = oneshot::channel::<()>();
    let task = runtime.spawn(async move {
        let shutdown = async {
            let _ = rx.await;
        };
        if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
            tracing::error!(server = what, error = %e, "server stopped with an error");
        }
    });
    Ok(ServerHandle { local_addr, stop: Some(tx), task: Some(task) })
}
