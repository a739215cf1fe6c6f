//! The `migrate` command line: a clap subcommand a service mounts
//! ([`MigrateArgs`]) and the standalone binary's parser ([`StandaloneCli`]).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use appenv_config::{AppEnv, Section};
use serde_json::{Value, json};

use crate::backend::{DatabaseKind, IntoDatabase};
use crate::config::DatabaseConfig;
use crate::error::{Error, exit};
use crate::lint::{self, LintFinding};
use crate::migrator::{Migrator, Plan};
use crate::repair::RepairAction;
use crate::source::Migrations;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON document on stdout (errors included).
    Json,
}

/// The migration commands.
#[derive(Debug, Clone, clap::Subcommand)]
#[non_exhaustive]
pub enum MigrateCommand {
    /// Applied, pending, divergent, missing, future and dirty migrations.
    Status,
    /// What `up` would do: pending migrations with their SQL and lint, and
    /// every check `up` makes; exits with the code `up` would return.
    Plan,
    /// Apply pending migrations under the lock (production needs --yes or
    /// the environment name typed at the prompt).
    Up {
        /// Confirm applying in production without a prompt.
        #[arg(long)]
        yes: bool,
    },
    /// Fail when migrations are pending, divergent or missing.
    Verify,
    /// Lint every migration for destructive or blocking statements.
    Lint {
        /// SQL dialect when no database URL is given.
        #[arg(long, value_parser = parse_backend)]
        dialect: Option<DatabaseKind>,
    },
    /// Record migrations up to VERSION as applied without running them
    /// (adopting an existing database; production needs --yes or the
    /// environment name typed at the prompt).
    Baseline {
        /// The last version the database already has.
        version: i64,
        /// Confirm in production without a prompt.
        #[arg(long)]
        yes: bool,
    },
    /// Resolve a dirty database (a migration that stopped part-way) after
    /// fixing it by hand (production needs --yes or the typed environment
    /// name).
    Repair {
        /// `mark-applied`: the rest was finished by hand; `clear`: the
        /// partial changes were reverted by hand.
        #[arg(value_enum)]
        action: RepairAction,
        /// Confirm in production without a prompt.
        #[arg(long)]
        yes: bool,
    },
    /// Revert applied migrations with their `V{n}__{name}.down.sql` undo
    /// scripts, newest first: the newest one, or every one above --to
    /// (production needs --yes or the typed environment name).
    Down {
        /// Keep this version and everything below it (0 reverts all).
        #[arg(long)]
        to: Option<i64>,
        /// Confirm in production without a prompt.
        #[arg(long)]
        yes: bool,
    },
    /// Create `V{next}__{name}.sql` in the migrations directory.
    New {
        /// Migration name (letters, digits and underscores).
        name: String,
    },
}

fn parse_backend(value: &str) -> Result<DatabaseKind, String> {
    match value.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" | "pg" => Ok(DatabaseKind::Postgres),
        "mysql" | "mariadb" => Ok(DatabaseKind::MySql),
        "sqlite" => Ok(DatabaseKind::Sqlite),
        other => Err(format!(
            "unknown dialect `{other}`: expected postgres, mysql or sqlite"
        )),
    }
}

fn parse_env(value: &str) -> Result<AppEnv, String> {
    AppEnv::parse(value).map_err(|e| e.to_string())
}

