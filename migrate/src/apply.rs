//! Running one migration (or undo script) as written: statement by
//! statement, in a transaction unless its first line is
//! `-- appenv:no-transaction`, with its bookkeeping (the history row) in
//! the same transaction, and a dirty-state marker wherever the database
//! cannot roll back.
//!
//! | backend | transactional file | `-- appenv:no-transaction` file |
//! |---|---|---|
//! | PostgreSQL | `BEGIN` … `COMMIT`, atomic | each statement on its own, marker before each |
//! | SQLite | `BEGIN IMMEDIATE` … `COMMIT`, atomic | each statement on its own, marker before each |
//! | MySQL/MariaDB | DML only: `BEGIN` … `COMMIT`; with DDL: `autocommit = 0`, marker before each statement that commits implicitly | each statement on its own, marker before each |

use time::OffsetDateTime;

use crate::backend::{Conn, DatabaseKind};
use crate::dirty::{self, Marker};
use crate::error::Error;
use crate::split::{self, Statement};

/// One script to run.
#[derive(Debug)]
pub(crate) struct Script<'a> {
    /// File name, for messages and the marker.
    pub(crate) file: &'a str,
    pub(crate) version: i64,
    /// `up` or `down`.
    pub(crate) action: &'a str,
    pub(crate) sql: &'a str,
    pub(crate) no_transaction: bool,
    /// Bookkeeping run after the statements, atomically with clearing the
    /// marker (the history insert or delete).
    pub(crate) finish: Vec<String>,
}

/// Where a failing statement is: its statement, and the line in the file
/// (the statement's start, or the server's position inside it).
#[derive(Debug)]
struct Failure {
    statement: usize,
    line: u64,
    message: String,
    source: Option<sqlx::Error>,
}

fn statements_of(backend: DatabaseKind, script: &Script<'_>) -> Result<Vec<Statement>, Error> {
    match split::split(backend, script.sql) {
        Ok(split) => Ok(split.statements),
        Err(err) if !script.no_transaction => {
            // The lint refuses an unreadable file unless allowed; a file
            // that runs in one transaction can still go as one piece.
            tracing::debug!(
                file = script.file,
                line = err.line,
                "running the file as one statement: {}",
                err.message
            );
            Ok(vec![Statement::whole(script.sql)])
        }
        Err(err) => Err(Error::MigrationFailed {
            file: script.file.to_owned(),
            line: err.line,
            statement: 0,
            statements: 0,
            message: format!(
                "a no-transaction file runs statement by statement, and the {backend} tokenizer cannot split it: {}",
                err.message
            ),
            dirty: false,
            source: None,
        }),
    }
}

/// Runs `script` on `conn`. On failure the error names the file, line and
/// statement, and whether the database is left dirty.
pub(crate) async fn run(conn: &mut Conn, script: Script<'_>) -> Result<(), Error> {
    let backend = conn.backend();
    let run = Run {
        statements: statements_of(backend, &script)?,
        script,
        started: OffsetDateTime::now_utc(),
    };
    if run.script.no_transaction {
        run.without_transaction(conn).await
    } else if backend == DatabaseKind::MySql
        && run.statements.iter().any(Statement::may_auto_commit)
    {
        run.with_implicit_commits(conn).await
    } else {
        run.in_transaction(conn).await
    }
}

/// One script split into its statements.
struct Run<'a> {
    script: Script<'a>,
    statements: Vec<Statement>,
    started: OffsetDateTime,
}

