//! refinery-core's async traits implemented over a sqlx connection.
//!
//! appenv reads refinery's history through these traits (refinery's own
//! queries, so both read the same rows; on SQLite the query's rows come
//! back folded into one JSON row, see `sqlite_rows`) and applies migrations itself
//! (see `apply`), statement by statement, writing the history rows in
//! refinery's format. `execute` runs what it is given in one transaction,
//! as refinery expects of a driver.

use refinery_core::Migration;
use refinery_core::traits::r#async::{AsyncMigrate, AsyncQuery, AsyncTransaction};
#[cfg(any(feature = "postgres", feature = "mysql"))]
use sqlx::Row;
use sqlx::{AssertSqlSafe, Connection};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::backend::{Conn, on_conn};
#[cfg(feature = "sqlite")]
use crate::status::AppliedMigration;

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

/// A history row's checksum as refinery's `u64` and its version as
/// refinery's version type, or the decode error naming the row.
fn checked(version: i64, checksum: &str) -> Result<(i32, u64), sqlx::Error> {
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
    Ok((version, checksum))
}

/// A history row's `applied_on` as a time, or the decode error naming the
/// row (refinery writes RFC 3339).
fn applied_at(version: i64, applied_on: &str) -> Result<OffsetDateTime, sqlx::Error> {
    OffsetDateTime::parse(applied_on, &Rfc3339).map_err(|err| {
        decode_err(format!(
            "refinery_schema_history version {version}: applied_on `{applied_on}` is not RFC 3339: {err}"
        ))
    })
}

fn to_migration(
    version: i64,
    name: String,
    applied_on: String,
    checksum: String,
) -> Result<Migration, sqlx::Error> {
    let (refinery_version, checksum) = checked(version, &checksum)?;
    let applied_on = applied_at(version, &applied_on)?;
    Ok(Migration::applied(
        refinery_version,
        name,
        applied_on,
        checksum,
    ))
}

impl AsyncQuery<Vec<Migration>> for Driver<'_> {
    async fn query<'a>(&'a mut self, query: &'a str) -> Result<Vec<Migration>, Self::Error> {
        let rows = match &mut *self.conn {
            #[cfg(feature = "sqlite")]
            Conn::Sqlite(c) => sqlite_rows(c, query).await?,
            #[cfg(feature = "postgres")]
            Conn::Postgres(c) => rows_of(raw(query).fetch_all(&mut *c).await?)?,
            #[cfg(feature = "mysql")]
            Conn::MySql(c) => rows_of(raw(query).fetch_all(&mut *c).await?)?,
        };
        rows.into_iter()
            .map(|(v, n, a, c)| to_migration(v, n, a, c))
            .collect()
    }
}

/// One history row as read: version, name, applied_on, checksum.
type HistoryRow = (i64, String, String, String);

/// The rows of refinery's query, whatever integer width the history
/// table's version column has.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn rows_of<R: Row>(rows: Vec<R>) -> Result<Vec<HistoryRow>, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Type<R::Database> + for<'r> sqlx::Decode<'r, R::Database>,
    i32: sqlx::Type<R::Database> + for<'r> sqlx::Decode<'r, R::Database>,
    String: sqlx::Type<R::Database> + for<'r> sqlx::Decode<'r, R::Database>,
{
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let version: i64 = match row.try_get::<i64, _>(0) {
            Ok(v) => v,
            Err(_) => i64::from(row.try_get::<i32, _>(0)?),
        };
        let name: Option<String> = row.try_get(1)?;
        let applied_on: Option<String> = row.try_get(2)?;
        let checksum: Option<String> = row.try_get(3)?;
        out.push((
            version,
            name.unwrap_or_default(),
            applied_on.unwrap_or_default(),
            checksum.unwrap_or_default(),
        ));
    }
    Ok(out)
}

/// refinery's query on SQLite, its rows folded into one JSON array.
///
/// sqlx hands each SQLite row from its worker thread to the caller with
/// several allocations per column, which made reading a history of 500
/// rows most of a startup verify's time; one row of JSON costs a fraction
/// of that. The rows are refinery's own (its query is the subquery), put
/// back in version order here.
#[cfg(feature = "sqlite")]
async fn sqlite_rows(
    c: &mut sqlx::SqliteConnection,
    query: &str,
) -> Result<Vec<HistoryRow>, sqlx::Error> {
    let doc: String = sqlx::query_scalar(AssertSqlSafe(fold_sqlite(query)))
        .fetch_one(&mut *c)
        .await?;
    rows_of_json(&doc)
}

/// `query` as one row: a JSON array of its rows.
#[cfg(feature = "sqlite")]
fn fold_sqlite(query: &str) -> String {
    format!(
        "SELECT json_group_array(json_array(version, name, applied_on, checksum)) FROM ({})",
        query.trim().trim_end_matches(';')
    )
}

