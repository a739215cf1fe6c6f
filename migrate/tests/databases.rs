//! Migrator behaviour against real PostgreSQL, MariaDB and SQLite.

mod support;

use std::time::Duration;

use appenv_config::AppEnv;
use appenv_migrate::{Error, Migrations, Migrator, exit};
use sqlx::Connection;
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

/// Runs `$body(Kind)` as one test per backend.
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
    up_applies_once_then_verify_passes,
    verify_names_pending_migrations,
    edited_migration_is_divergent_for_verify_and_up,
    deleted_migration_is_missing,
    newer_database_migrations_are_allowed_with_a_warning,
    eight_migrators_at_once_apply_exactly_once,
    lock_wait_times_out_with_a_clear_error,
    failed_migration_is_reported_and_audited,
    flagged_migrations_are_refused_in_every_env_unless_allowed,
    baseline_adopts_an_existing_database,
    the_audit_row_names_the_credentials_never_the_password,
);

async fn up_applies_once_then_verify_passes(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let m = migrator(&db, migrations(3), AppEnv::Local);
    let report = m.up().await.unwrap();
    assert_eq!(report.applied, vec![1, 2, 3]);
    assert_eq!(report.files[0], "V1__table_1.sql");
    let again = m.up().await.unwrap();
    assert!(again.applied.is_empty(), "second run has nothing to do");

    let status = m.verify().await.unwrap();
    assert!(status.is_current());
    assert_eq!(status.applied.len(), 3);
    assert_eq!(count(&db, "refinery_schema_history").await, 3);
    assert_eq!(count(&db, "t3").await, 0, "table t3 exists");
    assert_eq!(
        count(&db, "appenv_migration_audit WHERE action = 'up' AND outcome = 'success' AND versions = '1,2,3'").await,
        1
    );
    assert_eq!(
        count(
            &db,
            "appenv_migration_audit WHERE action = 'up' AND outcome = 'noop'"
        )
        .await,
        1
    );
    assert_eq!(
        count(&db, "appenv_migration_audit WHERE action = 'verify'").await,
        0,
        "a verify that passes writes no row by default"
    );
    m.clone().with_verify_audit(true).verify().await.unwrap();
    assert_eq!(
        count(
            &db,
            "appenv_migration_audit WHERE action = 'verify' AND outcome = 'success'"
        )
        .await,
        1,
        "with every verify audited it writes one"
    );
}

async fn verify_names_pending_migrations(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    migrator(&db, migrations(1), AppEnv::Production)
        .up()
        .await
        .unwrap();
    let err = migrator(&db, migrations(3), AppEnv::Production)
        .verify()
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::PENDING, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("pending: version 2 file V2__table_2.sql"),
        "{text}"
    );
    assert!(
        text.contains("pending: version 3 file V3__table_3.sql"),
        "{text}"
    );
    assert_eq!(
        count(
            &db,
            "appenv_migration_audit WHERE action = 'verify' AND outcome = 'pending'"
        )
        .await,
        1,
        "a failed verify is audited"
    );
}

async fn edited_migration_is_divergent_for_verify_and_up(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    migrator(&db, migrations(2), AppEnv::Local)
        .up()
        .await
        .unwrap();
    let mut files: Vec<_> = migrations(1).iter().cloned().collect();
    files.push(
        appenv_migrate::MigrationFile::new(
            "V2__table_2.sql",
            "CREATE TABLE t2 (id INTEGER PRIMARY KEY, note VARCHAR(60));",
        )
        .unwrap(),
    );
    let edited = Migrations::from_files(files);
    let err = migrator(&db, edited.clone(), AppEnv::Staging)
        .verify()
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::DIVERGENT);
    assert!(
        err.to_string()
            .contains("divergent: version 2 file V2__table_2.sql"),
        "{err}"
    );

    let err = migrator(
        &db,
        with(edited, &[("V3__more.sql", "CREATE TABLE t3 (id INTEGER);")]),
        AppEnv::Local,
    )
    .up()
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Verify(_)), "{err}");
    assert_eq!(err.exit_code(), exit::DIVERGENT);
    assert_eq!(
        count(&db, "refinery_schema_history").await,
        2,
        "nothing applied"
    );

    // Renaming a file is divergence too (refinery's checksum covers the name).
    let renamed = with(
        migrations(1),
        &[(
            "V2__renamed.sql",
            "CREATE TABLE t2 (id INTEGER PRIMARY KEY, note VARCHAR(50));",
        )],
    );
    let err = migrator(&db, renamed, AppEnv::Production)
        .verify()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("applied as `table_2`"), "{err}");
}

