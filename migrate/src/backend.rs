//! Which database a migrator talks to, and the dedicated connection it
//! opens for each run (never taken from, nor returned to, a pool).

use std::fmt;
use std::str::FromStr;

use appenv_config::{SecretUrl, UrlBackend, redact_url};
#[cfg(feature = "mysql")]
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlConnection};
#[cfg(feature = "postgres")]
use sqlx::postgres::{PgConnectOptions, PgConnection, Postgres};
#[cfg(feature = "sqlite")]
use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Pool};

use crate::error::Error;

/// The database engines this crate knows: their SQL dialects (lint and
/// statement splitting work for all three in every build) and, when the
/// matching feature is on (`postgres`, `mysql`, `sqlite`), their drivers.
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

    /// The crate feature that compiles this engine's driver in.
    pub fn feature(self) -> &'static str {
        self.as_str()
    }

    /// Whether this build has the engine's driver (its feature is on).
    pub fn is_compiled(self) -> bool {
        match self {
            DatabaseKind::Postgres => cfg!(feature = "postgres"),
            DatabaseKind::MySql => cfg!(feature = "mysql"),
            DatabaseKind::Sqlite => cfg!(feature = "sqlite"),
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
    #[cfg(feature = "postgres")]
    Postgres(PgConnectOptions),
    #[cfg(feature = "mysql")]
    MySql(MySqlConnectOptions),
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteConnectOptions),
}

/// Where migrations run: connection options for one of the supported
/// backends. Built from a URL or from an existing sqlx pool (its connect
/// options, as they are at each run, are reused; the pool itself is never
/// used for migrations).
///
/// `Debug` never shows a password.
#[derive(Clone)]
pub struct Database {
    options: Options,
    label: String,
    /// The pool the options were taken from: each run reads its current
    /// options, so rotated credentials
    /// ([`Pool::set_connect_options`], see [`CredentialRotation`](crate::CredentialRotation))
    /// reach the migration lock, audit and readiness connections too.
    live: Option<Live>,
    /// A SQLite file [`Database::from_url`] may create: its directory is
    /// created too, when the run connects (never while only validating).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    creates_sqlite_dir: bool,
}

#[derive(Clone)]
enum Live {
    #[cfg(feature = "postgres")]
    Postgres(Pool<Postgres>),
    #[cfg(feature = "mysql")]
    MySql(Pool<MySql>),
    #[cfg(feature = "sqlite")]
    Sqlite(Pool<Sqlite>),
}

