//! The limiter's clock: monotonic, and under tokio's control in tests.

use governor::clock::Clock;
use governor::nanos::Nanos;
use tokio::time::Instant;

/// A monotonic clock read through [`tokio::time::Instant`].
///
/// Outside a paused runtime this is `std::time::Instant` (no TSC, so it
/// cannot run backwards when a thread changes cores, governor#299). Inside a
/// runtime with a paused clock it follows `tokio::time::advance`, which makes
/// time-dependent behaviour testable without sleeping. It is created once per
/// limiter; the rejection path only reads it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokioClock {
    origin: Instant,
}

impl TokioClock {
    pub(crate) fn new() -> Self {
        TokioClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(Instant::now().saturating_duration_since(self.origin))
    }
}
