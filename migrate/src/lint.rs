//! Destructive and blocking migration lint, on sqlparser's AST for the
//! backend's dialect.
//!
//! Each statement is parsed on its own (split by sqlparser's tokenizer the
//! way the migration runs: semicolons inside strings, dollar-quoted bodies
//! and trigger bodies are safe), which gives every finding its line and
//! statement and lets one unparseable statement be reported without hiding
//! the others. Allows are per statement and per rule (see
//! `-- appenv:allow` in the crate docs). Statements
//! on a table created earlier in the same file are not flagged: nothing
//! reads that table yet.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;
use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, ColumnOption, ObjectName, ObjectType, Statement,
};
use sqlparser::dialect::Dialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use crate::allow;
use crate::backend::DatabaseKind;
use crate::source::{MigrationFile, Migrations};
use crate::split::{self, Split};

/// Stable lint rule ids.
pub mod rules {
    /// `DROP TABLE`.
    pub const DROP_TABLE: &str = "drop-table";
    /// `ALTER TABLE … DROP COLUMN`.
    pub const DROP_COLUMN: &str = "drop-column";
    /// Renaming a table.
    pub const RENAME_TABLE: &str = "rename-table";
    /// Renaming a column.
    pub const RENAME_COLUMN: &str = "rename-column";
    /// Changing a column's type.
    pub const CHANGE_COLUMN_TYPE: &str = "change-column-type";
    /// `ALTER COLUMN … SET NOT NULL`.
    pub const SET_NOT_NULL: &str = "set-not-null";
    /// Adding a `NOT NULL` column without a default.
    pub const ADD_NOT_NULL_COLUMN: &str = "add-not-null-column-without-default";
    /// `CREATE INDEX` without `CONCURRENTLY` on PostgreSQL.
    pub const NON_CONCURRENT_INDEX: &str = "non-concurrent-index";
    /// `CREATE INDEX CONCURRENTLY` in a migration that runs in a transaction.
    pub const CONCURRENT_INDEX_IN_TRANSACTION: &str = "concurrent-index-in-transaction";
    /// `TRUNCATE`.
    pub const TRUNCATE: &str = "truncate";
    /// SQL the parser cannot read.
    pub const UNPARSEABLE: &str = "unparseable";
    /// A malformed, misplaced or unknown `-- appenv:allow` annotation (cannot
    /// be allowed).
    pub const INVALID_ALLOW: &str = "invalid-allow";
    /// An `-- appenv:allow` that matches no finding of its statement (cannot
    /// be allowed).
    pub const STALE_ALLOW: &str = "stale-allow";

    /// The rules an `-- appenv:allow <rule-id> <reason>` may name.
    pub const ALLOWABLE: &[&str] = &[
        DROP_TABLE,
        DROP_COLUMN,
        RENAME_TABLE,
        RENAME_COLUMN,
        CHANGE_COLUMN_TYPE,
        SET_NOT_NULL,
        ADD_NOT_NULL_COLUMN,
        NON_CONCURRENT_INDEX,
        CONCURRENT_INDEX_IN_TRANSACTION,
        TRUNCATE,
        UNPARSEABLE,
    ];
}

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LintFinding {
    /// Stable rule id (see [`rules`]).
    pub rule: &'static str,
    /// Migration file name.
    pub file: String,
    /// 1-based line of the statement in the file.
    pub line: u64,
    /// 1-based index of the statement in the file (0: not tied to one).
    pub statement: usize,
    /// What the statement does and why it hurts.
    pub message: String,
    /// How to do it safely.
    pub fix: String,
    /// The reason given by `-- appenv:allow <rule-id> <reason>` directly
    /// before the statement: the finding is then accepted everywhere.
    pub allowed: Option<String>,
}

impl LintFinding {
    /// A finding not (yet) allowed.
    pub fn new(
        rule: &'static str,
        file: &str,
        line: u64,
        statement: usize,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> LintFinding {
        LintFinding {
            rule,
            file: file.to_owned(),
            line,
            statement,
            message: message.into(),
            fix: fix.into(),
            allowed: None,
        }
    }
}

impl fmt::Display for LintFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: [{}] {}; fix: {}",
            self.file, self.line, self.rule, self.message, self.fix
        )?;
        if let Some(reason) = &self.allowed {
            write!(f, " (allowed: {reason})")?;
        }
        Ok(())
    }
}

