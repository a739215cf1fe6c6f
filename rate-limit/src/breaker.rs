//! The circuit breaker in front of the Redis backend.
//!
//! - **Closed** (healthy): every decision asks Redis. It opens after
//!   [`FAILURE_RUN`] failures in a row, or when at least [`RATE_MIN_CALLS`]
//!   calls finished within one [`RATE_WINDOW`] and half or more of them
//!   failed. One slow call never opens it.
//! - **Open**: no decision waits on Redis; the failure mode decides. After
//!   the retry interval it becomes half-open.
//! - **Half-open**: exactly one request (the probe) asks Redis; every other
//!   request is decided by the failure mode meanwhile. The probe's success
//!   closes the breaker, its failure opens it for another interval.
//!
//! Every transition starts a new *epoch*; a call records its outcome only if
//! the epoch it started in is still current. So calls that were in flight
//! when the breaker opened (successes that arrive just after a run of
//! timeouts, say) neither close it again nor count against the next
//! probe: no down/recovered pairs a millisecond apart.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Consecutive failures that open the breaker.
pub(crate) const FAILURE_RUN: u32 = 5;
/// The window of the failure-rate rule.
pub(crate) const RATE_WINDOW: Duration = Duration::from_secs(1);
/// Calls a window needs before its failure rate counts.
pub(crate) const RATE_MIN_CALLS: u32 = 20;

#[derive(Debug)]
enum State {
    Closed {
        run: u32,
        window_start: Instant,
        calls: u32,
        failures: u32,
    },
    Open {
        until: Instant,
    },
    HalfOpen,
}

#[derive(Debug)]
struct Inner {
    state: State,
    epoch: u64,
}

/// What a transition did, for the caller to log and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    None,
    Opened,
    Reopened,
    Closed,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    inner: Mutex<Inner>,
    retry_interval: Duration,
}

/// Permission to call Redis, tied to the epoch it was given in.
#[derive(Debug)]
pub(crate) struct Ticket<'a> {
    breaker: &'a Breaker,
    epoch: u64,
    probe: bool,
    done: bool,
}

impl Ticket<'_> {
    /// Records the call's outcome; ignored when the breaker changed state
    /// since the call started.
    pub(crate) fn record(mut self, ok: bool) -> Transition {
        self.done = true;
        self.breaker.record(self.epoch, self.probe, ok)
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        // A probe abandoned before it finished (its request was cancelled):
        // let the next request probe instead of staying half-open forever.
        if !self.done && self.probe {
            let mut inner = self.breaker.lock();
            if inner.epoch == self.epoch && matches!(inner.state, State::HalfOpen) {
                inner.state = State::Open {
                    until: Instant::now(),
                };
            }
        }
    }
}

impl Breaker {
    pub(crate) fn new(retry_interval: Duration) -> Self {
        Breaker {
            inner: Mutex::new(Inner {
                state: closed(Instant::now()),
                epoch: 0,
            }),
            retry_interval,
        }
    }

    pub(crate) fn retry_interval(&self) -> Duration {
        self.retry_interval
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether Redis may be asked now; `None` while open, or while another
    /// request is the half-open probe.
    pub(crate) fn admit(&self) -> Option<Ticket<'_>> {
        let mut inner = self.lock();
        let probe = match inner.state {
            State::Closed { .. } => false,
            State::HalfOpen => return None,
            State::Open { until } => {
                if Instant::now() < until {
                    return None;
                }
                inner.state = State::HalfOpen;
                inner.epoch += 1;
                true
            }
        };
        Some(Ticket {
            breaker: self,
            epoch: inner.epoch,
            probe,
            done: false,
        })
    }

    /// Opens the breaker at once (Redis unreachable at startup).
    pub(crate) fn trip(&self) -> Transition {
        let mut inner = self.lock();
        let was_closed = matches!(inner.state, State::Closed { .. });
        inner.state = State::Open {
            until: Instant::now() + self.retry_interval,
        };
        inner.epoch += 1;
        if was_closed {
            Transition::Opened
        } else {
            Transition::Reopened
        }
    }

    /// Lets the next request probe at once (a connection was just made).
    pub(crate) fn probe_now(&self) {
        let mut inner = self.lock();
        if let State::Open { until } = &mut inner.state {
            *until = Instant::now();
        }
    }

    /// Whether the breaker is open or half-open.
    pub(crate) fn is_open(&self) -> bool {
        !matches!(self.lock().state, State::Closed { .. })
    }

