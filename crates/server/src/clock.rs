//! The one clock: every reading of the wall clock in the daemon goes through a [`Clock`]
//! passed in, so that a test can run the daemon's timers on tokio's paused clock
//! ([`TokioClock`]) instead of sleeping.

/// Where the time comes from: seconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// Now, as a DNSSEC time (RFC 4034 §3.1.5: 32-bit serial number arithmetic).
    fn now(&self) -> u32;

    /// Now, in full: TSIG's time signed is 48 bits wide (RFC 8945 §4.3).
    fn unix_time(&self) -> u64 {
        u64::from(self.now())
    }
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u32 {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // DNSSEC times are 32-bit serial numbers (RFC 4034 §3.1.5): truncation is the definition.
        secs as u32
    }

    fn unix_time(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that starts at a fixed Unix time and follows tokio's clock from there, so a test
/// with a paused runtime (`start_paused = true`) moves it forward without sleeping.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    start_unix: u32,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `start_unix` now.
    pub fn new(start_unix: u32) -> Self {
        Self {
            start_unix,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> u32 {
        let elapsed = tokio::time::Instant::now()
            .duration_since(self.start)
            .as_secs();
        self.start_unix.wrapping_add(elapsed as u32)
    }
}