/// Lints every migration of the set.
pub fn lint_all(backend: DatabaseKind, migrations: &Migrations) -> Vec<LintFinding> {
    migrations.iter().flat_map(|m| lint(backend, m)).collect()
}

/// Lints one migration for `backend`'s dialect.
///
/// Findings on a statement preceded by `-- appenv:allow <rule-id> <reason>`
/// carry the reason in [`LintFinding::allowed`]; invalid and stale allows are
/// findings of their own ([`rules::INVALID_ALLOW`], [`rules::STALE_ALLOW`]).
pub fn lint(backend: DatabaseKind, migration: &MigrationFile) -> Vec<LintFinding> {
    lint_sql(
        backend,
        migration.file(),
        migration.no_transaction(),
        migration.sql(),
    )
}

pub(crate) fn lint_sql(
    backend: DatabaseKind,
    file: &str,
    no_transaction: bool,
    sql: &str,
) -> Vec<LintFinding> {
    let linter = Linter {
        backend,
        file,
        no_transaction,
        created: HashSet::new(),
        findings: Vec::new(),
        current: 0,
    };
    let split = match split::split(backend, sql) {
        Ok(split) => split,
        Err(err) => {
            return vec![LintFinding::new(
                rules::UNPARSEABLE,
                file,
                err.line,
                0,
                format!(
                    "the {backend} tokenizer cannot read this SQL: {}",
                    err.message
                ),
                "check the syntax: appenv runs a migration statement by statement and cannot split this file",
            )];
        }
    };
    let mut findings = linter.run(&split);
    allow::apply(file, &split, &mut findings, rules::ALLOWABLE);
    findings
}

struct Linter<'a> {
    backend: DatabaseKind,
    file: &'a str,
    no_transaction: bool,
    created: HashSet<String>,
    findings: Vec<LintFinding>,
    /// Index of the statement being checked.
    current: usize,
}

fn table_key(name: &ObjectName) -> String {
    let text = name.to_string();
    text.rsplit('.')
        .next()
        .unwrap_or_default()
        .trim_matches(|c| c == '"' || c == '`' || c == '[' || c == ']')
        .to_ascii_lowercase()
}