impl Live {
    fn options(&self) -> Options {
        match self {
            #[cfg(feature = "postgres")]
            Live::Postgres(pool) => Options::Postgres((*pool.connect_options()).clone()),
            #[cfg(feature = "mysql")]
            Live::MySql(pool) => Options::MySql((*pool.connect_options()).clone()),
            #[cfg(feature = "sqlite")]
            Live::Sqlite(pool) => Options::Sqlite((*pool.connect_options()).clone()),
        }
    }
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
        if url.trim().is_empty() {
            return Err(Error::MissingDatabaseUrl);
        }
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
        let backend = match UrlBackend::from_scheme(&scheme) {
            UrlBackend::Postgres => DatabaseKind::Postgres,
            UrlBackend::MySql => DatabaseKind::MySql,
            UrlBackend::Sqlite => DatabaseKind::Sqlite,
            _ => {
                return Err(Error::UnsupportedUrl {
                    url: shown_scheme(url),
                });
            }
        };
        match backend {
            #[cfg(feature = "postgres")]
            DatabaseKind::Postgres => PgConnectOptions::from_str(url)
                .map(Database::from)
                .map_err(invalid),
            #[cfg(feature = "mysql")]
            DatabaseKind::MySql => MySqlConnectOptions::from_str(&mysql_url(url))
                .map(Database::from)
                .map_err(invalid),
            #[cfg(feature = "sqlite")]
            DatabaseKind::Sqlite => SqliteConnectOptions::from_str(url)
                .map(|o| Database {
                    creates_sqlite_dir: true,
                    ..Database::from(o.create_if_missing(true))
                })
                .map_err(invalid),
            #[allow(unreachable_patterns)] // a build with every driver
            _ => Err(Error::BackendNotCompiled {
                url: redacted,
                backend,
            }),
        }
    }

    /// The engine.
    pub fn backend(&self) -> DatabaseKind {
        match self.options {
            #[cfg(feature = "postgres")]
            Options::Postgres(_) => DatabaseKind::Postgres,
            #[cfg(feature = "mysql")]
            Options::MySql(_) => DatabaseKind::MySql,
            #[cfg(feature = "sqlite")]
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
        let current = self.live.as_ref().map(Live::options);
        Ok(match current.as_ref().unwrap_or(&self.options) {
            #[cfg(feature = "postgres")]
            Options::Postgres(o) => {
                let o = o
                    .clone()
                    .application_name("appenv-migrate")
                    .disable_statement_logging();
                Conn::Postgres(PgConnection::connect_with(&o).await.map_err(err)?)
            }
            #[cfg(feature = "mysql")]
            Options::MySql(o) => {
                let o = o.clone().disable_statement_logging();
                Conn::MySql(MySqlConnection::connect_with(&o).await.map_err(err)?)
            }
            #[cfg(feature = "sqlite")]
            Options::Sqlite(o) => {
                if self.creates_sqlite_dir {
                    create_sqlite_dir(o)?;
                }
                let o = o.clone().disable_statement_logging();
                Conn::Sqlite(SqliteConnection::connect_with(&o).await.map_err(err)?)
            }
        })
    }

    /// The audit row's summary of the credentials a run connects with now
    /// ([`appenv_config::credentials_summary`] of the current options: the
    /// user and, for a strong password, its fingerprint); `None` for SQLite.
    pub(crate) fn credentials(&self) -> Option<String> {
        let current = self.live.as_ref().map(Live::options);
        match current.as_ref().unwrap_or(&self.options) {
            #[cfg(feature = "postgres")]
            Options::Postgres(o) => appenv_config::credentials_summary(o.to_url_lossy().as_str()),
            #[cfg(feature = "mysql")]
            Options::MySql(o) => appenv_config::credentials_summary(o.to_url_lossy().as_str()),
            #[cfg(feature = "sqlite")]
            Options::Sqlite(_) => None,
        }
    }

    /// The SQLite database file, when this is a file-backed SQLite database.
    pub(crate) fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        match &self.options {
            #[cfg(feature = "sqlite")]
            Options::Sqlite(o) => {
                let path = o.get_filename();
                let text = path.to_string_lossy();
                (!text.is_empty()
                    && !text.starts_with(':')
                    && !text.starts_with("file:sqlx-in-memory"))
                .then(|| path.to_path_buf())
            }
            #[allow(unreachable_patterns)] // a SQLite-only build
            _ => None,
        }
    }
}

#[cfg(feature = "postgres")]
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
            live: None,
            creates_sqlite_dir: false,
        }
    }
}

#[cfg(feature = "mysql")]
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
            live: None,
            creates_sqlite_dir: false,
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<SqliteConnectOptions> for Database {
    fn from(o: SqliteConnectOptions) -> Self {
        let label = o.get_filename().display().to_string();
        Database {
            options: Options::Sqlite(o),
            label,
            live: None,
            creates_sqlite_dir: false,
        }
    }
}

/// sqlx reads `mysql:` only; MariaDB's scheme names the same protocol.
#[cfg(feature = "mysql")]
pub(crate) fn mysql_url(url: &str) -> std::borrow::Cow<'_, str> {
    match url.get(..8) {
        Some(scheme) if scheme.eq_ignore_ascii_case("mariadb:") => {
            format!("mysql:{}", &url[8..]).into()
        }
        _ => url.into(),
    }
}

/// The sqlx drivers [`DatabaseConfig::connect_lazy`](crate::DatabaseConfig::connect_lazy)
/// builds a pool for (each with its crate feature).
pub trait LazyPool: sqlx::Database + sealed::Sealed {
    /// A lazily connecting pool of `url`.
    #[doc(hidden)]
    fn connect_lazy(options: sqlx::pool::PoolOptions<Self>, url: &str)
    -> Result<Pool<Self>, Error>;
}

mod sealed {
    pub trait Sealed {}
}

fn invalid_url(url: &str) -> impl FnOnce(sqlx::Error) -> Error + '_ {
    move |source| Error::InvalidUrl {
        url: redact_url(url).into_owned(),
        source,
    }
}

