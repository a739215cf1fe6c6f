//! Secrets rotated while example-api serves: the JWT signing key through
//! its mounted files (a Kubernetes-style volume swapped atomically), under
//! continuous requests.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

/// The key the JWT secret is rotated to; a sentinel like `SENTINEL_JWT`.
const ROTATED_JWT: &str = "sentinel-jwt-rotated-8d2b4f6a-Qx7Lm3Wp9Zk1";

fn assert_clean(what: &str, text: &str) {
    assert_no_secret(what, text);
    assert!(
        !text.contains(ROTATED_JWT),
        "{what} contains a secret:\n{text}"
    );
}

/// Waits (polling, up to a generous bound) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A Kubernetes-style secret volume: each file a symlink into `..data`,
/// which is swapped to a new directory in one rename.
struct SecretVolume {
    dir: PathBuf,
    generation: usize,
}

impl SecretVolume {
    fn new(root: &Path, files: &[(&str, &str)]) -> SecretVolume {
        let dir = root.join("secrets");
        std::fs::create_dir(&dir).unwrap();
        let mut volume = SecretVolume { dir, generation: 0 };
        volume.publish(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), volume.dir.join(name)).unwrap();
        }
        volume
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    fn publish(&mut self, files: &[(&str, &str)]) {
        self.generation += 1;
        let generation = format!("..generation_{}", self.generation);
        std::fs::create_dir(self.dir.join(&generation)).unwrap();
        for (name, text) in files {
            std::fs::write(self.dir.join(&generation).join(name), format!("{text}\n")).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&generation, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
    }
}

fn post(server: &Server, token: &str) -> u16 {
    server
        .client
        .post(server.url("/v1/events"))
        .bearer_auth(token)
        .json(&json!({"type": "user.signup", "payload": {"plan": "pro"}}))
        .send()
        .map_or(0, |r| r.status().as_u16())
}

/// `example-api token --sub <sub>`: signed with the key the files hold now.
fn issue(setup: &Setup, sub: &str) -> String {
    let run = setup.run(&["token", "--sub", sub]);
    assert_eq!(run.code(), Some(0), "{}", run.output());
    run.stdout.trim().to_owned()
}

fn signed_by(token: &str, key: &str) -> bool {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(key.as_bytes()),
        &validation,
    )
    .is_ok()
}

fn jwt_reload(server: &Server) -> Value {
    let explain: Value = server.get("/debug/config").json().unwrap();
    explain["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "jwt_secret")
        .unwrap()["reload"]
        .clone()
}

#[test]
fn a_jwt_key_rotated_through_its_mounted_file_logs_no_one_out_until_it_leaves_the_ring() {
    let setup_dir = tempfile::tempdir().unwrap();
    let mut volume = SecretVolume::new(
        setup_dir.path(),
        &[("jwt", SENTINEL_JWT), ("jwt_previous", "")],
    );
    let setup = Setup::new(&[
        ("JWT_SECRET_FILE", &volume.path("jwt")),
        ("JWT_SECRET_PREVIOUS_FILE", &volume.path("jwt_previous")),
    ]);
    let server = Arc::new(setup.spawn().ready());
    let old = issue(&setup, "alice");
    assert!(signed_by(&old, SENTINEL_JWT));
    assert_eq!(post(&server, &old), 201);
    let before = jwt_reload(&server);
    assert_eq!(before["mode"], "file", "{before}");

    // Continuous requests with the old token across the rotation.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (server, stop, old) = (Arc::clone(&server), Arc::clone(&stop), old.clone());
        std::thread::spawn(move || {
            let mut statuses = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                statuses.push(post(&server, &old));
            }
            statuses
        })
    };

    // The new key signs; the old one is kept for verification.
    volume.publish(&[("jwt", ROTATED_JWT), ("jwt_previous", SENTINEL_JWT)]);
    let new = issue(&setup, "bob");
    assert!(signed_by(&new, ROTATED_JWT), "new tokens use the new key");
    eventually("the server accepts tokens of the new key", || {
        post(&server, &new) == 201
    });
    // Some more traffic after the swap, then stop.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let statuses = traffic.join().unwrap();
    assert!(!statuses.is_empty());
    eprintln!(
        "{} requests with the old token during the rotation",
        statuses.len()
    );
    let failed: Vec<_> = statuses.iter().filter(|s| **s != 201).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests with the old token failed during the rotation: {failed:?}\n{}",
        failed.len(),
        statuses.len(),
        server.output()
    );
    let after = jwt_reload(&server);
    assert_ne!(before["fingerprint"], after["fingerprint"], "{after}");
    assert_eq!(post(&server, &old), 201, "the old key is still in the ring");

    // The old key leaves the ring: its tokens get 401, new ones still work.
    volume.publish(&[("jwt", ROTATED_JWT), ("jwt_previous", "")]);
    eventually("tokens of the old key are refused", || {
        post(&server, &old) == 401
    });
    assert_eq!(post(&server, &new), 201);

    let output = server.output();
    assert!(output.contains("secret reloaded"), "{output}");
    assert_clean("server output", &output);
    assert_clean(
        "/debug/config",
        &server.get("/debug/config").text().unwrap(),
    );
    for (args, says) in [
        (&["config", "explain"][..], "[reloadable, loaded "),
        (
            &["config", "explain", "--format", "json"],
            "\"mode\": \"file\"",
        ),
    ] {
        let run = setup.run(args);
        assert_eq!(run.code(), Some(0), "{}", run.output());
        assert!(run.stdout.contains(says), "{}", run.stdout);
        assert_clean("config explain", &run.output());
    }
}

