//! The line formatter: one JSON object per event (or one human-readable line), with the
//! event's fields, the span stack, the trace and span ids, and the correlation ids. Secret
//! fields are written as [`REDACTED`].
//!
//! A field logged with `?` whose value prints as a map of strings (`labels = ?btree_map`) is
//! written as a JSON object, not as a string holding JSON. The human-readable line is
//! coloured when asked ([`super::LoggingBuilder::colour`]) and starts with the local time of
//! day. The SDK's start-up notices (`Global meter provider is set`) are written only when
//! the filter lets the `opentelemetry` target log at DEBUG.

use super::context;
use super::redact::{Redactor, REDACTED};
use super::terminal::{self, DIM, RESET};
use crate::config::LogFormat;
use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The fields of one span, rendered once in the layer's format (and appended to on record).
struct SpanFields {
    format: LogFormat,
    rendered: String,
}

/// A `tracing` layer writing each event as a line to `W`.
pub(crate) struct FormatLayer<W> {
    writer: W,
    format: LogFormat,
    redactor: Redactor,
    /// ANSI colours in the human-readable format.
    colour: bool,
    /// Whether the filter lets the SDK's start-up notices through (DEBUG for `opentelemetry`).
    sdk_notices: bool,
}

impl<W> FormatLayer<W> {
    /// `filter` is the subscriber's own, asked once whether the SDK's start-up notices pass.
    pub(crate) fn new(
        writer: W,
        format: LogFormat,
        redactor: Redactor,
        colour: bool,
        filter: &tracing_subscriber::EnvFilter,
    ) -> Self {
        let sdk_notices = !Layer::<tracing_subscriber::Registry>::register_callsite(filter, &SDK_NOTICE).is_never();
        FormatLayer { writer, format, redactor, colour: colour && format == LogFormat::Pretty, sdk_notices }
    }
}

/// Stands for the SDK's start-up notices as if they were logged at DEBUG, to ask the filter.
struct SdkNoticeCallsite;

impl tracing::callsite::Callsite for SdkNoticeCallsite {
    fn set_interest(&self, _: tracing::subscriber::Interest) {}
    fn metadata(&self) -> &tracing::Metadata<'_> {
        &SDK_NOTICE
    }
}

static SDK_NOTICE_CALLSITE: SdkNoticeCallsite = SdkNoticeCallsite;
static SDK_NOTICE: tracing::Metadata<'static> = tracing::Metadata::new(
    "opentelemetry start-up notice",
    "opentelemetry",
    tracing::Level::DEBUG,
    None,
    None,
    None,
    tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&SDK_NOTICE_CALLSITE)),
    tracing::metadata::Kind::EVENT,
);

/// Writes `s` as a JSON string body (without the quotes).
fn escape_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f | 0x7f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    escape_into(out, s);
    out.push('"');
}

/// Streams a `Debug` value: escaped into a JSON string as it comes, unless it starts with
/// `{`, in which case it is kept whole to be checked for a map of strings.
struct DebugValue<'a> {
    out: &'a mut String,
    /// `None` until the first non-empty write; then whether the value is held back.
    held: Option<bool>,
    kept: String,
}

impl fmt::Write for DebugValue<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.is_empty() {
            return Ok(());
        }
        let held = *self.held.get_or_insert_with(|| s.starts_with('{'));
        if held {
            self.kept.push_str(s);
        } else {
            escape_into(self.out, s);
        }
        Ok(())
    }
}

/// A `Debug` text that is a map of strings (`{"k": "v", ...}`), parsed.
fn string_map(text: &str) -> Option<std::collections::BTreeMap<String, String>> {
    serde_json::from_str(text).ok()
}

/// Visits fields, writing them in `format` into `out`; the message goes to `message`.
struct FieldWriter<'a> {
    format: LogFormat,
    colour: bool,
    redactor: &'a Redactor,
    out: &'a mut String,
    message: Option<&'a mut String>,
    /// Human-readable format: where each field and its value start in `out`.
    bounds: Option<&'a mut Vec<(usize, usize)>>,
}

impl FieldWriter<'_> {
    fn key(&mut self, field: &Field) {
        match self.format {
            LogFormat::Json => {
                if !self.out.is_empty() {
                    self.out.push(',');
                }
                push_json_str(self.out, field.name());
                self.out.push(':');
            }
            LogFormat::Pretty => {
                let start = self.out.len();
                if !self.out.is_empty() {
                    self.out.push(' ');
                }
                if self.colour {
                    self.out.push_str(DIM);
                }
                self.out.push_str(field.name());
                self.out.push('=');
                if self.colour {
                    self.out.push_str(RESET);
                }
                if let Some(bounds) = self.bounds.as_deref_mut() {
                    bounds.push((start, self.out.len()));
                }
            }
        }
    }

    /// Writes a string value; `true` when the field was a secret and got redacted.
    fn string(&mut self, field: &Field, value: &str) {
        self.key(field);
        let value = if self.redactor.is_secret(field.name()) { REDACTED } else { value };
        match self.format {
            LogFormat::Json => push_json_str(self.out, value),
            LogFormat::Pretty => self.out.push_str(value),
        }
    }

    fn raw(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.redactor.is_secret(field.name()) {
            return self.string(field, REDACTED);
        }
        self.key(field);
        let _ = self.out.write_fmt(value);
    }
}

