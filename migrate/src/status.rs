//! Comparing the migrations a binary carries with the database's history.

use std::fmt;

use refinery_core::Migration;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use crate::backend::DatabaseKind;
use crate::dirty::DirtyMigration;
use crate::source::{Migrations, file_name_of};

/// One row of `refinery_schema_history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AppliedMigration {
    /// Version.
    pub version: i64,
    /// Name (`create_users`).
    pub name: String,
    /// refinery's file name for it (`V1__create_users.sql`).
    pub file: String,
    /// When it was applied (RFC 3339).
    pub applied_on: String,
    /// refinery's checksum.
    pub checksum: String,
}

impl AppliedMigration {
    pub(crate) fn from_refinery(m: &Migration) -> AppliedMigration {
        AppliedMigration {
            version: i64::from(m.version()),
            name: m.name().to_owned(),
            file: file_name_of(m),
            applied_on: m
                .applied_on()
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_default(),
            checksum: m.checksum().to_string(),
        }
    }
}

/// A migration of this binary not yet applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PendingMigration {
    /// Version.
    pub version: i64,
    /// File name.
    pub file: String,
    /// Lower than the newest applied version: refinery refuses to apply it
    /// out of order, so `up` fails until it is renumbered.
    pub out_of_order: bool,
}

/// An applied migration whose file changed since (edited or renamed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DivergentMigration {
    /// Version.
    pub version: i64,
    /// The file of this binary.
    pub file: String,
    /// The name recorded in the database.
    pub applied_name: String,
    /// Checksum recorded in the database.
    pub applied_checksum: String,
    /// Checksum of this binary's file.
    pub file_checksum: String,
}

/// The database's migration state as seen by this binary.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Status {
    /// The backend.
    pub backend: DatabaseKind,
    /// Whether `refinery_schema_history` exists yet.
    pub history_table: bool,
    /// All rows of the history, by version.
    pub applied: Vec<AppliedMigration>,
    /// Migrations of this binary not yet applied.
    pub pending: Vec<PendingMigration>,
    /// Applied migrations whose file changed.
    pub divergent: Vec<DivergentMigration>,
    /// Applied migrations whose file this binary lacks although newer
    /// files exist (a deleted file).
    pub missing: Vec<AppliedMigration>,
    /// Applied migrations newer than anything this binary knows: a newer
    /// release migrated ahead (allowed, so rolling deploys work).
    pub future: Vec<AppliedMigration>,
    /// Migrations that stopped part-way (a failure or a kill during a
    /// migration that cannot roll back). `up` refuses until `repair`.
    pub dirty: Vec<DirtyMigration>,
    /// Postgres: indexes left invalid (`pg_index.indisvalid` false), as a
    /// failed or killed `CREATE INDEX CONCURRENTLY` leaves them.
    pub invalid_indexes: Vec<String>,
    /// Migrations being applied right now by another migrator (their
    /// progress mark exists and that migrator holds the lock): not a
    /// problem, so readiness of running replicas holds during a release.
    pub in_progress: Vec<DirtyMigration>,
}

impl Serialize for DatabaseKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Status {
    pub(crate) fn compare(
        backend: DatabaseKind,
        history_table: bool,
        local: &Migrations,
        applied: Vec<AppliedMigration>,
    ) -> Status {
        let newest_local = local.iter().map(|m| m.version()).max();
        let newest_applied = applied.iter().map(|m| m.version).max();
        // The first file of a version, as `Migrations::get` finds it.
        let mut by_version: std::collections::HashMap<i64, &crate::source::MigrationFile> =
            std::collections::HashMap::with_capacity(local.len());
        for f in local.iter() {
            by_version.entry(f.version()).or_insert(f);
        }
        let applied_versions: std::collections::HashSet<i64> =
            applied.iter().map(|m| m.version).collect();
        let mut status = Status {
            backend,
            history_table,
            applied: Vec::with_capacity(applied.len()),
            pending: Vec::new(),
            divergent: Vec::new(),
            missing: Vec::new(),
            future: Vec::new(),
            dirty: Vec::new(),
            invalid_indexes: Vec::new(),
            in_progress: Vec::new(),
        };
        for row in applied {
            match by_version.get(&row.version) {
                Some(file) => {
                    if file.name() != row.name
                        || row.checksum.parse::<u64>().ok() != Some(file.checksum())
                    {
                        status.divergent.push(DivergentMigration {
                            version: row.version,
                            file: file.file().to_owned(),
                            applied_name: row.name.clone(),
                            applied_checksum: row.checksum.clone(),
                            file_checksum: file.checksum().to_string(),
                        });
                    }
                }
                None if newest_local.is_none_or(|n| row.version > n) => {
                    status.future.push(row.clone());
                }
                None => status.missing.push(row.clone()),
            }
            status.applied.push(row);
        }
        for file in local.iter() {
            if !applied_versions.contains(&file.version()) {
                status.pending.push(PendingMigration {
                    version: file.version(),
                    file: file.file().to_owned(),
                    out_of_order: newest_applied.is_some_and(|n| file.version() < n),
                });
            }
        }
        status
    }

    /// `true` when nothing is pending, divergent, missing or dirty (future
    /// migrations are fine).
    pub fn is_current(&self) -> bool {
        self.pending.is_empty()
            && self.divergent.is_empty()
            && self.missing.is_empty()
            && !self.is_dirty()
    }

    /// `true` when a migration stopped part-way or an index is invalid.
    pub fn is_dirty(&self) -> bool {
        !self.dirty.is_empty() || !self.invalid_indexes.is_empty()
    }

