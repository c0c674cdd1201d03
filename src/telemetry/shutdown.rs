//! The guard's shutdown, which cannot hang: the quick part (stop serving, unpublish the
//! globals, take logging off the global subscriber) runs in place; flushing and shutting down
//! the providers runs on a thread of its own that the caller waits for at most
//! [`SHUTDOWN_DEADLINE`]; then the guard's runtimes stop, which cancels any export still in
//! flight. The SDK's own flush has no overall deadline: a collector that accepts connections
//! and never answers would otherwise hold the process for as long as its retries last.

use super::{Telemetry, INITIALIZED};
#[cfg(feature = "alerting")]
use crate::alerting::AlertReader;
use crate::export::status::ExportStatus;
use crate::metrics::Metrics;
use crate::Error;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest [`Telemetry::shutdown`] (or dropping the guard) takes, whatever the collector
/// does (down, slow, or never answering) and whatever runtime the caller runs in. Telemetry not
/// delivered by then is dropped, and the error says so.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// How long shutdown waits for the servers' listeners to close (their ports to be free).
const SERVER_STOP_WAIT: Duration = Duration::from_secs(1);

impl Telemetry {
    /// Waits, at most [`SERVER_STOP_WAIT`], for the stopped servers' accept loops to end, so
    /// their ports are free when shutdown returns (a restart can bind them again). On a
    /// current-thread runtime the caller's own thread is the one that would run them: waiting
    /// could only time out, so it does not wait.
    fn wait_for_servers(&self, servers: Vec<tokio::task::JoinHandle<()>>) {
        use tokio::runtime::RuntimeFlavor;
        let blocked =
            tokio::runtime::Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::CurrentThread);
        if servers.is_empty() || blocked {
            return;
        }
        let handle = self.runtimes.handle();
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::Builder::new().name("bitcraps-otel-stop".into()).spawn(move || {
            handle.block_on(async move {
                for server in servers {
                    let _ = server.await;
                }
            });
            let _ = tx.send(());
        });
        if waiter.is_ok() {
            let _ = rx.recv_timeout(SERVER_STOP_WAIT);
        }
    }

    pub(super) fn shutdown_inner(&mut self) -> Result<(), Error> {
        let started = Instant::now();
        #[allow(unused_mut)] // no server without the `prometheus` and `health` features
        let mut servers = Vec::new();
        #[cfg(feature = "prometheus")]
        if let Some(mut server) = self.prometheus.take() {
            servers.extend(server.stop());
        }
        #[cfg(feature = "health")]
        if let Some(mut server) = self.health.as_mut().and_then(|h| h.server.take()) {
            servers.extend(server.stop());
        }
        self.wait_for_servers(servers);
        let provider = self.provider.take();
        let mut logging = self.logging.take();
        if provider.is_none() && logging.is_none() {
            return Ok(());
        }
        if provider.is_some() {
            Metrics::set_global(None);
            #[cfg(feature = "alerting")]
            AlertReader::set_global(None);
        }
        if let Some(l) = logging.as_mut() {
            l.detach_global();
        }
        // From here on a new `init` may start: what is left only touches this guard's providers.
        INITIALIZED.store(false, Ordering::Release);

        // Held across the flush: an exporter's status goes away with the exporter.
        let statuses = ExportStatus::all();
        let (tx, rx) = mpsc::channel();
        let flush = move || {
            let mut errors = Vec::new();
            if let Some(p) = provider {
                // Shutdown collects and exports one last time.
                if let Err(e) = p.shutdown() {
                    errors.push(format!("metrics: {e}"));
                }
            }
            if let Some(l) = logging {
                if let Err(e) = l.shutdown() {
                    errors.push(e.to_string());
                }
            }
            let _ = tx.send(errors);
        };
        let mut errors = match std::thread::Builder::new().name("bitcraps-otel-shutdown".into()).spawn(flush) {
            Ok(_) => match rx.recv_timeout(SHUTDOWN_DEADLINE.saturating_sub(started.elapsed())) {
                Ok(errors) => errors,
                Err(_) => vec![format!(
                    "flushing did not finish within {}: what was not yet delivered is dropped",
                    humantime::format_duration(SHUTDOWN_DEADLINE)
                )],
            },
            Err(e) => vec![format!("cannot start the flush thread ({e}): nothing was flushed")],
        };
        // Cancels any export still in flight (the flush thread then ends on its own).
        self.runtimes.shutdown();
        for status in statuses {
            if let Some((at, Err(cause))) = status.last() {
                if at >= started {
                    errors.push(format!("final {} export to {} failed: {cause}", status.signal(), status.endpoint()));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Shutdown(errors.join("; ")))
        }
    }
}