/// Options shared by every migration command. Mount it in a service's CLI:
///
/// ```
/// use clap::{Parser, Subcommand};
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(subcommand)]
///     command: Option<Command>,
/// }
///
/// #[derive(Subcommand)]
/// enum Command {
///     /// Database migrations.
///     Migrate(appenv_migrate::MigrateArgs),
/// }
///
/// let cli = Cli::parse_from(["example-api", "migrate", "--format", "json", "verify"]);
/// assert!(matches!(cli.command, Some(Command::Migrate(_))));
/// ```
///
/// then `args.run(env, &config, &pool, migrations).await` returns the exit
/// code (see [`exit`]).
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
pub struct MigrateArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    pub format: Format,
    /// Environment whose policy applies (default: APP_ENV, else local).
    #[arg(long = "env", env = "APP_ENV", value_parser = parse_env, global = true)]
    pub env: Option<AppEnv>,
    /// Migrations directory (`new`, and the standalone binary's source).
    #[arg(
        long,
        env = "MIGRATIONS_DIR",
        default_value = "migrations",
        global = true
    )]
    pub dir: PathBuf,
    /// How long to wait for another migrator's lock, in milliseconds.
    #[arg(long = "lock-wait-ms", global = true)]
    pub lock_wait_ms: Option<u64>,
    /// Postgres `lock_timeout` of the migration session, in milliseconds
    /// (0 = off; default per environment).
    #[arg(long = "lock-timeout-ms", global = true)]
    pub lock_timeout_ms: Option<u64>,
    /// Postgres `statement_timeout` of the migration session, in
    /// milliseconds (0 = off; default per environment).
    #[arg(long = "statement-timeout-ms", global = true)]
    pub statement_timeout_ms: Option<u64>,
    /// Audit a `verify` that passes too (default: only a refused one;
    /// `database.migrate_audit_verify` in a service's configuration).
    #[arg(long = "audit-verify", global = true)]
    pub audit_verify: bool,
    /// The command.
    #[command(subcommand)]
    pub command: MigrateCommand,
}

/// The standalone `appenv-migrate` binary's arguments.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "appenv-migrate",
    version,
    about = "refinery migrations over sqlx with per-environment policy, lock, lint and audit",
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage, 3 pending, 4 divergent/missing/out of order, 5 lint, \
                  6 lock timeout, 7 migration failed, 8 not confirmed, 9 database dirty, 78 config"
)]
#[non_exhaustive]
pub struct StandaloneCli {
    /// Database URL (postgres://, mysql://, mariadb://, sqlite:).
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The shared options and command.
    #[command(flatten)]
    pub args: MigrateArgs,
}

impl StandaloneCli {
    /// Runs the command with migrations from `--dir`; returns the exit code.
    pub async fn run(&self) -> i32 {
        let env = self.args.env.unwrap_or_default();
        let config = DatabaseConfig::defaults(env);
        let migrations = match &self.args.command {
            MigrateCommand::New { .. } => Ok(Migrations::default()),
            _ => Migrations::from_dir(&self.args.dir),
        };
        let migrations = match migrations {
            Ok(m) => m,
            Err(err) => return self.args.fail("load", &err),
        };
        self.args
            .run_inner(env, &config, self.database_url.as_deref(), migrations)
            .await
    }
}

impl MigrateArgs {
    /// Runs the command against `database` with `migrations` (a service
    /// passes its pool and embedded migrations), or against
    /// `config.migrate_url` when that is set, as startup does. Prints text or JSON and
    /// returns the exit code. `--env` / `APP_ENV`, when given, overrides
    /// `env`.
    pub async fn run(
        &self,
        env: AppEnv,
        config: &DatabaseConfig,
        database: impl IntoDatabase,
        migrations: Migrations,
    ) -> i32 {
        let env = self.env.unwrap_or(env);
        self.run_inner(env, config, Some(database), migrations)
            .await
    }

    /// [`run`](MigrateArgs::run) for a service that ships migrations per
    /// backend (`migrations/{postgres,mysql,sqlite}/`): `migrations` gives
    /// the set of a backend. The set of the backend the command connects
    /// to is used (`database`, or `database.migrate_url` when set), and
    /// `lint --dialect D` lints the set of `D` without a database, so the
    /// service needs no special case for it.
    ///
    /// ```no_run
    /// # async fn cli(args: appenv_migrate::MigrateArgs, config: appenv_migrate::DatabaseConfig) -> i32 {
    /// use appenv_migrate::{DatabaseKind, Migrations};
    /// // A service embeds each set with `appenv_migrate::embed_migrations!`.
    /// fn migrations(kind: DatabaseKind) -> Result<Migrations, appenv_migrate::Error> {
    ///     Migrations::from_dir(format!("migrations/{}", kind.as_str()))
    /// }
    /// let env = appenv_config::AppEnv::Local;
    /// args.run_per_backend(env, &config, config.url.expose(), migrations).await
    /// # }
    /// ```
    pub async fn run_per_backend(
        &self,
        env: AppEnv,
        config: &DatabaseConfig,
        database: impl IntoDatabase,
        migrations: impl Fn(DatabaseKind) -> Result<Migrations, Error>,
    ) -> i32 {
        let env = self.env.unwrap_or(env);
        let name = self.command_name();
        if let Some(code) = self.run_offline(name, &migrations) {
            return code;
        }
        let database = match crate::migrator::migration_database(config, database) {
            Ok(database) => database,
            Err(err) => return self.fail(name, &err),
        };
        let set = match migrations(database.backend()) {
            Ok(set) => set,
            Err(err) => return self.fail(name, &err),
        };
        self.run_inner(env, config, Some(database), set).await
    }

