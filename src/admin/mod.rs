//! The venue staff's side of the kiosk: sign-in (`auth`), the audit log
//! (`audit`), the CSV export (`export`), the dashboard's figures
//! (`stats`), the staff page's certificate (`tls`), the actions staff take
//! on guests' jobs (`actions`) and the end-of-event wipe (here). The admin
//! listener in `web::admin` is a thin HTTP layer over these.

pub mod actions;
pub mod audit;
pub mod auth;
pub mod export;
pub mod stats;
pub mod throttle;
pub mod tls;

use std::path::Path;

use crate::clock::SharedClock;
use crate::jobs::retention;
use crate::jobs::{Job, JobId, JobStore, Status, StoreError};

pub use actions::{ActionError, Desk, Rerender};
pub use audit::Audit;
pub use auth::StaffAuth;
pub use throttle::LoginThrottle;

/// The staff state the admin listener holds.
pub struct Admin {
    pub auth: StaffAuth,
    pub audit: Audit,
    pub throttle: LoginThrottle,
    /// The store's clock: sessions and the throttle count by it.
    pub clock: SharedClock,
}

impl Admin {
    pub fn open(store: &JobStore) -> Result<Self, StoreError> {
        Ok(Self {
            auth: StaffAuth::new(store.tree("staff")?),
            audit: Audit::new(store.tree("audit")?, std::sync::Arc::clone(store.clock())),
            throttle: LoginThrottle::open(store.tree("login_throttle")?, store.now_ms())?,
            clock: std::sync::Arc::clone(store.clock()),
        })
    }
}

/// What the end-of-event wipe removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndScope {
    /// Every guest photo and video, paid or not.
    All,
    /// Everything except unlocked videos still in their download window.
    KeepDownloadWindow,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct EndReport {
    pub removed: Vec<JobId>,
    /// Unlocked videos left for their guests to download.
    pub kept: Vec<JobId>,
    /// Being rendered right now: left alone (retention removes it later).
    pub busy: Vec<JobId>,
}

/// Which jobs the wipe removes (pure, for the confirmation page too).
pub fn end_plan(jobs: &[Job], scope: EndScope, paid_hours: u32, now_ms: i64) -> EndReport {
    let window = i64::from(paid_hours) * 3_600_000;
    let mut r = EndReport::default();
    for j in jobs {
        let in_window =
            j.status == Status::Unlocked && j.unlocked_at.unwrap_or(j.updated_at) + window > now_ms;
        if j.status == Status::Rendering {
            r.busy.push(j.id);
        } else if scope == EndScope::KeepDownloadWindow && in_window {
            r.kept.push(j.id);
        } else {
            r.removed.push(j.id);
        }
    }
    r
}

/// Carries out [`end_plan`]; a job that started rendering meanwhile is
/// reported as busy, not half-deleted.
pub async fn end_of_event(
    store: &JobStore,
    data_dir: &Path,
    scope: EndScope,
    paid_hours: u32,
) -> Result<EndReport, StoreError> {
    let mut plan = end_plan(&store.all()?, scope, paid_hours, store.now_ms());
    let mut removed = Vec::with_capacity(plan.removed.len());
    for id in plan.removed {
        match retention::delete_now(store, data_dir, id).await {
            Ok(_) => removed.push(id),
            Err(StoreError::IllegalTransition { .. }) => plan.busy.push(id),
            Err(e) => return Err(e),
        }
    }
    plan.removed = removed;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_a_simulated_clock_a_staff_session_ends_after_its_hours_or_a_long_jump_back() {
        use crate::clock::{Clock, SimClock};
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = SimClock::at(1_700_000_000_000);
        let store = JobStore::open_with_clock(&dir.path().join("db"), clock.clone()).expect("open");
        let admin = Admin::open(&store).expect("admin");
        let (token, _) = admin
            .auth
            .open_session(admin.clock.wall_ms())
            .expect("session");
        let live = |admin: &Admin| {
            let now = admin.clock.wall_ms();
            admin.auth.session(&token, now).expect("lookup").is_some()
        };
        clock.advance(std::time::Duration::from_millis(
            auth::SESSION_MS as u64 - 1,
        ));
        assert!(live(&admin), "a moment before its end");
        clock.advance(std::time::Duration::from_millis(1));
        assert!(!live(&admin), "ended");

        let (token, _) = admin.auth.open_session(clock.wall_ms()).expect("session");
        // The wall clock set back further than a session lasts: a session
        // from "the future" is not trusted.
        clock.set_wall(clock.wall_ms() - auth::SESSION_MS - 1);
        let now = admin.clock.wall_ms();
        assert!(admin.auth.session(&token, now).expect("lookup").is_none());
    }

    #[test]
    fn end_plan_keeps_paid_videos_in_their_window_when_asked() {
        let now = 100 * 3_600_000;
        let mk = |status: Status, unlocked_h: Option<i64>| {
            let mut j = Job::new("soft_smile".parse().expect("preset id"), "s.jpg", 0);
            j.status = status;
            j.unlocked_at = unlocked_h.map(|h| h * 3_600_000);
            j
        };
        let jobs = vec![
            mk(Status::PreviewReady, None),
            mk(Status::Unlocked, Some(99)),
            mk(Status::Unlocked, Some(10)),
            mk(Status::Rendering, None),
        ];
        let keep = end_plan(&jobs, EndScope::KeepDownloadWindow, 72, now);
        assert_eq!(keep.removed, vec![jobs[0].id, jobs[2].id]);
        assert_eq!(keep.kept, vec![jobs[1].id]);
        assert_eq!(keep.busy, vec![jobs[3].id]);
        let all = end_plan(&jobs, EndScope::All, 72, now);
        assert_eq!(all.removed.len(), 3);
        assert!(all.kept.is_empty());
    }
}