async fn deleted_migration_is_missing(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    migrator(&db, migrations(3), AppEnv::Local)
        .up()
        .await
        .unwrap();
    let without_v2 =
        Migrations::from_files(migrations(3).iter().filter(|m| m.version() != 2).cloned());
    let err = migrator(&db, without_v2, AppEnv::Production)
        .verify()
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::DIVERGENT);
    assert!(
        err.to_string()
            .contains("missing: version 2 (V2__table_2.sql)"),
        "{err}"
    );
}

async fn newer_database_migrations_are_allowed_with_a_warning(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    migrator(&db, migrations(3), AppEnv::Local)
        .up()
        .await
        .unwrap();
    // An old replica still running release N-1 during a rolling deploy.
    let old = migrator(&db, migrations(2), AppEnv::Production);
    let status = old.verify().await.unwrap();
    assert_eq!(status.future.len(), 1);
    assert_eq!(status.future[0].version, 3);
    assert!(status.warnings()[0].contains("V3__table_3.sql"));
    // and its startup `up` (local policy) is a no-op, not a crash.
    let report = migrator(&db, migrations(2), AppEnv::Local)
        .up()
        .await
        .unwrap();
    assert!(report.applied.is_empty());
}

async fn eight_migrators_at_once_apply_exactly_once(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let set = migrations(5);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let m = migrator(&db, set.clone(), AppEnv::Local);
        tasks.push(tokio::spawn(async move { m.up().await }));
    }
    let mut applied = Vec::new();
    for t in tasks {
        let report = t.await.unwrap().expect("every migrator succeeds");
        applied.extend(report.applied);
    }
    assert_eq!(
        applied,
        vec![1, 2, 3, 4, 5],
        "each migration applied exactly once"
    );
    assert_eq!(count(&db, "refinery_schema_history").await, 5);
    assert_eq!(
        count(
            &db,
            "appenv_migration_audit WHERE action = 'up' AND outcome = 'success'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &db,
            "appenv_migration_audit WHERE action = 'up' AND outcome = 'noop'"
        )
        .await,
        7
    );
}

async fn lock_wait_times_out_with_a_clear_error(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    // Someone else holds the lock on their own session.
    let holder: Box<dyn std::any::Any + Send> = match kind {
        Kind::Postgres => {
            let mut c =
                sqlx::PgConnection::connect(&format!("{}?application_name=release-job-42", db.url))
                    .await
                    .unwrap();
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(appenv_migrate::PG_LOCK_KEY)
                .execute(&mut c)
                .await
                .unwrap();
            Box::new(c)
        }
        Kind::MySql => {
            let mut c = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
            let got: Option<i64> =
                sqlx::query_scalar("SELECT GET_LOCK(CONCAT('appenv_migrate:', DATABASE()), 0)")
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
            assert_eq!(got, Some(1));
            Box::new(c)
        }
        Kind::Sqlite => {
            // Another migrator holds the lock file beside the database.
            let path = appenv_migrate::sqlite_lock_path(std::path::Path::new(db.sqlite_path()));
            let file = std::fs::File::create(&path).unwrap();
            file.lock().unwrap();
            std::fs::write(&path, "pid 4242 on host release-job").unwrap();
            Box::new(file)
        }
    };
    let err = migrator(&db, migrations(1), AppEnv::Local)
        .with_lock_wait(Duration::from_millis(1200))
        .up()
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::LOCK_TIMEOUT, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("timed out") && text.contains("migration lock"),
        "{text}"
    );
    match kind {
        Kind::Postgres => assert!(text.contains("application_name 'release-job-42'"), "{text}"),
        Kind::MySql => assert!(text.contains("held by connection"), "{text}"),
        Kind::Sqlite => assert!(
            text.contains("held by pid 4242 on host release-job"),
            "{text}"
        ),
    }
    drop(holder);
    assert_eq!(
        count(&db, "appenv_migration_audit WHERE outcome = 'lock-timeout'").await,
        1,
        "the timeout is audited"
    );
}

