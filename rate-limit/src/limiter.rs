//! The shared core of a layer: key extraction, backends, counters, events.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::Request;
use http::request::Parts;

#[cfg(feature = "redis")]
use crate::config::{FailureMode, StateStore};
use crate::config::{Overflow, RateLimitConfig};
use crate::decision::{Decision, DecisionSource};
use crate::headers::{AllowedFields, Fields};
use crate::key::{ClientKey, Identified, KeyExtractor};
use crate::local::{LocalLimiter, QuotaParams};
#[cfg(feature = "redis")]
use crate::redis_backend::{DEFAULT_RETRY_INTERVAL, RedisLimiter, RedisTimings};
use crate::route::{RoutePattern, route_policy};
use crate::stats::{Counters, Stats};

/// How much a request costs.
#[derive(Clone)]
pub(crate) enum Weigher {
    Fixed(u32),
    Custom(Arc<dyn Fn(&Parts) -> u32 + Send + Sync>),
}

impl fmt::Debug for Weigher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Weigher::Fixed(n) => write!(f, "Fixed({n})"),
            Weigher::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// What the service does with a request after the decision.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Call the inner service and add these fields to its response.
    Pass(Option<AllowedFields>),
    /// Answer `429`.
    Limited(Decision),
    /// Answer `503` (backend down, `failure_mode = "closed"`).
    Unavailable(Decision),
}

#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) enabled: bool,
    pub(crate) shadow: bool,
    pub(crate) overflow: Overflow,
    #[cfg(feature = "redis")]
    pub(crate) failure_mode: FailureMode,
    pub(crate) policy: String,
    pub(crate) extractor: KeyExtractor,
    pub(crate) local: LocalLimiter,
    /// The shared backend (`backend = "redis"`); without the `redis`
    /// feature the configuration check refuses that backend.
    #[cfg(feature = "redis")]
    pub(crate) redis: Option<Arc<RedisLimiter>>,
    pub(crate) fields: Fields,
    pub(crate) weigher: Weigher,
    pub(crate) counters: Counters,
    /// Per-route quotas, most specific first; each a core of its own with
    /// the same key, allow-list, backend and header style.
    pub(crate) routes: Vec<(RoutePattern, Arc<Core>)>,
}

/// What a request's key turned out to be, for the service.
pub(crate) enum Keyed {
    /// Decide against this bucket.
    Key(ClientKey),
    /// Pass it on unlimited and without fields (allow-listed, or
    /// unidentified with `overflow = "pass"`).
    Pass,
}

