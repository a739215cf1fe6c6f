//! The migration set of the migration benches.

/// How many migrations a full run applies.
pub const MIGRATION_COUNT: usize = 500;

/// `count` small migrations as `(file name, SQL)`, valid on SQLite and
/// PostgreSQL: odd versions create a table, even versions add a nullable
/// column to the table before (nothing the destructive-change lint flags).
pub fn small_migrations(count: usize) -> Vec<(String, String)> {
    (1..=count)
        .map(|version| {
            let sql = if version % 2 == 1 {
                format!("CREATE TABLE t{version} (id INTEGER PRIMARY KEY, name TEXT NOT NULL);")
            } else {
                format!("ALTER TABLE t{} ADD COLUMN note TEXT;", version - 1)
            };
            (format!("V{version}__step_{version}.sql"), sql)
        })
        .collect()
}
