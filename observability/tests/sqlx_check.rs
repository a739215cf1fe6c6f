//! The ready-made sqlx pool check against SQLite and a real PostgreSQL
//! (`TEST_POSTGRES_URL`; skipped loudly when unreachable, failing under CI).

use std::time::Duration;

use appenv_observability::{CheckStatus, Health};

#[tokio::test]
async fn sqlite_pool_check_passes_and_a_closed_pool_fails() {
    let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
    let health = Health::new().sqlx_pool("database", pool.clone());
    assert!(health.readiness().await.is_ready());
    pool.close().await;
    let readiness = health.readiness().await;
    assert_eq!(readiness.failing, vec!["database".to_owned()]);
    assert_eq!(readiness.checks[0].status, CheckStatus::Failed);
}

#[tokio::test]
async fn postgres_pool_check_passes() {
    let url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let pool = match sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url)
        .await
    {
        Ok(pool) => pool,
        Err(err) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED postgres_pool_check_passes: PostgreSQL unreachable ({err})");
            return;
        }
        Err(err) => panic!("PostgreSQL unreachable under CI: {err}"),
    };
    let health = Health::new().sqlx_pool("postgres", pool);
    let readiness = health.readiness().await;
    assert!(readiness.is_ready(), "{readiness:?}");
}