async fn failed_migration_is_reported_and_audited(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let set = with(
        migrations(1),
        &[(
            "V2__broken.sql",
            "-- a comment\nCREATE TABLE t2 (id INTEGER);\n\nCREATE TABLE t1 (id INTEGER);",
        )],
    );
    let err = migrator(&db, set, AppEnv::Local).up().await.unwrap_err();
    assert_eq!(err.exit_code(), exit::MIGRATION_FAILED, "{err}");
    assert!(
        err.to_string()
            .contains("migration V2__broken.sql failed at V2__broken.sql:4 (statement 2 of 2)"),
        "{err}"
    );
    assert_eq!(
        count(&db, "refinery_schema_history").await,
        1,
        "V1 stays applied"
    );
    assert_eq!(
        count(&db, "appenv_migration_audit WHERE outcome = 'migration-failed' AND versions = '2' AND error LIKE '%V2__broken.sql:4%'").await,
        1
    );
    if kind != Kind::MySql {
        // The failed migration rolled back whole.
        assert_eq!(
            count(&db, "refinery_schema_history WHERE version = 2").await,
            0
        );
        let t2 = match kind {
            Kind::Postgres => "pg_tables WHERE tablename = 't2'",
            _ => "sqlite_master WHERE name = 't2'",
        };
        assert_eq!(count(&db, t2).await, 0, "statement 1 was rolled back");
    }
}

async fn flagged_migrations_are_refused_in_every_env_unless_allowed(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    migrator(&db, migrations(1), AppEnv::Production)
        .up()
        .await
        .unwrap();
    let dropping = with(migrations(1), &[("V2__drop_t1.sql", "DROP TABLE t1;")]);
    // One policy from laptop to production: the same refusal, message and
    // fix everywhere, so the allow is written before the first apply.
    let mut messages = Vec::new();
    for env in [AppEnv::Local, AppEnv::Staging, AppEnv::Production] {
        let err = migrator(&db, dropping.clone(), env).up().await.unwrap_err();
        assert_eq!(err.exit_code(), exit::LINT, "{env}: {err}");
        messages.push(err.to_string());
    }
    assert!(messages.iter().all(|m| m == &messages[0]), "{messages:?}");
    assert!(
        messages[0].contains("V2__drop_t1.sql:1: [drop-table]"),
        "{}",
        messages[0]
    );
    assert!(messages[0].contains("-- appenv:allow <rule-id> <reason>"));
    assert_eq!(count(&db, "refinery_schema_history").await, 1);
    assert_eq!(
        count(&db, "appenv_migration_audit WHERE outcome = 'lint'").await,
        3
    );
    // Local startup stops with the same words.
    use appenv_config::Section;
    let config = appenv_migrate::DatabaseConfig::defaults(AppEnv::Local);
    let err = appenv_migrate::run_startup(AppEnv::Local, &config, db.url.as_str(), dropping)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), messages[0]);

    // Allowed for that statement and rule: applied everywhere, the reason
    // reported.
    let allowed = with(
        migrations(1),
        &[(
            "V2__drop_t1.sql",
            "-- appenv:allow drop-table t1 unused since release 41\nDROP TABLE t1;",
        )],
    );
    let local_db = TestDb::new(kind).await.unwrap();
    let report = migrator(&local_db, allowed.clone(), AppEnv::Local)
        .up()
        .await
        .unwrap();
    assert_eq!(report.applied, vec![1, 2]);
    assert!(report.warnings[0].contains("allowed: t1 unused since release 41"));
    let report = migrator(&db, allowed, AppEnv::Production)
        .up()
        .await
        .unwrap();
    assert_eq!(report.applied, vec![2]);

    // A new rule (or a stricter lint) never blocks applied history: only
    // pending migrations are linted.
    let history = with(
        migrations(1),
        &[(
            "V2__drop_t1.sql",
            "-- appenv:allow drop-table t1 unused since release 41\nDROP TABLE t1;",
        )],
    );
    let unallowed_but_applied = with(history, &[("V3__t3.sql", "CREATE TABLE t3 (id INTEGER);")]);
    assert_eq!(
        migrator(&db, unallowed_but_applied, AppEnv::Production)
            .up()
            .await
            .unwrap()
            .applied,
        vec![3]
    );
}