/// The fields `tracing-log` adds to a `log` record's event; its target and level are read
/// from the normalized metadata instead.
fn is_log_field(field: &Field) -> bool {
    matches!(field.name(), "log.target" | "log.module_path" | "log.file" | "log.line")
}

impl Visit for FieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if is_log_field(field) {
            return;
        }
        if field.name() == "message" {
            if let Some(m) = self.message.as_deref_mut() {
                m.push_str(value);
                return;
            }
        }
        self.string(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            if let Some(m) = self.message.as_deref_mut() {
                let _ = write!(m, "{value:?}");
                return;
            }
        }
        if self.redactor.is_secret(field.name()) {
            return self.string(field, REDACTED);
        }
        self.key(field);
        match self.format {
            LogFormat::Json => {
                let quote_at = self.out.len();
                self.out.push('"');
                let mut v = DebugValue { out: self.out, held: None, kept: String::new() };
                let _ = write!(v, "{value:?}");
                let (held, kept) = (v.held == Some(true), v.kept);
                match held.then(|| string_map(&kept)).flatten().and_then(|m| serde_json::to_string(&m).ok()) {
                    Some(object) => {
                        // An object in place of the string opened above.
                        self.out.truncate(quote_at);
                        self.out.push_str(&object);
                    }
                    None => {
                        escape_into(self.out, &kept);
                        self.out.push('"');
                    }
                }
            }
            LogFormat::Pretty => {
                let start = self.out.len();
                let _ = write!(self.out, "{value:?}");
                if self.out[start..].starts_with('{') {
                    if let Some(map) = string_map(&self.out[start..]) {
                        self.out.truncate(start);
                        self.out.push('{');
                        for (i, (k, v)) in map.iter().enumerate() {
                            let sep = if i == 0 { "" } else { " " };
                            let _ = write!(self.out, "{sep}{k}={v}");
                        }
                        self.out.push('}');
                    }
                }
            }
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if is_log_field(field) {
            return;
        }
        self.raw(field, format_args!("{value}"));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() || self.format == LogFormat::Pretty {
            self.raw(field, format_args!("{value}"));
        } else {
            // JSON has no NaN or infinity.
            self.string(field, &value.to_string());
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &format_args!("{value}"));
    }
}

/// Per-thread scratch buffers, so formatting allocates nothing in the steady state.
#[derive(Default)]
struct Scratch {
    line: String,
    fields: String,
    message: String,
    bounds: Vec<(usize, usize)>,
}

