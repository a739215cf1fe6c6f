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

use crate::backend::{Backend, Conn};
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

fn statements_of(backend: Backend, script: &Script<'_>) -> Result<Vec<Statement>, Error> {
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
    let statements = statements_of(backend, &script)?;
    let total = statements.len();
    let started = OffsetDateTime::now_utc();
    let marker = |s: &Statement| Marker {
        version: script.version,
        file: script.file,
        action: script.action,
        statement: u32::try_from(s.index).unwrap_or(u32::MAX),
        statements: u32::try_from(total).unwrap_or(u32::MAX),
        line: u32::try_from(s.line).unwrap_or(u32::MAX),
        started,
    };
    let fail = |failure: Failure, dirty: bool| Error::MigrationFailed {
        file: script.file.to_owned(),
        line: failure.line,
        statement: failure.statement,
        statements: total,
        message: failure.message,
        dirty,
        source: failure.source,
    };

    if script.no_transaction {
        dirty::ensure(conn).await?;
        let mut invalid_before = dirty::invalid_indexes(conn).await?;
        for s in &statements {
            dirty::mark(conn, &marker(s)).await?;
            let failure = match conn.run(&s.sql).await {
                Err(err) => Some(locate(script.file, s, err)),
                Ok(())
                    if backend == Backend::Postgres
                        && s.sql.to_ascii_uppercase().contains("CONCURRENTLY") =>
                {
                    let now = dirty::invalid_indexes(conn).await?;
                    let new: Vec<&String> =
                        now.iter().filter(|i| !invalid_before.contains(i)).collect();
                    let failure = (!new.is_empty()).then(|| Failure {
                        statement: s.index,
                        line: s.line,
                        message: format!(
                            "the statement left invalid index(es) {}: drop them with DROP INDEX CONCURRENTLY, find the cause, then `repair`",
                            new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                        source: None,
                    });
                    invalid_before = now;
                    failure
                }
                Ok(()) => None,
            };
            if let Some(failure) = failure {
                // A first statement that failed changed nothing (an index
                // it left invalid is reported on its own).
                let dirty = s.index > 1 || failure.source.is_none();
                let recorded = if dirty {
                    dirty::fail(conn, &marker(s), &failure.message).await
                } else {
                    dirty::clear(conn, script.version).await
                };
                keep_marker_note(recorded);
                return Err(fail(failure, dirty));
            }
        }
        let mut finish = script.finish.clone();
        finish.push(format!(
            "DELETE FROM {} WHERE version = {}",
            dirty::STATE_TABLE,
            script.version
        ));
        return in_transaction(conn, &finish).await.map_err(|source| {
            Error::db(format!(
                "recording {} after its statements ran",
                script.file
            ))(source)
        });
    }

    let implicit_commits =
        backend == Backend::MySql && statements.iter().any(Statement::may_auto_commit);
    if !implicit_commits {
        let begin = if backend == Backend::Sqlite {
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN"
        };
        conn.run(begin).await.map_err(Error::db(format!(
            "starting the transaction of {}",
            script.file
        )))?;
        for s in &statements {
            if let Err(err) = conn.run(&s.sql).await {
                rollback(conn).await;
                return Err(fail(locate(script.file, s, err), false));
            }
        }
        for sql in &script.finish {
            if let Err(err) = conn.run(sql).await {
                rollback(conn).await;
                return Err(Error::db(format!("recording {}", script.file))(err));
            }
        }
        return conn
            .run("COMMIT")
            .await
            .map_err(Error::db(format!("committing {}", script.file)));
    }

    // MySQL/MariaDB with DDL: each DDL statement commits what came before
    // it. The marker written just before such a statement is committed by
    // it, so a kill leaves the marker of the last statement that may have
    // taken effect; DML in between rolls back as usual.
    dirty::ensure(conn).await?;
    conn.run("SET autocommit = 0")
        .await
        .map_err(Error::db("turning autocommit off"))?;
    let mut last_commit: Option<usize> = None;
    for s in &statements {
        if s.may_auto_commit() {
            if let Err(err) = dirty::mark(conn, &marker(s)).await {
                rollback(conn).await;
                return Err(err);
            }
            last_commit = Some(s.index);
        }
        if let Err(err) = conn.run(&s.sql).await {
            rollback(conn).await;
            let failure = locate(script.file, s, err);
            // Statements up to the last implicit commit are applied; the
            // ones after it rolled back.
            let stopped_at = match last_commit {
                Some(j) if j < s.index => Some(j + 1),
                Some(j) if j > 1 => Some(j),
                _ => None,
            };
            match stopped_at.and_then(|n| statements.get(n - 1)) {
                Some(at) => {
                    keep_marker_note(dirty::fail(conn, &marker(at), &failure.message).await);
                    return Err(fail(failure, true));
                }
                None => {
                    keep_marker_note(dirty::clear(conn, script.version).await);
                    return Err(fail(failure, false));
                }
            }
        }
    }
    let mut finish = script.finish.clone();
    finish.push(format!(
        "DELETE FROM {} WHERE version = {}",
        dirty::STATE_TABLE,
        script.version
    ));
    for sql in &finish {
        if let Err(err) = conn.run(sql).await {
            rollback(conn).await;
            return Err(Error::db(format!("recording {}", script.file))(err));
        }
    }
    let committed = conn
        .run("COMMIT")
        .await
        .map_err(Error::db(format!("committing {}", script.file)));
    let _ = conn.run("SET autocommit = 1").await;
    committed
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
    if conn.backend() == Backend::MySql {
        let _ = conn.run("SET autocommit = 1").await;
    }
}

async fn in_transaction(conn: &mut Conn, sql: &[String]) -> Result<(), sqlx::Error> {
    let begin = if conn.backend() == Backend::Sqlite {
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
    if let Some(pg) = err
        .as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>())
    {
        if let Some(sqlx::postgres::PgErrorPosition::Original(pos)) = pg.position() {
            line = s.line_of_position(pos);
        }
        if let Some(detail) = pg.detail() {
            message.push_str(&format!("; detail: {detail}"));
        }
        if let Some(hint) = pg.hint() {
            message.push_str(&format!("; hint: {hint}"));
        }
    } else if let Some(at) = message.rfind("at line ") {
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
