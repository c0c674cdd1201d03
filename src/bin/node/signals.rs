//! The node's signals, registered before anything is served: SIGTERM and SIGINT stop it (a
//! second one exits at once), SIGHUP reloads the alert rules or is logged and ignored, and
//! never kills the node, except when it is the hang-up of the terminal the node runs in
//! (the window closed): then it stops the node like SIGTERM, rather than leave it running
//! with nobody to see it, holding its ports.

use std::io::IsTerminal;
use std::sync::Arc;
use tokio::sync::Notify;

#[cfg(unix)]
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Which shutdown signal arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT (ctrl-c).
    Interrupt,
    /// SIGTERM (what Kubernetes and systemd send).
    Terminate,
    /// SIGHUP from the hang-up of the node's terminal.
    Hangup,
}

impl Stop {
    /// The signal's name, for log lines.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
            Stop::Hangup => "SIGHUP",
        }
    }

    /// The exit status of a process ended by this signal (128 + its number).
    pub fn exit_status(self) -> i32 {
        match self {
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
            Stop::Hangup => 129,
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
    /// Told when a SIGHUP turned out to be the terminal's hang-up.
    hung_up: Arc<Notify>,
    /// Whether the node started on a terminal: read at `install`, since a hang-up can come
    /// before the reload handler is set up, and by then the terminal is gone.
    terminal: bool,
}

/// Whether any of the standard streams is a terminal. A hung-up terminal no longer is one
/// (its file answers every terminal request with an error), which is how a SIGHUP from a
/// closed window is told apart from `kill -HUP` asking for a reload.
fn on_a_terminal() -> bool {
    std::io::stdin().is_terminal() || std::io::stdout().is_terminal() || std::io::stderr().is_terminal()
}

/// SIGHUP, handed to whoever reloads on it.
pub struct Hangup {
    #[cfg(unix)]
    signal: Signal,
    /// The node started on a terminal: a SIGHUP after which it no longer is one is a hang-up.
    terminal: bool,
    hung_up: Arc<Notify>,
}

impl Hangup {
    /// Resolves on the next SIGHUP that asks for a reload; `false` when no more can arrive,
    /// which includes the hang-up of the node's terminal (the node is then stopping).
    pub async fn recv(&mut self) -> bool {
        #[cfg(unix)]
        {
            if self.signal.recv().await.is_none() {
                return false;
            }
            if self.terminal && !on_a_terminal() {
                // `notify_one` keeps the wake-up if `stop()` is not waiting yet.
                self.hung_up.notify_one();
                return false;
            }
            true
        }
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
                hung_up: Arc::new(Notify::new()),
                terminal: on_a_terminal(),
            }
        }
        #[cfg(not(unix))]
        Signals { hung_up: Arc::new(Notify::new()), terminal: on_a_terminal() }
    }

    /// SIGHUP, for the alert engine's reload; `None` once taken (or where there is none).
    pub fn take_hangup(&mut self) -> Option<Hangup> {
        #[cfg(unix)]
        return self.hup.take().map(|signal| Hangup {
            signal,
            terminal: self.terminal,
            hung_up: Arc::clone(&self.hung_up),
        });
        #[cfg(not(unix))]
        None
    }

    /// Resolves on the next SIGTERM or SIGINT, or the hang-up of the node's terminal.
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
            let hung_up = Arc::clone(&self.hung_up);
            tokio::select! {
                _ = next(&mut self.term) => Stop::Terminate,
                _ = next(&mut self.int) => Stop::Interrupt,
                _ = hung_up.notified() => Stop::Hangup,
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
