//! Console event formats: JSON lines (with trace ids, environment and
//! service) and a pretty multi-line format, both redacting sensitive fields.

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use opentelemetry::trace::TraceContextExt;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{PrettyVisitor, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::redact::{Redact, Redactor};

/// The current OpenTelemetry span context, if it is valid.
fn current_context() -> Option<opentelemetry::trace::SpanContext> {
    let cx = opentelemetry::Context::current();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.clone())
}

/// The message of an event that has none: its explicit name (the
/// OpenTelemetry SDK names its internal events, `BatchSpanProcessor.ExportError`,
/// and gives them no message), else a placeholder, so no line is blank.
fn fallback_message(meta: &tracing::Metadata<'_>) -> &'static str {
    let name = meta.name();
    if name.starts_with("event ") {
        "(no message)"
    } else {
        name
    }
}

/// Whether a source location is worth printing: the service's and the
/// workspace's files (relative paths), not a dependency in the cargo
/// registry or the standard library (absolute paths).
fn local_file(file: &str) -> bool {
    !std::path::Path::new(file).is_absolute()
}

/// Appends `s` escaped for the inside of a JSON string literal. Runs of
/// plain characters are copied whole.
fn escape_json_into(out: &mut String, s: &str) {
    let mut plain = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escaped = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // Every byte matched above is ASCII, so `i` is a char boundary.
        out.push_str(&s[plain..i]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{:04x}", byte);
        } else {
            out.push_str(escaped);
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
}

/// Appends `s` as a JSON string literal (quoted and escaped).
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    escape_json_into(out, s);
    out.push('"');
}

/// A `fmt::Write` that escapes what is written to it for a JSON string, so
/// `Debug` and `Display` values are quoted without a temporary string.
struct JsonEscape<'a>(&'a mut String);

impl fmt::Write for JsonEscape<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_json_into(self.0, s);
        Ok(())
    }
}

/// Appends `value` formatted, as a JSON string literal.
fn push_json_fmt(out: &mut String, value: fmt::Arguments<'_>) {
    out.push('"');
    let _ = JsonEscape(out).write_fmt(value);
    out.push('"');
}

/// Writes fields as `"name":value` pairs, comma-separated, straight into
/// `out` (no intermediate map); the `message` field goes to `message`, as a
/// JSON string literal. Sensitive fields arrive here already replaced by
/// [`Redact`].
struct JsonVisitor<'a> {
    out: &'a mut String,
    message: &'a mut String,
}

impl<'a> JsonVisitor<'a> {
    /// Visits `fields` (redacted) into `out` and `message`.
    fn record(
        fields: impl RecordFields,
        redactor: &Redactor,
        out: &'a mut String,
        message: &'a mut String,
    ) {
        let mut redact = Redact::new(JsonVisitor { out, message }, redactor.clone());
        fields.record(&mut redact);
    }

    /// The buffer for `field`'s value: after its key in `out`, or
    /// `message` (emptied: a repeated `message` keeps the last).
    fn value_buffer(&mut self, field: &Field) -> &mut String {
        if field.name() == "message" {
            self.message.clear();
            return self.message;
        }
        if !self.out.is_empty() {
            self.out.push(',');
        }
        push_json_str(self.out, field.name());
        self.out.push(':');
        self.out
    }

    fn string(&mut self, field: &Field, value: &str) {
        push_json_str(self.value_buffer(field), value);
    }

    fn formatted(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        push_json_fmt(self.value_buffer(field), value);
    }

    /// A JSON number or boolean; quoted when it is the message.
    fn raw(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if field.name() == "message" {
            self.formatted(field, value);
        } else {
            let _ = self.value_buffer(field).write_fmt(value);
        }
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field, format_args!("{value}"));
        } else {
            self.formatted(field, format_args!("{value}"));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field, value);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.formatted(field, format_args!("{value}"));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.formatted(field, format_args!("{value:?}"));
    }
}

/// Span fields stored as the inside of a JSON object (`"a":1,"b":"x"`,
/// redacted), spliced into each line by [`JsonFormat`].
#[derive(Debug, Clone)]
pub(crate) struct JsonFields {
    redactor: Redactor,
}

impl JsonFields {
    pub(crate) fn new(redactor: Redactor) -> Self {
        JsonFields { redactor }
    }

    fn pairs(&self, fields: impl RecordFields, mut out: String) -> String {
        let mut message = String::new();
        JsonVisitor::record(fields, &self.redactor, &mut out, &mut message);
        if !message.is_empty() {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str("\"message\":");
            out.push_str(&message);
        }
        out
    }
}

impl<'w> FormatFields<'w> for JsonFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        writer.write_str(&self.pairs(fields, String::new()))
    }

    fn add_fields(
        &self,
        current: &mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let existing = std::mem::take(&mut current.fields);
        current.fields = self.pairs(fields, existing);
        Ok(())
    }
}

/// Buffers a thread reuses from line to line: the line, its event fields
/// and its message.
#[derive(Default)]
struct Scratch {
    line: String,
    fields: String,
    message: String,
}

/// A buffer that grew past this is dropped after its line rather than kept
/// for the thread's lifetime.
const SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch buffers, emptied; with fresh ones
/// if they are in use (an event logged while a value of another event is
/// being formatted) or the thread is being torn down.
fn with_scratch<R>(mut f: impl FnMut(&mut Scratch) -> R) -> R {
    let reused = SCRATCH.try_with(|cell| {
        let mut guard = cell.try_borrow_mut().ok()?;
        let scratch = &mut *guard;
        scratch.line.clear();
        scratch.fields.clear();
        scratch.message.clear();
        let result = f(scratch);
        for buffer in [&mut scratch.line, &mut scratch.fields, &mut scratch.message] {
            if buffer.capacity() > SCRATCH_KEEP {
                *buffer = String::new();
            }
        }
        Some(result)
    });
    match reused {
        Ok(Some(result)) => result,
        _ => f(&mut Scratch::default()),
    }
}

