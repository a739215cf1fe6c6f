//! Database telemetry: sqlx's statement events as OpenTelemetry CLIENT
//! spans, children of the span that ran the statement.
//!
//! sqlx reports each statement once it has finished, as a `tracing` event
//! with target `sqlx::query` (its first words as `summary`, the text as
//! `db.statement` when longer, `rows_returned`, `elapsed_secs`); it opens
//! no span. [`DbSpans`] turns each such event into one span that started
//! `elapsed_secs` before the event and ended with it, parented on the
//! OpenTelemetry context active where the statement ran (the request span,
//! or a span of the service's inside it). The OpenTelemetry layer and the
//! log bridge leave these events out, so a statement is exported once.
//!
//! The operation and the table are read from the statement's first
//! keyword and the name after `FROM`/`INTO`/`UPDATE` by a small scanner
//! rather than a SQL parser: this runs for every statement, the summary
//! needs only those two words, and it must not fail on any dialect.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt, Tracer as _};
use opentelemetry_sdk::trace::SdkTracer;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// The target of sqlx's statement events.
pub(crate) const SQLX_QUERY_TARGET: &str = "sqlx::query";

/// Which database the service's statements go to, for `db.system.name` and
/// `db.namespace` on its database spans
/// ([`TelemetryBuilder::with_database`](crate::TelemetryBuilder::with_database)).
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseIdentity {
    system: Cow<'static, str>,
    namespace: Option<String>,
}

impl fmt::Debug for DatabaseIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseIdentity")
            .field("system", &self.system)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl DatabaseIdentity {
    /// `db.system.name` (`postgresql`, `mysql`, `mariadb`, `sqlite`, or any
    /// other name of the semantic conventions) and `db.namespace` (the
    /// database name, `None` when there is none to report).
    pub fn new(system: impl Into<Cow<'static, str>>, namespace: Option<String>) -> Self {
        DatabaseIdentity {
            system: system.into(),
            namespace,
        }
    }

    /// From a database URL, read by appenv-config's
    /// [`ServiceUrl`](appenv_config::ServiceUrl): `postgres://` is
    /// `postgresql`, `mysql://` `mysql`, `mariadb://` `mariadb`, `sqlite:`
    /// `sqlite`; the namespace is the database name (the file for SQLite).
    /// Only those two are kept: no host, user or password.
    ///
    /// `None` for a URL that does not parse or names another backend.
    pub fn from_url(url: &str) -> Option<Self> {
        use appenv_config::UrlBackend;
        let parsed = appenv_config::ServiceUrl::parse(url.trim()).ok()?;
        let system = match parsed.backend() {
            UrlBackend::Postgres => "postgresql",
            UrlBackend::MySql if parsed.scheme() == "mariadb" => "mariadb",
            UrlBackend::MySql => "mysql",
            UrlBackend::Sqlite => "sqlite",
            _ => return None,
        };
        let namespace = parsed
            .database()
            .filter(|name| !name.is_empty() && *name != ":memory:")
            .map(str::to_owned);
        Some(DatabaseIdentity::new(system, namespace))
    }

    /// The `db.system.name`.
    pub fn system(&self) -> &str {
        &self.system
    }

    /// The `db.namespace`.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
}

/// The layer turning sqlx statement events into CLIENT spans.
pub(crate) struct DbSpans {
    tracer: SdkTracer,
    identity: Option<DatabaseIdentity>,
    /// Whether spans carry `db.query.text` (local, at debug or trace).
    full_text: bool,
}

impl DbSpans {
    pub(crate) fn new(
        tracer: SdkTracer,
        identity: Option<DatabaseIdentity>,
        full_text: bool,
    ) -> Self {
        DbSpans {
            tracer,
            identity,
            full_text,
        }
    }
}

#[derive(Default)]
struct Statement {
    summary: String,
    text: String,
    rows_returned: Option<i64>,
    elapsed_secs: Option<f64>,
}

