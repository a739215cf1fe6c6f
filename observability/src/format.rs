//! Console event formats: JSON lines (with trace ids, environment and
//! service) and a pretty multi-line format, both redacting sensitive fields.

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
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

fn timestamp() -> String {
    let mut out = String::with_capacity(32);
    // SystemTime writes RFC 3339 in UTC; it only fails if the writer does.
    let _ = SystemTime.format_time(&mut Writer::new(&mut out));
    out
}

/// Collects fields into a JSON object, redacting sensitive ones. The
/// `message` field is kept apart.
#[derive(Default)]
struct JsonVisitor {
    map: Map<String, Value>,
    message: Option<String>,
}

impl JsonVisitor {
    fn record(fields: impl RecordFields, redactor: &Redactor, map: Map<String, Value>) -> Self {
        let mut redact = Redact::new(JsonVisitor { map, message: None }, redactor.clone());
        fields.record(&mut redact);
        redact.into_inner()
    }

    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.map.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for JsonVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(
            field,
            serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
        );
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

/// Span fields stored as a JSON object (redacted), read back by
/// [`JsonFormat`].
#[derive(Debug, Clone)]
pub(crate) struct JsonFields {
    redactor: Redactor,
}

impl JsonFields {
    pub(crate) fn new(redactor: Redactor) -> Self {
        JsonFields { redactor }
    }

    fn collect(&self, fields: impl RecordFields, map: Map<String, Value>) -> Map<String, Value> {
        let visitor = JsonVisitor::record(fields, &self.redactor, map);
        let mut map = visitor.map;
        if let Some(message) = visitor.message {
            map.insert("message".into(), message.into());
        }
        map
    }
}

impl<'w> FormatFields<'w> for JsonFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let map = self.collect(fields, Map::new());
        write!(writer, "{}", Value::Object(map))
    }

    fn add_fields(
        &self,
        current: &mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let map = match serde_json::from_str::<Value>(&current.fields) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let map = self.collect(fields, map);
        current.fields = Value::Object(map).to_string();
        Ok(())
    }
}

/// One JSON object per line: `timestamp`, `level`, `target`, `message`,
/// `fields`, `span` (current span name and fields), `spans` (names from the
/// root), `trace_id`/`span_id` inside a span, `environment`, `service`.
#[derive(Debug, Clone)]
pub(crate) struct JsonFormat {
    pub(crate) environment: &'static str,
    pub(crate) service: String,
    pub(crate) redactor: Redactor,
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
            map: fields,
            message,
        } = JsonVisitor::record(event, &self.redactor, Map::new());

        let mut line = Map::new();
        line.insert("timestamp".into(), timestamp().into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        line.insert("message".into(), message.unwrap_or_default().into());
        line.insert("fields".into(), Value::Object(fields));

        if let Some(scope) = ctx.event_scope() {
            let mut names = Vec::new();
            let mut current = None;
            for span in scope.from_root() {
                names.push(Value::from(span.name()));
                let ext = span.extensions();
                let mut obj = match ext
                    .get::<FormattedFields<N>>()
                    .and_then(|f| serde_json::from_str::<Value>(&f.fields).ok())
                {
                    Some(Value::Object(map)) => map,
                    _ => Map::new(),
                };
                obj.insert("name".into(), span.name().into());
                current = Some(obj);
            }
            if let Some(current) = current {
                line.insert("span".into(), Value::Object(current));
                line.insert("spans".into(), Value::Array(names));
            }
        }
        if let Some((trace_id, span_id)) = current_ids() {
            line.insert("trace_id".into(), trace_id.into());
            line.insert("span_id".into(), span_id.into());
        }
        line.insert("environment".into(), self.environment.into());
        line.insert("service".into(), self.service.clone().into());
        writeln!(writer, "{}", Value::Object(line))
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
        {
            let mut visitor = Redact::new(
                PrettyVisitor::new(writer.by_ref(), true),
                self.redactor.clone(),
            );
            event.record(&mut visitor);
        }
        writeln!(writer)?;
        if let (Some(file), Some(line)) = (meta.file(), meta.line()) {
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