impl Run<'_> {
    /// The progress mark for statement `s`.
    fn marker(&self, s: &Statement) -> Marker<'_> {
        Marker {
            version: self.script.version,
            file: self.script.file,
            action: self.script.action,
            statement: u32::try_from(s.index).unwrap_or(u32::MAX),
            statements: u32::try_from(self.statements.len()).unwrap_or(u32::MAX),
            line: u32::try_from(s.line).unwrap_or(u32::MAX),
            started: self.started,
        }
    }

    fn failed(&self, failure: Failure, dirty: bool) -> Error {
        Error::MigrationFailed {
            file: self.script.file.to_owned(),
            line: failure.line,
            statement: failure.statement,
            statements: self.statements.len(),
            message: failure.message,
            dirty,
            source: failure.source.map(Box::new),
        }
    }

    /// The `BEGIN`/`START TRANSACTION` statement of a no-transaction file
    /// whose transaction is still open before statement `index`.
    fn open_user_transaction(&self, index: usize) -> Option<&Statement> {
        let mut open = None;
        for s in self.statements.iter().take_while(|s| s.index < index) {
            match s.first_word.as_str() {
                "BEGIN" | "START" => open = Some(s),
                "COMMIT" | "END" | "ROLLBACK" => open = None,
                _ => {}
            }
        }
        open
    }

    /// The bookkeeping plus clearing the progress mark.
    fn finish_with_clear(&self) -> Vec<String> {
        let mut finish = self.script.finish.clone();
        finish.push(format!(
            "DELETE FROM {} WHERE version = {}",
            dirty::STATE_TABLE,
            self.script.version
        ));
        finish
    }

    /// `-- appenv:no-transaction`: each statement on its own, its mark
    /// written first; on Postgres a `CONCURRENTLY` statement that leaves an
    /// invalid index fails.
    async fn without_transaction(&self, conn: &mut Conn) -> Result<(), Error> {
        let postgres = conn.backend() == DatabaseKind::Postgres;
        dirty::ensure(conn).await?;
        let mut invalid_before = dirty::invalid_indexes(conn).await?;
        for s in &self.statements {
            dirty::mark(conn, &self.marker(s)).await?;
            let failure = match conn.run(&s.sql).await {
                Err(err) => Some(locate(self.script.file, s, err)),
                Ok(()) if postgres && s.sql.to_ascii_uppercase().contains("CONCURRENTLY") => {
                    let now = dirty::invalid_indexes(conn).await?;
                    let new: Vec<&str> = now
                        .iter()
                        .filter(|i| !invalid_before.contains(i))
                        .map(String::as_str)
                        .collect();
                    let failure = (!new.is_empty()).then(|| Failure {
                        statement: s.index,
                        line: s.line,
                        message: format!(
                            "the statement left invalid index(es) {}: drop them with DROP INDEX CONCURRENTLY, find the cause, then `repair`",
                            new.join(", ")
                        ),
                        source: None,
                    });
                    invalid_before = now;
                    failure
                }
                Ok(()) => None,
            };
            if let Some(failure) = failure {
                // A transaction the file opened itself (SQLite's rebuild
                // procedure) is rolled back: the run stopped at its BEGIN.
                let stopped = match self.open_user_transaction(s.index) {
                    Some(begin) => {
                        rollback(conn).await;
                        begin
                    }
                    None => s,
                };
                // Nothing before the first statement ran, so failing there
                // changed nothing (an index it left invalid is reported on
                // its own).
                let dirty = stopped.index > 1 || failure.source.is_none();
                let recorded = if dirty {
                    dirty::fail(conn, &self.marker(stopped), &failure.message).await
                } else {
                    dirty::clear(conn, self.script.version).await
                };
                keep_marker_note(recorded);
                return Err(self.failed(failure, dirty));
            }
        }
        in_transaction(conn, &self.finish_with_clear())
            .await
            .map_err(Error::db(format!(
                "recording {} after its statements ran",
                self.script.file
            )))
    }

    /// One transaction with the bookkeeping: atomic on Postgres, SQLite,
    /// and MySQL/MariaDB without DDL.
    async fn in_transaction(&self, conn: &mut Conn) -> Result<(), Error> {
        let file = self.script.file;
        let begin = if conn.backend() == DatabaseKind::Sqlite {
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN"
        };
        conn.run(begin)
            .await
            .map_err(Error::db(format!("starting the transaction of {file}")))?;
        for s in &self.statements {
            if let Err(err) = conn.run(&s.sql).await {
                rollback(conn).await;
                return Err(self.failed(locate(file, s, err), false));
            }
        }
        for sql in &self.script.finish {
            if let Err(err) = conn.run(sql).await {
                rollback(conn).await;
                return Err(Error::db(format!("recording {file}"))(err));
            }
        }
        conn.run("COMMIT")
            .await
            .map_err(Error::db(format!("committing {file}")))
    }

    /// MySQL/MariaDB with DDL: each DDL statement commits what came before
    /// it. The mark written just before such a statement is committed by
    /// it, so a kill leaves the mark of the last statement that may have
    /// taken effect; DML in between rolls back as usual.
    async fn with_implicit_commits(&self, conn: &mut Conn) -> Result<(), Error> {
        let file = self.script.file;
        dirty::ensure(conn).await?;
        conn.run("SET autocommit = 0")
            .await
            .map_err(Error::db("turning autocommit off"))?;
        let mut last_commit: Option<usize> = None;
        for s in &self.statements {
            if s.may_auto_commit() {
                if let Err(err) = dirty::mark(conn, &self.marker(s)).await {
                    rollback(conn).await;
                    return Err(err);
                }
                last_commit = Some(s.index);
            }
            let Err(err) = conn.run(&s.sql).await else {
                continue;
            };
            rollback(conn).await;
            let failure = locate(file, s, err);
            // Statements up to the last implicit commit are applied; the
            // ones after it rolled back. A failing first statement changed
            // nothing.
            let stopped_at = match last_commit {
                Some(j) if j < s.index => Some(j + 1),
                Some(j) if j > 1 => Some(j),
                _ => None,
            };
            return match stopped_at.and_then(|n| self.statements.get(n - 1)) {
                Some(at) => {
                    keep_marker_note(dirty::fail(conn, &self.marker(at), &failure.message).await);
                    Err(self.failed(failure, true))
                }
                None => {
                    keep_marker_note(dirty::clear(conn, self.script.version).await);
                    Err(self.failed(failure, false))
                }
            };
        }
        for sql in &self.finish_with_clear() {
            if let Err(err) = conn.run(sql).await {
                rollback(conn).await;
                return Err(Error::db(format!("recording {file}"))(err));
            }
        }
        let committed = conn
            .run("COMMIT")
            .await
            .map_err(Error::db(format!("committing {file}")));
        let _ = conn.run("SET autocommit = 1").await;
        committed
    }
}