    /// The command's steps: what runs without a database (`new`, `lint
    /// --dialect`), the migrator with this invocation's overrides, the
    /// production confirmation, then the command itself.
    async fn run_inner<D: IntoDatabase>(
        &self,
        env: AppEnv,
        config: &DatabaseConfig,
        database: Option<D>,
        migrations: Migrations,
    ) -> i32 {
        let name = self.command_name();
        if let Some(code) = self.run_offline(name, &|_| Ok(migrations.clone())) {
            return code;
        }
        let Some(database) = database else {
            return self.fail(name, &Error::MissingDatabaseUrl);
        };
        let migrator = match self.migrator(env, config, database, migrations) {
            Ok(m) => m,
            Err(err) => return self.fail(name, &err),
        };
        if let Some(yes) = self.confirmed_by_flag()
            && let Err(err) = self.confirm_if_production(env, yes, &migrator).await
        {
            return self.fail(name, &err);
        }
        self.run_online(name, &migrator).await
    }

    /// `new` and `lint --dialect`, which need no database; `None` for
    /// every other command.
    fn run_offline(
        &self,
        name: &str,
        migrations: &dyn Fn(DatabaseKind) -> Result<Migrations, Error>,
    ) -> Option<i32> {
        match &self.command {
            MigrateCommand::New { name: new_name } => {
                Some(match new_migration(&self.dir, new_name) {
                    Ok(path) => self.ok(
                        name,
                        json!({"file": path.display().to_string()}),
                        format!("created {}", path.display()),
                    ),
                    Err(err) => self.fail(name, &err),
                })
            }
            MigrateCommand::Lint {
                dialect: Some(backend),
            } => Some(match migrations(*backend) {
                Ok(set) => self.lint(*backend, &set),
                Err(err) => self.fail(name, &err),
            }),
            _ => None,
        }
    }

    /// The migrator of `config` with this invocation's lock wait and
    /// session timeouts.
    fn migrator(
        &self,
        env: AppEnv,
        config: &DatabaseConfig,
        database: impl IntoDatabase,
        migrations: Migrations,
    ) -> Result<Migrator, Error> {
        let database = crate::migrator::migration_database(config, database)?;
        let mut migrator = Migrator::with_config(database, migrations, env, config)?;
        if let Some(ms) = self.lock_wait_ms {
            migrator = migrator.with_lock_wait(Duration::from_millis(ms));
        }
        if self.audit_verify {
            migrator = migrator.with_verify_audit(true);
        }
        if self.lock_timeout_ms.is_some() || self.statement_timeout_ms.is_some() {
            let lock = self
                .lock_timeout_ms
                .unwrap_or(config.migrate_lock_timeout_ms);
            let statement = self
                .statement_timeout_ms
                .unwrap_or(config.migrate_statement_timeout_ms);
            migrator = migrator.with_session_timeouts(
                Duration::from_millis(lock),
                Duration::from_millis(statement),
            );
        }
        Ok(migrator)
    }

    /// `--yes` of the commands that change a production database; `None`
    /// for the others.
    fn confirmed_by_flag(&self) -> Option<bool> {
        match &self.command {
            MigrateCommand::Up { yes }
            | MigrateCommand::Baseline { yes, .. }
            | MigrateCommand::Repair { yes, .. }
            | MigrateCommand::Down { yes, .. } => Some(*yes),
            _ => None,
        }
    }

