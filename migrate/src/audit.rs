//! The `appenv_migration_audit` table: one row per `up`, `baseline`,
//! `repair` and `down` run and per refused `verify` (per passing one too
//! with `migrate_audit_verify`), written on failure and on a refused
//! confirmation too.

use std::time::Duration;

use appenv_config::{AppEnv, redact_url};
use serde::Serialize;
use sqlx::AssertSqlSafe;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::backend::{Conn, DatabaseKind};
use crate::error::Error;

/// Name of the audit table.
pub const AUDIT_TABLE: &str = "appenv_migration_audit";

/// Who ran a migration command, from where and with which build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Actor {
    /// `MIGRATE_ACTOR`, else a CI actor variable, else the OS user.
    pub actor: String,
    /// Host name.
    pub host: String,
    /// Binary version (`CARGO_PKG_VERSION` of the binary, or the one given).
    pub binary_version: String,
    /// `GIT_SHA` or a CI commit variable.
    pub git_sha: Option<String>,
}

impl Actor {
    /// Reads the actor from a variable lookup (the process environment in
    /// [`Actor::from_env`]).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>, binary_version: &str) -> Actor {
        let first = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| var(n).filter(|v| !v.trim().is_empty()))
        };
        let actor = first(&["MIGRATE_ACTOR"])
            .or_else(|| {
                first(&[
                    "GITHUB_ACTOR",
                    "GITLAB_USER_LOGIN",
                    "BUILDKITE_BUILD_CREATOR",
                    "CIRCLE_USERNAME",
                ])
                .map(|a| format!("ci:{a}"))
            })
            .or_else(|| first(&["USER", "USERNAME", "LOGNAME"]))
            .unwrap_or_else(os_account);
        let host = first(&["HOSTNAME"]).unwrap_or_else(host_name);
        let git_sha = first(&[
            "GIT_SHA",
            "GITHUB_SHA",
            "CI_COMMIT_SHA",
            "BUILDKITE_COMMIT",
            "CIRCLE_SHA1",
            "SOURCE_VERSION",
        ]);
        Actor {
            actor,
            host,
            binary_version: binary_version.to_owned(),
            git_sha,
        }
    }

    /// Reads the actor from the process environment.
    pub fn from_env(binary_version: &str) -> Actor {
        Actor::from_lookup(|n| std::env::var(n).ok(), binary_version)
    }
}

/// The OS account of this process when no variable names it (containers
/// often set neither `USER` nor `LOGNAME`): the `/etc/passwd` name of the
/// real uid, else `uid:<n>`, else `unknown`.
fn os_account() -> String {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|rest| rest.split_whitespace().next().map(str::to_owned))
        });
    let Some(uid) = uid else {
        return "unknown".into();
    };
    let name = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let _password = fields.next()?;
                (fields.next()? == uid).then(|| name.to_owned())
            })
        });
    name.unwrap_or_else(|| format!("uid:{uid}"))
}

/// The machine's host name (`/proc/sys/kernel/hostname`, else
/// `/etc/hostname`, else `unknown`).
pub(crate) fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            std::fs::read_to_string(p)
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// One audit row.
#[derive(Debug, Clone)]
pub(crate) struct Record<'a> {
    pub(crate) action: &'a str,
    pub(crate) env: AppEnv,
    pub(crate) versions: Vec<i64>,
    pub(crate) checksums: Vec<String>,
    pub(crate) actor: &'a Actor,
    pub(crate) started: OffsetDateTime,
    pub(crate) finished: OffsetDateTime,
    pub(crate) lock_wait: Duration,
    pub(crate) outcome: &'a str,
    pub(crate) error: Option<String>,
    /// [`Database::credentials`](crate::Database): user and fingerprint.
    pub(crate) credentials: Option<String>,
}

