//! `Server`: readiness 503 from the moment shutdown starts, requests served
//! during the pre-drain delay, in-flight requests drained, slow clients
//! closed at the drain deadline, idle connections closed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use appenv_config::{AppEnv, Section};
use appenv_observability::{Health, LifecycleConfig, Server};
use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One `GET` over a fresh connection; the status code and body.
async fn fetch(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Ok((status, body))
}

fn config(delay_ms: u64, drain_ms: u64) -> LifecycleConfig {
    LifecycleConfig {
        shutdown_delay_ms: delay_ms,
        shutdown_drain_ms: drain_ms,
        // Long, so only the drain deadline can close a slow client here.
        header_read_timeout_ms: 120_000,
        ..LifecycleConfig::defaults(AppEnv::Staging)
    }
}

struct Running {
    addr: SocketAddr,
    trigger: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<Result<(), appenv_observability::Error>>,
}

async fn start(config: LifecycleConfig, health: &Health, app: Router) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = Server::new(&config)
        .with_health(health)
        .with_shutdown_trigger(async move {
            let _ = rx.await;
        });
    let done = tokio::spawn(server.serve(listener, app));
    Running {
        addr,
        trigger: Some(tx),
        done,
    }
}

fn app(health: &Health) -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(700)).await;
                "slow"
            }),
        )
        .route(
            "/peer",
            get(|axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>| async move {
                peer.ip().to_string()
            }),
        )
        .merge(health.clone().router())
}

#[tokio::test]
async fn readiness_turns_503_at_once_and_requests_are_served_during_the_delay() {
    let health = Health::new().check("always", || async { Ok::<_, String>(()) });
    let mut running = start(config(1_500, 1_000), &health, app(&health)).await;
    assert_eq!(fetch(running.addr, "/readyz").await.unwrap().0, 200);
    let (status, body) = fetch(running.addr, "/peer").await.unwrap();
    assert_eq!(
        (status, body.as_str()),
        (200, "127.0.0.1"),
        "ConnectInfo is set"
    );

    running.trigger.take().unwrap().send(()).unwrap();
    // `set_shutting_down` is the first thing after the trigger; a poll
    // bounded by a generous deadline only guards against a hang.
    let start = Instant::now();
    loop {
        let (status, body) = fetch(running.addr, "/readyz").await.unwrap();
        if status == 503 {
            assert!(body.contains("shutting_down"), "{body}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "readiness still {status}"
        );
        tokio::task::yield_now().await;
    }
    assert!(health.is_shutting_down());
    // Still inside the 1.5 s delay: new connections are accepted and served.
    let (status, body) = fetch(running.addr, "/").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "hello"));
    assert_eq!(fetch(running.addr, "/healthz").await.unwrap().0, 200);

    tokio::time::timeout(Duration::from_secs(20), running.done)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
    assert!(fetch(running.addr, "/").await.is_err(), "listener closed");
}

#[tokio::test]
async fn an_in_flight_request_finishes_during_the_drain() {
    let health = Health::new();
    let mut running = start(config(0, 10_000), &health, app(&health)).await;
    let addr = running.addr;
    let slow = tokio::spawn(async move { fetch(addr, "/slow").await });
    // Let the request reach the handler before the shutdown starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    running.trigger.take().unwrap().send(()).unwrap();
    let (status, body) = slow.await.unwrap().unwrap();
    assert_eq!((status, body.as_str()), (200, "slow"));
    tokio::time::timeout(Duration::from_secs(20), running.done)
        .await
        .expect("server stops once drained")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_half_sent_request_is_closed_at_the_drain_deadline() {
    let health = Health::new();
    let mut running = start(config(0, 500), &health, app(&health)).await;
    // Headers never finished, and a body never finished.
    let mut headers = TcpStream::connect(running.addr).await.unwrap();
    headers
        .write_all(b"GET / HTTP/1.1\r\nhost: test\r\nx-slow: ")
        .await
        .unwrap();
    let mut body = TcpStream::connect(running.addr).await.unwrap();
    body.write_all(b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\n{\"a\":")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    running.trigger.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), running.done)
        .await
        .expect("a slow client does not hold the server")
        .unwrap()
        .unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), headers.read(&mut buf))
        .await
        .expect("the connection is closed, not left open");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let health = Health::new();
    let config = LifecycleConfig {
        idle_timeout_ms: 300,
        ..config(0, 1_000)
    };
    let running = start(config, &health, app(&health)).await;
    let mut stream = TcpStream::connect(running.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("hello"));
    // Kept alive, then closed by the server once idle.
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("idle connection closed by the server");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    drop(running.trigger);
}