async fn baseline_adopts_an_existing_database(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    db.exec("CREATE TABLE t1 (id INTEGER PRIMARY KEY, note VARCHAR(50)); CREATE TABLE t2 (id INTEGER PRIMARY KEY, note VARCHAR(50));")
        .await;
    let m = migrator(&db, migrations(3), AppEnv::Production);
    let err = m.baseline(9).await.unwrap_err();
    assert!(
        err.to_string().contains("no migration with version 9"),
        "{err}"
    );
    let report = m.baseline(2).await.unwrap();
    assert_eq!(report.applied, vec![1, 2]);
    let err = m.verify().await.unwrap_err();
    assert!(err.to_string().contains("pending: version 3"), "{err}");
    let report = m.up().await.unwrap();
    assert_eq!(report.applied, vec![3], "only V3 runs");
    let err = m.baseline(1).await.unwrap_err();
    assert!(
        err.to_string().contains("already has migration history"),
        "{err}"
    );
    assert_eq!(
        count(
            &db,
            "appenv_migration_audit WHERE action = 'baseline' AND outcome = 'success'"
        )
        .await,
        1
    );
}

// ---- Postgres specifics ----

#[tokio::test]
async fn postgres_no_transaction_migration_runs_create_index_concurrently() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let set = with(
        migrations(1),
        &[(
            "V2__idx.sql",
            "-- appenv:no-transaction\nCREATE INDEX CONCURRENTLY t1_note ON t1 (note);",
        )],
    );
    assert!(
        migrator(&db, set.clone(), AppEnv::Production)
            .lint()
            .is_empty()
    );
    let report = migrator(&db, set, AppEnv::Production).up().await.unwrap();
    assert_eq!(report.applied, vec![1, 2]);
    assert_eq!(
        count(&db, "pg_indexes WHERE indexname = 't1_note'").await,
        1
    );

    // Without the marker the lint refuses it in every environment; allowed
    // anyway, Postgres refuses it and the failure rolls back cleanly.
    let db2 = TestDb::new(Kind::Postgres).await.unwrap();
    let set = with(
        migrations(1),
        &[(
            "V2__idx.sql",
            "CREATE INDEX CONCURRENTLY t1_note ON t1 (note);",
        )],
    );
    let err = migrator(&db2, set, AppEnv::Local).up().await.unwrap_err();
    assert_eq!(err.exit_code(), exit::LINT, "{err}");
    assert!(
        err.to_string()
            .contains("[concurrent-index-in-transaction]"),
        "{err}"
    );
    let set = with(
        migrations(1),
        &[(
            "V2__idx.sql",
            "-- appenv:allow concurrent-index-in-transaction checking what Postgres says\nCREATE INDEX CONCURRENTLY t1_note ON t1 (note);",
        )],
    );
    let err = migrator(&db2, set, AppEnv::Local).up().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("V2__idx.sql:2 (statement 1 of 1): CREATE INDEX CONCURRENTLY cannot run inside a transaction block"),
        "{err}"
    );
    assert_eq!(count(&db2, "refinery_schema_history").await, 1);
}