impl Visit for Statement {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => value.clone_into(&mut self.summary),
            "db.statement" => value.trim().clone_into(&mut self.text),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "rows_returned" {
            self.rows_returned = i64::try_from(value).ok();
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "rows_returned" {
            self.rows_returned = Some(value);
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = Some(value);
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for DbSpans {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != SQLX_QUERY_TARGET {
            return;
        }
        // The context the OpenTelemetry layer activated on entering the
        // span that ran the statement (sqlx's SQLite worker enters the
        // caller's span too). Statements outside any span are not traced:
        // they would each be a trace of one span, with nothing to say
        // which work they belonged to.
        let parent = opentelemetry::Context::current();
        if !parent.has_active_span() {
            return;
        }
        let mut statement = Statement::default();
        event.record(&mut statement);
        // sqlx leaves `db.statement` empty when the summary is the whole
        // statement.
        let sql = if statement.text.is_empty() {
            statement.summary.as_str()
        } else {
            statement.text.as_str()
        };
        let (operation, collection) = operation_and_collection(sql);
        // sqlx's events do not name their backend (every driver logs
        // through sqlx-core): without an identity the system is the
        // conventions' `other_sql`.
        let system = match &self.identity {
            Some(identity) => identity.system.clone(),
            None => Cow::Borrowed("other_sql"),
        };
        let summary = match (&operation, &collection) {
            (Some(op), Some(table)) => Some(format!("{op} {table}")),
            (Some(op), None) => Some(op.clone()),
            _ => None,
        };
        let name = summary.clone().unwrap_or_else(|| system.to_string());

        let end = SystemTime::now();
        let elapsed = statement
            .elapsed_secs
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map_or(Duration::ZERO, Duration::from_secs_f64);
        let start = end.checked_sub(elapsed).unwrap_or(end);

        let mut attributes = Vec::with_capacity(7);
        attributes.push(KeyValue::new("db.system.name", system.into_owned()));
        if let Some(namespace) = self.identity.as_ref().and_then(|i| i.namespace.clone()) {
            attributes.push(KeyValue::new("db.namespace", namespace));
        }
        if let Some(operation) = operation {
            attributes.push(KeyValue::new("db.operation.name", operation));
        }
        if let Some(collection) = collection {
            attributes.push(KeyValue::new("db.collection.name", collection));
        }
        if let Some(summary) = summary {
            attributes.push(KeyValue::new("db.query.summary", summary));
        }
        if let Some(rows) = statement.rows_returned {
            attributes.push(KeyValue::new("db.response.returned_rows", rows));
        }
        if self.full_text && !sql.is_empty() {
            attributes.push(KeyValue::new("db.query.text", sql.to_owned()));
        }
        let mut span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        span.end_with_timestamp(end);
    }
}

/// The statement's operation (its first keyword, uppercased) and the table
/// it names first (after `FROM` for `SELECT`/`DELETE`, `INTO` for
/// `INSERT`/`REPLACE`, directly after `UPDATE`), unquoted. Leading comments
/// are skipped; a statement that does not start with a keyword has neither.
fn operation_and_collection(sql: &str) -> (Option<String>, Option<String>) {
    let mut words = Words::new(sql);
    let Some(first) = words.next() else {
        return (None, None);
    };
    if !first.chars().all(|c| c.is_ascii_alphabetic()) {
        return (None, None);
    }
    let operation = first.to_ascii_uppercase();
    let marker = match operation.as_str() {
        "SELECT" | "DELETE" => Some("FROM"),
        "INSERT" | "REPLACE" => Some("INTO"),
        "UPDATE" => None,
        _ => return (Some(operation), None),
    };
    // Bounded: a table named after the first few dozen words is not
    // looked for.
    let mut rest = words.take(64);
    let table = match marker {
        None => rest.find(|w| !is_update_modifier(w)),
        Some(marker) => rest
            .by_ref()
            .find(|w| w.eq_ignore_ascii_case(marker))
            .and_then(|_| rest.next()),
    };
    let table = table
        .filter(|t| !t.starts_with('('))
        .map(unquote)
        .filter(|t| is_identifier(t));
    (Some(operation), table)
}

fn is_update_modifier(word: &str) -> bool {
    ["LOW_PRIORITY", "IGNORE", "ONLY", "OR"]
        .iter()
        .any(|m| word.eq_ignore_ascii_case(m))
}

/// The name without trailing punctuation and without identifier quotes
/// (`"public"."events"` is `public.events`).
fn unquote(word: &str) -> String {
    word.trim_end_matches([',', ';'])
        .chars()
        .filter(|c| !matches!(c, '"' | '`' | '[' | ']'))
        .collect()
}

fn is_identifier(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '$'))
}

