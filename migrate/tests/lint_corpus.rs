//! The labelled lint corpus in `tests/lint_corpus/{postgres,mysql,sqlite}/`:
//! every file under `dangerous/` is flagged with exactly the rules its
//! `-- expect:` line names, no file under `safe/` is flagged (findings an
//! `-- appenv:allow` accepts do not count), and no file is reported as
//! unparseable.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use appenv_migrate::{DatabaseKind, MigrationFile, lint, rules};

fn corpus(dialect: &str, label: &str) -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/lint_corpus")
        .join(dialect)
        .join(label);
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let sql = std::fs::read_to_string(&path)
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            (path, sql)
        })
        .collect();
    files.sort();
    files
}

fn expected(sql: &str) -> BTreeSet<String> {
    sql.lines()
        .find_map(|line| line.strip_prefix("-- expect:"))
        .map(|rules| rules.split(',').map(|r| r.trim().to_owned()).collect())
        .unwrap_or_default()
}

/// The rules flagged (not allowed) on the file, and every finding's text.
fn flagged(backend: DatabaseKind, path: &Path, sql: &str) -> (BTreeSet<String>, Vec<String>) {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name");
    let file = MigrationFile::new(name, sql).expect("corpus file names are migration names");
    let findings = lint(backend, &file);
    let texts = findings.iter().map(ToString::to_string).collect();
    let rules = findings
        .iter()
        .filter(|f| f.allowed.is_none())
        .map(|f| f.rule.to_owned())
        .collect();
    (rules, texts)
}

fn check(backend: DatabaseKind, dialect: &str, at_least: usize) {
    let dangerous = corpus(dialect, "dangerous");
    let safe = corpus(dialect, "safe");
    assert!(
        dangerous.len() + safe.len() >= at_least,
        "{dialect}: the corpus needs at least {at_least} migrations"
    );
    let mut wrong = Vec::new();
    for (path, sql) in &dangerous {
        let want = expected(sql);
        assert!(!want.is_empty(), "{}: no `-- expect:` line", path.display());
        let (got, texts) = flagged(backend, path, sql);
        if got != want {
            wrong.push(format!(
                "{}: expected {want:?}, flagged {got:?}\n    {}",
                path.display(),
                texts.join("\n    ")
            ));
        }
    }
    for (path, sql) in &safe {
        let (got, texts) = flagged(backend, path, sql);
        if !got.is_empty() {
            wrong.push(format!(
                "{}: safe, but flagged {got:?}\n    {}",
                path.display(),
                texts.join("\n    ")
            ));
        }
    }
    for (path, sql) in dangerous.iter().chain(&safe) {
        let (_, texts) = flagged(backend, path, sql);
        if texts.iter().any(|t| t.contains(rules::UNPARSEABLE)) {
            wrong.push(format!(
                "{}: reported unparseable: {texts:?}",
                path.display()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn postgres_corpus() {
    check(DatabaseKind::Postgres, "postgres", 40);
}

#[test]
fn mysql_corpus() {
    check(DatabaseKind::MySql, "mysql", 20);
}

#[test]
fn sqlite_corpus() {
    check(DatabaseKind::Sqlite, "sqlite", 12);
}

#[test]
fn findings_name_rule_file_line_and_fix() {
    let (path, sql) = corpus("postgres", "dangerous")
        .into_iter()
        .find(|(p, _)| p.to_string_lossy().contains("users_email_not_null"))
        .expect("corpus file");
    let name = path.file_name().and_then(|n| n.to_str()).unwrap();
    let findings = lint(
        DatabaseKind::Postgres,
        &MigrationFile::new(name, sql).unwrap(),
    );
    let text = findings[0].to_string();
    assert!(
        text.starts_with(&format!("{name}:3: [set-not-null] ")) && text.contains("; fix: "),
        "{text}"
    );
}
