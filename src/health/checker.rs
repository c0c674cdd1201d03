//! Runs registered checks: one at a time per check, each result cached for a TTL, each run
//! bounded by a timeout and isolated in its own task so a panic is a failed check.

use super::{CheckOutcome, HealthCheck};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Most checks one checker accepts; check names become a metric label, so this bounds it.
pub const MAX_CHECKS: usize = 64;

/// Registering a check failed.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::health::{CheckOutcome, FnCheck, HealthChecker, HealthError};
///
/// let checker = HealthChecker::new(Duration::from_secs(2), Duration::from_secs(2));
/// checker.register(FnCheck::new("ledger", || async { CheckOutcome::pass() }))?;
/// let again = checker.register(FnCheck::new("ledger", || async { CheckOutcome::pass() }));
/// assert_eq!(again, Err(HealthError::Duplicate("ledger".into())));
/// let bad = checker.register(FnCheck::new("no spaces", || async { CheckOutcome::pass() }));
/// assert!(matches!(bad, Err(HealthError::InvalidName(_))));
/// # Ok::<(), HealthError>(())
/// ```
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HealthError {
    /// Another check already has this name.
    #[error("a health check named `{0}` is already registered")]
    Duplicate(String),
    /// The name is empty, too long, or has characters outside `[A-Za-z0-9_.-]`.
    #[error("`{0}` is not a valid health check name (1-64 characters of [A-Za-z0-9_.-])")]
    InvalidName(String),
    /// [`MAX_CHECKS`] are registered already.
    #[error("at most {MAX_CHECKS} health checks can be registered")]
    TooMany,
}

/// The state of one check in a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// The last run passed.
    Pass,
    /// The last run failed, timed out or panicked.
    Fail,
}

/// One check's line in `/ready`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// Check name.
    pub name: String,
    /// Whether a failure makes the node not ready.
    pub critical: bool,
    /// Pass or fail.
    pub status: CheckStatus,
    /// Why it failed (timeouts and panics say so).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long the run that produced this result took.
    pub duration_ms: u64,
    /// How old the result is (it may come from the cache).
    pub age_ms: u64,
}

/// Overall readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// Every check passes.
    Ready,
    /// Every critical check passes; some non-critical one fails.
    Degraded,
    /// A critical check fails, or the node is shutting down.
    NotReady,
}

/// The body of `/ready`.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::health::{CheckOutcome, CheckStatus, FnCheck, HealthChecker, Readiness};
///
/// # let rt = tokio::runtime::Runtime::new()?;
/// # rt.block_on(async {
/// let checker = HealthChecker::new(Duration::ZERO, Duration::from_secs(1));
/// checker.register(FnCheck::new("ledger", || async { CheckOutcome::pass() }))?;
/// checker.register(FnCheck::new("mesh", || async { CheckOutcome::fail("2 of 9 peers") }).non_critical())?;
/// let report = checker.readiness().await;
/// assert_eq!(report.status, Readiness::Degraded);
/// assert!(report.is_ready(), "a non-critical failure only degrades");
/// let mesh = report.checks.iter().find(|c| c.name == "mesh").expect("listed");
/// assert_eq!((mesh.status, mesh.reason.as_deref()), (CheckStatus::Fail, Some("2 of 9 peers")));
/// // The JSON body of `/ready`:
/// assert!(serde_json::to_string(&report)?.contains("\"status\":\"degraded\""));
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadinessReport {
    /// Overall readiness.
    pub status: Readiness,
    /// Set while the node drains before exiting.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shutting_down: bool,
    /// Every check, in registration order.
    pub checks: Vec<CheckReport>,
}

impl ReadinessReport {
    /// Whether `/ready` answers 200 (ready or degraded).
    pub fn is_ready(&self) -> bool {
        self.status != Readiness::NotReady
    }
}

struct Cached {
    at: Instant,
    outcome: CheckOutcome,
    took: Duration,
}

struct Entry {
    check: Arc<dyn HealthCheck>,
    name: String,
    critical: bool,
    // 0 never run, 1 pass, 2 fail: readable by the metrics callback while a run holds `cache`.
    last: AtomicU8,
    // Held across a run: concurrent probes queue here and then read the fresh result, so a
    // check runs at most once per TTL however many probes arrive.
    cache: tokio::sync::Mutex<Option<Cached>>,
}

/// Runs the registered checks for `/ready`. Cheap to clone; clones share checks and state.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::health::{router, CheckOutcome, FnCheck, HealthChecker};
///
/// # let rt = tokio::runtime::Runtime::new()?;
/// # rt.block_on(async {
/// // Results reused for 2 s (a probe storm runs each check once), each run limited to 1 s.
/// let checker = HealthChecker::new(Duration::from_secs(2), Duration::from_secs(1));
/// checker.register(FnCheck::new("ledger", || async { CheckOutcome::pass() }))?;
/// assert!(checker.readiness().await.is_ready());
/// checker.begin_shutdown(); // /ready answers 503 from now on
/// assert!(!checker.readiness().await.is_ready());
/// let _app = router(checker); // GET /health and GET /ready, to serve with axum
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct HealthChecker {
    inner: Arc<Inner>,
}

struct Inner {
    entries: RwLock<Vec<Arc<Entry>>>,
    ttl: Duration,
    timeout: Duration,
    draining: AtomicBool,
    started: Instant,
    mounted: super::mount::Mounted,
}

impl std::fmt::Debug for HealthChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthChecker").field("checks", &self.names()).finish_non_exhaustive()
    }
}

