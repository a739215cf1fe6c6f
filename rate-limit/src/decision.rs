//! [`Decision`]: the outcome of one rate-limit check.

use std::time::Duration;

/// What decided a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecisionSource {
    /// This replica's in-memory limiter (`backend = "memory"`).
    Memory,
    /// The shared Redis limiter.
    Redis,
    /// This replica's in-memory limiter standing in for Redis
    /// (`failure_mode = "local"` while Redis is failing).
    Fallback,
    /// No limiter: Redis was failing and `failure_mode = "open"`.
    FailOpen,
    /// No limiter: Redis was failing and `failure_mode = "closed"`.
    FailClosed,
}

impl DecisionSource {
    /// A short lowercase name, as used in log events.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionSource::Memory => "memory",
            DecisionSource::Redis => "redis",
            DecisionSource::Fallback => "fallback",
            DecisionSource::FailOpen => "fail_open",
            DecisionSource::FailClosed => "fail_closed",
        }
    }
}

/// The outcome of one check against a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Requests of weight 1 still allowed right now, after this one.
    pub remaining: u32,
    /// How long until the whole burst is available again.
    pub reset: Duration,
    /// When refused: how long until this request (at its weight) would be
    /// allowed. Zero when allowed.
    pub retry_after: Duration,
    /// What made the decision.
    pub source: DecisionSource,
}

impl Decision {
    pub(crate) fn allowed(remaining: u32, reset: Duration, source: DecisionSource) -> Self {
        Decision {
            allowed: true,
            remaining,
            reset,
            retry_after: Duration::ZERO,
            source,
        }
    }

    pub(crate) fn limited(retry_after: Duration, source: DecisionSource) -> Self {
        Decision {
            allowed: false,
            remaining: 0,
            reset: retry_after,
            retry_after,
            source,
        }
    }

    /// `retry_after` in whole seconds, rounded up and never below 1: the
    /// value of `Retry-After` and of `RateLimit`'s `t` on a rejection.
    pub fn retry_after_secs(&self) -> u64 {
        ceil_secs(self.retry_after).max(1)
    }

    /// `reset` in whole seconds, rounded up: `RateLimit`'s `t` on an
    /// allowed response.
    pub fn reset_secs(&self) -> u64 {
        ceil_secs(self.reset)
    }
}

pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let d = |ms| Decision::limited(Duration::from_millis(ms), DecisionSource::Memory);
        assert_eq!(d(0).retry_after_secs(), 1);
        assert_eq!(d(1).retry_after_secs(), 1);
        assert_eq!(d(999).retry_after_secs(), 1);
        assert_eq!(d(1000).retry_after_secs(), 1);
        assert_eq!(d(1001).retry_after_secs(), 2);
        assert_eq!(
            Decision::limited(Duration::from_nanos(2_000_000_001), DecisionSource::Memory)
                .retry_after_secs(),
            3
        );
    }
}
