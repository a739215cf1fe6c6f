//! [`RateLimitLayer`] and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use appenv_config::ClientAddrResolver;
use http::request::Parts;
use tower_layer::Layer;

use crate::allow::AllowList;
use crate::config::RateLimitConfig;
use crate::decision::Decision;
use crate::error::Error;
use crate::key::{ClientKey, KeyExtractor, KeyFn, KeyRequest};
use crate::limiter::{Core, Weigher};
use crate::route::RouteQuota;
use crate::service::RateLimit;
use crate::stats::Stats;

/// Applies a rate limit to a service: see the [crate docs](crate).
///
/// Cloning is cheap and clones share one quota (the state lives behind an
/// `Arc`), so the same layer may be applied to several routers. Per-route
/// quotas come from `routes` in the configuration or
/// [`RateLimitBuilder::route`]; a layer per route group, each with its own
/// [`policy`](RateLimitBuilder::policy) name, works too (and nests).
#[derive(Clone)]
pub struct RateLimitLayer {
    core: Arc<Core>,
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RateLimitLayer");
        d.field("policy", &self.core.policy)
            .field("enabled", &self.core.enabled)
            .field("shadow", &self.core.shadow)
            .field("params", self.core.local.params());
        #[cfg(feature = "redis")]
        d.field("redis", &self.core.redis);
        d.finish_non_exhaustive()
    }
}

impl RateLimitLayer {
    /// A layer for `config`, for clients that connect directly: the peer
    /// address is the client and no forwarding header is read. Behind a
    /// proxy or load balancer, hand it the service's client-address
    /// resolver (`server.trusted_proxies`, `server.client_ip_header`):
    ///
    /// ```
    /// use appenv_config::{AppEnv, Section, ServerConfig};
    /// use appenv_rate_limit::{RateLimitConfig, RateLimitLayer};
    ///
    /// let server = ServerConfig::defaults(AppEnv::Production); // or from the loader
    /// let config = RateLimitConfig::defaults(AppEnv::Production);
    /// let layer = RateLimitLayer::builder(&config)
    ///     .client_addr(server.client_addr())
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the key when a value is out of range,
    /// [`Error::RedisUrl`] when the Redis URL cannot be used. Nothing is
    /// connected yet: Redis is reached on the first request, and while it
    /// cannot be, the failure mode applies.
    pub fn new(config: &RateLimitConfig) -> Result<Self, Error> {
        RateLimitBuilder::new(config).build()
    }

    /// A builder starting from `config`, for per-route quotas and request
    /// weights.
    pub fn builder(config: &RateLimitConfig) -> RateLimitBuilder {
        RateLimitBuilder::new(config)
    }

    /// One check of `key` at `weight`, against this layer's quota and
    /// backend exactly like a request (useful outside HTTP, e.g. for jobs or
    /// WebSocket messages). The caller acts on the [`Decision`]; it is not
    /// counted in [`Stats::allowed`]/[`Stats::limited`] nor logged as a
    /// `decision` event, and shadow mode does not apply.
    pub async fn check(&self, key: &ClientKey, weight: u32) -> Decision {
        self.core.decide(key, weight).await
    }

    /// Connects to Redis now (`backend = "redis"`; a no-op for memory),
    /// waiting at most `redis_connect_timeout_ms`, and loads the GCRA script.
    /// Call it at startup, before serving: a layer built inside a tokio
    /// runtime has already started connecting, and this waits for that.
    ///
    /// # Errors
    ///
    /// [`Error::RedisUnreachable`] when Redis cannot be reached. The layer
    /// keeps working: the breaker is open, so `failure_mode` decides (in
    /// production, this replica's own quota) without waiting on Redis, a
    /// warning (`event = "backend_down"`) has been logged, and one request
    /// per retry interval probes until Redis answers. Serve anyway, or
    /// refuse to start, as the service prefers.
    pub async fn connect(&self) -> Result<(), Error> {
        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let mut outcome = Ok(());
        #[cfg(feature = "redis")]
        for core in self.core.cores() {
            let Some(redis) = &core.redis else {
                continue;
            };
            if let Err(failure) = redis.connect().await
                && outcome.is_ok()
            {
                outcome = Err(Error::RedisUnreachable {
                    key: "rate_limit.redis_url".to_owned(),
                    url: redis.redacted_url().to_owned(),
                    reason: failure.to_string(),
                });
            }
        }
        outcome
    }

