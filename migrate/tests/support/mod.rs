//! Real databases for the integration tests: a uniquely named database per
//! test on the Postgres and MariaDB servers of TEST_POSTGRES_URL /
//! TEST_MYSQL_URL, dropped afterwards, and a temporary SQLite file.
//! An unreachable server skips loudly, or fails when CI is set.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU32, Ordering};

use appenv_migrate::{MigrationFile, Migrations};
use sqlx::Connection;

static COUNTER: AtomicU32 = AtomicU32::new(0);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    MySql,
    Sqlite,
}

#[derive(Debug)]
pub struct TestDb {
    pub kind: Kind,
    pub url: String,
    admin_url: String,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{}_{n}_{nanos}", std::process::id(), "mig")
}

fn skip_or_fail(what: &str, err: impl std::fmt::Display) -> Option<TestDb> {
    if std::env::var_os("CI").is_some() {
        panic!("{what} is unreachable and CI is set: {err}");
    }
    eprintln!(
        "\n!!!!! SKIPPING: {what} is unreachable ({err}); set it up to run this test !!!!!\n"
    );
    None
}

fn replace_db(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let cut = base.rfind('/').unwrap();
    format!("{}/{name}{query}", &base[..cut])
}

impl TestDb {
    pub async fn new(kind: Kind) -> Option<TestDb> {
        match kind {
            Kind::Postgres => {
                let admin = std::env::var("TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
                let mut conn = match sqlx::PgConnection::connect(&admin).await {
                    Ok(c) => c,
                    Err(e) => return skip_or_fail("PostgreSQL (TEST_POSTGRES_URL)", e),
                };
                let name = unique("appenv_migrate");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.ok();
                Some(TestDb {
                    kind,
                    url: replace_db(&admin, &name),
                    admin_url: admin,
                    name,
                    _dir: None,
                })
            }
            Kind::MySql => {
                let admin = std::env::var("TEST_MYSQL_URL")
                    .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
                let mut conn = match sqlx::MySqlConnection::connect(&admin).await {
                    Ok(c) => c,
                    Err(e) => return skip_or_fail("MariaDB/MySQL (TEST_MYSQL_URL)", e),
                };
                let name = unique("appenv_migrate");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.ok();
                Some(TestDb {
                    kind,
                    url: replace_db(&admin, &name),
                    admin_url: admin,
                    name,
                    _dir: None,
                })
            }
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("app.db");
                Some(TestDb {
                    kind,
                    url: format!("sqlite://{}", path.display()),
                    admin_url: String::new(),
                    name: path.display().to_string(),
                    _dir: Some(dir),
                })
            }
        }
    }

    /// Path of the SQLite file.
    pub fn sqlite_path(&self) -> &str {
        &self.name
    }

    /// Runs SQL and returns the first column of every row as text.
    pub async fn query_strings(&self, sql: &str) -> Vec<String> {
        use sqlx::Row;
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self.kind {
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&mut c).await.unwrap();
                c.close().await.ok();
                rows.iter()
                    .map(|r| {
                        r.try_get::<Option<String>, _>(0)
                            .unwrap()
                            .unwrap_or_default()
                    })
                    .collect()
            }
            Kind::MySql => {
                let mut c = sqlx::MySqlConnection::connect(&self.url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&mut c).await.unwrap();
                c.close().await.ok();
                rows.iter()
                    .map(|r| {
                        r.try_get::<Option<String>, _>(0)
                            .unwrap()
                            .unwrap_or_default()
                    })
                    .collect()
            }
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&mut c).await.unwrap();
                c.close().await.ok();
                rows.iter()
                    .map(|r| {
                        r.try_get::<Option<String>, _>(0)
                            .unwrap()
                            .unwrap_or_default()
                    })
                    .collect()
            }
        }
    }

    pub async fn exec(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self.kind {
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
                c.close().await.ok();
            }
            Kind::MySql => {
                let mut c = sqlx::MySqlConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
                c.close().await.ok();
            }
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&format!("{}?mode=rwc", self.url))
                    .await
                    .unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
                c.close().await.ok();
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.kind == Kind::Sqlite {
            return;
        }
        let (kind, admin, name) = (self.kind, self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                match kind {
                    Kind::Postgres => {
                        if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .execute(&mut c)
                            .await;
                        }
                    }
                    Kind::MySql => {
                        if let Ok(mut c) = sqlx::MySqlConnection::connect(&admin).await {
                            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name}"
                            )))
                            .execute(&mut c)
                            .await;
                        }
                    }
                    Kind::Sqlite => {}
                }
            });
        })
        .join();
    }
}

/// V1..=n simple, portable migrations.
pub fn migrations(n: i64) -> Migrations {
    Migrations::from_files((1..=n).map(|v| {
        MigrationFile::new(
            &format!("V{v}__table_{v}.sql"),
            format!("CREATE TABLE t{v} (id INTEGER PRIMARY KEY, note VARCHAR(50));"),
        )
        .unwrap()
    }))
}

pub fn with(base: Migrations, extra: &[(&str, &str)]) -> Migrations {
    let mut files: Vec<MigrationFile> = base.iter().cloned().collect();
    for (name, sql) in extra {
        files.push(MigrationFile::new(name, *sql).unwrap());
    }
    Migrations::from_files(files)
}
