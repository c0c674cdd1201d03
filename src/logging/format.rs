//! The line formatter: one JSON object per event (or one human-readable line), with the
//! event's fields, the span stack, the trace and span ids, and the correlation ids. Secret
//! fields are written as [`REDACTED`].

use super::context;
use super::redact::{Redactor, REDACTED};
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

/// How log lines are written (`BITCRAPS_LOG_FORMAT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log shippers (`json`, the default).
    #[default]
    Json,
    /// One human-readable line per event, for local runs (`pretty`).
    Pretty,
}

impl LogFormat {
    /// Parses `json` or `pretty` (case-insensitive).
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Some(LogFormat::Json),
            "pretty" | "text" => Some(LogFormat::Pretty),
            _ => None,
        }
    }
}

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
}

impl<W> FormatLayer<W> {
    pub(crate) fn new(writer: W, format: LogFormat, redactor: Redactor) -> Self {
        FormatLayer { writer, format, redactor }
    }
}

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

/// `fmt::Write` adapter escaping everything written through it.
struct Escaping<'a>(&'a mut String);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

/// Visits fields, writing them in `format` into `out`; the message goes to `message`.
struct FieldWriter<'a> {
    format: LogFormat,
    redactor: &'a Redactor,
    out: &'a mut String,
    message: Option<&'a mut String>,
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
                if !self.out.is_empty() {
                    self.out.push(' ');
                }
                self.out.push_str(field.name());
                self.out.push('=');
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

impl Visit for FieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
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
                self.out.push('"');
                let _ = write!(Escaping(self.out), "{value:?}");
                self.out.push('"');
            }
            LogFormat::Pretty => {
                let _ = write!(self.out, "{value:?}");
            }
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
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
        let Scratch { line, fields, message } = scratch;
        line.clear();
        fields.clear();
        message.clear();
        event.record(&mut FieldWriter {
            format: self.format,
            redactor: &self.redactor,
            out: fields,
            message: Some(message),
        });
        let meta = event.metadata();
        let now = humantime::format_rfc3339_micros(std::time::SystemTime::now());
        match self.format {
            LogFormat::Json => {
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
                let _ = write!(line, "{now} {:>5} ", meta.level());
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
                line.push_str(meta.target());
                line.push_str(": ");
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
            redactor: &self.redactor,
            out: &mut rendered,
            message: None,
        });
        span.extensions_mut().insert(SpanFields { format: self.format, rendered });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(fields) = ext.get_mut::<SpanFields>().filter(|f| f.format == self.format) {
            values.record(&mut FieldWriter {
                format: self.format,
                redactor: &self.redactor,
                out: &mut fields.rendered,
                message: None,
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
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

    #[test]
    fn formats_parse() {
        assert_eq!(LogFormat::parse("JSON"), Some(LogFormat::Json));
        assert_eq!(LogFormat::parse("pretty"), Some(LogFormat::Pretty));
        assert_eq!(LogFormat::parse("xml"), None);
    }
}
