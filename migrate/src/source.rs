//! The migration set a binary carries: from `embed_migrations!` or a
//! directory, with the `-- appenv:` annotations read from each file.

use std::path::{Path, PathBuf};

use refinery_core::{Migration, MigrationType, Runner};

use crate::error::Error;

/// First-line annotation that runs a migration outside a transaction.
pub const NO_TRANSACTION: &str = "-- appenv:no-transaction";
/// Comment annotation, directly before a statement, that allows one lint
/// rule for that statement: `-- appenv:allow <rule-id> <reason>`.
pub const ALLOW: &str = "-- appenv:allow";

/// One migration file.
#[derive(Debug, Clone)]
pub struct MigrationFile {
    migration: Migration,
    file: String,
    path: Option<PathBuf>,
    sql: String,
    undo: Option<String>,
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
            undo: None,
        })
    }

    fn from_refinery(migration: &Migration) -> MigrationFile {
        let sql = migration.sql().unwrap_or_default().to_owned();
        MigrationFile {
            file: file_name_of(migration),
            migration: migration.clone(),
            path: None,
            sql,
            undo: None,
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

    /// Adds the undo script (`V{n}__{name}.down.sql`) that `down` runs to
    /// revert this migration. It is not part of refinery's checksum.
    pub fn with_undo(mut self, sql: impl Into<String>) -> MigrationFile {
        self.undo = Some(sql.into());
        self
    }

    /// The undo script, if the migration has one.
    pub fn undo_sql(&self) -> Option<&str> {
        self.undo.as_deref()
    }

    /// The undo script's file name (`V3__add_x.down.sql`).
    pub fn undo_file(&self) -> String {
        undo_name(&self.file)
    }

    /// `true` when the undo script's first line is `-- appenv:no-transaction`.
    pub fn undo_no_transaction(&self) -> bool {
        self.undo.as_deref().is_some_and(is_no_transaction)
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

/// `V3__add_x.sql` → `V3__add_x.down.sql`.
fn undo_name(file: &str) -> String {
    format!("{}.down.sql", file.strip_suffix(".sql").unwrap_or(file))
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
        let mut migrations = Migrations::from_files(files);
        for path in undo_scripts(dir).map_err(io_err)? {
            let sql = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            migrations = migrations.with_undo(name, sql)?;
        }
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

    /// Attaches an undo script by its file name (`V3__add_x.down.sql`) to
    /// the migration it reverts, for migrations embedded with refinery's
    /// `embed_migrations!` (which ignores `.down.sql` files; see
    /// [`undo_scripts!`](crate::undo_scripts)). Fails when no migration of
    /// the set has that name.
    pub fn with_undo(
        mut self,
        file_name: &str,
        sql: impl Into<String>,
    ) -> Result<Migrations, Error> {
        let target = self.files.iter_mut().find(|f| f.undo_file() == file_name);
        match target {
            Some(f) => {
                f.undo = Some(sql.into());
                Ok(self)
            }
            None => Err(Error::InvalidMigration {
                file: file_name.to_owned(),
                message: format!(
                    "an undo script needs its migration `{}` beside it",
                    file_name.replace(".down.sql", ".sql")
                ),
            }),
        }
    }

    /// [`with_undo`](Migrations::with_undo) for several scripts.
    pub fn with_undo_scripts<'a>(
        self,
        scripts: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Migrations, Error> {
        scripts
            .into_iter()
            .try_fold(self, |m, (name, sql)| m.with_undo(name, sql))
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
}

/// `V{n}__{name}.down.sql` files under `dir` (refinery's pattern does not
/// match them, so refinery ignores them).
fn undo_scripts(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let Some(stem) = name.strip_suffix(".down.sql") else {
                continue;
            };
            let valid = stem
                .strip_prefix(['V', 'U'])
                .and_then(|rest| rest.split_once("__"))
                .is_some_and(|(v, n)| {
                    !v.is_empty()
                        && v.chars().all(|c| c.is_ascii_digit())
                        && !n.is_empty()
                        && n.chars().all(|c| c.is_alphanumeric() || c == '_')
                });
            if valid {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The migrations of a directory (relative to the crate root) compiled into
/// the binary, with their undo scripts (`V{n}__{name}.down.sql` beside
/// `V{n}__{name}.sql`): a `Result<Migrations, Error>`. The service depends
/// on appenv-migrate alone; the files are found as refinery's
/// `embed_migrations!` finds them (`V{n}__`/`U{n}__{name}.sql`, sub-directories
/// included) and their checksums are refinery's, so a database migrated by
/// either reads as current to the other.
///
/// An undo script without its migration and two files of one version are
/// compile errors. Editing a file rebuilds the crate; a file added to the
/// directory is picked up by the next build that recompiles the crate
/// (`cargo clean -p` or touching a source file), as with refinery.
///
/// ```
/// let migrations = appenv_migrate::embed_migrations!("tests/migrations")?;
/// assert_eq!(migrations.iter().map(|m| m.version()).collect::<Vec<_>>(), [1, 2, 3]);
/// assert!(migrations.get(3).unwrap().undo_sql().is_some());
/// # Ok::<(), appenv_migrate::Error>(())
/// ```
#[macro_export]
macro_rules! embed_migrations {
    ($dir:literal) => {
        $crate::__private::embedded($crate::__private::embed_files!($dir))
    };
}

/// What `embed_migrations!` expands to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use appenv_migrate_macros::embed_files;

    use super::{MigrationFile, Migrations};
    use crate::Error;

    /// The set from `(file name, SQL, undo SQL)` entries.
    pub fn embedded(files: &[(&str, &str, Option<&str>)]) -> Result<Migrations, Error> {
        let files = files
            .iter()
            .map(|(name, sql, undo)| {
                let file = MigrationFile::new(name, *sql)?;
                Ok(match undo {
                    Some(undo) => file.with_undo(*undo),
                    None => file,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Migrations::from_files(files))
    }
}

/// Undo scripts of an embedded migration set, read at compile time from a
/// directory relative to the crate root; pass the result to
/// [`Migrations::with_undo_scripts`]. refinery's `embed_migrations!` ignores
/// `.down.sql` files, so name each one:
///
/// ```
/// use appenv_migrate::Migrations;
///
/// mod embedded {
///     refinery::embed_migrations!("tests/migrations");
/// }
/// let migrations = Migrations::embedded(&embedded::migrations::runner())
///     .with_undo_scripts(appenv_migrate::undo_scripts!("tests/migrations": "V3__order_note.down.sql"))
///     .unwrap();
/// assert!(migrations.get(3).unwrap().undo_sql().is_some());
/// ```
#[macro_export]
macro_rules! undo_scripts {
    ($dir:literal : $($file:literal),* $(,)?) => {
        [$(($file, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $dir, "/", $file)))),*]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_read() {
        let f = MigrationFile::new(
            "V2__idx.sql",
            "-- appenv:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);",
        )
        .unwrap();
        assert!(f.no_transaction());
        assert_eq!(f.file(), "V2__idx.sql");
        assert_eq!(f.undo_file(), "V2__idx.down.sql");
        assert_eq!(f.version(), 2);

        let g = MigrationFile::new("V3__x", "SELECT 1;\n-- appenv:no-transaction").unwrap();
        assert!(!g.no_transaction(), "only the first line counts");
    }

    #[test]
    fn undo_scripts_are_read_beside_their_migration_and_refinery_ignores_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("V1__a.sql"), "CREATE TABLE a (x INT);").unwrap();
        std::fs::write(dir.path().join("V1__a.down.sql"), "DROP TABLE a;").unwrap();
        std::fs::write(dir.path().join("V2__b.sql"), "CREATE TABLE b (x INT);").unwrap();
        let m = Migrations::from_dir(dir.path()).unwrap();
        assert_eq!(m.len(), 2, "the undo script is not a migration");
        assert_eq!(m.get(1).unwrap().undo_sql(), Some("DROP TABLE a;"));
        assert_eq!(m.get(2).unwrap().undo_sql(), None);
        let found = refinery_core::find_migration_files(dir.path(), MigrationType::Sql)
            .unwrap()
            .count();
        assert_eq!(found, 2, "refinery's own file pattern ignores .down.sql");

        std::fs::write(dir.path().join("V9__orphan.down.sql"), "SELECT 1;").unwrap();
        let err = Migrations::from_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("V9__orphan.down.sql"), "{err}");
    }

    #[test]
    fn bad_names_are_rejected_with_the_file() {
        let err = MigrationFile::new("create_users.sql", "SELECT 1").unwrap_err();
        assert!(err.to_string().contains("create_users.sql"), "{err}");
    }
}