    fn record(&self, epoch: u64, probe: bool, ok: bool) -> Transition {
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return Transition::None;
        }
        let now = Instant::now();
        if probe {
            inner.epoch += 1;
            return if ok {
                inner.state = closed(now);
                Transition::Closed
            } else {
                inner.state = State::Open {
                    until: now + self.retry_interval,
                };
                Transition::Reopened
            };
        }
        let State::Closed {
            run,
            window_start,
            calls,
            failures,
        } = &mut inner.state
        else {
            return Transition::None;
        };
        if now.duration_since(*window_start) >= RATE_WINDOW {
            *window_start = now;
            *calls = 0;
            *failures = 0;
        }
        *calls += 1;
        if ok {
            *run = 0;
            return Transition::None;
        }
        *run += 1;
        *failures += 1;
        let by_run = *run >= FAILURE_RUN;
        let by_rate = *calls >= RATE_MIN_CALLS && *failures * 2 >= *calls;
        if !(by_run || by_rate) {
            return Transition::None;
        }
        inner.state = State::Open {
            until: now + self.retry_interval,
        };
        inner.epoch += 1;
        Transition::Opened
    }
}

fn closed(now: Instant) -> State {
    State::Closed {
        run: 0,
        window_start: now,
        calls: 0,
        failures: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(1);

    fn fail(b: &Breaker) -> Transition {
        b.admit().expect("admitted").record(false)
    }

    #[tokio::test(start_paused = true)]
    async fn one_failure_does_not_open_a_run_does() {
        let b = Breaker::new(INTERVAL);
        for _ in 0..FAILURE_RUN - 1 {
            assert_eq!(fail(&b), Transition::None);
        }
        // A success resets the run.
        assert_eq!(b.admit().unwrap().record(true), Transition::None);
        for _ in 0..FAILURE_RUN - 1 {
            assert_eq!(fail(&b), Transition::None);
        }
        assert_eq!(fail(&b), Transition::Opened);
        assert!(b.is_open());
        assert!(b.admit().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_high_failure_rate_opens_without_a_run() {
        let b = Breaker::new(INTERVAL);
        let mut opened = false;
        for i in 0..RATE_MIN_CALLS {
            let t = b.admit().unwrap().record(i % 2 == 0);
            opened |= t == Transition::Opened;
        }
        assert!(opened);
        // The same failures spread over many windows do not.
        let b = Breaker::new(INTERVAL);
        for i in 0..200 {
            tokio::time::advance(Duration::from_millis(100)).await;
            assert_eq!(b.admit().unwrap().record(i % 4 != 0), Transition::None);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_admits_exactly_one_probe() {
        let b = Breaker::new(INTERVAL);
        b.trip();
        assert!(b.admit().is_none());
        tokio::time::advance(INTERVAL).await;
        let probe = b.admit().expect("the probe");
        assert!(b.admit().is_none(), "a second probe");
        assert_eq!(probe.record(false), Transition::Reopened);
        assert!(b.admit().is_none());
        tokio::time::advance(INTERVAL).await;
        let probe = b.admit().unwrap();
        assert_eq!(probe.record(true), Transition::Closed);
        assert!(!b.is_open());
    }

    #[tokio::test(start_paused = true)]
    async fn calls_started_before_the_trip_are_ignored() {
        let b = Breaker::new(INTERVAL);
        let mut in_flight: Vec<_> = (0..10).map(|_| b.admit().unwrap()).collect();
        let late_failure = in_flight.pop().unwrap();
        for _ in 0..FAILURE_RUN {
            fail(&b);
        }
        assert!(b.is_open());
        // Successes of calls that started while closed arrive after the
        // trip: the breaker stays open.
        for ticket in in_flight {
            assert_eq!(ticket.record(true), Transition::None);
        }
        assert!(b.is_open());
        // A late failure does not disturb the probe either.
        tokio::time::advance(INTERVAL).await;
        let probe = b.admit().unwrap();
        assert_eq!(late_failure.record(false), Transition::None);
        assert_eq!(probe.record(true), Transition::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_lets_the_next_request_probe() {
        let b = Breaker::new(INTERVAL);
        b.trip();
        tokio::time::advance(INTERVAL).await;
        drop(b.admit().unwrap());
        assert!(b.admit().is_some(), "next request probes");
    }
}
