//! refinery's history table, written the way refinery's drivers write it.

use refinery_core::traits::r#async::AsyncMigrate;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::backend::Conn;
use crate::driver::Driver;
use crate::error::Error;
use crate::source::MigrationFile;
use crate::status::Status;

/// refinery's history table.
pub(crate) const HISTORY_TABLE: &str = "refinery_schema_history";

/// Creates refinery's history table (refinery's own DDL) when absent.
pub(crate) async fn ensure_history(conn: &mut Conn, status: &Status) -> Result<(), Error> {
    if status.history_table || conn.history_exists().await? {
        return Ok(());
    }
    let sql = <Driver<'_> as AsyncMigrate>::assert_migrations_table_query(HISTORY_TABLE);
    conn.run(&sql)
        .await
        .map_err(Error::db("creating refinery_schema_history"))
}

/// refinery's history row for `file`, applied now (the same INSERT
/// refinery's drivers write).
pub(crate) fn history_insert(file: &MigrationFile) -> String {
    let applied_on = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    format!(
        "INSERT INTO {HISTORY_TABLE} (version, name, applied_on, checksum) VALUES ({}, '{}', '{}', '{}')",
        file.version(),
        file.name().replace('\'', "''"),
        applied_on,
        file.checksum()
    )
}

pub(crate) fn history_delete(version: i64) -> String {
    format!("DELETE FROM {HISTORY_TABLE} WHERE version = {version}")
}
