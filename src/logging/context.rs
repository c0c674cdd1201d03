//! [`CorrelationContext`]: the ids that tie log lines and spans to one user, game, peer and
//! request, and the ways to make one current (thread-wide, scoped to a block, or scoped to a
//! future across `.await`).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Longest id kept, in bytes; longer input is cut at a character boundary so a hostile header
/// cannot blow up every log line.
pub const MAX_ID_LEN: usize = 128;

/// Correlation ids carried by every log line and span emitted while the context is current.
///
/// The correlation id itself is 128 bits from the operating system's secure random source,
/// written as 32 lowercase hex digits; the other ids are optional and set with the builders.
///
/// ```
/// use bitcraps_otel::logging::CorrelationContext;
///
/// let ctx = CorrelationContext::new()
///     .with_user_id("user_123".to_string())
///     .with_game_id("game_456".to_string());
/// assert_eq!(ctx.correlation_id().len(), 32);
/// assert_eq!(ctx.game_id(), Some("game_456"));
/// assert_ne!(ctx.correlation_id(), CorrelationContext::new().correlation_id());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorrelationContext {
    correlation_id: String,
    user_id: Option<String>,
    game_id: Option<String>,
    peer_id: Option<String>,
    request_id: Option<String>,
}

impl Default for CorrelationContext {
    fn default() -> Self {
        Self::new()
    }
}

fn bounded(mut id: String) -> String {
    if id.len() > MAX_ID_LEN {
        let mut cut = MAX_ID_LEN;
        while !id.is_char_boundary(cut) {
            cut -= 1;
        }
        id.truncate(cut);
    }
    id
}

impl CorrelationContext {
    /// A context with a fresh correlation id from the OS's secure random source.
    ///
    /// # Panics
    /// Only if the operating system cannot provide random bytes at all (see
    /// [`CorrelationContext::try_new`] to handle that case).
    pub fn new() -> Self {
        match Self::try_new() {
            Ok(ctx) => ctx,
            Err(e) => panic!("the operating system's random source failed: {e}"),
        }
    }

    /// Like [`CorrelationContext::new`], returning the OS error instead of panicking.
    pub fn try_new() -> Result<Self, rand::rand_core::OsError> {
        use rand::TryRngCore;
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.try_fill_bytes(&mut bytes)?;
        let mut id = String::with_capacity(32);
        for b in bytes {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            id.push(HEX[usize::from(b >> 4)] as char);
            id.push(HEX[usize::from(b & 0xf)] as char);
        }
        Ok(Self::with_correlation_id(id))
    }

    /// A context continuing a correlation id received from elsewhere (a header, a message).
    /// Ids longer than [`MAX_ID_LEN`] bytes are truncated.
    pub fn with_correlation_id(id: impl Into<String>) -> Self {
        CorrelationContext {
            correlation_id: bounded(id.into()),
            user_id: None,
            game_id: None,
            peer_id: None,
            request_id: None,
        }
    }

