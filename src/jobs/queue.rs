//! The two halves of the render queue that are not the store's `queued`
//! index: [`Admission`], which uploads pass through (a bounded place,
//! then a wake-up for the worker), and [`WorkerStatus`], which the worker
//! writes and health, the dashboard and the watchdog read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::JobId;

/// Places for uploads, and the worker's wake-up.
#[derive(Default)]
pub struct Admission {
    notify: Notify,
    /// Uploads past the queue check but not yet recorded as queued.
    reserved: Mutex<usize>,
}

/// A place in the queue, held from the limit check until the job is
/// recorded as queued.
pub struct Reservation {
    admission: Arc<Admission>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Ok(mut n) = self.admission.reserved.lock() {
            *n = n.saturating_sub(1);
        }
    }
}

impl Admission {
    /// A job was queued: the worker looks at the store again.
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// Until the next [`Admission::wake`] (one that came while nobody
    /// waited counts).
    pub async fn woken(&self) {
        self.notify.notified().await;
    }

    /// A place for one more upload when `queued()` plus the uploads still
    /// being checked is under `limit`: a burst of uploads cannot all pass
    /// the limit before any of them is recorded.
    pub fn reserve(
        self: &Arc<Self>,
        queued: impl FnOnce() -> usize,
        limit: usize,
    ) -> Option<Reservation> {
        let mut reserved = self.reserved.lock().ok()?;
        if queued().saturating_add(*reserved) >= limit {
            return None;
        }
        *reserved += 1;
        Some(Reservation {
            admission: Arc::clone(self),
        })
    }
}

/// What the render worker is doing, as it last said.
#[derive(Default)]
pub struct WorkerStatus {
    /// The job being rendered now, for health and the admin page.
    current: Mutex<Option<JobId>>,
    /// The last render's animator time per frame, in µs (0: none yet).
    last_us_per_frame: AtomicU64,
    /// When the worker last showed it is alive, for the watchdog.
    heartbeat: Mutex<Option<Instant>>,
}

impl WorkerStatus {
    pub fn current(&self) -> Option<JobId> {
        self.current.lock().map(|c| *c).unwrap_or(None)
    }

    /// Milliseconds per frame of the last finished render.
    pub fn last_ms_per_frame(&self) -> Option<f64> {
        let us = self.last_us_per_frame.load(Ordering::Relaxed);
        (us > 0).then(|| us as f64 / 1000.0)
    }

    /// The worker is alive (its loop turned, or a frame was rendered).
    pub fn beat(&self) {
        if let Ok(mut h) = self.heartbeat.lock() {
            *h = Some(Instant::now());
        }
    }

    /// How long since the last [`WorkerStatus::beat`] (zero before the
    /// first: the worker has not started yet).
    pub fn silent_for(&self) -> Duration {
        self.heartbeat
            .lock()
            .ok()
            .and_then(|h| h.map(|t| t.elapsed()))
            .unwrap_or(Duration::ZERO)
    }

    pub(super) fn set_current(&self, id: Option<JobId>) {
        if let Ok(mut c) = self.current.lock() {
            *c = id;
        }
    }

    pub(super) fn set_ms_per_frame(&self, ms: f64) {
        let us = (ms * 1000.0).round().max(1.0) as u64;
        self.last_us_per_frame.store(us, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_count_against_the_limit_until_dropped() {
        let admission = Arc::new(Admission::default());
        let a = admission.reserve(|| 1, 3).expect("room");
        let _b = admission.reserve(|| 1, 3).expect("room");
        assert!(
            admission.reserve(|| 1, 3).is_none(),
            "1 queued + 2 reserved"
        );
        drop(a);
        assert!(admission.reserve(|| 1, 3).is_some());
        assert!(admission.reserve(|| 3, 3).is_none());
    }

    #[test]
    fn the_status_reads_what_the_worker_wrote() {
        let status = WorkerStatus::default();
        assert_eq!(status.silent_for(), Duration::ZERO, "not started yet");
        assert_eq!(status.last_ms_per_frame(), None);
        let id = JobId::generate();
        status.set_current(Some(id));
        status.set_ms_per_frame(12.5);
        assert_eq!(status.current(), Some(id));
        assert_eq!(status.last_ms_per_frame(), Some(12.5));
        status.set_current(None);
        assert_eq!(status.current(), None);
    }
}
