//! refinery-core's async traits implemented over a sqlx connection.
//!
//! appenv reads refinery's history through these traits (refinery's own
//! queries, so both read the same rows) and applies migrations itself
//! (see `apply`), statement by statement, writing the history rows in
//! refinery's format. `execute` runs what it is given in one transaction,
//! as refinery expects of a driver.

use refinery_core::Migration;
use refinery_core::traits::r#async::{AsyncMigrate, AsyncQuery, AsyncTransaction};
use sqlx::{AssertSqlSafe, Connection, Row};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::backend::{Conn, on_conn};

/// A refinery driver over the run's dedicated connection.
#[derive(Debug)]
pub(crate) struct Driver<'c> {
    conn: &'c mut Conn,
}

impl<'c> Driver<'c> {
    pub(crate) fn new(conn: &'c mut Conn) -> Driver<'c> {
        Driver { conn }
    }
}

fn raw(sql: &str) -> sqlx::RawSql {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
}

async fn execute_all(driver: &mut Driver<'_>, queries: Vec<&str>) -> Result<usize, sqlx::Error> {
    let count = queries.len();
    on_conn!(&mut *driver.conn, c => {
        let mut tx = c.begin().await?;
        for q in queries {
            raw(q).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(count)
}

impl AsyncTransaction for Driver<'_> {
    type Error = sqlx::Error;

    async fn execute<'a, T: Iterator<Item = &'a str> + Send + 'a>(
        &'a mut self,
        queries: T,
    ) -> Result<usize, Self::Error> {
        let queries: Vec<&'a str> = queries.collect();
        execute_all(self, queries).await
    }
}

fn decode_err(message: String) -> sqlx::Error {
    sqlx::Error::Decode(message.into())
}

fn to_migration(
    version: i64,
    name: String,
    applied_on: String,
    checksum: String,
) -> Result<Migration, sqlx::Error> {
    let applied_on = OffsetDateTime::parse(&applied_on, &Rfc3339).map_err(|err| {
        decode_err(format!(
            "refinery_schema_history version {version}: applied_on `{applied_on}` is not RFC 3339: {err}"
        ))
    })?;
    let checksum = checksum.parse::<u64>().map_err(|err| {
        decode_err(format!(
            "refinery_schema_history version {version}: checksum `{checksum}` is not a u64: {err}"
        ))
    })?;
    let version = version.try_into().map_err(|_| {
        decode_err(format!(
            "refinery_schema_history version {version} does not fit refinery's version type"
        ))
    })?;
    Ok(Migration::applied(version, name, applied_on, checksum))
}

impl AsyncQuery<Vec<Migration>> for Driver<'_> {
    async fn query<'a>(&'a mut self, query: &'a str) -> Result<Vec<Migration>, Self::Error> {
        // Read through a subquery so every backend hands back the same
        // column types, whatever integer width the history table uses.
        let rows = on_conn!(&mut *self.conn, c => {
            let rows = raw(query).fetch_all(&mut *c).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let version: i64 = match row.try_get::<i64, _>(0) {
                    Ok(v) => v,
                    Err(_) => i64::from(row.try_get::<i32, _>(0)?),
                };
                let name: Option<String> = row.try_get(1)?;
                let applied_on: Option<String> = row.try_get(2)?;
                let checksum: Option<String> = row.try_get(3)?;
                out.push((version, name.unwrap_or_default(), applied_on.unwrap_or_default(), checksum.unwrap_or_default()));
            }
            out
        });
        rows.into_iter()
            .map(|(v, n, a, c)| to_migration(v, n, a, c))
            .collect()
    }
}

impl AsyncMigrate for Driver<'_> {}