    /// The problems `verify` (and readiness) fail on, if any.
    pub fn problems(&self) -> Option<Problems> {
        (!self.is_current()).then(|| Problems {
            pending: self.pending.clone(),
            divergent: self.divergent.clone(),
            missing: self.missing.clone(),
            dirty: self.dirty.clone(),
            invalid_indexes: self.invalid_indexes.clone(),
        })
    }

    /// Warnings worth logging: future migrations, migrations in progress.
    pub fn warnings(&self) -> Vec<String> {
        let future = self.future.iter().map(|f| {
            format!(
                "database has migration {} ({}) that this binary does not know; a newer release migrated ahead",
                f.version, f.file
            )
        });
        let running = self.in_progress.iter().map(|d| {
            format!(
                "migration {} ({}) is being applied by another migrator (statement {} of {})",
                d.version, d.file, d.statement, d.statements
            )
        });
        future.chain(running).collect()
    }
}

/// Why `verify` failed: each pending, divergent and missing migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Problems {
    /// Not yet applied.
    pub pending: Vec<PendingMigration>,
    /// Edited after being applied.
    pub divergent: Vec<DivergentMigration>,
    /// Applied, but the file is gone.
    pub missing: Vec<AppliedMigration>,
    /// Stopped part-way.
    pub dirty: Vec<DirtyMigration>,
    /// Postgres indexes left invalid.
    pub invalid_indexes: Vec<String>,
}

impl Problems {
    /// `true` when the database is dirty (exit code 9 before anything else).
    pub fn is_dirty(&self) -> bool {
        !self.dirty.is_empty() || !self.invalid_indexes.is_empty()
    }

    /// `true` when a file diverges from or is missing for the database (as
    /// opposed to merely pending).
    pub fn is_divergent(&self) -> bool {
        !self.divergent.is_empty()
            || !self.missing.is_empty()
            || self.pending.iter().any(|p| p.out_of_order)
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "migrations are not current:")?;
        for d in &self.dirty {
            write!(
                f,
                "\n  dirty: {d}; finish or revert it by hand, then run `appenv-migrate repair mark-applied` (finished) or `repair clear` (reverted)"
            )?;
        }
        for i in &self.invalid_indexes {
            write!(
                f,
                "\n  dirty: index {i} is invalid (a CREATE INDEX CONCURRENTLY failed or was killed); drop it with DROP INDEX CONCURRENTLY {i} (or REINDEX INDEX CONCURRENTLY {i})"
            )?;
        }
        for d in &self.divergent {
            write!(
                f,
                "\n  divergent: version {} file {} differs from what was applied (applied as `{}`, checksum {} vs {}); \
                 never edit an applied migration, add a new one",
                d.version, d.file, d.applied_name, d.applied_checksum, d.file_checksum
            )?;
        }
        for m in &self.missing {
            write!(
                f,
                "\n  missing: version {} ({}) is applied but its file is gone; restore it",
                m.version, m.file
            )?;
        }
        for p in &self.pending {
            if p.out_of_order {
                write!(
                    f,
                    "\n  out of order: version {} file {} is older than the newest applied migration; renumber it",
                    p.version, p.file
                )?;
            } else {
                write!(f, "\n  pending: version {} file {}", p.version, p.file)?;
            }
        }
        if !self.is_dirty() && self.pending.iter().any(|p| !p.out_of_order) {
            write!(
                f,
                "\n  run `appenv-migrate up` (the release step) to apply pending migrations"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MigrationFile;

    fn applied(file: &MigrationFile) -> AppliedMigration {
        AppliedMigration::from_refinery(&Migration::applied(
            file.refinery().version(),
            file.name().to_owned(),
            time::OffsetDateTime::UNIX_EPOCH,
            file.checksum(),
        ))
    }

    #[test]
    fn classifies_pending_divergent_missing_and_future() {
        let v1 = MigrationFile::new("V1__a.sql", "CREATE TABLE a (x int);").unwrap();
        let v2 = MigrationFile::new("V2__b.sql", "CREATE TABLE b (x int);").unwrap();
        let v2_edited = MigrationFile::new("V2__b.sql", "CREATE TABLE b (y int);").unwrap();
        let v3 = MigrationFile::new("V3__c.sql", "CREATE TABLE c (x int);").unwrap();
        let v9 = MigrationFile::new("V9__future.sql", "SELECT 1;").unwrap();

        let local = Migrations::from_files([v1.clone(), v2_edited, v3.clone()]);
        let db = vec![applied(&v1), applied(&v2), applied(&v9)];
        let s = Status::compare(DatabaseKind::Sqlite, true, &local, db);
        assert_eq!(s.divergent.len(), 1);
        assert_eq!(s.divergent[0].file, "V2__b.sql");
        assert_eq!(s.future.len(), 1);
        assert_eq!(s.pending.len(), 1);
        assert!(s.pending[0].out_of_order, "V3 is below applied V9");
        let text = s.problems().unwrap().to_string();
        assert!(
            text.contains("divergent: version 2 file V2__b.sql"),
            "{text}"
        );

        let local = Migrations::from_files([v1.clone(), v3.clone()]);
        let s = Status::compare(
            DatabaseKind::Sqlite,
            true,
            &local,
            vec![applied(&v1), applied(&v2)],
        );
        assert_eq!(s.missing.len(), 1, "V2 deleted while V3 exists");
        assert!(s.problems().unwrap().is_divergent());

        let local = Migrations::from_files([v1.clone()]);
        let s = Status::compare(
            DatabaseKind::Sqlite,
            true,
            &local,
            vec![applied(&v1), applied(&v2)],
        );
        assert!(s.is_current(), "V2 is a future migration: allowed");
        assert_eq!(s.warnings().len(), 1);
    }
}