/// Whitespace-separated words of a statement, with `--` and `/* */`
/// comments skipped.
struct Words<'a> {
    rest: &'a str,
}

impl<'a> Words<'a> {
    fn new(sql: &'a str) -> Self {
        Words { rest: sql }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            self.rest = self.rest.trim_start();
            if let Some(after) = self.rest.strip_prefix("--") {
                self.rest = after.split_once('\n').map_or("", |(_, rest)| rest);
            } else if let Some(after) = self.rest.strip_prefix("/*") {
                self.rest = after.split_once("*/").map_or("", |(_, rest)| rest);
            } else {
                break;
            }
        }
        if self.rest.is_empty() {
            return None;
        }
        let end = self
            .rest
            .find(|c: char| c.is_whitespace() || c == '(')
            .map_or(self.rest.len(), |i| i.max(1));
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> (Option<&'static str>, Option<&'static str>) {
        let (op, table) = operation_and_collection(sql);
        (
            op.map(|s| &*Box::leak(s.into_boxed_str())),
            table.map(|s| &*Box::leak(s.into_boxed_str())),
        )
    }

    #[test]
    fn operations_and_tables_are_read_from_common_statements() {
        assert_eq!(
            parsed("SELECT id, title FROM events WHERE id = $1"),
            (Some("SELECT"), Some("events"))
        );
        assert_eq!(
            parsed("insert into \"events\" (title) values (?)"),
            (Some("INSERT"), Some("events"))
        );
        assert_eq!(
            parsed("UPDATE `events` SET title = ?"),
            (Some("UPDATE"), Some("events"))
        );
        assert_eq!(
            parsed("DELETE FROM public.events WHERE id = 1"),
            (Some("DELETE"), Some("public.events"))
        );
        assert_eq!(
            parsed("-- appenv: lookup\n/* hint */ SELECT 1"),
            (Some("SELECT"), None)
        );
        assert_eq!(parsed("BEGIN"), (Some("BEGIN"), None));
        assert_eq!(
            parsed("SELECT * FROM (SELECT 1) AS t"),
            (Some("SELECT"), None)
        );
        assert_eq!(parsed(""), (None, None));
        assert_eq!(parsed("(SELECT 1)"), (None, None));
    }

    #[test]
    fn identity_from_urls_keeps_the_backend_and_database_only() {
        let pg = DatabaseIdentity::from_url("postgres://app:SENTINEL-pw@db:5432/orders").unwrap();
        assert_eq!(pg.system(), "postgresql");
        assert_eq!(pg.namespace(), Some("orders"));
        assert!(!format!("{pg:?}").contains("SENTINEL"));
        let maria = DatabaseIdentity::from_url("mariadb://root@localhost/test").unwrap();
        assert_eq!(maria.system(), "mariadb");
        let mysql = DatabaseIdentity::from_url("mysql://root@localhost/test").unwrap();
        assert_eq!(mysql.system(), "mysql");
        let sqlite = DatabaseIdentity::from_url("sqlite:./data/app.db").unwrap();
        assert_eq!(sqlite.system(), "sqlite");
        let memory = DatabaseIdentity::from_url("sqlite::memory:").unwrap();
        assert_eq!(memory.namespace(), None);
        assert_eq!(DatabaseIdentity::from_url("redis://localhost"), None);
    }
}