    /// Follows `url`, the handle of `rate_limit.redis_url` (reloadable when
    /// it comes from `RATE_LIMIT_REDIS_URL_FILE`), on a task of the current
    /// tokio runtime: each accepted new URL (a rotated password) is used
    /// for new connections at once, and a connection opened with it
    /// replaces the current one, so decisions keep coming from Redis across
    /// the rotation without a restart. Rotate the password in Redis first
    /// (`CONFIG SET requirepass`, or an ACL user's new password): connected
    /// clients stay authenticated; then update the file. Each change is
    /// logged (target `appenv_rate_limit`) with the key and the new value's
    /// fingerprint, never the URL's password. `None` for the memory backend.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    #[cfg(feature = "redis")]
    pub fn follow_redis_url(
        &self,
        url: &appenv_config::SecretHandle,
    ) -> Option<tokio::task::JoinHandle<()>> {
        // Every route quota's limiter talks to the same Redis.
        let limiters: Vec<_> = self
            .core
            .cores()
            .filter_map(|core| core.redis.clone())
            .collect();
        if limiters.is_empty() {
            return None;
        }
        let key = url.key().to_owned();
        let mut changes = url.subscribe();
        Some(tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let version = changes.borrow_and_update().clone();
                let rotated = appenv_config::SecretUrl::new(version.value().expose().clone());
                let mut outcome = Ok(());
                for redis in &limiters {
                    if let Err(reason) = redis.rotate(&rotated).await {
                        outcome = Err(reason);
                    }
                }
                match outcome {
                    Ok(()) => tracing::info!(
                        target: "appenv_rate_limit",
                        event = "backend_credentials_rotated",
                        key = %key,
                        fingerprint = %version.fingerprint(),
                        "rate-limit Redis URL rotated: connected with the new credentials"
                    ),
                    Err(reason) => tracing::warn!(
                        target: "appenv_rate_limit",
                        event = "backend_credentials_rotated",
                        key = %key,
                        fingerprint = %version.fingerprint(),
                        reason = %reason,
                        "rate-limit Redis URL rotated, but connecting with it failed: the current connection stays in use, reconnects use the new URL"
                    ),
                }
            }
        }))
    }

    /// How many rotated Redis URLs the layer has taken
    /// ([`RateLimitLayer::follow_redis_url`]).
    #[cfg(feature = "redis")]
    pub fn redis_rotations(&self) -> u64 {
        self.core.redis.as_ref().map_or(0, |r| {
            r.counters
                .rotations
                .load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// The counters so far (per-route quotas included).
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::new(inner, Arc::clone(&self.core))
    }
}

/// Builds a [`RateLimitLayer`]: a configuration section plus per-route
/// settings.
///
/// ```
/// use std::time::Duration;
/// use appenv_config::{AppEnv, Section};
/// use appenv_rate_limit::{RateLimitConfig, RateLimitLayer};
///
/// let config = RateLimitConfig::defaults(AppEnv::Production);
/// // Searches cost 5 and have their own quota of 60 per minute.
/// let search = RateLimitLayer::builder(&config)
///     .policy("search")
///     .quota(60, Duration::from_secs(60))
///     .weight(5)
///     .build()
///     .unwrap();
/// # let _ = search;
/// ```
#[must_use]
pub struct RateLimitBuilder {
    config: RateLimitConfig,
    weigher: Weigher,
    retry_interval: Option<Duration>,
    client_addr: ClientAddrResolver,
    key: Option<KeyFn>,
    allow_keys: Vec<ClientKey>,
}

impl fmt::Debug for RateLimitBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitBuilder")
            .field("config", &self.config)
            .field("weigher", &self.weigher)
            .field("client_addr", &self.client_addr)
            .field("key", &self.key.as_ref().map(|_| "custom"))
            .field("allow_keys", &self.allow_keys)
            .finish_non_exhaustive()
    }
}

impl RateLimitBuilder {
    fn new(config: &RateLimitConfig) -> Self {
        RateLimitBuilder {
            config: config.clone(),
            weigher: Weigher::Fixed(1),
            retry_interval: None,
            client_addr: ClientAddrResolver::direct(),
            key: None,
            allow_keys: Vec::new(),
        }
    }

