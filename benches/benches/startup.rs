//! Startup of `example-api`: from exec to the first `200` of `/readyz`, on
//! an up-to-date SQLite database (migrated by a first run), in `local`
//! (migrations applied at startup, finding nothing to do) and `staging`
//! (migrations verified). Prints the median of the runs, in milliseconds.
//!
//! Uses the `example-api` binary of the same profile as this bench
//! (`cargo build --release -p example-api` before `cargo bench`; the debug
//! binary that `cargo test --workspace` builds under `--test`). A missing
//! binary is a skip with a message (a failure under `CI`).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use appenv_benches::short_run;

/// Where cargo puts `example-api` for this bench's profile: next to the
/// `deps/` directory this bench runs from.
fn example_api() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let bin = profile_dir.join(format!("example-api{}", std::env::consts::EXE_SUFFIX));
    bin.is_file().then_some(bin)
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The status code of `GET /readyz`, if the server answers.
fn readyz(port: u16) -> Option<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(100)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn spawn(bin: &Path, dir: &Path, env: &str, port: u16, db_url: &str) -> Child {
    Command::new(bin)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("APP_ENV", env)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("DATABASE_URL", db_url)
        .env("JWT_SECRET", "bench-secret-0123456789abcdef0123456789")
        .env("RATE_LIMIT_REDIS_URL", "")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start example-api")
}

/// One start: exec to the first `/readyz` 200, then the process is killed.
fn one_start(bin: &Path, dir: &Path, env: &str, db_url: &str) -> Result<Duration, String> {
    let port = free_port();
    let start = Instant::now();
    let mut child = spawn(bin, dir, env, port, db_url);
    let outcome = loop {
        if readyz(port) == Some(200) {
            break Ok(start.elapsed());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                pipe.read_to_string(&mut stderr).ok();
            }
            break Err(format!(
                "example-api ({env}) exited with {status}: {stderr}"
            ));
        }
        if start.elapsed() > Duration::from_secs(30) {
            break Err(format!("example-api ({env}) not ready within 30 s"));
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    child.kill().ok();
    child.wait().ok();
    outcome
}

fn main() {
    let Some(bin) = example_api() else {
        let message = "startup: example-api is not built for this profile; run \
                       `cargo build --release -p example-api` first";
        if std::env::var_os("CI").is_some() {
            panic!("{message}");
        }
        eprintln!("\n*** SKIPPED {message}\n");
        return;
    };
    let runs = if short_run() { 2 } else { 25 };
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}", dir.path().join("events.db").display());

    // The first start creates and migrates the database.
    if let Err(err) = one_start(&bin, dir.path(), "local", &db_url) {
        panic!("startup: first run failed: {err}");
    }
    println!("startup: example-api exec -> /readyz 200, up-to-date SQLite, {runs} runs");
    for env in ["local", "staging"] {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            match one_start(&bin, dir.path(), env, &db_url) {
                Ok(t) => times.push(t.as_secs_f64() * 1000.0),
                Err(err) => {
                    println!("  {env:<8} failed: {err}");
                    break;
                }
            }
        }
        if times.is_empty() {
            continue;
        }
        times.sort_by(f64::total_cmp);
        let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        println!(
            "  {env:<8} median {:>6.1} ms   min {:>6.1} ms   p90 {:>6.1} ms",
            at(0.5),
            times[0],
            at(0.9)
        );
    }
}
