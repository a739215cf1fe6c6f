//! Stable lint rule ids, and the table of what each one catches.
//!
//! Rules that squawk's linter provides on PostgreSQL keep the squawk id
//! (`constraint-missing-not-valid`, …) unless appenv already had a rule for
//! the same hazard on every dialect (`drop-table` is squawk's
//! `ban-drop-table`): one id per hazard, so an allow means the same thing
//! on every backend.

use crate::backend::DatabaseKind;

const PG: &[DatabaseKind] = &[DatabaseKind::Postgres];
const MY: &[DatabaseKind] = &[DatabaseKind::MySql];
const LITE: &[DatabaseKind] = &[DatabaseKind::Sqlite];
const ALL: &[DatabaseKind] = &[
    DatabaseKind::Postgres,
    DatabaseKind::MySql,
    DatabaseKind::Sqlite,
];
const PG_MY: &[DatabaseKind] = &[DatabaseKind::Postgres, DatabaseKind::MySql];

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
/// `CREATE INDEX CONCURRENTLY` (or `DROP INDEX` / `REINDEX … CONCURRENTLY`)
/// in a migration that runs in a transaction.
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

/// `VACUUM FULL` on PostgreSQL.
pub const VACUUM_FULL: &str = "vacuum-full";
/// `CLUSTER` on PostgreSQL.
pub const CLUSTER: &str = "cluster";
/// `LOCK TABLE` (PostgreSQL) / `LOCK TABLES` (MySQL/MariaDB).
pub const LOCK_TABLE: &str = "lock-table";
/// `UPDATE` without `WHERE` on a table that existed before the migration.
pub const UPDATE_WITHOUT_WHERE: &str = "update-without-where";
/// `DELETE` without `WHERE` on a table that existed before the migration.
pub const DELETE_WITHOUT_WHERE: &str = "delete-without-where";
/// `BEGIN` / `COMMIT` / `ROLLBACK` inside a migration appenv runs in a
/// transaction.
pub const EXPLICIT_TRANSACTION: &str = "explicit-transaction";
/// `VALIDATE CONSTRAINT` in the same transaction as its `NOT VALID` add.
pub const VALIDATE_IN_SAME_TRANSACTION: &str = "validate-in-same-transaction";

/// MySQL/MariaDB: adding a foreign key.
pub const ADD_FOREIGN_KEY: &str = "add-foreign-key";
/// MySQL/MariaDB: adding or dropping the primary key.
pub const PRIMARY_KEY_CHANGE: &str = "primary-key-change";
/// MySQL/MariaDB: `ALGORITHM=COPY`.
pub const ALGORITHM_COPY: &str = "algorithm-copy";
/// MySQL/MariaDB: `LOCK=SHARED` or `LOCK=EXCLUSIVE`.
pub const LOCK_SHARED_OR_EXCLUSIVE: &str = "lock-shared-or-exclusive";
/// MySQL/MariaDB: a `FULLTEXT` or `SPATIAL` index.
pub const FULLTEXT_OR_SPATIAL_INDEX: &str = "fulltext-or-spatial-index";
/// MySQL/MariaDB: `CONVERT TO CHARACTER SET`.
pub const CONVERT_CHARSET: &str = "convert-charset";
/// MySQL/MariaDB: `OPTIMIZE TABLE`.
pub const OPTIMIZE_TABLE: &str = "optimize-table";
/// MySQL/MariaDB: `ENGINE=` (or `FORCE`) on an existing table.
pub const ENGINE_CHANGE: &str = "engine-change";

/// SQLite: `VACUUM`.
pub const VACUUM: &str = "vacuum";
/// SQLite: `PRAGMA foreign_keys = …` in a transactional migration.
pub const PRAGMA_FOREIGN_KEYS_IN_TRANSACTION: &str = "pragma-foreign-keys-in-transaction";
/// SQLite: `ADD COLUMN` with a non-constant default.
pub const ADD_COLUMN_NON_CONSTANT_DEFAULT: &str = "add-column-non-constant-default";

