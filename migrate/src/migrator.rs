//! [`Migrator`]: status, plan, verify, up and baseline with per-environment
//! policy, under the cross-replica lock, audited.

use std::time::Duration;

use appenv_config::AppEnv;
use refinery_core::Target;
use refinery_core::traits::r#async::AsyncMigrate;
use serde::Serialize;
use time::OffsetDateTime;

use crate::audit::{self, Actor, Record};
use crate::backend::{Backend, Conn, Database, IntoDatabase};
use crate::config::DatabaseConfig;
use crate::driver::Driver;
use crate::error::Error;
use crate::lint::{self, Finding};
use crate::lock;
use crate::source::Migrations;
use crate::status::Status;

const HISTORY_TABLE: &str = "refinery_schema_history";

/// What `up` or `baseline` did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct UpReport {
    /// Versions applied (or recorded, for baseline) by this run.
    pub applied: Vec<i64>,
    /// Their files.
    pub files: Vec<String>,
    /// How long the lock took.
    pub lock_wait_ms: u64,
    /// Lint findings on the applied migrations that did not block.
    pub warnings: Vec<String>,
}

/// A pending migration with its SQL and lint, as `plan` shows it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PlannedMigration {
    /// Version.
    pub version: i64,
    /// File name.
    pub file: String,
    /// Runs outside a transaction (`-- appenv:no-transaction`).
    pub no_transaction: bool,
    /// The SQL that will run.
    pub sql: String,
    /// Lint findings.
    pub findings: Vec<Finding>,
    /// `true` when `up` in this environment refuses it.
    pub refused: bool,
}

/// `plan`: the status and what `up` would do.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Plan {
    /// The environment the plan is for.
    pub env: AppEnv,
    /// Current status.
    pub status: Status,
    /// Pending migrations in order.
    pub migrations: Vec<PlannedMigration>,
}

/// What [`run_startup`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StartupOutcome {
    /// Pending migrations were applied (`migrate_on_startup`).
    Applied(UpReport),
    /// Migrations were verified current.
    Verified(Status),
}

/// Runs or checks migrations against one database with the policy of one
/// [`AppEnv`].
///
/// Every operation opens its own dedicated connection and closes it at the
/// end; `up` and `baseline` hold the cross-replica lock on it for their
/// whole duration.
#[derive(Debug, Clone)]
#[must_use]
pub struct Migrator {
    database: Database,
    migrations: Migrations,
    env: AppEnv,
    lock_wait: Duration,
    poll: Duration,
    pg_lock_timeout: Duration,
    pg_statement_timeout: Duration,
    actor: Actor,
    audit: bool,
}

impl Migrator {
    /// A migrator with the [`DatabaseConfig`] defaults of `env`.
    pub fn new(
        database: impl IntoDatabase,
        migrations: Migrations,
        env: AppEnv,
    ) -> Result<Migrator, Error> {
        use appenv_config::Section;
        Migrator::with_config(database, migrations, env, &DatabaseConfig::defaults(env))
    }

    /// A migrator with the lock wait and session timeouts of `config`.
    pub fn with_config(
        database: impl IntoDatabase,
        migrations: Migrations,
        env: AppEnv,
        config: &DatabaseConfig,
    ) -> Result<Migrator, Error> {
        Ok(Migrator {
            database: database.into_database()?,
            migrations,
            env,
            lock_wait: Duration::from_millis(config.migrate_lock_wait_ms),
            poll: Duration::from_millis(250),
            pg_lock_timeout: Duration::from_millis(config.migrate_lock_timeout_ms),
            pg_statement_timeout: Duration::from_millis(config.migrate_statement_timeout_ms),
            actor: Actor::from_env(env!("CARGO_PKG_VERSION")),
            audit: true,
        })
    }

    /// How long to wait for another migrator's lock before failing.
    pub fn with_lock_wait(mut self, wait: Duration) -> Migrator {
        self.lock_wait = wait;
        self
    }

    /// How often to retry the lock while waiting.
    pub fn with_poll_interval(mut self, poll: Duration) -> Migrator {
        self.poll = poll;
        self
    }

    /// Postgres `lock_timeout` and `statement_timeout` of the migration
    /// session (zero turns one off).
    pub fn with_session_timeouts(
        mut self,
        lock_timeout: Duration,
        statement: Duration,
    ) -> Migrator {
        self.pg_lock_timeout = lock_timeout;
        self.pg_statement_timeout = statement;
        self
    }

    /// Who is recorded in the audit table (default: [`Actor::from_env`]).
    pub fn with_actor(mut self, actor: Actor) -> Migrator {
        self.actor = actor;
        self
    }

