//! The runtimes the guard uses: the caller's (or a small owned one) for the servers, and one
//! of its own for exporters, so that flushing at shutdown never waits on the caller's runtime
//! (a current-thread runtime blocked in the guard's drop could never run an export).

use crate::Error;
use tokio::runtime::{Builder, Handle, Runtime};

fn small(name: &str) -> Result<Runtime, Error> {
    Builder::new_multi_thread().worker_threads(1).thread_name(name).enable_all().build().map_err(Error::Runtime)
}

/// Either the runtime the caller runs in, or one the guard owns; plus the exporters' runtime.
pub(super) struct Runtimes {
    /// Where the servers run: the caller's runtime, else `owned`.
    host: Handle,
    /// The runtime the guard owns when `init` ran outside tokio (servers and exporters).
    owned: Option<Runtime>,
    /// The exporters' own runtime when the servers use the caller's.
    export: Option<Runtime>,
}

impl Runtimes {
    /// The current runtime, or an owned one; and, when `exports`, one for the exporters.
    pub(super) fn acquire(exports: bool) -> Result<Runtimes, Error> {
        match Handle::try_current() {
            Ok(host) => {
                let export = if exports { Some(small("bitcraps-otel-export")?) } else { None };
                Ok(Runtimes { host, owned: None, export })
            }
            Err(_) => {
                let rt = small("bitcraps-otel")?;
                Ok(Runtimes { host: rt.handle().clone(), owned: Some(rt), export: None })
            }
        }
    }

    /// Where the servers run.
    pub(super) fn handle(&self) -> Handle {
        self.host.clone()
    }

    /// Where exports run: never the caller's runtime when OTLP is on.
    pub(super) fn export_handle(&self) -> Handle {
        self.export.as_ref().map_or_else(|| self.host.clone(), |rt| rt.handle().clone())
    }

    /// Stops the runtimes the guard owns, cancelling whatever still runs on them. Safe in any
    /// context, unlike dropping a runtime inside another one.
    pub(super) fn shutdown(&mut self) {
        for rt in [self.export.take(), self.owned.take()].into_iter().flatten() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Runtimes {
    fn drop(&mut self) {
        self.shutdown();
    }
}