    /// Runs a command that needs the database and prints its result.
    async fn run_online(&self, name: &str, migrator: &Migrator) -> i32 {
        match &self.command {
            MigrateCommand::Status => self.report(name, migrator.status().await, status_text),
            MigrateCommand::Plan => match migrator.plan().await {
                Ok(plan) => {
                    let code = plan.exit_code();
                    let payload = serde_json::to_value(&plan).unwrap_or_default();
                    self.emit(name, code == exit::OK, code, payload, &plan_text(&plan))
                }
                Err(err) => self.fail(name, &err),
            },
            MigrateCommand::Verify => self.report(name, migrator.verify().await, |s| {
                format!("migrations are current\n{}", status_text(s))
            }),
            MigrateCommand::Up { .. } => self.report(name, migrator.up().await, |r| {
                if r.applied.is_empty() {
                    "nothing to apply".to_owned()
                } else {
                    format!("applied {}", r.files.join(", "))
                }
            }),
            MigrateCommand::Baseline { version, .. } => {
                self.report(name, migrator.baseline(*version).await, |r| {
                    format!("recorded as applied: {}", r.files.join(", "))
                })
            }
            MigrateCommand::Repair { action, .. } => {
                self.report(name, migrator.repair(*action).await, |r| match action {
                    RepairAction::MarkApplied => {
                        format!("recorded as finished: {}", r.files.join(", "))
                    }
                    _ => format!(
                        "dirty mark cleared (the migration is pending again): {}",
                        r.files.join(", ")
                    ),
                })
            }
            MigrateCommand::Down { to, .. } => self.report(name, migrator.down(*to).await, |r| {
                if r.reverted.is_empty() {
                    "nothing to revert".to_owned()
                } else {
                    format!("reverted {}", r.files.join(", "))
                }
            }),
            MigrateCommand::Lint { .. } => match migrator.lint_pending().await {
                Ok(findings) => self.report_lint(
                    migrator.database().backend(),
                    "pending migration(s)",
                    findings,
                ),
                Err(err) => self.fail(name, &err),
            },
            MigrateCommand::New { .. } => unreachable!("`new` runs without a database"),
        }
    }

    /// Prints a command's result: its JSON form, or `text` of it; exit 0.
    fn report<T: serde::Serialize>(
        &self,
        name: &str,
        result: Result<T, Error>,
        text: impl FnOnce(&T) -> String,
    ) -> i32 {
        match result {
            Ok(value) => {
                let text = text(&value);
                self.ok(name, serde_json::to_value(&value).unwrap_or_default(), text)
            }
            Err(err) => self.fail(name, &err),
        }
    }

    /// Production `up`, `down`, `baseline` and `repair` need `--yes` or
    /// the environment name typed at a terminal; a refusal is audited.
    async fn confirm_if_production(
        &self,
        env: AppEnv,
        yes: bool,
        migrator: &Migrator,
    ) -> Result<(), Error> {
        if !env.is_production() || yes {
            return Ok(());
        }
        let command = self.command_name();
        let what = match &self.command {
            MigrateCommand::Up { .. } => {
                let plan = migrator.plan().await?;
                if plan.migrations.is_empty() || plan.refusal.is_some() {
                    // Nothing to confirm: `up` is a no-op or refuses anyway.
                    return Ok(());
                }
                plan.migrations
                    .iter()
                    .map(|m| format!("apply {}", m.file))
                    .collect()
            }
            MigrateCommand::Repair { action, .. } => {
                let status = migrator.status().await?;
                status
                    .dirty
                    .iter()
                    .map(|d| format!("{action:?} {d}"))
                    .collect()
            }
            MigrateCommand::Down { to, .. } => vec![match to {
                Some(v) => format!("revert every applied migration above version {v}"),
                None => "revert the newest applied migration".to_owned(),
            }],
            MigrateCommand::Baseline { version, .. } => {
                vec![format!(
                    "record migrations up to version {version} as applied without running them"
                )]
            }
            _ => Vec::new(),
        };
        let refused = Error::NotConfirmed {
            env,
            command: command.to_owned(),
        };
        let stdin = std::io::stdin();
        let answer = if stdin.is_terminal() {
            let mut err = std::io::stderr();
            let _ = writeln!(
                err,
                "About to run `{command}` on {env} ({}):",
                migrator.database().target()
            );
            for line in &what {
                let _ = writeln!(err, "  {line}");
            }
            let _ = write!(err, "Type the environment name ({env}) to continue: ");
            let _ = err.flush();
            let mut line = String::new();
            let _ = stdin.lock().read_line(&mut line);
            line
        } else {
            String::new()
        };
        if confirmed(env, &answer) {
            Ok(())
        } else {
            migrator.audit_refused(command, &refused).await;
            Err(refused)
        }
    }

