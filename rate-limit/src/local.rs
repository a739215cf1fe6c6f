//! The in-memory limiter: governor's GCRA over a [`BoundedStore`], with
//! expiry run by the limiter itself.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::clock::{TokioClock, clear_last_reading, take_last_reading};
use crate::config::Overflow;
use crate::decision::{Decision, DecisionSource};
use crate::key::ClientKey;
use crate::store::{BoundedStore, SharedStore, take_last_tat};

/// The GCRA parameters shared by the memory and Redis limiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuotaParams {
    /// Requests per window.
    pub(crate) max: u32,
    /// The window.
    pub(crate) window: Duration,
    /// Requests at once.
    pub(crate) burst: u32,
    /// One request's worth of time (`window / max`, rounded up to the
    /// nanosecond so the limit is never exceeded).
    pub(crate) interval: Duration,
}

impl QuotaParams {
    pub(crate) fn new(max: u32, window: Duration, burst: u32) -> Self {
        let max = max.max(1);
        let burst = burst.max(1);
        let window_ns = window.as_nanos().max(1);
        let interval_ns = window_ns.div_ceil(u128::from(max));
        let interval = Duration::from_nanos(u64::try_from(interval_ns).unwrap_or(u64::MAX));
        QuotaParams {
            max,
            window,
            burst,
            interval,
        }
    }

    /// The weight actually charged: at least 1, at most the burst (a
    /// heavier request could never pass, so it is charged a full burst).
    pub(crate) fn clamp_weight(&self, weight: u32) -> u32 {
        weight.clamp(1, self.burst)
    }
}

/// Sweeps never run more often than this when the key cap is reached.
const FULL_SWEEP_MIN: Duration = Duration::from_secs(1);

type Governor = RateLimiter<ClientKey, SharedStore, TokioClock, StateInformationMiddleware>;

/// One replica's limiter.
#[derive(Debug)]
pub(crate) struct LocalLimiter {
    limiter: Governor,
    /// The clock reading the limiter's state is relative to (governor
    /// stores times since the limiter was created).
    start: Nanos,
    store: Arc<BoundedStore>,
    params: QuotaParams,
    last_sweep: AtomicU64,
    sweep_every: Nanos,
}

impl LocalLimiter {
    pub(crate) fn new(params: QuotaParams, max_keys: usize, overflow: Overflow) -> Self {
        let quota = Quota::with_period(params.interval)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(params.burst).unwrap_or(NonZeroU32::MIN));
        let clock = TokioClock::new();
        let start = clock.now();
        let store = Arc::new(BoundedStore::new(max_keys, overflow, start));
        let limiter: Governor = RateLimiter::new(quota, SharedStore(Arc::clone(&store)), clock);
        // Keys whose state has returned to "fresh" are dropped at least once
        // per window (no sooner than every second, at least every minute).
        let every = params
            .window
            .clamp(Duration::from_secs(1), Duration::from_secs(60));
        LocalLimiter {
            limiter,
            start,
            store,
            params,
            last_sweep: AtomicU64::new(0),
            sweep_every: Nanos::from(every),
        }
    }

    pub(crate) fn params(&self) -> &QuotaParams {
        &self.params
    }

    /// One GCRA step for `key` at `weight`.
    pub(crate) fn check(&self, key: &ClientKey, weight: u32, source: DecisionSource) -> Decision {
        let weight = self.params.clamp_weight(weight);
        let n = NonZeroU32::new(weight).unwrap_or(NonZeroU32::MIN);
        clear_last_reading();
        let outcome = self.limiter.check_key_n(key, n);
        // The instant governor decided at (one clock read per decision).
        let now = take_last_reading().unwrap_or_else(|| self.limiter.clock().now());
        let decision = match outcome {
            Ok(Ok(snapshot)) => {
                let remaining = snapshot.remaining_burst_capacity();
                // The new state is the time at which the whole burst is
                // back: `t` of the `RateLimit` field, exactly.
                let reset = take_last_tat().map_or(Duration::ZERO, |tat| {
                    Duration::from((self.start + tat).saturating_sub(now))
                });
                Decision::allowed(remaining, reset, source)
            }
            Ok(Err(not_until)) => Decision::limited(not_until.wait_time_from(now), source),
            // Unreachable: the weight is clamped to the burst.
            Err(_) => Decision::limited(self.params.window, source),
        };
        self.maintain(now);
        decision
    }

    /// Drops expired keys when due. Runs inside a request, so no thread or
    /// task needs to be spawned by the user; costs about 12 ms per million
    /// keys, at most once per second.
    fn maintain(&self, now: Nanos) {
        let now = now.as_u64();
        let last = self.last_sweep.load(Ordering::Relaxed);
        let since = Nanos::from(now.saturating_sub(last));
        let due = if self.store.is_full() {
            since >= Nanos::from(FULL_SWEEP_MIN)
        } else {
            since >= self.sweep_every
        };
        if due
            && self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.sweep();
        }
    }

    /// Drops every key whose state is indistinguishable from a fresh one.
    pub(crate) fn sweep(&self) {
        self.limiter.retain_recent();
        if self.store.len() < self.store.capacity() / 4 {
            self.limiter.shrink_to_fit();
        }
    }

    /// Keys tracked right now.
    pub(crate) fn tracked_keys(&self) -> usize {
        self.limiter.len()
    }

    pub(crate) fn store(&self) -> &BoundedStore {
        &self.store
    }
}
