//! [`Migrator`]: status, plan, verify, up and baseline with per-environment
//! policy, under the cross-replica lock, audited.

use std::time::Duration;

use appenv_config::AppEnv;
use refinery_core::traits::r#async::AsyncMigrate;
use serde::Serialize;
use time::OffsetDateTime;

use crate::apply::{self, Script};
use crate::audit::{self, Actor, Columns, Record};
use crate::backend::{Conn, Database, DatabaseKind, IntoDatabase, Probe};
use crate::config::DatabaseConfig;
use crate::dirty;
use crate::driver::Driver;
use crate::error::Error;
use crate::history::{HISTORY_TABLE, ensure_history, history_insert};
use crate::lint::{self, LintFinding};
use crate::lock;
use crate::source::{MigrationFile, Migrations};
use crate::status::Status;

/// What `up`, `baseline`, `repair` or `down` did.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct UpReport {
    /// Versions applied (or recorded, for baseline and `repair
    /// mark-applied`) by this run.
    pub applied: Vec<i64>,
    /// Versions reverted (`down`) or whose dirty mark was cleared (`repair
    /// clear`).
    pub reverted: Vec<i64>,
    /// Files of the versions acted on.
    pub files: Vec<String>,
    /// How long the lock took.
    pub lock_wait_ms: u64,
    /// Allowed lint findings on the applied migrations, with their reasons.
    pub warnings: Vec<String>,
}

/// Why `plan` (and `up`) refuses, in a form for JSON.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Refusal {
    /// The error kind (`dirty`, `divergent`, `lint`, …).
    pub kind: &'static str,
    /// The exit code `up` returns.
    pub exit_code: i32,
    /// The message `up` prints.
    pub message: String,
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
    pub findings: Vec<LintFinding>,
    /// `true` when a finding is not allowed: `up` refuses it, in every
    /// environment.
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
    /// What `up` would refuse with, before applying anything (`None`: it
    /// would apply `migrations`).
    pub refusal: Option<Refusal>,
}

impl Plan {
    /// The exit code `up --yes` would return before applying anything.
    pub fn exit_code(&self) -> i32 {
        self.refusal
            .as_ref()
            .map_or(crate::error::exit::OK, |r| r.exit_code)
    }
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
    pub(crate) database: Database,
    pub(crate) migrations: Migrations,
    pub(crate) env: AppEnv,
    lock_wait: Duration,
    poll: Duration,
    pg_lock_timeout: Duration,
    pg_statement_timeout: Duration,
    actor: Actor,
    audit: bool,
    audit_verify: bool,
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
            audit_verify: config.migrate_audit_verify,
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

