//! Which database a migrator talks to, and the dedicated connection it
//! opens for each run (never taken from, nor returned to, a pool).

use std::fmt;
use std::str::FromStr;

use appenv_config::{SecretUrl, UrlBackend, redact_url};
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection, Postgres};
use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Pool};

use crate::error::Error;

/// The database engines this crate drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DatabaseKind {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
    /// SQLite.
    Sqlite,
}

impl DatabaseKind {
    /// Lowercase name (`postgres`, `mysql`, `sqlite`).
    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseKind::Postgres => "postgres",
            DatabaseKind::MySql => "mysql",
            DatabaseKind::Sqlite => "sqlite",
        }
    }
}

impl fmt::Display for DatabaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone)]
enum Options {
    Postgres(PgConnectOptions),
    MySql(MySqlConnectOptions),
    Sqlite(SqliteConnectOptions),
}

/// Where migrations run: connection options for one of the supported
/// backends. Built from a URL or from an existing sqlx pool (its connect
/// options are reused; the pool itself is never used for migrations).
///
/// `Debug` never shows a password.
#[derive(Clone)]
pub struct Database {
    options: Options,
    label: String,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend())
            .field("target", &self.label)
            .finish()
    }
}

impl Database {
    /// Parses a `postgres://`, `postgresql://`, `mysql://`, `mariadb://` or
    /// `sqlite:` URL. SQLite files are created when missing.
    pub fn from_url(url: &str) -> Result<Database, Error> {
        let redacted = redact_url(url).into_owned();
        let invalid = |source| Error::InvalidUrl {
            url: redacted.clone(),
            source,
        };
        let scheme = url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        // One reading of schemes for the workspace: appenv-config's.
        match UrlBackend::from_scheme(&scheme) {
            UrlBackend::Postgres => PgConnectOptions::from_str(url)
                .map(Database::from)
                .map_err(invalid),
            UrlBackend::MySql => {
                let url = if scheme == "mariadb" {
                    format!("mysql{}", &url["mariadb".len()..])
                } else {
                    url.to_owned()
                };
                MySqlConnectOptions::from_str(&url)
                    .map(Database::from)
                    .map_err(invalid)
            }
            UrlBackend::Sqlite => SqliteConnectOptions::from_str(url)
                .map(|o| Database::from(o.create_if_missing(true)))
                .map_err(invalid),
            _ => Err(Error::UnsupportedUrl { url: redacted }),
        }
    }

    /// The engine.
    pub fn backend(&self) -> DatabaseKind {
        match self.options {
            Options::Postgres(_) => DatabaseKind::Postgres,
            Options::MySql(_) => DatabaseKind::MySql,
            Options::Sqlite(_) => DatabaseKind::Sqlite,
        }
    }

    /// `host:port/database` (or the SQLite file), without credentials.
    pub fn target(&self) -> &str {
        &self.label
    }

    /// Opens the dedicated migration connection.
    pub(crate) async fn connect(&self) -> Result<Conn, Error> {
        let err = |source| Error::Connect {
            target: format!("{} {}", self.backend(), self.label),
            source,
        };
        // appenv logs each migration and the lock wait itself: sqlx's
        // per-statement and "slow statement" logs would only repeat them as
        // warnings.
        Ok(match &self.options {
            Options::Postgres(o) => {
                let o = o
                    .clone()
                    .application_name("appenv-migrate")
                    .disable_statement_logging();
                Conn::Postgres(PgConnection::connect_with(&o).await.map_err(err)?)
            }
            Options::MySql(o) => {
                let o = o.clone().disable_statement_logging();
                Conn::MySql(MySqlConnection::connect_with(&o).await.map_err(err)?)
            }
            Options::Sqlite(o) => {
                let o = o.clone().disable_statement_logging();
                Conn::Sqlite(SqliteConnection::connect_with(&o).await.map_err(err)?)
            }
        })
    }

    /// The SQLite database file, when this is a file-backed SQLite database.
    pub(crate) fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        match &self.options {
            Options::Sqlite(o) => {
                let path = o.get_filename();
                let text = path.to_string_lossy();
                (!text.is_empty()
                    && !text.starts_with(':')
                    && !text.starts_with("file:sqlx-in-memory"))
                .then(|| path.to_path_buf())
            }
            _ => None,
        }
    }
}

impl From<PgConnectOptions> for Database {
    fn from(o: PgConnectOptions) -> Self {
        let label = format!(
            "{}:{}/{}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or_default()
        );
        Database {
            options: Options::Postgres(o),
            label,
        }
    }
}

impl From<MySqlConnectOptions> for Database {
    fn from(o: MySqlConnectOptions) -> Self {
        let label = format!(
            "{}:{}/{}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or_default()
        );
        Database {
            options: Options::MySql(o),
            label,
        }
    }
}

impl From<SqliteConnectOptions> for Database {
    fn from(o: SqliteConnectOptions) -> Self {
        let label = o.get_filename().display().to_string();
        Database {
            options: Options::Sqlite(o),
            label,
        }
    }
}

