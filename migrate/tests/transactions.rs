//! Migrations run as written on every backend: transactions, no-transaction
//! files statement by statement, dirty state and `repair`, errors that point
//! into the file, `plan` agreeing with `up`, and `down`.

mod support;

use std::time::Duration;

use appenv_config::AppEnv;
use appenv_migrate::{Error, MigrationFile, Migrations, Migrator, RepairAction, exit};
use support::{Kind, TestDb, migrations, with};

async fn count(db: &TestDb, from_where: &str) -> i64 {
    let cast = match db.kind {
        Kind::MySql => "CHAR",
        _ => "VARCHAR(20)",
    };
    db.query_strings(&format!(
        "SELECT CAST(COUNT(*) AS {cast}) FROM {from_where}"
    ))
    .await[0]
        .parse()
        .unwrap()
}

fn migrator(db: &TestDb, m: Migrations, env: AppEnv) -> Migrator {
    Migrator::new(db.url.as_str(), m, env)
        .unwrap()
        .with_lock_wait(Duration::from_secs(60))
        .with_poll_interval(Duration::from_millis(20))
}

fn table(kind: Kind, name: &str) -> String {
    match kind {
        Kind::Postgres => format!("pg_tables WHERE tablename = '{name}'"),
        Kind::MySql => format!(
            "information_schema.tables WHERE table_schema = DATABASE() AND table_name = '{name}'"
        ),
        Kind::Sqlite => format!("sqlite_master WHERE type = 'table' AND name = '{name}'"),
    }
}

macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Kind::Postgres).await }) *
        }
        mod mariadb {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Kind::MySql).await }) *
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Kind::Sqlite).await }) *
        }
    };
}

per_backend!(
    no_transaction_failure_is_dirty_until_repaired,
    plan_and_up_agree_on_exit_codes_for_each_refusal,
    down_round_trips_two_migrations_and_refuses_a_missing_undo_script,
);

/// V2 is a no-transaction file whose second statement fails.
fn failing_no_transaction() -> Migrations {
    with(
        migrations(1),
        &[
            (
                "V2__split.sql",
                "-- appenv:no-transaction\nCREATE TABLE a2 (id INTEGER);\n\nINSERT INTO missing_table VALUES (1);\nCREATE TABLE b2 (id INTEGER);\n",
            ),
            ("V3__after.sql", "CREATE TABLE t3 (id INTEGER);"),
        ],
    )
}

async fn no_transaction_failure_is_dirty_until_repaired(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let set = failing_no_transaction();
    let m = migrator(&db, set.clone(), AppEnv::Local);
    let err = m.up().await.unwrap_err();
    assert_eq!(err.exit_code(), exit::MIGRATION_FAILED, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("V2__split.sql failed at V2__split.sql:4 (statement 2 of 3)"),
        "{text}"
    );
    assert!(text.contains("the database is now dirty"), "{text}");
    assert!(matches!(err, Error::MigrationFailed { dirty: true, .. }));
    assert_eq!(count(&db, &table(kind, "a2")).await, 1, "statement 1 stays");

    // Every command reports it; up and plan refuse with 9.
    let status = m.status().await.unwrap();
    assert_eq!(status.dirty.len(), 1);
    let d = &status.dirty[0];
    assert_eq!((d.version, d.statement, d.statements, d.line), (2, 2, 3, 4));
    assert!(
        d.error.as_deref().unwrap().contains("missing_table"),
        "{d:?}"
    );
    let err = m.verify().await.unwrap_err();
    assert_eq!(err.exit_code(), exit::DIRTY, "{err}");
    assert!(
        err.to_string().contains(
            "dirty: version 2 (V2__split.sql) stopped at statement 2 of 3 (V2__split.sql:4)"
        ),
        "{err}"
    );
    let err = m.up().await.unwrap_err();
    assert_eq!(err.exit_code(), exit::DIRTY, "{err}");
    assert_eq!(m.plan().await.unwrap().exit_code(), exit::DIRTY);
    assert_eq!(m.readiness().await.unwrap_err().exit_code(), exit::DIRTY);
    {
        use appenv_config::Section;
        let config = appenv_migrate::DatabaseConfig::defaults(AppEnv::Local);
        let err = appenv_migrate::run_startup(AppEnv::Local, &config, db.url.as_str(), set.clone())
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), exit::DIRTY, "startup refuses: {err}");
    }
    assert_eq!(
        count(
            &db,
            "appenv_migration_audit WHERE action = 'up' AND outcome = 'dirty'"
        )
        .await,
        2,
        "the refused up and the refused startup"
    );

    // Finished by hand, then marked applied: the next up applies the rest.
    db.exec("CREATE TABLE missing_table (id INTEGER)").await;
    db.exec("INSERT INTO missing_table VALUES (1)").await;
    db.exec("CREATE TABLE b2 (id INTEGER)").await;
    let report = m.repair(RepairAction::MarkApplied).await.unwrap();
    assert_eq!(report.applied, vec![2]);
    assert!(m.status().await.unwrap().dirty.is_empty());
    let report = m.up().await.unwrap();
    assert_eq!(report.applied, vec![3]);
    m.verify().await.unwrap();
    assert_eq!(
        count(&db, "appenv_migration_audit WHERE action = 'repair' AND outcome = 'success' AND versions = '2'").await,
        1
    );
    let err = m.repair(RepairAction::Clear).await.unwrap_err();
    assert!(err.to_string().contains("nothing is dirty"), "{err}");
}

