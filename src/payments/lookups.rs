//! When a guest comes back from Checkout (`/g/{token}?session_id=…`) the
//! page asks Stripe about the job's session at once instead of waiting
//! for the poller; the page reloads every 2 s while it waits, and anyone
//! can load it, so Stripe is asked at most once per job every
//! [`LOOKUP_EVERY`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::jobs::JobId;

pub const LOOKUP_EVERY: Duration = Duration::from_secs(5);
/// Jobs remembered at once; beyond it the oldest lookups are forgotten.
const MAX_JOBS: usize = 4096;

#[derive(Default)]
pub struct Lookups(Mutex<HashMap<JobId, Instant>>);

impl Lookups {
    /// Whether Stripe may be asked about `id`'s session now; if so, the
    /// lookup is recorded in the same step.
    pub fn allow(&self, id: JobId, now: Instant) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map
            .get(&id)
            .is_some_and(|last| now.saturating_duration_since(*last) < LOOKUP_EVERY)
        {
            return false;
        }
        if map.len() >= MAX_JOBS {
            map.retain(|_, last| now.saturating_duration_since(*last) < LOOKUP_EVERY);
        }
        if map.len() < MAX_JOBS {
            map.insert(id, now);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lookup_per_job_every_few_seconds() {
        let l = Lookups::default();
        let (a, b) = (JobId::generate(), JobId::generate());
        let t = Instant::now();
        assert!(l.allow(a, t));
        assert!(!l.allow(a, t + Duration::from_secs(1)));
        assert!(l.allow(b, t + Duration::from_secs(1)), "per job");
        assert!(l.allow(a, t + LOOKUP_EVERY));
    }
}