    /// Keys requests with the service's own function instead of the
    /// configured `key`: for example by the user an authentication
    /// middleware verified and left in the request extensions. `None`
    /// makes the request unidentified (the `overflow` rule applies), so
    /// fall back to the address yourself where that fits:
    ///
    /// ```
    /// use appenv_config::{AppEnv, Section};
    /// use appenv_rate_limit::{ClientKey, RateLimitConfig, RateLimitLayer};
    ///
    /// #[derive(Clone)]
    /// struct Claims { sub: String }
    ///
    /// let config = RateLimitConfig::defaults(AppEnv::Production);
    /// let layer = RateLimitLayer::builder(&config)
    ///     .key_with(|req| match req.extensions().get::<Claims>() {
    ///         Some(claims) => Some(ClientKey::from_identity(&claims.sub)),
    ///         None => req.client_ip().map(ClientKey::from_ip),
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    ///
    /// The function runs on every request, before the decision; keep it
    /// cheap (read what the middleware left, do not verify tokens again).
    /// Place this layer inside the authentication middleware so the
    /// extensions are there. Composite keys: return
    /// [`ClientKey::composite`] of the parts.
    pub fn key_with<F>(mut self, key: F) -> Self
    where
        F: Fn(&KeyRequest<'_>) -> Option<ClientKey> + Send + Sync + 'static,
    {
        self.key = Some(Arc::new(key));
        self
    }

    /// Adds an allow-list entry (as in the `allow` setting: an address or
    /// CIDR, `key:<value>`, `hdr:<hex>`, `id:<hex>`): matching clients are
    /// never limited. Entries are validated by [`build`](Self::build) with
    /// the configuration's.
    pub fn allow(mut self, entry: impl Into<String>) -> Self {
        self.config.allow.push(entry.into());
        self
    }

    /// Adds a key that is never limited (an address, a header value's or
    /// an identity's key).
    pub fn allow_key(mut self, key: ClientKey) -> Self {
        self.allow_keys.push(key);
        self
    }

    /// Gives requests matching `pattern` their own quota (as the `routes`
    /// setting, which it adds to or replaces for that pattern): see the
    /// crate docs for the pattern syntax and matching.
    ///
    /// ```
    /// use appenv_config::{AppEnv, Section};
    /// use appenv_rate_limit::{RateLimitConfig, RateLimitLayer, RouteQuota};
    ///
    /// let config = RateLimitConfig::defaults(AppEnv::Production);
    /// let layer = RateLimitLayer::builder(&config)
    ///     .route("POST /v1/login", RouteQuota::new(5, 60_000).with_policy("login"))
    ///     .build()
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    pub fn route(mut self, pattern: impl Into<String>, quota: RouteQuota) -> Self {
        self.config.routes.insert(pattern.into(), quota);
        self
    }

    /// How the client address is found for `key = "ip"`: the service's one
    /// resolver, built from the server section with
    /// [`ServerConfig::client_addr`](appenv_config::ServerConfig::client_addr)
    /// (the telemetry layer's `client.address` uses the same one). Without
    /// it, the peer address is the client.
    pub fn client_addr(mut self, resolver: ClientAddrResolver) -> Self {
        self.client_addr = resolver;
        self
    }

    /// The policy name, shown in `RateLimit`/`RateLimit-Policy` and used in
    /// Redis keys: give each route group its own.
    pub fn policy(mut self, name: impl Into<String>) -> Self {
        self.config.policy = name.into();
        self
    }

    /// `max` requests per `window` (the burst stays as configured; `0`
    /// means `max`).
    pub fn quota(mut self, max: u32, window: Duration) -> Self {
        self.config.max = max;
        self.config.window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Requests allowed at once.
    pub fn burst(mut self, burst: u32) -> Self {
        self.config.burst = burst;
        self
    }

    /// Every request costs `weight` (at least 1; a weight above the burst is
    /// charged as the whole burst, so such a request still passes when the
    /// client has been idle).
    pub fn weight(mut self, weight: u32) -> Self {
        self.weigher = Weigher::Fixed(weight);
        self
    }

    /// The cost of each request is computed from its head.
    pub fn weigh_with<F>(mut self, weigh: F) -> Self
    where
        F: Fn(&Parts) -> u32 + Send + Sync + 'static,
    {
        self.weigher = Weigher::Custom(Arc::new(weigh));
        self
    }

    /// How long Redis is left alone after its breaker opened before one
    /// request probes it again (default 1 s). Meanwhile the failure mode
    /// decides, without waiting on Redis.
    pub fn redis_retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = Some(interval);
        self
    }

    /// Builds the layer.
    ///
    /// # Errors
    ///
    /// As [`RateLimitLayer::new`].
    pub fn build(self) -> Result<RateLimitLayer, Error> {
        self.config.validate()?;
        let mut allow = AllowList::new(&self.config.allow);
        for key in &self.allow_keys {
            allow.insert_key(key);
        }
        let mut extractor = KeyExtractor::new(self.config.key.clone(), self.client_addr, allow);
        if let Some(key) = self.key {
            extractor = extractor.with_custom(key);
        }
        let core = Core::new(&self.config, self.weigher, self.retry_interval, extractor)?;
        Ok(RateLimitLayer {
            core: Arc::new(core),
        })
    }
}
