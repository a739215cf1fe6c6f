//! The PostgreSQL lint corpus of appenv-migrate's tests
//! (`migrate/tests/lint_corpus/postgres/{dangerous,safe}`), and squawk's
//! linter run alone on a file the way its CLI would (default rules,
//! nothing but the SQL).

use std::path::Path;

use squawk_linter::{Linter, Rule};
use squawk_syntax::SourceFile;

/// One labelled corpus migration.
#[derive(Debug, Clone)]
pub struct CorpusFile {
    /// File name (`V101__drop_legacy_sessions.sql`).
    pub name: String,
    /// The SQL.
    pub sql: String,
    /// `true` under `dangerous/`, `false` under `safe/`.
    pub dangerous: bool,
}

/// The PostgreSQL corpus, dangerous files first, each group by name.
///
/// # Panics
///
/// When the corpus directory cannot be read (it is part of the repository).
pub fn postgres_corpus() -> Vec<CorpusFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrate/tests/lint_corpus/postgres");
    let mut out = Vec::new();
    for (label, dangerous) in [("dangerous", true), ("safe", false)] {
        let dir = root.join(label);
        let mut files: Vec<CorpusFile> = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .map(|entry| {
                let path = entry.expect("directory entry").path();
                CorpusFile {
                    name: path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .expect("file name")
                        .to_owned(),
                    sql: std::fs::read_to_string(&path)
                        .unwrap_or_else(|err| panic!("{}: {err}", path.display())),
                    dangerous,
                }
            })
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(files);
    }
    out
}

/// squawk's default rules on `sql` alone (no transaction mode, no
/// settings), as rule ids, one per rule; with `without_timeouts` the
/// timeout rules (which appenv makes redundant by setting the timeouts per
/// session) are left out.
pub fn squawk_alone(sql: &str, without_timeouts: bool) -> Vec<String> {
    let parse = SourceFile::parse(sql);
    let mut linter = if without_timeouts {
        Linter::with_rules(
            &[],
            &[
                Rule::RequireLockTimeout,
                Rule::RequireStatementTimeout,
                Rule::RequireTimeoutSettings,
            ],
        )
    } else {
        Linter::with_default_rules()
    };
    let mut rules: Vec<String> = linter
        .lint(&parse, sql)
        .into_iter()
        .map(|v| v.code.to_string())
        .collect();
    if !parse.errors().is_empty() {
        rules.push("syntax-error".to_owned());
    }
    rules.sort();
    rules.dedup();
    rules
}
