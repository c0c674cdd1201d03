//! The subscriber: a `RUST_LOG`-style filter, the OpenTelemetry span layer, the line
//! formatter and the OTLP log bridge, composed into one layer; and the process-wide
//! installation of that layer behind a switch, so a later `init` can replace it.

use super::format::FormatLayer;
use super::redact::Redactor;
use super::LoggingError;
use crate::config::{parse_filter, LogFormat};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::any::TypeId;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::Registry;

/// The composed layer, over the plain registry.
pub type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync + 'static>;

/// Name of the tracer (instrumentation scope) the span layer records with.
pub const TRACER_NAME: &str = "bitcraps";

/// Targets whose events and spans never go to the OpenTelemetry layers: the SDK's own logs and
/// the HTTP/gRPC stack the exporters run on. Exporting them would feed the exporter its own
/// traffic.
pub const NOT_EXPORTED_TARGETS: &[&str] = &["opentelemetry", "tonic", "h2", "hyper", "tower", "reqwest", "rustls"];

fn exported(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    !NOT_EXPORTED_TARGETS.iter().any(|t| target.starts_with(t))
}

/// Builds the layer stack. Cloneable, so the same settings can be rebuilt without export.
///
/// ```
/// use bitcraps_otel::config::LogFormat;
/// use bitcraps_otel::logging::LoggingBuilder;
///
/// let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
/// let sink = buffer.clone();
/// let subscriber = LoggingBuilder::new()
///     .filter("debug")
///     .format(LogFormat::Json)
///     .build_subscriber(move || CaptureWriter(sink.clone()))?;
/// tracing::subscriber::with_default(subscriber, || tracing::info!(api_key = "k-123", "hello"));
/// let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
/// assert!(text.contains("\"message\":\"hello\"") && text.contains("[REDACTED]") && !text.contains("k-123"));
///
/// struct CaptureWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
/// impl std::io::Write for CaptureWriter {
///     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().extend_from_slice(b); Ok(b.len()) }
///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// }
/// # Ok::<(), bitcraps_otel::logging::LoggingError>(())
/// ```
#[derive(Clone, Debug)]
pub struct LoggingBuilder {
    filter: String,
    format: LogFormat,
    redactor: Redactor,
    tracer_provider: Option<SdkTracerProvider>,
    logger_provider: Option<SdkLoggerProvider>,
    colour: bool,
}

impl Default for LoggingBuilder {
    fn default() -> Self {
        LoggingBuilder {
            filter: "info".into(),
            format: LogFormat::Json,
            redactor: Redactor::default(),
            tracer_provider: None,
            logger_provider: None,
            colour: false,
        }
    }
}

impl LoggingBuilder {
    /// `info`, JSON, the default secret names, spans traced but not exported.
    pub fn new() -> Self {
        Self::default()
    }

    /// The logging settings of `config` (filter, format, extra secret names), for lines on
    /// stdout: the human-readable format is coloured when stdout is a terminal (and `NO_COLOR`
    /// is unset).
    pub fn from_config(config: &crate::Config) -> Self {
        LoggingBuilder {
            filter: config.log_directives(),
            format: config.log_format(),
            redactor: Redactor::new(config.redacted_fields()),
            tracer_provider: None,
            logger_provider: None,
            colour: super::terminal::stdout_wants_colour(),
        }
    }

    /// ANSI colours in the human-readable format (off by default; JSON is never coloured).
    pub fn colour(mut self, on: bool) -> Self {
        self.colour = on;
        self
    }

    /// `RUST_LOG`-style directives, e.g. `info,bitcraps_otel::alerting=debug`.
    pub fn filter(mut self, directives: impl Into<String>) -> Self {
        self.filter = directives.into();
        self
    }

    /// JSON lines or human-readable lines.
    pub fn format(mut self, format: LogFormat) -> Self {
        self.format = format;
        self
    }

    /// Which field names are secrets.
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Spans are recorded with this provider (and exported by its processors). Without one,
    /// spans still get trace and span ids (for log lines and propagation) but go nowhere.
    pub fn tracer_provider(mut self, provider: SdkTracerProvider) -> Self {
        self.tracer_provider = Some(provider);
        self
    }