#[test]
fn a_previous_key_that_fails_the_secret_rules_refuses_startup_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    let previous = dir.path().join("previous");
    std::fs::write(&previous, "sentinel-jwt-short\n").unwrap();
    let setup = Setup::new(&[
        ("JWT_SECRET", SENTINEL_JWT),
        ("JWT_SECRET_PREVIOUS_FILE", previous.to_str().unwrap()),
    ]);
    let mut server = setup.spawn();
    assert_eq!(server.wait_ready(), Err(Some(78)));
    let output = server.output();
    assert!(output.contains("secret.too-short"), "{output}");
    assert!(output.contains("JWT_SECRET_PREVIOUS_FILE"), "{output}");
    assert!(!output.contains("sentinel-jwt-short"), "{output}");
    assert_clean("refused startup", &output);
}

fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fut)
}

/// A private PostgreSQL with password (SCRAM) authentication on a free
/// loopback port, in a temporary directory the `postgres` account owns
/// (initdb refuses to run as root); stopped and removed on drop. The shared
/// test server uses trust authentication and cannot show a password
/// rotation.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    superuser_password: String,
}

impl PrivatePostgres {
    /// `None` (a loud skip; a failure when `CI` is set) without the server
    /// binaries.
    fn start() -> Option<PrivatePostgres> {
        let Some(bin) = Self::bindir() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "initdb and pg_ctl are required when CI is set"
            );
            eprintln!("\n*** SKIPPED: no initdb/pg_ctl (PostgreSQL server binaries) found ***\n");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let superuser_password = "sentinel-superuser-Xk29fLq".to_owned();
        std::fs::write(dir.path().join("pw"), &superuser_password).unwrap();
        let pg = PrivatePostgres {
            dir,
            bin,
            port: free_port(),
            superuser_password,
        };
        pg.run_as_postgres("chown", &["-R", "postgres:", &pg.path("")], true);
        pg.run_pg(
            "initdb",
            &[
                "-D",
                &pg.path("data"),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                &format!("--pwfile={}", pg.path("pw")),
            ],
        );
        pg.run_pg(
            "pg_ctl",
            &[
                "-D",
                &pg.path("data"),
                "-l",
                &pg.path("server.log"),
                "-o",
                &format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1",
                    pg.port,
                    pg.path("")
                ),
                "-w",
                "start",
            ],
        );
        Some(pg)
    }

    fn bindir() -> Option<PathBuf> {
        let from_pg_config = std::process::Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        let mut candidates: Vec<PathBuf> = from_pg_config.into_iter().collect();
        if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
            let mut versions: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect();
            versions.sort();
            candidates.extend(versions.into_iter().rev());
        }
        candidates
            .into_iter()
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    fn is_root() -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    }

    /// Runs `program` as the `postgres` account when this process is root
    /// (`direct`: as this process, for `chown`).
    fn run_as_postgres(&self, program: &str, args: &[&str], direct: bool) {
        let mut cmd = if Self::is_root() && !direct {
            let mut cmd = std::process::Command::new("runuser");
            cmd.args(["-u", "postgres", "--", program]);
            cmd
        } else {
            std::process::Command::new(program)
        };
        if direct && !Self::is_root() {
            return;
        }
        let out = cmd.args(args).output().expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{program} {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn run_pg(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        self.run_as_postgres(program.to_str().unwrap(), args, false);
    }

    fn url(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    fn superuser(&self) -> String {
        self.url("postgres", &self.superuser_password, "postgres")
    }

    /// Runs statements as the superuser.
    fn execute(&self, sql: &str) {
        let url = self.superuser();
        block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.expect("superuser");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            conn.close().await.ok();
        });
    }

    /// The number of `user`'s sessions that started before / after `at`
    /// (a server timestamp).
    fn sessions_around(&self, user: &str, at: &str) -> (i64, i64) {
        let url = self.superuser();
        block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.expect("superuser");
            let row: (i64, i64) = sqlx::query_as(
                "SELECT count(*) FILTER (WHERE backend_start < $2::timestamptz), \
                        count(*) FILTER (WHERE backend_start >= $2::timestamptz) \
                 FROM pg_stat_activity WHERE usename = $1",
            )
            .bind(user)
            .bind(at)
            .fetch_one(&mut conn)
            .await
            .expect("pg_stat_activity");
            conn.close().await.ok();
            row
        })
    }

    fn now(&self) -> String {
        let url = self.superuser();
        block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.expect("superuser");
            let (now,): (String,) = sqlx::query_as("SELECT now()::text")
                .fetch_one(&mut conn)
                .await
                .expect("now()");
            conn.close().await.ok();
            now
        })
    }

    /// Whether `url` can open a new connection; the error text otherwise.
    fn connects(url: &str) -> Result<(), String> {
        block_on(async {
            use sqlx::Connection;
            match sqlx::PgConnection::connect(url).await {
                Ok(conn) => {
                    conn.close().await.ok();
                    Ok(())
                }
                Err(err) => Err(err.to_string()),
            }
        })
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.path("data");
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let mut cmd = if Self::is_root() {
            let mut cmd = std::process::Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(&program);
            cmd
        } else {
            std::process::Command::new(&program)
        };
        let _ = cmd.args(args).output();
    }
}

