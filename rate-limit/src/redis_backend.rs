//! The Redis backend: one atomic GCRA step per decision, shared by every
//! replica.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;
use tokio::time::Instant;

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

/// How long the backend is left alone after a failure before one request
/// probes it again.
pub(crate) const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Health {
    failing: bool,
    retry_at: Option<Instant>,
}

/// Counters of the Redis backend.
#[derive(Debug, Default)]
pub(crate) struct RedisCounters {
    pub(crate) errors: AtomicU64,
}

/// Why Redis gave no decision.
#[derive(Debug)]
pub(crate) enum RedisFailure {
    /// Skipped: Redis failed recently and is not due for a probe.
    CoolingDown,
    /// The call did not finish within the timeout.
    Timeout,
    /// The call failed.
    Failed(redis::RedisError),
}

impl std::fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisFailure::CoolingDown => f.write_str("waiting before the next probe"),
            RedisFailure::Timeout => f.write_str("timed out"),
            // The error text of the client never holds the password: it
            // reports kinds and server replies, not the URL.
            RedisFailure::Failed(err) => write!(f, "{err}"),
        }
    }
}

pub(crate) struct RedisLimiter {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    script: redis::Script,
    timeout: Duration,
    retry_interval: Duration,
    key_prefix: String,
    redacted_url: String,
    params: QuotaParams,
    t_us: u64,
    tau_us: u64,
    health: Mutex<Health>,
    pub(crate) counters: RedisCounters,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("url", &self.redacted_url)
            .field("timeout", &self.timeout)
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    pub(crate) fn new(
        url: &appenv_config::SecretUrl,
        timeout: Duration,
        prefix: &str,
        policy: &str,
        params: QuotaParams,
    ) -> Result<Self, Error> {
        let client = redis::Client::open(url.expose()).map_err(|source| Error::RedisUrl {
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
            client,
            conn: OnceCell::new(),
            script: redis::Script::new(GCRA_LUA),
            timeout,
            retry_interval: DEFAULT_RETRY_INTERVAL,
            key_prefix: format!("{prefix}:{policy}:"),
            redacted_url: url.redacted().into_owned(),
            params,
            t_us,
            tau_us: t_us * u64::from(params.burst - 1),
            health: Mutex::new(Health::default()),
            counters: RedisCounters::default(),
        })
    }

    pub(crate) fn set_retry_interval(&mut self, interval: Duration) {
        self.retry_interval = interval;
    }

    pub(crate) fn retry_interval(&self) -> Duration {
        self.retry_interval
    }

    pub(crate) fn redis_key(&self, key: &ClientKey) -> String {
        format!("{}{key}", self.key_prefix)
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether this request should ask Redis: always while healthy; while
    /// failing, one request per retry interval probes.
    fn should_try(&self) -> bool {
        let mut health = self.health();
        if !health.failing {
            return true;
        }
        let now = Instant::now();
        match health.retry_at {
            Some(at) if now < at => false,
            _ => {
                health.retry_at = Some(now + self.retry_interval);
                true
            }
        }
    }

    fn record_failure(&self, failure: &RedisFailure) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        let mut health = self.health();
        let newly = !health.failing;
        health.failing = true;
        health.retry_at = Some(Instant::now() + self.retry_interval);
        drop(health);
        if newly {
            tracing::warn!(
                target: "appenv_rate_limit",
                event = "backend_down",
                backend = "redis",
                url = %self.redacted_url,
                error = %failure,
                "rate-limit backend failing; applying the failure mode until it answers again"
            );
        } else {
            tracing::debug!(
                target: "appenv_rate_limit",
                event = "backend_error",
                backend = "redis",
                error = %failure,
                "rate-limit backend still failing"
            );
        }
    }

    fn record_success(&self) {
        let mut health = self.health();
        if health.failing {
            health.failing = false;
            health.retry_at = None;
            drop(health);
            tracing::info!(
                target: "appenv_rate_limit",
                event = "backend_recovered",
                backend = "redis",
                url = %self.redacted_url,
                "rate-limit backend answers again"
            );
        }
    }

    /// Whether the backend is currently considered down.
    pub(crate) fn is_failing(&self) -> bool {
        self.health().failing
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let timeout = self.timeout;
        self.conn
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await
            .cloned()
    }

    /// One GCRA step in Redis, within the timeout.
    pub(crate) async fn check(
        &self,
        key: &ClientKey,
        weight: u32,
    ) -> Result<Decision, RedisFailure> {
        if !self.should_try() {
            return Err(RedisFailure::CoolingDown);
        }
        let weight = self.params.clamp_weight(weight);
        let redis_key = self.redis_key(key);
        let call = async {
            let mut conn = self.connection().await?;
            self.script
                .key(&redis_key)
                .arg(self.t_us)
                .arg(self.tau_us)
                .arg(weight)
                .invoke_async::<(i64, i64, i64, i64)>(&mut conn)
                .await
        };
        let outcome = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(err)) => Err(RedisFailure::Failed(err)),
            Err(_) => Err(RedisFailure::Timeout),
        };
        match outcome {
            Ok((allowed, remaining, wait_us, reset_us)) => {
                self.record_success();
                let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
                let remaining = u32::try_from(remaining.max(0)).unwrap_or(u32::MAX);
                Ok(if allowed == 1 {
                    Decision::allowed(remaining, micros(reset_us), DecisionSource::Redis)
                } else {
                    Decision::limited(micros(wait_us), DecisionSource::Redis)
                })
            }
            Err(failure) => {
                self.record_failure(&failure);
                Err(failure)
            }
        }
    }
}