    /// Events are also emitted as OpenTelemetry log records through this provider.
    pub fn logger_provider(mut self, provider: SdkLoggerProvider) -> Self {
        self.logger_provider = Some(provider);
        self
    }

    /// The same settings without span or log export.
    pub(crate) fn without_export(mut self) -> Self {
        self.tracer_provider = None;
        self.logger_provider = None;
        self
    }

    pub(crate) fn redactor_ref(&self) -> &Redactor {
        &self.redactor
    }

    /// The composed layer writing lines to `writer`. Fails on a bad filter directive.
    pub fn build_layer<W>(&self, writer: W) -> Result<BoxedLayer, LoggingError>
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        let filter = parse_filter(&self.filter)
            .map_err(|e| LoggingError::Filter { directives: self.filter.clone(), reason: e.to_string() })?;
        let tracer = match &self.tracer_provider {
            Some(p) => p.tracer(TRACER_NAME),
            None => SdkTracerProvider::builder().build().tracer(TRACER_NAME),
        };
        let spans = Exported(tracing_opentelemetry::layer().with_tracer(tracer));
        let logs = self
            .logger_provider
            .as_ref()
            .map(|p| Exported(opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(p)));
        let format = FormatLayer::new(writer, self.format, self.redactor.clone(), self.colour, &filter);
        let base = filter.and_then(spans).and_then(format);
        // No `Option` layer: a `None` layer answers "off" to level hints, and behind the
        // global switch that answer would silence everything.
        Ok(match logs {
            Some(logs) => Box::new(base.and_then(logs)),
            None => Box::new(base),
        })
    }

    /// A subscriber for [`tracing::subscriber::with_default`] (tests, benchmarks, embedding).
    pub fn build_subscriber<W>(&self, writer: W) -> Result<impl Subscriber + Send + Sync + 'static, LoggingError>
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        Ok(Registry::default().with(self.build_layer(writer)?))
    }
}

/// Passes everything to `L` except spans and events of [`NOT_EXPORTED_TARGETS`].
struct Exported<L>(L);

impl<L: Layer<Registry>> Layer<Registry> for Exported<L> {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, Registry>) {
        if exported(attrs.metadata()) {
            self.0.on_new_span(attrs, id, ctx);
        }
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, Registry>) {
        self.0.on_record(id, values, ctx);
    }
    fn on_follows_from(&self, span: &Id, follows: &Id, ctx: Context<'_, Registry>) {
        self.0.on_follows_from(span, follows, ctx);
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, Registry>) {
        // `log` records (rustls, hyper…) carry their real target in the normalized metadata.
        let normalized = tracing_log::NormalizeEvent::normalized_metadata(event);
        if exported(normalized.as_ref().unwrap_or_else(|| event.metadata())) {
            self.0.on_event(event, ctx);
        }
    }
    fn on_enter(&self, id: &Id, ctx: Context<'_, Registry>) {
        self.0.on_enter(id, ctx);
    }
    fn on_exit(&self, id: &Id, ctx: Context<'_, Registry>) {
        self.0.on_exit(id, ctx);
    }
    fn on_close(&self, id: Id, ctx: Context<'_, Registry>) {
        self.0.on_close(id, ctx);
    }
    fn on_id_change(&self, old: &Id, new: &Id, ctx: Context<'_, Registry>) {
        self.0.on_id_change(old, new, ctx);
    }
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: forwarding the same contract to the wrapped layer, which `self` owns.
        unsafe { self.0.downcast_raw(id) }
    }
}

/// One installed layer. Installed stacks are leaked on purpose: a `'static` reference can
/// then be handed out (including through `downcast_raw`) without any lifetime doubt, and only
/// a re-`init` in the same process, which is rare, creates another.
struct Stack {
    layer: BoxedLayer,
}

static STACK: AtomicPtr<Stack> = AtomicPtr::new(std::ptr::null_mut());

