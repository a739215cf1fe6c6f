//! The `appenv-migrate` binary as separate processes: concurrency, a killed
//! migrator, and the documented exit codes with JSON output.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Kind, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_appenv-migrate");

fn cmd(url: Option<&str>, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    for var in ["APP_ENV", "DATABASE_URL", "MIGRATIONS_DIR", "CI"] {
        c.env_remove(var);
    }
    if let Some(url) = url {
        c.arg("--database-url").arg(url);
    }
    c.arg("--dir").arg(dir).args(args).stdin(Stdio::null());
    c
}

fn run(url: Option<&str>, dir: &Path, args: &[&str]) -> (i32, Value, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd(url, dir, args).output().unwrap();
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::String(stdout));
    (
        status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, sql: &str) {
    std::fs::write(dir.join(name), sql).unwrap();
}

fn three_migrations() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for v in 1..=3 {
        write(
            dir.path(),
            &format!("V{v}__table_{v}.sql"),
            &format!("CREATE TABLE t{v} (id INTEGER PRIMARY KEY);\n"),
        );
    }
    dir
}

async fn eight_processes(kind: Kind) {
    let Some(db) = TestDb::new(kind).await else {
        return;
    };
    let dir = three_migrations();
    let children: Vec<_> = (0..8)
        .map(|_| {
            cmd(
                Some(&db.url),
                dir.path(),
                &["--format", "json", "--lock-wait-ms", "60000", "up"],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut applied = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_str(stdout.trim()).unwrap();
        for v in doc["result"]["applied"].as_array().unwrap() {
            applied.push(v.as_i64().unwrap());
        }
    }
    assert_eq!(
        applied,
        vec![1, 2, 3],
        "applied exactly once across 8 processes"
    );
    let rows = db
        .query_strings("SELECT versions FROM appenv_migration_audit WHERE action = 'up' AND outcome = 'success'")
        .await;
    assert_eq!(rows, vec!["1,2,3".to_owned()], "one apply in the audit");
    let (code, doc, _) = run(Some(&db.url), dir.path(), &["--format", "json", "verify"]);
    assert_eq!(code, 0, "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_at_once_postgres() {
    eight_processes(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_at_once_mariadb() {
    eight_processes(Kind::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_at_once_sqlite() {
    eight_processes(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_migrator_leaves_postgres_consistent_and_unlocked() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "V1__base.sql",
        "CREATE TABLE base (id INTEGER PRIMARY KEY);\n",
    );
    write(
        dir.path(),
        "V2__slow.sql",
        "CREATE TABLE slow_result (id INTEGER PRIMARY KEY);\n\
         SELECT pg_sleep(CASE WHEN EXISTS (SELECT 1 FROM pg_tables WHERE tablename = 'slow_marker') THEN 120 ELSE 0 END);\n",
    );
    db.exec("CREATE TABLE slow_marker (id INTEGER)").await;
    let mut child = cmd(Some(&db.url), dir.path(), &["up"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the slow migration is running, then kill -9 the migrator.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let running = db
            .query_strings("SELECT pid::text FROM pg_stat_activity WHERE application_name = 'appenv-migrate' AND query LIKE '%pg_sleep%' AND state = 'active'")
            .await;
        if !running.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow migration never started"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // The server notices the dead client, rolls back and frees the lock.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let locks = db
            .query_strings("SELECT pid::text FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
            .await;
        if locks.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "advisory lock still held: {locks:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let tables = db
        .query_strings("SELECT tablename::text FROM pg_tables WHERE tablename = 'slow_result'")
        .await;
    assert!(tables.is_empty(), "the killed migration was rolled back");
    let versions = db
        .query_strings("SELECT version::text FROM refinery_schema_history ORDER BY version")
        .await;
    assert_eq!(versions, vec!["1".to_owned()]);

    db.exec("DROP TABLE slow_marker").await;
    let (code, doc, err) = run(Some(&db.url), dir.path(), &["--format", "json", "up"]);
    assert_eq!(code, 0, "{doc} {err}");
    assert_eq!(doc["result"]["applied"], serde_json::json!([2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_json_errors() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let dir = three_migrations();
    let url = Some(db.url.as_str());

    // pending → 3
    let (code, doc, _) = run(
        url,
        dir.path(),
        &["--format", "json", "--env", "production", "verify"],
    );
    assert_eq!(code, 3, "{doc}");
    assert_eq!(doc["error"]["kind"], "pending");
    assert_eq!(
        doc["error"]["detail"]["pending"][0]["file"],
        "V1__table_1.sql"
    );

    // production up without --yes and without a terminal → 8, nothing applied
    let (code, doc, _) = run(
        url,
        dir.path(),
        &["--format", "json", "--env", "production", "up"],
    );
    assert_eq!(code, 8, "{doc}");
    let (code, doc, _) = run(url, dir.path(), &["--format", "json", "status"]);
    assert_eq!(code, 0);
    assert_eq!(doc["result"]["pending"].as_array().unwrap().len(), 3);

    // production up --yes → 0
    let (code, doc, _) = run(
        url,
        dir.path(),
        &["--format", "json", "--env", "production", "up", "--yes"],
    );
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["result"]["applied"], serde_json::json!([1, 2, 3]));

    // edited file → 4, in text mode naming version and file
    write(
        dir.path(),
        "V2__table_2.sql",
        "CREATE TABLE t2 (id BIGINT PRIMARY KEY);\n",
    );
    let (code, _, stderr) = run(url, dir.path(), &["verify"]);
    assert_eq!(code, 4);
    assert!(
        stderr.contains("divergent: version 2 file V2__table_2.sql"),
        "{stderr}"
    );
    write(
        dir.path(),
        "V2__table_2.sql",
        "CREATE TABLE t2 (id INTEGER PRIMARY KEY);\n",
    );

    // deleted file → 4
    std::fs::rename(
        dir.path().join("V2__table_2.sql"),
        dir.path().join("V2__table_2.sql.bak"),
    )
    .unwrap();
    let (code, doc, _) = run(url, dir.path(), &["--format", "json", "verify"]);
    assert_eq!(code, 4, "{doc}");
    assert_eq!(doc["error"]["detail"]["missing"][0]["version"], 2);
    std::fs::rename(
        dir.path().join("V2__table_2.sql.bak"),
        dir.path().join("V2__table_2.sql"),
    )
    .unwrap();

    // newer database migration (future) → 0 with a warning
    let old = tempfile::tempdir().unwrap();
    for v in 1..=2 {
        std::fs::copy(
            dir.path().join(format!("V{v}__table_{v}.sql")),
            old.path().join(format!("V{v}__table_{v}.sql")),
        )
        .unwrap();
    }
    let (code, doc, _) = run(url, old.path(), &["--format", "json", "verify"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["result"]["future"][0]["version"], 3);

    // lint-flagged in production → 5, and `lint` → 5
    write(dir.path(), "V4__drop.sql", "DROP TABLE t1;\n");
    let (code, doc, _) = run(
        url,
        dir.path(),
        &["--format", "json", "--env", "production", "up", "--yes"],
    );
    assert_eq!(code, 5, "{doc}");
    assert_eq!(doc["error"]["detail"]["findings"][0]["rule"], "drop-table");
    let (code, _, stderr) = run(None, dir.path(), &["lint", "--dialect", "postgres"]);
    assert_eq!(code, 5);
    assert!(stderr.contains("V4__drop.sql:1: [drop-table]"), "{stderr}");
    std::fs::remove_file(dir.path().join("V4__drop.sql")).unwrap();
    let (code, _, _) = run(None, dir.path(), &["lint", "--dialect", "postgres"]);
    assert_eq!(code, 0);

    // failing migration → 7
    write(
        dir.path(),
        "V4__broken.sql",
        "CREATE TABLE t1 (id INTEGER);\n",
    );
    let (code, doc, _) = run(url, dir.path(), &["--format", "json", "up"]);
    assert_eq!(code, 7, "{doc}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("V4__broken.sql")
    );
    std::fs::remove_file(dir.path().join("V4__broken.sql")).unwrap();

    // lock held elsewhere → 6, naming the holder
    use sqlx::Connection;
    let mut holder =
        sqlx::PgConnection::connect(&format!("{}?application_name=deploy-job", db.url))
            .await
            .unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(appenv_migrate::PG_LOCK_KEY)
        .execute(&mut holder)
        .await
        .unwrap();
    let (code, doc, _) = run(
        url,
        dir.path(),
        &["--format", "json", "--lock-wait-ms", "700", "up"],
    );
    assert_eq!(code, 6, "{doc}");
    assert!(
        doc["error"]["detail"]["holder"]
            .as_str()
            .unwrap()
            .contains("deploy-job"),
        "{doc}"
    );
    holder.close().await.unwrap();

    // bad URL → 78, password redacted
    let (code, _, stderr) = run(
        Some("mongodb://u:pw-never-shown@h/db"),
        dir.path(),
        &["status"],
    );
    assert_eq!(code, 78);
    assert!(!stderr.contains("pw-never-shown"), "{stderr}");

    // new NAME → next version file
    let (code, doc, _) = run(None, dir.path(), &["--format", "json", "new", "add_orders"]);
    assert_eq!(code, 0, "{doc}");
    assert!(dir.path().join("V4__add_orders.sql").exists());
    let (code, _, _) = run(None, dir.path(), &["new", "bad name"]);
    assert_eq!(code, 1);
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, _) = run(None, dir.path(), &["frobnicate"]);
    assert_eq!(code, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_non_transactional_mariadb_migration_is_reported_dirty_after_restart() {
    let Some(db) = TestDb::new(Kind::MySql).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "V1__base.sql",
        "CREATE TABLE base (id INTEGER PRIMARY KEY);\n",
    );
    write(
        dir.path(),
        "V2__slow.sql",
        "-- appenv:no-transaction\nCREATE TABLE first_half (id INTEGER PRIMARY KEY);\nSELECT SLEEP(60);\nCREATE TABLE second_half (id INTEGER PRIMARY KEY);\n",
    );
    let mut child = cmd(Some(&db.url), dir.path(), &["up"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let sleeper = loop {
        let ids = db
            .query_strings("SELECT CAST(ID AS CHAR) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP%' AND DB = DATABASE()")
            .await;
        if let Some(id) = ids.into_iter().next() {
            break id;
        }
        assert!(
            Instant::now() < deadline,
            "the slow statement never started"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // While it runs, other processes see a migration in progress, not a
    // dirty database: running replicas stay ready during a release.
    let (code, doc, _) = run(Some(&db.url), dir.path(), &["--format", "json", "status"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["result"]["dirty"], serde_json::json!([]), "{doc}");
    assert_eq!(doc["result"]["in_progress"][0]["version"], 2, "{doc}");
    let (code, doc, _) = run(Some(&db.url), dir.path(), &["--format", "json", "verify"]);
    assert_eq!(code, 3, "pending, not dirty: {doc}");

    child.kill().unwrap();
    child.wait().unwrap();
    // The server finds out about the dead client when the statement ends;
    // end it now, as a DBA (or the server's timeouts) would.
    db.exec(&format!("KILL {sleeper}")).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !db
        .query_strings("SELECT CAST(IS_FREE_LOCK(CONCAT('appenv_migrate:', DATABASE())) AS CHAR)")
        .await
        .contains(&"1".to_owned())
    {
        assert!(
            Instant::now() < deadline,
            "the killed session kept the lock"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A new process (the restarted release job) reports it.
    let (code, doc, _) = run(Some(&db.url), dir.path(), &["--format", "json", "status"]);
    assert_eq!(code, 0, "{doc}");
    let dirty = &doc["result"]["dirty"][0];
    assert_eq!(dirty["version"], 2, "{doc}");
    assert_eq!(dirty["statement"], 2, "{doc}");
    assert_eq!(dirty["line"], 3, "{doc}");
    assert_eq!(
        dirty["error"],
        serde_json::Value::Null,
        "killed, not failed: {doc}"
    );
    let (code, _, stderr) = run(Some(&db.url), dir.path(), &["status"]);
    assert_eq!(code, 0);
    assert!(stderr.is_empty() || !stderr.contains("error"), "{stderr}");
    let (code, doc, _) = run(Some(&db.url), dir.path(), &["--format", "json", "up"]);
    assert_eq!(code, 9, "{doc}");
    assert_eq!(doc["error"]["kind"], "dirty");
    let (code, doc, _) = run(Some(&db.url), dir.path(), &["--format", "json", "plan"]);
    assert_eq!(code, 9, "plan agrees with up: {doc}");
    let (code, _, stderr) = run(Some(&db.url), dir.path(), &["verify"]);
    assert_eq!(code, 9);
    assert!(
        stderr.contains(
            "dirty: version 2 (V2__slow.sql) stopped at statement 2 of 3 (V2__slow.sql:3)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("killed"), "{stderr}");

    // Finished by hand, then repaired (production needs the confirmation).
    db.exec("CREATE TABLE second_half (id INTEGER PRIMARY KEY)")
        .await;
    let (code, doc, _) = run(
        Some(&db.url),
        dir.path(),
        &[
            "--format",
            "json",
            "--env",
            "production",
            "repair",
            "mark-applied",
        ],
    );
    assert_eq!(code, 8, "{doc}");
    let refused = db
        .query_strings("SELECT action FROM appenv_migration_audit WHERE outcome = 'refused'")
        .await;
    assert_eq!(
        refused,
        vec!["repair".to_owned()],
        "a refused confirmation is audited"
    );
    let (code, doc, _) = run(
        Some(&db.url),
        dir.path(),
        &[
            "--format",
            "json",
            "--env",
            "production",
            "repair",
            "mark-applied",
            "--yes",
        ],
    );
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["result"]["applied"], serde_json::json!([2]));
    let (code, doc, _) = run(Some(&db.url), dir.path(), &["--format", "json", "verify"]);
    assert_eq!(code, 0, "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_down_and_baseline_need_confirmation_and_json_errors_point_into_the_file() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let dir = three_migrations();
    write(
        dir.path(),
        "V3__table_3.down.sql",
        "-- appenv:allow drop-table undoes V3\nDROP TABLE t3;\n",
    );
    let url = Some(db.url.as_str());
    let (code, doc, _) = run(
        url,
        dir.path(),
        &["--format", "json", "--env", "production", "baseline", "1"],
    );
    assert_eq!(code, 8, "{doc}");
    let (code, doc, _) = run(url, dir.path(), &["--format", "json", "up"]);
    assert_eq!(code, 0, "{doc}");

    let (code, doc, _) = run(
        url,
        dir.path(),
        &["--format", "json", "--env", "production", "down"],
    );
    assert_eq!(code, 8, "{doc}");
    assert_eq!(doc["error"]["kind"], "refused");
    let (code, doc, _) = run(
        url,
        dir.path(),
        &[
            "--format",
            "json",
            "--env",
            "production",
            "down",
            "--to",
            "1",
        ],
    );
    assert_eq!(code, 8, "{doc}");
    let refused = db
        .query_strings(
            "SELECT action FROM appenv_migration_audit WHERE outcome = 'refused' ORDER BY id",
        )
        .await;
    assert_eq!(refused, vec!["baseline", "down", "down"]);
    // A range with a version lacking its undo script is refused up front.
    let (code, doc, _) = run(url, dir.path(), &["--format", "json", "down", "--to", "1"]);
    assert_eq!(code, 1, "{doc}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("V2__table_2.down.sql"),
        "{doc}"
    );
    let (code, doc, _) = run(
        url,
        dir.path(),
        &["--format", "json", "--env", "production", "down", "--yes"],
    );
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["result"]["reverted"], serde_json::json!([3]));

    // A failing statement in JSON: file, line and statement.
    write(
        dir.path(),
        "V3__table_3.sql",
        "CREATE TABLE t3 (id INTEGER PRIMARY KEY);\n\nINSERT INTO t3\n  VALUES (nope);\n",
    );
    let (code, doc, _) = run(url, dir.path(), &["--format", "json", "up"]);
    assert_eq!(code, 7, "{doc}");
    let detail = &doc["error"]["detail"];
    assert_eq!(detail["file"], "V3__table_3.sql", "{doc}");
    assert_eq!(detail["line"], 4, "{doc}");
    assert_eq!(detail["statement"], 2, "{doc}");
    assert_eq!(detail["dirty"], false, "{doc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_by_default_no_sqlx_slow_statement_warnings_or_exists_notices() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "V1__slow.sql", "SELECT pg_sleep(1.2);\n");
    let url = Some(db.url.as_str());
    for args in [&["up"][..], &["up"], &["verify"]] {
        let (code, _, stderr) = run(url, dir.path(), args);
        assert_eq!(code, 0, "{stderr}");
        assert!(!stderr.contains("slow statement"), "{args:?}: {stderr}");
        assert!(!stderr.contains("already exists"), "{args:?}: {stderr}");
        assert!(!stderr.contains("WARN"), "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lint_against_a_database_checks_pending_migrations_only() {
    let Some(db) = TestDb::new(Kind::Sqlite).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "V1__a.sql",
        "CREATE TABLE a (id INTEGER PRIMARY KEY);\n",
    );
    // Applied before today's rules existed (adopted by baseline here).
    write(dir.path(), "V2__old.sql", "DROP TABLE legacy;\n");
    let url = Some(db.url.as_str());
    let (code, doc, _) = run(url, dir.path(), &["--format", "json", "baseline", "2"]);
    assert_eq!(code, 0, "{doc}");
    let (code, doc, _) = run(url, dir.path(), &["--format", "json", "lint"]);
    assert_eq!(code, 0, "applied history is not linted: {doc}");
    let (code, _, _) = run(None, dir.path(), &["lint", "--dialect", "sqlite"]);
    assert_eq!(code, 5, "without a database every file is linted");
    let (code, doc, _) = run(url, dir.path(), &["--format", "json", "up"]);
    assert_eq!(code, 0, "{doc}");
    // Undo scripts are linted too, applied migrations' included.
    write(dir.path(), "V1__a.down.sql", "DROP TABLE a;\n");
    let (code, doc, _) = run(url, dir.path(), &["--format", "json", "lint"]);
    assert_eq!(code, 5, "{doc}");
    assert_eq!(doc["result"]["findings"][0]["file"], "V1__a.down.sql");
    write(
        dir.path(),
        "V1__a.down.sql",
        "-- appenv:allow drop-table undoes V1\nDROP TABLE a;\n",
    );
    let (code, doc, _) = run(url, dir.path(), &["--format", "json", "lint"]);
    assert_eq!(code, 0, "{doc}");
    write(dir.path(), "V3__new.sql", "DROP TABLE a;\n");
    let (code, doc, _) = run(url, dir.path(), &["--format", "json", "lint"]);
    assert_eq!(code, 5, "{doc}");
    assert_eq!(doc["result"]["findings"][0]["file"], "V3__new.sql");
    let (code, doc, _) = run(url, dir.path(), &["--format", "json", "plan"]);
    assert_eq!(code, 5, "{doc}");
    assert_eq!(doc["result"]["refusal"]["kind"], "lint");
}
