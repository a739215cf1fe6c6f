//! The Redis backend: one atomic GCRA step per decision, shared by every
//! replica.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::watch;

use crate::breaker::{Breaker, Transition};
use crate::redis_url::{self, Topology};

use crate::decision::{Decision, DecisionSource};
use crate::error::Error;
use crate::key::ClientKey;
use crate::local::QuotaParams;

/// One GCRA step, atomically, on the server's clock.
///
/// KEYS[1]: the client's key. ARGV: the emission interval `t` and the
/// tolerance `tau = t * (burst - 1)` in microseconds, the weight `n`.
/// The stored value is the theoretical arrival time (TAT) in microseconds
/// of the server's `TIME`, so replicas with drifting clocks agree. The same
/// arithmetic as governor's GCRA: a request of weight `n` passes when
/// `now >= tat + t*(n-1) - tau`, and moves the TAT to
/// `max(tat, now) + t*n`. The key expires when its TAT passes, i.e. exactly
/// when its state equals a fresh one, so Redis memory is bounded by the
/// clients active within one window.
///
/// Returns `{allowed, remaining, wait_us, reset_us}`.
const GCRA_LUA: &str = r#"
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then
  tat = tonumber(stored) or now
end
local extra = t * (n - 1)
local earliest = tat + extra - tau
if now < earliest then
  return {0, 0, earliest - now, tat - now}
end
local base = tat
if now > base then
  base = now
end
local nxt = base + t + extra
local ttl_ms = math.ceil((nxt - now) / 1000) + 1
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', ttl_ms)
local room = now + tau + t - nxt
if room > tau + t then
  room = tau + t
end
local remaining = math.floor(room / t)
return {1, remaining, 0, nxt - now}
"#;

/// How long the backend is left alone after the breaker opened before one
/// request probes it again.
pub(crate) const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Counters of the Redis backend.
#[derive(Debug, Default)]
pub(crate) struct RedisCounters {
    pub(crate) errors: AtomicU64,
    pub(crate) opened: AtomicU64,
    /// Rotated Redis URLs taken.
    pub(crate) rotations: AtomicU64,
}

/// Why Redis gave no decision.
#[derive(Debug)]
pub(crate) enum RedisFailure {
    /// Skipped: the breaker is open (or another request is probing).
    CoolingDown,
    /// No connection could be made within the connect timeout.
    NotConnected,
    /// The call did not finish within the decision deadline.
    Timeout,
    /// The call failed.
    Failed(redis::RedisError),
}

impl std::fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisFailure::CoolingDown => f.write_str("waiting before the next probe"),
            RedisFailure::NotConnected => f.write_str("not connected"),
            RedisFailure::Timeout => f.write_str("timed out"),
            // The error text of the client never holds the password: it
            // reports kinds and server replies, not the URL.
            RedisFailure::Failed(err) => write!(f, "{err}"),
        }
    }
}

/// Why a connection could not be made.
#[derive(Debug)]
pub(crate) enum ConnectFailure {
    Timeout(Duration),
    Failed(redis::RedisError),
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectFailure::Timeout(after) => {
                write!(f, "no connection within {} ms", after.as_millis())
            }
            ConnectFailure::Failed(err) => write!(f, "{err}"),
        }
    }
}

/// A usable connection (cheap to clone: it is a handle to a multiplexed
/// connection that reconnects by itself).
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

/// What the limiter connects to (one per layer, so its size does not
/// matter).
#[allow(clippy::large_enum_variant)]
enum Target {
    Single(redis::Client),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster::ClusterClient),
}

/// Where the connection stands; watched by requests waiting for it.
#[derive(Clone)]
enum ConnState {
    Idle,
    Connecting,
    Connected(Conn),
    Failed,
}

pub(crate) struct RedisLimiter {
    /// Replaced when the Redis URL rotates ([`RedisLimiter::rotate`]).
    target: std::sync::Mutex<std::sync::Arc<Target>>,
    ca_file: String,
    timings: RedisTimings,
    state: watch::Sender<ConnState>,
    script: redis::Script,
    timeout: Duration,
    connect_timeout: Duration,
    key_prefix: String,
    redacted_url: String,
    params: QuotaParams,
    t_us: u64,
    tau_us: u64,
    breaker: Breaker,
    pub(crate) counters: RedisCounters,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("url", &self.redacted_url)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

/// The settings of a Redis limiter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RedisTimings {
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) retry_interval: Duration,
}

