//! `embed_migrations!`: a set compiled into the test binary, undo scripts
//! included, applied and reverted on a SQLite file — without the test
//! naming refinery.

use appenv_config::AppEnv;
use appenv_migrate::Migrator;

#[tokio::test]
async fn an_embedded_set_applies_and_its_undo_script_reverts() {
    let migrations = appenv_migrate::embed_migrations!("tests/migrations").unwrap();
    let versions: Vec<i64> = migrations.iter().map(|m| m.version()).collect();
    assert_eq!(versions, [1, 2, 3]);
    assert!(migrations.get(2).unwrap().undo_sql().is_none());
    let undo = migrations.get(3).unwrap().undo_sql().unwrap();
    assert!(undo.contains("DROP COLUMN note"), "{undo}");

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let migrator = Migrator::new(url.as_str(), migrations, AppEnv::Local).unwrap();
    let report = migrator.up().await.unwrap();
    assert_eq!(report.applied, [1, 2, 3]);
    assert!(migrator.status().await.unwrap().is_current());

    let report = migrator.down(None).await.unwrap();
    assert_eq!(report.reverted, [3]);
    let status = migrator.status().await.unwrap();
    assert!(!status.is_current(), "V3 is pending again after down");
}

#[test]
fn the_checksums_are_refinery_s() {
    mod embedded {
        refinery::embed_migrations!("tests/migrations");
    }
    let ours = appenv_migrate::embed_migrations!("tests/migrations").unwrap();
    let refinery = appenv_migrate::Migrations::embedded(&embedded::migrations::runner());
    let sums = |m: &appenv_migrate::Migrations| {
        m.iter()
            .map(|f| (f.version(), f.checksum(), f.file().to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(sums(&ours), sums(&refinery));
}

/// `DatabaseConfig::connect_lazy`: the pool a service queries through, from
/// the same URL the migrator reads.
#[tokio::test]
async fn connect_lazy_reads_urls_as_the_migrator_does() {
    use appenv_config::{SecretUrl, Section};
    use appenv_migrate::DatabaseConfig;

    let dir = tempfile::tempdir().unwrap();
    let mut config = DatabaseConfig::defaults(AppEnv::Local);
    // A fresh checkout: neither the directory nor the file exists yet.
    let file = dir.path().join("data/app.db");
    config.url = SecretUrl::new(format!("sqlite://{}", file.display()));
    let pool = config.connect_lazy::<sqlx::Sqlite>().unwrap();
    sqlx::query("CREATE TABLE t (x INTEGER)")
        .execute(&pool)
        .await
        .unwrap();
    assert!(file.exists());
    pool.close().await;

    // mariadb:// is MySQL's protocol; nothing connects yet.
    config.url = SecretUrl::new("mariadb://app:hunter2-secret@db.internal:3307/app");
    let pool = config.connect_lazy::<sqlx::MySql>().unwrap();
    assert_eq!(pool.connect_options().get_host(), "db.internal");
    assert_eq!(pool.connect_options().get_port(), 3307);

    config.url = SecretUrl::new("postgres://app:hunter2-secret@db.internal:notaport/app");
    let err = config.connect_lazy::<sqlx::Postgres>().unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert_eq!(err.exit_code(), appenv_migrate::exit::CONFIG);
}

#[test]
fn connect_lazy_outside_a_runtime_is_an_error_not_a_panic() {
    use appenv_config::{SecretUrl, Section};
    let mut config = appenv_migrate::DatabaseConfig::defaults(AppEnv::Local);
    config.url = SecretUrl::new("postgres://app@127.0.0.1/app");
    let err = config.connect_lazy::<sqlx::Postgres>().unwrap_err();
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
}