/// Anything a [`Database`] can be made from: a URL (`&str`, `String`,
/// [`SecretUrl`]), a sqlx pool of a supported backend (its connect options
/// are reused for a dedicated connection), or a `Database`.
pub trait IntoDatabase {
    /// Converts, failing on an unsupported or malformed URL.
    fn into_database(self) -> Result<Database, Error>;
}

impl IntoDatabase for Database {
    fn into_database(self) -> Result<Database, Error> {
        Ok(self)
    }
}
impl IntoDatabase for &Database {
    fn into_database(self) -> Result<Database, Error> {
        Ok(self.clone())
    }
}
impl IntoDatabase for &str {
    fn into_database(self) -> Result<Database, Error> {
        Database::from_url(self)
    }
}
impl IntoDatabase for &String {
    fn into_database(self) -> Result<Database, Error> {
        Database::from_url(self)
    }
}
impl IntoDatabase for String {
    fn into_database(self) -> Result<Database, Error> {
        Database::from_url(&self)
    }
}
impl IntoDatabase for &SecretUrl {
    fn into_database(self) -> Result<Database, Error> {
        Database::from_url(self.expose())
    }
}
impl IntoDatabase for &Pool<Postgres> {
    fn into_database(self) -> Result<Database, Error> {
        Ok(Database::from((*self.connect_options()).clone()))
    }
}
impl IntoDatabase for &Pool<MySql> {
    fn into_database(self) -> Result<Database, Error> {
        Ok(Database::from((*self.connect_options()).clone()))
    }
}
impl IntoDatabase for &Pool<Sqlite> {
    fn into_database(self) -> Result<Database, Error> {
        Ok(Database::from((*self.connect_options()).clone()))
    }
}

/// The dedicated connection of one run.
#[derive(Debug)]
pub(crate) enum Conn {
    Postgres(PgConnection),
    MySql(MySqlConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection.
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::backend::Conn::Postgres($c) => $body,
            $crate::backend::Conn::MySql($c) => $body,
            $crate::backend::Conn::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_conn;

impl Conn {
    pub(crate) fn backend(&self) -> DatabaseKind {
        match self {
            Conn::Postgres(_) => DatabaseKind::Postgres,
            Conn::MySql(_) => DatabaseKind::MySql,
            Conn::Sqlite(_) => DatabaseKind::Sqlite,
        }
    }

    /// Runs SQL (possibly several statements) for its effect.
    pub(crate) async fn run(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_owned());
        on_conn!(self, c => sqlx::raw_sql(sql).execute(&mut *c).await.map(|_| ()))
    }

    /// Closes the connection, which also releases any session lock.
    pub(crate) async fn close(self) {
        let outcome = on_conn!(self, c => c.close().await);
        if let Err(err) = outcome {
            tracing::debug!(error = %err, "closing the migration connection failed");
        }
    }

    /// Whether refinery's history table exists.
    pub(crate) async fn history_exists(&mut self) -> Result<bool, Error> {
        self.table_exists("refinery_schema_history").await
    }

    /// Whether the table `name` exists (in the search path on Postgres, the
    /// current database on MySQL).
    pub(crate) async fn table_exists(&mut self, name: &str) -> Result<bool, Error> {
        let err = Error::db(format!("checking for {name}"));
        let found: i64 = match self {
            Conn::Postgres(c) => sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_catalog.pg_tables \
                 WHERE tablename = $1 AND schemaname = ANY(current_schemas(false))",
            )
            .bind(name)
            .fetch_one(&mut *c)
            .await
            .map_err(err)?,
            Conn::MySql(c) => sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = ?",
            )
            .bind(name)
            .fetch_one(&mut *c)
            .await
            .map_err(err)?,
            Conn::Sqlite(c) => sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
            )
            .bind(name)
            .fetch_one(&mut *c)
            .await
            .map_err(err)?,
        };
        Ok(found > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend_and_never_show_the_password() {
        let db = Database::from_url("postgres://app:hunter2-secret@db.internal:6543/app").unwrap();
        assert_eq!(db.backend(), DatabaseKind::Postgres);
        assert_eq!(db.target(), "db.internal:6543/app");
        assert!(!format!("{db:?}").contains("hunter2"));

        let db = Database::from_url("mariadb://root:pw@127.0.0.1/test").unwrap();
        assert_eq!(db.backend(), DatabaseKind::MySql);
        assert_eq!(
            Database::from_url("sqlite::memory:").unwrap().backend(),
            DatabaseKind::Sqlite
        );

        let err = Database::from_url("mongodb://u:hunter2-secret@h/db").unwrap_err();
        assert!(
            err.to_string().contains("mongodb://u:[REDACTED]@h/db"),
            "{err}"
        );
        assert!(!err.to_string().contains("hunter2"));
        let err = Database::from_url("postgres://u:hunter2-secret@h:notaport/db").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
