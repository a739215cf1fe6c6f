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
//! - SQLite: `BEGIN IMMEDIATE`, retried until the deadline; the whole run
//!   happens inside that transaction.
//!
//! Closing the connection releases the lock whatever happened, which is why
//! the lock connection is never a pooled one.

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
    mysql_name: Option<String>,
}

pub(crate) async fn acquire(
    conn: &mut Conn,
    timeout: Duration,
    poll: Duration,
) -> Result<Held, Error> {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut last_report: Option<Instant> = None;
    let mut report = |holder: &Option<String>, now: Instant| {
        if last_report.is_none_or(|t| now.duration_since(t) >= REPORT_EVERY) {
            last_report = Some(now);
            tracing::warn!(
                holder = holder.as_deref().unwrap_or("unknown"),
                waited_ms = now.duration_since(start).as_millis() as u64,
                timeout_ms = timeout.as_millis() as u64,
                "waiting for the migration lock held by another migrator"
            );
        }
    };
    match conn {
        Conn::Postgres(c) => loop {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(PG_LOCK_KEY)
                .fetch_one(&mut *c)
                .await
                .map_err(Error::db("taking the migration advisory lock"))?;
            if got {
                return Ok(Held {
                    waited: start.elapsed(),
                    mysql_name: None,
                });
            }
            let holder = pg_holder(c).await;
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::LockTimeout {
                    waited: now - start,
                    holder,
                });
            }
            report(&holder, now);
            tokio::time::sleep(poll.min(deadline - now)).await;
        },
        Conn::MySql(c) => {
            let name: String =
                sqlx::query_scalar("SELECT CONCAT('appenv_migrate:', COALESCE(DATABASE(), ''))")
                    .fetch_one(&mut *c)
                    .await
                    .map_err(Error::db("naming the migration lock"))?;
            loop {
                let now = Instant::now();
                let remaining = deadline.saturating_duration_since(now);
                // GET_LOCK waits in whole seconds; wait in slices so the
                // holder can be reported, and never less than a try.
                let slice = remaining.min(Duration::from_secs(5)).as_secs();
                let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
                    .bind(&name)
                    .bind(slice as i64)
                    .fetch_one(&mut *c)
                    .await
                    .map_err(Error::db("taking the migration lock with GET_LOCK"))?;
                match got {
                    Some(1) => {
                        return Ok(Held {
                            waited: start.elapsed(),
                            mysql_name: Some(name),
                        });
                    }
                    Some(_) => {}
                    None => {
                        return Err(Error::LockLost {
                            detail: format!("GET_LOCK('{name}') returned NULL"),
                        });
                    }
                }
                let holder = mysql_holder(c, &name).await;
                let now = Instant::now();
                if now >= deadline {
                    return Err(Error::LockTimeout {
                        waited: now - start,
                        holder,
                    });
                }
                report(&holder, now);
                if slice == 0 {
                    tokio::time::sleep(poll.min(deadline - now)).await;
                }
            }
        }
        Conn::Sqlite(c) => {
            sqlx::raw_sql("PRAGMA busy_timeout = 100")
                .execute(&mut *c)
                .await
                .map_err(Error::db("setting the SQLite busy timeout"))?;
            loop {
                match sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *c).await {
                    Ok(_) => {
                        return Ok(Held {
                            waited: start.elapsed(),
                            mysql_name: None,
                        });
                    }
                    Err(err) if is_sqlite_busy(&err) => {
                        let now = Instant::now();
                        let holder =
                            Some("another SQLite connection (SQLite cannot tell which)".to_owned());
                        if now >= deadline {
                            return Err(Error::LockTimeout {
                                waited: now - start,
                                holder,
                            });
                        }
                        report(&holder, now);
                        tokio::time::sleep(poll.min(deadline - now)).await;
                    }
                    Err(err) => {
                        return Err(Error::Database {
                            context: "taking the migration lock with BEGIN IMMEDIATE".into(),
                            source: err,
                        });
                    }
                }
            }
        }
    }
}

fn is_sqlite_busy(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            // SQLITE_BUSY = 5, SQLITE_LOCKED = 6 (extended codes keep the low byte).
            db.code()
                .and_then(|c| c.parse::<i64>().ok())
                .is_some_and(|c| matches!(c & 0xff, 5 | 6))
        }
        _ => false,
    }
}

/// Releases the lock (the caller closes the connection afterwards anyway).
pub(crate) async fn release(conn: &mut Conn, held: Held) -> Result<(), Error> {
    match conn {
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
        Conn::Sqlite(c) => {
            sqlx::raw_sql("COMMIT")
                .execute(&mut *c)
                .await
                .map_err(Error::db("committing the SQLite migration transaction"))?;
        }
    }
    Ok(())
}

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