async fn plan_and_up_agree_on_exit_codes_for_each_refusal(kind: Kind) {
    let edited_v2 = || {
        with(
            migrations(1),
            &[(
                "V2__table_2.sql",
                "CREATE TABLE t2 (id INTEGER PRIMARY KEY, note VARCHAR(99));",
            )],
        )
    };
    let out_of_order = || {
        with(
            Migrations::from_files(migrations(3).iter().filter(|m| m.version() != 2).cloned()),
            &[("V2__late.sql", "CREATE TABLE late (id INTEGER);")],
        )
    };
    let cases: Vec<(&str, Migrations, Migrations, i32)> = vec![
        ("current", migrations(2), migrations(2), exit::OK),
        ("pending", migrations(1), migrations(3), exit::OK),
        (
            "divergent",
            migrations(2),
            with(edited_v2(), &[]),
            exit::DIVERGENT,
        ),
        (
            "missing",
            migrations(3),
            Migrations::from_files(migrations(4).iter().filter(|m| m.version() != 2).cloned()),
            exit::DIVERGENT,
        ),
        (
            "out of order",
            Migrations::from_files(migrations(3).iter().filter(|m| m.version() != 2).cloned()),
            out_of_order(),
            exit::DIVERGENT,
        ),
        (
            "lint",
            migrations(1),
            with(migrations(1), &[("V2__drop.sql", "DROP TABLE t1;")]),
            exit::LINT,
        ),
        (
            "dirty",
            failing_no_transaction(),
            failing_no_transaction(),
            exit::DIRTY,
        ),
    ];
    for (name, before, after, expected) in cases {
        let Some(db) = TestDb::new(kind).await else {
            return;
        };
        let _ = migrator(&db, before, AppEnv::Local).up().await;
        let planned = migrator(&db, after.clone(), AppEnv::Production)
            .plan()
            .await
            .unwrap();
        assert_eq!(
            planned.exit_code(),
            expected,
            "plan, {name}: {:?}",
            planned.refusal
        );
        let up = migrator(&db, after, AppEnv::Production).up().await;
        let code = up.as_ref().map_or_else(Error::exit_code, |_| exit::OK);
        assert_eq!(code, expected, "up, {name}: {up:?}");
        if let Some(r) = &planned.refusal {
            assert_eq!(r.message, up.unwrap_err().to_string(), "{name}: same words");
        }
    }
}

