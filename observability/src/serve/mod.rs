//! [`Server`] and [`serve`]: serving a tower HTTP service (an axum `Router`,
//! a tonic or hyper service) with the process lifecycle orchestrators
//! expect.
//!
//! 1. SIGTERM or SIGINT arrives: readiness ([`Health`]) answers 503 at once.
//! 2. For `SHUTDOWN_DELAY_MS` requests are still accepted and served, so
//!    load balancers see the 503 and stop routing here first.
//! 3. The listener closes; every connection finishes its request in flight
//!    and closes (idle keep-alive connections close at once).
//! 4. At `SHUTDOWN_DRAIN_MS` whatever is still open is closed.
//! 5. Telemetry is flushed within `OTEL_SHUTDOWN_TIMEOUT`.
//!
//! A second signal while draining skips to step 4. Slow clients cannot hold
//! the process: headers must arrive within `HTTP_HEADER_READ_TIMEOUT_MS`,
//! connections without requests close after `HTTP_IDLE_TIMEOUT_MS`, and
//! the drain deadline bounds everything else.

mod config;
mod connection;
mod signal;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use config::{EXIT_BUDGET, LifecycleConfig};

use crate::error::Error;
use crate::health::Health;
use crate::init::TelemetryGuard;
use connection::{BoxError, serve_connection};
use signal::Signals;

const TARGET: &str = "appenv_observability::serve";

/// Serves `app` on `listener` until SIGTERM or SIGINT, then shuts down as
/// the [module docs](crate::Server) describe: readiness of `health` turns
/// 503, requests are served for the pre-drain delay, in-flight requests
/// drain up to the deadline, and `telemetry` is flushed last.
///
/// The same as `Server::new(config).with_health(health).with_telemetry(telemetry).serve(listener, app)`.
///
/// # Errors
///
/// [`Error::Signal`] when the signal handlers cannot be installed. Once
/// serving, nothing fails: accept errors are logged and retried, a failed
/// telemetry flush is logged on the console.
pub async fn serve<S, B>(
    listener: TcpListener,
    app: S,
    telemetry: TelemetryGuard,
    health: &Health,
    config: &LifecycleConfig,
) -> Result<(), Error>
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    Server::new(config)
        .with_health(health)
        .with_telemetry(telemetry)
        .serve(listener, app)
        .await
}

/// An HTTP/1 and HTTP/2 server (hyper-util) that owns the process
/// lifecycle: graceful, bounded shutdown on SIGTERM/SIGINT, readiness 503
/// while draining, header-read and idle timeouts, telemetry flushed last.
///
/// ```no_run
/// use appenv_config::{AppEnv, Section};
/// use appenv_observability::{Health, LifecycleConfig, Server, TelemetryConfig};
/// use axum::{Router, routing::get};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let env = AppEnv::Local;
/// let telemetry = appenv_observability::init(env, &TelemetryConfig::defaults(env))?;
/// let health = Health::new();
/// let app = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(telemetry.http_layer())
///     .merge(health.clone().router());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
/// Server::new(&LifecycleConfig::defaults(env))
///     .with_health(&health)
///     .with_telemetry(telemetry)
///     .serve(listener, app)
///     .await?;
/// # Ok(())
/// # }
/// ```
///
/// Every request carries the peer address as a `SocketAddr` extension (and
/// as axum's `ConnectInfo<SocketAddr>` with the `axum` feature), so pass
/// the `Router` itself, not `into_make_service_with_connect_info`.
#[must_use = "a Server does nothing until `serve` is awaited"]
pub struct Server {
    config: LifecycleConfig,
    health: Option<Health>,
    telemetry: Option<TelemetryGuard>,
    trigger: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("health", &self.health)
            .field("telemetry", &self.telemetry)
            .field("trigger", &self.trigger.is_some())
            .finish()
    }
}

impl Server {
    /// A server with the shutdown phases and timeouts of `config`
    /// (validated by the `lifecycle.invalid` rule when loaded; zero
    /// values are raised to 1 ms here rather than disabling a bound).
    pub fn new(config: &LifecycleConfig) -> Self {
        Server {
            config: config.clone(),
            health: None,
            telemetry: None,
            trigger: None,
        }
    }

    /// The readiness registry to turn 503 when shutdown starts (a clone
    /// sharing its state; the router made from `health` sees the change).
    pub fn with_health(mut self, health: &Health) -> Self {
        self.health = Some(health.clone());
        self
    }