/// squawk: `ADD CONSTRAINT` (check, foreign key) without `NOT VALID`.
pub const CONSTRAINT_MISSING_NOT_VALID: &str = "constraint-missing-not-valid";
/// squawk: `ADD COLUMN` with a volatile default.
pub const ADDING_FIELD_WITH_DEFAULT: &str = "adding-field-with-default";
/// squawk: adding a foreign key without `NOT VALID`.
pub const ADDING_FOREIGN_KEY_CONSTRAINT: &str = "adding-foreign-key-constraint";
/// squawk: adding a primary key (or a `serial` primary key column).
pub const ADDING_SERIAL_PRIMARY_KEY_FIELD: &str = "adding-serial-primary-key-field";
/// squawk: `ADD CONSTRAINT … UNIQUE` without an existing index.
pub const DISALLOWED_UNIQUE_CONSTRAINT: &str = "disallowed-unique-constraint";
/// squawk: `DROP DATABASE`.
pub const BAN_DROP_DATABASE: &str = "ban-drop-database";
/// squawk: `ALTER COLUMN … DROP NOT NULL`.
pub const BAN_DROP_NOT_NULL: &str = "ban-drop-not-null";
/// squawk: `CREATE DOMAIN … CHECK`.
pub const BAN_CREATE_DOMAIN_WITH_CONSTRAINT: &str = "ban-create-domain-with-constraint";
/// squawk: `ALTER DOMAIN … ADD CONSTRAINT`.
pub const BAN_ALTER_DOMAIN_WITH_ADD_CONSTRAINT: &str = "ban-alter-domain-with-add-constraint";
/// squawk: a `BEGIN` without `COMMIT`.
pub const BAN_UNCOMMITTED_TRANSACTION: &str = "ban-uncommitted-transaction";
/// squawk: `DROP INDEX` without `CONCURRENTLY`.
pub const REQUIRE_CONCURRENT_INDEX_DELETION: &str = "require-concurrent-index-deletion";
/// squawk: `DETACH PARTITION` without `CONCURRENTLY`.
pub const REQUIRE_CONCURRENT_PARTITION_DETACH: &str = "require-concurrent-partition-detach";
/// squawk: `REINDEX` without `CONCURRENTLY`.
pub const REQUIRE_CONCURRENT_REINDEX: &str = "require-concurrent-reindex";
/// squawk: `DROP VIEW`.
pub const BAN_DROP_VIEW: &str = "ban-drop-view";
/// squawk: `DROP FUNCTION` / `PROCEDURE`.
pub const BAN_DROP_FUNCTION: &str = "ban-drop-function";
/// squawk: `DROP TYPE`.
pub const BAN_DROP_TYPE: &str = "ban-drop-type";
/// squawk: `ALTER COLUMN … DROP DEFAULT`.
pub const BAN_DROP_DEFAULT: &str = "ban-drop-default";
/// squawk: `DROP SCHEMA`.
pub const BAN_DROP_SCHEMA: &str = "ban-drop-schema";
/// squawk: `DROP SEQUENCE`.
pub const BAN_DROP_SEQUENCE: &str = "ban-drop-sequence";
/// squawk: `DROP DOMAIN`.
pub const BAN_DROP_DOMAIN: &str = "ban-drop-domain";
/// squawk: `ALTER TABLE … DROP CONSTRAINT`.
pub const BAN_DROP_CONSTRAINT: &str = "ban-drop-constraint";
/// squawk: `ALTER COLUMN … DROP EXPRESSION`.
pub const BAN_DROP_GENERATED_EXPRESSION: &str = "ban-drop-generated-expression";
/// squawk: renaming a view, type, sequence, schema, function, ….
pub const RENAMING_OBJECT: &str = "renaming-object";
/// squawk: `SET SCHEMA`.
pub const BAN_SET_SCHEMA: &str = "ban-set-schema";
/// squawk: changing a column's identity.
pub const BAN_ALTER_IDENTITY: &str = "ban-alter-identity";
/// squawk: `DROP EXTENSION`.
pub const BAN_DROP_EXTENSION: &str = "ban-drop-extension";

/// One rule as the table in the crate docs lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rule {
    /// The stable id that findings and `-- appenv:allow` name.
    pub id: &'static str,
    /// The backends it checks.
    pub dialects: &'static [DatabaseKind],
    /// What it catches.
    pub catches: &'static str,
    /// Why that hurts a running release.
    pub why: &'static str,
    /// The safe alternative (a finding's `fix`).
    pub fix: &'static str,
}

