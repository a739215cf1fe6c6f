//! [`Stats`]: counters of a layer's decisions.

use std::sync::atomic::AtomicU64;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) allowed: AtomicU64,
    pub(crate) limited: AtomicU64,
    pub(crate) shadow_limited: AtomicU64,
    pub(crate) unidentified: AtomicU64,
    pub(crate) allow_listed: AtomicU64,
    pub(crate) fallback: AtomicU64,
    pub(crate) fail_open: AtomicU64,
    pub(crate) fail_closed: AtomicU64,
}

/// A snapshot of a layer's counters (since it was built, its per-route
/// quotas included), for metrics and health pages. The same facts are emitted as `tracing` events with target
/// `appenv_rate_limit` (see the crate docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Requests allowed.
    pub allowed: u64,
    /// Requests refused with `429`.
    pub limited: u64,
    /// Requests over quota that passed because of shadow mode.
    pub shadow_limited: u64,
    /// Requests whose client could not be identified.
    pub unidentified: u64,
    /// Requests passed unlimited because their client is on the
    /// allow-list.
    pub allow_listed: u64,
    /// Decisions for new keys made while the key cap was reached.
    pub overflowed: u64,
    /// Redis calls that failed or timed out.
    pub backend_errors: u64,
    /// Decisions made by the local fallback while Redis was failing.
    pub fallback: u64,
    /// Requests let through unlimited while Redis was failing (`open`).
    pub fail_open: u64,
    /// Requests refused with `503` while Redis was failing (`closed`).
    pub fail_closed: u64,
    /// Client keys tracked in memory right now.
    pub tracked_keys: usize,
    /// Whether the Redis backend is currently considered down (its circuit
    /// breaker is open or probing).
    pub backend_down: bool,
    /// How many times the Redis backend was declared down (the breaker
    /// opened from healthy), including an unreachable Redis at startup.
    pub backend_outages: u64,
}

impl Stats {
    /// Two snapshots added up (a layer and its per-route quotas).
    pub(crate) fn add(self, other: Stats) -> Stats {
        Stats {
            allowed: self.allowed + other.allowed,
            limited: self.limited + other.limited,
            shadow_limited: self.shadow_limited + other.shadow_limited,
            unidentified: self.unidentified + other.unidentified,
            allow_listed: self.allow_listed + other.allow_listed,
            overflowed: self.overflowed + other.overflowed,
            backend_errors: self.backend_errors + other.backend_errors,
            fallback: self.fallback + other.fallback,
            fail_open: self.fail_open + other.fail_open,
            fail_closed: self.fail_closed + other.fail_closed,
            tracked_keys: self.tracked_keys + other.tracked_keys,
            backend_down: self.backend_down || other.backend_down,
            backend_outages: self.backend_outages + other.backend_outages,
        }
    }
}
