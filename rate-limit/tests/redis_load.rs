//! The Redis backend under load, against the real Redis (`TEST_REDIS_URL`,
//! default `redis://127.0.0.1:6379`): no decision falls back while Redis is
//! healthy, even at 100 concurrent clients with CPU-bound processes beside
//! it; a cold start admits exactly the quota; and the breaker does not flap
//! when Redis latency sits near the deadline (a latency-injecting TCP proxy
//! on loopback). Unreachable Redis: a loud skip locally, a failure in CI.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use appenv_config::{AppEnv, SecretUrl, Section};
use appenv_rate_limit::{
    ClientKey, DEFAULT_REDIS_TIMEOUT_MS, DecisionSource, FailureMode, RateLimitConfig,
    RateLimitLayer, StateStore,
};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::{Request, StatusCode};
use redis::AsyncCommands;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn redis_or_skip(test: &str) -> Option<redis::aio::MultiplexedConnection> {
    let url = redis_url();
    let attempt = async {
        let client = redis::Client::open(url.as_str())?;
        client.get_multiplexed_async_connection().await
    };
    match tokio::time::timeout(Duration::from_secs(3), attempt).await {
        Ok(Ok(conn)) => Some(conn),
        other => {
            let why = match other {
                Ok(Err(err)) => err.to_string(),
                _ => "timed out".to_owned(),
            };
            if std::env::var_os("CI").is_some() {
                panic!("{test}: Redis at {url} is unreachable in CI: {why}");
            }
            eprintln!("\n*** SKIPPED {test}: Redis at {url} is unreachable ({why}) ***\n");
            None
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The tests of this file run one at a time: each measures the machine, and
/// two sets of CPU-bound processes at once would measure each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn unique_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "appenv-rl-load-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn cleanup(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) {
    let keys: Vec<String> = conn.keys(format!("{prefix}:*")).await.unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = conn.del(keys).await;
    }
}

fn redis_config(url: &str, prefix: &str, max: u32) -> RateLimitConfig {
    let mut cfg = RateLimitConfig::defaults(AppEnv::Production);
    cfg.backend = StateStore::Redis;
    cfg.redis_url = SecretUrl::new(url);
    cfg.redis_prefix = prefix.to_owned();
    cfg.max = max;
    cfg.window_ms = 600_000;
    cfg.failure_mode = FailureMode::Local;
    cfg
}

fn app(layer: RateLimitLayer) -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(layer)
}

fn request(peer: SocketAddr) -> Request<Body> {
    let mut req = Request::builder().uri("/").body(Body::empty()).unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    req
}

/// CPU-bound processes beside the test, like neighbours on a throttled
/// container. Each is a bash loop that stops by itself after `limit`
/// (bash's own `$SECONDS`, so no wrapper process can outlive the loop or
/// be killed in its place), and is killed when the guard drops.
struct Hogs(Vec<Child>);