#[tokio::test]
async fn postgres_two_concurrent_indexes_in_one_no_transaction_file_are_both_valid() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let set = with(
        migrations(1),
        &[(
            "V2__indexes.sql",
            "-- appenv:no-transaction\n-- two indexes; each statement runs on its own\nCREATE INDEX CONCURRENTLY t1_note ON t1 (note);\nCREATE INDEX CONCURRENTLY t1_id_note\n  ON t1 (id, note);\n",
        )],
    );
    assert!(
        migrator(&db, set.clone(), AppEnv::Production)
            .lint()
            .is_empty()
    );
    let report = migrator(&db, set.clone(), AppEnv::Production)
        .up()
        .await
        .unwrap();
    assert_eq!(report.applied, vec![1, 2]);
    let valid = db
        .query_strings(
            "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE c.relname IN ('t1_note', 't1_id_note') AND i.indisvalid ORDER BY 1",
        )
        .await;
    assert_eq!(valid, vec!["t1_id_note".to_owned(), "t1_note".to_owned()]);
    let status = migrator(&db, set, AppEnv::Production)
        .verify()
        .await
        .unwrap();
    assert!(status.dirty.is_empty() && status.invalid_indexes.is_empty());
    assert_eq!(
        count(&db, "pg_tables WHERE tablename = 'appenv_migration_state'").await,
        1
    );
    assert_eq!(
        count(&db, "appenv_migration_state").await,
        0,
        "no dirty mark left"
    );
}

#[tokio::test]
async fn postgres_session_gets_lock_and_statement_timeouts_per_env() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let set = Migrations::from_files([appenv_migrate::MigrationFile::new(
        "V1__settings.sql",
        "CREATE TABLE settings AS SELECT current_setting('lock_timeout') AS lock_timeout, current_setting('statement_timeout') AS statement_timeout;",
    )
    .unwrap()]);
    migrator(&db, set, AppEnv::Production).up().await.unwrap();
    let row = db
        .query_strings("SELECT lock_timeout || '/' || statement_timeout FROM settings")
        .await;
    assert_eq!(row, vec!["5s/15min".to_owned()]);
}

#[tokio::test]
async fn postgres_lock_is_released_and_connection_closed_after_up() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    migrator(&db, migrations(2), AppEnv::Local)
        .up()
        .await
        .unwrap();
    // Other tests hold advisory locks in their own databases at the same
    // time: only this database's locks count.
    assert_eq!(
        count(&db, "pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").await,
        0
    );
    // The server drops a closed connection's backend asynchronously; give it
    // a moment before concluding the connection was left open.
    let mut open = i64::MAX;
    for _ in 0..50 {
        open = count(&db, "pg_stat_activity WHERE application_name = 'appenv-migrate' AND datname = current_database()").await;
        if open == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(open, 0, "the migration connection was not closed");
}

#[tokio::test]
async fn pool_from_the_service_is_not_used_for_migrations() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    // Hold the pool's only connection: migrations must still run.
    let held = pool.acquire().await.unwrap();
    let report = Migrator::new(&pool, migrations(2), AppEnv::Local)
        .unwrap()
        .up()
        .await
        .unwrap();
    assert_eq!(report.applied, vec![1, 2]);
    drop(held);
    pool.close().await;
}

#[tokio::test]
async fn connection_errors_never_show_the_password() {
    let err = Migrator::new(
        "postgres://app:sup3r-s3cret-pw@127.0.0.1:1/app",
        migrations(1),
        AppEnv::Production,
    )
    .unwrap()
    .up()
    .await
    .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("sup3r-s3cret-pw"), "{text}");
    assert!(text.contains("127.0.0.1:1/app"), "{text}");
}

// ---- startup helper and the mounted subcommand ----

#[tokio::test]
async fn run_startup_applies_in_local_and_verifies_elsewhere() {
    use appenv_config::Section;
    use appenv_migrate::{DatabaseConfig, StartupOutcome, run_startup};
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();

    // Production (verify only) refuses to start with pending migrations.
    let prod = DatabaseConfig::defaults(AppEnv::Production);
    let err = run_startup(AppEnv::Production, &prod, &pool, migrations(2))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::PENDING);
    assert_eq!(
        count(&db, "pg_tables WHERE tablename = 't1'").await,
        0,
        "nothing applied"
    );

    // Local applies.
    let local = DatabaseConfig::defaults(AppEnv::Local);
    let outcome = run_startup(AppEnv::Local, &local, &pool, migrations(2))
        .await
        .unwrap();
    assert!(matches!(outcome, StartupOutcome::Applied(ref r) if r.applied == vec![1, 2]));

    // Staging then starts; an old production replica (knows only V1) too.
    let staging = DatabaseConfig::defaults(AppEnv::Staging);
    let outcome = run_startup(AppEnv::Staging, &staging, &pool, migrations(2))
        .await
        .unwrap();
    assert!(matches!(outcome, StartupOutcome::Verified(ref s) if s.is_current()));
    let outcome = run_startup(AppEnv::Production, &prod, &pool, migrations(1))
        .await
        .unwrap();
    assert!(matches!(outcome, StartupOutcome::Verified(ref s) if s.future.len() == 1));
    pool.close().await;
}