    /// The telemetry to flush once the connections are closed.
    pub fn with_telemetry(mut self, telemetry: TelemetryGuard) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Also starts the shutdown when `trigger` resolves (in addition to
    /// SIGTERM and SIGINT), for tests and for programs that stop the
    /// server themselves.
    pub fn with_shutdown_trigger(
        mut self,
        trigger: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.trigger = Some(Box::pin(trigger));
        self
    }

    /// Serves `app` until a termination signal, then shuts down and
    /// returns once the connections are closed and telemetry is flushed.
    ///
    /// # Errors
    ///
    /// [`Error::Signal`] when the signal handlers cannot be installed.
    pub async fn serve<S, B>(mut self, listener: TcpListener, app: S) -> Result<(), Error>
    where
        S: tower_service::Service<Request<Incoming>, Response = Response<B>>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError> + Send,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let mut signals = Signals::install(self.trigger.take())?;
        let at_least = |d: Duration| d.max(Duration::from_millis(1));
        let delay = self.config.shutdown_delay();
        let drain = at_least(self.config.shutdown_drain());
        let mut accept = Acceptor {
            listener,
            builder: Arc::new(builder(at_least(self.config.header_read_timeout()))),
            idle: at_least(self.config.idle_timeout()),
            drain: watch::channel(false),
            connections: JoinSet::new(),
        };
        if let Ok(addr) = accept.listener.local_addr() {
            tracing::info!(target: TARGET, "listening on http://{addr}");
        }

        // Serving.
        let signal = loop {
            tokio::select! {
                name = signals.recv() => break name,
                accepted = accept.listener.accept() => accept.spawn(accepted, &app).await,
                Some(_) = accept.connections.join_next(), if !accept.connections.is_empty() => {}
            }
        };

        // Readiness 503 at once; still serving during the delay.
        if let Some(health) = &self.health {
            health.set_shutting_down();
        }
        tracing::info!(
            target: TARGET,
            signal,
            delay_ms = delay.as_millis() as u64,
            drain_ms = drain.as_millis() as u64,
            "shutting down: readiness answers 503; serving for the pre-drain delay, then draining"
        );
        let mut forced = false;
        if !delay.is_zero() {
            let until = tokio::time::sleep(delay);
            tokio::pin!(until);
            loop {
                tokio::select! {
                    () = &mut until => break,
                    _ = signals.recv() => { forced = true; break }
                    accepted = accept.listener.accept() => accept.spawn(accepted, &app).await,
                    Some(_) = accept.connections.join_next(), if !accept.connections.is_empty() => {}
                }
            }
        }

        // Stop accepting; drain up to the deadline; close the rest.
        let Acceptor {
            listener,
            drain: (drain_tx, _drain_rx),
            mut connections,
            ..
        } = accept;
        drop(listener);
        let _ = drain_tx.send(true);
        tracing::info!(
            target: TARGET,
            connections = connections.len(),
            "stopped accepting connections; draining requests in flight"
        );
        let drained = !forced && {
            let all_closed = async { while connections.join_next().await.is_some() {} };
            tokio::select! {
                () = all_closed => true,
                () = tokio::time::sleep(drain) => false,
                _ = signals.recv() => false,
            }
        };
        if !drained {
            tracing::warn!(
                target: TARGET,
                connections = connections.len(),
                "drain deadline passed (or a second signal arrived): closing the remaining connections"
            );
            connections.shutdown().await;
        }

        // Telemetry last, so the spans of the drained requests are in it.
        let phase = if drained {
            "requests drained"
        } else {
            "remaining connections closed"
        };
        if let Some(telemetry) = self.telemetry.take() {
            tracing::info!(target: TARGET, "{phase}; flushing telemetry");
            let flushed = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
            match flushed {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(target: TARGET, error = %error, "telemetry flush failed")
                }
                Err(error) => {
                    tracing::warn!(target: TARGET, error = %error, "telemetry flush failed")
                }
            }
        } else {
            tracing::info!(target: TARGET, "{phase}");
        }
        Ok(())
    }
}

fn builder(header_read_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// The accepting half of the server and the connections it spawned.
struct Acceptor {
    listener: TcpListener,
    builder: Arc<auto::Builder<TokioExecutor>>,
    idle: Duration,
    drain: (watch::Sender<bool>, watch::Receiver<bool>),
    connections: JoinSet<()>,
}

impl Acceptor {
    async fn spawn<S, B>(&mut self, accepted: std::io::Result<(TcpStream, SocketAddr)>, app: &S)
    where
        S: tower_service::Service<Request<Incoming>, Response = Response<B>>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError> + Send,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                self.connections.spawn(serve_connection(
                    Arc::clone(&self.builder),
                    stream,
                    peer,
                    app.clone(),
                    self.idle,
                    self.drain.1.clone(),
                ));
            }
            Err(error) if is_connection_error(&error) => {}
            Err(error) => {
                // Out of file descriptors and the like: back off instead of
                // spinning, keep serving the open connections.
                tracing::warn!(target: TARGET, error = %error, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
