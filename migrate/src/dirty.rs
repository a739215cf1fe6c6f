//! Dirty state: the `appenv_migration_state` table records a migration that
//! cannot roll back (MySQL/MariaDB DDL, `-- appenv:no-transaction` files)
//! while it runs, with the statement it reached. A row left behind means a
//! partial apply: a failure or a kill between two statements. On Postgres an
//! index that `CREATE INDEX CONCURRENTLY` left invalid counts too.
//!
//! The table is created the first time a non-transactional migration runs,
//! never on a read.

use serde::Serialize;
use sqlx::AssertSqlSafe;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::backend::{Conn, DatabaseKind};
use crate::error::Error;

/// Name of the dirty-state table.
pub const STATE_TABLE: &str = "appenv_migration_state";

/// A migration that stopped part-way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DirtyMigration {
    /// Version.
    pub version: i64,
    /// File name (`V3__split_names.sql`; `.down.sql` for an undo script).
    pub file: String,
    /// `up` or `down`.
    pub action: String,
    /// 1-based statement the run stopped at: the statements before it are
    /// applied, this one and the rest are not (this one may be partly
    /// applied).
    pub statement: u32,
    /// Statements in the file.
    pub statements: u32,
    /// Line of that statement in the file.
    pub line: u32,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// The error, when the run failed (none when it was killed).
    pub error: Option<String>,
}

impl std::fmt::Display for DirtyMigration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "version {} ({}) stopped at statement {} of {} ({}:{}) during `{}` started {}",
            self.version,
            self.file,
            self.statement,
            self.statements,
            self.file,
            self.line,
            self.action,
            self.started_at
        )?;
        match &self.error {
            Some(e) => write!(f, ": {e}"),
            None => write!(f, " (the migrator was killed or lost its connection)"),
        }
    }
}

/// The marker written before a statement that cannot roll back.
#[derive(Debug, Clone)]
pub(crate) struct Marker<'a> {
    pub(crate) version: i64,
    pub(crate) file: &'a str,
    pub(crate) action: &'a str,
    pub(crate) statement: u32,
    pub(crate) statements: u32,
    pub(crate) line: u32,
    pub(crate) started: OffsetDateTime,
}

fn create_sql(conn: &Conn) -> &'static str {
    match conn.backend() {
        DatabaseKind::MySql => {
            "CREATE TABLE IF NOT EXISTS appenv_migration_state (
                version BIGINT PRIMARY KEY,
                file VARCHAR(255) NOT NULL,
                action VARCHAR(16) NOT NULL,
                statement INTEGER NOT NULL,
                statements INTEGER NOT NULL,
                line INTEGER NOT NULL,
                started_at VARCHAR(64) NOT NULL,
                error TEXT) ENGINE = InnoDB"
        }
        _ => {
            "CREATE TABLE IF NOT EXISTS appenv_migration_state (
                version BIGINT PRIMARY KEY,
                file VARCHAR(255) NOT NULL,
                action VARCHAR(16) NOT NULL,
                statement INTEGER NOT NULL,
                statements INTEGER NOT NULL,
                line INTEGER NOT NULL,
                started_at VARCHAR(64) NOT NULL,
                error TEXT)"
        }
    }
}

/// Creates the table when absent (DDL only then).
pub(crate) async fn ensure(conn: &mut Conn) -> Result<(), Error> {
    if conn.table_exists(STATE_TABLE).await? {
        return Ok(());
    }
    conn.run(create_sql(conn))
        .await
        .map_err(Error::db("creating appenv_migration_state"))
}

/// The markers of an existing state table, oldest version first.
pub(crate) async fn read_rows(conn: &mut Conn) -> Result<Vec<DirtyMigration>, Error> {
    let sql = "SELECT version, file, action, statement, statements, line, started_at, error \
               FROM appenv_migration_state ORDER BY version";
    type Row = (i64, String, String, i64, i64, i64, String, Option<String>);
    /// INTEGER columns read as 32-bit on Postgres and MySQL.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    type Row32 = (i64, String, String, i32, i32, i32, String, Option<String>);
    let err = Error::db("reading appenv_migration_state");
    let rows: Vec<Row> = match conn {
        #[cfg(feature = "postgres")]
        Conn::Postgres(c) => {
            let rows: Vec<Row32> = sqlx::query_as(sql).fetch_all(&mut *c).await.map_err(err)?;
            rows.into_iter()
                .map(|r| (r.0, r.1, r.2, r.3.into(), r.4.into(), r.5.into(), r.6, r.7))
                .collect()
        }
        #[cfg(feature = "mysql")]
        Conn::MySql(c) => {
            let rows: Vec<Row32> = sqlx::query_as(sql).fetch_all(&mut *c).await.map_err(err)?;
            rows.into_iter()
                .map(|r| (r.0, r.1, r.2, r.3.into(), r.4.into(), r.5.into(), r.6, r.7))
                .collect()
        }
        #[cfg(feature = "sqlite")]
        Conn::Sqlite(c) => sqlx::query_as(sql).fetch_all(&mut *c).await.map_err(err)?,
    };
    let u32_of = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    Ok(rows
        .into_iter()
        .map(|r| DirtyMigration {
            version: r.0,
            file: r.1,
            action: r.2,
            statement: u32_of(r.3),
            statements: u32_of(r.4),
            line: u32_of(r.5),
            started_at: r.6,
            error: r.7,
        })
        .collect())
}

