//! Lint: a directory of 500 PostgreSQL migrations (the labelled corpus of
//! appenv-migrate's tests, repeated under new version numbers) linted by
//! appenv-migrate (`Migrations::from_dir` + `lint_all`: statement split,
//! squawk's parser and linter, appenv's own rules, allows) against
//! squawk's linter alone (parse + default rules) on the same files, both
//! reading the directory in the timed part. Under `--test` 50 migrations
//! are used.

use std::time::Duration;

use appenv_benches::{postgres_corpus, short_run};
use appenv_migrate::{DatabaseKind, Migrations, lint_all};
use criterion::{Criterion, criterion_group, criterion_main};
use squawk_linter::Linter;
use squawk_syntax::SourceFile;

fn lint_directory(c: &mut Criterion) {
    let count = if short_run() { 50 } else { 500 };
    let corpus = postgres_corpus();
    let dir = tempfile::tempdir().expect("temporary directory");
    for i in 0..count {
        let file = &corpus[i % corpus.len()];
        let stem = file
            .name
            .split_once("__")
            .map_or(file.name.as_str(), |(_, rest)| rest);
        std::fs::write(dir.path().join(format!("V{}__{stem}", i + 1)), &file.sql)
            .expect("write migration");
    }
    let paths: Vec<std::path::PathBuf> = {
        let mut p: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read directory")
            .map(|e| e.expect("entry").path())
            .collect();
        p.sort();
        p
    };

    let mut group = c.benchmark_group(format!("lint/{count}-postgres-migrations"));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("squawk-linter", |b| {
        b.iter(|| {
            let mut violations = 0;
            for path in &paths {
                let sql = std::fs::read_to_string(path).expect("read migration");
                let parse = SourceFile::parse(&sql);
                violations += Linter::with_default_rules().lint(&parse, &sql).len();
            }
            violations
        })
    });
    group.bench_function("appenv", |b| {
        b.iter(|| {
            let migrations = Migrations::from_dir(dir.path()).expect("migrations");
            lint_all(DatabaseKind::Postgres, &migrations).len()
        })
    });
    group.finish();
}

criterion_group!(benches, lint_directory);
criterion_main!(benches);
