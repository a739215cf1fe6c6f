//! What appenv's tests share, written once: the real services a test needs
//! or a loud skip (a failure when `CI` is set), unique names, free ports,
//! temporary databases dropped afterwards, and SIGTERM for a spawned
//! service. Not published; a workspace member and a dev-dependency only.
//!
//! Tests use real services, never mocks: `TEST_POSTGRES_URL`,
//! `TEST_MYSQL_URL` and `TEST_REDIS_URL`, defaulting to the local servers.

use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Child, Command};
use std::time::Duration;

/// The local PostgreSQL when `TEST_POSTGRES_URL` is unset.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The local MariaDB when `TEST_MYSQL_URL` is unset.
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";
/// The local Redis when `TEST_REDIS_URL` is unset.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The URL in `var` (else `default`) when its host accepts TCP connections.
/// When it does not: a loud skip (`None`, with a banner on stderr), or a
/// panic when `CI` is set, where every service is required.
///
/// # Panics
///
/// When the URL does not parse, or the service is unreachable under `CI`.
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
    assert!(
        std::env::var_os("CI").is_none(),
        "{var}: {host}:{port} is unreachable and CI is set: the service is required"
    );
    eprintln!(
        "\n*** SKIPPED: {var} ({host}:{port}) is unreachable; start the service to run this test ***\n"
    );
    None
}

/// [`service`] for `TEST_POSTGRES_URL`.
pub fn postgres_url() -> Option<String> {
    service("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
}

/// [`service`] for `TEST_MYSQL_URL`.
pub fn mysql_url() -> Option<String> {
    service("TEST_MYSQL_URL", DEFAULT_MYSQL_URL)
}

/// [`service`] for `TEST_REDIS_URL`.
pub fn redis_url() -> Option<String> {
    service("TEST_REDIS_URL", DEFAULT_REDIS_URL)
}

/// `prefix` and a random suffix: a database, key or table name no other
/// test (or test run) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A loopback port nobody listens on right now (bound, read, released).
///
/// # Panics
///
/// When no port can be bound.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Sends SIGTERM (what an orchestrator sends) to `child` through `kill(1)`.
///
/// # Panics
///
/// When `kill` cannot run or fails.
pub fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success(), "kill -TERM {}: {status}", child.id());
}

/// `url` pointing at database `name` on the same server.
///
/// # Panics
///
/// When `url` does not parse.
pub fn with_database(url: &str, name: &str) -> String {
    let mut url = url::Url::parse(url).expect("a database URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(fut)
}

/// A database created for one test on the server of an admin URL and
/// dropped (with its connections) on drop; [`url`](Self::url) points at it.
#[cfg(any(feature = "postgres", feature = "mysql"))]
#[derive(Debug)]
pub struct TempDatabase {
    admin_url: String,
    /// Its name (`{prefix}_{random}`).
    pub name: String,
    /// Its URL: the admin URL with the database replaced.
    pub url: String,
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl TempDatabase {
    /// A new PostgreSQL database named after `prefix`.
    ///
    /// # Panics
    ///
    /// When the server refuses the connection or the `CREATE DATABASE`.
    #[cfg(feature = "postgres")]
    pub fn postgres(admin_url: &str, prefix: &str) -> TempDatabase {
        TempDatabase::create(admin_url, prefix)
    }

    /// A new MySQL/MariaDB database named after `prefix`.
    ///
    /// # Panics
    ///
    /// When the server refuses the connection or the `CREATE DATABASE`.
    #[cfg(feature = "mysql")]
    pub fn mysql(admin_url: &str, prefix: &str) -> TempDatabase {
        TempDatabase::create(admin_url, prefix)
    }

    fn create(admin_url: &str, prefix: &str) -> TempDatabase {
        let name = unique(prefix);
        block_on(execute(admin_url, format!("CREATE DATABASE {name}")))
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        TempDatabase::named(admin_url, name)
    }

    fn named(admin_url: &str, name: String) -> TempDatabase {
        TempDatabase {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        }
    }

    /// The database URL with `password` added (trust auth ignores it), to
    /// prove a password is never printed.
    ///
    /// # Panics
    ///
    /// When the URL cannot carry a password.
    pub fn url_with_password(&self, password: &str) -> String {
        let mut url = url::Url::parse(&self.url).expect("a database URL");
        url.set_password(Some(password))
            .expect("a URL that takes a password");
        url.to_string()
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl Drop for TempDatabase {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let sql = if admin.starts_with("postgres") {
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)
        } else {
            format!("DROP DATABASE IF EXISTS {}", self.name)
        };
        // Its own thread: a test may drop it inside an async runtime.
        let _ = std::thread::spawn(move || block_on(execute(&admin, sql))).join();
    }
}

/// Runs `sql` on a connection of its own to the server of `admin` (the
/// driver its scheme names).
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn execute(admin: &str, sql: String) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    #[cfg(feature = "postgres")]
    if admin.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(admin).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await?;
        return conn.close().await;
    }
    #[cfg(feature = "mysql")]
    if admin.starts_with("mysql") || admin.starts_with("mariadb") {
        let mut conn = sqlx::MySqlConnection::connect(admin).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await?;
        return conn.close().await;
    }
    Err(sqlx::Error::Configuration(
        "appenv-testkit has no driver for this URL's scheme".into(),
    ))
}
