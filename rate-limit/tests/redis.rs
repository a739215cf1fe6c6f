//! The Redis backend against a real Redis (`TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`). Unreachable Redis: a loud skip locally, a
//! failure when `CI` is set.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use appenv_config::{AppEnv, SecretUrl, Section};
use appenv_rate_limit::{
    ClientKey, DecisionSource, FailureMode, RATELIMIT, RateLimitConfig, RateLimitLayer, StateStore,
};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use redis::AsyncCommands;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A connection to the test Redis, or `None` (after a loud skip) when it
/// is unreachable outside CI.
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

fn unique_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "appenv-rl-test-{}-{nanos}-{}",
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

fn redis_config(url: &str, prefix: &str, max: u32, window_ms: u64) -> RateLimitConfig {
    let mut cfg = RateLimitConfig::defaults(AppEnv::Production);
    cfg.backend = StateStore::Redis;
    cfg.redis_url = SecretUrl::new(url);
    cfg.redis_prefix = prefix.to_owned();
    cfg.max = max;
    cfg.window_ms = window_ms;
    // Generous: the test machine is shared, and a spurious timeout would
    // hand the decision to the failure mode.
    cfg.redis_timeout_ms = 2_000;
    cfg
}

fn app(layer: RateLimitLayer) -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(layer)
}

