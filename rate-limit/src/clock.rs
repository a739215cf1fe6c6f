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

thread_local! {
    /// This thread's last reading of any [`TokioClock`].
    static LAST_READING: std::cell::Cell<Option<Nanos>> = const { std::cell::Cell::new(None) };
}

/// Forgets this thread's last clock reading.
pub(crate) fn clear_last_reading() {
    LAST_READING.with(|cell| cell.set(None));
}

/// This thread's last clock reading, left in place: the store reads "now"
/// of the decision governor is making.
pub(crate) fn last_reading() -> Option<Nanos> {
    LAST_READING.with(std::cell::Cell::get)
}

/// Takes this thread's last clock reading: the decision just made by
/// governor on this thread read the clock once, and the limiter reuses that
/// reading instead of reading the clock a second time.
pub(crate) fn take_last_reading() -> Option<Nanos> {
    LAST_READING.with(std::cell::Cell::take)
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let now = Nanos::from(Instant::now().saturating_duration_since(self.origin));
        LAST_READING.with(|cell| cell.set(Some(now)));
        now
    }
}