impl Linter<'_> {
    fn run(mut self, split: &Split) -> Vec<LintFinding> {
        let dialect = split::dialect(self.backend);
        for statement in &split.statements {
            self.statement(dialect.as_ref(), statement);
        }
        self.findings
    }

    fn push(&mut self, rule: &'static str, line: u64, message: String, fix: &str) {
        let statement = self.current;
        self.findings.push(LintFinding::new(
            rule, self.file, line, statement, message, fix,
        ));
    }

    fn statement(&mut self, dialect: &dyn Dialect, statement: &split::Statement) {
        self.current = statement.index;
        let line = statement.line;
        let mut parser = Parser::new(dialect).with_tokens_with_locations(statement.tokens.clone());
        let parsed = parser.parse_statement().and_then(|stmt| {
            let next = parser.peek_token();
            if next.token == Token::EOF {
                Ok(stmt)
            } else {
                Err(sqlparser::parser::ParserError::ParserError(format!(
                    "unexpected `{}` at line {}",
                    next.token, next.span.start.line
                )))
            }
        });
        match parsed {
            Ok(stmt) => self.check(&stmt, line),
            Err(err) => self.push(
                rules::UNPARSEABLE,
                line,
                format!("the {} parser cannot read this statement: {err}", self.backend),
                "check the syntax; if it is valid for the database, put `-- appenv:allow unparseable <reason>` before it after reviewing it by hand",
            ),
        }
    }

    fn check(&mut self, stmt: &Statement, line: u64) {
        match stmt {
            Statement::CreateTable(create) => {
                self.created.insert(table_key(&create.name));
            }
            Statement::Drop {
                object_type: ObjectType::Table,
                names,
                ..
            } => {
                for name in names {
                    if !self.created.contains(&table_key(name)) {
                        self.push(
                            rules::DROP_TABLE,
                            line,
                            format!("drops table {name}; running code that still reads it fails and the data is gone"),
                            "stop using the table in a release first, back it up, then drop it in a later migration, with `-- appenv:allow drop-table <reason>` before the statement",
                        );
                    }
                }
            }
            Statement::RenameTable(renames) => {
                for r in renames {
                    self.push(
                        rules::RENAME_TABLE,
                        line,
                        format!("renames table {} to {}; the running release still uses the old name", r.old_name, r.new_name),
                        "create the new table (or a view), write to both, switch readers, then drop the old one in a later release",
                    );
                }
            }
            Statement::Truncate(_) => self.push(
                rules::TRUNCATE,
                line,
                "TRUNCATE deletes every row and takes an exclusive lock".into(),
                "delete in batches with a WHERE clause, or put `-- appenv:allow truncate <reason>` before it if the data is disposable",
            ),
            Statement::CreateIndex(index) => {
                let new_table = self.created.contains(&table_key(&index.table_name));
                if self.backend == DatabaseKind::Postgres && !index.concurrently && !new_table {
                    self.push(
                        rules::NON_CONCURRENT_INDEX,
                        line,
                        format!("CREATE INDEX on {} blocks writes to the table while it builds", index.table_name),
                        "use CREATE INDEX CONCURRENTLY in its own migration whose first line is -- appenv:no-transaction",
                    );
                }
                if index.concurrently && !self.no_transaction {
                    self.push(
                        rules::CONCURRENT_INDEX_IN_TRANSACTION,
                        line,
                        "CREATE INDEX CONCURRENTLY cannot run inside a transaction block".into(),
                        "make `-- appenv:no-transaction` the first line of this migration, and keep the index alone in it",
                    );
                }
            }
            Statement::AlterTable(alter) => {
                if self.created.contains(&table_key(&alter.name)) {
                    return;
                }
                for op in &alter.operations {
                    self.alter(&alter.name, op, line);
                }
            }
            _ => {}
        }
    }

    fn alter(&mut self, table: &ObjectName, op: &AlterTableOperation, line: u64) {
        match op {
            AlterTableOperation::DropColumn { column_names, .. } => {
                let cols: Vec<String> = column_names.iter().map(|c| c.to_string()).collect();
                self.push(
                    rules::DROP_COLUMN,
                    line,
                    format!("drops column(s) {} of {table}; the running release may still read them", cols.join(", ")),
                    "stop reading and writing the column in one release, drop it in a later one with `-- appenv:allow drop-column <reason>` before the statement",
                );
            }
            AlterTableOperation::RenameTable { .. } => self.push(
                rules::RENAME_TABLE,
                line,
                format!("renames table {table}; the running release still uses the old name"),
                "create the new table (or a view), write to both, switch readers, then drop the old one in a later release",
            ),
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => self.rename_column(table, &old_column_name.to_string(), &new_column_name.to_string(), line),
            AlterTableOperation::ChangeColumn {
                old_name, new_name, ..
            } => {
                if !old_name.value.eq_ignore_ascii_case(&new_name.value) {
                    self.rename_column(table, &old_name.to_string(), &new_name.to_string(), line);
                }
                self.type_change(table, &new_name.to_string(), line);
            }
            AlterTableOperation::ModifyColumn { col_name, .. } => {
                self.type_change(table, &col_name.to_string(), line)
            }
            AlterTableOperation::AlterColumn { column_name, op } => match op {
                AlterColumnOperation::SetNotNull => self.push(
                    rules::SET_NOT_NULL,
                    line,
                    format!("SET NOT NULL on {table}.{column_name} scans the table under an exclusive lock and fails on existing NULLs"),
                    "backfill, add a CHECK (col IS NOT NULL) NOT VALID constraint, VALIDATE it, then SET NOT NULL",
                ),
                AlterColumnOperation::SetDataType { .. } => {
                    self.type_change(table, &column_name.to_string(), line)
                }
                _ => {}
            },
            AlterTableOperation::AddColumn { column_def, .. } => {
                let not_null = column_def
                    .options
                    .iter()
                    .any(|o| matches!(o.option, ColumnOption::NotNull));
                let has_default = column_def.options.iter().any(|o| {
                    matches!(
                        o.option,
                        ColumnOption::Default(_)
                            | ColumnOption::Generated { .. }
                            | ColumnOption::Materialized(_)
                    )
                });
                if not_null && !has_default {
                    self.push(
                        rules::ADD_NOT_NULL_COLUMN,
                        line,
                        format!("adds NOT NULL column {} to {table} without a default; fails on a non-empty table and breaks inserts of the running release", column_def.name),
                        "add the column nullable (or with a DEFAULT), backfill, then add NOT NULL in a later migration",
                    );
                }
            }
            _ => {}
        }
    }

    fn rename_column(&mut self, table: &ObjectName, old: &str, new: &str, line: u64) {
        self.push(
            rules::RENAME_COLUMN,
            line,
            format!("renames column {table}.{old} to {new}; the running release still uses the old name"),
            "add the new column, write to both, backfill, switch readers, then drop the old column in a later release",
        );
    }

    fn type_change(&mut self, table: &ObjectName, column: &str, line: u64) {
        self.push(
            rules::CHANGE_COLUMN_TYPE,
            line,
            format!("changes the type of {table}.{column}; may rewrite the table under an exclusive lock and break the running release"),
            "add a new column of the new type, backfill, switch readers, then drop the old column",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG: DatabaseKind = DatabaseKind::Postgres;
    const MY: DatabaseKind = DatabaseKind::MySql;
    const LITE: DatabaseKind = DatabaseKind::Sqlite;

    fn rules_for(backend: DatabaseKind, sql: &str) -> Vec<&'static str> {
        let file = MigrationFile::new("V7__change.sql", sql).unwrap();
        lint(backend, &file).into_iter().map(|f| f.rule).collect()
    }

    /// (rule, backends it applies to, firing SQL, similar SQL that must not fire)
    const CASES: &[(&str, &[DatabaseKind], &str, &str)] = &[
        (
            rules::DROP_TABLE,
            &[PG, MY, LITE],
            "DROP TABLE users;",
            "CREATE TABLE scratch (id INT); DROP TABLE scratch;",
        ),
        (
            rules::DROP_COLUMN,
            &[PG, MY, LITE],
            "ALTER TABLE users DROP COLUMN email;",
            "ALTER TABLE users ADD COLUMN nick VARCHAR(20);",
        ),
        (
            rules::RENAME_TABLE,
            &[PG, MY, LITE],
            "ALTER TABLE users RENAME TO people;",
            "ALTER TABLE users ADD COLUMN x INT;",
        ),
        (
            rules::RENAME_COLUMN,
            &[PG, MY, LITE],
            "ALTER TABLE users RENAME COLUMN email TO mail;",
            "ALTER TABLE users ADD COLUMN mail VARCHAR(20);",
        ),
        (
            rules::CHANGE_COLUMN_TYPE,
            &[PG],
            "ALTER TABLE users ALTER COLUMN age TYPE BIGINT;",
            "ALTER TABLE users ALTER COLUMN age SET DEFAULT 0;",
        ),
        (
            rules::CHANGE_COLUMN_TYPE,
            &[MY],
            "ALTER TABLE users MODIFY age BIGINT;",
            "ALTER TABLE users ALTER COLUMN age SET DEFAULT 0;",
        ),
        (
            rules::SET_NOT_NULL,
            &[PG],
            "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
            "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
        ),
        (
            rules::ADD_NOT_NULL_COLUMN,
            &[PG, MY, LITE],
            "ALTER TABLE users ADD COLUMN age INTEGER NOT NULL;",
            "ALTER TABLE users ADD COLUMN age INTEGER NOT NULL DEFAULT 0;",
        ),
        (
            rules::NON_CONCURRENT_INDEX,
            &[PG],
            "CREATE INDEX users_email ON users (email);",
            "-- appenv:no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);",
        ),
        (
            rules::TRUNCATE,
            &[PG, MY],
            "TRUNCATE TABLE users;",
            "DELETE FROM users WHERE id < 10;",
        ),
    ];

    #[test]
    fn every_rule_fires_and_stays_quiet_per_dialect() {
        for (rule, backends, firing, quiet) in CASES {
            for backend in *backends {
                let fired = rules_for(*backend, firing);
                assert!(
                    fired.contains(rule),
                    "{rule} should fire on {backend} for `{firing}`, got {fired:?}"
                );
                let fired = rules_for(*backend, quiet);
                assert!(
                    fired.is_empty(),
                    "nothing should fire on {backend} for `{quiet}`, got {fired:?}"
                );
            }
        }
    }

    #[test]
    fn mysql_specific_renames_and_changes_fire() {
        assert_eq!(
            rules_for(MY, "RENAME TABLE users TO people;"),
            vec![rules::RENAME_TABLE]
        );
        let fired = rules_for(MY, "ALTER TABLE users CHANGE email mail VARCHAR(100);");
        assert!(
            fired.contains(&rules::RENAME_COLUMN) && fired.contains(&rules::CHANGE_COLUMN_TYPE),
            "{fired:?}"
        );
        assert_eq!(
            rules_for(MY, "ALTER TABLE users CHANGE email email VARCHAR(100);"),
            vec![rules::CHANGE_COLUMN_TYPE]
        );
    }

    #[test]
    fn index_rules_only_where_they_matter() {
        assert!(rules_for(MY, "CREATE INDEX users_email ON users (email);").is_empty());
        assert!(rules_for(LITE, "CREATE INDEX users_email ON users (email);").is_empty());
        assert!(
            rules_for(PG, "CREATE TABLE t (a INT);\nCREATE INDEX t_a ON t (a);").is_empty(),
            "an index on a table created in the same migration blocks nobody"
        );
        assert_eq!(
            rules_for(
                PG,
                "CREATE INDEX CONCURRENTLY users_email ON users (email);"
            ),
            vec![rules::CONCURRENT_INDEX_IN_TRANSACTION]
        );
    }

    #[test]
    fn findings_carry_file_line_and_fix() {
        let sql = "-- tidy up\nCREATE TABLE audit_old (id INT);\n\nALTER TABLE users\n  DROP COLUMN email;\n";
        let file = MigrationFile::new("V7__tidy.sql", sql).unwrap();
        let findings = lint(PG, &file);
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(
            (f.rule, f.file.as_str(), f.line),
            (rules::DROP_COLUMN, "V7__tidy.sql", 4)
        );
        assert!(f.fix.contains("later"), "{}", f.fix);
        assert!(
            f.to_string().starts_with("V7__tidy.sql:4: [drop-column]"),
            "{f}"
        );
    }

    #[test]
    fn semicolons_inside_strings_and_function_bodies_do_not_split() {
        let sql = "CREATE FUNCTION f() RETURNS int AS $$ BEGIN PERFORM 1; RETURN 1; END $$ LANGUAGE plpgsql;\nINSERT INTO t VALUES ('a;b');\nDROP TABLE users;";
        let file = MigrationFile::new("V1__f.sql", sql).unwrap();
        let findings = lint(PG, &file);
        assert_eq!(
            findings
                .iter()
                .map(|f| (f.rule, f.line))
                .collect::<Vec<_>>(),
            vec![(rules::DROP_TABLE, 3)]
        );
    }

    #[test]
    fn unparseable_sql_is_reported_not_passed() {
        let file = MigrationFile::new(
            "V1__bad.sql",
            "CREATE TABLE ok (id INT);\nALTER TABLE users FROBNICATE email;",
        )
        .unwrap();
        let findings = lint(PG, &file);
        assert_eq!(findings.len(), 1);
        assert_eq!(
            (findings[0].rule, findings[0].line),
            (rules::UNPARSEABLE, 2)
        );
        let file =
            MigrationFile::new("V1__bad.sql", "INSERT INTO t VALUES ('unterminated);").unwrap();
        assert_eq!(lint(MY, &file)[0].rule, rules::UNPARSEABLE);
    }

    fn summary(findings: &[LintFinding]) -> Vec<(&'static str, u64, bool)> {
        findings
            .iter()
            .map(|f| (f.rule, f.line, f.allowed.is_some()))
            .collect()
    }

    #[test]
    fn an_allow_covers_its_rule_on_the_next_statement_only() {
        let sql = "-- appenv:allow drop-table legacy unused since 2024-01\nDROP TABLE legacy;\nDROP TABLE other;";
        let findings = lint(LITE, &MigrationFile::new("V9__drop.sql", sql).unwrap());
        assert_eq!(
            summary(&findings),
            vec![(rules::DROP_TABLE, 2, true), (rules::DROP_TABLE, 3, false)]
        );
        assert_eq!(
            findings[0].allowed.as_deref(),
            Some("legacy unused since 2024-01")
        );
        assert!(findings[0].to_string().contains("(allowed: legacy unused"));

        // An allow for one rule does not allow another on the same statement.
        let sql =
            "-- appenv:allow drop-column reviewed\nALTER TABLE users RENAME COLUMN email TO mail;";
        let findings = lint(PG, &MigrationFile::new("V2__r.sql", sql).unwrap());
        assert_eq!(
            summary(&findings),
            vec![
                (rules::STALE_ALLOW, 1, false),
                (rules::RENAME_COLUMN, 2, false)
            ]
        );

        // Several allows before one statement, block comments included.
        let sql = "/* appenv:allow rename-column old clients gone */\n-- appenv:allow change-column-type widened\nALTER TABLE users CHANGE email mail VARCHAR(300);";
        let findings = lint(MY, &MigrationFile::new("V3__c.sql", sql).unwrap());
        assert!(findings.iter().all(|f| f.allowed.is_some()), "{findings:?}");
        assert_eq!(findings.len(), 2);
    }

    #[test]
    fn allow_text_in_strings_bodies_and_identifiers_never_counts() {
        for sql in [
            "INSERT INTO notes VALUES ('\n-- appenv:allow drop-table sneaky\n');\nDROP TABLE users;",
            "CREATE FUNCTION f() RETURNS int AS $$\n-- appenv:allow drop-table sneaky\nSELECT 1 $$ LANGUAGE sql;\nDROP TABLE users;",
            "CREATE TABLE \"-- appenv:allow drop-table x\" (a INT);\nDROP TABLE users;",
        ] {
            let findings = lint(PG, &MigrationFile::new("V4__s.sql", sql).unwrap());
            let drop = findings
                .iter()
                .find(|f| f.rule == rules::DROP_TABLE)
                .unwrap();
            assert_eq!(drop.allowed, None, "{sql}");
            assert_eq!(findings.len(), 1, "{findings:?}");
        }
    }

    #[test]
    fn stale_unknown_misplaced_and_legacy_allows_are_findings() {
        let cases = [
            (
                "-- appenv:allow drop-table not needed\nCREATE TABLE t (a INT);",
                rules::STALE_ALLOW,
                1,
            ),
            (
                "-- appenv:allow drop-everything because\nDROP TABLE users;",
                rules::INVALID_ALLOW,
                1,
            ),
            (
                "-- appenv:allow drop-table\nDROP TABLE users;",
                rules::INVALID_ALLOW,
                1,
            ),
            (
                "ALTER TABLE users\n  -- appenv:allow drop-column inside\n  DROP COLUMN email;",
                rules::INVALID_ALLOW,
                2,
            ),
            (
                "SELECT 1;\n-- appenv:allow drop-table dangling",
                rules::INVALID_ALLOW,
                2,
            ),
            (
                "-- appenv:allow-destructive old style\nDROP TABLE users;",
                rules::INVALID_ALLOW,
                1,
            ),
        ];
        for (sql, rule, line) in cases {
            let findings = lint(PG, &MigrationFile::new("V5__a.sql", sql).unwrap());
            let f = findings
                .iter()
                .find(|f| f.rule == rule)
                .unwrap_or_else(|| panic!("{rule} for `{sql}`: {findings:?}"));
            assert_eq!(f.line, line, "{sql}");
            assert!(f.allowed.is_none());
            assert!(
                !rules::ALLOWABLE.contains(&rule),
                "allow findings cannot themselves be allowed"
            );
        }
    }
}