    /// Sets the user id.
    pub fn with_user_id(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(bounded(id.into()));
        self
    }
    /// Sets the game id.
    pub fn with_game_id(mut self, id: impl Into<String>) -> Self {
        self.game_id = Some(bounded(id.into()));
        self
    }
    /// Sets the remote peer's id.
    pub fn with_peer_id(mut self, id: impl Into<String>) -> Self {
        self.peer_id = Some(bounded(id.into()));
        self
    }
    /// Sets the request id.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(bounded(id.into()));
        self
    }

    /// The correlation id.
    pub fn correlation_id(&self) -> &str {
        &self.correlation_id
    }
    /// The user id, if set.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }
    /// The game id, if set.
    pub fn game_id(&self) -> Option<&str> {
        self.game_id.as_deref()
    }
    /// The peer id, if set.
    pub fn peer_id(&self) -> Option<&str> {
        self.peer_id.as_deref()
    }
    /// The request id, if set.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// Every id that is set, as `(log field name, value)`, correlation id first.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("correlation_id", Some(self.correlation_id.as_str())),
            ("user_id", self.user_id.as_deref()),
            ("game_id", self.game_id.as_deref()),
            ("peer_id", self.peer_id.as_deref()),
            ("request_id", self.request_id.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }

    /// The context current on this thread or task, if any.
    pub fn current() -> Option<Arc<CorrelationContext>> {
        CURRENT.with(|c| c.try_borrow().ok().and_then(|c| c.clone()))
    }

    /// Makes this context current until the returned guard is dropped (then the previous one
    /// is restored). For synchronous code; in async code use [`CorrelationContext::scope`].
    ///
    /// ```
    /// use bitcraps_otel::logging::CorrelationContext;
    ///
    /// let ctx = CorrelationContext::new().with_peer_id("peer_9f2c");
    /// {
    ///     let _guard = ctx.clone().enter();
    ///     assert_eq!(CorrelationContext::current().as_deref(), Some(&ctx));
    /// }
    /// assert!(CorrelationContext::current().is_none());
    /// ```
    pub fn enter(self) -> CorrelationGuard {
        let ctx = Arc::new(self);
        let otel = attach_otel(&ctx);
        let previous = swap_current(Some(ctx));
        CorrelationGuard { previous, _otel: otel }
    }

    /// Runs `future` with this context current on every poll, whichever thread polls it.
    /// Concurrent tasks scoped with different contexts never see each other's ids, and
    /// [`set_correlation_context`] inside the future only replaces the future's own context.
    ///
    /// ```
    /// use bitcraps_otel::logging::CorrelationContext;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let ctx = CorrelationContext::new().with_game_id("game_456");
    /// let seen = ctx.clone().scope(async {
    ///     tokio::task::yield_now().await;
    ///     CorrelationContext::current()
    /// });
    /// assert_eq!(seen.await.as_deref(), Some(&ctx));
    /// # });
    /// ```
    pub fn scope<F: Future>(self, future: F) -> Scoped<F> {
        Scoped { context: Some(Arc::new(self)), inner: Box::pin(future) }
    }
}

/// The correlation context as an OpenTelemetry context value. Spans record the OpenTelemetry
/// context they are created in as their parent context, so a span created under a correlation
/// context carries its ids whenever and wherever it is started or ended.
#[derive(Debug)]
pub(crate) struct CorrelationValue(pub(crate) Arc<CorrelationContext>);

fn attach_otel(ctx: &Arc<CorrelationContext>) -> opentelemetry::ContextGuard {
    opentelemetry::Context::current_with_value(CorrelationValue(ctx.clone())).attach()
}

/// The context a span should carry: the one it was created under (`parent`), else the one
/// current now.
pub(crate) fn for_span(parent: &opentelemetry::Context) -> Option<Arc<CorrelationContext>> {
    parent.get::<CorrelationValue>().map(|v| v.0.clone()).or_else(CorrelationContext::current)
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<CorrelationContext>>> = const { RefCell::new(None) };
}

fn swap_current(new: Option<Arc<CorrelationContext>>) -> Option<Arc<CorrelationContext>> {
    CURRENT.with(|c| match c.try_borrow_mut() {
        Ok(mut slot) => std::mem::replace(&mut *slot, new),
        // Only reachable if a formatter re-entered while reading; keep the current one.
        Err(_) => new,
    })
}

/// Calls `f` with the current context without cloning it (the formatter's path).
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&CorrelationContext>) -> R) -> R {
    CURRENT.with(|c| match c.try_borrow() {
        Ok(slot) => f(slot.as_deref()),
        Err(_) => f(None),
    })
}

