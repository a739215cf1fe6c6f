//! Destructive and blocking migration lint.
//!
//! PostgreSQL migrations are parsed by squawk's parser (`squawk-syntax`)
//! and checked by squawk's linter (`squawk-linter`) plus appenv's own rules
//! (see [`postgres`]); MySQL/MariaDB and SQLite migrations by appenv's rules
//! on sqlparser's AST for the dialect (see [`sql`]). Every file is first
//! split into statements by sqlparser's tokenizer the way the migration
//! runs (semicolons inside strings, dollar-quoted bodies and trigger bodies
//! are safe), which gives every finding its line and statement. Allows are
//! per statement and per rule (see `-- appenv:allow` in the crate docs).
//! Statements on an object created earlier in the same file are not
//! flagged: nothing reads it yet.
//!
//! The rule table is in the crate docs ("Lint rules") and in [`rules::TABLE`].

use std::fmt;

use serde::Serialize;

use crate::allow;
use crate::backend::DatabaseKind;
use crate::source::{MigrationFile, Migrations};
use crate::split::{self, Split};

mod postgres;
pub mod rules;
mod sql;

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

    /// A finding of `rule` on `statement`, with the rule's fix from
    /// [`rules::TABLE`].
    pub(crate) fn on(
        rule: &'static str,
        file: &str,
        statement: &split::Statement,
        message: impl Into<String>,
    ) -> LintFinding {
        LintFinding::new(
            rule,
            file,
            statement.line,
            statement.index,
            message,
            rules::fix_of(rule),
        )
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
    let mut findings = match backend {
        DatabaseKind::Postgres => postgres::lint(file, no_transaction, sql, &split),
        DatabaseKind::MySql | DatabaseKind::Sqlite => {
            sql::lint(backend, file, no_transaction, &split)
        }
    };
    // One finding per rule and statement: an allow covers the rule on the
    // statement, however many places in it the rule saw.
    let mut seen = std::collections::HashSet::new();
    findings.retain(|f| seen.insert((f.rule, f.statement)));
    allow::apply(file, &split, &mut findings, rules::ALLOWABLE);
    findings
}

