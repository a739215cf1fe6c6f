//! The migration set a binary carries: from `embed_migrations!` or a
//! directory, with the `-- appenv:` annotations read from each file.

use std::path::{Path, PathBuf};

use refinery_core::{Migration, MigrationType, Runner};

use crate::error::Error;

/// First-line annotation that runs a migration outside a transaction.
pub const NO_TRANSACTION: &str = "-- appenv:no-transaction";
/// Annotation that allows a migration the lint flags, with a reason.
pub const ALLOW_DESTRUCTIVE: &str = "-- appenv:allow-destructive";

/// One migration file.
#[derive(Debug, Clone)]
pub struct MigrationFile {
    migration: Migration,
    file: String,
    path: Option<PathBuf>,
    sql: String,
}

impl MigrationFile {
    /// Builds a migration from its file name (`V1__create_users.sql`, the
    /// `.sql` suffix optional) and SQL.
    pub fn new(file_name: &str, sql: impl Into<String>) -> Result<MigrationFile, Error> {
        let sql = sql.into();
        let stem = file_name.strip_suffix(".sql").unwrap_or(file_name);
        let migration =
            Migration::unapplied(stem, &sql).map_err(|err| Error::InvalidMigration {
                file: file_name.to_owned(),
                message: err.to_string(),
            })?;
        Ok(MigrationFile {
            file: format!("{stem}.sql"),
            migration,
            path: None,
            sql,
        })
    }

    fn from_refinery(migration: &Migration) -> MigrationFile {
        let sql = migration.sql().unwrap_or_default().to_owned();
        MigrationFile {
            file: file_name_of(migration),
            migration: migration.clone(),
            path: None,
            sql,
        }
    }

    /// The version.
    pub fn version(&self) -> i64 {
        i64::from(self.migration.version())
    }

    /// The name part (`create_users`).
    pub fn name(&self) -> &str {
        self.migration.name()
    }

    /// The file name (`V1__create_users.sql`).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Where the file was read from, for directory migrations.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The SQL.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// refinery's checksum (SipHash-1-3 of name, version and SQL).
    pub fn checksum(&self) -> u64 {
        self.migration.checksum()
    }

    /// `true` when the first line is `-- appenv:no-transaction`.
    pub fn no_transaction(&self) -> bool {
        is_no_transaction(&self.sql)
    }

    /// The reason given by `-- appenv:allow-destructive <reason>`, if the
    /// file carries that annotation.
    pub fn allow_destructive(&self) -> Option<&str> {
        allow_destructive_reason(&self.sql)
    }

    #[cfg(test)]
    pub(crate) fn refinery(&self) -> &Migration {
        &self.migration
    }
}

/// refinery's file name for a migration: `V{version}__{name}.sql`.
pub(crate) fn file_name_of(migration: &Migration) -> String {
    format!(
        "{}{}__{}.sql",
        migration.prefix(),
        migration.version(),
        migration.name()
    )
}

pub(crate) fn is_no_transaction(sql: &str) -> bool {
    sql.lines()
        .next()
        .is_some_and(|line| line.trim() == NO_TRANSACTION)
}

pub(crate) fn allow_destructive_reason(sql: &str) -> Option<&str> {
    sql.lines().find_map(|line| {
        line.trim()
            .strip_prefix(ALLOW_DESTRUCTIVE)
            .map(str::trim)
            .filter(|reason| !reason.is_empty())
    })
}

/// The migrations this binary knows, sorted by version.
#[derive(Debug, Clone, Default)]
pub struct Migrations {
    files: Vec<MigrationFile>,
}

impl Migrations {
    /// The migrations of an `embed_migrations!` runner:
    ///
    /// ```
    /// use appenv_migrate::Migrations;
    ///
    /// mod embedded {
    ///     refinery::embed_migrations!("tests/migrations");
    /// }
    /// let migrations = Migrations::embedded(&embedded::migrations::runner());
    /// assert!(!migrations.is_empty());
    /// ```
    pub fn embedded(runner: &Runner) -> Migrations {
        Migrations::from_refinery(runner.get_migrations())
    }

    /// Wraps refinery migrations.
    pub fn from_refinery<'a>(migrations: impl IntoIterator<Item = &'a Migration>) -> Migrations {
        let mut files: Vec<_> = migrations
            .into_iter()
            .map(MigrationFile::from_refinery)
            .collect();
        files.sort_by_key(MigrationFile::version);
        Migrations { files }
    }

    /// Builds the set from files already in memory.
    pub fn from_files(files: impl IntoIterator<Item = MigrationFile>) -> Migrations {
        let mut files: Vec<_> = files.into_iter().collect();
        files.sort_by_key(MigrationFile::version);
        Migrations { files }
    }

    /// Reads `V{n}__{name}.sql` (and `U{n}__…`) files from `dir` and its
    /// sub-directories, as refinery's `load_sql_migrations` does.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Migrations, Error> {
        let dir = dir.as_ref();
        let io_err = |source| Error::Io {
            path: dir.to_path_buf(),
            source,
        };
        if !dir.is_dir() {
            return Err(io_err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not a directory",
            )));
        }
        let paths = refinery_core::find_migration_files(dir, MigrationType::Sql)
            .map_err(|err| io_err(std::io::Error::other(err.to_string())))?;
        let mut files = Vec::new();
        for path in paths {
            let sql = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            let mut file = MigrationFile::new(&name, sql)?;
            file.path = Some(path);
            files.push(file);
        }
        let migrations = Migrations::from_files(files);
        if let Some(pair) = migrations
            .files
            .windows(2)
            .find(|w| w[0].version() == w[1].version())
        {
            return Err(Error::InvalidMigration {
                file: pair[1].file.clone(),
                message: format!(
                    "version {} is also used by {}",
                    pair[0].version(),
                    pair[0].file
                ),
            });
        }
        Ok(migrations)
    }

    /// The migrations, by version.
    pub fn iter(&self) -> impl Iterator<Item = &MigrationFile> {
        self.files.iter()
    }

    /// Number of migrations.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// `true` when there are none.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The migration with `version`.
    pub fn get(&self, version: i64) -> Option<&MigrationFile> {
        self.files.iter().find(|f| f.version() == version)
    }

    pub(crate) fn refinery(&self) -> Vec<Migration> {
        self.files.iter().map(|f| f.migration.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_read() {
        let f = MigrationFile::new(
            "V2__idx.sql",
            "-- appenv:no-transaction\n-- appenv:allow-destructive backfilled in V1\nCREATE INDEX CONCURRENTLY i ON t (a);",
        )
        .unwrap();
        assert!(f.no_transaction());
        assert_eq!(f.allow_destructive(), Some("backfilled in V1"));
        assert_eq!(f.file(), "V2__idx.sql");
        assert_eq!(f.version(), 2);

        let g = MigrationFile::new(
            "V3__x",
            "SELECT 1;\n-- appenv:no-transaction\n-- appenv:allow-destructive",
        )
        .unwrap();
        assert!(!g.no_transaction(), "only the first line counts");
        assert_eq!(g.allow_destructive(), None, "a reason is required");
    }

    #[test]
    fn bad_names_are_rejected_with_the_file() {
        let err = MigrationFile::new("create_users.sql", "SELECT 1").unwrap_err();
        assert!(err.to_string().contains("create_users.sql"), "{err}");
    }
}
