//! The "migrations current" readiness check against a real SQLite database.

use appenv_config::AppEnv;
use appenv_migrate::{MigrationFile, Migrations, Migrator};
use appenv_observability::{CheckStatus, Health};

fn migrations() -> Migrations {
    Migrations::from_files([MigrationFile::new(
        "V1__create_events.sql",
        "CREATE TABLE events (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
    )
    .unwrap()])
}

#[tokio::test]
async fn pending_migrations_fail_readiness_until_applied() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/app.db?mode=rwc", dir.path().display());
    let health = Health::new().migrations(
        "migrations",
        Migrator::new(url.as_str(), migrations(), AppEnv::Local).unwrap(),
    );
    let readiness = health.readiness().await;
    assert_eq!(readiness.failing, vec!["migrations".to_owned()]);
    assert_eq!(readiness.checks[0].status, CheckStatus::Failed);

    Migrator::new(url.as_str(), migrations(), AppEnv::Local)
        .unwrap()
        .up()
        .await
        .unwrap();
    let readiness = health.readiness().await;
    assert!(readiness.is_ready(), "{readiness:?}");
}

#[tokio::test]
async fn a_passing_status_is_reused_instead_of_read_on_every_probe() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    Migrator::new(url.as_str(), migrations(), AppEnv::Local)
        .unwrap()
        .up()
        .await
        .unwrap();
    let health = Health::new().migrations(
        "migrations",
        Migrator::new(url.as_str(), migrations(), AppEnv::Local).unwrap(),
    );
    assert!(health.readiness().await.is_ready());
    // The database goes away: probes within the TTL do not read it again.
    drop(dir);
    for _ in 0..5 {
        assert!(health.readiness().await.is_ready());
    }

    // With no reuse, the next probe reads the (now empty) history again.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/app.db?mode=rwc", dir.path().display());
    Migrator::new(url.as_str(), migrations(), AppEnv::Local)
        .unwrap()
        .up()
        .await
        .unwrap();
    let uncached = Health::new().migrations_with_ttl(
        "migrations",
        Migrator::new(url.as_str(), migrations(), AppEnv::Local).unwrap(),
        std::time::Duration::ZERO,
    );
    assert!(uncached.readiness().await.is_ready());
    std::fs::remove_file(dir.path().join("app.db")).unwrap();
    assert!(!uncached.readiness().await.is_ready());
}