async fn down_round_trips_two_migrations_and_refuses_a_missing_undo_script(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let set = Migrations::from_files([
        MigrationFile::new(
            "V1__base.sql",
            "CREATE TABLE base (id INTEGER PRIMARY KEY);",
        )
        .unwrap(),
        MigrationFile::new(
            "V2__users.sql",
            "CREATE TABLE users (id INTEGER PRIMARY KEY);",
        )
        .unwrap()
        .with_undo(
            "-- appenv:allow drop-table reverting V2 drops what it added\nDROP TABLE users;",
        ),
        MigrationFile::new(
            "V3__orders.sql",
            "CREATE TABLE orders (id INTEGER PRIMARY KEY);\nINSERT INTO orders VALUES (1);",
        )
        .unwrap()
        .with_undo("-- appenv:allow drop-table reverting V3\nDROP TABLE orders;"),
    ]);
    let m = migrator(&db, set.clone(), AppEnv::Local);
    assert_eq!(m.up().await.unwrap().applied, vec![1, 2, 3]);

    // V1 has no undo script: a range including it is refused up front.
    let err = m.down(Some(0)).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("version 1 (V1__base.sql) has no undo script V1__base.down.sql"),
        "{err}"
    );
    assert_eq!(
        count(&db, "refinery_schema_history").await,
        3,
        "nothing reverted"
    );
    assert_eq!(count(&db, &table(kind, "orders")).await, 1);

    // An undo script is linted like a migration: dropping needs its allow.
    let unallowed = Migrations::from_files(set.iter().cloned().map(|f| {
        if f.version() == 3 {
            f.with_undo("DROP TABLE orders;")
        } else {
            f
        }
    }));
    let err = migrator(&db, unallowed, AppEnv::Local)
        .down(None)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::LINT, "{err}");
    assert!(
        err.to_string()
            .contains("V3__orders.down.sql:1: [drop-table]"),
        "{err}"
    );

    let report = m.down(Some(1)).await.unwrap();
    assert_eq!(report.reverted, vec![3, 2], "newest first");
    assert_eq!(count(&db, "refinery_schema_history").await, 1);
    assert_eq!(count(&db, &table(kind, "orders")).await, 0);
    assert_eq!(count(&db, &table(kind, "users")).await, 0);
    assert_eq!(
        count(&db, "appenv_migration_audit WHERE action = 'down' AND outcome = 'success' AND versions = '3,2'").await,
        1
    );
    // And forward again.
    assert_eq!(m.up().await.unwrap().applied, vec![2, 3]);
    m.verify().await.unwrap();
    assert_eq!(m.down(None).await.unwrap().reverted, vec![3]);
    assert_eq!(m.status().await.unwrap().pending[0].version, 3);
}

// ---- SQLite ----

#[tokio::test]
async fn sqlite_table_rebuild_with_foreign_keys_off_keeps_every_child_row() {
    let db = TestDb::new(Kind::Sqlite).await.unwrap();
    let set = Migrations::from_files([
        MigrationFile::new(
            "V1__parents.sql",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);\n\
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent (id) ON DELETE CASCADE);\n\
             INSERT INTO parent VALUES (1, 'a'), (2, 'b');\n\
             INSERT INTO child VALUES (10, 1), (11, 1), (12, 2);",
        )
        .unwrap(),
        // SQLite's documented table-rebuild procedure
        // (https://www.sqlite.org/lang_altertable.html#otheralter), with
        // `0`/`1` for OFF/ON: sqlparser 0.63 cannot parse `= OFF`, and the
        // lint refuses what it cannot parse. Inside a transaction the PRAGMA
        // is a no-op and DROP TABLE parent cascades into child.
        MigrationFile::new(
            "V2__rebuild_parent.sql",
            "-- appenv:no-transaction\n\
             PRAGMA foreign_keys = 0;\n\
             BEGIN;\n\
             CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '');\n\
             INSERT INTO parent_new (id, name) SELECT id, COALESCE(name, '') FROM parent;\n\
             -- appenv:allow drop-table the rebuilt table replaces it\n\
             DROP TABLE parent;\n\
             ALTER TABLE parent_new RENAME TO parent;\n\
             PRAGMA foreign_key_check;\n\
             COMMIT;\n\
             PRAGMA foreign_keys = 1;\n",
        )
        .unwrap(),
    ]);
    let m = migrator(&db, set, AppEnv::Local);
    assert_eq!(m.up().await.unwrap().applied, vec![1, 2]);
    assert_eq!(count(&db, "child").await, 3, "every child row kept");
    assert_eq!(
        count(&db, "child JOIN parent ON parent.id = child.parent_id").await,
        3
    );
    assert_eq!(
        db.query_strings("SELECT sql FROM sqlite_master WHERE name = 'parent'")
            .await[0],
        "CREATE TABLE \"parent\" (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '')"
    );
    m.verify().await.unwrap();
}

