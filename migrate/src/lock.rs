//! The cross-replica migration lock, held on the run's dedicated connection.
//!
//! - PostgreSQL: a session advisory lock, polled with
//!   `pg_try_advisory_lock` until a deadline (a blocking `pg_advisory_lock`
//!   can deadlock with `CREATE INDEX CONCURRENTLY` in another session, and
//!   never gives up). While waiting, the holder's pid, application name,
//!   client address and user are read from `pg_locks` / `pg_stat_activity`.
//! - MySQL/MariaDB: `GET_LOCK` on a name that includes the database (named
//!   locks are server-wide), in slices of at most a few seconds so the
//!   holder can be reported in between; the result is checked (`1`
//!   acquired, `0` timed out, `NULL` an error).
//! - SQLite: an exclusive OS lock (`flock`) on the file `{database}-migrate.lock`
//!   beside the database, retried until the deadline. No transaction is held
//!   across migrations, so each migration runs in its own transaction, or
//!   none (`-- appenv:no-transaction`, for `PRAGMA foreign_keys` and
//!   `VACUUM`). The holder writes its pid and host into the file, which is
//!   what a waiter reports. In-memory databases take no lock.
//!
//! Closing the connection (or, for SQLite, the process ending) releases the
//! lock whatever happened, which is why the lock connection is never a
//! pooled one.

#[cfg(feature = "sqlite")]
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::Conn;
use crate::error::Error;

/// The advisory lock key on PostgreSQL (`"appe"`, `"nvmi"`), both halves
/// below 2³¹ so they read back as positive `oid`s in `pg_locks`.
pub const PG_LOCK_KEY: i64 = 0x6170_7065_6e76_6d69;

/// How often a waiting migrator logs who holds the lock.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// A held lock.
#[derive(Debug)]
pub(crate) struct Held {
    /// How long acquiring it took.
    pub(crate) waited: Duration,
    /// The `GET_LOCK` name on MySQL/MariaDB.
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    mysql_name: Option<String>,
    /// The locked lock file of a SQLite database.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    sqlite_file: Option<std::fs::File>,
}

/// The lock file of a SQLite database: `{database}-migrate.lock` beside it.
pub fn sqlite_lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-migrate.lock");
    PathBuf::from(name)
}

/// The wait of one `acquire`: its deadline and the holder's periodic report.
struct Wait {
    start: Instant,
    deadline: Instant,
    timeout: Duration,
    poll: Duration,
    last_report: Option<Instant>,
}

impl Wait {
    fn new(timeout: Duration, poll: Duration) -> Wait {
        let start = Instant::now();
        Wait {
            start,
            deadline: start + timeout,
            timeout,
            poll,
            last_report: None,
        }
    }

    /// The lock, taken now.
    fn held(&self, mysql_name: Option<String>, sqlite_file: Option<std::fs::File>) -> Held {
        Held {
            waited: self.start.elapsed(),
            mysql_name,
            sqlite_file,
        }
    }

    /// After a failed try: fails with [`Error::LockTimeout`] naming the
    /// holder once the deadline has passed; otherwise reports the holder
    /// (at most every [`REPORT_EVERY`]) and, when `sleep`, waits one poll
    /// interval (never past the deadline).
    async fn retry(&mut self, holder: Option<String>, sleep: bool) -> Result<(), Error> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(Error::LockTimeout {
                waited: now - self.start,
                holder,
            });
        }
        if self
            .last_report
            .is_none_or(|t| now.duration_since(t) >= REPORT_EVERY)
        {
            self.last_report = Some(now);
            tracing::warn!(
                holder = holder.as_deref().unwrap_or("unknown"),
                waited_ms = now.duration_since(self.start).as_millis() as u64,
                timeout_ms = self.timeout.as_millis() as u64,
                "waiting for the migration lock held by another migrator"
            );
        }
        if sleep {
            tokio::time::sleep(self.poll.min(self.deadline - now)).await;
        }
        Ok(())
    }
}

#[cfg_attr(not(feature = "sqlite"), allow(unused_variables))]
pub(crate) async fn acquire(
    conn: &mut Conn,
    sqlite_file: Option<&Path>,
    timeout: Duration,
    poll: Duration,
) -> Result<Held, Error> {
    let wait = Wait::new(timeout, poll);
    match conn {
        #[cfg(feature = "postgres")]
        Conn::Postgres(c) => acquire_postgres(c, wait).await,
        #[cfg(feature = "mysql")]
        Conn::MySql(c) => acquire_mysql(c, wait).await,
        #[cfg(feature = "sqlite")]
        Conn::Sqlite(c) => acquire_sqlite(c, sqlite_file, wait).await,
    }
}

