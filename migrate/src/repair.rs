//! `repair`: resolving a dirty database after a manual fix.

use serde::Serialize;

use crate::dirty;
use crate::error::Error;
use crate::history::{ensure_history, history_delete, history_insert};
use crate::migrator::{Migrator, UpReport};

/// What `repair` does with a migration that stopped part-way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RepairAction {
    /// The rest of the migration was finished by hand: record it as applied
    /// (for an interrupted `down`: record it as reverted).
    MarkApplied,
    /// The partial changes were reverted by hand: clear the mark, so the
    /// migration is pending again (for `down`: still applied).
    Clear,
}

impl Migrator {
    /// Resolves a dirty database after a manual fix: records the migration
    /// that stopped part-way as applied ([`RepairAction::MarkApplied`]) or
    /// clears its mark ([`RepairAction::Clear`]). Audited; refused when
    /// nothing is dirty. An invalid Postgres index is fixed by dropping or
    /// rebuilding it, not by `repair`.
    pub async fn repair(&self, action: RepairAction) -> Result<UpReport, Error> {
        self.locked("repair", move |this, conn, status| {
            Box::pin(async move {
                if status.dirty.is_empty() {
                    let mut why = "nothing is dirty".to_owned();
                    if let Some(i) = status.invalid_indexes.first() {
                        why.push_str(&format!(
                            "; the invalid index {i} is fixed with DROP INDEX CONCURRENTLY {i} (then `up`) or REINDEX INDEX CONCURRENTLY {i}"
                        ));
                    }
                    return Err(Error::Repair(why));
                }
                let mut report = UpReport::default();
                for d in &status.dirty {
                    let applied = status.applied.iter().any(|a| a.version == d.version);
                    let mut sql = vec!["BEGIN".to_owned()];
                    match (action, d.action.as_str()) {
                        (RepairAction::MarkApplied, "down") => {
                            sql.push(history_delete(d.version));
                            report.reverted.push(d.version);
                        }
                        (RepairAction::MarkApplied, _) => {
                            let file = this.migrations.get(d.version).ok_or_else(|| {
                                Error::Repair(format!(
                                    "version {} ({}) is not a migration of this binary; run repair with the release that ran it",
                                    d.version, d.file
                                ))
                            })?;
                            if !applied {
                                ensure_history(conn, &status).await?;
                                sql.push(history_insert(file));
                            }
                            report.applied.push(d.version);
                        }
                        (RepairAction::Clear, _) => report.reverted.push(d.version),
                    }
                    sql.push(format!(
                        "DELETE FROM {} WHERE version = {}",
                        dirty::STATE_TABLE,
                        d.version
                    ));
                    sql.push("COMMIT".to_owned());
                    for s in &sql {
                        conn.run(s)
                            .await
                            .map_err(Error::db(format!("repairing version {}", d.version)))?;
                    }
                    report.files.push(d.file.clone());
                    tracing::info!(version = d.version, file = %d.file, ?action, "dirty migration repaired");
                }
                Ok(report)
            })
        })
        .await
    }
}
