//! One render for many concurrent scrapes: a scrape that arrives while a render is running
//! waits for it (asynchronously, holding no thread) and takes its result, and a render that
//! finished a few milliseconds ago is reused. So N scrapers cost one render and one blocking
//! thread, where each used to take a thread of its own (600 scrapers made 515 threads).
//!
//! The render runs in a task of its own that holds the slot until the page is stored, so a
//! scraper that hangs up mid-render abandons nothing: the scrapers behind it get that page
//! instead of starting another render on another thread.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How long a finished render answers later scrapes.
pub(crate) const REUSE_FOR: Duration = Duration::from_millis(5);

struct Done<T> {
    finished: Instant,
    value: Arc<T>,
}

/// The single-flight slot of one kind of render.
pub(crate) struct Shared<T> {
    slot: Arc<Mutex<Option<Done<T>>>>,
    reuse_for: Duration,
}

/// Why a scrape got no render.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ShareError {
    /// The render panicked or its blocking task was cancelled at shutdown.
    #[error("render task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl<T: Send + Sync + 'static> Shared<T> {
    pub(crate) fn new(reuse_for: Duration) -> Self {
        Shared { slot: Arc::new(Mutex::new(None)), reuse_for }
    }

    /// The latest render if it finished after this call began or within the reuse window,
    /// else a new one from `render`, run on the blocking pool.
    pub(crate) async fn get(&self, render: impl FnOnce() -> T + Send + 'static) -> Result<Arc<T>, ShareError> {
        let arrived = Instant::now();
        let mut slot = Arc::clone(&self.slot).lock_owned().await;
        if let Some(done) = slot.as_ref() {
            if done.finished >= arrived || done.finished.elapsed() <= self.reuse_for {
                return Ok(Arc::clone(&done.value));
            }
        }
        let leader = tokio::spawn(async move {
            let value = Arc::new(tokio::task::spawn_blocking(render).await?);
            *slot = Some(Done { finished: Instant::now(), value: Arc::clone(&value) });
            Ok::<_, tokio::task::JoinError>(value)
        });
        Ok(leader.await??)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // Current-thread runtime: a spawned scrape runs until it waits on the lock before the test
    // goes on, so "every scrape has arrived" is an exact condition, not a matter of timing.
    #[tokio::test]
    async fn scrapes_arriving_during_a_render_share_it() {
        let shared = Arc::new(Shared::new(Duration::ZERO));
        let renders = Arc::new(AtomicUsize::new(0));
        let arrived = Arc::new(AtomicUsize::new(0));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let first = {
            let (shared, renders) = (Arc::clone(&shared), Arc::clone(&renders));
            tokio::spawn(async move {
                shared
                    .get(move || {
                        // Holds the render until every other scrape is queued behind it.
                        let _ = gate.recv();
                        renders.fetch_add(1, Ordering::SeqCst) + 1
                    })
                    .await
            })
        };
        while shared.slot.try_lock().is_ok() {
            tokio::task::yield_now().await;
        }
        let waiters: Vec<_> = (0..50)
            .map(|_| {
                let (shared, renders, arrived) = (Arc::clone(&shared), Arc::clone(&renders), Arc::clone(&arrived));
                tokio::spawn(async move {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    shared.get(move || renders.fetch_add(1, Ordering::SeqCst) + 1).await
                })
            })
            .collect();
        while arrived.load(Ordering::SeqCst) < 50 {
            tokio::task::yield_now().await;
        }
        release.send(()).expect("render waiting");
        let mut seen = vec![*first.await.expect("task").expect("render")];
        for w in waiters {
            seen.push(*w.await.expect("task").expect("render"));
        }
        assert_eq!(renders.load(Ordering::SeqCst), 1, "51 scrapes, one render");
        assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
    }

    #[tokio::test]
    async fn a_scraper_that_hangs_up_mid_render_leaves_the_page_to_those_behind_it() {
        let shared = Arc::new(Shared::new(Duration::ZERO));
        let renders = Arc::new(AtomicUsize::new(0));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let first = {
            let (shared, renders) = (Arc::clone(&shared), Arc::clone(&renders));
            tokio::spawn(async move {
                shared
                    .get(move || {
                        let _ = gate.recv();
                        renders.fetch_add(1, Ordering::SeqCst);
                        100
                    })
                    .await
            })
        };
        while shared.slot.try_lock().is_ok() {
            tokio::task::yield_now().await;
        }
        let second = {
            let (shared, renders) = (Arc::clone(&shared), Arc::clone(&renders));
            tokio::spawn(async move { shared.get(move || renders.fetch_add(1, Ordering::SeqCst) + 1).await })
        };
        tokio::task::yield_now().await;
        first.abort();
        assert!(first.await.is_err_and(|e| e.is_cancelled()), "the first scraper hung up");
        release.send(()).expect("render still running");
        assert_eq!(*second.await.expect("task").expect("render"), 100, "the abandoned render's page");
        assert_eq!(renders.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_render_is_reused_within_the_window_and_redone_after_it() {
        let shared = Shared::new(Duration::from_millis(5));
        let renders = Arc::new(AtomicUsize::new(0));
        let render = |r: Arc<AtomicUsize>| move || r.fetch_add(1, Ordering::SeqCst) + 1;
        assert_eq!(*shared.get(render(Arc::clone(&renders))).await.expect("render"), 1);
        tokio::time::advance(Duration::from_millis(4)).await;
        assert_eq!(*shared.get(render(Arc::clone(&renders))).await.expect("render"), 1, "4 ms later: reused");
        tokio::time::advance(Duration::from_millis(2)).await;
        assert_eq!(*shared.get(render(Arc::clone(&renders))).await.expect("render"), 2, "6 ms later: fresh");
    }
}