#[tokio::test]
async fn a_transaction_the_no_transaction_file_opened_is_rolled_back_on_failure() {
    for kind in [Kind::Sqlite, Kind::Postgres] {
        let Some(db) = TestDb::new(kind).await else {
            continue;
        };
        let set = with(
            migrations(1),
            &[(
                "V2__own_tx.sql",
                "-- appenv:no-transaction\nCREATE TABLE kept (id INTEGER);\nBEGIN;\nCREATE TABLE rolled_back (id INTEGER);\nINSERT INTO nope VALUES (1);\nCOMMIT;",
            )],
        );
        let m = migrator(&db, set, AppEnv::Local);
        let err = m.up().await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::MigrationFailed {
                    statement: 4,
                    line: 5,
                    dirty: true,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(count(&db, &table(kind, "kept")).await, 1);
        assert_eq!(count(&db, &table(kind, "rolled_back")).await, 0);
        let d = &m.status().await.unwrap().dirty[0];
        assert_eq!(
            (d.statement, d.line),
            (2, 3),
            "stopped at the file's own BEGIN: {d:?}"
        );
        assert!(
            d.error.as_deref().unwrap_or_default().contains("nope"),
            "{d:?}"
        );
        assert_eq!(
            count(
                &db,
                "appenv_migration_audit WHERE outcome = 'migration-failed'"
            )
            .await,
            1,
            "the audit row is not lost in the file's transaction"
        );
    }
}

#[tokio::test]
async fn sqlite_transactional_file_still_runs_in_one_transaction() {
    // The same rebuild in a transactional file: PRAGMA foreign_keys is a
    // no-op inside a transaction, which is why the no-transaction marker
    // exists; a failing statement rolls the whole file back.
    let db = TestDb::new(Kind::Sqlite).await.unwrap();
    let set = with(
        migrations(1),
        &[(
            "V2__two.sql",
            "INSERT INTO t1 VALUES (1, 'kept?');\nINSERT INTO nope VALUES (1);",
        )],
    );
    let err = migrator(&db, set, AppEnv::Local).up().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::MigrationFailed {
                dirty: false,
                statement: 2,
                line: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(count(&db, "t1").await, 0, "statement 1 rolled back");
    assert_eq!(count(&db, "refinery_schema_history").await, 1);
}

#[tokio::test]
async fn sqlite_vacuum_runs_in_a_no_transaction_file() {
    let db = TestDb::new(Kind::Sqlite).await.unwrap();
    let set = with(
        migrations(1),
        &[(
            "V2__vacuum.sql",
            "-- appenv:no-transaction\n-- appenv:allow delete-without-where test data\nDELETE FROM t1;\n-- appenv:allow vacuum maintenance window\nVACUUM;\n",
        )],
    );
    let report = migrator(&db, set, AppEnv::Local).up().await.unwrap();
    assert_eq!(report.applied, vec![1, 2]);
    assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
}

#[tokio::test]
async fn sqlite_lock_excludes_a_second_process_without_a_transaction() {
    // The lock is a file lock: while a migrator holds it the database
    // stays writable (no transaction spans the run), yet a second migrator
    // waits.
    let db = TestDb::new(Kind::Sqlite).await.unwrap();
    migrator(&db, migrations(1), AppEnv::Local)
        .up()
        .await
        .unwrap();
    let path = appenv_migrate::sqlite_lock_path(std::path::Path::new(db.sqlite_path()));
    let holder = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    holder.lock().unwrap();
    db.exec("INSERT INTO t1 VALUES (7, 'writes go on')").await;
    let err = migrator(&db, migrations(2), AppEnv::Local)
        .with_lock_wait(Duration::from_millis(300))
        .up()
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::LOCK_TIMEOUT, "{err}");
    holder.unlock().unwrap();
    assert_eq!(
        migrator(&db, migrations(2), AppEnv::Local)
            .up()
            .await
            .unwrap()
            .applied,
        vec![2]
    );
}

// ---- errors point into the file ----

#[tokio::test]
async fn errors_carry_the_servers_position_as_a_file_line() {
    for kind in [Kind::Postgres, Kind::MySql, Kind::Sqlite] {
        let Some(db) = TestDb::new(kind).await else {
            continue;
        };
        let bad = match kind {
            // Postgres reports a character position: line 5 of the file.
            Kind::Postgres => {
                "-- V2\nCREATE TABLE ok (id INTEGER);\n-- a type that does not exist\nCREATE TABLE bad (\n  id NOSUCHTYPE\n);"
            }
            // MariaDB says "at line 2" of the statement: line 5 of the file.
            // SQLite gives no position: the statement's first line, 4.
            _ => {
                "-- V2\nCREATE TABLE ok (id INTEGER);\n-- appenv:allow unparseable checking the server's own error\nCREATE TABLE bad (\n  id INTEGER,,\n);"
            }
        };
        let set = with(migrations(1), &[("V2__bad.sql", bad)]);
        let err = migrator(&db, set, AppEnv::Local).up().await.unwrap_err();
        let expected_line = if kind == Kind::Sqlite { 4 } else { 5 };
        let Error::MigrationFailed {
            file,
            line,
            statement,
            message,
            ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(
            (file.as_str(), *line, *statement),
            ("V2__bad.sql", expected_line, 2),
            "{kind:?}: {err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("V2__bad.sql:{expected_line}")),
            "{err}"
        );
        assert!(
            !message.contains("at line 2"),
            "the server's own line is translated: {message}"
        );
        let audit = db
            .query_strings(
                "SELECT error FROM appenv_migration_audit WHERE outcome = 'migration-failed'",
            )
            .await;
        assert!(
            audit[0].contains(&format!("V2__bad.sql:{expected_line}")),
            "{audit:?}"
        );
    }
}

// ---- MariaDB: DDL cannot roll back ----

#[tokio::test]
async fn mariadb_migration_failing_at_statement_2_is_dirty_and_repaired() {
    let Some(db) = TestDb::new(Kind::MySql).await else {
        return;
    };
    // A transactional file: on MariaDB its DDL commits implicitly anyway.
    let set = with(
        migrations(1),
        &[
            (
                "V2__orders.sql",
                "CREATE TABLE orders (id INTEGER PRIMARY KEY);\nINSERT INTO customers VALUES (1);\nCREATE TABLE order_lines (id INTEGER PRIMARY KEY);",
            ),
            ("V3__after.sql", "CREATE TABLE t3 (id INTEGER);"),
        ],
    );
    let m = migrator(&db, set.clone(), AppEnv::Local);
    let err = m.up().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::MigrationFailed {
                dirty: true,
                statement: 2,
                ..
            }
        ),
        "{err}"
    );
    let status = m.status().await.unwrap();
    assert_eq!(status.dirty.len(), 1, "{status:?}");
    assert_eq!((status.dirty[0].version, status.dirty[0].statement), (2, 2));
    assert_eq!(m.up().await.unwrap_err().exit_code(), exit::DIRTY);

    // Reverted by hand, mark cleared: V2 is pending again and, with the
    // missing table created, the next up applies V2 and V3.
    db.exec("DROP TABLE orders").await;
    let report = m.repair(RepairAction::Clear).await.unwrap();
    assert_eq!(report.reverted, vec![2]);
    let status = m.status().await.unwrap();
    assert!(status.dirty.is_empty());
    assert_eq!(status.pending.len(), 2);
    db.exec("CREATE TABLE customers (id INTEGER)").await;
    assert_eq!(m.up().await.unwrap().applied, vec![2, 3]);
    m.verify().await.unwrap();

    // DML-only transactional files still roll back whole on MariaDB.
    let set = with(
        set,
        &[(
            "V4__dml.sql",
            "INSERT INTO t3 VALUES (1);\nINSERT INTO nope VALUES (1);",
        )],
    );
    let err = migrator(&db, set, AppEnv::Local).up().await.unwrap_err();
    assert!(
        matches!(err, Error::MigrationFailed { dirty: false, .. }),
        "{err}"
    );
    assert_eq!(count(&db, "t3").await, 0);
    assert!(m.status().await.unwrap().dirty.is_empty());
}

