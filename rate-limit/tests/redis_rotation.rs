//! A rotated Redis password: a private `redis-server --requirepass`, the
//! password changed with `CONFIG SET requirepass` and the
//! `RATE_LIMIT_REDIS_URL_FILE` updated; decisions keep coming from Redis,
//! also after every client connection was dropped (so the layer really
//! authenticated again, with the new password). Without `redis-server`: a
//! loud skip locally, a failure when `CI` is set.

use std::net::{TcpListener as StdListener, TcpStream as StdStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use appenv_config::{AppEnv, Loader, Registry, ReloadOptions, Section};
use appenv_rate_limit::{ClientKey, DecisionSource, RateLimitConfig, RateLimitLayer};
use serde::{Deserialize, Serialize};

const OLD_PASSWORD: &str = "sentinel-redis-old-7Hq2";
const NEW_PASSWORD: &str = "sentinel-redis-new-4Wm9";

#[derive(Debug, Serialize, Deserialize)]
struct Config {
    rate_limit: RateLimitConfig,
}

impl Section for Config {
    fn defaults(env: AppEnv) -> Self {
        Config {
            rate_limit: RateLimitConfig::defaults(env),
        }
    }
    fn register(reg: &mut Registry<'_, Self>) {
        reg.section::<RateLimitConfig>("rate_limit");
    }
}

fn have_redis_server() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// The private server, killed (by its own pid) on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(dir: &Path, port: u16) -> Server {
    let child = Command::new("redis-server")
        .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir)
        .args(["--port", &port.to_string(), "--requirepass", OLD_PASSWORD])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while StdStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

fn url(port: u16, password: &str) -> String {
    format!("redis://:{password}@127.0.0.1:{port}")
}

fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{text}\n")).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn admin(port: u16, password: &str, args: &[&str]) -> redis::Value {
    let client = redis::Client::open(url(port, password)).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(&mut conn).await.unwrap()
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_redis_password_keeps_decisions_on_redis() {
    if !have_redis_server() {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis-server is required when CI is set"
        );
        eprintln!("\n*** SKIPPED: redis-server is not installed ***\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = start_redis(dir.path(), port);
    let file = dir.path().join("redis_url");
    replace_file(&file, &url(port, OLD_PASSWORD));

    let loaded = Loader::hermetic([
        ("APP_ENV", "staging"),
        ("RATE_LIMIT_BACKEND", "redis"),
        ("RATE_LIMIT_MAX", "100000"),
        ("RATE_LIMIT_REDIS_URL_FILE", file.to_str().unwrap()),
    ])
    .config_dir("does-not-exist")
    .load::<Config>()
    .unwrap();
    let layer = RateLimitLayer::new(&loaded.config().rate_limit).unwrap();
    layer.connect().await.unwrap();
    let handle = loaded
        .secret_handle_with(
            "rate_limit.redis_url",
            ReloadOptions::default().interval(Duration::from_millis(20)),
        )
        .unwrap();
    assert_eq!(handle.mode(), appenv_config::ReloadMode::File);
    let follower = layer.follow_redis_url(&handle).unwrap();

    let key = ClientKey::from_ip("192.0.2.7".parse().unwrap());
    let mut sources = Vec::new();
    for _ in 0..20 {
        sources.push(layer.check(&key, 1).await.source);
    }

    // Rotate in Redis, then the secret file.
    admin(
        port,
        OLD_PASSWORD,
        &["CONFIG", "SET", "requirepass", NEW_PASSWORD],
    )
    .await;
    replace_file(&file, &url(port, NEW_PASSWORD));
    let deadline = Instant::now() + Duration::from_secs(30);
    while layer.redis_rotations() == 0 {
        assert!(
            Instant::now() < deadline,
            "the layer never took the new URL"
        );
        sources.push(layer.check(&key, 1).await.source);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..20 {
        sources.push(layer.check(&key, 1).await.source);
    }

    let off_redis: Vec<_> = sources
        .iter()
        .filter(|s| **s != DecisionSource::Redis)
        .collect();
    assert!(
        off_redis.is_empty(),
        "{} of {} decisions across the rotation did not come from Redis: {off_redis:?}",
        off_redis.len(),
        sources.len()
    );

    // Every client connection dropped (the decision in flight on it may
    // fail over to the failure mode): the layer reconnects, and only the
    // new password lets it back in.
    admin(port, NEW_PASSWORD, &["CLIENT", "KILL", "TYPE", "normal"]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while layer.check(&key, 1).await.source != DecisionSource::Redis {
        assert!(
            Instant::now() < deadline,
            "the layer never reconnected with the new password"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..20 {
        assert_eq!(layer.check(&key, 1).await.source, DecisionSource::Redis);
    }
    eventually("the layer is not failing", || !layer.stats().backend_down).await;

    // The old password no longer connects.
    let old = redis::Client::open(url(port, OLD_PASSWORD)).unwrap();
    let refused = old.get_multiplexed_async_connection().await;
    assert!(refused.is_err());
    assert!(
        !format!("{layer:?}").contains("sentinel"),
        "the layer's Debug shows a password"
    );
    drop(handle);
    follower.abort();
}