/// The status read's one statement on SQLite: the probe's answers and the
/// history together. `Ok(None)` when refinery's history is not a table
/// (absent, or a view of that name): the caller then takes the two-step
/// path. Every other error is returned as it is, so a busy database is
/// waited for once, not again by a fallback.
#[cfg(feature = "sqlite")]
pub(crate) async fn sqlite_probe_and_history(
    c: &mut sqlx::SqliteConnection,
) -> Result<Option<(crate::backend::Probe, Vec<AppliedMigration>)>, sqlx::Error> {
    let table = crate::history::HISTORY_TABLE;
    let sql = format!(
        "SELECT ({}), \
           EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{table}'), \
           EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'appenv_migration_state')",
        fold_sqlite(&format!(
            "SELECT version, name, applied_on, checksum FROM {table} ORDER BY version ASC"
        ))
    );
    let read: Result<(String, bool, bool), sqlx::Error> =
        sqlx::query_as(AssertSqlSafe(sql)).fetch_one(&mut *c).await;
    let (doc, history, state) = match read {
        Ok(row) => row,
        Err(sqlx::Error::Database(err)) if err.message().starts_with("no such table") => {
            return Ok(None);
        }
        Err(err) => return Err(err),
    };
    if !history {
        return Ok(None);
    }
    let applied = rows_of_json(&doc)?
        .into_iter()
        .map(|(version, name, applied_on, checksum)| {
            // What `to_migration` checks, without the round trip through
            // refinery's `Migration` (its time parsed, then formatted back).
            checked(version, &checksum)?;
            applied_at(version, &applied_on)?;
            Ok(AppliedMigration {
                file: format!("V{version}__{name}.sql"),
                version,
                name,
                applied_on,
                checksum,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let probe = crate::backend::Probe {
        history,
        state,
        invalid_indexes: false,
    };
    Ok(Some((probe, applied)))
}

/// The rows of a [`fold_sqlite`] document, in version order.
#[cfg(feature = "sqlite")]
fn rows_of_json(doc: &str) -> Result<Vec<HistoryRow>, sqlx::Error> {
    // refinery writes text for every column but the version; a table
    // written by hand may hold numbers there, read through `Value`.
    type Typed = (i64, Option<String>, Option<String>, Option<String>);
    if let Ok(typed) = serde_json::from_str::<Vec<Typed>>(doc) {
        let mut rows: Vec<HistoryRow> = typed
            .into_iter()
            .map(|(v, n, a, c)| {
                (
                    v,
                    n.unwrap_or_default(),
                    a.unwrap_or_default(),
                    c.unwrap_or_default(),
                )
            })
            .collect();
        rows.sort_by_key(|r| r.0);
        return Ok(rows);
    }
    let values: Vec<[serde_json::Value; 4]> = serde_json::from_str(doc)
        .map_err(|err| decode_err(format!("refinery_schema_history as JSON: {err}")))?;
    // Integers only: a REAL (a checksum above 2^63 in a NUMERIC column)
    // would round to another number and read as an edited migration.
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Null => Ok(String::new()),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        other => Err(decode_err(format!(
            "refinery_schema_history: {other} is neither text nor an integer"
        ))),
    };
    let mut rows = Vec::with_capacity(values.len());
    for [version, name, applied_on, checksum] in &values {
        let version = version.as_i64().ok_or_else(|| {
            decode_err(format!(
                "refinery_schema_history: version {version} is not an integer"
            ))
        })?;
        rows.push((version, text(name)?, text(applied_on)?, text(checksum)?));
    }
    rows.sort_by_key(|r| r.0);
    Ok(rows)
}

impl AsyncMigrate for Driver<'_> {}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::rows_of_json;

    #[test]
    fn a_history_document_reads_in_version_order_whatever_its_column_types() {
        let written_by_refinery =
            r#"[[2,"b","2026-12-01T00:00:00Z","7"],[1,"a","2026-11-30T00:00:00Z","5"]]"#;
        let rows = rows_of_json(written_by_refinery).unwrap();
        assert_eq!(rows[0].0, 1);
        assert_eq!(rows[1].1, "b");
        // A hand-made table with a numeric checksum and a NULL name.
        let by_hand = r#"[[3,null,"2026-12-01T00:00:00Z",12345678901234567]]"#;
        let rows = rows_of_json(by_hand).unwrap();
        assert_eq!(
            rows[0],
            (
                3,
                String::new(),
                "2026-12-01T00:00:00Z".to_owned(),
                "12345678901234567".to_owned()
            )
        );
        let err = rows_of_json(r#"[["x","a","t","1"]]"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("version \"x\" is not an integer"), "{err}");
        // A rounded REAL is refused, not read as another checksum.
        let real = r#"[[4,"d","t",1.2345678901234567e19]]"#;
        let err = rows_of_json(real).unwrap_err().to_string();
        assert!(err.contains("neither text nor an integer"), "{err}");
        // Quotes and non-ASCII names survive the JSON fold.
        let quoted = r#"[[5,"it's \"ü\"","t","9"]]"#;
        assert_eq!(rows_of_json(quoted).unwrap()[0].1, "it's \"ü\"");
    }
}
