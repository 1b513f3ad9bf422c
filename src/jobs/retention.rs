//! Retention: guests' photos and videos are deleted when their time is up
//! (unpaid and paid separately configurable). A job being rendered cannot
//! expire (the state machine forbids it) and one being downloaded is
//! skipped until the transfer ends.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::config::{EventSettings, LiveSettings};

use super::{job_dir, JobFiles, JobId, JobStore, Status, StoreError};

/// How long an expired record is kept (so an old link says "expired"
/// rather than "not found").
pub const EXPIRED_RECORD_DAYS: i64 = 7;

/// Files being sent right now, per job.
#[derive(Default)]
pub struct InUse(Mutex<HashMap<JobId, usize>>);

/// Held for the duration of a transfer.
pub struct InUseGuard {
    owner: Arc<InUse>,
    id: JobId,
}

impl InUse {
    pub fn begin(self: &Arc<Self>, id: JobId) -> InUseGuard {
        if let Ok(mut map) = self.0.lock() {
            *map.entry(id).or_default() += 1;
        }
        InUseGuard {
            owner: Arc::clone(self),
            id,
        }
    }

    pub fn is_busy(&self, id: JobId) -> bool {
        self.0.lock().map(|m| m.contains_key(&id)).unwrap_or(true)
    }
}

impl Drop for InUseGuard {
    fn drop(&mut self) {
        if let Ok(mut map) = self.owner.0.lock() {
            if let Some(n) = map.get_mut(&self.id) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&self.id);
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub unpaid_hours: u32,
    pub paid_hours: u32,
}

impl From<&EventSettings> for Policy {
    fn from(s: &EventSettings) -> Self {
        Self {
            unpaid_hours: s.retention_unpaid_hours,
            paid_hours: s.retention_paid_hours,
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    pub expired: Vec<JobId>,
    pub deleted: Vec<JobId>,
}

const HOUR_MS: i64 = 3_600_000;

/// Pure: should a job in `status`, created at `created`, unlocked at
/// `unlocked`, expire at `now`?
pub fn is_due(status: Status, created: i64, unlocked: Option<i64>, now: i64, p: Policy) -> bool {
    match status {
        Status::PreviewReady | Status::Failed => {
            now - created >= i64::from(p.unpaid_hours) * HOUR_MS
        }
        Status::Unlocked => {
            now - unlocked.unwrap_or(created).max(created) >= i64::from(p.paid_hours) * HOUR_MS
        }
        _ => false,
    }
}

/// One pass: expire what is due (deleting its files), and drop expired
/// records after [`EXPIRED_RECORD_DAYS`].
pub async fn sweep(
    store: &JobStore,
    data_dir: &Path,
    policy: Policy,
    in_use: &InUse,
    now: i64,
) -> Result<Sweep, StoreError> {
    let mut out = Sweep::default();
    for status in [Status::PreviewReady, Status::Failed, Status::Unlocked] {
        for id in store.ids_with_status(status)? {
            let Some(job) = store.get(id)? else { continue };
            if !is_due(job.status, job.created_at, job.unlocked_at, now, policy)
                || in_use.is_busy(id)
            {
                continue;
            }
            let from = job.status;
            match store.transition(id, Status::Expired, |j| {
                j.files = JobFiles::default();
            }) {
                Ok(_) => {}
                // It changed under us (re-render, unlock): next pass decides.
                Err(StoreError::IllegalTransition { .. }) => continue,
                Err(e) => return Err(e),
            }
            store.flush().await?;
            remove_job_files(data_dir, id);
            tracing::info!(job = %id, from = %from, "expired");
            out.expired.push(id);
        }
    }
    for id in store.ids_with_status(Status::Expired)? {
        let Some(job) = store.get(id)? else { continue };
        if now - job.updated_at >= EXPIRED_RECORD_DAYS * 24 * HOUR_MS {
            store.delete(id)?;
            remove_job_files(data_dir, id);
            out.deleted.push(id);
        }
    }
    if !out.deleted.is_empty() {
        store.flush().await?;
    }
    Ok(out)
}

/// A guest's "delete now": the record and every file, at once. A payment
/// stays in the store's ledger (amount only). Refused while rendering, so
/// the worker never writes into a deleted folder.
pub async fn delete_now(store: &JobStore, data_dir: &Path, id: JobId) -> Result<bool, StoreError> {
    match store.get(id)? {
        None => return Ok(false),
        Some(job) if job.status == Status::Rendering => {
            return Err(StoreError::IllegalTransition {
                id,
                from: Status::Rendering,
                to: Status::Expired,
            })
        }
        Some(_) => {}
    }
    let deleted = store.delete(id)?.is_some();
    store.flush().await?;
    remove_job_files(data_dir, id);
    if deleted {
        tracing::info!(job = %id, "deleted at the guest's request");
    }
    Ok(deleted)
}

fn remove_job_files(data_dir: &Path, id: JobId) {
    let dir = job_dir(data_dir, id);
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(job = %id, "could not delete {}: {e}", dir.display());
        }
    }
}

/// At start-up only (no upload can be in flight): removes job folders that
/// have no record, left by a crash between writing a photo and recording it.
pub fn remove_orphans(store: &JobStore, data_dir: &Path) -> Result<usize, StoreError> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("jobs")) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let known = match name.to_str().and_then(|n| n.parse::<JobId>().ok()) {
            Some(id) => store.contains(id)?,
            None => false,
        };
        if !known {
            let _ = std::fs::remove_dir_all(entry.path());
            removed += 1;
        }
    }
    Ok(removed)
}