fn request(peer: [u8; 4]) -> Request<Body> {
    let mut req = Request::builder().uri("/").body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 1234))));
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_redis_admit_no_more_than_the_quota() {
    let Some(mut conn) = redis_or_skip("replicas_sharing_redis_admit_no_more_than_the_quota").await
    else {
        return;
    };
    let prefix = unique_prefix();
    let mut cfg = redis_config(&redis_url(), &prefix, 10, 60_000);
    cfg.failure_mode = FailureMode::Closed;
    // Three "replicas": separate layers, separate in-memory state.
    let layers: Vec<_> = (0..3).map(|_| RateLimitLayer::new(&cfg).unwrap()).collect();
    let apps: Vec<_> = layers.iter().cloned().map(app).collect();

    let mut tasks = Vec::new();
    for i in 0..45 {
        let app = apps[i % apps.len()].clone();
        tasks.push(tokio::spawn(async move {
            app.oneshot(request([192, 0, 2, 10])).await.unwrap()
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for task in tasks {
        let res = task.await.unwrap();
        match res.status() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                let retry: u64 = res.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry >= 1);
                let t = res.headers()[RATELIMIT].to_str().unwrap().to_owned();
                assert!(t.ends_with(&format!(";t={retry}")), "{t} vs {retry}");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let errors: u64 = layers.iter().map(|l| l.stats().backend_errors).sum();
    assert_eq!(errors, 0, "Redis answered every decision");
    assert_eq!((ok, limited), (10, 35));

    // Another client has its own quota in the same Redis.
    let res = apps[0]
        .clone()
        .oneshot(request([192, 0, 2, 11]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    cleanup(&mut conn, &prefix).await;
}

#[tokio::test]
async fn redis_keys_expire_when_their_state_is_fresh_again() {
    let Some(mut conn) = redis_or_skip("redis_keys_expire_when_their_state_is_fresh_again").await
    else {
        return;
    };
    let prefix = unique_prefix();
    let cfg = redis_config(&redis_url(), &prefix, 3, 300);
    let layer = RateLimitLayer::new(&cfg).unwrap();
    let key = ClientKey::from_ip("192.0.2.20".parse().unwrap());
    let decision = layer.check(&key, 1).await;
    assert!(decision.allowed);
    assert_eq!(decision.source, DecisionSource::Redis);
    assert_eq!(decision.remaining, 2);

    let redis_key = format!("{prefix}:default:ip:192.0.2.20");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&redis_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    // One interval (100 ms) of debt, plus a millisecond of rounding.
    assert!(ttl > 0 && ttl <= 101, "PTTL {ttl}");

    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let exists: bool = conn.exists(&redis_key).await.unwrap();
        if !exists {
            gone = true;
            break;
        }
    }
    assert!(gone, "the key expired by itself");
    cleanup(&mut conn, &prefix).await;
}

#[tokio::test]
async fn redis_weight_and_retry_after() {
    let Some(mut conn) = redis_or_skip("redis_weight_and_retry_after").await else {
        return;
    };
    let prefix = unique_prefix();
    let cfg = redis_config(&redis_url(), &prefix, 10, 60_000);
    let layer = RateLimitLayer::new(&cfg).unwrap();
    let key = ClientKey::from_header_value(b"api-key-1");
    let d = layer.check(&key, 7).await;
    assert!(d.allowed && d.remaining == 3, "{d:?}");
    // The script cache is emptied (a Redis restart or failover does that):
    // the next EVALSHA gets NOSCRIPT and the script is loaded again.
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    let d = layer.check(&key, 4).await;
    assert_eq!(d.source, DecisionSource::Redis, "{d:?}");
    assert!(!d.allowed, "{d:?}");
    // Three units are left and one comes back every 6 s: the fourth is
    // (just under) 6 s away.
    assert_eq!(d.retry_after_secs(), 6, "{d:?}");
    assert!(layer.check(&key, 3).await.allowed);
    cleanup(&mut conn, &prefix).await;
}

fn unreachable_config(mode: FailureMode) -> RateLimitConfig {
    // Port 1 on loopback: connection refused at once.
    let mut cfg = redis_config(
        "redis://:sup3rs3cretpw@127.0.0.1:1",
        &unique_prefix(),
        2,
        60_000,
    );
    cfg.failure_mode = mode;
    cfg.redis_timeout_ms = 200;
    cfg
}

#[tokio::test]
async fn unreachable_redis_fails_open() {
    let layer = RateLimitLayer::new(&unreachable_config(FailureMode::Open)).unwrap();
    let app = app(layer.clone());
    for _ in 0..5 {
        let res = app.clone().oneshot(request([192, 0, 2, 30])).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get(RATELIMIT).is_none());
    }
    let stats = layer.stats();
    assert!(stats.backend_down);
    assert!(stats.backend_errors >= 1);
    assert_eq!(stats.fail_open, 5);
}

#[tokio::test]
async fn unreachable_redis_fails_closed() {
    let layer = RateLimitLayer::new(&unreachable_config(FailureMode::Closed)).unwrap();
    let res = app(layer.clone())
        .oneshot(request([192, 0, 2, 31]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "1");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        doc["type"],
        "https://iana.org/assignments/http-problem-types#temporary-reduced-capacity"
    );
    assert_eq!(layer.stats().fail_closed, 1);
}

#[tokio::test]
async fn unreachable_redis_falls_back_to_the_local_limit() {
    let cfg = unreachable_config(FailureMode::Local);
    let layer = RateLimitLayer::new(&cfg).unwrap();
    let app = app(layer.clone());
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(
            app.clone()
                .oneshot(request([192, 0, 2, 32]))
                .await
                .unwrap()
                .status(),
        );
    }
    assert_eq!(
        codes,
        vec![
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let stats = layer.stats();
    assert_eq!(stats.fallback, 4);
    // Only the connection attempt made when the layer was built failed; no
    // request waited on Redis after that, until the retry interval passes.
    assert_eq!(stats.backend_errors, 1);
    assert_eq!(stats.backend_outages, 1);
    // The password appears nowhere.
    let shown = format!("{layer:?}");
    assert!(!shown.contains("sup3rs3cretpw"), "{shown}");
    assert!(shown.contains("[REDACTED]"), "{shown}");
}

#[test]
fn an_unusable_redis_url_is_an_error_naming_the_key_without_the_password() {
    let mut cfg = redis_config("rediss+nope://:sup3rs3cretpw@cache:6379", "p", 2, 1000);
    cfg.failure_mode = FailureMode::Local;
    let err = RateLimitLayer::new(&cfg).unwrap_err().to_string();
    assert!(err.contains("rate_limit.redis_url"), "{err}");
    assert!(!err.contains("sup3rs3cretpw"), "{err}");
}

#[test]
fn tls_and_cluster_urls_are_accepted_exactly_when_the_build_supports_them() {
    // The constructor and `config check` (through `validate`, the function
    // behind the `rate-limit.invalid` rule) agree.
    for (url, supported) in [
        (
            "rediss://:sup3rs3cretpw@cache:6380",
            cfg!(feature = "redis-tls"),
        ),
        (
            "redis://:sup3rs3cretpw@a:7000,redis://:sup3rs3cretpw@b:7001",
            cfg!(feature = "redis-cluster"),
        ),
        ("memcached://:sup3rs3cretpw@cache:11211", false),
    ] {
        let cfg = redis_config(url, "p", 2, 1000);
        let checked = cfg.validate();
        let built = RateLimitLayer::new(&cfg);
        assert_eq!(checked.is_ok(), supported, "{url}: {checked:?}");
        assert_eq!(built.is_ok(), supported, "{url}");
        if let Err(err) = built {
            let err = err.to_string();
            assert!(err.contains("rate_limit.redis_url"), "{err}");
            assert!(!err.contains("sup3rs3cretpw"), "{err}");
        }
    }
}

/// A TCP proxy in front of the real Redis that can be "stopped": while
/// down it drops open connections and refuses new ones.
struct Switch {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Switch {
    async fn start(target: SocketAddr) -> Switch {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (up2, conns2) = (Arc::clone(&up), Arc::clone(&conns));
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let handle = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns2.lock().unwrap().push(handle);
            }
        });
        Switch { addr, up, conns }
    }

    fn stop(&self) {
        self.up.store(false, Ordering::SeqCst);
        for handle in self.conns.lock().unwrap().drain(..) {
            handle.abort();
        }
    }

    fn start_again(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_mid_traffic_falls_back_and_recovers() {
    let Some(mut conn) = redis_or_skip("redis_stopped_mid_traffic_falls_back_and_recovers").await
    else {
        return;
    };
    let target: SocketAddr = {
        let url = url::Url::parse(&redis_url()).unwrap();
        let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = url.port().unwrap_or(6379);
        tokio::net::lookup_host((host.as_str(), port))
            .await
            .unwrap()
            .next()
            .unwrap()
    };
    let switch = Switch::start(target).await;
    let prefix = unique_prefix();
    // 10 per 10 minutes: nothing comes back during the test.
    let mut cfg = redis_config(&format!("redis://{}", switch.addr), &prefix, 10, 600_000);
    cfg.redis_timeout_ms = 300;
    let layer = RateLimitLayer::builder(&cfg)
        .redis_retry_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let key = ClientKey::from_ip("192.0.2.40".parse().unwrap());

    assert_eq!(layer.check(&key, 1).await.source, DecisionSource::Redis);

    switch.stop();
    let mut sources = Vec::new();
    for _ in 0..5 {
        sources.push(layer.check(&key, 1).await.source);
    }
    assert!(
        sources.iter().all(|s| *s == DecisionSource::Fallback),
        "{sources:?}"
    );
    assert!(layer.stats().backend_down);

    switch.start_again();
    let mut recovered = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        if layer.check(&key, 1).await.source == DecisionSource::Redis {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "Redis decides again once it is back");
    assert!(!layer.stats().backend_down);
    // The shared state survived the outage: Redis counted the first request
    // and the ones after recovery, not the fallback ones.
    let d = layer.check(&key, 1).await;
    assert_eq!(d.source, DecisionSource::Redis);
    assert_eq!(d.remaining, 7, "{d:?}");
    assert!(layer.stats().fallback >= 5);
    cleanup(&mut conn, &prefix).await;
}