/// After a failed statement the marker written before it stays when the
/// connection is gone (a killed session): the original error is the one to
/// report.
fn keep_marker_note(recorded: Result<(), Error>) {
    if let Err(err) = recorded {
        tracing::warn!(error = %err, "could not update appenv_migration_state after the failure; the mark written before the statement stays");
    }
}

async fn rollback(conn: &mut Conn) {
    if let Err(err) = conn.run("ROLLBACK").await {
        tracing::debug!(error = %err, "rolling back the failed migration");
    }
    if conn.backend() == DatabaseKind::MySql {
        let _ = conn.run("SET autocommit = 1").await;
    }
}

async fn in_transaction(conn: &mut Conn, sql: &[String]) -> Result<(), sqlx::Error> {
    let begin = if conn.backend() == DatabaseKind::Sqlite {
        "BEGIN IMMEDIATE"
    } else {
        "BEGIN"
    };
    conn.run(begin).await?;
    for s in sql {
        if let Err(err) = conn.run(s).await {
            rollback(conn).await;
            return Err(err);
        }
    }
    conn.run("COMMIT").await
}

/// The file line and message of a failed statement: Postgres gives a
/// character position inside the statement, MySQL/MariaDB an `at line N`
/// relative to it; SQLite neither (the statement's first line is used).
fn locate(file: &str, s: &Statement, err: sqlx::Error) -> Failure {
    let mut line = s.line;
    let mut message = match err.as_database_error() {
        Some(db) => db.message().to_owned(),
        None => err.to_string(),
    };
    if !postgres_details(s, &err, &mut line, &mut message)
        && let Some(at) = message.rfind("at line ")
    {
        let digits: String = message[at + 8..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(n) = digits.parse::<u64>() {
            line = s.line + n.saturating_sub(1);
            message = format!(
                "{}at {file}:{line}{}",
                &message[..at],
                &message[at + 8 + digits.len()..]
            );
        }
    }
    Failure {
        statement: s.index,
        line,
        message,
        source: Some(err),
    }
}

/// Postgres errors carry a position inside the statement, a detail and a
/// hint: the line is moved to the position and both are appended. `false`
/// when `err` is no Postgres error.
fn postgres_details(
    s: &Statement,
    err: &sqlx::Error,
    line: &mut u64,
    message: &mut String,
) -> bool {
    #[cfg(feature = "postgres")]
    if let Some(pg) = err
        .as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>())
    {
        if let Some(sqlx::postgres::PgErrorPosition::Original(pos)) = pg.position() {
            *line = s.line_of_position(pos);
        }
        if let Some(detail) = pg.detail() {
            message.push_str(&format!("; detail: {detail}"));
        }
        if let Some(hint) = pg.hint() {
            message.push_str(&format!("; hint: {hint}"));
        }
        return true;
    }
    #[cfg(not(feature = "postgres"))]
    let _ = (s, err, line, message);
    false
}