/// How an unsupported database URL is named in errors: by its scheme
/// alone, since the rest may be anything (a libpq keyword string with its
/// password, a password pasted into the wrong variable).
fn shown_scheme(url: &str) -> String {
    let scheme = url.trim().split(':').next().unwrap_or_default();
    let looks_like_scheme = url.trim().contains(':')
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if looks_like_scheme {
        format!("`{scheme}:…`")
    } else {
        "(a value that is not a URL; not shown, since it may hold a password)".to_owned()
    }
}

/// Creates the directory of a SQLite file that may be created, so
/// `sqlite://data/app.db` works on a fresh checkout (for the pool and the
/// migrator alike).
#[cfg(feature = "sqlite")]
fn create_sqlite_dir(options: &SqliteConnectOptions) -> Result<(), Error> {
    let file = options.get_filename();
    match file.parent() {
        Some(dir)
            if !dir.as_os_str().is_empty()
                && !file.to_string_lossy().starts_with(':')
                && !dir.exists() =>
        {
            std::fs::create_dir_all(dir).map_err(|source| Error::SqliteDirectory {
                path: dir.to_path_buf(),
                source,
            })
        }
        _ => Ok(()),
    }
}

#[cfg(feature = "postgres")]
impl sealed::Sealed for Postgres {}
#[cfg(feature = "postgres")]
impl LazyPool for Postgres {
    fn connect_lazy(
        options: sqlx::pool::PoolOptions<Self>,
        url: &str,
    ) -> Result<Pool<Self>, Error> {
        let connect = PgConnectOptions::from_str(url).map_err(invalid_url(url))?;
        Ok(options.connect_lazy_with(connect))
    }
}

#[cfg(feature = "mysql")]
impl sealed::Sealed for MySql {}
#[cfg(feature = "mysql")]
impl LazyPool for MySql {
    fn connect_lazy(
        options: sqlx::pool::PoolOptions<Self>,
        url: &str,
    ) -> Result<Pool<Self>, Error> {
        let connect = MySqlConnectOptions::from_str(&mysql_url(url)).map_err(invalid_url(url))?;
        Ok(options.connect_lazy_with(connect))
    }
}