/// The human-readable fields without those whose value the message already spells out
/// (`serving on http://127.0.0.1:9090 addr=127.0.0.1:9090`): values of 3 characters or
/// more only, so a number such as `1` never disappears by coincidence.
fn fields_not_in_message(fields: &str, bounds: &[(usize, usize)], message: &str) -> Option<String> {
    let mut kept = String::new();
    let mut dropped = false;
    for (i, &(start, value_start)) in bounds.iter().enumerate() {
        let end = bounds.get(i + 1).map_or(fields.len(), |b| b.0);
        let value = fields.get(value_start..end).unwrap_or("");
        if value.chars().count() >= 3 && message.contains(value) {
            dropped = true;
        } else {
            kept.push_str(fields.get(start..end).unwrap_or(""));
        }
    }
    dropped.then(|| kept.trim_start().to_string())
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The current OpenTelemetry span's ids, when it is a valid (traced) span.
fn trace_ids() -> Option<(opentelemetry::trace::TraceId, opentelemetry::trace::SpanId)> {
    use opentelemetry::trace::TraceContextExt;
    opentelemetry::Context::map_current(|cx| {
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
    })
}

impl<W> FormatLayer<W> {
    fn render<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>, scratch: &mut Scratch)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Scratch { line, fields, message, bounds } = scratch;
        line.clear();
        fields.clear();
        message.clear();
        bounds.clear();
        event.record(&mut FieldWriter {
            format: self.format,
            colour: self.colour,
            redactor: &self.redactor,
            out: fields,
            message: Some(message),
            bounds: (self.format == LogFormat::Pretty).then_some(&mut *bounds),
        });
        if let Some(kept) = fields_not_in_message(fields, bounds, message) {
            *fields = kept;
        }
        // A `log` record arrives with a generic callsite; its own target and level are here.
        let normalized = tracing_log::NormalizeEvent::normalized_metadata(event);
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let now = std::time::SystemTime::now();
        match self.format {
            LogFormat::Json => {
                let now = humantime::format_rfc3339_micros(now);
                let _ = write!(line, "{{\"timestamp\":\"{now}\",\"level\":\"{}\",\"target\":", meta.level());
                push_json_str(line, meta.target());
                line.push_str(",\"message\":\"");
                escape_into(line, message);
                line.push('"');
                if !fields.is_empty() {
                    line.push_str(",\"fields\":{");
                    line.push_str(fields);
                    line.push('}');
                }
                if let Some(scope) = ctx.event_scope(event) {
                    line.push_str(",\"spans\":[");
                    for (i, span) in scope.from_root().enumerate() {
                        if i > 0 {
                            line.push(',');
                        }
                        line.push_str("{\"name\":");
                        push_json_str(line, span.name());
                        if let Some(f) = span.extensions().get::<SpanFields>().filter(|f| f.format == self.format) {
                            if !f.rendered.is_empty() {
                                line.push(',');
                                line.push_str(&f.rendered);
                            }
                        }
                        line.push('}');
                    }
                    line.push(']');
                }
                if let Some((trace_id, span_id)) = trace_ids() {
                    let _ = write!(line, ",\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"");
                }
                context::with_current(|c| {
                    for (k, v) in c.into_iter().flat_map(|c| c.fields()) {
                        line.push_str(",\"");
                        line.push_str(k);
                        line.push_str("\":");
                        push_json_str(line, v);
                    }
                });
                line.push_str("}\n");
            }
            LogFormat::Pretty => {
                let (dim, reset, level_colour) = match self.colour {
                    true => (DIM, RESET, terminal::level_colour(meta.level())),
                    false => ("", "", ""),
                };
                line.push_str(dim);
                terminal::push_time_of_day(line, now);
                let _ = write!(line, "{reset} {level_colour}{:>5}{reset} ", meta.level());
                if let Some(scope) = ctx.event_scope(event) {
                    for span in scope.from_root() {
                        line.push_str(span.name());
                        if let Some(f) = span.extensions().get::<SpanFields>().filter(|f| f.format == self.format) {
                            if !f.rendered.is_empty() {
                                let _ = write!(line, "{{{}}}", f.rendered);
                            }
                        }
                        line.push(':');
                    }
                    line.push(' ');
                }
                let _ = write!(line, "{dim}{}:{reset} ", meta.target());
                line.push_str(message);
                if !fields.is_empty() {
                    line.push(' ');
                    line.push_str(fields);
                }
                if let Some((trace_id, span_id)) = trace_ids() {
                    let _ = write!(line, " trace_id={trace_id} span_id={span_id}");
                }
                context::with_current(|c| {
                    for (k, v) in c.into_iter().flat_map(|c| c.fields()) {
                        let _ = write!(line, " {k}={v}");
                    }
                });
                line.push('\n');
            }
        }
    }
}

/// The OpenTelemetry SDK's INFO notices that only say a global was installed: DEBUG material.
const SDK_STARTUP_NOTICES: [&str; 4] =
    ["MeterProvider.GlobalSet", "TracerProvider.GlobalSet", "LoggerProvider.GlobalSet", "sdk_start"];

/// Whether `event` is one of [`SDK_STARTUP_NOTICES`] (they carry their id in a `name` field).
fn is_sdk_startup_notice(event: &Event<'_>) -> bool {
    struct Name(bool);
    impl Visit for Name {
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0 |= field.name() == "name" && SDK_STARTUP_NOTICES.contains(&value);
        }
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "name" {
                let text = format!("{value:?}");
                self.0 |= SDK_STARTUP_NOTICES.iter().any(|n| text.trim_matches('"') == *n);
            }
        }
    }
    let meta = event.metadata();
    if *meta.level() != tracing::Level::INFO || !meta.target().starts_with("opentelemetry") {
        return false;
    }
    let mut name = Name(false);
    event.record(&mut name);
    name.0
}

