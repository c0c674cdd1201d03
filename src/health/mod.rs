//! Health endpoints: the [`HealthCheck`] trait, the [`HealthChecker`] that runs checks with
//! timeouts, caching and panic isolation, and the axum router serving `/health` (liveness)
//! and `/ready` (readiness), plus routes a higher layer mounts later (the alerting API).
//!
//! ```
//! use std::time::Duration;
//! use bitcraps_otel::health::{CheckOutcome, HealthCheck, HealthChecker};
//!
//! struct Ledger;
//!
//! #[bitcraps_otel::health::async_trait]
//! impl HealthCheck for Ledger {
//!     fn name(&self) -> &str { "ledger" }
//!     async fn check(&self) -> CheckOutcome {
//!         CheckOutcome::pass()
//!     }
//! }
//!
//! # tokio_test_rt().block_on(async {
//! let checker = HealthChecker::new(Duration::from_secs(2), Duration::from_secs(1));
//! checker.register(Ledger)?;
//! let report = checker.readiness().await;
//! assert!(report.is_ready());
//! # Ok::<(), bitcraps_otel::health::HealthError>(())
//! # })?;
//! # fn tokio_test_rt() -> tokio::runtime::Runtime { tokio::runtime::Runtime::new().unwrap() }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod builtin;
mod checker;
mod mount;
mod router;

pub use async_trait::async_trait;
pub use builtin::{FnCheck, TcpServingCheck};
pub use checker::{CheckReport, CheckStatus, HealthChecker, HealthError, Readiness, ReadinessReport, MAX_CHECKS};
pub use router::router;

use opentelemetry::metrics::{Meter, ObservableGauge};
use opentelemetry::KeyValue;
use std::time::Duration;

/// Reports `bitcraps_health_check_status{check}` (1 pass, 0 fail) from each check's latest
/// result at collection time; checks are not run by a scrape.
pub(crate) fn status_gauge(meter: &Meter, checker: HealthChecker) -> ObservableGauge<i64> {
    let def = &crate::semconv::metric::HEALTH_CHECK_STATUS;
    meter
        .i64_observable_gauge(def.name)
        .with_description(def.brief)
        .with_unit(def.unit)
        .with_callback(move |obs| {
            for (name, last) in checker.last_results() {
                if let Some(ok) = last {
                    obs.observe(i64::from(ok), &[KeyValue::new(crate::semconv::attribute::HEALTH_CHECK.id, name)]);
                }
            }
        })
        .build()
}

/// The result of one run of a check.
///
/// ```
/// use bitcraps_otel::health::CheckOutcome;
/// let ok = CheckOutcome::pass();
/// let down = CheckOutcome::fail("ledger replica lag 40 s");
/// assert!(ok.healthy && !down.healthy);
/// assert_eq!(down.reason.as_deref(), Some("ledger replica lag 40 s"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOutcome {
    /// Whether the dependency is usable.
    pub healthy: bool,
    /// Why not (or a note when healthy).
    pub reason: Option<String>,
}

impl CheckOutcome {
    /// The dependency is fine.
    pub fn pass() -> Self {
        CheckOutcome { healthy: true, reason: None }
    }
    /// The dependency is not usable, because `reason`.
    pub fn fail(reason: impl Into<String>) -> Self {
        CheckOutcome { healthy: false, reason: Some(reason.into()) }
    }
}

/// A dependency the node needs: a database, the peer mesh, the game ledger...
///
/// Checks run with a timeout and their results are cached, so `check` may do real I/O. A
/// check that hangs or panics is reported as failing; it never takes the endpoint down.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::health::{async_trait, CheckOutcome, HealthCheck, HealthChecker};
///
/// struct Mesh { peers: usize }
///
/// #[async_trait]
/// impl HealthCheck for Mesh {
///     fn name(&self) -> &str { "peer_mesh" }
///     fn critical(&self) -> bool { false } // too few peers degrades, never pulls the node
///     fn timeout(&self) -> Option<Duration> { Some(Duration::from_millis(300)) }
///     async fn check(&self) -> CheckOutcome {
///         if self.peers >= 3 { CheckOutcome::pass() } else { CheckOutcome::fail(format!("{} peers", self.peers)) }
///     }
/// }
///
/// # let rt = tokio::runtime::Runtime::new()?;
/// # rt.block_on(async {
/// let checker = HealthChecker::new(Duration::from_secs(2), Duration::from_secs(2));
/// checker.register(Mesh { peers: 1 })?;
/// let report = checker.readiness().await;
/// assert!(report.is_ready() && report.checks[0].reason.as_deref() == Some("1 peers"));
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[async_trait]
pub trait HealthCheck: Send + Sync + 'static {
    /// Short, stable name shown in `/ready` and used as the `check` label of
    /// `bitcraps_health_check_status`.
    fn name(&self) -> &str;
    /// Whether a failure makes the node not ready (`true`, the default) or only degraded.
    fn critical(&self) -> bool {
        true
    }
    /// Time limit of one run; `None` uses the checker's default.
    fn timeout(&self) -> Option<Duration> {
        None
    }
    /// Probes the dependency.
    async fn check(&self) -> CheckOutcome;
}