#[cfg(feature = "postgres")]
async fn acquire_postgres(c: &mut sqlx::PgConnection, mut wait: Wait) -> Result<Held, Error> {
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(PG_LOCK_KEY)
            .fetch_one(&mut *c)
            .await
            .map_err(Error::db("taking the migration advisory lock"))?;
        if got {
            return Ok(wait.held(None, None));
        }
        wait.retry(pg_holder(c).await, true).await?;
    }
}

#[cfg(feature = "mysql")]
async fn acquire_mysql(c: &mut sqlx::MySqlConnection, mut wait: Wait) -> Result<Held, Error> {
    let name: String =
        sqlx::query_scalar("SELECT CONCAT('appenv_migrate:', COALESCE(DATABASE(), ''))")
            .fetch_one(&mut *c)
            .await
            .map_err(Error::db("naming the migration lock"))?;
    loop {
        let remaining = wait.deadline.saturating_duration_since(Instant::now());
        // GET_LOCK waits in whole seconds; wait in slices so the holder can
        // be reported, and never less than a try.
        let slice = remaining.min(Duration::from_secs(5)).as_secs();
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
            .bind(&name)
            .bind(slice as i64)
            .fetch_one(&mut *c)
            .await
            .map_err(Error::db("taking the migration lock with GET_LOCK"))?;
        match got {
            Some(1) => return Ok(wait.held(Some(name), None)),
            Some(_) => {}
            None => {
                return Err(Error::LockLost {
                    detail: format!("GET_LOCK('{name}') returned NULL"),
                });
            }
        }
        // A try that waited a slice already spent it.
        wait.retry(mysql_holder(c, &name).await, slice == 0).await?;
    }
}

#[cfg(feature = "sqlite")]
async fn acquire_sqlite(
    c: &mut sqlx::SqliteConnection,
    sqlite_file: Option<&Path>,
    mut wait: Wait,
) -> Result<Held, Error> {
    // Writers of the running service may hold SQLite's write lock briefly;
    // wait for them as long as for another migrator.
    let busy = wait.timeout.as_millis().clamp(100, i32::MAX as u128);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {busy}")))
        .execute(&mut *c)
        .await
        .map_err(Error::db("setting the SQLite busy timeout"))?;
    let Some(db_path) = sqlite_file else {
        return Ok(wait.held(None, None));
    };
    let path = sqlite_lock_path(db_path);
    let io = |source| Error::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    loop {
        match file.try_lock() {
            Ok(()) => {
                let me = format!(
                    "pid {} on host {}",
                    std::process::id(),
                    crate::audit::host_name()
                );
                file.set_len(0).map_err(io)?;
                file.rewind().map_err(io)?;
                file.write_all(me.as_bytes()).map_err(io)?;
                return Ok(wait.held(None, Some(file)));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                wait.retry(Some(sqlite_holder(&path)), true).await?;
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
        }
    }
}

/// Who holds a SQLite database's lock file, as its holder wrote it.
#[cfg(feature = "sqlite")]
fn sqlite_holder(path: &Path) -> String {
    let mut text = String::new();
    let _ = std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    if text.trim().is_empty() {
        format!("another migrator (lock file {})", path.display())
    } else {
        format!("{} (lock file {})", text.trim(), path.display())
    }
}

/// Releases the lock (the caller closes the connection afterwards anyway).
#[cfg_attr(
    not(any(feature = "mysql", feature = "sqlite")),
    allow(unused_variables)
)]
pub(crate) async fn release(conn: &mut Conn, held: Held) -> Result<(), Error> {
    match conn {
        #[cfg(feature = "postgres")]
        Conn::Postgres(c) => {
            let released: bool = sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
                .bind(PG_LOCK_KEY)
                .fetch_one(&mut *c)
                .await
                .map_err(Error::db("releasing the migration advisory lock"))?;
            if !released {
                return Err(Error::LockLost {
                    detail: "pg_advisory_unlock returned false".into(),
                });
            }
        }
        #[cfg(feature = "mysql")]
        Conn::MySql(c) => {
            let name = held.mysql_name.unwrap_or_default();
            let released: Option<i64> = sqlx::query_scalar("SELECT RELEASE_LOCK(?)")
                .bind(&name)
                .fetch_one(&mut *c)
                .await
                .map_err(Error::db("releasing the migration lock"))?;
            if released != Some(1) {
                return Err(Error::LockLost {
                    detail: format!("RELEASE_LOCK('{name}') returned {released:?}"),
                });
            }
        }
        #[cfg(feature = "sqlite")]
        Conn::Sqlite(_) => {
            if let Some(file) = held.sqlite_file {
                // Emptied first, so a waiter never reports a finished holder.
                let _ = file.set_len(0);
                let _ = file.unlock();
            }
        }
    }
    Ok(())
}

