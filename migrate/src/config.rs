//! The `database` configuration section and the policy rules it
//! contributes.

use std::time::Duration;

use appenv_config::{AppEnv, Check, SecretUrl};
use serde::{Deserialize, Serialize};

/// Rule id: startup auto-apply outside local (refused in production unless
/// waived with `policy.allow = ["migrate.auto-apply"]`, a warning in
/// staging).
pub const RULE_AUTO_APPLY: &str = "migrate.auto-apply";

/// Rule id: a value no pool or migrator can be built from (a URL the
/// driver refuses or has no driver for, `max_connections` 0,
/// `min_connections` above `max_connections`, a zero timeout). Refused in
/// every environment, not waivable.
pub const RULE_INVALID: &str = "database.invalid";

/// Rule id: no database URL in staging or production (an empty or missing
/// `DATABASE_URL`). Refused there; waivable by id for a service that
/// starts without its database on purpose.
pub const RULE_URL_REQUIRED: &str = "database.url-required";

/// The `database` section of a service's configuration.
///
/// Register it at `database` so `DATABASE_URL` sets `database.url` (the
/// full-path variable name needs no alias) and `MIGRATE_ON_STARTUP` sets
/// `database.migrate_on_startup`:
///
/// ```
/// use appenv_config::{AppEnv, Registry, Section};
/// use appenv_migrate::DatabaseConfig;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize)]
/// struct Config { database: DatabaseConfig }
///
/// impl Section for Config {
///     fn defaults(env: AppEnv) -> Self { Config { database: DatabaseConfig::defaults(env) } }
///     fn register(reg: &mut Registry<'_, Self>) { reg.section::<DatabaseConfig>("database"); }
/// }
///
/// let local = DatabaseConfig::defaults(AppEnv::Local);
/// assert!(local.migrate_on_startup);
/// assert!(!DatabaseConfig::defaults(AppEnv::Production).migrate_on_startup);
/// ```
///
/// | key | local | staging | production |
/// |---|---|---|---|
/// | `url` (`DATABASE_URL`) | unset | unset | unset |
/// | `migrate_url` (`DATABASE_MIGRATE_URL`) | unset | unset | unset |
/// | `max_connections` | 5 | 10 | 20 |
/// | `min_connections` | 0 | 1 | 2 |
/// | `connect_timeout_ms` | 5000 | 10000 | 10000 |
/// | `idle_timeout_ms` | 600000 | 600000 | 600000 |
/// | `migrate_on_startup` (`MIGRATE_ON_STARTUP`) | true | false | false |
/// | `migrate_lock_wait_ms` | 30000 | 120000 | 300000 |
/// | `migrate_lock_timeout_ms` (Postgres `lock_timeout`, 0 = off) | 0 | 10000 | 5000 |
/// | `migrate_statement_timeout_ms` (Postgres `statement_timeout`, 0 = off) | 0 | 900000 | 900000 |
/// | `migrate_audit_verify` (`DATABASE_MIGRATE_AUDIT_VERIFY`) | false | false | false |
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, appenv_config::Section)]
#[non_exhaustive]
#[config(rule(id = RULE_INVALID, check = invalid))]
#[config(rule(id = RULE_URL_REQUIRED, check = url_required))]
#[config(rule(id = RULE_AUTO_APPLY, check = auto_apply))]
pub struct DatabaseConfig {
    /// The database URL; its password is redacted in every output.
    #[config(database_url)]
    pub url: SecretUrl,
    /// A direct URL for migrations when `url` goes through a
    /// transaction-pooling proxy such as PgBouncer (session advisory locks
    /// need a real session). [`run_startup`](crate::run_startup) and
    /// [`MigrateArgs::run`](crate::MigrateArgs::run) use it instead of the
    /// pool when set (`DATABASE_MIGRATE_URL`).
    #[config(database_url)]
    pub migrate_url: Option<SecretUrl>,
    /// Pool size.
    #[config(local = 5, staging = 10, production = 20)]
    pub max_connections: u32,
    /// Connections kept open.
    #[config(local = 0, staging = 1, production = 2)]
    pub min_connections: u32,
    /// How long acquiring a connection may take.
    #[config(local = 5_000, default = 10_000)]
    pub connect_timeout_ms: u64,
    /// Idle connections are closed after this long.
    #[config(default = 600_000)]
    pub idle_timeout_ms: u64,
    /// Apply pending migrations at startup (`true`) or only verify them.
    #[config(alias = "MIGRATE_ON_STARTUP", local = true)]
    pub migrate_on_startup: bool,
    /// How long a migrator waits for another replica's migration lock.
    #[config(local = 30_000, staging = 120_000, production = 300_000)]
    pub migrate_lock_wait_ms: u64,
    /// Postgres `lock_timeout` for migration statements (0 = off).
    #[config(local = 0, staging = 10_000, production = 5_000)]
    pub migrate_lock_timeout_ms: u64,
    /// Postgres `statement_timeout` for migration statements (0 = off).
    #[config(local = 0, default = 900_000)]
    pub migrate_statement_timeout_ms: u64,
    /// Audit every verify, not only a refused one (default off in every
    /// environment): with it each replica start writes a row, so the table
    /// also records which binary started when; without it a verify of an
    /// up-to-date database only reads. `up`, `down`, `baseline` and
    /// `repair` are always audited.
    pub migrate_audit_verify: bool,
}