/// The statement of `split` that contains byte `offset` of the file.
pub(crate) fn statement_at(split: &Split, offset: usize) -> Option<&split::Statement> {
    let after = split.statements.partition_point(|s| s.start <= offset);
    split
        .statements
        .get(after.saturating_sub(1))
        .or(split.statements.first())
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

    /// (rule, backends it applies to, firing SQL, similar SQL that must not
    /// fire). Every rule of [`rules::TABLE`] except the allow rules has a
    /// row for each of its dialects (checked below).
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
            "CREATE TABLE t (a INT); ALTER TABLE t RENAME TO t2; DROP TABLE t2;",
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
            "ALTER TABLE users ALTER COLUMN email SET DEFAULT '';",
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
            rules::CONCURRENT_INDEX_IN_TRANSACTION,
            &[PG],
            "CREATE INDEX CONCURRENTLY users_email ON users (email);",
            "-- appenv:no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);",
        ),
        (
            rules::CONCURRENT_INDEX_IN_TRANSACTION,
            &[PG],
            "DROP INDEX CONCURRENTLY IF EXISTS users_email;",
            "-- appenv:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS users_email;",
        ),
        (
            rules::TRUNCATE,
            &[PG, MY],
            "TRUNCATE TABLE users;",
            "DELETE FROM users WHERE id < 10;",
        ),
        (
            rules::VACUUM_FULL,
            &[PG],
            "-- appenv:no-transaction\nVACUUM FULL users;",
            "-- appenv:no-transaction\nVACUUM ANALYZE users;",
        ),
        (
            rules::CLUSTER,
            &[PG],
            "CLUSTER users USING users_pkey;",
            "ANALYZE users;",
        ),
        (
            rules::LOCK_TABLE,
            &[PG],
            "LOCK TABLE users IN ACCESS EXCLUSIVE MODE;",
            "CREATE TABLE t (a INT); LOCK TABLE t IN ACCESS EXCLUSIVE MODE;",
        ),
        (
            rules::LOCK_TABLE,
            &[MY],
            "LOCK TABLES users WRITE;",
            "UNLOCK TABLES;",
        ),
        (
            rules::UPDATE_WITHOUT_WHERE,
            &[PG, MY, LITE],
            "UPDATE users SET active = 1;",
            "UPDATE users SET active = 1 WHERE id < 1000;",
        ),
        (
            rules::DELETE_WITHOUT_WHERE,
            &[PG, MY, LITE],
            "DELETE FROM sessions;",
            "CREATE TABLE t (a INT); INSERT INTO t VALUES (1); DELETE FROM t;",
        ),
        (
            rules::DELETE_WITHOUT_WHERE,
            &[PG],
            "WITH gone AS (DELETE FROM sessions RETURNING id) SELECT count(*) FROM gone;",
            "WITH gone AS (DELETE FROM sessions WHERE expires_at < now() RETURNING id) SELECT count(*) FROM gone;",
        ),
        (
            rules::UPDATE_WITHOUT_WHERE,
            &[PG],
            "WITH moved AS (UPDATE accounts SET plan = 'free' RETURNING id) SELECT count(*) FROM moved;",
            "WITH moved AS (UPDATE accounts SET plan = 'free' WHERE trial_ended RETURNING id) SELECT count(*) FROM moved;",
        ),
        (
            rules::EXPLICIT_TRANSACTION,
            &[PG, MY, LITE],
            "BEGIN;\nINSERT INTO t VALUES (1);\nCOMMIT;",
            "-- appenv:no-transaction\nBEGIN;\nINSERT INTO t VALUES (1);\nCOMMIT;",
        ),
        (
            rules::VALIDATE_IN_SAME_TRANSACTION,
            &[PG],
            "ALTER TABLE orders ADD CONSTRAINT orders_total CHECK (total >= 0) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT orders_total;",
            "ALTER TABLE orders VALIDATE CONSTRAINT orders_total;",
        ),
        (
            rules::CONSTRAINT_MISSING_NOT_VALID,
            &[PG],
            "ALTER TABLE orders ADD CONSTRAINT orders_total CHECK (total >= 0);",
            "ALTER TABLE orders ADD CONSTRAINT orders_total CHECK (total >= 0) NOT VALID;",
        ),
        (
            rules::ADDING_FIELD_WITH_DEFAULT,
            &[PG],
            "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();",
            "ALTER TABLE users ADD COLUMN plan text DEFAULT 'free';",
        ),
        (
            rules::ADDING_FOREIGN_KEY_CONSTRAINT,
            &[PG],
            "ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id);",
            "ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;",
        ),
        (
            rules::ADDING_SERIAL_PRIMARY_KEY_FIELD,
            &[PG],
            "ALTER TABLE events ADD PRIMARY KEY (id);",
            "ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_id_idx;",
        ),
        (
            rules::DISALLOWED_UNIQUE_CONSTRAINT,
            &[PG],
            "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
            "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;",
        ),
        (
            rules::BAN_DROP_DATABASE,
            &[PG, MY],
            "DROP DATABASE legacy;",
            "CREATE TABLE t (a INT);",
        ),
        (
            rules::BAN_DROP_DATABASE,
            &[MY],
            "DROP SCHEMA IF EXISTS legacy;",
            "CREATE SCHEMA IF NOT EXISTS legacy;",
        ),
        (
            rules::BAN_DROP_NOT_NULL,
            &[PG],
            "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
            "ALTER TABLE users ALTER COLUMN email SET DEFAULT '';",
        ),
        (
            rules::BAN_CREATE_DOMAIN_WITH_CONSTRAINT,
            &[PG],
            "CREATE DOMAIN positive AS int CHECK (VALUE > 0);",
            "CREATE DOMAIN label AS text;",
        ),
        (
            rules::BAN_ALTER_DOMAIN_WITH_ADD_CONSTRAINT,
            &[PG],
            "ALTER DOMAIN positive ADD CONSTRAINT p CHECK (VALUE > 0);",
            "ALTER DOMAIN positive SET DEFAULT 1;",
        ),
        (
            rules::BAN_UNCOMMITTED_TRANSACTION,
            &[PG],
            "-- appenv:no-transaction\nBEGIN;\nINSERT INTO t VALUES (1);",
            "-- appenv:no-transaction\nBEGIN;\nINSERT INTO t VALUES (1);\nCOMMIT;",
        ),
        (
            rules::REQUIRE_CONCURRENT_INDEX_DELETION,
            &[PG],
            "DROP INDEX users_email;",
            "-- appenv:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS users_email;",
        ),
        (
            rules::REQUIRE_CONCURRENT_PARTITION_DETACH,
            &[PG],
            "ALTER TABLE events DETACH PARTITION events_2020;",
            "-- appenv:no-transaction\nALTER TABLE events DETACH PARTITION events_2020 CONCURRENTLY;",
        ),
        (
            rules::REQUIRE_CONCURRENT_REINDEX,
            &[PG],
            "REINDEX INDEX users_email;",
            "-- appenv:no-transaction\nREINDEX INDEX CONCURRENTLY users_email;",
        ),
        (
            rules::BAN_DROP_VIEW,
            &[PG],
            "DROP VIEW active_users;",
            "CREATE VIEW v AS SELECT 1 AS one; DROP VIEW v;",
        ),
        (
            rules::BAN_DROP_FUNCTION,
            &[PG],
            "DROP FUNCTION touch_updated_at();",
            "CREATE OR REPLACE FUNCTION one() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;",
        ),
        (
            rules::BAN_DROP_TYPE,
            &[PG],
            "DROP TYPE mood;",
            "CREATE TYPE mood2 AS ENUM ('a'); DROP TYPE mood2;",
        ),
        (
            rules::BAN_DROP_DEFAULT,
            &[PG],
            "ALTER TABLE users ALTER COLUMN plan DROP DEFAULT;",
            "ALTER TABLE users ALTER COLUMN plan SET DEFAULT 'free';",
        ),
        (
            rules::BAN_DROP_SCHEMA,
            &[PG],
            "DROP SCHEMA reporting CASCADE;",
            "CREATE SCHEMA IF NOT EXISTS reporting;",
        ),
        (
            rules::BAN_DROP_SEQUENCE,
            &[PG],
            "DROP SEQUENCE invoice_numbers;",
            "CREATE SEQUENCE s; DROP SEQUENCE s;",
        ),
        (
            rules::BAN_DROP_DOMAIN,
            &[PG],
            "DROP DOMAIN positive;",
            "CREATE DOMAIN label AS text;",
        ),
        (
            rules::BAN_DROP_CONSTRAINT,
            &[PG],
            "ALTER TABLE users DROP CONSTRAINT users_email_key;",
            "ALTER TABLE users ADD CONSTRAINT users_age CHECK (age > 0) NOT VALID;",
        ),
        (
            rules::BAN_DROP_GENERATED_EXPRESSION,
            &[PG],
            "ALTER TABLE users ALTER COLUMN full_name DROP EXPRESSION;",
            "ALTER TABLE users ALTER COLUMN full_name SET STATISTICS 100;",
        ),
        (
            rules::RENAMING_OBJECT,
            &[PG],
            "ALTER VIEW active_users RENAME TO live_users;",
            "CREATE OR REPLACE VIEW live_users AS SELECT 1 AS one;",
        ),
        (
            rules::BAN_SET_SCHEMA,
            &[PG],
            "ALTER TABLE users SET SCHEMA archive;",
            "CREATE SCHEMA IF NOT EXISTS archive;",
        ),
        (
            rules::BAN_ALTER_IDENTITY,
            &[PG],
            "ALTER TABLE users ALTER COLUMN id DROP IDENTITY;",
            "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY);",
        ),
        (
            rules::BAN_DROP_EXTENSION,
            &[PG],
            "DROP EXTENSION pg_trgm;",
            "CREATE EXTENSION IF NOT EXISTS pg_trgm;",
        ),
        (
            rules::ADD_FOREIGN_KEY,
            &[MY],
            "ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id);",
            "ALTER TABLE orders ADD INDEX orders_user (user_id), ALGORITHM=INPLACE, LOCK=NONE;",
        ),
        (
            rules::PRIMARY_KEY_CHANGE,
            &[MY],
            "ALTER TABLE events ADD PRIMARY KEY (id);",
            "ALTER TABLE events ADD UNIQUE INDEX events_id (id);",
        ),
        (
            rules::PRIMARY_KEY_CHANGE,
            &[MY],
            "ALTER TABLE events DROP PRIMARY KEY;",
            "ALTER TABLE events DROP INDEX events_id;",
        ),
        (
            rules::ALGORITHM_COPY,
            &[MY],
            "ALTER TABLE events ADD COLUMN note TEXT, ALGORITHM=COPY;",
            "ALTER TABLE events ADD COLUMN note TEXT, ALGORITHM=INSTANT;",
        ),
        (
            rules::LOCK_SHARED_OR_EXCLUSIVE,
            &[MY],
            "ALTER TABLE events ADD INDEX events_at (at), LOCK=SHARED;",
            "ALTER TABLE events ADD INDEX events_at (at), LOCK=NONE;",
        ),
        (
            rules::FULLTEXT_OR_SPATIAL_INDEX,
            &[MY],
            "CREATE FULLTEXT INDEX posts_body ON posts (body);",
            "CREATE INDEX posts_title ON posts (title);",
        ),
        (
            rules::FULLTEXT_OR_SPATIAL_INDEX,
            &[MY],
            "ALTER TABLE places ADD SPATIAL INDEX places_geo (geo);",
            "CREATE TABLE places2 (geo POINT NOT NULL SRID 4326, SPATIAL INDEX (geo));",
        ),
        (
            rules::CONVERT_CHARSET,
            &[MY],
            "ALTER TABLE posts CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;",
            "ALTER TABLE posts DEFAULT CHARACTER SET utf8mb4;",
        ),
        (
            rules::OPTIMIZE_TABLE,
            &[MY],
            "OPTIMIZE TABLE posts;",
            "ANALYZE TABLE posts;",
        ),
        (
            rules::ENGINE_CHANGE,
            &[MY],
            "ALTER TABLE posts ENGINE=InnoDB;",
            "CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB; ALTER TABLE t ENGINE=InnoDB;",
        ),
        (rules::VACUUM, &[LITE], "VACUUM;", "ANALYZE;"),
        (
            rules::PRAGMA_FOREIGN_KEYS_IN_TRANSACTION,
            &[LITE],
            "PRAGMA foreign_keys = OFF;",
            "-- appenv:no-transaction\nPRAGMA foreign_keys = OFF;",
        ),
        (
            rules::ADD_COLUMN_NON_CONSTANT_DEFAULT,
            &[LITE],
            "ALTER TABLE users ADD COLUMN seen_at TEXT DEFAULT CURRENT_TIMESTAMP;",
            "ALTER TABLE users ADD COLUMN seen_at TEXT DEFAULT '1970-01-01';",
        ),
        (
            rules::UNPARSEABLE,
            &[PG, MY, LITE],
            "ALTER TABLE users FROBNICATE email;",
            "ALTER TABLE users ADD COLUMN email2 TEXT;",
        ),
    ];

    #[test]
    fn every_rule_fires_and_stays_quiet_per_dialect() {
        let mut wrong = Vec::new();
        for (rule, backends, firing, quiet) in CASES {
            for backend in *backends {
                let fired = rules_for(*backend, firing);
                if !fired.contains(rule) {
                    wrong.push(format!(
                        "{rule} should fire on {backend} for `{firing}`, got {fired:?}"
                    ));
                }
                let fired = rules_for(*backend, quiet);
                if !fired.is_empty() {
                    wrong.push(format!(
                        "nothing should fire on {backend} for `{quiet}`, got {fired:?}"
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn every_rule_has_a_case_per_dialect_and_is_allowable() {
        for rule in rules::TABLE {
            if [rules::INVALID_ALLOW, rules::STALE_ALLOW].contains(&rule.id) {
                assert!(!rules::ALLOWABLE.contains(&rule.id));
                continue;
            }
            assert!(
                rules::ALLOWABLE.contains(&rule.id),
                "{} is not allowable",
                rule.id
            );
            for backend in rule.dialects {
                assert!(
                    CASES
                        .iter()
                        .any(|(id, b, _, _)| *id == rule.id && b.contains(backend)),
                    "no test case for {} on {backend}",
                    rule.id
                );
            }
        }
        assert_eq!(rules::ALLOWABLE.len() + 2, rules::TABLE.len());
        let docs = include_str!("../docs/lint.md");
        for rule in rules::TABLE {
            assert!(
                docs.contains(&format!("| `{}` |", rule.id)),
                "{} is missing from the rule table in docs/lint.md",
                rule.id
            );
        }
    }

    #[test]
    fn no_finding_on_objects_created_earlier_in_the_file() {
        for (backend, sql) in [
            (
                PG,
                "CREATE TABLE app.\"Orders\" (id int, total int);\nCREATE INDEX orders_total ON app.\"Orders\" (total);\nALTER TABLE app.\"Orders\" ADD CONSTRAINT c CHECK (total > 0);\nALTER TABLE app.\"Orders\" ALTER COLUMN total TYPE bigint;\nUPDATE app.\"Orders\" SET total = 0;\nTRUNCATE app.\"Orders\";\nDROP TABLE app.\"Orders\";",
            ),
            (
                MY,
                "CREATE TABLE `Orders` (id INT, total INT);\nALTER TABLE orders ADD PRIMARY KEY (id), ENGINE=InnoDB;\nDELETE FROM Orders;\nDROP TABLE orders;",
            ),
            (
                LITE,
                "CREATE TABLE \"Orders\" (id INTEGER);\nALTER TABLE orders ADD COLUMN at TEXT DEFAULT CURRENT_TIMESTAMP;\nDELETE FROM ORDERS;\nDROP TABLE orders;",
            ),
        ] {
            assert_eq!(
                rules_for(backend, sql),
                Vec::<&str>::new(),
                "{backend}: {sql}"
            );
        }
        // Postgres names are matched with their schema and quoting: these
        // are other tables than the one created.
        for other in ["\"orders\"", "orders", "public.\"Orders\"", "\"Orders\""] {
            let sql = format!("CREATE TABLE app.\"Orders\" (id int);\nDROP TABLE {other};");
            assert_eq!(rules_for(PG, &sql), vec![rules::DROP_TABLE], "{sql}");
        }
        assert_eq!(
            rules_for(
                PG,
                "CREATE TABLE \"Orders\" (id int);\nDROP TABLE \"Orders\";\nDROP TABLE orders;"
            ),
            vec![rules::DROP_TABLE]
        );
    }

    #[test]
    fn valid_sql_the_parsers_used_to_reject_is_read() {
        for (backend, sql) in [
            (
                PG,
                "-- appenv:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS users_email;",
            ),
            (
                PG,
                "-- appenv:no-transaction\nREINDEX INDEX CONCURRENTLY users_email;",
            ),
            (
                PG,
                "CREATE OR REPLACE FUNCTION touch() RETURNS trigger AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$ LANGUAGE plpgsql;\nCREATE TRIGGER t BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();",
            ),
            (MY, "DO SLEEP(1);"),
            (
                MY,
                "ALTER TABLE posts DEFAULT CHARSET=utf8mb4, COMMENT='posts';",
            ),
            (
                MY,
                "CREATE TABLE t (id INT PRIMARY KEY, body TEXT, FULLTEXT KEY ft (body)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;",
            ),
            (
                LITE,
                "-- appenv:no-transaction\nPRAGMA foreign_keys = OFF;\nPRAGMA journal_mode = WAL;",
            ),
            (LITE, "PRAGMA foreign_key_check;\nREINDEX users;"),
            (
                LITE,
                "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET a = 1 WHERE id = NEW.id;\n  DELETE FROM u WHERE x = NEW.id;\nEND;",
            ),
        ] {
            assert_eq!(
                rules_for(backend, sql),
                Vec::<&str>::new(),
                "{backend}: {sql}"
            );
        }
        let mixed = rules_for(MY, "ALTER TABLE posts ENGINE=InnoDB, DROP COLUMN old;");
        assert!(
            mixed.contains(&rules::ENGINE_CHANGE) && mixed.contains(&rules::DROP_COLUMN),
            "{mixed:?}"
        );
        assert_eq!(rules_for(MY, "CLUSTER users;"), vec![rules::UNPARSEABLE]);
    }

    #[test]
    fn concurrent_index_alone_in_a_transactional_file_is_flagged() {
        // squawk lets a single-statement file pass (some tools run it
        // outside a transaction); appenv knows it runs in one.
        assert_eq!(
            rules_for(
                PG,
                "CREATE INDEX CONCURRENTLY users_email ON users (email);"
            ),
            vec![rules::CONCURRENT_INDEX_IN_TRANSACTION]
        );
        assert!(rules_for(PG, "-- appenv:no-transaction\nCREATE INDEX CONCURRENTLY a ON t (a);\nCREATE INDEX CONCURRENTLY b ON t (b);").is_empty());
        assert!(
            rules_for(
                PG,
                "-- appenv:no-transaction\nBEGIN;\nCREATE INDEX CONCURRENTLY a ON t (a);\nCOMMIT;"
            )
            .contains(&rules::CONCURRENT_INDEX_IN_TRANSACTION)
        );
    }

    #[test]
    fn squawk_ignore_comments_do_not_allow_anything() {
        let sql = "-- squawk-ignore ban-drop-table\nDROP TABLE users;";
        assert_eq!(rules_for(PG, sql), vec![rules::DROP_TABLE]);
        let sql = "-- squawk-ignore-file\nALTER TABLE users DROP COLUMN email;";
        assert_eq!(rules_for(PG, sql), vec![rules::DROP_COLUMN]);
    }

    #[test]
    fn a_parse_failure_names_the_statement_and_can_be_allowed() {
        for backend in [PG, MY, LITE] {
            let sql = "CREATE TABLE ok (id INT);\n-- appenv:allow unparseable reviewed by hand\nALTER TABLE users FROBNICATE email;";
            let findings = lint(backend, &MigrationFile::new("V3__odd.sql", sql).unwrap());
            assert_eq!(findings.len(), 1, "{backend}: {findings:?}");
            let f = &findings[0];
            assert_eq!(
                (f.rule, f.line, f.statement),
                (rules::UNPARSEABLE, 3, 2),
                "{backend}"
            );
            assert!(f.message.contains("parser cannot read"), "{}", f.message);
            assert_eq!(f.allowed.as_deref(), Some("reviewed by hand"));
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