const fn rule(
    id: &'static str,
    dialects: &'static [DatabaseKind],
    catches: &'static str,
    why: &'static str,
    fix: &'static str,
) -> Rule {
    Rule {
        id,
        dialects,
        catches,
        why,
        fix,
    }
}

/// Every rule a finding may carry, allowable ones first.
pub const TABLE: &[Rule] = &[
    rule(
        DROP_TABLE,
        ALL,
        "`DROP TABLE` of a table that existed before the migration",
        "the running release still reads it, and the data is gone",
        "stop using the table in a release first, back it up, then drop it in a later migration with `-- appenv:allow drop-table <reason>` before the statement",
    ),
    rule(
        DROP_COLUMN,
        ALL,
        "`ALTER TABLE … DROP COLUMN`",
        "the running release may still read or write the column",
        "stop reading and writing the column in one release, drop it in a later one with `-- appenv:allow drop-column <reason>` before the statement",
    ),
    rule(
        RENAME_TABLE,
        ALL,
        "renaming a table (`ALTER TABLE … RENAME TO`, MySQL `RENAME TABLE`)",
        "the running release still uses the old name",
        "create the new table (or a view), write to both, switch readers, then drop the old one in a later release",
    ),
    rule(
        RENAME_COLUMN,
        ALL,
        "renaming a column (`RENAME COLUMN`, MySQL `CHANGE old new`)",
        "the running release still uses the old name",
        "add the new column, write to both, backfill, switch readers, then drop the old column in a later release",
    ),
    rule(
        CHANGE_COLUMN_TYPE,
        PG_MY,
        "changing a column's type (`ALTER COLUMN … TYPE`, MySQL `MODIFY` / `CHANGE`)",
        "usually rewrites the table under an exclusive lock (MySQL: `ALGORITHM=COPY`, writes blocked) and may break the running release's reads",
        "add a new column of the new type, backfill in batches, switch readers, then drop the old column",
    ),
    rule(
        SET_NOT_NULL,
        PG,
        "`ALTER COLUMN … SET NOT NULL` (squawk `adding-not-nullable-field`)",
        "scans the whole table under an `ACCESS EXCLUSIVE` lock, and fails on existing NULLs",
        "add `CHECK (col IS NOT NULL) NOT VALID`, `VALIDATE` it in a later migration, then `SET NOT NULL` (PostgreSQL 12+ skips the scan)",
    ),
    rule(
        ADD_NOT_NULL_COLUMN,
        ALL,
        "adding a `NOT NULL` column without a default (squawk `adding-required-field`)",
        "fails on a non-empty table, and the running release's inserts that omit it fail",
        "add the column nullable (or with a constant `DEFAULT`), backfill, then add `NOT NULL` in a later migration",
    ),
    rule(
        NON_CONCURRENT_INDEX,
        PG,
        "`CREATE INDEX` without `CONCURRENTLY` on an existing table (squawk `require-concurrent-index-creation`)",
        "blocks every write to the table while the index builds",
        "`CREATE INDEX CONCURRENTLY` in its own migration whose first line is `-- appenv:no-transaction`",
    ),
    rule(
        CONCURRENT_INDEX_IN_TRANSACTION,
        PG,
        "`CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY` or `REINDEX … CONCURRENTLY` in a migration appenv runs in a transaction (also when it is the file's only statement)",
        "PostgreSQL refuses it inside a transaction block: the deploy fails",
        "make `-- appenv:no-transaction` the first line of the migration",
    ),
    rule(
        TRUNCATE,
        PG_MY,
        "`TRUNCATE` of an existing table (`CASCADE` included)",
        "deletes every row under an `ACCESS EXCLUSIVE` lock (MySQL: drops and recreates the table)",
        "delete in batches with a `WHERE` clause, or allow it if the data is disposable",
    ),
    rule(
        VACUUM_FULL,
        PG,
        "`VACUUM FULL`",
        "rewrites the table under an `ACCESS EXCLUSIVE` lock: no reads, no writes until it ends",
        "plain `VACUUM`, or `pg_repack` / `REPACK (CONCURRENTLY)` outside the migration",
    ),
    rule(
        CLUSTER,
        PG,
        "`CLUSTER`",
        "rewrites the table under an `ACCESS EXCLUSIVE` lock",
        "`pg_repack` / `REPACK (CONCURRENTLY)` outside the migration",
    ),
    rule(
        LOCK_TABLE,
        PG_MY,
        "`LOCK TABLE` (MySQL `LOCK TABLES`) on an existing table",
        "holds a lock the running release queues behind for the rest of the transaction (MySQL: also commits the migration's open transaction)",
        "drop the explicit lock; let each statement take the lock it needs, bounded by appenv's `lock_timeout`",
    ),
    rule(
        UPDATE_WITHOUT_WHERE,
        ALL,
        "`UPDATE` without `WHERE` on a table that existed before the migration",
        "rewrites every row in one transaction: row locks on the whole table, bloat, long replication lag",
        "backfill in batches (`WHERE id BETWEEN …`) or outside the migration; allow it for a small table",
    ),
    rule(
        DELETE_WITHOUT_WHERE,
        ALL,
        "`DELETE` without `WHERE` on a table that existed before the migration",
        "removes every row the running release reads, in one long transaction",
        "delete in batches with a `WHERE` clause, or allow it if the table is disposable",
    ),
    rule(
        EXPLICIT_TRANSACTION,
        ALL,
        "`BEGIN` / `START TRANSACTION` / `COMMIT` / `ROLLBACK` in a migration appenv runs in a transaction (squawk `transaction-nesting`)",
        "appenv already opened the transaction: `COMMIT` ends it early (the history row is no longer atomic with the changes), and MySQL's `BEGIN` commits it implicitly",
        "remove the statement, or make `-- appenv:no-transaction` the first line and manage the transaction yourself",
    ),
    rule(
        VALIDATE_IN_SAME_TRANSACTION,
        PG,
        "`VALIDATE CONSTRAINT` in the same transaction as the `ADD CONSTRAINT … NOT VALID` it validates",
        "the transaction keeps the add's `ACCESS EXCLUSIVE` lock while validation scans the table: reads and writes wait",
        "validate in a later migration (or after a `COMMIT` in a no-transaction file)",
    ),
    rule(
        CONSTRAINT_MISSING_NOT_VALID,
        PG,
        "`ADD CONSTRAINT` (check, foreign key) without `NOT VALID` on an existing table",
        "validates every row while holding a lock that blocks writes",
        "add it `NOT VALID`, then `VALIDATE CONSTRAINT` in a later migration",
    ),
    rule(
        ADDING_FIELD_WITH_DEFAULT,
        PG,
        "`ADD COLUMN` with a volatile default (`random()`, `gen_random_uuid()`, …) or a generated column",
        "rewrites the whole table under an `ACCESS EXCLUSIVE` lock",
        "add the column without a default, set the default, backfill in batches",
    ),
    rule(
        ADDING_FOREIGN_KEY_CONSTRAINT,
        PG,
        "adding a foreign key without `NOT VALID`",
        "locks both tables against writes while every row is checked",
        "add it `NOT VALID`, then `VALIDATE CONSTRAINT` in a later migration",
    ),
    rule(
        ADDING_SERIAL_PRIMARY_KEY_FIELD,
        PG,
        "adding a primary key (or a `serial PRIMARY KEY` column) to an existing table",
        "builds the unique index under an `ACCESS EXCLUSIVE` lock",
        "`CREATE UNIQUE INDEX CONCURRENTLY`, then `ADD CONSTRAINT … PRIMARY KEY USING INDEX`",
    ),
    rule(
        DISALLOWED_UNIQUE_CONSTRAINT,
        PG,
        "`ADD CONSTRAINT … UNIQUE` that builds its own index",
        "builds the index under an `ACCESS EXCLUSIVE` lock",
        "`CREATE UNIQUE INDEX CONCURRENTLY`, then `ADD CONSTRAINT … UNIQUE USING INDEX`",
    ),
    rule(
        BAN_DROP_DATABASE,
        PG_MY,
        "`DROP DATABASE` (MySQL/MariaDB: also `DROP SCHEMA`, the same statement there)",
        "every release using it fails, the data is gone",
        "never from a migration",
    ),
    rule(
        BAN_DROP_NOT_NULL,
        PG,
        "`ALTER COLUMN … DROP NOT NULL`",
        "the running release may assume the column is never NULL",
        "only after every reader handles NULL; allow it with that reason",
    ),
    rule(
        BAN_CREATE_DOMAIN_WITH_CONSTRAINT,
        PG,
        "`CREATE DOMAIN … CHECK`",
        "constraints on domains cannot be added `NOT VALID` later, so every change to them locks and scans each table using the domain",
        "a `CHECK` constraint on the table's column instead",
    ),
    rule(
        BAN_ALTER_DOMAIN_WITH_ADD_CONSTRAINT,
        PG,
        "`ALTER DOMAIN … ADD CONSTRAINT`",
        "scans every table using the domain under a lock",
        "a `CHECK … NOT VALID` constraint on each table instead",
    ),
    rule(
        BAN_UNCOMMITTED_TRANSACTION,
        PG,
        "a `BEGIN` with no `COMMIT` in a no-transaction migration",
        "the transaction is left open until the session ends, holding its locks",
        "`COMMIT` before the end of the file",
    ),
    rule(
        REQUIRE_CONCURRENT_INDEX_DELETION,
        PG,
        "`DROP INDEX` without `CONCURRENTLY`",
        "takes an `ACCESS EXCLUSIVE` lock on the index's table",
        "`DROP INDEX CONCURRENTLY` in a `-- appenv:no-transaction` migration",
    ),
    rule(
        REQUIRE_CONCURRENT_PARTITION_DETACH,
        PG,
        "`DETACH PARTITION` without `CONCURRENTLY`",
        "takes an `ACCESS EXCLUSIVE` lock on the parent table",
        "`DETACH PARTITION … CONCURRENTLY` in a `-- appenv:no-transaction` migration",
    ),
    rule(
        REQUIRE_CONCURRENT_REINDEX,
        PG,
        "`REINDEX` without `CONCURRENTLY`",
        "blocks writes (and reads that use the index) while it rebuilds",
        "`REINDEX … CONCURRENTLY` in a `-- appenv:no-transaction` migration",
    ),
    rule(
        BAN_DROP_VIEW,
        PG,
        "`DROP VIEW`",
        "the running release may still query the view",
        "stop using it in a release first, then drop it with an allow",
    ),
    rule(
        BAN_DROP_FUNCTION,
        PG,
        "`DROP FUNCTION` / `DROP PROCEDURE`",
        "the running release, triggers or defaults may still call it",
        "stop using it first, then drop it with an allow",
    ),
    rule(
        BAN_DROP_TYPE,
        PG,
        "`DROP TYPE`",
        "columns and the running release may still use it",
        "stop using it first, then drop it with an allow",
    ),
    rule(
        BAN_DROP_DEFAULT,
        PG,
        "`ALTER COLUMN … DROP DEFAULT`",
        "the running release's inserts that omit the column now get NULL or fail",
        "only after every writer sets the column; allow it with that reason",
    ),
    rule(
        BAN_DROP_SCHEMA,
        PG,
        "`DROP SCHEMA`",
        "drops everything in it that the running release uses",
        "stop using it first, then drop it with an allow",
    ),
    rule(
        BAN_DROP_SEQUENCE,
        PG,
        "`DROP SEQUENCE`",
        "defaults and the running release may still call `nextval` on it",
        "stop using it first, then drop it with an allow",
    ),
    rule(
        BAN_DROP_DOMAIN,
        PG,
        "`DROP DOMAIN`",
        "columns may still use it",
        "stop using it first, then drop it with an allow",
    ),
    rule(
        BAN_DROP_CONSTRAINT,
        PG,
        "`ALTER TABLE … DROP CONSTRAINT`",
        "the running release may rely on it (uniqueness for upserts, references)",
        "only after no code relies on it; allow it with that reason",
    ),
    rule(
        BAN_DROP_GENERATED_EXPRESSION,
        PG,
        "`ALTER COLUMN … DROP EXPRESSION`",
        "the column stops being computed while the running release relies on it",
        "stop relying on it first; allow it with that reason",
    ),
    rule(
        RENAMING_OBJECT,
        PG,
        "renaming a view, type, sequence, schema, function or other object",
        "the running release still uses the old name",
        "create the new object beside the old one, switch users, then drop the old one",
    ),
    rule(
        BAN_SET_SCHEMA,
        PG,
        "`SET SCHEMA`",
        "the running release still uses the old qualified name",
        "create the object in the new schema beside the old one, switch users, then drop the old one",
    ),
    rule(
        BAN_ALTER_IDENTITY,
        PG,
        "changing a column's identity (`ADD/SET/DROP IDENTITY`)",
        "changes how the running release's inserts get ids",
        "a new column with the new identity, then switch",
    ),
    rule(
        BAN_DROP_EXTENSION,
        PG,
        "`DROP EXTENSION`",
        "drops the types and functions it provides that the running release uses",
        "stop using it first, then drop it with an allow",
    ),
    rule(
        ADD_FOREIGN_KEY,
        MY,
        "adding a foreign key to an existing table",
        "with `foreign_key_checks=1` InnoDB can only add it with `ALGORITHM=COPY`: the table is copied and writes wait",
        "add it in a maintenance window, or with an online schema-change tool (gh-ost, pt-online-schema-change); allow it for a small table",
    ),
    rule(
        PRIMARY_KEY_CHANGE,
        MY,
        "`ADD PRIMARY KEY` / `DROP PRIMARY KEY` on an existing table",
        "rebuilds the clustered index, the whole table (dropping it without adding one: `ALGORITHM=COPY`, writes wait)",
        "an online schema-change tool, or a new table and a switch",
    ),
    rule(
        ALGORITHM_COPY,
        MY,
        "`ALGORITHM=COPY`",
        "copies the table; concurrent writes wait until it ends",
        "`ALGORITHM=INPLACE, LOCK=NONE` (or `INSTANT`) where the change supports it, otherwise an online schema-change tool",
    ),
    rule(
        LOCK_SHARED_OR_EXCLUSIVE,
        MY,
        "`LOCK=SHARED` or `LOCK=EXCLUSIVE`",
        "blocks writes (shared) or reads and writes (exclusive) for the whole `ALTER`",
        "`LOCK=NONE`: the server then refuses the `ALTER` instead of blocking if it cannot run online",
    ),
    rule(
        FULLTEXT_OR_SPATIAL_INDEX,
        MY,
        "a `FULLTEXT` or `SPATIAL` index on an existing table",
        "the first `FULLTEXT` index rebuilds the table (hidden `FTS_DOC_ID`) and neither kind allows `LOCK=NONE`: writes wait",
        "add it in a maintenance window or with an online schema-change tool; allow it when the table already has one (no rebuild)",
    ),
    rule(
        CONVERT_CHARSET,
        MY,
        "`ALTER TABLE … CONVERT TO CHARACTER SET`",
        "rewrites every text column with `ALGORITHM=COPY`: writes wait, and index length limits may fail midway",
        "an online schema-change tool, or new columns and a backfill",
    ),
    rule(
        OPTIMIZE_TABLE,
        MY,
        "`OPTIMIZE TABLE`",
        "rebuilds the table (InnoDB: recreate + analyze); MyISAM and some MariaDB configurations lock it for the duration",
        "run it outside the migration, off-peak",
    ),
    rule(
        ENGINE_CHANGE,
        MY,
        "`ENGINE=` or `FORCE` in `ALTER TABLE` of an existing table",
        "rebuilds the table; a change of engine copies it with writes blocked",
        "an online schema-change tool, off-peak",
    ),
    rule(
        VACUUM,
        LITE,
        "`VACUUM`",
        "fails inside a transaction; otherwise rewrites the whole database file holding an exclusive lock: every writer waits",
        "run it outside migrations (or in a `-- appenv:no-transaction` migration, allowed, in a maintenance window)",
    ),
    rule(
        PRAGMA_FOREIGN_KEYS_IN_TRANSACTION,
        LITE,
        "`PRAGMA foreign_keys = …` in a migration appenv runs in a transaction",
        "SQLite silently ignores it inside a transaction, so the table rebuild it was meant to protect runs with the old setting",
        "make `-- appenv:no-transaction` the first line and wrap the rebuild in your own `BEGIN` … `COMMIT` after the pragma",
    ),
    rule(
        ADD_COLUMN_NON_CONSTANT_DEFAULT,
        LITE,
        "`ADD COLUMN` whose default is not a constant (`CURRENT_TIMESTAMP`, an expression in parentheses)",
        "SQLite refuses it on a table with rows: the deploy fails",
        "add the column with a constant default (or none) and backfill with `UPDATE`",
    ),
    rule(
        UNPARSEABLE,
        ALL,
        "a statement the backend's parser cannot read (the finding carries the parser's message)",
        "nothing about it could be checked",
        "check the syntax; if it is valid for the database, review it by hand and put `-- appenv:allow unparseable <reason>` before it",
    ),
    rule(
        INVALID_ALLOW,
        ALL,
        "a malformed, misplaced or unknown `-- appenv:allow` (cannot be allowed)",
        "a typo would otherwise silently allow nothing, or the wrong thing",
        "fix or remove the annotation",
    ),
    rule(
        STALE_ALLOW,
        ALL,
        "an `-- appenv:allow` that matches no finding of its statement (cannot be allowed)",
        "the reviewed hazard moved or changed; the allow would cover a future one unseen",
        "remove the annotation, or move it before the statement it is meant for",
    ),
];