fn create_sql(conn: &Conn) -> &'static str {
    match conn.backend() {
        DatabaseKind::Postgres => {
            "CREATE TABLE IF NOT EXISTS appenv_migration_audit (
                id BIGSERIAL PRIMARY KEY,
                action VARCHAR(32) NOT NULL,
                app_env VARCHAR(32) NOT NULL,
                versions TEXT NOT NULL,
                checksums TEXT NOT NULL,
                actor VARCHAR(255) NOT NULL,
                host VARCHAR(255) NOT NULL,
                binary_version VARCHAR(64) NOT NULL,
                git_sha VARCHAR(64),
                started_at TIMESTAMPTZ NOT NULL,
                finished_at TIMESTAMPTZ NOT NULL,
                lock_wait_ms BIGINT NOT NULL,
                outcome VARCHAR(32) NOT NULL,
                error TEXT,
                credentials VARCHAR(255))"
        }
        DatabaseKind::MySql => {
            "CREATE TABLE IF NOT EXISTS appenv_migration_audit (
                id BIGINT AUTO_INCREMENT PRIMARY KEY,
                action VARCHAR(32) NOT NULL,
                app_env VARCHAR(32) NOT NULL,
                versions TEXT NOT NULL,
                checksums TEXT NOT NULL,
                actor VARCHAR(255) NOT NULL,
                host VARCHAR(255) NOT NULL,
                binary_version VARCHAR(64) NOT NULL,
                git_sha VARCHAR(64),
                started_at DATETIME(6) NOT NULL,
                finished_at DATETIME(6) NOT NULL,
                lock_wait_ms BIGINT NOT NULL,
                outcome VARCHAR(32) NOT NULL,
                error TEXT,
                credentials VARCHAR(255))"
        }
        DatabaseKind::Sqlite => {
            "CREATE TABLE IF NOT EXISTS appenv_migration_audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                action TEXT NOT NULL,
                app_env TEXT NOT NULL,
                versions TEXT NOT NULL,
                checksums TEXT NOT NULL,
                actor TEXT NOT NULL,
                host TEXT NOT NULL,
                binary_version TEXT NOT NULL,
                git_sha TEXT,
                started_at TEXT NOT NULL,
                finished_at TEXT NOT NULL,
                lock_wait_ms INTEGER NOT NULL,
                outcome TEXT NOT NULL,
                error TEXT,
                credentials TEXT)"
        }
    }
}

fn timestamp(conn: &Conn, t: OffsetDateTime) -> String {
    match conn.backend() {
        // DATETIME(6) takes `YYYY-MM-DD HH:MM:SS.ffffff`, in UTC.
        DatabaseKind::MySql => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.microsecond()
            )
        }
        _ => t.format(&Rfc3339).unwrap_or_default(),
    }
}

/// Whether the writer of an audit row may alter an older table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Columns {
    /// Write the row to the table as it is (a verify, a refused
    /// confirmation: no lock, so never an `ALTER TABLE`, which takes the
    /// table's strongest lock).
    AsTheyAre,
    /// Add a missing `credentials` column first: the run holds the
    /// migration lock with its session's lock and statement timeouts.
    AddMissing,
}

/// The column added after the first release; a table made before it lacks
/// it until a role allowed to alter the table adds it.
const CREDENTIALS_COLUMN: &str = "credentials";

/// Whether the missing `credentials` column was already reported (once
/// per process: every run would say the same).
static COLUMN_WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Adds the `credentials` column to a table made before it existed;
/// `false` when the role may not (a role with DML rights alone), which is
/// logged once per process and costs the rows nothing else.
async fn add_credentials_column(conn: &mut Conn) -> bool {
    let column_type = match conn.backend() {
        DatabaseKind::Sqlite => "TEXT",
        _ => "VARCHAR(255)",
    };
    let sql = format!("ALTER TABLE {AUDIT_TABLE} ADD COLUMN {CREDENTIALS_COLUMN} {column_type}");
    match conn.run(&sql).await {
        Ok(()) => true,
        // Another replica added it a moment ago.
        Err(_) if matches!(conn.audit_shape().await, Ok(Some(true))) => true,
        Err(err) => {
            if !COLUMN_WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::warn!(
                    target: "appenv_migrate",
                    error = %redact_url(&err.to_string()),
                    fix = %format!("run `{sql}` as the table's owner"),
                    "{AUDIT_TABLE} has no {CREDENTIALS_COLUMN} column and this role cannot add it: audit rows are written without the credentials' fingerprint"
                );
            }
            false
        }
    }
}

