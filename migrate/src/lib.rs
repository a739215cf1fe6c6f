//! refinery migrations over sqlx pools with per-environment policy, a
//! cross-replica lock, a destructive-change lint and an audit table.
//!
//! Migrations are refinery's (`embed_migrations!` or a directory of
//! `V{n}__{name}.sql` files) and the history table is refinery's own
//! `refinery_schema_history`, so refinery's native drivers and this crate
//! read each other's databases. PostgreSQL, MySQL/MariaDB and SQLite are
//! driven through sqlx 0.9.
//!
//! In a service, the startup call is three lines — apply in local, verify
//! in staging and production:
//!
//! ```no_run
//! # use appenv_config::{AppEnv, Registry, Section};
//! # use appenv_migrate::{DatabaseConfig, Migrations};
//! # #[derive(Debug, serde::Serialize, serde::Deserialize)]
//! # struct Config { database: DatabaseConfig }
//! # impl Section for Config {
//! #     fn defaults(env: AppEnv) -> Self { Config { database: DatabaseConfig::defaults(env) } }
//! #     fn register(reg: &mut Registry<'_, Self>) { reg.section::<DatabaseConfig>("database"); }
//! # }
//! mod embedded { refinery::embed_migrations!("tests/migrations"); }
//!
//! # async fn start() -> Result<(), Box<dyn std::error::Error>> {
//! let loaded = appenv_config::load::<Config>()?.enforce()?;
//! let db = &loaded.config().database;
//! let pool = db.pool_options::<sqlx::Postgres>().connect(db.url.expose()).await?;
//!
//! let migrations = Migrations::embedded(&embedded::migrations::runner());
//! appenv_migrate::run_startup(loaded.env(), db, &pool, migrations).await?;
//! # Ok(()) }
//! ```
//!
//! The same with a SQLite file, runnable:
//!
//! ```
//! use appenv_config::{AppEnv, Section};
//! use appenv_migrate::{DatabaseConfig, MigrationFile, Migrations, StartupOutcome};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), appenv_migrate::Error> {
//! # let dir = std::env::temp_dir().join(format!("appenv-migrate-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! # let url = format!("sqlite://{}/app.db", dir.display());
//! let env = AppEnv::Local;
//! let config = DatabaseConfig::defaults(env); // normally loaded with appenv-config
//! let migrations = Migrations::from_files([MigrationFile::new(
//!     "V1__create_users.sql",
//!     "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);",
//! )?]);
//! // `migrations` usually comes from `Migrations::embedded(&embedded::migrations::runner())`
//! // or `Migrations::from_dir("migrations")`; the database from a sqlx pool or a URL.
//!
//! let outcome = appenv_migrate::run_startup(env, &config, url.as_str(), migrations).await?;
//!
//! assert!(matches!(outcome, StartupOutcome::Applied(ref r) if r.applied == vec![1]));
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```
//!
//! ## Features
//!
//! | feature | default | driver |
//! |---|---|---|
//! | `postgres` | on | sqlx-postgres: `postgres://`, `postgresql://` |
//! | `mysql` | on | sqlx-mysql: `mysql://`, `mariadb://` |
//! | `sqlite` | on | sqlx-sqlite with a bundled libsqlite3: `sqlite:` |
//!
//! A PostgreSQL-only service compiles no other driver with
//! `appenv-migrate = { version = "0.1", default-features = false, features = ["postgres"] }`.
//! At least one driver is needed. A URL whose driver the build leaves out
//! is a [`RULE_INVALID`] finding (`config check`, startup) naming the
//! feature to enable ([`Error::BackendNotCompiled`]); lint and statement
//! splitting know every dialect in every build.
//!
#![doc = include_str!("docs/workflow.md")]
#![doc = include_str!("docs/lint.md")]

#[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
compile_error!(
    "appenv-migrate needs at least one database driver: enable one of its features `postgres`, `mysql` or `sqlite`"
);

mod allow;
mod apply;
mod audit;
mod backend;
mod cli;
mod config;
mod dirty;
mod driver;
mod error;
mod history;
mod lint;
mod lock;
mod migrator;
mod repair;
mod rotate;
mod source;
mod split;
mod status;
mod undo;

pub use audit::{AUDIT_TABLE, Actor};
pub use backend::{Database, DatabaseKind, IntoDatabase, LazyPool};
pub use cli::{Format, MigrateArgs, MigrateCommand, StandaloneCli};
pub use config::{DatabaseConfig, RULE_AUTO_APPLY, RULE_INVALID, RULE_URL_REQUIRED};
pub use dirty::{DirtyMigration, STATE_TABLE};
pub use error::{Error, exit};
pub use lint::{LintFinding, lint, lint_all, rules};
pub use lock::{PG_LOCK_KEY, sqlite_lock_path};
pub use migrator::{
    Migrator, Plan, PlannedMigration, Refusal, StartupOutcome, UpReport, run_startup,
};
pub use repair::RepairAction;
pub use rotate::CredentialRotation;
#[doc(hidden)]
pub use source::__private;
pub use source::{ALLOW, MigrationFile, Migrations, NO_TRANSACTION};
pub use status::{AppliedMigration, DivergentMigration, PendingMigration, Problems, Status};