/// `argv` parsed by a service's own CLI with `migrate` mounted in it.
fn mounted(argv: &[&str]) -> appenv_migrate::MigrateArgs {
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }
    #[derive(clap::Subcommand)]
    enum Command {
        Migrate(appenv_migrate::MigrateArgs),
    }
    let Command::Migrate(args) = Cli::parse_from(argv).command;
    args
}

/// The mounted command runs migrations against `database.migrate_url` when
/// it is set (a direct URL beside a transaction pooler), as startup does;
/// the service's own URL is never touched. Per-backend sets follow the
/// backend of the URL the command connects to, and `lint --dialect` needs
/// no database at all.
#[tokio::test]
async fn the_mounted_command_migrates_through_migrate_url_with_the_sets_of_its_backend() {
    use appenv_config::{SecretUrl, Section};
    use appenv_migrate::DatabaseKind;
    let args = mounted;

    let Some(db) = TestDb::new(Kind::Sqlite).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The service's own URL: a SQLite file in a directory nothing creates
    // unless a run connects to it.
    let service_dir = dir.path().join("service");
    let service_url = format!("sqlite://{}/app.db", service_dir.display());
    let mut config = appenv_migrate::DatabaseConfig::defaults(AppEnv::Local);
    config.migrate_url = Some(SecretUrl::new(db.url.clone()));
    let asked = std::sync::Mutex::new(Vec::new());
    let per_backend = |kind: DatabaseKind| {
        asked.lock().unwrap().push(kind);
        Ok(migrations(2))
    };

    let up = args(&["svc", "migrate", "up"]);
    assert_eq!(
        up.run_per_backend(AppEnv::Local, &config, service_url.as_str(), per_backend)
            .await,
        exit::OK
    );
    assert_eq!(count(&db, "refinery_schema_history").await, 2);
    assert!(!service_dir.exists(), "the service's database was touched");
    assert_eq!(*asked.lock().unwrap(), vec![DatabaseKind::Sqlite]);

    // A passing verify writes its row only when asked to.
    for flags in [
        &["svc", "migrate", "verify"][..],
        &["svc", "migrate", "--audit-verify", "verify"],
    ] {
        assert_eq!(
            args(flags)
                .run_per_backend(AppEnv::Local, &config, service_url.as_str(), per_backend)
                .await,
            exit::OK
        );
    }
    assert_eq!(
        count(
            &db,
            "appenv_migration_audit WHERE action = 'verify' AND outcome = 'success'"
        )
        .await,
        1
    );

    // `run` with one set reads migrate_url the same way.
    let verify = args(&["svc", "migrate", "verify"]);
    assert_eq!(
        verify
            .run(
                AppEnv::Production,
                &config,
                service_url.as_str(),
                migrations(3)
            )
            .await,
        exit::PENDING
    );
    assert!(!service_dir.exists(), "the service's database was touched");

    // lint --dialect lints that backend's set and connects nowhere, even
    // with no URL at all.
    asked.lock().unwrap().clear();
    config.migrate_url = None;
    let lint = args(&["svc", "migrate", "lint", "--dialect", "postgres"]);
    assert_eq!(
        lint.run_per_backend(AppEnv::Staging, &config, "", per_backend)
            .await,
        exit::OK
    );
    assert_eq!(*asked.lock().unwrap(), vec![DatabaseKind::Postgres]);

    // Without migrate_url the service's URL is used, and a SQLite file's
    // missing directory is created when the run connects.
    assert_eq!(
        up.run_per_backend(AppEnv::Local, &config, service_url.as_str(), per_backend)
            .await,
        exit::OK
    );
    assert!(service_dir.join("app.db").exists());
}