impl Core {
    #[cfg_attr(
        not(feature = "redis"),
        allow(unused_variables, clippy::only_used_in_recursion)
    )]
    pub(crate) fn new(
        config: &RateLimitConfig,
        weigher: Weigher,
        retry_interval: Option<std::time::Duration>,
        extractor: KeyExtractor,
    ) -> Result<Self, crate::Error> {
        config.validate()?;
        let mut routes = Vec::with_capacity(config.routes.len());
        for (pattern, quota) in &config.routes {
            let parsed: RoutePattern = pattern
                .parse()
                .map_err(|message: String| crate::Error::invalid("routes", message))?;
            let mut route = config.clone();
            route.routes.clear();
            route.max = quota.max;
            route.window_ms = quota.window_ms;
            route.burst = quota.burst;
            route.policy = route_policy(pattern, quota).to_owned();
            let core = Core::new(&route, weigher.clone(), retry_interval, extractor.clone())?;
            routes.push((parsed, Arc::new(core)));
        }
        // Most specific first; the sort is stable, so equally specific
        // patterns keep their (alphabetical) order.
        routes.sort_by_key(|(pattern, _)| std::cmp::Reverse(pattern.specificity()));
        let params = QuotaParams::new(config.max, config.window(), config.effective_burst());
        #[cfg(feature = "redis")]
        let redis = match config.backend {
            StateStore::Memory => None,
            StateStore::Redis => {
                let timings = RedisTimings {
                    timeout: std::time::Duration::from_millis(config.redis_timeout_ms),
                    connect_timeout: std::time::Duration::from_millis(
                        config.redis_connect_timeout_ms,
                    ),
                    retry_interval: retry_interval.unwrap_or(DEFAULT_RETRY_INTERVAL),
                };
                let redis = RedisLimiter::new(
                    &config.redis_url,
                    &config.redis_ca_file,
                    timings,
                    &config.redis_prefix,
                    &config.policy,
                    params,
                )?;
                let redis = Arc::new(redis);
                // Connect at startup when there is a runtime to do it on
                // (otherwise the first request connects).
                if tokio::runtime::Handle::try_current().is_ok() {
                    redis.start_connecting();
                }
                Some(redis)
            }
        };
        Ok(Core {
            enabled: config.enabled,
            shadow: config.shadow,
            overflow: config.overflow,
            #[cfg(feature = "redis")]
            failure_mode: config.failure_mode,
            policy: config.policy.clone(),
            extractor,
            local: LocalLimiter::new(params, config.max_tracked_keys, config.overflow),
            #[cfg(feature = "redis")]
            redis,
            fields: Fields::new(&config.policy, &params, config.header_style),
            weigher,
            counters: Counters::default(),
            routes,
        })
    }

    /// The core whose quota `req` counts against: its route's, or this
    /// one.
    pub(crate) fn route<'a, B>(self: &'a Arc<Self>, req: &Request<B>) -> &'a Arc<Core> {
        if self.routes.is_empty() {
            return self;
        }
        let (method, path) = (req.method(), req.uri().path());
        self.routes
            .iter()
            .find(|(pattern, _)| pattern.matches(method, path))
            .map_or(self, |(_, core)| core)
    }

    /// Every core of the layer: this one and its routes'.
    pub(crate) fn cores(&self) -> impl Iterator<Item = &Core> {
        std::iter::once(self).chain(self.routes.iter().map(|(_, core)| &**core))
    }

    /// The request's weight; the request is taken apart and rebuilt only for
    /// a custom weigher.
    pub(crate) fn weigh<B>(&self, req: Request<B>) -> (Request<B>, u32) {
        match &self.weigher {
            Weigher::Fixed(n) => (req, *n),
            Weigher::Custom(f) => {
                let (parts, body) = req.into_parts();
                let weight = f(&parts);
                (Request::from_parts(parts, body), weight)
            }
        }
    }

    /// The request's key, or [`Keyed::Pass`] for a request passed on
    /// unlimited (allow-listed, or unidentified with `overflow = "pass"`).
    pub(crate) fn key_of<B>(&self, req: &Request<B>) -> Keyed {
        match self.extractor.extract(req) {
            Identified::Key(key) => Keyed::Key(key),
            Identified::Allowed => {
                self.counters.allow_listed.fetch_add(1, Ordering::Relaxed);
                Keyed::Pass
            }
            Identified::Unidentified => {
                self.counters.unidentified.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    target: "appenv_rate_limit",
                    event = "unidentified",
                    policy = %self.policy,
                    overflow = ?self.overflow,
                    "request without a usable client key"
                );
                match self.overflow {
                    Overflow::Shared => Keyed::Key(ClientKey::Overflow),
                    Overflow::Pass => Keyed::Pass,
                }
            }
        }
    }

    /// The decision, when it can be made without waiting (memory backend).
    pub(crate) fn decide_now(&self, key: &ClientKey, weight: u32) -> Option<Decision> {
        #[cfg(feature = "redis")]
        if self.redis.is_some() {
            return None;
        }
        Some(self.local.check(key, weight, DecisionSource::Memory))
    }

    /// The decision, from whichever backend is configured.
    pub(crate) async fn decide(&self, key: &ClientKey, weight: u32) -> Decision {
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            return self.decide_shared(redis, key, weight).await;
        }
        self.local.check(key, weight, DecisionSource::Memory)
    }

    /// The shared backend's decision, or the failure mode's when Redis
    /// cannot answer.
    #[cfg(feature = "redis")]
    async fn decide_shared(&self, redis: &RedisLimiter, key: &ClientKey, weight: u32) -> Decision {
        match redis.check(key, weight).await {
            Ok(decision) => decision,
            Err(_) => match self.failure_mode {
                FailureMode::Local => {
                    self.counters.fallback.fetch_add(1, Ordering::Relaxed);
                    self.local.check(key, weight, DecisionSource::Fallback)
                }
                FailureMode::Open => {
                    self.counters.fail_open.fetch_add(1, Ordering::Relaxed);
                    Decision::allowed(0, std::time::Duration::ZERO, DecisionSource::FailOpen)
                }
                FailureMode::Closed => {
                    self.counters.fail_closed.fetch_add(1, Ordering::Relaxed);
                    Decision::limited(redis_retry(redis), DecisionSource::FailClosed)
                }
            },
        }
    }

    /// Counts and logs the decision and says what to do with the request.
    pub(crate) fn verdict(&self, key: &ClientKey, decision: Decision) -> Verdict {
        let source = decision.source.as_str();
        if decision.allowed {
            self.counters.allowed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                target: "appenv_rate_limit",
                event = "decision",
                outcome = "allowed",
                policy = %self.policy,
                source,
                remaining = decision.remaining,
            );
            if self.shadow || decision.source == DecisionSource::FailOpen {
                return Verdict::Pass(None);
            }
            return Verdict::Pass(Some(self.fields.allowed(&decision)));
        }
        if decision.source == DecisionSource::FailClosed {
            tracing::info!(
                target: "appenv_rate_limit",
                event = "decision",
                outcome = "unavailable",
                policy = %self.policy,
                source,
                "request refused: the rate-limit backend is down and failure_mode is closed"
            );
            if self.shadow {
                return Verdict::Pass(None);
            }
            return Verdict::Unavailable(decision);
        }
        if self.shadow {
            self.counters.shadow_limited.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                target: "appenv_rate_limit",
                event = "decision",
                outcome = "shadow_limited",
                policy = %self.policy,
                source,
                client = %key,
                retry_after_s = decision.retry_after_secs(),
                "request over quota passed because shadow mode is on"
            );
            return Verdict::Pass(None);
        }
        self.counters.limited.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            target: "appenv_rate_limit",
            event = "decision",
            outcome = "limited",
            policy = %self.policy,
            source,
            client = %key,
            retry_after_s = decision.retry_after_secs(),
            "request over quota refused"
        );
        Verdict::Limited(decision)
    }

    /// The counters of this core and its routes', added up.
    pub(crate) fn stats(&self) -> Stats {
        self.cores()
            .map(Core::own_stats)
            .fold(Stats::default(), Stats::add)
    }

    fn own_stats(&self) -> Stats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let c = &self.counters;
        #[cfg(feature = "redis")]
        let (backend_errors, backend_down, backend_outages) = match &self.redis {
            Some(r) => (
                load(&r.counters.errors),
                r.is_failing(),
                load(&r.counters.opened),
            ),
            None => (0, false, 0),
        };
        #[cfg(not(feature = "redis"))]
        let (backend_errors, backend_down, backend_outages) = (0, false, 0);
        Stats {
            allowed: load(&c.allowed),
            limited: load(&c.limited),
            shadow_limited: load(&c.shadow_limited),
            unidentified: load(&c.unidentified),
            allow_listed: load(&c.allow_listed),
            overflowed: load(&self.local.store().counters.overflowed),
            backend_errors,
            fallback: load(&c.fallback),
            fail_open: load(&c.fail_open),
            fail_closed: load(&c.fail_closed),
            tracked_keys: self.local.tracked_keys(),
            backend_down,
            backend_outages,
        }
    }
}

#[cfg(feature = "redis")]
fn redis_retry(redis: &RedisLimiter) -> std::time::Duration {
    redis.retry_interval()
}
