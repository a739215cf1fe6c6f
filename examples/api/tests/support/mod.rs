//! Spawning the real `example-api` binary and talking HTTP to it, plus
//! uniquely named databases on the test services (appenv-testkit's).
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

// Each test binary uses its own subset.
#[allow(unused_imports)]
pub use appenv_testkit::{
    TempDatabase, free_port, mysql_url, postgres_url, redis_url, service, unique,
};

pub const BIN: &str = env!("CARGO_BIN_EXE_example-api");
pub const CONFIG_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config");

/// A JWT secret long enough for production, easy to grep for.
pub const SENTINEL_JWT: &str = "sentinel-jwt-5f1c9a7e-never-print-this-0123456789";
/// A database password, easy to grep for.
pub const SENTINEL_DB_PASSWORD: &str = "sentinelDbPw7731";

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