    fn lint(&self, backend: DatabaseKind, migrations: &Migrations) -> i32 {
        let mut findings = lint::lint_all(backend, migrations);
        findings.extend(crate::undo::lint_undo_scripts(backend, migrations));
        self.report_lint(
            backend,
            &format!("{} migration(s)", migrations.len()),
            findings,
        )
    }

    fn report_lint(&self, backend: DatabaseKind, what: &str, findings: Vec<LintFinding>) -> i32 {
        let refused: Vec<&LintFinding> = findings.iter().filter(|f| f.allowed.is_none()).collect();
        let code = if refused.is_empty() {
            exit::OK
        } else {
            exit::LINT
        };
        let mut text = format!(
            "{what} linted for {backend}: {} finding(s), {} not allowed",
            findings.len(),
            refused.len()
        );
        for f in &findings {
            text.push_str(&format!("\n{f}"));
        }
        if !refused.is_empty() {
            text.push_str("\nfix the migrations, or put `-- appenv:allow <rule-id> <reason>` directly before each reviewed statement");
        }
        self.emit(
            "lint",
            refused.is_empty(),
            code,
            json!({"backend": backend.as_str(), "findings": findings}),
            &text,
        )
    }

    fn command_name(&self) -> &'static str {
        match self.command {
            MigrateCommand::Status => "status",
            MigrateCommand::Plan => "plan",
            MigrateCommand::Up { .. } => "up",
            MigrateCommand::Verify => "verify",
            MigrateCommand::Lint { .. } => "lint",
            MigrateCommand::Baseline { .. } => "baseline",
            MigrateCommand::Repair { .. } => "repair",
            MigrateCommand::Down { .. } => "down",
            MigrateCommand::New { .. } => "new",
        }
    }

    fn ok(&self, command: &str, payload: Value, text: String) -> i32 {
        self.emit(command, true, exit::OK, payload, &text)
    }

    fn emit(&self, command: &str, ok: bool, code: i32, payload: Value, text: &str) -> i32 {
        match self.format {
            Format::Json => {
                let doc =
                    json!({"command": command, "ok": ok, "exit_code": code, "result": payload});
                println!("{doc}");
            }
            Format::Text if ok => println!("{text}"),
            Format::Text => eprintln!("{text}"),
        }
        code
    }

    fn fail(&self, command: &str, err: &Error) -> i32 {
        let code = err.exit_code();
        match self.format {
            Format::Json => {
                let detail = match err {
                    Error::Verify(p) => serde_json::to_value(p).unwrap_or_default(),
                    Error::Lint { findings } => json!({"findings": findings}),
                    Error::LockTimeout { holder, waited } => {
                        json!({"holder": holder, "waited_ms": waited.as_millis() as u64})
                    }
                    Error::MigrationFailed {
                        file,
                        line,
                        statement,
                        statements,
                        message,
                        dirty,
                        ..
                    } => json!({
                        "file": file,
                        "line": line,
                        "statement": statement,
                        "statements": statements,
                        "database_message": message,
                        "dirty": dirty,
                    }),
                    _ => Value::Null,
                };
                let doc = json!({
                    "command": command,
                    "ok": false,
                    "exit_code": code,
                    "error": {"kind": err.kind(), "message": err.to_string(), "detail": detail},
                });
                println!("{doc}");
            }
            Format::Text => eprintln!("error: {err}"),
        }
        code
    }
}

/// The typed answer confirms `env` only when it is the environment's
/// canonical name, exactly (surrounding white space aside).
fn confirmed(env: AppEnv, answer: &str) -> bool {
    answer.trim() == env.as_str()
}

