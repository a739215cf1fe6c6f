//! The crate's error type and the exit codes the command line maps it to.

use std::path::PathBuf;
use std::time::Duration;

use crate::lint::LintFinding;
use crate::status::Problems;

/// Everything that can go wrong while checking or applying migrations.
///
/// Messages never contain the password of a database URL. Each variant maps
/// to a documented process exit code through [`Error::exit_code`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database URL has a scheme this crate does not drive.
    #[error(
        "unsupported database URL {url}: expected a postgres://, postgresql://, mysql://, mariadb:// or sqlite: URL"
    )]
    UnsupportedUrl {
        /// What the value looks like, never the value: its scheme
        /// (`` `redis:…` ``), or that it has none. A value that is not a URL
        /// may be a libpq keyword string (`host=db password=…`) or a
        /// password pasted into the wrong variable.
        url: String,
    },

    /// The directory of a SQLite database file could not be created.
    #[error("cannot create the directory {} of the SQLite database: {source}", path.display())]
    SqliteDirectory {
        /// The directory.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },

    /// A URL of a database engine whose driver this build leaves out (its
    /// crate feature is off).
    #[error(
        "{url}: this build of appenv-migrate has no {backend} driver; enable the `{feature}` feature of appenv-migrate",
        feature = backend.feature()
    )]
    BackendNotCompiled {
        /// The URL, password redacted.
        url: String,
        /// The engine the URL names.
        backend: crate::DatabaseKind,
    },

    /// [`DatabaseConfig::connect_lazy`](crate::DatabaseConfig::connect_lazy)
    /// was called outside a Tokio runtime (sqlx's pool spawns its
    /// maintenance task there).
    #[error(
        "DatabaseConfig::connect_lazy needs a Tokio runtime: call it inside #[tokio::main] or a runtime's block_on"
    )]
    NoRuntime,

    /// A `DatabaseConfig` value no pool or migrator can use (the loader's
    /// rule `database.invalid` reports the same).
    #[error("invalid configuration `{key}`: {message}")]
    InvalidConfig {
        /// The key (`database.max_connections`).
        key: String,
        /// What is wrong.
        message: String,
    },

    /// No database URL was given.
    #[error(
        "no database URL: set DATABASE_URL (or DATABASE_URL_FILE; --database-url for the standalone binary)"
    )]
    MissingDatabaseUrl,

    /// The database URL could not be parsed by the driver.
    #[error("invalid database URL `{url}`: {source}")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// The driver's complaint.
        #[source]
        source: sqlx::Error,
    },

    /// Opening the dedicated migration connection failed.
    #[error("cannot connect to {target} for migrations: {source}")]
    Connect {
        /// Where we tried to connect (host and database, no password).
        target: String,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },

    /// A statement of this crate's own (history, lock, audit) failed.
    #[error("{context}: {source}")]
    Database {
        /// What was being done.
        context: String,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },

    /// The migration lock was not acquired before its deadline.
    #[error(
        "timed out after {waited:?} waiting for the migration lock{}; another migrator is running. \
         Wait for it to finish, or raise the lock timeout (--lock-wait-ms, or database.migrate_lock_wait_ms)",
        holder.as_ref().map(|h| format!(" (held by {h})")).unwrap_or_default()
    )]
    LockTimeout {
        /// How long we waited.
        waited: Duration,
        /// Who holds the lock, where the database can tell.
        holder: Option<String>,
    },

    /// The migration lock could not be released cleanly (the connection is
    /// closed anyway, which releases it).
    #[error("the migration lock was not held when releasing it: {detail}")]
    LockLost {
        /// What the database answered.
        detail: String,
    },

    /// `verify` (or `up`) found pending, divergent or missing migrations.
    #[error("{0}")]
    Verify(Problems),

    /// The lint refused one or more pending migrations (`up`, `plan`,
    /// startup and `lint`, in every environment).
    #[error(
        "{} lint finding(s) refused:\n{}\nfix the migration, or put `-- appenv:allow <rule-id> <reason>` directly before the statement after review",
        findings.len(),
        findings.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n")
    )]
    Lint {
        /// The findings that are not allowed.
        findings: Vec<LintFinding>,
    },

    /// A migration (or undo script) failed while being applied.
    #[error("{}", failed_text(file, *line, *statement, *statements, message, *dirty))]
    MigrationFailed {
        /// The migration file name (`V3__add_index.sql`).
        file: String,
        /// 1-based line in the file: the failing statement's start, or the
        /// server's position inside it when the server gives one.
        line: u64,
        /// 1-based index of the failing statement (0 when the file could not
        /// be split into statements).
        statement: usize,
        /// Statements in the file.
        statements: usize,
        /// The database's complaint.
        message: String,
        /// `true` when the failure left the database dirty (a partial apply
        /// that could not roll back).
        dirty: bool,
        /// The driver error, when the database raised one (boxed to keep
        /// `Error` small).
        #[source]
        source: Option<Box<sqlx::Error>>,
    },

    /// `repair` was asked for something it cannot do.
    #[error("repair refused: {0}")]
    Repair(String),

    /// `down` refused the range before running anything.
    #[error("down refused: {0}")]
    Down(String),

    /// refinery refused the migration set (duplicate versions, bad names…).
    #[error("refinery: {0}")]
    Refinery(#[source] Box<refinery_core::Error>),

    /// A migration directory or file could not be read.
    #[error("cannot read migrations from {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },

    /// A migration file is malformed (name, annotation).
    #[error("invalid migration {file}: {message}")]
    InvalidMigration {
        /// The file name.
        file: String,
        /// What is wrong.
        message: String,
    },

    /// `baseline` was asked for something it cannot do.
    #[error("baseline refused: {0}")]
    Baseline(String),

    /// A production `up`, `down`, `baseline` or `repair` was not confirmed
    /// with `--yes` or the typed environment name.
    #[error(
        "`{command}` in {env} needs confirmation: pass --yes, or type the environment name at the prompt"
    )]
    NotConfirmed {
        /// The environment.
        env: appenv_config::AppEnv,
        /// The command (`up`, `down`, `baseline`, `repair`).
        command: String,
    },
}