fn current_stack() -> Option<&'static Stack> {
    let p = STACK.load(Ordering::Acquire);
    // SAFETY: every non-null pointer stored in STACK comes from `Box::leak` and is never freed.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// The process-wide layer: forwards to whatever stack is current.
struct Switch;

impl Layer<Registry> for Switch {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        current_stack().map_or(Interest::never(), |s| s.layer.register_callsite(metadata))
    }
    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, Registry>) -> bool {
        current_stack().is_some_and(|s| s.layer.enabled(metadata, ctx))
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        current_stack().map_or(Some(LevelFilter::OFF), |s| s.layer.max_level_hint())
    }
    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, Registry>) -> bool {
        current_stack().is_some_and(|s| s.layer.event_enabled(event, ctx))
    }
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, Registry>) {
        if let Some(s) = current_stack() {
            s.layer.on_new_span(attrs, id, ctx);
        }
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, Registry>) {
        if let Some(s) = current_stack() {
            s.layer.on_record(id, values, ctx);
        }
    }
    fn on_follows_from(&self, span: &Id, follows: &Id, ctx: Context<'_, Registry>) {
        if let Some(s) = current_stack() {
            s.layer.on_follows_from(span, follows, ctx);
        }
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, Registry>) {
        if let Some(s) = current_stack() {
            s.layer.on_event(event, ctx);
        }
    }
    fn on_enter(&self, id: &Id, ctx: Context<'_, Registry>) {
        if let Some(s) = current_stack() {
            s.layer.on_enter(id, ctx);
        }
    }
    fn on_exit(&self, id: &Id, ctx: Context<'_, Registry>) {
        if let Some(s) = current_stack() {
            s.layer.on_exit(id, ctx);
        }
    }
    fn on_close(&self, id: Id, ctx: Context<'_, Registry>) {
        if let Some(s) = current_stack() {
            s.layer.on_close(id, ctx);
        }
    }
    fn on_id_change(&self, old: &Id, new: &Id, ctx: Context<'_, Registry>) {
        if let Some(s) = current_stack() {
            s.layer.on_id_change(old, new, ctx);
        }
    }
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: the stack is 'static (leaked, never freed), so pointers into it stay valid.
        current_stack().and_then(|s| unsafe { s.layer.downcast_raw(id) })
    }
}

#[derive(Default)]
struct GlobalState {
    /// Our switch is the global default subscriber.
    installed: bool,
    /// A guard with export is alive.
    active: bool,
}

static STATE: Mutex<GlobalState> = Mutex::new(GlobalState { installed: false, active: false });

fn swap_stack(layer: BoxedLayer) {
    let stack = Box::leak(Box::new(Stack { layer }));
    STACK.store(stack, Ordering::Release);
    // Filters and level hints changed: recompute every callsite's interest.
    tracing::callsite::rebuild_interest_cache();
}

/// Makes `layer` the process-wide subscriber. Errors if a logging guard is alive, or if
/// another global subscriber was installed by someone else.
pub(crate) fn install_global(layer: BoxedLayer) -> Result<(), LoggingError> {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if state.active {
        return Err(LoggingError::AlreadyInstalled);
    }
    if !state.installed {
        if tracing::dispatcher::has_been_set() {
            return Err(LoggingError::ForeignSubscriber);
        }
        swap_stack(layer);
        if tracing::subscriber::set_global_default(Registry::default().with(Switch)).is_err() {
            STACK.store(std::ptr::null_mut(), Ordering::Release);
            return Err(LoggingError::ForeignSubscriber);
        }
        state.installed = true;
        // `log` records join the same pipeline. Fails only when another `log` logger was set
        // first; then those records stay with it.
        if tracing_log::LogTracer::init().is_err() {
            tracing::debug!("a `log` logger is already installed: `log` records do not reach this pipeline");
        }
    } else {
        swap_stack(layer);
    }
    state.active = true;
    Ok(())
}

/// Replaces the active stack with `fallback` (same lines, no export) and frees the slot.
pub(crate) fn deactivate_global(fallback: Option<BoxedLayer>) {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if state.active {
        if let Some(layer) = fallback {
            swap_stack(layer);
        }
        state.active = false;
    }
}