impl RedisLimiter {
    /// A limiter for `url`, which [`redis_url::problems`] accepted (the
    /// constructor checks it again, so it never accepts what it refused).
    pub(crate) fn new(
        url: &appenv_config::SecretUrl,
        ca_file: &str,
        timings: RedisTimings,
        prefix: &str,
        policy: &str,
        params: QuotaParams,
    ) -> Result<Self, Error> {
        let target = target(url, ca_file, timings).map_err(|source| Error::RedisUrl {
            key: "rate_limit.redis_url".to_owned(),
            url: url.redacted().into_owned(),
            source,
        })?;
        let t_us = u64::try_from(params.interval.as_micros().max(1)).unwrap_or(u64::MAX);
        // Round the interval up to whole microseconds, never down.
        let t_us = if Duration::from_micros(t_us) < params.interval {
            t_us + 1
        } else {
            t_us
        };
        Ok(RedisLimiter {
            target: std::sync::Mutex::new(std::sync::Arc::new(target)),
            ca_file: ca_file.to_owned(),
            timings,
            state: watch::Sender::new(ConnState::Idle),
            script: redis::Script::new(GCRA_LUA),
            timeout: timings.timeout,
            connect_timeout: timings.connect_timeout,
            key_prefix: format!("{prefix}:{policy}:"),
            redacted_url: url.redacted().into_owned(),
            params,
            t_us,
            tau_us: t_us * u64::from(params.burst - 1),
            breaker: Breaker::new(timings.retry_interval),
            counters: RedisCounters::default(),
        })
    }

    pub(crate) fn redacted_url(&self) -> &str {
        &self.redacted_url
    }

    pub(crate) fn retry_interval(&self) -> Duration {
        self.breaker.retry_interval()
    }

    pub(crate) fn redis_key(&self, key: &ClientKey) -> String {
        format!("{}{key}", self.key_prefix)
    }

    /// Whether the backend is currently considered down.
    pub(crate) fn is_failing(&self) -> bool {
        self.breaker.is_open()
    }

    /// Connects (and loads the script) unless connected or connecting;
    /// returns at once. Used when the layer is built inside a runtime.
    pub(crate) fn start_connecting(self: &std::sync::Arc<Self>) {
        if self.claim_connect() {
            let this = std::sync::Arc::clone(self);
            tokio::spawn(async move {
                let _ = this.run_connect(false).await;
            });
        }
    }

    /// Connects now, waiting at most the connect timeout. When Redis cannot
    /// be reached the breaker opens (the failure mode decides until a probe
    /// succeeds) and a warning says so.
    pub(crate) async fn connect(&self) -> Result<(), ConnectFailure> {
        if self.claim_connect() {
            return self.run_connect(true).await;
        }
        match self.wait_connected().await {
            Some(_) => Ok(()),
            None => Err(ConnectFailure::Timeout(self.connect_timeout)),
        }
    }

    /// Moves Idle/Failed to Connecting; `true` when this caller must
    /// connect.
    fn claim_connect(&self) -> bool {
        self.state.send_if_modified(|state| match state {
            ConnState::Idle | ConnState::Failed => {
                *state = ConnState::Connecting;
                true
            }
            ConnState::Connecting | ConnState::Connected(_) => false,
        })
    }

