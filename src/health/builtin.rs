//! Ready-made checks: a closure as a check, and "is this server accepting connections".

use super::{async_trait, CheckOutcome, HealthCheck};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

type BoxedCheck = Box<dyn Fn() -> Pin<Box<dyn Future<Output = CheckOutcome> + Send>> + Send + Sync>;

/// A check made from a name and an async closure.
///
/// ```
/// use bitcraps_otel::health::{CheckOutcome, FnCheck};
/// let mesh = FnCheck::new("peer_mesh", || async { CheckOutcome::pass() }).non_critical();
/// ```
pub struct FnCheck {
    name: String,
    critical: bool,
    timeout: Option<Duration>,
    run: BoxedCheck,
}

impl FnCheck {
    /// A critical check named `name` running `f`.
    pub fn new<F, Fut>(name: impl Into<String>, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CheckOutcome> + Send + 'static,
    {
        FnCheck { name: name.into(), critical: true, timeout: None, run: Box::new(move || Box::pin(f())) }
    }

    /// A failure only degrades readiness.
    pub fn non_critical(mut self) -> Self {
        self.critical = false;
        self
    }

    /// Its own time limit.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

#[async_trait]
impl HealthCheck for FnCheck {
    fn name(&self) -> &str {
        &self.name
    }
    fn critical(&self) -> bool {
        self.critical
    }
    fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
    async fn check(&self) -> CheckOutcome {
        (self.run)().await
    }
}

/// Passes while something accepts TCP connections on an address: the SDK registers one for
/// its Prometheus bridge.
///
/// ```
/// use std::time::Duration;
/// use bitcraps_otel::health::{HealthChecker, TcpServingCheck};
///
/// # let rt = tokio::runtime::Runtime::new()?;
/// # rt.block_on(async {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let checker = HealthChecker::new(Duration::ZERO, Duration::from_secs(1));
/// checker.register(TcpServingCheck::new("ledger_port", listener.local_addr()?, true))?;
/// assert!(checker.readiness().await.is_ready());
/// drop(listener);
/// assert!(!checker.readiness().await.is_ready(), "nothing listens any more");
/// # Ok::<(), Box<dyn std::error::Error>>(()) })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TcpServingCheck {
    name: String,
    addr: SocketAddr,
    critical: bool,
}

impl TcpServingCheck {
    /// Checks `addr` under `name`; an unspecified address (`0.0.0.0`) is probed on loopback.
    pub fn new(name: impl Into<String>, addr: SocketAddr, critical: bool) -> Self {
        let mut addr = addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
        }
        TcpServingCheck { name: name.into(), addr, critical }
    }
}

#[async_trait]
impl HealthCheck for TcpServingCheck {
    fn name(&self) -> &str {
        &self.name
    }
    fn critical(&self) -> bool {
        self.critical
    }
    async fn check(&self) -> CheckOutcome {
        match tokio::net::TcpStream::connect(self.addr).await {
            Ok(_) => CheckOutcome::pass(),
            Err(e) => CheckOutcome::fail(format!("nothing accepts connections on {}: {e}", self.addr)),
        }
    }
}