impl<S, W> Layer<S> for FormatLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut rendered = String::new();
        attrs.record(&mut FieldWriter {
            format: self.format,
            colour: self.colour,
            redactor: &self.redactor,
            out: &mut rendered,
            message: None,
            bounds: None,
        });
        span.extensions_mut().insert(SpanFields { format: self.format, rendered });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(fields) = ext.get_mut::<SpanFields>().filter(|f| f.format == self.format) {
            values.record(&mut FieldWriter {
                format: self.format,
                colour: self.colour,
                redactor: &self.redactor,
                out: &mut fields.rendered,
                message: None,
                bounds: None,
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Asked of the filter when the layer was built: a filter cannot be asked from inside
        // an event (tracing answers "disabled" to re-entrant calls).
        if !self.sdk_notices && is_sdk_startup_notice(event) {
            return;
        }
        let write = |scratch: &mut Scratch| {
            self.render(event, &ctx, scratch);
            let mut w = self.writer.make_writer_for(event.metadata());
            let _ = w.write_all(scratch.line.as_bytes());
        };
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut scratch) => write(&mut scratch),
            // Re-entered (a writer that logs): use a fresh buffer rather than panic.
            Err(_) => write(&mut Scratch::default()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_json() {
        let mut s = String::new();
        escape_into(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, "a\\\"b\\\\c\\nd\\u0001é");
        let v: serde_json::Value = serde_json::from_str(&format!("\"{s}\"")).expect("valid JSON string");
        assert_eq!(v, "a\"b\\c\nd\u{1}é");
    }

    /// Lines written under `builder`, one `tracing` call at a time.
    fn capture(builder: crate::logging::LoggingBuilder, emit: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = builder.build_subscriber(move || writer.clone()).expect("subscriber");
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = sink.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    fn labels() -> std::collections::BTreeMap<String, String> {
        [("alertname", "SecurityIncidents"), ("quote", "a\"b"), ("simulated", "true")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_debug_map_of_strings_is_a_json_object_not_a_string() {
        let text = capture(crate::logging::LoggingBuilder::new(), || {
            tracing::warn!(labels = ?labels(), other = ?"{not a map}", list = ?vec![1, 2], "alert firing");
        });
        let line: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(line["fields"]["labels"]["alertname"], "SecurityIncidents", "{text}");
        assert_eq!(line["fields"]["labels"]["quote"], "a\"b");
        assert_eq!(line["fields"]["other"], "\"{not a map}\"");
        assert_eq!(line["fields"]["list"], "[1, 2]");
    }

    #[test]
    fn the_pretty_line_shows_a_map_as_key_value_pairs_and_colours_only_when_asked() {
        let emit = || tracing::warn!(labels = ?labels(), "alert firing");
        let plain = capture(crate::logging::LoggingBuilder::new().format(LogFormat::Pretty), emit);
        assert!(plain.contains("labels={alertname=SecurityIncidents quote=a\"b simulated=true}"), "{plain}");
        assert!(!plain.contains('\x1b'), "{plain:?}");
        let coloured = capture(crate::logging::LoggingBuilder::new().format(LogFormat::Pretty).colour(true), emit);
        assert!(coloured.contains("\x1b[1;33m WARN\x1b[0m"), "{coloured:?}");
        assert!(coloured.contains(&format!("{DIM}labels={RESET}")), "{coloured:?}");
        let json = capture(crate::logging::LoggingBuilder::new().colour(true), emit);
        assert!(!json.contains('\x1b'), "JSON is never coloured: {json:?}");
    }

    #[test]
    fn the_pretty_line_does_not_repeat_values_the_message_spells_out() {
        let emit =
            || tracing::info!(addr = "127.0.0.1:9090", rules = 1, port = 9090, "serving on http://127.0.0.1:9090/");
        let pretty = capture(crate::logging::LoggingBuilder::new().format(LogFormat::Pretty), emit);
        assert!(pretty.trim_end().ends_with("serving on http://127.0.0.1:9090/ rules=1"), "{pretty}");
        let json = capture(crate::logging::LoggingBuilder::new(), emit);
        assert!(
            json.contains("\"addr\":\"127.0.0.1:9090\"") && json.contains("\"port\":9090"),
            "JSON keeps every field: {json}"
        );
    }

    #[test]
    fn sdk_startup_notices_are_written_only_at_debug() {
        let emit = || {
            tracing::info!(target: "opentelemetry", name = "MeterProvider.GlobalSet", "Global meter provider is set.");
            tracing::info!(target: "opentelemetry_sdk", name = "Export.InProgress.Throttled", "kept");
        };
        let info = capture(crate::logging::LoggingBuilder::new().filter("info"), emit);
        assert!(!info.contains("Global meter provider"), "{info}");
        assert!(info.contains("kept"), "other SDK notices stay at INFO: {info}");
        let debug = capture(crate::logging::LoggingBuilder::new().filter("info,opentelemetry=debug"), emit);
        assert!(debug.contains("Global meter provider"), "{debug}");
    }

    #[test]
    fn formats_parse() {
        assert_eq!(LogFormat::parse("JSON"), Some(LogFormat::Json));
        assert_eq!(LogFormat::parse("pretty"), Some(LogFormat::Pretty));
        assert_eq!(LogFormat::parse("xml"), None);
    }
}