    async fn run_connect(&self, startup: bool) -> Result<(), ConnectFailure> {
        match self.open().await {
            Ok(conn) => {
                self.state.send_replace(ConnState::Connected(conn));
                tracing::debug!(
                    target: "appenv_rate_limit",
                    event = "backend_connected",
                    backend = "redis",
                    url = %self.redacted_url,
                    "connected to the rate-limit backend"
                );
                // If the breaker is open, the next request probes at once.
                self.breaker.probe_now();
                Ok(())
            }
            Err(failure) => {
                // The breaker opens before waiters learn of the failure, so
                // a caller woken by it (`connect` racing the connection the
                // constructor started) already sees Redis as down.
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                let transition = self.breaker.trip();
                if transition == Transition::Opened {
                    self.counters.opened.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        target: "appenv_rate_limit",
                        event = "backend_down",
                        backend = "redis",
                        url = %self.redacted_url,
                        error = %failure,
                        at_startup = startup,
                        "cannot connect to the rate-limit backend; applying the failure mode until it answers"
                    );
                } else {
                    tracing::debug!(
                        target: "appenv_rate_limit",
                        event = "backend_error",
                        backend = "redis",
                        error = %failure,
                        "rate-limit backend still unreachable"
                    );
                }
                self.state.send_replace(ConnState::Failed);
                Err(failure)
            }
        }
    }

    async fn open(&self) -> Result<Conn, ConnectFailure> {
        let target = std::sync::Arc::clone(
            &self
                .target
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        self.open_with(&target).await
    }

    /// Moves to a rotated Redis URL: new connections use it from now on,
    /// and a connection opened with it replaces the current one (which
    /// Redis keeps authenticated until it is dropped). When that first
    /// connection fails (the new password is not active in Redis yet) the
    /// current connection stays in use and its next reconnect uses the new
    /// URL.
    ///
    /// # Errors
    /// The URL is unusable (the URL stays as it was), or the new connection
    /// failed; the message never shows the password.
    pub(crate) async fn rotate(&self, url: &appenv_config::SecretUrl) -> Result<(), String> {
        let target = target(url, &self.ca_file, self.timings)
            .map_err(|err| appenv_config::redact_url(&err.to_string()).into_owned())?;
        let target = std::sync::Arc::new(target);
        *self
            .target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = std::sync::Arc::clone(&target);
        self.counters.rotations.fetch_add(1, Ordering::Relaxed);
        let conn = self
            .open_with(&target)
            .await
            .map_err(|failure| appenv_config::redact_url(&failure.to_string()).into_owned())?;
        self.state.send_replace(ConnState::Connected(conn));
        self.breaker.probe_now();
        Ok(())
    }

    async fn open_with(&self, target: &Target) -> Result<Conn, ConnectFailure> {
        let limit = self.connect_timeout;
        let attempt = async {
            match target {
                Target::Single(client) => {
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(limit))
                        // Each decision has its own deadline, applied around
                        // the call; the connection never gives up on a reply.
                        .set_response_timeout(None)
                        .set_number_of_retries(1)
                        .set_max_delay(Duration::from_millis(500));
                    let mut conn =
                        ConnectionManager::new_with_config(client.clone(), config).await?;
                    // Loaded now, so a decision is one EVALSHA round trip.
                    self.script.load_async(&mut conn).await?;
                    Ok::<_, redis::RedisError>(Conn::Single(conn))
                }
                #[cfg(feature = "redis-cluster")]
                Target::Cluster(client) => {
                    let mut conn = client.get_async_connection().await?;
                    // SCRIPT LOAD goes to every node of the cluster.
                    self.script.load_async(&mut conn).await?;
                    Ok(Conn::Cluster(conn))
                }
            }
        };
        match tokio::time::timeout(limit, attempt).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(err)) => Err(ConnectFailure::Failed(err)),
            Err(_) => Err(ConnectFailure::Timeout(limit)),
        }
    }

    /// The connection, waiting (at most the connect timeout) for one being
    /// made; starts connecting when there is none.
    async fn connection(&self) -> Option<Conn> {
        if let ConnState::Connected(conn) = &*self.state.borrow() {
            return Some(conn.clone());
        }
        if self.claim_connect() {
            return match self.run_connect(false).await {
                Ok(()) => self.current(),
                Err(_) => None,
            };
        }
        self.wait_connected().await
    }

    fn current(&self) -> Option<Conn> {
        match &*self.state.borrow() {
            ConnState::Connected(conn) => Some(conn.clone()),
            _ => None,
        }
    }

    async fn wait_connected(&self) -> Option<Conn> {
        let mut rx = self.state.subscribe();
        let wait = async {
            loop {
                match &*rx.borrow_and_update() {
                    ConnState::Connected(conn) => return Some(conn.clone()),
                    ConnState::Failed | ConnState::Idle => return None,
                    ConnState::Connecting => {}
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        };
        tokio::time::timeout(self.connect_timeout, wait)
            .await
            .ok()
            .flatten()
    }

    fn log_transition(&self, transition: Transition, failure: Option<&RedisFailure>) {
        match transition {
            Transition::None => {}
            Transition::Opened => {
                self.counters.opened.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    target: "appenv_rate_limit",
                    event = "backend_down",
                    backend = "redis",
                    url = %self.redacted_url,
                    error = failure.map(tracing::field::display),
                    "rate-limit backend failing; applying the failure mode until it answers again"
                );
            }
            Transition::Reopened => {
                tracing::debug!(
                    target: "appenv_rate_limit",
                    event = "backend_error",
                    backend = "redis",
                    error = failure.map(tracing::field::display),
                    "rate-limit backend still failing"
                );
            }
            Transition::Closed => {
                tracing::info!(
                    target: "appenv_rate_limit",
                    event = "backend_recovered",
                    backend = "redis",
                    url = %self.redacted_url,
                    "rate-limit backend answers again"
                );
            }
        }
    }

    /// One GCRA step in Redis: waits for a connection being made (at most
    /// the connect timeout), then for the round trip (at most the decision
    /// deadline).
    pub(crate) async fn check(
        &self,
        key: &ClientKey,
        weight: u32,
    ) -> Result<Decision, RedisFailure> {
        let Some(ticket) = self.breaker.admit() else {
            return Err(RedisFailure::CoolingDown);
        };
        let weight = self.params.clamp_weight(weight);
        let outcome = match self.connection().await {
            None => Err(RedisFailure::NotConnected),
            Some(conn) => self.round_trip(conn, key, weight).await,
        };
        let transition = ticket.record(outcome.is_ok());
        if let Err(failure) = &outcome {
            // A failed connection attempt was counted when it failed.
            if !matches!(failure, RedisFailure::NotConnected) {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
            }
            if transition == Transition::None {
                tracing::debug!(
                    target: "appenv_rate_limit",
                    event = "backend_error",
                    backend = "redis",
                    error = %failure,
                    "rate-limit backend call failed"
                );
            }
        }
        self.log_transition(transition, outcome.as_ref().err());
        let (allowed, remaining, wait_us, reset_us) = outcome?;
        let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
        let remaining = u32::try_from(remaining.max(0)).unwrap_or(u32::MAX);
        Ok(if allowed == 1 {
            Decision::allowed(remaining, micros(reset_us), DecisionSource::Redis)
        } else {
            Decision::limited(micros(wait_us), DecisionSource::Redis)
        })
    }

    async fn round_trip(
        &self,
        conn: Conn,
        key: &ClientKey,
        weight: u32,
    ) -> Result<(i64, i64, i64, i64), RedisFailure> {
        let redis_key = self.redis_key(key);
        let mut invocation = self.script.key(&redis_key);
        invocation.arg(self.t_us).arg(self.tau_us).arg(weight);
        // The GCRA step touches one key, so in a cluster it runs on the
        // node that owns the key's slot.
        let call = async {
            match conn {
                Conn::Single(mut conn) => {
                    invocation
                        .invoke_async::<(i64, i64, i64, i64)>(&mut conn)
                        .await
                }
                #[cfg(feature = "redis-cluster")]
                Conn::Cluster(mut conn) => {
                    invocation
                        .invoke_async::<(i64, i64, i64, i64)>(&mut conn)
                        .await
                }
            }
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(err)) => Err(RedisFailure::Failed(err)),
            Err(_) => Err(RedisFailure::Timeout),
        }
    }
}