/// Writes `text` to `path` by renaming a new file over it (as Docker and
/// most secret agents do).
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{text}\n")).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

const OLD_DB_PASSWORD: &str = "sentinel-db-old-Hq47Tz";
const NEW_DB_PASSWORD: &str = "sentinel-db-new-Wm82Rc";

#[test]
fn a_postgres_password_rotated_under_traffic_fails_no_request_and_new_connections_use_it() {
    let Some(pg) = PrivatePostgres::start() else {
        return;
    };
    pg.execute(&format!(
        "CREATE ROLE app LOGIN PASSWORD '{OLD_DB_PASSWORD}'"
    ));
    pg.execute("CREATE DATABASE events OWNER app");
    let secrets = tempfile::tempdir().unwrap();
    let url_file = secrets.path().join("database_url");
    replace_file(&url_file, &pg.url("app", OLD_DB_PASSWORD, "events"));
    let setup = Setup::new(&[
        ("JWT_SECRET", SENTINEL_JWT),
        ("DATABASE_URL_FILE", url_file.to_str().unwrap()),
        // A warm pool of fixed size: between `ALTER ROLE` and the file
        // update no connection can be opened (the old password is refused,
        // the new one not yet known), so the pool must not need to grow.
        ("DATABASE__MIN_CONNECTIONS", "2"),
        ("DATABASE__MAX_CONNECTIONS", "2"),
    ]);
    let server = Arc::new(setup.spawn().ready());
    let token = token(SENTINEL_JWT, "alice");
    assert_eq!(post(&server, &token), 201, "{}", server.output());
    assert_eq!(server.get("/readyz").status(), 200);

    // Continuous requests, one at a time (reads and writes), across the
    // rotation.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (server, stop, token) = (Arc::clone(&server), Arc::clone(&stop), token.clone());
        std::thread::spawn(move || {
            let mut failed = Vec::new();
            let mut count = 0_u32;
            while !stop.load(Ordering::Relaxed) {
                let created = post(&server, &token);
                let listed = server
                    .client
                    .get(server.url("/v1/events"))
                    .send()
                    .map_or(0, |r| r.status().as_u16());
                count += 2;
                failed.extend(
                    [created, listed]
                        .into_iter()
                        .filter(|s| *s != 201 && *s != 200),
                );
            }
            (count, failed)
        })
    };

    // The DBA rotates the password, then the secret file is updated.
    std::thread::sleep(Duration::from_millis(300));
    pg.execute(&format!("ALTER ROLE app PASSWORD '{NEW_DB_PASSWORD}'"));
    let rotated_at = pg.now();
    replace_file(&url_file, &pg.url("app", NEW_DB_PASSWORD, "events"));
    eventually("the server rotated the pool's credentials", || {
        server.output().contains("database credentials rotated")
    });
    // Connections opened with the old password are retired; the ones in
    // use now were opened after the rotation, with the new password.
    eventually("only sessions opened after the rotation remain", || {
        let (before, after) = pg.sessions_around("app", &rotated_at);
        before == 0 && after > 0
    });
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let (count, failed) = traffic.join().unwrap();
    eprintln!("{count} requests across the database password rotation");
    assert!(count > 0);
    assert!(
        failed.is_empty(),
        "{} of {count} requests failed across the rotation: {failed:?}\n{}",
        failed.len(),
        server.output()
    );
    // Readiness (the migrator's own connection) uses the new credentials.
    assert_eq!(server.get("/readyz").status(), 200, "{}", server.output());
    assert_eq!(post(&server, &token), 201);

    // The old password no longer opens a connection; the new one does.
    let refused = PrivatePostgres::connects(&pg.url("app", OLD_DB_PASSWORD, "events")).unwrap_err();
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );
    PrivatePostgres::connects(&pg.url("app", NEW_DB_PASSWORD, "events")).unwrap();

    let output = server.output();
    let debug = server.get("/debug/config").text().unwrap();
    for (what, text) in [("server output", &output), ("/debug/config", &debug)] {
        assert_clean(what, text);
        for password in [OLD_DB_PASSWORD, NEW_DB_PASSWORD] {
            assert!(!text.contains(password), "{what} shows a password:\n{text}");
        }
    }
}