/// Runs [`sweep`] every `every` until shutdown.
pub async fn run(
    store: JobStore,
    data_dir: std::path::PathBuf,
    live: Arc<LiveSettings>,
    in_use: Arc<InUse>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let policy = Policy::from(&*live.get());
        match sweep(&store, &data_dir, policy, &in_use, super::now_ms()).await {
            Ok(s) if !s.expired.is_empty() || !s.deleted.is_empty() => {
                tracing::info!(
                    expired = s.expired.len(),
                    deleted = s.deleted.len(),
                    "retention sweep"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!("retention sweep failed: {e}"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::Job;

    const P: Policy = Policy {
        unpaid_hours: 24,
        paid_hours: 72,
    };

    #[test]
    fn due_rules() {
        let h = HOUR_MS;
        assert!(!is_due(Status::PreviewReady, 0, None, 23 * h, P));
        assert!(is_due(Status::PreviewReady, 0, None, 24 * h, P));
        assert!(is_due(Status::Failed, 0, None, 25 * h, P));
        assert!(
            !is_due(Status::Unlocked, 0, Some(10 * h), 81 * h, P),
            "paid: from the unlock"
        );
        assert!(is_due(Status::Unlocked, 0, Some(10 * h), 82 * h, P));
        for s in [
            Status::Rendering,
            Status::Queued,
            Status::Uploaded,
            Status::Expired,
        ] {
            assert!(
                !is_due(s, 0, None, 10_000 * h, P),
                "{s} never expires by time"
            );
        }
    }

    #[tokio::test]
    async fn sweep_expires_due_jobs_but_not_busy_or_rendering_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = JobStore::open(&dir.path().join("db")).expect("open");
        let mk = |status: Status| {
            let job = Job::new("soft_smile", "source.jpg", 0);
            store.insert_new(&job).expect("insert");
            let path = [Status::Queued, Status::Rendering, Status::PreviewReady];
            for s in path.iter().take_while(|_| status != Status::Uploaded) {
                store.transition(job.id, *s, |_| {}).expect("walk");
                if *s == status {
                    break;
                }
            }
            std::fs::create_dir_all(job_dir(dir.path(), job.id)).expect("mkdir");
            job.id
        };
        let ready = mk(Status::PreviewReady);
        let busy = mk(Status::PreviewReady);
        let rendering = mk(Status::Rendering);
        let in_use = Arc::new(InUse::default());
        let guard = in_use.begin(busy);
        let now = crate::jobs::now_ms() + 100 * HOUR_MS;
        let s = sweep(&store, dir.path(), P, &in_use, now)
            .await
            .expect("sweep");
        assert_eq!(s.expired, vec![ready]);
        assert!(!job_dir(dir.path(), ready).exists(), "files deleted");
        assert!(job_dir(dir.path(), busy).exists() && job_dir(dir.path(), rendering).exists());
        assert_eq!(
            store.get(rendering).expect("get").map(|j| j.status),
            Some(Status::Rendering)
        );
        drop(guard);
        let s = sweep(&store, dir.path(), P, &in_use, now)
            .await
            .expect("sweep");
        assert_eq!(s.expired, vec![busy], "after the download ends");
        let s = sweep(&store, dir.path(), P, &in_use, now + HOUR_MS)
            .await
            .expect("sweep");
        assert!(s.deleted.is_empty(), "expired records stay a while");
        let later = now + EXPIRED_RECORD_DAYS * 24 * HOUR_MS;
        let mut s = sweep(&store, dir.path(), P, &in_use, later)
            .await
            .expect("sweep");
        s.deleted.sort();
        let mut both = vec![ready, busy];
        both.sort();
        assert_eq!(s.deleted, both);
        assert!(store.get(ready).expect("get").is_none());
    }
}
