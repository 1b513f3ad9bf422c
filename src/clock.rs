//! The kiosk's one clock: wall time (what records, links and Stripe use)
//! and monotonic time (what timeouts and the clock-jump check use), passed
//! in rather than read from the system in every module, so that tests can
//! run retention, sessions, checkout expiry and clock jumps on a
//! simulated clock. The lowest layer: it imports nothing of the crate.
//!
//! Deadlines that go with tokio's own timers (the edge's body timeouts,
//! the camera's frame pacing, the worker's heartbeat for the watchdog)
//! and timings for figures read `Instant::now` directly: they measure
//! I/O, not the time that records, links and payments are judged by.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    /// Wall-clock time in Unix milliseconds. May jump (NTP, a battery-less
    /// board booting in 1970).
    fn wall_ms(&self) -> i64;
    /// Time that only moves forward.
    fn monotonic(&self) -> Instant;
}

/// A clock every part of the kiosk can hold.
pub type SharedClock = Arc<dyn Clock>;

/// The machine's clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn wall_ms(&self) -> i64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH);
        now.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    fn monotonic(&self) -> Instant {
        Instant::now()
    }
}

/// The system clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that moves only when told: [`SimClock::advance`] moves both
/// clocks, [`SimClock::set_wall`] jumps the wall clock alone, as NTP does.
#[derive(Debug)]
pub struct SimClock {
    wall_ms: AtomicI64,
    start: Instant,
    elapsed_ms: AtomicU64,
}

impl SimClock {
    pub fn at(wall_ms: i64) -> Arc<Self> {
        Arc::new(Self {
            wall_ms: AtomicI64::new(wall_ms),
            start: Instant::now(),
            elapsed_ms: AtomicU64::new(0),
        })
    }

    /// Time passes.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.elapsed_ms.fetch_add(ms, Ordering::SeqCst);
        self.wall_ms
            .fetch_add(i64::try_from(ms).unwrap_or(i64::MAX), Ordering::SeqCst);
    }

    /// The wall clock is set to `wall_ms`; no time passes.
    pub fn set_wall(&self, wall_ms: i64) {
        self.wall_ms.store(wall_ms, Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    fn wall_ms(&self) -> i64 {
        self.wall_ms.load(Ordering::SeqCst)
    }

    fn monotonic(&self) -> Instant {
        self.start + Duration::from_millis(self.elapsed_ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulated_clock_moves_only_when_told() {
        let c = SimClock::at(1_000);
        let t0 = c.monotonic();
        assert_eq!(c.wall_ms(), 1_000);
        c.advance(Duration::from_secs(2));
        assert_eq!(c.wall_ms(), 3_000);
        assert_eq!(c.monotonic() - t0, Duration::from_secs(2));
        c.set_wall(0);
        assert_eq!(c.wall_ms(), 0);
        assert_eq!(c.monotonic() - t0, Duration::from_secs(2));
    }

    #[test]
    fn the_system_clock_reads_the_present() {
        // 2024-01-01 in Unix ms: any machine running this is later.
        assert!(SystemClock.wall_ms() > 1_704_067_200_000);
    }
}
