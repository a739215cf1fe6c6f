//! Migrations: 500 small migrations applied to a fresh SQLite file and a
//! fresh PostgreSQL database, by appenv-migrate (`Migrator::up`, local
//! defaults: lock, audit row), sqlx's `Migrator` and refinery's native
//! drivers (rusqlite, postgres); then the up-to-date check on the migrated
//! database: appenv's `verify` (by default, which writes no row when the
//! database is current, and with every verify audited) against a
//! no-op run of sqlx and refinery.
//!
//! Every apply measurement includes opening the connection. Databases are
//! created and dropped outside the timed part. PostgreSQL comes from
//! `TEST_POSTGRES_URL`; it is skipped with a message when unreachable
//! (fails under `CI`). Under `--test` 20 migrations are used.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use appenv_benches::{
    MIGRATION_COUNT, Service, service_url, short_run, small_migrations, unreachable,
};
use appenv_config::AppEnv;
use appenv_migrate::{MigrationFile, Migrations};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, criterion_group, criterion_main};
use refinery_core::Runner;
use sqlx::migrate::{Migration as SqlxMigration, MigrationType, Migrator as SqlxMigrator};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, SqlSafeStr, SqliteConnection};
use std::str::FromStr;

/// The three tools' views of the same migration files.
struct Sets {
    appenv: Migrations,
    sqlx: SqlxMigrator,
    refinery: Runner,
}

impl Sets {
    fn new(count: usize) -> Sets {
        let files = small_migrations(count);
        let appenv =
            Migrations::from_files(files.iter().map(|(name, sql)| {
                MigrationFile::new(name, sql.clone()).expect("valid migration")
            }));
        let sqlx = SqlxMigrator::with_migrations(
            files
                .iter()
                .enumerate()
                .map(|(i, (name, sql))| {
                    SqlxMigration::new(
                        i64::try_from(i + 1).expect("version fits"),
                        name.clone().into(),
                        MigrationType::Simple,
                        AssertSqlSafe(sql.clone()).into_sql_str(),
                        false,
                    )
                })
                .collect(),
        );
        let refinery = Runner::new(
            &files
                .iter()
                .map(|(name, sql)| {
                    refinery_core::Migration::unapplied(name.trim_end_matches(".sql"), sql)
                        .expect("valid refinery migration")
                })
                .collect::<Vec<_>>(),
        );
        Sets {
            appenv,
            sqlx,
            refinery,
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    // Seconds per iteration: ten samples of one iteration each.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
}

/// A fresh SQLite file per iteration.
struct SqliteFiles {
    dir: tempfile::TempDir,
    next: AtomicUsize,
}

impl SqliteFiles {
    fn new() -> SqliteFiles {
        SqliteFiles {
            dir: tempfile::tempdir().expect("temp dir"),
            next: AtomicUsize::new(0),
        }
    }

    fn fresh(&self) -> std::path::PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.dir.path().join(format!("bench-{n}.db"))
    }
}

fn sqlite(c: &mut Criterion) {
    let count = if short_run() { 20 } else { MIGRATION_COUNT };
    let sets = Sets::new(count);
    let rt = runtime();
    let files = SqliteFiles::new();

    let mut group = c.benchmark_group(format!("migrate/sqlite_apply_{count}"));
    configure(&mut group);
    group.bench_function("appenv", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let url = format!("sqlite://{}", files.fresh().display());
                let start = Instant::now();
                rt.block_on(async {
                    let report = appenv_migrate::Migrator::new(
                        url.as_str(),
                        sets.appenv.clone(),
                        AppEnv::Local,
                    )
                    .expect("migrator")
                    .up()
                    .await
                    .expect("appenv up");
                    assert_eq!(report.applied.len(), count);
                });
                total += start.elapsed();
            }
            total
        });
    });
    group.bench_function("sqlx", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let options = SqliteConnectOptions::from_str(&format!(
                    "sqlite://{}",
                    files.fresh().display()
                ))
                .expect("sqlite url")
                .create_if_missing(true);
                let start = Instant::now();
                rt.block_on(async {
                    let mut conn = SqliteConnection::connect_with(&options)
                        .await
                        .expect("sqlite connect");
                    sets.sqlx.run(&mut conn).await.expect("sqlx run");
                    conn.close().await.expect("close");
                });
                total += start.elapsed();
            }
            total
        });
    });
    group.bench_function("refinery", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let path = files.fresh();
                let start = Instant::now();
                let mut conn = refinery_core::rusqlite::Connection::open(&path).expect("open");
                let report = sets.refinery.run(&mut conn).expect("refinery run");
                assert_eq!(report.applied_migrations().len(), count);
                drop(conn);
                total += start.elapsed();
            }
            total
        });
    });
    group.finish();

    // The up-to-date check on one migrated database per tool.
    let appenv_url = format!("sqlite://{}", files.fresh().display());
    let sqlx_options =
        SqliteConnectOptions::from_str(&format!("sqlite://{}", files.fresh().display()))
            .expect("sqlite url")
            .create_if_missing(true);
    let refinery_path = files.fresh();
    let migrator =
        appenv_migrate::Migrator::new(appenv_url.as_str(), sets.appenv.clone(), AppEnv::Production)
            .expect("migrator");
    rt.block_on(async {
        appenv_migrate::Migrator::new(appenv_url.as_str(), sets.appenv.clone(), AppEnv::Local)
            .expect("migrator")
            .up()
            .await
            .expect("appenv up");
        let mut conn = SqliteConnection::connect_with(&sqlx_options)
            .await
            .expect("connect");
        sets.sqlx.run(&mut conn).await.expect("sqlx run");
    });
    let mut refinery_conn =
        refinery_core::rusqlite::Connection::open(&refinery_path).expect("open");
    sets.refinery.run(&mut refinery_conn).expect("refinery run");

    let mut group = c.benchmark_group(format!("migrate/sqlite_up_to_date_{count}"));
    group.bench_function("appenv_verify", |b| {
        b.to_async(&rt).iter(|| async {
            let status = migrator.verify().await.expect("verify");
            assert!(status.is_current());
        });
    });
    let audited = migrator.clone().with_verify_audit(true);
    group.bench_function("appenv_verify_audited", |b| {
        b.to_async(&rt).iter(|| async {
            let status = audited.verify().await.expect("verify");
            assert!(status.is_current());
        });
    });
    group.bench_function("sqlx_run_noop", |b| {
        b.to_async(&rt).iter(|| async {
            let mut conn = SqliteConnection::connect_with(&sqlx_options)
                .await
                .expect("connect");
            sets.sqlx.run(&mut conn).await.expect("sqlx run");
            conn.close().await.expect("close");
        });
    });
    group.bench_function("refinery_run_noop", |b| {
        b.iter(|| {
            let mut conn = refinery_core::rusqlite::Connection::open(&refinery_path).expect("open");
            let report = sets.refinery.run(&mut conn).expect("refinery run");
            assert!(report.applied_migrations().is_empty());
        });
    });
    group.finish();
}

