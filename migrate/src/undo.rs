//! `down`: reverting applied migrations with their undo scripts.

use crate::apply::{self, Script};
use crate::backend::{Conn, DatabaseKind};
use crate::error::Error;
use crate::history::history_delete;
use crate::lint::{self, LintFinding};
use crate::migrator::{Migrator, UpReport};
use crate::source::{MigrationFile, Migrations};
use crate::status::Status;

/// Lints the undo script of `file` (none without one).
pub(crate) fn lint_undo(backend: DatabaseKind, file: &MigrationFile) -> Vec<LintFinding> {
    match file.undo_sql() {
        Some(sql) => lint::lint_sql(backend, &file.undo_file(), file.undo_no_transaction(), sql),
        None => Vec::new(),
    }
}

/// Lints every undo script of the set. Undo scripts are not checksummed and
/// run later, so all of them are linted, applied migrations' included.
pub(crate) fn lint_undo_scripts(
    backend: DatabaseKind,
    migrations: &Migrations,
) -> Vec<LintFinding> {
    migrations
        .iter()
        .flat_map(|f| lint_undo(backend, f))
        .collect()
}

impl Migrator {
    /// Reverts applied migrations with their undo scripts
    /// (`V{n}__{name}.down.sql`), newest first: the newest one, or with
    /// `to = Some(v)` every applied version above `v`. Each runs as written
    /// (in a transaction unless its first line is
    /// `-- appenv:no-transaction`) and removes its history row. Refused up
    /// front, naming the version, when one in range has no undo script or
    /// is unknown to this binary, when the database is dirty or divergent,
    /// and when an undo script has lint findings not allowed.
    pub async fn down(&self, to: Option<i64>) -> Result<UpReport, Error> {
        self.locked("down", move |this, conn, status| {
            Box::pin(async move { this.revert(conn, status, to).await })
        })
        .await
    }

    async fn revert(
        &self,
        conn: &mut Conn,
        status: Status,
        to: Option<i64>,
    ) -> Result<UpReport, Error> {
        if let Some(problems) = status
            .problems()
            .filter(|p| p.is_dirty() || p.is_divergent())
        {
            return Err(Error::Verify(problems));
        }
        let mut applied: Vec<i64> = status.applied.iter().map(|a| a.version).collect();
        applied.sort_unstable();
        let range: Vec<i64> = match to {
            Some(v) => applied.iter().rev().copied().filter(|a| *a > v).collect(),
            None => applied.last().copied().into_iter().collect(),
        };
        if let Some(v) = to
            && v != 0
            && !applied.contains(&v)
        {
            return Err(Error::Down(format!(
                "version {v} is not applied; --to names the version to keep (0 reverts everything)"
            )));
        }
        let mut scripts = Vec::new();
        for v in &range {
            let Some(file) = self.migrations.get(*v) else {
                return Err(Error::Down(format!(
                    "version {v} is applied but this binary does not have it; run down with the release that applied it"
                )));
            };
            if file.undo_sql().is_none() {
                return Err(Error::Down(format!(
                    "version {v} ({}) has no undo script {}; nothing was reverted",
                    file.file(),
                    file.undo_file()
                )));
            }
            scripts.push(file);
        }
        let backend = self.database.backend();
        let refused: Vec<LintFinding> = scripts
            .iter()
            .flat_map(|f| lint_undo(backend, f))
            .filter(|f| f.allowed.is_none())
            .collect();
        if !refused.is_empty() {
            return Err(Error::Lint { findings: refused });
        }
        let mut report = UpReport::default();
        for file in scripts {
            let undo_file = file.undo_file();
            apply::run(
                conn,
                Script {
                    file: &undo_file,
                    version: file.version(),
                    action: "down",
                    sql: file.undo_sql().unwrap_or_default(),
                    no_transaction: file.undo_no_transaction(),
                    finish: vec![history_delete(file.version())],
                },
            )
            .await?;
            tracing::info!(migration = %file.file(), env = %self.env, "migration reverted");
            report.reverted.push(file.version());
            report.files.push(undo_file);
        }
        Ok(report)
    }
}