/// The text form of `plan`: the status, each pending migration's SQL and
/// lint, and what `up` would refuse with.
fn plan_text(plan: &Plan) -> String {
    let mut text = status_text(&plan.status);
    for m in &plan.migrations {
        let mode = if m.no_transaction {
            " (no transaction)"
        } else {
            ""
        };
        let refused = if m.refused { " REFUSED by lint" } else { "" };
        text.push_str(&format!(
            "\n-- {}{mode}{refused}\n{}",
            m.file,
            m.sql.trim_end()
        ));
        for f in &m.findings {
            text.push_str(&format!("\n  lint: {f}"));
        }
    }
    match &plan.refusal {
        Some(r) => text.push_str(&format!("\n`up` would refuse: {}", r.message)),
        None if plan.migrations.is_empty() => text.push_str("\nnothing to apply"),
        None => {}
    }
    text
}

fn status_text(s: &crate::status::Status) -> String {
    let mut out = format!(
        "{}: {} applied, {} pending, {} divergent, {} missing, {} newer than this binary, {} dirty",
        s.backend,
        s.applied.len(),
        s.pending.len(),
        s.divergent.len(),
        s.missing.len(),
        s.future.len(),
        s.dirty.len() + s.invalid_indexes.len()
    );
    for a in &s.applied {
        out.push_str(&format!(
            "\n  applied  {:>6}  {}  {}",
            a.version, a.file, a.applied_on
        ));
    }
    for p in &s.pending {
        let note = if p.out_of_order {
            "  (out of order)"
        } else {
            ""
        };
        out.push_str(&format!("\n  pending  {:>6}  {}{note}", p.version, p.file));
    }
    for d in &s.divergent {
        out.push_str(&format!(
            "\n  DIVERGENT {:>5}  {} (applied as {})",
            d.version, d.file, d.applied_name
        ));
    }
    for m in &s.missing {
        out.push_str(&format!("\n  MISSING  {:>6}  {}", m.version, m.file));
    }
    for f in &s.future {
        out.push_str(&format!(
            "\n  future   {:>6}  {} (from a newer release)",
            f.version, f.file
        ));
    }
    for d in &s.dirty {
        out.push_str(&format!("\n  DIRTY    {:>6}  {d}", d.version));
    }
    for d in &s.in_progress {
        out.push_str(&format!(
            "\n  running  {:>6}  {} (statement {} of {}, by another migrator holding the lock)",
            d.version, d.file, d.statement, d.statements
        ));
    }
    for i in &s.invalid_indexes {
        out.push_str(&format!(
            "\n  DIRTY    index {i} is invalid (a CREATE INDEX CONCURRENTLY failed or was killed)"
        ));
    }
    if s.is_dirty() {
        out.push_str("\n  `up` refuses while the database is dirty: fix it by hand, then `repair mark-applied` or `repair clear` (drop or REINDEX an invalid index)");
    }
    out
}

/// Creates `V{next}__{name}.sql` in `dir`, next = highest version + 1.
fn new_migration(dir: &Path, name: &str) -> Result<PathBuf, Error> {
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(Error::InvalidMigration {
            file: name.to_owned(),
            message: "the name must be letters, digits and underscores".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let next = Migrations::from_dir(dir)?
        .iter()
        .map(|m| m.version())
        .max()
        .unwrap_or(0)
        + 1;
    let path = dir.join(format!("V{next}__{name}.sql"));
    let body = format!(
        "-- {name}\n\
         -- First line `-- appenv:no-transaction` runs this outside a transaction (CREATE INDEX CONCURRENTLY).\n\
         -- `-- appenv:allow <rule-id> <reason>` directly before a statement accepts that rule's finding on it.\n\n"
    );
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| f.write_all(body.as_bytes()))
        .map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_environment_name_confirms() {
        assert!(confirmed(AppEnv::Production, "production\n"));
        assert!(!confirmed(AppEnv::Production, "prod\n"));
        assert!(!confirmed(AppEnv::Production, "yes\n"));
        assert!(!confirmed(AppEnv::Production, ""));
    }

    #[test]
    fn new_creates_the_next_version() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("V7__x.sql"), "SELECT 1;").unwrap();
        let path = new_migration(dir.path(), "add_orders").unwrap();
        assert!(path.ends_with("V8__add_orders.sql"));
        assert!(Migrations::from_dir(dir.path()).unwrap().get(8).is_some());
        assert!(new_migration(dir.path(), "../evil").is_err());
    }
}