impl DatabaseConfig {
    /// Pool options with this section's sizes and timeouts.
    ///
    /// Never panics. The loader's policy (rule [`RULE_INVALID`], shown by
    /// `config check` and refused at startup) rejects the values a pool
    /// cannot use; for a section built in code without the loader, call
    /// [`validate`](DatabaseConfig::validate) first: here `max_connections`
    /// 0 is raised to 1 and `min_connections` capped at it, where sqlx
    /// itself would panic.
    pub fn pool_options<DB: sqlx::Database>(&self) -> sqlx::pool::PoolOptions<DB> {
        let max = self.max_connections.max(1);
        sqlx::pool::PoolOptions::new()
            .max_connections(max)
            .min_connections(self.min_connections.min(max))
            .acquire_timeout(Duration::from_millis(self.connect_timeout_ms.max(1)))
            .idle_timeout(Some(Duration::from_millis(self.idle_timeout_ms.max(1))))
    }

    /// A lazily connecting pool of `url` with this section's sizes and
    /// timeouts, for the driver `DB` (`sqlx::Postgres`, `sqlx::MySql`,
    /// `sqlx::Sqlite`, each with its feature). The URL is read as
    /// [`Database::from_url`](crate::Database::from_url) reads it:
    /// `mariadb://` is MySQL's protocol, and a SQLite file is created when
    /// missing, its directory too (`sqlite://data/app.db` on a fresh
    /// checkout). Nothing connects until the first query. Call it inside a
    /// Tokio runtime ([`Error::NoRuntime`](crate::Error::NoRuntime)
    /// otherwise).
    ///
    /// ```
    /// # use appenv_config::{AppEnv, SecretUrl, Section};
    /// # use appenv_migrate::DatabaseConfig;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), appenv_migrate::Error> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let mut config = DatabaseConfig::defaults(AppEnv::Local);
    /// config.url = SecretUrl::new(format!("sqlite://{}/data/app.db", dir.path().display()));
    /// let pool = config.connect_lazy::<sqlx::Sqlite>()?;
    /// # drop(pool);
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect_lazy<DB: crate::backend::LazyPool>(
        &self,
    ) -> Result<sqlx::Pool<DB>, crate::Error> {
        self.connect_lazy_with(self.pool_options())
    }

