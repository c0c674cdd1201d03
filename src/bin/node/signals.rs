//! The node's signals, registered before anything is served: SIGTERM and SIGINT stop it (a
//! second one exits at once), SIGHUP reloads the alert rules or is logged and ignored, and
//! never kills the node.

#[cfg(unix)]
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Which shutdown signal arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT (ctrl-c).
    Interrupt,
    /// SIGTERM (what Kubernetes and systemd send).
    Terminate,
}

impl Stop {
    /// The signal's name, for log lines.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }

    /// The exit status of a process ended by this signal (128 + its number).
    pub fn exit_status(self) -> i32 {
        match self {
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
        }
    }
}

/// The registered handlers. Registering replaces the default action (terminate) for good, so
/// this runs first: a signal that arrived before a handler existed would kill the node.
pub struct Signals {
    #[cfg(unix)]
    term: Option<Signal>,
    #[cfg(unix)]
    int: Option<Signal>,
    #[cfg(unix)]
    hup: Option<Signal>,
}

/// SIGHUP, handed to whoever reloads on it.
pub struct Hangup {
    #[cfg(unix)]
    signal: Signal,
}

impl Hangup {
    /// Resolves on the next SIGHUP; `false` when no more can arrive.
    pub async fn recv(&mut self) -> bool {
        #[cfg(unix)]
        return self.signal.recv().await.is_some();
        #[cfg(not(unix))]
        std::future::pending().await
    }
}

impl Signals {
    /// Registers SIGTERM, SIGINT and SIGHUP.
    pub fn install() -> Signals {
        #[cfg(unix)]
        {
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
                hup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// SIGHUP, for the alert engine's reload; `None` once taken (or where there is none).
    pub fn take_hangup(&mut self) -> Option<Hangup> {
        #[cfg(unix)]
        return self.hup.take().map(|signal| Hangup { signal });
        #[cfg(not(unix))]
        None
    }

    /// Resolves on the next SIGTERM or SIGINT.
    pub async fn stop(&mut self) -> Stop {
        #[cfg(unix)]
        {
            async fn next(s: &mut Option<Signal>) {
                let received = match s.as_mut() {
                    Some(s) => s.recv().await.is_some(),
                    None => false,
                };
                if !received {
                    std::future::pending::<()>().await;
                }
            }
            tokio::select! {
                _ = next(&mut self.term) => Stop::Terminate,
                _ = next(&mut self.int) => Stop::Interrupt,
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            Stop::Interrupt
        }
    }
}

/// Logs every SIGHUP as ignored, `why`: nothing reloads on it, and it must not kill the node.
pub fn ignore_hangups(hangup: Option<Hangup>, why: &'static str) {
    let Some(mut hangup) = hangup else { return };
    tokio::spawn(async move {
        while hangup.recv().await {
            tracing::info!(reason = why, "SIGHUP ignored: nothing to reload");
        }
    });
}

/// After the first shutdown signal: a second SIGTERM or SIGINT exits at once, saying what the
/// skipped drain and flush cost.
pub fn exit_on_second_signal(mut signals: Signals, skipped: &'static str) {
    tokio::spawn(async move {
        let again = signals.stop().await;
        tracing::warn!(
            signal = again.name(),
            skipped,
            "second {} received: exiting now without draining or flushing",
            again.name()
        );
        std::process::exit(again.exit_status());
    });
}
