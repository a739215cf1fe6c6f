//! Prints the comparison of appenv-migrate's PostgreSQL lint and squawk's
//! linter alone on the labelled corpus, as the markdown table in
//! BENCHMARKS.md.
//!
//! Run with: `cargo run -p appenv-benches --bin lint-compare` (or
//! `benches/lint_compare.sh`).

use appenv_benches::{postgres_corpus, squawk_alone};
use appenv_migrate::{DatabaseKind, MigrationFile, lint};

fn main() {
    let corpus = postgres_corpus();
    let mut rows = Vec::new();
    // (flagged dangerous, flagged safe, unparseable) per tool
    let mut totals = [(0usize, 0usize, 0usize); 3];
    let mut missed_by_appenv = Vec::new();
    for file in &corpus {
        let migration = match MigrationFile::new(&file.name, file.sql.as_str()) {
            Ok(m) => m,
            Err(err) => {
                eprintln!("{}: {err}", file.name);
                std::process::exit(1);
            }
        };
        let mut appenv: Vec<String> = lint(DatabaseKind::Postgres, &migration)
            .into_iter()
            .filter(|f| f.allowed.is_none())
            .map(|f| f.rule.to_owned())
            .collect();
        appenv.sort();
        appenv.dedup();
        let squawk = squawk_alone(&file.sql, false);
        let squawk_no_timeouts = squawk_alone(&file.sql, true);
        for (i, rules) in [&appenv, &squawk, &squawk_no_timeouts]
            .into_iter()
            .enumerate()
        {
            let flagged = !rules.is_empty();
            if flagged && file.dangerous {
                totals[i].0 += 1;
            }
            if flagged && !file.dangerous {
                totals[i].1 += 1;
            }
            if rules
                .iter()
                .any(|r| r == "unparseable" || r == "syntax-error")
            {
                totals[i].2 += 1;
            }
        }
        if file.dangerous && !squawk_no_timeouts.is_empty() && appenv.is_empty() {
            missed_by_appenv.push(file.name.clone());
        }
        let cell = |r: &[String]| {
            if r.is_empty() {
                "–".to_owned()
            } else {
                r.join(", ")
            }
        };
        rows.push(format!(
            "| `{}` | {} | {} | {} | {} |",
            file.name,
            if file.dangerous { "dangerous" } else { "safe" },
            cell(&appenv),
            cell(&squawk_no_timeouts),
            cell(&squawk),
        ));
    }
    let dangerous = corpus.iter().filter(|f| f.dangerous).count();
    let safe = corpus.len() - dangerous;
    println!("PostgreSQL corpus: {dangerous} dangerous, {safe} safe migrations.\n");
    println!("| tool | dangerous flagged | safe flagged | unparseable |");
    println!("|---|---|---|---|");
    for (name, (d, s, u)) in [
        "appenv-migrate",
        "squawk-linter, default rules",
        "squawk-linter, default rules without the timeout rules",
    ]
    .into_iter()
    .zip(totals)
    {
        println!("| {name} | {d} / {dangerous} | {s} / {safe} | {u} |");
    }
    println!(
        "\nDangerous files squawk (without timeouts) flags and appenv does not: {}\n",
        if missed_by_appenv.is_empty() {
            "none".to_owned()
        } else {
            missed_by_appenv.join(", ")
        }
    );
    println!(
        "| file | label | appenv-migrate | squawk (no timeout rules) | squawk (default rules) |"
    );
    println!("|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    if !missed_by_appenv.is_empty() {
        std::process::exit(1);
    }
}