    /// [`connect_lazy`](DatabaseConfig::connect_lazy) with pool options of
    /// the caller's (for example [`CredentialRotation::pool_options`](crate::CredentialRotation::pool_options)
    /// around [`pool_options`](DatabaseConfig::pool_options)).
    ///
    /// # Errors
    ///
    /// As [`connect_lazy`](DatabaseConfig::connect_lazy).
    pub fn connect_lazy_with<DB: crate::backend::LazyPool>(
        &self,
        options: sqlx::pool::PoolOptions<DB>,
    ) -> Result<sqlx::Pool<DB>, crate::Error> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(crate::Error::NoRuntime);
        }
        DB::connect_lazy(options, self.url.expose())
    }

    /// The values no pool or migrator can be built from, each with its key
    /// (relative to the section) and what is wrong. The policy rule
    /// [`RULE_INVALID`] and [`validate`](DatabaseConfig::validate) both read
    /// this, so `config check` and startup refuse with the same words.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.max_connections == 0 {
            out.push((
                "max_connections",
                "must be at least 1 (a pool of 0 connections cannot serve a query)".to_owned(),
            ));
        }
        if self.min_connections > self.max_connections {
            out.push((
                "min_connections",
                format!(
                    "{} is above max_connections ({}); it must be at most max_connections",
                    self.min_connections, self.max_connections
                ),
            ));
        }
        // The URL as the constructors will read it: a scheme this build
        // has no driver for, or options the driver refuses, are reported
        // here, so `config check` refuses what `Database::from_url` would.
        let urls = [
            ("url", Some(&self.url)),
            ("migrate_url", self.migrate_url.as_ref()),
        ];
        for (key, url) in urls {
            if let Some(url) = url.filter(|u| !u.is_empty())
                && let Err(err) = crate::Database::from_url(url.expose())
            {
                out.push((key, err.to_string()));
            }
        }
        for (key, value) in [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("migrate_lock_wait_ms", self.migrate_lock_wait_ms),
        ] {
            if value == 0 {
                out.push((key, "must be at least 1 millisecond".to_owned()));
            }
        }
        out
    }

    /// Fails with the first of [`problems`](DatabaseConfig::problems),
    /// naming the key (`database.max_connections` when the section is
    /// registered at `database`).
    pub fn validate(&self) -> Result<(), crate::Error> {
        match self.problems().into_iter().next() {
            Some((key, message)) => Err(crate::Error::InvalidConfig {
                key: format!("database.{key}"),
                message,
            }),
            None => Ok(()),
        }
    }
}

/// Rule [`RULE_INVALID`]: the values no pool or migrator can be built from.
fn invalid(check: &mut Check<'_>, cfg: &DatabaseConfig) -> Result<(), appenv_config::Error> {
    for (key, message) in cfg.problems() {
        check.forbid(
            key,
            message,
            "fix the value; see DatabaseConfig in the appenv-migrate docs",
        );
    }
    Ok(())
}

/// Rule [`RULE_URL_REQUIRED`]: no database URL outside local.
fn url_required(check: &mut Check<'_>, cfg: &DatabaseConfig) -> Result<(), appenv_config::Error> {
    if check.env() != AppEnv::Local && cfg.url.expose().trim().is_empty() {
        check.deny(
                        "url",
                        format!("no database URL is set in {}", check.env()),
                        "set DATABASE_URL (or DATABASE_URL_FILE for a secret file) to this environment's database",
                    );
    }
    Ok(())
}

/// Rule [`RULE_AUTO_APPLY`]: migrations applied at startup outside local.
fn auto_apply(check: &mut Check<'_>, cfg: &DatabaseConfig) -> Result<(), appenv_config::Error> {
    if cfg.migrate_on_startup && check.env() != AppEnv::Local {
        check.violation(
                        "migrate_on_startup",
                        format!(
                            "migrations are applied at startup in {}: replicas race the release, and a failed migration crash-loops every pod",
                            check.env()
                        ),
                        "set MIGRATE_ON_STARTUP=false and run `appenv-migrate up` (or `<service> migrate up`) as a release step; startup then only verifies",
                    );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use appenv_config::Section;

    /// The derived defaults are the table of the type's docs, environment
    /// by environment.
    #[test]
    fn the_defaults_are_the_documented_table() {
        type Row = (u32, u32, u64, u64, bool, u64, u64, u64);
        let table: [(AppEnv, Row); 3] = [
            (AppEnv::Local, (5, 0, 5_000, 600_000, true, 30_000, 0, 0)),
            (
                AppEnv::Staging,
                (10, 1, 10_000, 600_000, false, 120_000, 10_000, 900_000),
            ),
            (
                AppEnv::Production,
                (20, 2, 10_000, 600_000, false, 300_000, 5_000, 900_000),
            ),
        ];
        for (env, row) in table {
            let c = DatabaseConfig::defaults(env);
            let got: Row = (
                c.max_connections,
                c.min_connections,
                c.connect_timeout_ms,
                c.idle_timeout_ms,
                c.migrate_on_startup,
                c.migrate_lock_wait_ms,
                c.migrate_lock_timeout_ms,
                c.migrate_statement_timeout_ms,
            );
            assert_eq!(got, row, "{env}");
            assert!(c.url.is_empty() && c.migrate_url.is_none() && !c.migrate_audit_verify);
        }
    }
}