/// One JSON object per line: `timestamp`, `level`, `target`, `message`,
/// `fields`, `span` (current span name and fields), `spans` (names from the
/// root), `trace_id`/`span_id` inside a span, `environment`, `service`.
///
/// A line is built in a per-thread buffer and written at once: the only
/// allocations are the buffers' first growth on each thread.
#[derive(Debug, Clone)]
pub(crate) struct JsonFormat {
    /// `,"environment":"…","service":"…"}`, escaped once.
    tail: String,
    redactor: Redactor,
}

impl JsonFormat {
    pub(crate) fn new(environment: &str, service: &str, redactor: Redactor) -> Self {
        let mut tail = String::from(",\"environment\":");
        push_json_str(&mut tail, environment);
        tail.push_str(",\"service\":");
        push_json_str(&mut tail, service);
        tail.push('}');
        JsonFormat { tail, redactor }
    }
}

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        with_scratch(|scratch| {
            let Scratch {
                line,
                fields,
                message,
            } = scratch;
            let meta = event.metadata();
            JsonVisitor::record(event, &self.redactor, fields, message);

            line.push_str("{\"timestamp\":\"");
            // SystemTime writes RFC 3339 in UTC; it only fails if the
            // writer does, and a String never does.
            let _ = SystemTime.format_time(&mut Writer::new(line));
            line.push_str("\",\"level\":\"");
            line.push_str(meta.level().as_str());
            line.push_str("\",\"target\":");
            push_json_str(line, meta.target());
            line.push_str(",\"message\":");
            if message.is_empty() {
                push_json_str(line, fallback_message(meta));
            } else {
                line.push_str(message);
            }
            line.push_str(",\"fields\":{");
            line.push_str(fields);
            line.push('}');

            if let Some(leaf) = ctx.event_scope().and_then(|mut scope| scope.next()) {
                line.push_str(",\"span\":{\"name\":");
                push_json_str(line, leaf.name());
                let ext = leaf.extensions();
                if let Some(pairs) = ext.get::<FormattedFields<N>>()
                    && !pairs.fields.is_empty()
                {
                    line.push(',');
                    line.push_str(&pairs.fields);
                }
                drop(ext);
                line.push_str("},\"spans\":[");
                for (i, span) in leaf.scope().from_root().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    push_json_str(line, span.name());
                }
                line.push(']');
            }
            if let Some(sc) = current_context() {
                let _ = write!(
                    line,
                    ",\"trace_id\":\"{}\",\"span_id\":\"{}\"",
                    sc.trace_id(),
                    sc.span_id()
                );
            }
            line.push_str(&self.tail);
            line.push('\n');
            writer.write_str(line)
        })
    }
}

/// A multi-line human format: a header line (time, level, target, message
/// and fields), then the source location and the span scope, innermost
/// first.
#[derive(Debug, Clone)]
pub(crate) struct PrettyFormat {
    pub(crate) redactor: Redactor,
}

fn level_colour(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "\x1b[31m",
        Level::WARN => "\x1b[33m",
        Level::INFO => "\x1b[32m",
        Level::DEBUG => "\x1b[34m",
        Level::TRACE => "\x1b[35m",
    }
}

impl<S, N> FormatEvent<S, N> for PrettyFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let ansi = writer.has_ansi_escapes();
        let (dim, bold, reset) = if ansi {
            ("\x1b[2m", "\x1b[1m", "\x1b[0m")
        } else {
            ("", "", "")
        };
        let colour = if ansi { level_colour(meta.level()) } else { "" };
        writer.write_str(dim)?;
        SystemTime.format_time(&mut writer)?;
        write!(
            writer,
            "{reset} {colour}{:>5}{reset} {bold}{}{reset}: ",
            meta.level(),
            meta.target()
        )?;
        let has_message = event.fields().any(|f| f.name() == "message");
        if !has_message {
            write!(writer, "{}", fallback_message(meta))?;
        }
        {
            let mut visitor = Redact::new(
                PrettyVisitor::new(writer.by_ref(), has_message),
                self.redactor.clone(),
            );
            event.record(&mut visitor);
        }
        if meta.target() == crate::http::ACCESS_LOG_TARGET {
            // Access lines stay one line: the fields say it all.
            if let Some(sc) = current_context() {
                write!(writer, " {dim}trace_id{reset}={}", sc.trace_id())?;
            }
            return writeln!(writer);
        }
        writeln!(writer)?;
        // Where an event comes from matters for diagnostics, not for the
        // narrative INFO lines (one line each keeps the first screen short).
        if *meta.level() != Level::INFO
            && let (Some(file), Some(line)) = (meta.file(), meta.line())
            && local_file(file)
        {
            writeln!(writer, "    {dim}at{reset} {file}:{line}")?;
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope {
                write!(writer, "    {dim}in{reset} {bold}{}{reset}", span.name())?;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, " {dim}with{reset} {}", fields.fields)?;
                }
                writeln!(writer)?;
            }
        }
        if let Some(sc) = current_context() {
            writeln!(writer, "    {dim}trace{reset} {}", sc.trace_id())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_quotes_backslashes_and_control_characters() {
        let nasty = "a\"b\\c\nd\re\tf\u{1}g\u{7f}h é 漢 🎉";
        let mut out = String::new();
        push_json_str(&mut out, nasty);
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, nasty);
        // The same text through the formatting path (Debug values).
        let mut formatted = String::new();
        push_json_fmt(&mut formatted, format_args!("{nasty}"));
        assert_eq!(formatted, out);
    }
}