impl HealthChecker {
    /// A checker whose results live `ttl` and whose checks run at most `timeout` each.
    pub fn new(ttl: Duration, timeout: Duration) -> Self {
        HealthChecker {
            inner: Arc::new(Inner {
                entries: RwLock::new(Vec::new()),
                ttl,
                timeout,
                draining: AtomicBool::new(false),
                started: Instant::now(),
                mounted: super::mount::Mounted::default(),
            }),
        }
    }

    /// Serves `router` on the health address next to `/health` and `/ready` (which keep
    /// precedence), replacing anything mounted before. This is how a higher layer, such as the
    /// alert engine's operator API, joins a server that is already listening.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use bitcraps_otel::health::HealthChecker;
    /// let checker = HealthChecker::new(Duration::from_secs(1), Duration::from_secs(1));
    /// checker.mount(axum::Router::new().route("/hello", axum::routing::get(|| async { "hi" })));
    /// assert!(checker.has_mounted_routes());
    /// ```
    pub fn mount(&self, router: axum::Router) {
        self.inner.mounted.set(router);
    }

    /// Whether [`mount`](Self::mount) has been called.
    pub fn has_mounted_routes(&self) -> bool {
        self.inner.mounted.is_set()
    }

    pub(crate) fn mounted(&self) -> &super::mount::Mounted {
        &self.inner.mounted
    }

    /// Adds a check; names are unique.
    pub fn register(&self, check: impl HealthCheck) -> Result<(), HealthError> {
        self.register_arc(Arc::new(check))
    }

    /// Adds a shared check.
    pub fn register_arc(&self, check: Arc<dyn HealthCheck>) -> Result<(), HealthError> {
        let name = check.name().to_string();
        let valid = (1..=64).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(HealthError::InvalidName(name));
        }
        let mut entries = self.inner.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.iter().any(|e| e.name == name) {
            return Err(HealthError::Duplicate(name));
        }
        if entries.len() >= MAX_CHECKS {
            return Err(HealthError::TooMany);
        }
        let critical = check.critical();
        entries.push(Arc::new(Entry {
            check,
            name,
            critical,
            last: AtomicU8::new(0),
            cache: tokio::sync::Mutex::new(None),
        }));
        Ok(())
    }

    /// Names of the registered checks.
    pub fn names(&self) -> Vec<String> {
        self.entries().iter().map(|e| e.name.clone()).collect()
    }

    fn entries(&self) -> Vec<Arc<Entry>> {
        self.inner.entries.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Marks the node as shutting down: `/ready` answers 503 from now on.
    pub fn begin_shutdown(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    /// Whether [`HealthChecker::begin_shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// Time since the checker was created (the node's telemetry uptime).
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Runs (or reuses) every check, concurrently, and summarizes.
    pub async fn readiness(&self) -> ReadinessReport {
        let runs = self.entries().into_iter().map(|e| self.result_of(e));
        let checks: Vec<CheckReport> = futures_util::future::join_all(runs).await;
        let shutting_down = self.is_shutting_down();
        let critical_fail = checks.iter().any(|c| c.critical && c.status == CheckStatus::Fail);
        let any_fail = checks.iter().any(|c| c.status == CheckStatus::Fail);
        let status = if shutting_down || critical_fail {
            Readiness::NotReady
        } else if any_fail {
            Readiness::Degraded
        } else {
            Readiness::Ready
        };
        ReadinessReport { status, shutting_down, checks }
    }

    /// The latest result of each check without running anything (for metrics): `None` until
    /// a check first runs.
    pub fn last_results(&self) -> Vec<(String, Option<bool>)> {
        self.entries()
            .iter()
            .map(|e| {
                let last = match e.last.load(Ordering::Relaxed) {
                    1 => Some(true),
                    2 => Some(false),
                    _ => None,
                };
                (e.name.clone(), last)
            })
            .collect()
    }

    async fn result_of(&self, entry: Arc<Entry>) -> CheckReport {
        let mut cache = entry.cache.lock().await;
        let fresh = cache.as_ref().is_some_and(|c| c.at.elapsed() < self.inner.ttl);
        if !fresh {
            let started = Instant::now();
            let outcome = run_isolated(&entry, self.inner.timeout).await;
            entry.last.store(if outcome.healthy { 1 } else { 2 }, Ordering::Relaxed);
            *cache = Some(Cached { at: Instant::now(), outcome, took: started.elapsed() });
        }
        // Just filled if it was empty or stale.
        let (outcome, took, age) = match cache.as_ref() {
            Some(c) => (c.outcome.clone(), c.took, c.at.elapsed()),
            None => (CheckOutcome::fail("no result"), Duration::ZERO, Duration::ZERO),
        };
        CheckReport {
            name: entry.name.clone(),
            critical: entry.critical,
            status: if outcome.healthy { CheckStatus::Pass } else { CheckStatus::Fail },
            reason: outcome.reason,
            duration_ms: took.as_millis() as u64,
            age_ms: age.as_millis() as u64,
        }
    }
}

/// Runs a check in its own task so a panic is contained, under its time limit.
async fn run_isolated(entry: &Entry, default_timeout: Duration) -> CheckOutcome {
    let limit = entry.check.timeout().unwrap_or(default_timeout);
    let check = Arc::clone(&entry.check);
    let mut task = tokio::spawn(async move { check.check().await });
    match tokio::time::timeout(limit, &mut task).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) if e.is_panic() => CheckOutcome::fail("check panicked"),
        Ok(Err(_)) => CheckOutcome::fail("check was cancelled"),
        Err(_) => {
            task.abort();
            CheckOutcome::fail(format!("timed out after {} ms", limit.as_millis()))
        }
    }
}