#[tokio::test]
async fn migrate_subcommand_mounts_in_a_service_cli() {
    use appenv_config::Section;

    let Some(db) = TestDb::new(Kind::Sqlite).await else {
        return;
    };
    let config = appenv_migrate::DatabaseConfig::defaults(AppEnv::Local);
    let args = mounted(&["example-api", "migrate", "--env", "local", "up"]);
    assert_eq!(
        args.run(AppEnv::Local, &config, db.url.as_str(), migrations(2))
            .await,
        exit::OK
    );
    let args = mounted(&["example-api", "migrate", "--format", "json", "verify"]);
    assert_eq!(
        args.run(AppEnv::Production, &config, db.url.as_str(), migrations(3))
            .await,
        exit::PENDING
    );
}

#[tokio::test]
async fn postgres_dml_only_role_verifies_and_applies_and_verify_runs_no_ddl() {
    use appenv_config::Section;
    use appenv_migrate::{DatabaseConfig, StartupOutcome, run_startup};
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    // The owner migrates once: history, audit table and t1 exist.
    migrator(&db, migrations(1), AppEnv::Local)
        .up()
        .await
        .unwrap();
    let role = format!(
        "appenv_dml_{}",
        db.url
            .rsplit('/')
            .next()
            .unwrap()
            .trim_start_matches("appenv_migrate_")
    );
    db.exec(&format!(
        "CREATE ROLE {role} LOGIN; \
         REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
         GRANT USAGE ON SCHEMA public TO {role}; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}; \
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role};"
    ))
    .await;
    // Any DDL from here on fails loudly, whoever runs it.
    db.exec(
        "CREATE FUNCTION no_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'DDL during verify: %', tg_tag; END $$; \
         CREATE EVENT TRIGGER no_ddl ON ddl_command_start EXECUTE FUNCTION no_ddl();",
    )
    .await;
    let (scheme, rest) = db.url.split_once("://").unwrap();
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    let dml_url = format!("{scheme}://{role}@{host}");

    // Startup verify of an up-to-date database: no DDL and no row by
    // default, one row with every verify audited.
    let before = count(&db, "appenv_migration_audit").await;
    let mut prod = DatabaseConfig::defaults(AppEnv::Production);
    let outcome = run_startup(AppEnv::Production, &prod, dml_url.as_str(), migrations(1))
        .await
        .unwrap();
    assert!(matches!(outcome, StartupOutcome::Verified(ref s) if s.is_current()));
    assert_eq!(count(&db, "appenv_migration_audit").await, before);
    prod.migrate_audit_verify = true;
    let outcome = run_startup(AppEnv::Production, &prod, dml_url.as_str(), migrations(1))
        .await
        .unwrap();
    assert!(matches!(outcome, StartupOutcome::Verified(ref s) if s.is_current()));
    assert_eq!(count(&db, "appenv_migration_audit").await, before + 1);
    assert_eq!(
        count(
            &db,
            "appenv_migration_audit WHERE action = 'verify' AND outcome = 'success'"
        )
        .await,
        1
    );

    // The DML-only role applies a DML migration.
    let set = with(
        migrations(1),
        &[(
            "V2__seed.sql",
            "INSERT INTO t1 (id, note) VALUES (1, 'seeded');",
        )],
    );
    let report = Migrator::new(dml_url.as_str(), set, AppEnv::Production)
        .unwrap()
        .up()
        .await
        .unwrap();
    assert_eq!(report.applied, vec![2]);
    assert_eq!(count(&db, "t1").await, 1);
    assert_eq!(
        count(
            &db,
            "appenv_migration_audit WHERE action = 'up' AND outcome = 'success'"
        )
        .await,
        2
    );
    db.exec("DROP EVENT TRIGGER no_ddl").await;
    drop(db);
    let admin = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
        .execute(&mut c)
        .await
        .unwrap();
}

/// A password that passes the secret rules: the audit row shows its
/// fingerprint.
const STRONG_DB_PASSWORD: &str = "SENTINEL-Qm4Zx8Lp2Wn6Kt0Rb3Vy7Hd-Jf5Nc9Ts1Xg";

