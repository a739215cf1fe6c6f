//! Console event formats: JSON lines (with trace ids, environment and
//! service) and a pretty multi-line format, both redacting sensitive fields.

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

/// The trace and span id of the current OpenTelemetry context, if it has a
/// valid span.
fn current_ids() -> Option<(String, String)> {
    let cx = opentelemetry::Context::current();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid()
        .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
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

fn timestamp() -> String {
    let mut out = String::with_capacity(32);
    // SystemTime writes RFC 3339 in UTC; it only fails if the writer does.
    let _ = SystemTime.format_time(&mut Writer::new(&mut out));
    out
}

/// Appends `s` as a JSON string literal (quoted and escaped).
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes fields as `"name":value` pairs, comma-separated, straight into a
/// string (no intermediate map). The `message` field is kept apart.
/// Sensitive fields arrive here already replaced by [`Redact`].
struct JsonVisitor {
    out: String,
    message: Option<String>,
}

impl JsonVisitor {
    /// Visits `fields` (redacted) and returns the pairs and the message.
    fn record(fields: impl RecordFields, redactor: &Redactor, out: String) -> Self {
        let mut redact = Redact::new(JsonVisitor { out, message: None }, redactor.clone());
        fields.record(&mut redact);
        redact.into_inner()
    }

    fn key(&mut self, field: &Field) {
        if !self.out.is_empty() {
            self.out.push(',');
        }
        push_json_str(&mut self.out, field.name());
        self.out.push(':');
    }

    fn string(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.key(field);
            push_json_str(&mut self.out, value);
        }
    }

    fn raw(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        } else {
            self.key(field);
            let _ = self.out.write_fmt(value);
        }
    }
}

impl Visit for JsonVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field, format_args!("{value}"));
        } else {
            self.string(field, &value.to_string());
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
        self.string(field, &value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = Some(format!("{value:?}"));
        } else {
            self.string(field, &format!("{value:?}"));
        }
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

    fn pairs(&self, fields: impl RecordFields, existing: String) -> String {
        let visitor = JsonVisitor::record(fields, &self.redactor, existing);
        let mut out = visitor.out;
        if let Some(message) = visitor.message {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str("\"message\":");
            push_json_str(&mut out, &message);
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

/// One JSON object per line: `timestamp`, `level`, `target`, `message`,
/// `fields`, `span` (current span name and fields), `spans` (names from the
/// root), `trace_id`/`span_id` inside a span, `environment`, `service`.
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
        let meta = event.metadata();
        let JsonVisitor {
            out: fields,
            message,
        } = JsonVisitor::record(event, &self.redactor, String::with_capacity(128));

        let mut line = String::with_capacity(256 + fields.len());
        line.push_str("{\"timestamp\":\"");
        line.push_str(&timestamp());
        line.push_str("\",\"level\":\"");
        line.push_str(meta.level().as_str());
        line.push_str("\",\"target\":");
        push_json_str(&mut line, meta.target());
        line.push_str(",\"message\":");
        push_json_str(
            &mut line,
            message.as_deref().unwrap_or_else(|| fallback_message(meta)),
        );
        line.push_str(",\"fields\":{");
        line.push_str(&fields);
        line.push('}');

        if let Some(scope) = ctx.event_scope() {
            let mut names = String::from("[");
            let mut current = String::new();
            for span in scope.from_root() {
                if names.len() > 1 {
                    names.push(',');
                }
                push_json_str(&mut names, span.name());
                current.clear();
                current.push_str("{\"name\":");
                push_json_str(&mut current, span.name());
                let ext = span.extensions();
                if let Some(pairs) = ext.get::<FormattedFields<N>>()
                    && !pairs.fields.is_empty()
                {
                    current.push(',');
                    current.push_str(&pairs.fields);
                }
                current.push('}');
            }
            names.push(']');
            if !current.is_empty() {
                line.push_str(",\"span\":");
                line.push_str(&current);
                line.push_str(",\"spans\":");
                line.push_str(&names);
            }
        }
        if let Some((trace_id, span_id)) = current_ids() {
            line.push_str(",\"trace_id\":\"");
            line.push_str(&trace_id);
            line.push_str("\",\"span_id\":\"");
            line.push_str(&span_id);
            line.push('"');
        }
        line.push_str(&self.tail);
        writeln!(writer, "{line}")
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
        write!(
            writer,
            "{dim}{}{reset} {colour}{:>5}{reset} {bold}{}{reset}: ",
            timestamp(),
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
            if let Some((trace_id, _)) = current_ids() {
                write!(writer, " {dim}trace_id{reset}={trace_id}")?;
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
        if let Some((trace_id, _)) = current_ids() {
            writeln!(writer, "    {dim}trace{reset} {trace_id}")?;
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
    }
}