    /// Whether a [`verify`](Migrator::verify) that passes writes an audit
    /// row too (default: `database.migrate_audit_verify`, off); a refused
    /// verify always does.
    pub fn with_verify_audit(mut self, every_verify: bool) -> Migrator {
        self.audit_verify = every_verify;
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

    /// Lints every migration for this database's dialect (the `lint`
    /// command without a database; `up`, `plan` and startup lint pending
    /// migrations only).
    pub fn lint(&self) -> Vec<LintFinding> {
        lint::lint_all(self.database.backend(), &self.migrations)
    }

    /// Lints the migrations not yet applied (so a new rule never blocks
    /// history that is already applied) and every undo script.
    pub async fn lint_pending(&self) -> Result<Vec<LintFinding>, Error> {
        let status = self.status().await?;
        let mut findings = self.pending_findings(&status);
        findings.extend(crate::undo::lint_undo_scripts(
            self.database.backend(),
            &self.migrations,
        ));
        Ok(findings)
    }

    fn pending_findings(&self, status: &Status) -> Vec<LintFinding> {
        let backend = self.database.backend();
        status
            .pending
            .iter()
            .filter_map(|p| self.migrations.get(p.version))
            .flat_map(|m| lint::lint(backend, m))
            .collect()
    }

    /// `locked`: this migrator holds the lock, so every dirty mark is left
    /// over from a run that stopped. Otherwise a mark whose migrator still
    /// holds the lock is a run in progress, not a partial apply.
    async fn read_status(&self, conn: &mut Conn, locked: bool) -> Result<Status, Error> {
        let (probe, applied) = read_history(conn).await?;
        let exists = probe.history;
        let mut status =
            Status::compare(self.database.backend(), exists, &self.migrations, applied);
        if probe.state {
            status.dirty = dirty::read_rows(conn).await?;
        }
        if probe.invalid_indexes {
            status.invalid_indexes = dirty::invalid_indexes(conn).await?;
        }
        if !locked && !status.dirty.is_empty() {
            let sqlite_file = self.database.sqlite_file();
            if lock::held_elsewhere(conn, sqlite_file.as_deref()).await? {
                status.in_progress = std::mem::take(&mut status.dirty);
                // An index a running CREATE INDEX CONCURRENTLY builds is
                // invalid until it finishes.
                status.invalid_indexes.clear();
            }
        }
        Ok(status)
    }

    /// Reads the history and compares it with this binary's migrations,
    /// dirty state included. Reads only: no lock, no audit row, no DDL.
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

    /// The readiness check: fails while migrations are pending, divergent,
    /// missing or dirty (a partial apply, an invalid index); migrations
    /// newer than this binary pass. Reads only, like [`status`](Migrator::status).
    pub async fn readiness(&self) -> Result<Status, Error> {
        let status = self.status().await?;
        match status.problems() {
            Some(problems) => Err(Error::Verify(problems)),
            None => Ok(status),
        }
    }

    /// The checks `up` makes before applying anything, in this order: dirty
    /// state, divergent/missing/out-of-order migrations, lint of the pending
    /// migrations (the same in every environment). Returns the allowed
    /// findings as warnings.
    fn preflight(&self, status: &Status) -> Result<Vec<String>, Error> {
        for w in status.warnings() {
            tracing::warn!("{w}");
        }
        if let Some(problems) = status
            .problems()
            .filter(|p| p.is_dirty() || p.is_divergent())
        {
            return Err(Error::Verify(problems));
        }
        let (allowed, refused): (Vec<_>, Vec<_>) = self
            .pending_findings(status)
            .into_iter()
            .partition(|f| f.allowed.is_some());
        if !refused.is_empty() {
            return Err(Error::Lint { findings: refused });
        }
        Ok(allowed.iter().map(ToString::to_string).collect())
    }

    /// The status, each pending migration's SQL and lint, and what `up`
    /// would refuse with: `plan` runs every check `up` runs, without the
    /// writes ([`Plan::exit_code`] is the code `up` would return).
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
                    refused: findings.iter().any(|f| f.allowed.is_none()),
                    findings,
                }
            })
            .collect();
        let refusal = self.preflight(&status).err().map(|err| Refusal {
            kind: err.kind(),
            exit_code: err.exit_code(),
            message: err.to_string(),
        });
        Ok(Plan {
            env: self.env,
            status,
            migrations,
            refusal,
        })
    }

    /// Fails with [`Error::Verify`] when migrations are pending, divergent,
    /// missing or dirty; migrations newer than this binary are allowed with
    /// a warning. A refused verify writes one audit row (best effort: a
    /// read-only role still verifies), and so does a passing one with
    /// [`with_verify_audit`](Migrator::with_verify_audit); an up-to-date
    /// verify otherwise only reads. No DDL unless a row is written and the
    /// audit table is missing.
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
        if result.is_err() || self.audit_verify {
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
                (started, Duration::ZERO),
                (versions, checksums),
                result.as_ref().map(|_| ()),
                Columns::AsTheyAre,
            )
            .await;
        }
        conn.close().await;
        result
    }

    /// Writes the audit row of a command refused before it ran (a production
    /// confirmation that was not given).
    pub(crate) async fn audit_refused(&self, action: &str, err: &Error) {
        let started = OffsetDateTime::now_utc();
        match self.database.connect().await {
            Ok(mut conn) => {
                self.audit(
                    &mut conn,
                    action,
                    (started, Duration::ZERO),
                    (Vec::new(), Vec::new()),
                    Err(err),
                    Columns::AsTheyAre,
                )
                .await;
                conn.close().await;
            }
            Err(e) => tracing::warn!(error = %e, "could not write the migration audit row"),
        }
    }

    async fn audit(
        &self,
        conn: &mut Conn,
        action: &str,
        (started, lock_wait): (OffsetDateTime, Duration),
        (versions, checksums): (Vec<i64>, Vec<String>),
        result: Result<(), &Error>,
        columns: Columns,
    ) {
        if !self.audit {
            return;
        }
        let outcome = match result {
            Ok(_) if versions.is_empty() && action != "verify" => "noop",
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
            credentials: self.database.credentials(),
        };
        let mut written = audit::write(conn, &record, columns).await;
        if written.is_err() {
            // Replicas creating the table at once race on Postgres; the
            // second try finds it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            written = audit::write(conn, &record, columns).await;
        }
        if let Err(err) = written {
            tracing::warn!(error = %err, "could not write the migration audit row");
        }
    }

    async fn session(&self, conn: &mut Conn) -> Result<(), Error> {
        if conn.backend() == DatabaseKind::Postgres {
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
            #[cfg(feature = "postgres")]
            #[allow(irrefutable_let_patterns)] // a Postgres-only build
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

    /// Applies pending migrations under the lock, each as written (in a
    /// transaction unless its first line is `-- appenv:no-transaction`).
    /// Refuses, before applying anything, a dirty database (exit 9),
    /// divergent, missing and out-of-order migrations (exit 4), and pending
    /// migrations with lint findings not allowed by `-- appenv:allow`
    /// (exit 5), in every environment.
    pub async fn up(&self) -> Result<UpReport, Error> {
        self.locked("up", |this, conn, status| {
            Box::pin(this.apply(conn, status))
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
        self.locked("baseline", move |this, conn, status| {
            Box::pin(async move {
                if let Some(last) = status.applied.last() {
                    return Err(Error::Baseline(format!(
                        "the database already has migration history (up to version {} {}); baseline only adopts an unmigrated database",
                        last.version, last.file
                    )));
                }
                ensure_history(conn, &status).await?;
                let files: Vec<&MigrationFile> =
                    this.migrations.iter().filter(|m| m.version() <= version).collect();
                let mut sql: Vec<String> = files.iter().map(|m| history_insert(m)).collect();
                sql.insert(0, "BEGIN".into());
                sql.push("COMMIT".into());
                for s in &sql {
                    conn.run(s)
                        .await
                        .map_err(Error::db("recording the baseline in refinery_schema_history"))?;
                }
                Ok(UpReport {
                    applied: files.iter().map(|m| m.version()).collect(),
                    files: files.iter().map(|m| m.file().to_owned()).collect(),
                    ..UpReport::default()
                })
            })
        })
        .await
    }

    pub(crate) async fn locked<F>(&self, action: &str, body: F) -> Result<UpReport, Error>
    where
        F: for<'a> FnOnce(
            &'a Migrator,
            &'a mut Conn,
            Status,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = Result<UpReport, Error>> + Send + 'a>,
        >,
    {
        let started = OffsetDateTime::now_utc();
        let mut conn = self.database.connect().await?;
        let held = match self.take_lock(&mut conn).await {
            Ok(held) => held,
            Err(err) => {
                let waited = match &err {
                    Error::LockTimeout { waited, .. } => *waited,
                    _ => Duration::ZERO,
                };
                self.audit(
                    &mut conn,
                    action,
                    (started, waited),
                    (Vec::new(), Vec::new()),
                    Err(&err),
                    Columns::AsTheyAre,
                )
                .await;
                conn.close().await;
                return Err(err);
            }
        };
        let lock_wait = held.waited;
        let result = match self.read_status(&mut conn, true).await {
            Ok(status) => body(self, &mut conn, status).await,
            Err(err) => Err(err),
        };
        let result = result.map(|mut r| {
            r.lock_wait_ms = u64::try_from(lock_wait.as_millis()).unwrap_or(u64::MAX);
            r
        });
        let (versions, checksums) = self.audited_versions(&result);
        if result.is_err() && conn.backend() == DatabaseKind::MySql {
            // A body that failed inside a transaction it opened (baseline,
            // repair) must not have it committed by what comes next: on
            // MySQL any DDL, such as adding the audit table's column,
            // commits it. The lock is a session lock and stays held.
            // (Postgres and SQLite run DDL inside the open transaction.)
            let _ = conn.run("ROLLBACK").await;
        }
        self.audit(
            &mut conn,
            action,
            (started, lock_wait),
            (versions, checksums),
            result.as_ref().map(|_| ()),
            Columns::AddMissing,
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

    /// The session settings, then the cross-replica lock.
    async fn take_lock(&self, conn: &mut Conn) -> Result<lock::Held, Error> {
        self.session(conn).await?;
        let sqlite_file = self.database.sqlite_file();
        lock::acquire(conn, sqlite_file.as_deref(), self.lock_wait, self.poll).await
    }

    /// The versions and checksums a locked run's audit row names: what it
    /// applied or reverted, or the migration that failed.
    fn audited_versions(&self, result: &Result<UpReport, Error>) -> (Vec<i64>, Vec<String>) {
        let touched: Vec<&MigrationFile> = match result {
            Ok(r) => r
                .applied
                .iter()
                .chain(&r.reverted)
                .filter_map(|v| self.migrations.get(*v))
                .collect(),
            Err(Error::MigrationFailed { file, .. }) => self
                .migrations
                .iter()
                .find(|m| m.file() == file || m.undo_file() == *file)
                .into_iter()
                .collect(),
            Err(_) => Vec::new(),
        };
        let versions = match result {
            // A version this binary has no file for is still named.
            Ok(r) => r.applied.iter().chain(&r.reverted).copied().collect(),
            Err(_) => touched.iter().map(|m| m.version()).collect(),
        };
        let checksums = touched.iter().map(|m| m.checksum().to_string()).collect();
        (versions, checksums)
    }

    async fn apply(&self, conn: &mut Conn, status: Status) -> Result<UpReport, Error> {
        let warnings = self.preflight(&status)?;
        for w in &warnings {
            tracing::info!("{w}");
        }
        if status.pending.is_empty() {
            return Ok(UpReport {
                warnings,
                ..UpReport::default()
            });
        }
        ensure_history(conn, &status).await?;
        let mut report = UpReport {
            warnings,
            ..UpReport::default()
        };
        for pending in &status.pending {
            let Some(file) = self.migrations.get(pending.version) else {
                continue;
            };
            apply::run(
                conn,
                Script {
                    file: file.file(),
                    version: file.version(),
                    action: "up",
                    sql: file.sql(),
                    no_transaction: file.no_transaction(),
                    finish: vec![history_insert(file)],
                },
            )
            .await?;
            tracing::info!(migration = %file.file(), env = %self.env, "migration applied");
            report.applied.push(file.version());
            report.files.push(file.file().to_owned());
        }
        Ok(report)
    }
}

/// The database migrations run against: `config.migrate_url` when set (a
/// direct URL beside a transaction-pooling proxy), else `database`. The
/// startup call and [`MigrateArgs`](crate::MigrateArgs) both read it here.
pub(crate) fn migration_database(
    config: &DatabaseConfig,
    database: impl IntoDatabase,
) -> Result<Database, Error> {
    match &config.migrate_url {
        Some(url) if !url.is_empty() => url.into_database(),
        _ => database.into_database(),
    }
}

/// The probe's answers and refinery's history rows: on SQLite in one
/// statement when the history table exists (each statement there is a
/// round trip to sqlx's worker thread), else the probe, then refinery's
/// query if the table exists.
async fn read_history(
    conn: &mut Conn,
) -> Result<(Probe, Vec<crate::status::AppliedMigration>), Error> {
    #[cfg(feature = "sqlite")]
    if let Conn::Sqlite(c) = conn
        && let Some(read) = crate::driver::sqlite_probe_and_history(c)
            .await
            .map_err(Error::db("reading refinery_schema_history"))?
    {
        return Ok(read);
    }
    let probe = conn.probe().await?;
    let applied = if probe.history {
        Driver::new(conn)
            .get_applied_migrations(HISTORY_TABLE)
            .await
            .map_err(|e| Error::Refinery(Box::new(e)))?
            .iter()
            .map(crate::status::AppliedMigration::from_refinery)
            .collect()
    } else {
        Vec::new()
    };
    Ok((probe, applied))
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
    let migrator = Migrator::with_config(
        migration_database(config, database)?,
        migrations,
        env,
        config,
    )?;
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