/// Creates and drops uniquely named PostgreSQL databases.
struct PgDatabases {
    admin_url: url::Url,
    prefix: String,
    next: AtomicUsize,
}

impl PgDatabases {
    fn url(&self, name: &str) -> String {
        let mut url = self.admin_url.clone();
        url.set_path(name);
        url.to_string()
    }

    async fn admin(&self) -> PgConnection {
        PgConnection::connect(self.admin_url.as_str())
            .await
            .expect("admin connection")
    }

    async fn create(&self) -> (String, String) {
        let name = format!(
            "{}_{}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = self.admin().await;
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create database");
        admin.close().await.ok();
        let url = self.url(&name);
        (name, url)
    }

    async fn drop_db(&self, name: &str) {
        let mut admin = self.admin().await;
        admin
            .execute(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await
            .expect("drop database");
        admin.close().await.ok();
    }
}

fn postgres(c: &mut Criterion) {
    let rt = runtime();
    let admin_url = service_url(Service::Postgres);
    let reachable = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(3), PgConnection::connect(&admin_url)).await
    });
    match reachable {
        Ok(Ok(conn)) => drop(rt.block_on(conn.close())),
        Ok(Err(err)) => return unreachable(Service::Postgres, "migrate/postgres", &err),
        Err(_) => return unreachable(Service::Postgres, "migrate/postgres", &"timed out"),
    }
    let dbs = PgDatabases {
        admin_url: url::Url::parse(&admin_url).expect("TEST_POSTGRES_URL is a URL"),
        prefix: format!("appenv_bench_{}", std::process::id()),
        next: AtomicUsize::new(0),
    };
    let count = if short_run() { 20 } else { MIGRATION_COUNT };
    let sets = Sets::new(count);

    let mut group = c.benchmark_group(format!("migrate/postgres_apply_{count}"));
    configure(&mut group);
    group.bench_function("appenv", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (name, url) = rt.block_on(dbs.create());
                let start = Instant::now();
                rt.block_on(async {
                    let report = appenv_migrate::Migrator::new(
                        url.as_str(),
                        sets.appenv.clone(),
                        AppEnv::Local,
                    )
                    .expect("migrator")
                    .up()
                    .await
                    .expect("appenv up");
                    assert_eq!(report.applied.len(), count);
                });
                total += start.elapsed();
                rt.block_on(dbs.drop_db(&name));
            }
            total
        });
    });
    group.bench_function("sqlx", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (name, url) = rt.block_on(dbs.create());
                let start = Instant::now();
                rt.block_on(async {
                    let mut conn = PgConnection::connect(&url).await.expect("connect");
                    sets.sqlx.run(&mut conn).await.expect("sqlx run");
                    conn.close().await.expect("close");
                });
                total += start.elapsed();
                rt.block_on(dbs.drop_db(&name));
            }
            total
        });
    });
    group.bench_function("refinery", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (name, url) = rt.block_on(dbs.create());
                let start = Instant::now();
                let mut client =
                    refinery_core::postgres::Client::connect(&url, refinery_core::postgres::NoTls)
                        .expect("connect");
                let report = sets.refinery.run(&mut client).expect("refinery run");
                assert_eq!(report.applied_migrations().len(), count);
                client.close().expect("close");
                total += start.elapsed();
                rt.block_on(dbs.drop_db(&name));
            }
            total
        });
    });
    group.finish();

    // The up-to-date check on one migrated database per tool.
    let (appenv_db, appenv_url) = rt.block_on(dbs.create());
    let (sqlx_db, sqlx_url) = rt.block_on(dbs.create());
    let (refinery_db, refinery_url) = rt.block_on(dbs.create());
    let migrator =
        appenv_migrate::Migrator::new(appenv_url.as_str(), sets.appenv.clone(), AppEnv::Production)
            .expect("migrator");
    let sqlx_pool = rt.block_on(async {
        appenv_migrate::Migrator::new(appenv_url.as_str(), sets.appenv.clone(), AppEnv::Local)
            .expect("migrator")
            .up()
            .await
            .expect("appenv up");
        let pool = sqlx::PgPool::connect(&sqlx_url).await.expect("pool");
        sets.sqlx.run(&pool).await.expect("sqlx run");
        pool
    });
    let mut refinery_client =
        refinery_core::postgres::Client::connect(&refinery_url, refinery_core::postgres::NoTls)
            .expect("connect");
    sets.refinery
        .run(&mut refinery_client)
        .expect("refinery run");

    let mut group = c.benchmark_group(format!("migrate/postgres_up_to_date_{count}"));
    group.bench_function("appenv_verify", |b| {
        b.to_async(&rt).iter(|| async {
            let status = migrator.verify().await.expect("verify");
            assert!(status.is_current());
        });
    });
    let audited = migrator.clone().with_verify_audit(true);
    group.bench_function("appenv_verify_audited", |b| {
        b.to_async(&rt).iter(|| async {
            let status = audited.verify().await.expect("verify");
            assert!(status.is_current());
        });
    });
    group.bench_function("sqlx_run_noop_new_connection", |b| {
        b.to_async(&rt).iter(|| async {
            let mut conn = PgConnection::connect(&sqlx_url).await.expect("connect");
            sets.sqlx.run(&mut conn).await.expect("sqlx run");
            conn.close().await.expect("close");
        });
    });
    group.bench_function("sqlx_run_noop_pooled", |b| {
        b.to_async(&rt).iter(|| async {
            sets.sqlx.run(&sqlx_pool).await.expect("sqlx run");
        });
    });
    group.bench_function("refinery_run_noop", |b| {
        b.iter(|| {
            let report = sets
                .refinery
                .run(&mut refinery_client)
                .expect("refinery run");
            assert!(report.applied_migrations().is_empty());
        });
    });
    group.finish();

    drop(refinery_client);
    rt.block_on(async {
        sqlx_pool.close().await;
        for name in [&appenv_db, &sqlx_db, &refinery_db] {
            dbs.drop_db(name).await;
        }
    });
}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);