/// Whether another migrator holds the lock right now (read-only: the lock
/// is not taken).
#[cfg_attr(not(feature = "sqlite"), allow(unused_variables))]
pub(crate) async fn held_elsewhere(
    conn: &mut Conn,
    sqlite_file: Option<&Path>,
) -> Result<bool, Error> {
    match conn {
        #[cfg(feature = "postgres")]
        Conn::Postgres(c) => sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks l \
             WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid() \
               AND l.classid = ($1 >> 32)::oid AND l.objid = ($1 & 4294967295)::oid AND l.objsubid = 1 \
               AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))",
        )
        .bind(PG_LOCK_KEY)
        .fetch_one(&mut *c)
        .await
        .map_err(Error::db("reading the migration lock's holder")),
        #[cfg(feature = "mysql")]
        Conn::MySql(c) => {
            let holder: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(IS_USED_LOCK(CONCAT('appenv_migrate:', COALESCE(DATABASE(), ''))) AS SIGNED)",
            )
            .fetch_one(&mut *c)
            .await
            .map_err(Error::db("reading the migration lock's holder"))?;
            Ok(holder.is_some())
        }
        #[cfg(feature = "sqlite")]
        Conn::Sqlite(_) => {
            let Some(db) = sqlite_file else {
                return Ok(false);
            };
            let Ok(file) = std::fs::File::open(sqlite_lock_path(db)) else {
                return Ok(false);
            };
            Ok(match file.try_lock_shared() {
                Ok(()) => {
                    let _ = file.unlock();
                    false
                }
                Err(std::fs::TryLockError::WouldBlock) => true,
                Err(std::fs::TryLockError::Error(_)) => false,
            })
        }
    }
}

#[cfg(feature = "postgres")]
async fn pg_holder(c: &mut sqlx::PgConnection) -> Option<String> {
    type HolderRow = (i32, Option<String>, Option<String>, Option<String>);
    let row: Option<HolderRow> = sqlx::query_as(
        "SELECT a.pid, a.application_name, host(a.client_addr), a.usename::text \
         FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted \
           AND l.classid = ($1 >> 32)::oid AND l.objid = ($1 & 4294967295)::oid AND l.objsubid = 1 \
           AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) \
         LIMIT 1",
    )
    .bind(PG_LOCK_KEY)
    .fetch_optional(&mut *c)
    .await
    .ok()
    .flatten();
    row.map(|(pid, app, addr, user)| {
        format!(
            "pid {pid}, application_name '{}', client {}, user {}",
            app.unwrap_or_default(),
            addr.unwrap_or_else(|| "local socket".into()),
            user.unwrap_or_else(|| "?".into())
        )
    })
}

#[cfg(feature = "mysql")]
async fn mysql_holder(c: &mut sqlx::MySqlConnection, name: &str) -> Option<String> {
    let id: Option<i64> = sqlx::query_scalar("SELECT CAST(IS_USED_LOCK(?) AS SIGNED)")
        .bind(name)
        .fetch_one(&mut *c)
        .await
        .ok()
        .flatten();
    let id = id?;
    let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT CAST(USER AS CHAR), CAST(HOST AS CHAR) FROM information_schema.PROCESSLIST WHERE ID = ?",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await
    .ok()
    .flatten();
    Some(match row {
        Some((user, host)) => format!(
            "connection {id}, user {}, host {}",
            user.unwrap_or_default(),
            host.unwrap_or_default()
        ),
        None => format!("connection {id}"),
    })
}