fn placeholders(conn: &Conn, sql: &str) -> String {
    match conn.backend() {
        DatabaseKind::Postgres => {
            let mut n = 0;
            sql.chars()
                .map(|c| {
                    if c == '?' {
                        n += 1;
                        format!("${n}")
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        }
        _ => sql.to_owned(),
    }
}

/// Records (or moves) the marker of `marker.version`.
pub(crate) async fn mark(conn: &mut Conn, marker: &Marker<'_>) -> Result<(), Error> {
    clear(conn, marker.version).await?;
    let sql = placeholders(
        conn,
        "INSERT INTO appenv_migration_state (version, file, action, statement, statements, line, started_at, error) \
         VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
    );
    let started = marker.started.format(&Rfc3339).unwrap_or_default();
    macro_rules! run {
        ($c:expr) => {
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(marker.version)
                .bind(marker.file)
                .bind(marker.action)
                .bind(i64::from(marker.statement))
                .bind(i64::from(marker.statements))
                .bind(i64::from(marker.line))
                .bind(&started)
                .execute(&mut *$c)
                .await
                .map(|_| ())
        };
    }
    let outcome = match conn {
        #[cfg(feature = "postgres")]
        Conn::Postgres(c) => run!(c),
        #[cfg(feature = "mysql")]
        Conn::MySql(c) => run!(c),
        #[cfg(feature = "sqlite")]
        Conn::Sqlite(c) => run!(c),
    };
    outcome.map_err(Error::db(
        "recording migration progress in appenv_migration_state",
    ))
}

/// Stores the error that stopped the run at `statement`.
pub(crate) async fn fail(conn: &mut Conn, marker: &Marker<'_>, error: &str) -> Result<(), Error> {
    mark(conn, marker).await?;
    let sql = placeholders(
        conn,
        "UPDATE appenv_migration_state SET error = ? WHERE version = ?",
    );
    let error = appenv_config::redact_url(error).into_owned();
    macro_rules! run {
        ($c:expr) => {
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(&error)
                .bind(marker.version)
                .execute(&mut *$c)
                .await
                .map(|_| ())
        };
    }
    let outcome = match conn {
        #[cfg(feature = "postgres")]
        Conn::Postgres(c) => run!(c),
        #[cfg(feature = "mysql")]
        Conn::MySql(c) => run!(c),
        #[cfg(feature = "sqlite")]
        Conn::Sqlite(c) => run!(c),
    };
    outcome.map_err(Error::db("recording the failure in appenv_migration_state"))
}

/// Removes the marker of `version` (a no-op without one or without the
/// table).
pub(crate) async fn clear(conn: &mut Conn, version: i64) -> Result<(), Error> {
    let sql = placeholders(conn, "DELETE FROM appenv_migration_state WHERE version = ?");
    macro_rules! run {
        ($c:expr) => {
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(version)
                .execute(&mut *$c)
                .await
                .map(|_| ())
        };
    }
    let outcome = match conn {
        #[cfg(feature = "postgres")]
        Conn::Postgres(c) => run!(c),
        #[cfg(feature = "mysql")]
        Conn::MySql(c) => run!(c),
        #[cfg(feature = "sqlite")]
        Conn::Sqlite(c) => run!(c),
    };
    outcome.map_err(Error::db("clearing appenv_migration_state"))
}

/// Postgres: indexes of the schemas on the search path that are not valid
/// (`pg_index.indisvalid` false), as `schema.name`. An index still being
/// built (listed in `pg_stat_progress_create_index`, so a concurrent build
/// running anywhere) is not counted: it is invalid until it finishes.
pub(crate) async fn invalid_indexes(conn: &mut Conn) -> Result<Vec<String>, Error> {
    match conn {
        #[cfg(feature = "postgres")]
        Conn::Postgres(c) => pg_invalid_indexes(c).await,
        #[allow(unreachable_patterns)] // a Postgres-only build
        _ => Ok(Vec::new()),
    }
}

#[cfg(feature = "postgres")]
async fn pg_invalid_indexes(c: &mut sqlx::PgConnection) -> Result<Vec<String>, Error> {
    sqlx::query_scalar(
        "SELECT n.nspname || '.' || ci.relname FROM pg_catalog.pg_index i \
         JOIN pg_catalog.pg_class ci ON ci.oid = i.indexrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = ci.relnamespace \
         WHERE NOT i.indisvalid AND n.nspname = ANY(current_schemas(false)) \
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_progress_create_index p \
                           WHERE p.index_relid = i.indexrelid) \
         ORDER BY 1",
    )
    .fetch_all(c)
    .await
    .map_err(Error::db("reading invalid indexes from pg_index"))
}
