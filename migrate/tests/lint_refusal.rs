//! Every dangerous migration of the lint corpus is refused by a production
//! `up` against a real database of its dialect, with a message naming each
//! finding's rule, file, line and fix; with an `-- appenv:allow` before each
//! flagged statement nothing is refused.

mod support;

use std::path::Path;
use std::time::Duration;

use appenv_config::AppEnv;
use appenv_migrate::{MigrationFile, Migrations, Migrator, exit, lint};
use support::{Kind, TestDb};

fn dangerous(dialect: &str) -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/lint_corpus")
        .join(dialect)
        .join("dangerous");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// `sql` with `-- appenv:allow <rule> <reason>` inserted before the line of
/// every statement `findings` flag.
fn with_allows(sql: &str, findings: &[appenv_migrate::LintFinding]) -> String {
    let mut lines: Vec<String> = sql.lines().map(str::to_owned).collect();
    let mut at: Vec<(u64, &str)> = findings.iter().map(|f| (f.line, f.rule)).collect();
    at.sort();
    for (line, rule) in at.into_iter().rev() {
        let index = usize::try_from(line - 1).unwrap();
        lines.insert(
            index,
            format!("-- appenv:allow {rule} reviewed for the corpus test"),
        );
    }
    lines.join("\n")
}

async fn refused_in_production_unless_allowed(kind: Kind, dialect: &str) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let files = dangerous(dialect);
    assert!(!files.is_empty());
    for (name, sql) in files {
        let file = MigrationFile::new(&name, sql.as_str()).unwrap();
        let backend = match kind {
            Kind::Postgres => appenv_migrate::DatabaseKind::Postgres,
            Kind::MySql => appenv_migrate::DatabaseKind::MySql,
            Kind::Sqlite => appenv_migrate::DatabaseKind::Sqlite,
        };
        let findings = lint(backend, &file);
        assert!(!findings.is_empty(), "{name}");
        let migrator = Migrator::new(
            db.url.as_str(),
            Migrations::from_files([file]),
            AppEnv::Production,
        )
        .unwrap()
        .with_lock_wait(Duration::from_secs(60));
        let err = migrator.up().await.unwrap_err();
        assert_eq!(err.exit_code(), exit::LINT, "{name}: {err}");
        let message = err.to_string();
        for f in &findings {
            let head = format!("{name}:{}: [{}]", f.line, f.rule);
            assert!(
                message.contains(&head) && message.contains(&format!("fix: {}", f.fix)),
                "{name}: `{head}` and its fix missing from: {message}"
            );
        }

        let allowed = with_allows(&sql, &findings);
        let file = MigrationFile::new(&name, allowed.as_str()).unwrap();
        let left: Vec<_> = lint(backend, &file)
            .into_iter()
            .filter(|f| f.allowed.is_none())
            .collect();
        assert!(left.is_empty(), "{name} with allows:\n{allowed}\n{left:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_every_dangerous_corpus_migration() {
    refused_in_production_unless_allowed(Kind::Postgres, "postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_refuses_every_dangerous_corpus_migration() {
    refused_in_production_unless_allowed(Kind::MySql, "mysql").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refuses_every_dangerous_corpus_migration() {
    refused_in_production_unless_allowed(Kind::Sqlite, "sqlite").await;
}
