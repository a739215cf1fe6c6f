//! The bridge from `tracing` events to OpenTelemetry log records, redacting
//! sensitive fields.
//!
//! opentelemetry-appender-tracing's bridge records every field as given and
//! the SDK's log records cannot have attributes removed afterwards, so the
//! bridge lives here: it maps an event the same way (message as the body,
//! target, severity, other fields as attributes) but hands sensitive fields
//! over as `[REDACTED]`. Each record carries the time the event happened
//! (`time_unix_nano`) and no event name: `tracing` names events after their
//! `file:line`, which is a location, not the name the OpenTelemetry event
//! name stands for. The trace context is attached by the SDK from the
//! active OpenTelemetry context.

use std::fmt;

use appenv_config::REDACTED;
use opentelemetry::Key;
use opentelemetry::logs::{AnyValue, LogRecord, Logger, Severity};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

use crate::redact::Redactor;

/// Crates whose events must never reach the log export: the exporter's own
/// HTTP/gRPC stack and the SDK (exporting their logs would produce more of
/// them).
pub(crate) const EXPORTER_TARGETS: &[&str] = &[
    "hyper",
    "hyper_util",
    "h2",
    "tonic",
    "tower",
    "reqwest",
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "opentelemetry_http",
    // The SDK's internal events use the package name as their target.
    "opentelemetry-sdk",
    "opentelemetry-otlp",
    "opentelemetry-http",
];

pub(crate) struct LogBridge<L> {
    logger: L,
    redactor: Redactor,
}

impl<L> fmt::Debug for LogBridge<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogBridge").finish_non_exhaustive()
    }
}

impl<L> LogBridge<L> {
    pub(crate) fn new(logger: L, redactor: Redactor) -> Self {
        LogBridge { logger, redactor }
    }
}

fn severity(level: &Level) -> Severity {
    match *level {
        Level::TRACE => Severity::Trace,
        Level::DEBUG => Severity::Debug,
        Level::INFO => Severity::Info,
        Level::WARN => Severity::Warn,
        Level::ERROR => Severity::Error,
    }
}

struct RecordVisitor<'a, R> {
    record: &'a mut R,
    redactor: &'a Redactor,
}

impl<R: LogRecord> RecordVisitor<'_, R> {
    fn put(&mut self, field: &Field, value: AnyValue) {
        if field.name() == "message" {
            self.record.set_body(value);
        } else if self.redactor.is_sensitive(field.name()) {
            self.record
                .add_attribute(Key::new(field.name()), AnyValue::from(REDACTED));
        } else {
            self.record.add_attribute(Key::new(field.name()), value);
        }
    }
}

impl<R: LogRecord> Visit for RecordVisitor<'_, R> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, AnyValue::Double(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, AnyValue::Int(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.put(field, AnyValue::Int(v)),
            Err(_) => self.put(field, AnyValue::from(value.to_string())),
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, AnyValue::Boolean(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, AnyValue::from(value.to_owned()));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, AnyValue::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, AnyValue::from(format!("{value:?}")));
    }
}

impl<S, L> Layer<S> for LogBridge<L>
where
    S: Subscriber,
    L: Logger + Send + Sync + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let severity = severity(meta.level());
        if !self.logger.event_enabled(severity, meta.target(), None) {
            return;
        }
        let mut record = self.logger.create_log_record();
        record.set_timestamp(std::time::SystemTime::now());
        record.set_target(meta.target().to_owned());
        record.set_severity_number(severity);
        record.set_severity_text(meta.level().as_str());
        event.record(&mut RecordVisitor {
            record: &mut record,
            redactor: &self.redactor,
        });
        self.logger.emit(record);
    }
}