/// The client for `url`: one server, or a cluster for several node URLs;
/// TLS with the CA of `ca_file` when given.
fn target(
    url: &appenv_config::SecretUrl,
    ca_file: &str,
    timings: RedisTimings,
) -> redis::RedisResult<Target> {
    let invalid = |message: String| {
        redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "unusable Redis URL",
            message,
        ))
    };
    if let Some((_, message)) = redis_url::problems(url, ca_file, false).into_iter().next() {
        return Err(invalid(message));
    }
    let tls = redis_url::is_tls(url);
    #[cfg(feature = "redis-tls")]
    if tls {
        // The workspace's one crypto provider; a no-op when the process
        // already installed one.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let root_cert =
        if tls && !ca_file.trim().is_empty() {
            Some(std::fs::read(ca_file.trim()).map_err(|err| {
                invalid(format!("cannot read the CA file {}: {err}", ca_file.trim()))
            })?)
        } else {
            None
        };
    let _ = (&root_cert, timings);
    match redis_url::topology(url) {
        Topology::Single(node) => {
            #[cfg(feature = "redis-tls")]
            if let Some(root_cert) = root_cert {
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                };
                return redis::Client::build_with_tls(node.as_str(), certs).map(Target::Single);
            }
            redis::Client::open(node.as_str()).map(Target::Single)
        }
        #[cfg(feature = "redis-cluster")]
        Topology::Cluster(nodes) => {
            #[cfg_attr(not(feature = "redis-tls"), allow(unused_mut))]
            let mut builder = redis::cluster::ClusterClient::builder(nodes)
                .connection_timeout(timings.connect_timeout)
                // Each decision has its own deadline around the call.
                .response_timeout(timings.timeout.max(timings.connect_timeout));
            #[cfg(feature = "redis-tls")]
            if let Some(root_cert) = root_cert {
                builder = builder.certs(redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                });
            }
            builder.build().map(Target::Cluster)
        }
        #[cfg(not(feature = "redis-cluster"))]
        Topology::Cluster(_) => Err(invalid(
            "several node URLs need the `redis-cluster` feature".to_owned(),
        )),
    }
}