/// Makes `context` current for this thread, or, inside [`CorrelationContext::scope`], for
/// that future only. It stays current until replaced or cleared.
///
/// On a multi-threaded runtime, call it inside a scoped future: outside one it applies to the
/// worker thread, which other tasks share.
///
/// ```
/// use bitcraps_otel::logging::{clear_correlation_context, set_correlation_context, CorrelationContext};
///
/// set_correlation_context(CorrelationContext::new().with_user_id("user_123".to_string()));
/// assert_eq!(CorrelationContext::current().and_then(|c| c.user_id().map(str::to_owned)).as_deref(), Some("user_123"));
/// clear_correlation_context();
/// assert!(CorrelationContext::current().is_none());
/// ```
pub fn set_correlation_context(context: CorrelationContext) {
    swap_current(Some(Arc::new(context)));
}

/// Removes the current context (of the thread, or of the scoped future).
pub fn clear_correlation_context() {
    swap_current(None);
}

/// Restores the previous context when dropped; see [`CorrelationContext::enter`].
#[must_use = "the context is current only while the guard lives"]
#[derive(Debug)]
pub struct CorrelationGuard {
    previous: Option<Arc<CorrelationContext>>,
    // Detached on drop; also makes the guard `!Send`, as the context lives in a thread-local.
    _otel: opentelemetry::ContextGuard,
}

impl Drop for CorrelationGuard {
    fn drop(&mut self) {
        swap_current(self.previous.take());
    }
}

/// A future with a correlation context; see [`CorrelationContext::scope`].
#[must_use = "futures do nothing unless polled"]
pub struct Scoped<F> {
    context: Option<Arc<CorrelationContext>>,
    inner: Pin<Box<F>>,
}

impl<F> std::fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scoped").field("context", &self.context).finish_non_exhaustive()
    }
}

/// Swaps the future's context into the thread-local and back, even if the poll panics.
struct PollSwap<'a> {
    slot: &'a mut Option<Arc<CorrelationContext>>,
    _otel: Option<opentelemetry::ContextGuard>,
}

impl<'a> PollSwap<'a> {
    fn enter(slot: &'a mut Option<Arc<CorrelationContext>>) -> Self {
        let mine = slot.take();
        let otel = mine.as_ref().map(attach_otel);
        *slot = swap_current(mine);
        PollSwap { slot, _otel: otel }
    }
}

impl Drop for PollSwap<'_> {
    fn drop(&mut self) {
        let outer = self.slot.take();
        // Whatever is current now (possibly replaced by `set_correlation_context` inside the
        // future) becomes the future's context for its next poll.
        *self.slot = swap_current(outer);
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // `Scoped` is `Unpin`: the inner future is pinned in its own box.
        let this = self.get_mut();
        let _swap = PollSwap::enter(&mut this.context);
        this.inner.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_hex_and_bounded() {
        let a = CorrelationContext::new();
        assert!(a.correlation_id().chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let ids: std::collections::HashSet<_> =
            (0..1000).map(|_| CorrelationContext::new().correlation_id().to_string()).collect();
        assert_eq!(ids.len(), 1000);
        let long = CorrelationContext::new().with_user_id("é".repeat(100));
        assert!(long.user_id().is_some_and(|u| u.len() <= MAX_ID_LEN));
    }

    #[test]
    fn guards_nest_and_restore() {
        let outer = CorrelationContext::with_correlation_id("outer");
        let inner = CorrelationContext::with_correlation_id("inner");
        let g1 = outer.enter();
        {
            let _g2 = inner.enter();
            assert_eq!(CorrelationContext::current().map(|c| c.correlation_id().to_owned()).as_deref(), Some("inner"));
        }
        assert_eq!(CorrelationContext::current().map(|c| c.correlation_id().to_owned()).as_deref(), Some("outer"));
        drop(g1);
        assert!(CorrelationContext::current().is_none());
    }

    #[test]
    fn set_inside_a_scope_stays_in_the_scope() {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        rt.block_on(async {
            let scoped = CorrelationContext::with_correlation_id("a").scope(async {
                set_correlation_context(CorrelationContext::with_correlation_id("b"));
                tokio::task::yield_now().await;
                CorrelationContext::current().map(|c| c.correlation_id().to_owned())
            });
            assert_eq!(scoped.await.as_deref(), Some("b"));
            assert!(CorrelationContext::current().is_none());
        });
    }
}