fn failed_text(
    file: &str,
    line: u64,
    statement: usize,
    statements: usize,
    message: &str,
    dirty: bool,
) -> String {
    let mut out = if statement == 0 {
        format!("migration {file} failed at {file}:{line}: {message}")
    } else {
        format!(
            "migration {file} failed at {file}:{line} (statement {statement} of {statements}): {message}"
        )
    };
    if dirty {
        out.push_str(
            "\nthe database is now dirty (statements before the failing one are applied and cannot be rolled back): \
             finish or revert them by hand, then run `repair mark-applied` or `repair clear`",
        );
    }
    out
}

/// Process exit codes of the `appenv-migrate` binary and the mounted
/// [`MigrateCommand`](crate::MigrateCommand).
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// Any other failure (connection, SQL of this crate, IO).
    pub const FAILURE: i32 = 1;
    /// Bad command line (clap's own code).
    pub const USAGE: i32 = 2;
    /// Pending migrations (`verify`).
    pub const PENDING: i32 = 3;
    /// Divergent (edited) or missing migration files.
    pub const DIVERGENT: i32 = 4;
    /// Lint findings (`lint`, or production `up` refusing a migration).
    pub const LINT: i32 = 5;
    /// The migration lock was not acquired in time.
    pub const LOCK_TIMEOUT: i32 = 6;
    /// A migration failed while being applied.
    pub const MIGRATION_FAILED: i32 = 7;
    /// Production `up`, `down`, `baseline` or `repair` not confirmed.
    pub const NOT_CONFIRMED: i32 = 8;
    /// The database is dirty: a migration stopped part-way (or, on
    /// Postgres, an index is invalid); `up` refuses until `repair`.
    pub const DIRTY: i32 = 9;
    /// Configuration error (shared with appenv-config).
    pub const CONFIG: i32 = appenv_config::EXIT_CONFIG;
}

impl appenv_config::ExitCoded for Error {
    fn exit_code(&self) -> i32 {
        Error::exit_code(self)
    }
}

impl Error {
    /// The documented process exit code for this error (see [`exit`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Verify(problems) if problems.is_dirty() => exit::DIRTY,
            Error::Verify(problems) if problems.is_divergent() => exit::DIVERGENT,
            Error::Verify(_) => exit::PENDING,
            Error::Lint { .. } => exit::LINT,
            Error::LockTimeout { .. } => exit::LOCK_TIMEOUT,
            Error::MigrationFailed { .. } => exit::MIGRATION_FAILED,
            Error::NotConfirmed { .. } => exit::NOT_CONFIRMED,
            Error::UnsupportedUrl { .. }
            | Error::BackendNotCompiled { .. }
            | Error::InvalidUrl { .. }
            | Error::MissingDatabaseUrl
            | Error::SqliteDirectory { .. }
            | Error::InvalidConfig { .. } => exit::CONFIG,
            _ => exit::FAILURE,
        }
    }

    /// A short stable name of the variant, used in JSON output and the
    /// audit table.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::UnsupportedUrl { .. }
            | Error::BackendNotCompiled { .. }
            | Error::InvalidUrl { .. }
            | Error::MissingDatabaseUrl
            | Error::SqliteDirectory { .. }
            | Error::InvalidConfig { .. } => "config",
            Error::Connect { .. } => "connect",
            Error::Database { .. } => "database",
            Error::LockTimeout { .. } => "lock-timeout",
            Error::LockLost { .. } => "lock-lost",
            Error::Verify(p) if p.is_dirty() => "dirty",
            Error::Verify(p) if p.is_divergent() => "divergent",
            Error::Verify(_) => "pending",
            Error::Lint { .. } => "lint",
            Error::MigrationFailed { .. } => "migration-failed",
            Error::Refinery(_) => "refinery",
            Error::Io { .. } => "io",
            Error::InvalidMigration { .. } => "invalid-migration",
            Error::Baseline(_) => "baseline",
            Error::Repair(_) => "repair",
            Error::Down(_) => "down",
            Error::NotConfirmed { .. } => "refused",
            Error::NoRuntime => "runtime",
        }
    }

    pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Error {
        let context = context.into();
        move |source| Error::Database { context, source }
    }
}
