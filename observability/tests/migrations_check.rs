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
