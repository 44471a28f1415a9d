//! Rate-limited logging for every line that a client's input can trigger: one line per
//! interval and call site at most, carrying how many were suppressed since the last one.
//!
//! A line per malformed packet or refused connection lets anyone who can send packets fill the
//! disk (20,000 packets with a bad EDNS option once wrote 2.8 MB of warnings in 1.8 s). Every
//! such call site owns a `static` [`RateLimitedLog`] and logs only when [`RateLimitedLog::admit`]
//! says so:
//!
//! ```ignore
//! static MALFORMED: RateLimitedLog = RateLimitedLog::new(LOG_INTERVAL);
//! if let Some(suppressed) = MALFORMED.admit() {
//!     tracing::info!(%src, suppressed, "malformed request: FORMERR");
//! }
//! ```

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The interval of every input-triggered log line: at most one per call site per 10 s.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// One call site's rate limit: at most one line per `interval`.
#[derive(Debug)]
pub(crate) struct RateLimitedLog {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    /// A limit of one line per `interval`, usable in a `static`.
    pub(crate) const fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new(State {
                last: None,
                suppressed: 0,
            }),
        }
    }

    /// `Some(suppressed)` when a line may be written now (with the number of lines suppressed
    /// since the last one written), `None` when this one is to be suppressed.
    pub(crate) fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        // A poisoned lock only means a thread panicked while counting; the count stays usable.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match state.last {
            Some(last) if now.saturating_duration_since(last) < self.interval => {
                state.suppressed = state.suppressed.saturating_add(1);
                None
            }
            _ => {
                state.last = Some(now);
                Some(std::mem::take(&mut state.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_of_suppressed_ones() {
        let log = RateLimitedLog::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(log.admit_at(start), Some(0));
        for i in 0..20_000u64 {
            assert_eq!(log.admit_at(start + Duration::from_micros(i)), None);
        }
        assert_eq!(log.admit_at(start + Duration::from_secs(10)), Some(20_000));
        assert_eq!(log.admit_at(start + Duration::from_secs(11)), None);
    }
}
