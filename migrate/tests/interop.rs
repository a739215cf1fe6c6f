//! Byte-compatibility of the history table with refinery's native drivers
//! (rusqlite and the synchronous postgres client), both directions, with
//! migrations from `embed_migrations!` and from the same directory.

mod support;

use appenv_config::AppEnv;
use appenv_migrate::{Migrations, Migrator};
use support::{Kind, TestDb};

mod embedded {
    refinery::embed_migrations!("tests/migrations");
}

fn ours(db: &TestDb) -> Migrator {
    Migrator::new(
        db.url.as_str(),
        Migrations::embedded(&embedded::migrations::runner()),
        AppEnv::Local,
    )
    .unwrap()
}

fn summary(applied: &[refinery::Migration]) -> Vec<(i64, String, u64)> {
    applied
        .iter()
        .map(|m| (i64::from(m.version()), m.name().to_owned(), m.checksum()))
        .collect()
}

#[test]
fn directory_and_embedded_migrations_are_the_same_set() {
    let dir = Migrations::from_dir("tests/migrations").unwrap();
    let embedded = Migrations::embedded(&embedded::migrations::runner());
    let key = |m: &Migrations| {
        m.iter()
            .map(|f| (f.version(), f.file().to_owned(), f.checksum()))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&dir), key(&embedded));
    assert_eq!(dir.len(), 3, "the undo script is not a migration");

    // Undo scripts: read beside the directory's files, carried by the
    // embedded set through `undo_scripts!`, invisible to refinery.
    assert!(
        dir.get(3)
            .unwrap()
            .undo_sql()
            .unwrap()
            .contains("DROP COLUMN note")
    );
    let embedded = embedded
        .with_undo_scripts(
            appenv_migrate::undo_scripts!("tests/migrations": "V3__order_note.down.sql"),
        )
        .unwrap();
    assert_eq!(
        embedded.get(3).unwrap().undo_sql(),
        dir.get(3).unwrap().undo_sql()
    );
    assert_eq!(embedded::migrations::runner().get_migrations().len(), 3);
}

#[tokio::test]
async fn undo_script_round_trip_keeps_history_readable_by_refinery() {
    let db = TestDb::new(Kind::Sqlite).await.unwrap();
    let m = Migrator::new(
        db.url.as_str(),
        Migrations::from_dir("tests/migrations").unwrap(),
        AppEnv::Local,
    )
    .unwrap();
    assert_eq!(m.up().await.unwrap().applied, vec![1, 2, 3]);
    assert_eq!(m.down(None).await.unwrap().reverted, vec![3]);
    // refinery's own driver reads the history and applies V3 again.
    let mut conn = refinery_core::rusqlite::Connection::open(db.sqlite_path()).unwrap();
    let report = embedded::migrations::runner().run(&mut conn).unwrap();
    assert_eq!(report.applied_migrations().len(), 1);
    drop(conn);
    m.verify().await.unwrap();
}

#[tokio::test]
async fn sqlite_migrated_here_reads_as_applied_by_refinery_rusqlite() {
    let db = TestDb::new(Kind::Sqlite).await.unwrap();
    let report = ours(&db).up().await.unwrap();
    assert_eq!(report.applied, vec![1, 2, 3]);

    let mut conn = refinery_core::rusqlite::Connection::open(db.sqlite_path()).unwrap();
    let runner = embedded::migrations::runner();
    let applied = runner.get_applied_migrations(&mut conn).unwrap();
    let expected: Vec<_> = runner
        .get_migrations()
        .iter()
        .map(|m| (i64::from(m.version()), m.name().to_owned(), m.checksum()))
        .collect();
    assert_eq!(summary(&applied), expected);
    let again = runner.run(&mut conn).unwrap();
    assert!(
        again.applied_migrations().is_empty(),
        "refinery finds nothing to do"
    );
}

#[tokio::test]
async fn sqlite_migrated_by_refinery_rusqlite_reads_as_applied_here() {
    let db = TestDb::new(Kind::Sqlite).await.unwrap();
    {
        let mut conn = refinery_core::rusqlite::Connection::open(db.sqlite_path()).unwrap();
        let report = embedded::migrations::runner().run(&mut conn).unwrap();
        assert_eq!(report.applied_migrations().len(), 3);
    }
    let status = ours(&db).verify().await.unwrap();
    assert_eq!(status.applied.len(), 3);
    assert!(ours(&db).up().await.unwrap().applied.is_empty());
}

/// The sync postgres client runs its own runtime: keep it off tokio's threads.
fn with_pg_client<T: Send + 'static>(
    url: String,
    f: impl FnOnce(&mut refinery_core::postgres::Client) -> T + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        let mut client =
            refinery_core::postgres::Client::connect(&url, refinery_core::postgres::NoTls).unwrap();
        f(&mut client)
    })
    .join()
    .unwrap()
}

#[tokio::test]
async fn postgres_migrated_here_reads_as_applied_by_refinery_postgres() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    assert_eq!(ours(&db).up().await.unwrap().applied, vec![1, 2, 3]);
    let (applied, rerun) = with_pg_client(db.url.clone(), |client| {
        let runner = embedded::migrations::runner();
        let applied = runner.get_applied_migrations(client).unwrap();
        let rerun = runner.run(client).unwrap().applied_migrations().len();
        (summary(&applied), rerun)
    });
    assert_eq!(
        applied.iter().map(|a| a.0).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(applied[0].1, "create_users");
    assert_eq!(rerun, 0, "refinery finds nothing to do");
}

#[tokio::test]
async fn postgres_migrated_by_refinery_postgres_reads_as_applied_here() {
    let Some(db) = TestDb::new(Kind::Postgres).await else {
        return;
    };
    let applied = with_pg_client(db.url.clone(), |client| {
        embedded::migrations::runner()
            .run(client)
            .unwrap()
            .applied_migrations()
            .len()
    });
    assert_eq!(applied, 3);
    let status = ours(&db).verify().await.unwrap();
    assert_eq!(status.applied.len(), 3);
    assert!(status.divergent.is_empty());
    // And a later release adds V4 on top of refinery's history.
    let next = support::with(
        Migrations::embedded(&embedded::migrations::runner()),
        &[(
            "V4__users_name.sql",
            "ALTER TABLE users ADD COLUMN name VARCHAR(50);",
        )],
    );
    let report = Migrator::new(db.url.as_str(), next, AppEnv::Local)
        .unwrap()
        .up()
        .await
        .unwrap();
    assert_eq!(report.applied, vec![4]);
}