/// `url` with `password` in its user information (the URL must have none).
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, host) = rest.split_once('@').unwrap();
    assert!(!user.contains(':'), "the test URL already has a password");
    format!("{scheme}://{user}:{password}@{host}")
}

async fn credentials_of(db: &TestDb, action: &str) -> Vec<String> {
    db.query_strings(&format!(
        "SELECT credentials FROM appenv_migration_audit WHERE action = '{action}' ORDER BY id"
    ))
    .await
}

async fn the_audit_row_names_the_credentials_never_the_password(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let m = migrator(&db, migrations(1), AppEnv::Local);
    m.up().await.unwrap();
    let expected = appenv_config::credentials_summary(&db.url).unwrap_or_default();
    assert_eq!(credentials_of(&db, "up").await, vec![expected.clone()]);
    match kind {
        // SQLite has no credentials: the column stays empty.
        Kind::Sqlite => assert_eq!(expected, ""),
        // The shared servers take no password.
        _ => assert!(expected.ends_with(" password=none"), "{expected}"),
    }
    if kind != Kind::Postgres {
        return;
    }
    // The shared PostgreSQL trusts local connections, so any password
    // connects: a strong one is fingerprinted, a weak one withheld.
    for (password, shown) in [
        (STRONG_DB_PASSWORD, "fingerprint="),
        ("hunter2", "fingerprint=withheld"),
    ] {
        let url = with_password(&db.url, password);
        Migrator::new(url.as_str(), migrations(1), AppEnv::Local)
            .unwrap()
            .with_verify_audit(true)
            .verify()
            .await
            .unwrap();
        let row = credentials_of(&db, "verify").await.pop().unwrap();
        assert!(row.starts_with("user=") && row.contains(shown), "{row}");
        assert!(
            !row.contains(password),
            "the audit row shows the password: {row}"
        );
        assert_eq!(Some(row), appenv_config::credentials_summary(&url));
    }
    let rows = credentials_of(&db, "verify").await;
    assert_ne!(
        rows[0],
        credentials_of(&db, "up").await[0],
        "another password, another print"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_with_dml_rights_alone_audits_without_the_new_column() {
    const CREDENTIALS_COLUMN: &str = "information_schema.columns WHERE table_name = 'appenv_migration_audit' AND column_name = 'credentials'";
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    migrator(&db, migrations(1), AppEnv::Local)
        .up()
        .await
        .unwrap();
    // A table from before the column, and a role that may write rows but
    // not alter tables.
    let role = format!("appenv_dml_{}", std::process::id());
    db.exec(&format!(
        "ALTER TABLE appenv_migration_audit DROP COLUMN credentials;
         CREATE ROLE {role} LOGIN;
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role};"
    ))
    .await;
    let (scheme, rest) = db.url.split_once("://").unwrap();
    let (_, host) = rest.split_once('@').unwrap();
    let dml_url = format!("{scheme}://{role}@{host}");
    let verified = Migrator::new(dml_url.as_str(), migrations(1), AppEnv::Production)
        .unwrap()
        .with_verify_audit(true)
        .verify()
        .await;
    let written = count(&db, "appenv_migration_audit WHERE action = 'verify'").await;
    let column = count(&db, CREDENTIALS_COLUMN).await;
    // A verify never alters the table, not even as its owner: it takes
    // no lock and no lock timeout. The owner's next `up` adds the column.
    migrator(&db, migrations(1), AppEnv::Local)
        .with_verify_audit(true)
        .verify()
        .await
        .unwrap();
    let after_verify = count(&db, CREDENTIALS_COLUMN).await;
    migrator(&db, migrations(1), AppEnv::Local)
        .up()
        .await
        .unwrap();
    let added = count(&db, CREDENTIALS_COLUMN).await;
    let last = credentials_of(&db, "up").await.pop().unwrap();
    db.exec(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .await;

    verified.unwrap();
    assert_eq!(written, 1, "the DML-only role still writes its audit row");
    assert_eq!(column, 0, "and leaves the table as it is");
    assert_eq!(after_verify, 0, "a verify runs no DDL on an existing table");
    assert_eq!(added, 1);
    assert!(last.starts_with("user="), "{last}");
}