/// Writes `record`, creating the table only when it is absent (so a role
/// with DML rights alone can verify and apply, and a verify of an
/// up-to-date database runs no DDL). A table from before the `credentials`
/// column gets it added; a role that may not add it writes rows without it.
/// `columns` says whether the caller may alter the table.
pub(crate) async fn write(
    conn: &mut Conn,
    record: &Record<'_>,
    columns: Columns,
) -> Result<(), Error> {
    let alter = columns == Columns::AddMissing;
    let found = conn.audit_shape().await?;
    let with_credentials = match found {
        None => {
            conn.run(create_sql(conn))
                .await
                .map_err(Error::db("creating appenv_migration_audit"))?;
            true
        }
        Some(true) => true,
        Some(false) if alter => add_credentials_column(conn).await,
        Some(false) => false,
    };
    let join = |v: &[String]| v.join(",");
    let versions = join(
        &record
            .versions
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>(),
    );
    let checksums = join(&record.checksums);
    let started = timestamp(conn, record.started);
    let finished = timestamp(conn, record.finished);
    let lock_wait = i64::try_from(record.lock_wait.as_millis()).unwrap_or(i64::MAX);
    let error = record.error.as_deref().map(|e| redact_url(e).into_owned());
    let insert = match (conn.backend(), with_credentials) {
        (DatabaseKind::Postgres, true) => {
            "INSERT INTO appenv_migration_audit (action, app_env, versions, checksums, actor, host, binary_version, git_sha, started_at, finished_at, lock_wait_ms, outcome, error, credentials) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CAST($9 AS TIMESTAMPTZ), CAST($10 AS TIMESTAMPTZ), $11, $12, $13, $14)"
        }
        (DatabaseKind::Postgres, false) => {
            "INSERT INTO appenv_migration_audit (action, app_env, versions, checksums, actor, host, binary_version, git_sha, started_at, finished_at, lock_wait_ms, outcome, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CAST($9 AS TIMESTAMPTZ), CAST($10 AS TIMESTAMPTZ), $11, $12, $13)"
        }
        (_, true) => {
            "INSERT INTO appenv_migration_audit (action, app_env, versions, checksums, actor, host, binary_version, git_sha, started_at, finished_at, lock_wait_ms, outcome, error, credentials) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        }
        (_, false) => {
            "INSERT INTO appenv_migration_audit (action, app_env, versions, checksums, actor, host, binary_version, git_sha, started_at, finished_at, lock_wait_ms, outcome, error) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        }
    };
    macro_rules! bind_all {
        ($c:expr) => {{
            let query = sqlx::query(AssertSqlSafe(insert))
                .bind(record.action)
                .bind(record.env.as_str())
                .bind(&versions)
                .bind(&checksums)
                .bind(&record.actor.actor)
                .bind(&record.actor.host)
                .bind(&record.actor.binary_version)
                .bind(record.actor.git_sha.as_deref())
                .bind(&started)
                .bind(&finished)
                .bind(lock_wait)
                .bind(record.outcome)
                .bind(error.as_deref());
            let query = if with_credentials {
                query.bind(record.credentials.as_deref())
            } else {
                query
            };
            query.execute(&mut *$c).await.map(|_| ())
        }};
    }
    let outcome = match conn {
        #[cfg(feature = "postgres")]
        Conn::Postgres(c) => bind_all!(c),
        #[cfg(feature = "mysql")]
        Conn::MySql(c) => bind_all!(c),
        #[cfg(feature = "sqlite")]
        Conn::Sqlite(c) => bind_all!(c),
    };
    outcome.map_err(Error::db("writing the appenv_migration_audit row"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_prefers_migrate_actor_then_ci_then_user() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        let a = Actor::from_lookup(
            vars(&[
                ("MIGRATE_ACTOR", "alice"),
                ("GITHUB_ACTOR", "bot"),
                ("USER", "root"),
                ("GIT_SHA", "abc123"),
                ("HOSTNAME", "h1"),
            ]),
            "1.2.3",
        );
        assert_eq!(
            (a.actor.as_str(), a.host.as_str(), a.git_sha.as_deref()),
            ("alice", "h1", Some("abc123"))
        );
        let a = Actor::from_lookup(vars(&[("GITHUB_ACTOR", "bot"), ("USER", "root")]), "1");
        assert_eq!(a.actor, "ci:bot");
        let a = Actor::from_lookup(vars(&[("USER", "root")]), "1");
        assert_eq!(a.actor, "root");
    }

    #[test]
    fn actor_falls_back_to_the_os_account_without_user_variables() {
        let a = Actor::from_lookup(|_| None, "1");
        assert_ne!(a.actor, "unknown", "a container without USER/LOGNAME");
        assert!(!a.actor.is_empty());
        assert_ne!(a.host, "unknown");
    }
}