#[cfg(feature = "sqlite")]
impl sealed::Sealed for Sqlite {}
#[cfg(feature = "sqlite")]
impl LazyPool for Sqlite {
    fn connect_lazy(
        options: sqlx::pool::PoolOptions<Self>,
        url: &str,
    ) -> Result<Pool<Self>, Error> {
        let connect = SqliteConnectOptions::from_str(url).map_err(invalid_url(url))?;
        create_sqlite_dir(&connect)?;
        Ok(options.connect_lazy_with(connect.create_if_missing(true)))
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
#[cfg(feature = "postgres")]
impl IntoDatabase for &Pool<Postgres> {
    fn into_database(self) -> Result<Database, Error> {
        let mut database = Database::from((*self.connect_options()).clone());
        database.live = Some(Live::Postgres(self.clone()));
        Ok(database)
    }
}
#[cfg(feature = "mysql")]
impl IntoDatabase for &Pool<MySql> {
    fn into_database(self) -> Result<Database, Error> {
        let mut database = Database::from((*self.connect_options()).clone());
        database.live = Some(Live::MySql(self.clone()));
        Ok(database)
    }
}
#[cfg(feature = "sqlite")]
impl IntoDatabase for &Pool<Sqlite> {
    fn into_database(self) -> Result<Database, Error> {
        let mut database = Database::from((*self.connect_options()).clone());
        database.live = Some(Live::Sqlite(self.clone()));
        Ok(database)
    }
}

/// What [`Conn::probe`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probe {
    /// refinery's history table exists.
    pub(crate) history: bool,
    /// appenv's dirty-state table exists.
    pub(crate) state: bool,
    /// Some index is invalid (Postgres; it may be one a concurrent build
    /// is still making, or outside the search path): the status read lists
    /// those on the search path.
    pub(crate) invalid_indexes: bool,
}

/// The dedicated connection of one run.
#[derive(Debug)]
pub(crate) enum Conn {
    #[cfg(feature = "postgres")]
    Postgres(PgConnection),
    #[cfg(feature = "mysql")]
    MySql(MySqlConnection),
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection.
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            #[cfg(feature = "postgres")]
            $crate::backend::Conn::Postgres($c) => $body,
            #[cfg(feature = "mysql")]
            $crate::backend::Conn::MySql($c) => $body,
            #[cfg(feature = "sqlite")]
            $crate::backend::Conn::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_conn;

impl Conn {
    pub(crate) fn backend(&self) -> DatabaseKind {
        match self {
            #[cfg(feature = "postgres")]
            Conn::Postgres(_) => DatabaseKind::Postgres,
            #[cfg(feature = "mysql")]
            Conn::MySql(_) => DatabaseKind::MySql,
            #[cfg(feature = "sqlite")]
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

    /// What a status read needs to know before reading anything, in one
    /// query: which of appenv's tables exist and (Postgres) whether any
    /// index is invalid.
    ///
    /// Postgres: `to_regclass` resolves each name through the search path
    /// as the queries that follow will (so a view named like refinery's
    /// history is read as the history, as refinery reads it; MySQL's
    /// `information_schema.tables` lists views too). The query plans over
    /// one catalog, `pg_index`, for any invalid index anywhere; which of
    /// them are on the search path is asked only when there is one. On a
    /// fresh backend each catalog a query plans over costs a fraction of a
    /// millisecond of cold caches, and the old probe's four (`pg_tables`'
    /// `pg_class` and `pg_namespace`, `pg_attribute`, `pg_index`) were most
    /// of an up-to-date verify's own time.
    pub(crate) async fn probe(&mut self) -> Result<Probe, Error> {
        let err = Error::db("checking for appenv's tables");
        let (history, state, may_have_invalid_indexes): (bool, bool, bool) = match self {
            #[cfg(feature = "postgres")]
            Conn::Postgres(c) => sqlx::query_as(
                "SELECT to_regclass('refinery_schema_history') IS NOT NULL, \
                        to_regclass('appenv_migration_state') IS NOT NULL, \
                        EXISTS (SELECT 1 FROM pg_catalog.pg_index WHERE NOT indisvalid)",
            )
            .fetch_one(&mut *c)
            .await
            .map_err(err)?,
            #[cfg(feature = "mysql")]
            Conn::MySql(c) => {
                let (history, state): (bool, bool) = sqlx::query_as(
                    "SELECT \
                       EXISTS (SELECT 1 FROM information_schema.tables \
                        WHERE table_schema = DATABASE() AND table_name = 'refinery_schema_history'), \
                       EXISTS (SELECT 1 FROM information_schema.tables \
                        WHERE table_schema = DATABASE() AND table_name = 'appenv_migration_state')",
                )
                .fetch_one(&mut *c)
                .await
                .map_err(err)?;
                (history, state, false)
            }
            #[cfg(feature = "sqlite")]
            Conn::Sqlite(c) => {
                let (history, state): (bool, bool) = sqlx::query_as(
                    "SELECT \
                       EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'refinery_schema_history'), \
                       EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'appenv_migration_state')",
                )
                .fetch_one(&mut *c)
                .await
                .map_err(err)?;
                (history, state, false)
            }
        };
        Ok(Probe {
            history,
            state,
            invalid_indexes: may_have_invalid_indexes,
        })
    }

    /// The audit table's shape, read by the writer of a row: absent, or
    /// present with or without the `credentials` column.
    pub(crate) async fn audit_shape(&mut self) -> Result<Option<bool>, Error> {
        let err = Error::db("checking for appenv_migration_audit");
        let (exists, credentials): (bool, bool) = match self {
            #[cfg(feature = "postgres")]
            Conn::Postgres(c) => sqlx::query_as(
                "SELECT to_regclass('appenv_migration_audit') IS NOT NULL, \
                   EXISTS (SELECT 1 FROM pg_catalog.pg_attribute \
                    WHERE attrelid = to_regclass('appenv_migration_audit') AND attname = 'credentials' AND NOT attisdropped)",
            )
            .fetch_one(&mut *c)
            .await
            .map_err(err)?,
            #[cfg(feature = "mysql")]
            Conn::MySql(c) => sqlx::query_as(
                "SELECT \
                   EXISTS (SELECT 1 FROM information_schema.tables \
                    WHERE table_schema = DATABASE() AND table_name = 'appenv_migration_audit'), \
                   EXISTS (SELECT 1 FROM information_schema.columns \
                    WHERE table_schema = DATABASE() AND table_name = 'appenv_migration_audit' AND column_name = 'credentials')",
            )
            .fetch_one(&mut *c)
            .await
            .map_err(err)?,
            #[cfg(feature = "sqlite")]
            Conn::Sqlite(c) => sqlx::query_as(
                "SELECT \
                   EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'appenv_migration_audit'), \
                   EXISTS (SELECT 1 FROM pragma_table_info('appenv_migration_audit') WHERE name = 'credentials')",
            )
            .fetch_one(&mut *c)
            .await
            .map_err(err)?,
        };
        Ok(exists.then_some(credentials))
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
            #[cfg(feature = "postgres")]
            Conn::Postgres(c) => sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_catalog.pg_tables \
                 WHERE tablename = $1 AND schemaname = ANY(current_schemas(false))",
            )
            .bind(name)
            .fetch_one(&mut *c)
            .await
            .map_err(err)?,
            #[cfg(feature = "mysql")]
            Conn::MySql(c) => sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = ?",
            )
            .bind(name)
            .fetch_one(&mut *c)
            .await
            .map_err(err)?,
            #[cfg(feature = "sqlite")]
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

    /// A value that is not a URL the crate drives is named by its scheme
    /// alone: a libpq keyword string or a pasted password never shows.
    #[test]
    fn an_unsupported_url_never_shows_its_value() {
        for (url, shown) in [
            ("host=db user=app password=hunter2-secret", "not a URL"),
            ("hunter2-secret", "not a URL"),
            ("redis://:hunter2-secret@cache:6379", "`redis:…`"),
            (
                "jdbc:postgresql://db/app?password=hunter2-secret",
                "`jdbc:…`",
            ),
        ] {
            let err = Database::from_url(url).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::UnsupportedUrl { .. }), "{text}");
            assert!(text.contains(shown), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
            assert_eq!(err.exit_code(), crate::exit::CONFIG);
        }
        for empty in ["", "  "] {
            assert!(matches!(
                Database::from_url(empty),
                Err(Error::MissingDatabaseUrl)
            ));
        }
    }