impl Hogs {
    fn start(n: usize, limit: Duration) -> Hogs {
        let secs = limit.as_secs().max(1).to_string();
        let children = (0..n)
            .map(|_| {
                Command::new("bash")
                    .args([
                        "-c",
                        &format!("while [ \"$SECONDS\" -lt {secs} ]; do :; done"),
                    ])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start a CPU-bound process")
            })
            .collect();
        Hogs(children)
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `clients` tasks, each sending `per_client` requests in a row from its own
/// address; returns the sorted decision latencies.
async fn drive(layer: &RateLimitLayer, clients: usize, per_client: usize) -> Vec<Duration> {
    let app = app(layer.clone());
    let mut tasks = Vec::new();
    for c in 0..clients {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let peer = SocketAddr::from(([10, 9, (c / 250) as u8, (c % 250) as u8 + 1], 4000));
            let mut latencies = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let start = Instant::now();
                let status = app.clone().oneshot(request(peer)).await.unwrap().status();
                latencies.push(start.elapsed());
                assert_eq!(status, StatusCode::OK);
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort();
    all
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn summary(sorted: &[Duration]) -> String {
    format!(
        "n={} p50={:?} p99={:?} p99.9={:?} max={:?}",
        sorted.len(),
        percentile(sorted, 0.5),
        percentile(sorted, 0.99),
        percentile(sorted, 0.999),
        sorted.last().copied().unwrap_or_default()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fallback_at_100_concurrent_clients_beside_cpu_bound_processes() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let test = "no_fallback_at_100_concurrent_clients_beside_cpu_bound_processes";
    let Some(mut conn) = redis_or_skip(test).await else {
        return;
    };
    let prefix = unique_prefix();
    let cfg = redis_config(&redis_url(), &prefix, 1_000);
    assert_eq!(cfg.redis_timeout_ms, DEFAULT_REDIS_TIMEOUT_MS);
    let layer = RateLimitLayer::new(&cfg).unwrap();
    layer.connect().await.unwrap();
    let hogs = Hogs::start(3, Duration::from_secs(90));
    for clients in [16, 64, 100] {
        let latencies = drive(&layer, clients, 6).await;
        eprintln!("busy, {clients} clients: {}", summary(&latencies));
    }
    drop(hogs);
    let stats = layer.stats();
    assert_eq!(stats.allowed, (16 + 64 + 100) * 6);
    assert_eq!(stats.fallback, 0, "{stats:?}");
    assert_eq!(stats.backend_errors, 0, "{stats:?}");
    assert_eq!(stats.backend_outages, 0, "{stats:?}");
    cleanup(&mut conn, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_under_a_burst_admits_exactly_the_quota() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let test = "a_cold_start_under_a_burst_admits_exactly_the_quota";
    let Some(mut conn) = redis_or_skip(test).await else {
        return;
    };
    let prefix = unique_prefix();
    let mut cfg = redis_config(&redis_url(), &prefix, 50);
    // Staging: a fallback would let requests through unlimited.
    cfg.failure_mode = FailureMode::Open;
    let _hogs = Hogs::start(3, Duration::from_secs(60));
    // No `connect()`: 200 requests arrive while the connection is made.
    let layer = RateLimitLayer::new(&cfg).unwrap();
    let app = app(layer.clone());
    let peer = SocketAddr::from(([192, 0, 2, 99], 4000));
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.oneshot(request(peer)).await.unwrap().status()
        }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    let stats = layer.stats();
    assert_eq!(ok, 50, "{stats:?}");
    assert_eq!(stats.fail_open, 0, "{stats:?}");
    cleanup(&mut conn, &prefix).await;
}

/// A TCP proxy that delays everything Redis sends back by `delay()`, each
/// chunk on its own (no throughput limit, order kept).
async fn latency_proxy(
    target: SocketAddr,
    delay: impl Fn() -> Duration + Send + Sync + 'static,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let delay = Arc::new(delay);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let delay = Arc::clone(&delay);
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        match server_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                let due = Instant::now() + delay();
                                if tx.send((due, buf[..n].to_vec())).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
                while let Some((due, chunk)) = rx.recv().await {
                    tokio::time::sleep_until(due.into()).await;
                    if client_write.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn redis_addr() -> SocketAddr {
    let url = url::Url::parse(&redis_url()).unwrap();
    let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = url.port().unwrap_or(6379);
    tokio::net::lookup_host((host.as_str(), port))
        .await
        .unwrap()
        .next()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_just_under_the_deadline_never_opens_the_breaker() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let test = "latency_just_under_the_deadline_never_opens_the_breaker";
    let Some(mut conn) = redis_or_skip(test).await else {
        return;
    };
    let proxy = latency_proxy(redis_addr().await, || Duration::from_millis(300)).await;
    let prefix = unique_prefix();
    let mut cfg = redis_config(&format!("redis://{proxy}"), &prefix, 1_000);
    cfg.redis_timeout_ms = 600;
    let layer = RateLimitLayer::builder(&cfg)
        .redis_retry_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    layer.connect().await.unwrap();
    let latencies = drive(&layer, 4, 16).await;
    eprintln!("300 ms proxy, 600 ms deadline: {}", summary(&latencies));
    let stats = layer.stats();
    assert_eq!(stats.backend_outages, 0, "{stats:?}");
    assert!(!stats.backend_down, "{stats:?}");
    // Decisions took the injected latency: Redis decided them. (A call the
    // machine itself delays past the deadline falls back on its own, but a
    // few such calls never open the breaker.)
    assert!(percentile(&latencies, 0.5) >= Duration::from_millis(300));
    cleanup(&mut conn, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_around_the_deadline_does_not_flap() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let test = "latency_around_the_deadline_does_not_flap";
    let Some(mut conn) = redis_or_skip(test).await else {
        return;
    };
    // Every third reply arrives after the deadline.
    let n = Arc::new(AtomicU64::new(0));
    let proxy = latency_proxy(redis_addr().await, move || {
        if n.fetch_add(1, Ordering::Relaxed).is_multiple_of(3) {
            Duration::from_millis(250)
        } else {
            Duration::from_millis(20)
        }
    })
    .await;
    let prefix = unique_prefix();
    let mut cfg = redis_config(&format!("redis://{proxy}"), &prefix, 100_000);
    cfg.redis_timeout_ms = 150;
    let retry = Duration::from_millis(300);
    let layer = RateLimitLayer::builder(&cfg)
        .redis_retry_interval(retry)
        .build()
        .unwrap();
    layer.connect().await.unwrap();
    let started = Instant::now();
    let key = ClientKey::from_ip("192.0.2.77".parse().unwrap());
    let mut sources = Vec::new();
    for _ in 0..60 {
        sources.push(layer.check(&key, 1).await.source);
    }
    let elapsed = started.elapsed();
    let stats = layer.stats();
    eprintln!("{stats:?} in {elapsed:?}");
    // Sequential calls, one in three late: never five in a row, never half
    // of a window. Whatever the machine does, an outage lasts at least the
    // retry interval, so there can be no more outages than intervals.
    let bound = 1 + (elapsed.as_millis() / retry.as_millis()) as u64;
    assert!(stats.backend_outages <= bound, "{stats:?}");
    assert!(
        sources
            .iter()
            .filter(|s| **s == DecisionSource::Redis)
            .count()
            >= 30,
        "{sources:?}"
    );
    assert_eq!(stats.backend_outages, 0, "{stats:?}");
    cleanup(&mut conn, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement for sizing the default deadline: run with --ignored --nocapture"]
async fn measure_decision_latency() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(mut conn) = redis_or_skip("measure_decision_latency").await else {
        return;
    };
    let prefix = unique_prefix();
    let mut cfg = redis_config(&redis_url(), &prefix, 100_000);
    cfg.redis_timeout_ms = 10_000;
    let layer = RateLimitLayer::new(&cfg).unwrap();
    layer.connect().await.unwrap();
    for busy in [false, true] {
        let hogs = busy.then(|| Hogs::start(3, Duration::from_secs(120)));
        for clients in [16, 64, 100] {
            let latencies = drive(&layer, clients, 30).await;
            let label = if busy { "busy" } else { "idle" };
            eprintln!("{label}, {clients} clients: {}", summary(&latencies));
        }
        drop(hogs);
    }
    assert_eq!(layer.stats().fallback, 0);
    cleanup(&mut conn, &prefix).await;
}