// ---- Postgres: CREATE INDEX CONCURRENTLY ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_concurrent_index_is_reported_as_an_invalid_index() {
    use sqlx::Connection;
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let base = migrations(1);
    migrator(&db, base.clone(), AppEnv::Local)
        .up()
        .await
        .unwrap();
    let set = with(
        base,
        &[(
            "V2__idx.sql",
            "-- appenv:no-transaction\nCREATE INDEX CONCURRENTLY t1_note ON t1 (note);",
        )],
    );
    // An open transaction makes CREATE INDEX CONCURRENTLY wait after it has
    // created the (still invalid) index; the migrator is killed there.
    let mut blocker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM t1;")
        .execute(&mut blocker)
        .await
        .unwrap();
    let m = migrator(&db, set.clone(), AppEnv::Local);
    let running = tokio::spawn(async move { m.up().await });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let pids = db
            .query_strings("SELECT pid::text FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%' AND datname = current_database()")
            .await;
        if let Some(pid) = pids.first() {
            db.exec(&format!("SELECT pg_terminate_backend({pid})"))
                .await;
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the index build never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let err = running.await.unwrap().unwrap_err();
    assert_eq!(err.exit_code(), exit::MIGRATION_FAILED, "{err}");
    blocker.close().await.unwrap();

    let m = migrator(&db, set.clone(), AppEnv::Local);
    let status = m.status().await.unwrap();
    assert_eq!(status.invalid_indexes, vec!["public.t1_note".to_owned()]);
    assert!(
        status.pending.iter().any(|p| p.version == 2),
        "not recorded as applied"
    );
    let err = m.up().await.unwrap_err();
    assert_eq!(err.exit_code(), exit::DIRTY, "{err}");
    assert!(
        err.to_string().contains("index public.t1_note is invalid"),
        "{err}"
    );
    assert_eq!(m.plan().await.unwrap().exit_code(), exit::DIRTY);

    // Dropped by hand (and the dirty mark of the killed run cleared), the
    // next up builds it.
    db.exec("DROP INDEX CONCURRENTLY t1_note").await;
    if !m.status().await.unwrap().dirty.is_empty() {
        m.repair(RepairAction::Clear).await.unwrap();
    }
    assert_eq!(m.up().await.unwrap().applied, vec![2]);
    assert!(m.status().await.unwrap().invalid_indexes.is_empty());
}

#[tokio::test]
async fn postgres_failed_unique_concurrent_index_is_not_recorded_as_applied() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let base = migrations(1);
    migrator(&db, base.clone(), AppEnv::Local)
        .up()
        .await
        .unwrap();
    db.exec("INSERT INTO t1 VALUES (1, 'dup'), (2, 'dup')")
        .await;
    let set = with(
        base,
        &[(
            "V2__uniq.sql",
            "-- appenv:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t1_note_key ON t1 (note);",
        )],
    );
    let m = migrator(&db, set, AppEnv::Local);
    let err = m.up().await.unwrap_err();
    assert!(err.to_string().contains("V2__uniq.sql:2"), "{err}");
    // The rerun would succeed silently on the invalid index (IF NOT
    // EXISTS); appenv refuses instead.
    let err = m.up().await.unwrap_err();
    assert_eq!(err.exit_code(), exit::DIRTY, "{err}");
    assert_eq!(count(&db, "refinery_schema_history").await, 1);
}