    /// Turns writing `appenv_migration_audit` rows on (default) or off.
    pub fn with_audit(mut self, audit: bool) -> Migrator {
        self.audit = audit;
        self
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The migrations.
    pub fn migrations(&self) -> &Migrations {
        &self.migrations
    }

    /// The environment whose policy applies.
    pub fn env(&self) -> AppEnv {
        self.env
    }

    /// Lints every migration for this database's dialect.
    pub fn lint(&self) -> Vec<Finding> {
        lint::lint_all(self.database.backend(), &self.migrations)
    }

    async fn read_status(&self, conn: &mut Conn, in_tx: bool) -> Result<Status, Error> {
        let exists = conn.history_exists().await?;
        let applied = if exists {
            let mut driver = Driver::new(conn, in_tx);
            driver
                .get_applied_migrations(HISTORY_TABLE)
                .await
                .map_err(|e| Error::Refinery(Box::new(e)))?
        } else {
            Vec::new()
        };
        Ok(Status::compare(
            self.database.backend(),
            exists,
            &self.migrations,
            &applied,
        ))
    }

    /// Reads the history and compares it with this binary's migrations.
    pub async fn status(&self) -> Result<Status, Error> {
        let mut conn = self.database.connect().await?;
        let status = self.read_status(&mut conn, false).await;
        conn.close().await;
        let status = status?;
        for w in status.warnings() {
            tracing::warn!("{w}");
        }
        Ok(status)
    }

    /// The status plus each pending migration's SQL and lint.
    pub async fn plan(&self) -> Result<Plan, Error> {
        let status = self.status().await?;
        let backend = self.database.backend();
        let migrations = status
            .pending
            .iter()
            .filter_map(|p| self.migrations.get(p.version))
            .map(|file| {
                let findings = lint::lint(backend, file);
                PlannedMigration {
                    version: file.version(),
                    file: file.file().to_owned(),
                    no_transaction: file.no_transaction(),
                    sql: file.sql().to_owned(),
                    refused: self.env.is_production()
                        && findings.iter().any(|f| f.allowed.is_none()),
                    findings,
                }
            })
            .collect();
        Ok(Plan {
            env: self.env,
            status,
            migrations,
        })
    }

    /// Fails with [`Error::Verify`] when migrations are pending, divergent
    /// or missing; migrations newer than this binary are allowed with a
    /// warning. Writes an audit row (best effort: a read-only role still
    /// verifies).
    pub async fn verify(&self) -> Result<Status, Error> {
        let started = OffsetDateTime::now_utc();
        let mut conn = self.database.connect().await?;
        let result = self.read_status(&mut conn, false).await.and_then(|status| {
            for w in status.warnings() {
                tracing::warn!("{w}");
            }
            match status.problems() {
                Some(problems) => Err(Error::Verify(problems)),
                None => Ok(status),
            }
        });
        let (versions, checksums) = match &result {
            Ok(s) => (
                s.applied.iter().map(|a| a.version).collect(),
                s.applied.iter().map(|a| a.checksum.clone()).collect(),
            ),
            Err(_) => (Vec::new(), Vec::new()),
        };
        self.audit(
            &mut conn,
            "verify",
            started,
            Duration::ZERO,
            (versions, checksums),
            result.as_ref().map(|_| ()),
        )
        .await;
        conn.close().await;
        result
    }

    async fn audit(
        &self,
        conn: &mut Conn,
        action: &str,
        started: OffsetDateTime,
        lock_wait: Duration,
        (versions, checksums): (Vec<i64>, Vec<String>),
        result: Result<(), &Error>,
    ) {
        if !self.audit {
            return;
        }
        let outcome = match result {
            Ok(_) if action == "up" && versions.is_empty() => "noop",
            Ok(_) => "success",
            Err(e) => e.kind(),
        };
        let record = Record {
            action,
            env: self.env,
            versions,
            checksums,
            actor: &self.actor,
            started,
            finished: OffsetDateTime::now_utc(),
            lock_wait,
            outcome,
            error: result.err().map(ToString::to_string),
        };
        let mut written = audit::write(conn, &record).await;
        if written.is_err() {
            // CREATE TABLE IF NOT EXISTS races on Postgres when replicas
            // verify at once; the second try finds the table.
            tokio::time::sleep(Duration::from_millis(50)).await;
            written = audit::write(conn, &record).await;
        }
        if let Err(err) = written {
            tracing::warn!(error = %err, "could not write the migration audit row");
        }
    }

    async fn session(&self, conn: &mut Conn) -> Result<(), Error> {
        if conn.backend() == Backend::Postgres {
            let sql = format!(
                "SET lock_timeout = {}; SET statement_timeout = {}",
                self.pg_lock_timeout.as_millis(),
                self.pg_statement_timeout.as_millis()
            );
            conn.run(&sql)
                .await
                .map_err(Error::db("setting lock_timeout and statement_timeout"))?;
            // PostgreSQL 14+: notice a migrator that died mid-statement and
            // abort its transaction (releasing the lock) within a second,
            // instead of when the statement finishes.
            if let Conn::Postgres(c) = conn {
                let version: String = sqlx::query_scalar("SHOW server_version_num")
                    .fetch_one(&mut *c)
                    .await
                    .map_err(Error::db("reading server_version_num"))?;
                if version.parse::<u32>().unwrap_or(0) >= 140_000 {
                    sqlx::raw_sql("SET client_connection_check_interval = 1000")
                        .execute(&mut *c)
                        .await
                        .map_err(Error::db("setting client_connection_check_interval"))?;
                }
            }
        }
        Ok(())
    }

    /// Applies pending migrations under the lock. Refuses divergent,
    /// missing and out-of-order migrations, and, in production, migrations
    /// the lint flags unless annotated `-- appenv:allow-destructive`.
    pub async fn up(&self) -> Result<UpReport, Error> {
        self.locked("up", |this, conn, in_tx, status| {
            Box::pin(this.apply(conn, in_tx, status, Target::Latest))
        })
        .await
    }

    /// Records the migrations up to `version` as applied without running
    /// them, to adopt a database whose schema already matches them. Refused
    /// when the history already has rows or `version` is not a migration
    /// of this binary.
    pub async fn baseline(&self, version: i64) -> Result<UpReport, Error> {
        if self.migrations.get(version).is_none() {
            return Err(Error::Baseline(format!(
                "this binary has no migration with version {version}"
            )));
        }
        self.locked("baseline", move |this, conn, in_tx, status| {
            Box::pin(async move {
                if let Some(last) = status.applied.last() {
                    return Err(Error::Baseline(format!(
                        "the database already has migration history (up to version {} {}); baseline only adopts an unmigrated database",
                        last.version, last.file
                    )));
                }
                let target = i32::try_from(version)
                    .map_err(|_| Error::Baseline(format!("version {version} is out of range")))?;
                #[allow(clippy::useless_conversion)]
                let target = Target::FakeVersion(target.into());
                this.apply(conn, in_tx, status, target).await
            })
        })
        .await
    }

    async fn locked<F>(&self, action: &str, body: F) -> Result<UpReport, Error>
    where
        F: for<'a> FnOnce(
            &'a Migrator,
            &'a mut Conn,
            bool,
            Status,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = Result<UpReport, Error>> + Send + 'a>,
        >,
    {
        let started = OffsetDateTime::now_utc();
        let mut conn = self.database.connect().await?;
        let result = async {
            self.session(&mut conn).await?;
            lock::acquire(&mut conn, self.lock_wait, self.poll).await
        }
        .await;
        let held = match result {
            Ok(held) => held,
            Err(err) => {
                let waited = match &err {
                    Error::LockTimeout { waited, .. } => *waited,
                    _ => Duration::ZERO,
                };
                self.audit(
                    &mut conn,
                    action,
                    started,
                    waited,
                    (Vec::new(), Vec::new()),
                    Err(&err),
                )
                .await;
                conn.close().await;
                return Err(err);
            }
        };
        let in_tx = conn.backend() == Backend::Sqlite;
        let lock_wait = held.waited;
        let result = match self.read_status(&mut conn, in_tx).await {
            Ok(status) => body(self, &mut conn, in_tx, status).await,
            Err(err) => Err(err),
        };
        let result = result.map(|mut r| {
            r.lock_wait_ms = u64::try_from(lock_wait.as_millis()).unwrap_or(u64::MAX);
            r
        });
        let (versions, checksums) = match &result {
            Ok(r) => (
                r.applied.clone(),
                r.applied
                    .iter()
                    .filter_map(|v| self.migrations.get(*v))
                    .map(|m| m.checksum().to_string())
                    .collect(),
            ),
            Err(Error::MigrationFailed { file, .. }) => {
                let failed = self.migrations.iter().find(|m| m.file() == file);
                (
                    failed.map(|m| m.version()).into_iter().collect(),
                    failed
                        .map(|m| m.checksum().to_string())
                        .into_iter()
                        .collect(),
                )
            }
            Err(_) => (Vec::new(), Vec::new()),
        };
        self.audit(
            &mut conn,
            action,
            started,
            lock_wait,
            (versions, checksums),
            result.as_ref().map(|_| ()),
        )
        .await;
        let released = lock::release(&mut conn, held).await;
        conn.close().await;
        let report = result?;
        if let Err(err) = released {
            tracing::warn!(error = %err, "releasing the migration lock failed; closing the connection released it");
        }
        Ok(report)
    }

    async fn apply(
        &self,
        conn: &mut Conn,
        in_tx: bool,
        status: Status,
        target: Target,
    ) -> Result<UpReport, Error> {
        for w in status.warnings() {
            tracing::warn!("{w}");
        }
        if let Some(problems) = status.problems().filter(|p| p.is_divergent()) {
            return Err(Error::Verify(problems));
        }
        let fake = matches!(target, Target::FakeVersion(_) | Target::Fake);
        let backend = self.database.backend();
        let mut warnings = Vec::new();
        if !fake {
            let findings: Vec<Finding> = status
                .pending
                .iter()
                .filter_map(|p| self.migrations.get(p.version))
                .flat_map(|m| lint::lint(backend, m))
                .collect();
            let (allowed, flagged): (Vec<_>, Vec<_>) =
                findings.into_iter().partition(|f| f.allowed.is_some());
            if self.env.is_production() && !flagged.is_empty() {
                return Err(Error::Lint { findings: flagged });
            }
            for f in flagged.iter().chain(&allowed) {
                if self.env == AppEnv::Local {
                    tracing::info!("{f}");
                } else {
                    tracing::warn!("{f}");
                }
                warnings.push(f.to_string());
            }
        }
        if status.pending.is_empty() {
            return Ok(UpReport {
                applied: Vec::new(),
                files: Vec::new(),
                lock_wait_ms: 0,
                warnings,
            });
        }
        let migrations = self.migrations.refinery();
        let mut driver = Driver::new(conn, in_tx);
        let outcome = driver
            .migrate(&migrations, true, false, false, target, HISTORY_TABLE)
            .await;
        match outcome {
            Ok(report) => {
                let applied: Vec<i64> = if fake {
                    status
                        .pending
                        .iter()
                        .map(|p| p.version)
                        .filter(|v| match target {
                            Target::FakeVersion(t) => *v <= i64::from(t),
                            _ => true,
                        })
                        .collect()
                } else {
                    report
                        .applied_migrations()
                        .iter()
                        .map(|m| i64::from(m.version()))
                        .collect()
                };
                let files = applied
                    .iter()
                    .filter_map(|v| self.migrations.get(*v))
                    .map(|m| m.file().to_owned())
                    .collect();
                for file in &files {
                    tracing::info!(migration = %file, env = %self.env, "migration applied");
                }
                Ok(UpReport {
                    applied,
                    files,
                    lock_wait_ms: 0,
                    warnings,
                })
            }
            Err(err) => {
                let done: Vec<i64> = err
                    .report()
                    .map(|r| {
                        r.applied_migrations()
                            .iter()
                            .map(|m| i64::from(m.version()))
                            .collect()
                    })
                    .unwrap_or_default();
                let failed = status
                    .pending
                    .iter()
                    .find(|p| !done.contains(&p.version))
                    .map(|p| p.file.clone())
                    .unwrap_or_else(|| "(unknown)".into());
                let message = std::error::Error::source(&err)
                    .map(ToString::to_string)
                    .unwrap_or_else(|| err.to_string());
                Err(Error::MigrationFailed {
                    file: failed,
                    message,
                    source: Box::new(err),
                })
            }
        }
    }
}

/// The startup call: apply pending migrations when
/// `config.migrate_on_startup` (the local default), otherwise verify them
/// (staging and production), failing on pending or divergent migrations.
/// When `config.migrate_url` is set it is used instead of `database`.
///
/// ```no_run
/// # async fn start(config: appenv_migrate::DatabaseConfig, migrations: appenv_migrate::Migrations) -> Result<(), appenv_migrate::Error> {
/// # let env = appenv_config::AppEnv::Local;
/// let pool = config.pool_options::<sqlx::Postgres>().connect_lazy(config.url.expose()).unwrap();
/// appenv_migrate::run_startup(env, &config, &pool, migrations).await?;
/// # Ok(()) }
/// ```
pub async fn run_startup(
    env: AppEnv,
    config: &DatabaseConfig,
    database: impl IntoDatabase,
    migrations: Migrations,
) -> Result<StartupOutcome, Error> {
    let migrator = match &config.migrate_url {
        Some(url) if !url.is_empty() => Migrator::with_config(url, migrations, env, config)?,
        _ => Migrator::with_config(database, migrations, env, config)?,
    };
    if config.migrate_on_startup {
        if env.is_production() {
            tracing::warn!(
                rule = crate::config::RULE_AUTO_APPLY,
                "applying migrations at startup in production (the policy rule was waived)"
            );
        }
        migrator.up().await.map(StartupOutcome::Applied)
    } else {
        migrator.verify().await.map(StartupOutcome::Verified)
    }
}
