//! Spawning the real `example-api` binary and talking HTTP to it, plus
//! uniquely named databases on the test services.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;

pub const BIN: &str = env!("CARGO_BIN_EXE_example-api");
pub const CONFIG_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config");

/// A JWT secret long enough for production, easy to grep for.
pub const SENTINEL_JWT: &str = "sentinel-jwt-5f1c9a7e-never-print-this-0123456789";
/// A database password, easy to grep for.
pub const SENTINEL_DB_PASSWORD: &str = "sentinelDbPw7731";

/// A port nobody listens on right now (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// How the binary is started: variables (the process environment is
/// cleared first, so nothing leaks in from the test runner) and a scratch
/// working directory (`./data/` lands there).
pub struct Setup {
    pub vars: BTreeMap<String, String>,
    pub dir: tempfile::TempDir,
}

impl Setup {
    pub fn new(vars: &[(&str, &str)]) -> Setup {
        let mut map = BTreeMap::new();
        map.insert("APP_CONFIG_DIR".to_owned(), CONFIG_DIR.to_owned());
        map.insert("NO_COLOR".to_owned(), "1".to_owned());
        for (k, v) in vars {
            map.insert((*k).to_owned(), (*v).to_owned());
        }
        Setup {
            vars: map,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.vars.insert(key.to_owned(), value.into());
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .envs(&self.vars)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a one-shot command (`config check`, `migrate up`) to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("run example-api");
        Run {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts `serve` on a free port; the process is killed on drop.
    pub fn spawn(&self) -> Server {
        let port = free_port();
        let logs = self.dir.path().join(format!("logs-{port}"));
        std::fs::create_dir_all(&logs).unwrap();
        let stdout = logs.join("stdout.log");
        let stderr = logs.join("stderr.log");
        let child = self
            .command(&["serve"])
            .env("PORT", port.to_string())
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn example-api");
        Server {
            child,
            port,
            stdout,
            stderr,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
        }
    }
}

/// The outcome of a one-shot command.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A running `example-api serve`.
pub struct Server {
    child: Child,
    pub port: u16,
    stdout: PathBuf,
    stderr: PathBuf,
    pub client: reqwest::blocking::Client,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.client.get(self.url(path)).send().expect("GET")
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn output(&self) -> String {
        format!("{}{}", self.stdout(), self.stderr())
    }

    /// Waits until `/healthz` answers. Panics with the process output when
    /// it exits first.
    pub fn ready(mut self) -> Server {
        match self.wait_ready() {
            Ok(()) => self,
            Err(status) => panic!(
                "example-api exited with {status:?} before serving:\n{}",
                self.output()
            ),
        }
    }

    /// Waits until `/healthz` answers (`Ok`) or the process exits (`Err`
    /// with its exit code).
    pub fn wait_ready(&mut self) -> Result<(), Option<i32>> {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Ok(response) = self.client.get(self.url("/healthz")).send()
                && response.status() == 200
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Err(status.code());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("example-api neither served nor exited:\n{}", self.output());
    }

    /// Waits for the process to exit (after a signal, or on its own).
    pub fn wait(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status.code(), self.output());
            }
            assert!(
                Instant::now() < deadline,
                "example-api did not exit:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM (what an orchestrator sends) through `kill(1)`.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a test service at `url` accepts TCP connections. When it does
/// not: a loud skip locally (`None`), a failure when `CI` is set.
pub fn service(var: &str, default: &str) -> Option<String> {
    let url = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    let parsed = url::Url::parse(&url).unwrap_or_else(|e| panic!("{var}={url} is not a URL: {e}"));
    let host = parsed.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = parsed
        .port_or_known_default()
        .unwrap_or(match parsed.scheme() {
            "postgres" | "postgresql" => 5432,
            "mysql" | "mariadb" => 3306,
            _ => 6379,
        });
    let reachable = (host.as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    if reachable {
        return Some(url);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{var}: {host}:{port} is unreachable and CI is set: the service is required");
    }
    eprintln!(
        "\n*** SKIPPED: {var} ({host}:{port}) is unreachable; start the service to run this test ***\n"
    );
    None
}

pub fn postgres_url() -> Option<String> {
    service(
        "TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    )
}

pub fn mysql_url() -> Option<String> {
    service("TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
}

pub fn redis_url() -> Option<String> {
    service("TEST_REDIS_URL", "redis://127.0.0.1:6379")
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

fn block_on<F: Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fut)
}

/// A database created for one test on the server of `admin_url`, dropped
/// on drop. `url` points at it.
pub struct TempDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl TempDatabase {
    pub fn postgres(admin_url: &str) -> TempDatabase {
        let name = unique("example_api");
        block_on(async {
            let mut conn = sqlx::PgConnection::connect(admin_url)
                .await
                .expect("connect to Postgres");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create database");
            conn.close().await.ok();
        });
        TempDatabase {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        }
    }

    pub fn mysql(admin_url: &str) -> TempDatabase {
        let name = unique("example_api");
        block_on(async {
            let mut conn = sqlx::MySqlConnection::connect(admin_url)
                .await
                .expect("connect to MySQL");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create database");
            conn.close().await.ok();
        });
        TempDatabase {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        }
    }

    /// The database URL with a password added (trust auth ignores it), to
    /// prove it is never printed.
    pub fn url_with_password(&self, password: &str) -> String {
        let mut url = url::Url::parse(&self.url).unwrap();
        url.set_password(Some(password)).unwrap();
        url.to_string()
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            block_on(async {
                if admin.starts_with("postgres") {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                            .execute(&mut conn)
                            .await;
                    }
                } else if let Ok(mut conn) = sqlx::MySqlConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name}");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
            })
        })
        .join();
    }
}

fn with_database(url: &str, name: &str) -> String {
    let mut url = url::Url::parse(url).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// An HS256 token for `sub`, valid for an hour.
pub fn token(secret: &str, sub: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": sub, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// The lines of `output` that are JSON objects.
pub fn json_lines(output: &str) -> Vec<serde_json::Value> {
    output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.is_object())
        .collect()
}

pub fn assert_no_secret(what: &str, text: &str) {
    for secret in [SENTINEL_JWT, SENTINEL_DB_PASSWORD] {
        assert!(!text.contains(secret), "{what} contains a secret:\n{text}");
    }
}

pub fn data_file(dir: &Path) -> PathBuf {
    dir.join("data").join("example-api.db")
}