    /// A build without a driver reports the feature to enable, through
    /// `DatabaseConfig::problems` (so `config check` and startup say it).
    #[test]
    fn a_url_of_a_backend_left_out_names_the_feature() {
        for (url, backend) in [
            ("postgres://u:hunter2-secret@h/db", DatabaseKind::Postgres),
            ("mariadb://u:hunter2-secret@h/db", DatabaseKind::MySql),
            ("sqlite://app.db", DatabaseKind::Sqlite),
        ] {
            if backend.is_compiled() {
                continue;
            }
            let err = Database::from_url(url).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains(&format!("enable the `{}` feature", backend.feature())),
                "{text}"
            );
            assert!(!text.contains("hunter2"), "{text}");
            assert_eq!(err.exit_code(), crate::exit::CONFIG);
            let mut config = <crate::DatabaseConfig as appenv_config::Section>::defaults(
                appenv_config::AppEnv::Local,
            );
            config.url = SecretUrl::new(url);
            let problems = config.problems();
            assert!(
                problems
                    .iter()
                    .any(|(key, m)| *key == "url" && m.contains("feature")),
                "{problems:?}"
            );
        }
    }

    #[test]
    fn urls_pick_the_backend_and_never_show_the_password() {
        let db = Database::from_url("postgres://app:hunter2-secret@db.internal:6543/app").unwrap();
        assert_eq!(db.backend(), DatabaseKind::Postgres);
        assert_eq!(db.target(), "db.internal:6543/app");
        assert!(!format!("{db:?}").contains("hunter2"));

        #[cfg(feature = "mysql")]
        {
            let db = Database::from_url("mariadb://root:pw@127.0.0.1/test").unwrap();
            assert_eq!(db.backend(), DatabaseKind::MySql);
        }
        #[cfg(feature = "sqlite")]
        assert_eq!(
            Database::from_url("sqlite::memory:").unwrap().backend(),
            DatabaseKind::Sqlite
        );

        let err = Database::from_url("mongodb://u:hunter2-secret@h/db").unwrap_err();
        assert!(err.to_string().contains("`mongodb:…`"), "{err}");
        assert!(!err.to_string().contains("hunter2"));
        let err = Database::from_url("postgres://u:hunter2-secret@h:notaport/db").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