/// The rules an `-- appenv:allow <rule-id> <reason>` may name: all of
/// [`TABLE`] except [`INVALID_ALLOW`] and [`STALE_ALLOW`].
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
    VACUUM_FULL,
    CLUSTER,
    LOCK_TABLE,
    UPDATE_WITHOUT_WHERE,
    DELETE_WITHOUT_WHERE,
    EXPLICIT_TRANSACTION,
    VALIDATE_IN_SAME_TRANSACTION,
    CONSTRAINT_MISSING_NOT_VALID,
    ADDING_FIELD_WITH_DEFAULT,
    ADDING_FOREIGN_KEY_CONSTRAINT,
    ADDING_SERIAL_PRIMARY_KEY_FIELD,
    DISALLOWED_UNIQUE_CONSTRAINT,
    BAN_DROP_DATABASE,
    BAN_DROP_NOT_NULL,
    BAN_CREATE_DOMAIN_WITH_CONSTRAINT,
    BAN_ALTER_DOMAIN_WITH_ADD_CONSTRAINT,
    BAN_UNCOMMITTED_TRANSACTION,
    REQUIRE_CONCURRENT_INDEX_DELETION,
    REQUIRE_CONCURRENT_PARTITION_DETACH,
    REQUIRE_CONCURRENT_REINDEX,
    BAN_DROP_VIEW,
    BAN_DROP_FUNCTION,
    BAN_DROP_TYPE,
    BAN_DROP_DEFAULT,
    BAN_DROP_SCHEMA,
    BAN_DROP_SEQUENCE,
    BAN_DROP_DOMAIN,
    BAN_DROP_CONSTRAINT,
    BAN_DROP_GENERATED_EXPRESSION,
    RENAMING_OBJECT,
    BAN_SET_SCHEMA,
    BAN_ALTER_IDENTITY,
    BAN_DROP_EXTENSION,
    ADD_FOREIGN_KEY,
    PRIMARY_KEY_CHANGE,
    ALGORITHM_COPY,
    LOCK_SHARED_OR_EXCLUSIVE,
    FULLTEXT_OR_SPATIAL_INDEX,
    CONVERT_CHARSET,
    OPTIMIZE_TABLE,
    ENGINE_CHANGE,
    VACUUM,
    PRAGMA_FOREIGN_KEYS_IN_TRANSACTION,
    ADD_COLUMN_NON_CONSTANT_DEFAULT,
    UNPARSEABLE,
];

/// The table entry of a rule id.
pub fn describe(id: &str) -> Option<&'static Rule> {
    TABLE.iter().find(|r| r.id == id)
}

/// The fix text of a rule (empty for an unknown id).
pub(crate) fn fix_of(id: &str) -> &'static str {
    describe(id).map_or("", |r| r.fix)
}
