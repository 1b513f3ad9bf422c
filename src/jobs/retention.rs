//! Retention: guests' photos and videos are deleted when their time is up
//! (unpaid and paid separately configurable). A job being rendered cannot
//! expire (the state machine forbids it) and one being downloaded is
//! skipped until the transfer ends.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::SharedClock;
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
            tracing::info!(job = %id, "expired record deleted");
            out.deleted.push(id);
        } else if job_dir(data_dir, id).exists() {
            // A run stopped between recording the expiry and removing the
            // files (power cut, kill): the videos must not outlive it.
            remove_job_files(data_dir, id);
            tracing::info!(job = %id, "files of an expired job removed");
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
    // The state is judged inside the deleting transaction: a render that
    // started after a separate check would write into a removed folder.
    let deleted = store
        .delete_if(id, |job| {
            if job.status == Status::Rendering {
                return Err(StoreError::IllegalTransition {
                    id,
                    from: Status::Rendering,
                    to: Status::Expired,
                });
            }
            Ok(())
        })?
        .is_some();
    if !deleted {
        return Ok(false);
    }
    store.flush().await?;
    remove_job_files(data_dir, id);
    tracing::info!(job = %id, "deleted at the guest's request");
    Ok(true)
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

/// How often the wall clock is compared with the monotonic clock.
const CLOCK_CHECK_EVERY: Duration = Duration::from_secs(5);

/// A wall clock that moved this much more (or less) than the monotonic
/// clock between two looks jumped (NTP correcting a box that booted with
/// the wrong time, someone setting the clock); NTP's slewing never does.
const JUMP_MS: i64 = 30_000;

/// Pure: how far the wall clock jumped, given how far it and the monotonic
/// clock moved since the last look.
pub fn clock_jump(wall_moved_ms: i64, monotonic_moved_ms: i64) -> Option<i64> {
    let jump = wall_moved_ms.saturating_sub(monotonic_moved_ms);
    (jump.unsigned_abs() >= JUMP_MS.unsigned_abs()).then_some(jump)
}

/// Which stamps came from the clock before a jump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jump {
    pub by_ms: i64,
    /// What the old clock read from the start of its segment until the jump.
    pub old: (i64, i64),
    /// What the new clock read since the last look: stamps in here are new
    /// even where the old window covers them (after a jump back).
    pub fresh: (i64, i64),
}

/// Pure: a time stamped by the old clock moves with the jump, so a job
/// keeps the age it really has. Times from outside the old window (an
/// earlier life, with its own clock) and fresh ones stay as they are.
pub fn rebased(t: i64, jump: &Jump) -> i64 {
    let (old, fresh) = (jump.old.0..=jump.old.1, jump.fresh.0..=jump.fresh.1);
    if old.contains(&t) && !fresh.contains(&t) {
        t.saturating_add(jump.by_ms)
    } else {
        t
    }
}

/// Moves the times the old clock stamped on jobs; returns how many jobs
/// changed.
pub async fn rebase_jobs(store: &JobStore, jump: &Jump) -> Result<usize, StoreError> {
    let mut moved = 0;
    for job in store.all()? {
        let shift = |t: i64| rebased(t, jump);
        let shift_opt = |t: Option<i64>| t.map(shift);
        let changed = shift(job.created_at) != job.created_at
            || shift_opt(job.unlocked_at) != job.unlocked_at
            || shift_opt(job.finished_at) != job.finished_at;
        if !changed {
            continue;
        }
        match store.update(job.id, |j| {
            j.created_at = shift(j.created_at);
            j.unlocked_at = shift_opt(j.unlocked_at);
            j.finished_at = shift_opt(j.finished_at);
        }) {
            Ok(_) => moved += 1,
            Err(StoreError::NotFound(_)) => {} // deleted meanwhile
            Err(e) => return Err(e),
        }
    }
    store.flush().await?;
    Ok(moved)
}

/// The wall clock as this life has seen it, to notice jumps.
struct ClockWatch {
    clock: SharedClock,
    /// The earliest stamp this life made, in the clock now in force.
    segment_start: i64,
    wall: i64,
    monotonic: std::time::Instant,
}

impl ClockWatch {
    fn new(clock: SharedClock) -> Self {
        let wall = clock.wall_ms();
        Self {
            segment_start: wall,
            wall,
            monotonic: clock.monotonic(),
            clock,
        }
    }

    /// The jump since the last look, if the wall clock jumped.
    fn look(&mut self) -> Option<Jump> {
        let (wall, monotonic) = (self.clock.wall_ms(), self.clock.monotonic());
        let mono_moved =
            i64::try_from(monotonic.duration_since(self.monotonic).as_millis()).unwrap_or(i64::MAX);
        let jump = clock_jump(wall.saturating_sub(self.wall), mono_moved).map(|by_ms| Jump {
            by_ms,
            old: (self.segment_start, self.wall.saturating_add(mono_moved)),
            fresh: (wall.saturating_sub(mono_moved).saturating_sub(1_000), wall),
        });
        self.wall = wall;
        self.monotonic = monotonic;
        if let Some(j) = &jump {
            // The stamps moved with the clock: the new segment holds them too.
            self.segment_start = self.segment_start.saturating_add(j.by_ms);
        }
        jump
    }
}

/// Runs [`sweep`] every `every` until shutdown, and at once after the wall
/// clock jumps, once the jobs' times have moved with it: a clock set
/// forward must not expire a guest's video early, nor one set back keep it
/// longer.
pub async fn run(
    store: JobStore,
    data_dir: std::path::PathBuf,
    live: Arc<LiveSettings>,
    in_use: Arc<InUse>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut clock = ClockWatch::new(Arc::clone(store.clock()));
    let mut next_sweep = tokio::time::Instant::now();
    loop {
        let jumped = clock.look();
        if let Some(jump) = &jumped {
            match rebase_jobs(&store, jump).await {
                Ok(moved) => tracing::warn!(
                    jump_s = jump.by_ms / 1000,
                    jobs = moved,
                    "the wall clock jumped; job times moved with it"
                ),
                Err(e) => tracing::error!("moving job times after a clock jump failed: {e}"),
            }
        }
        if jumped.is_some() || tokio::time::Instant::now() >= next_sweep {
            next_sweep = tokio::time::Instant::now() + every;
            let policy = Policy::from(&*live.get());
            match sweep(&store, &data_dir, policy, &in_use, store.now_ms()).await {
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
            if jumped.is_some() {
                tracing::info!("retention re-checked after the clock jump");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(CLOCK_CHECK_EVERY.min(every)) => {}
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
            let job = Job::new("soft_smile".parse().expect("preset id"), "source.jpg", 0);
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
        let now = store.now_ms() + 100 * HOUR_MS;
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

    #[tokio::test]
    async fn files_an_interrupted_sweep_left_behind_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = JobStore::open(&dir.path().join("db")).expect("open");
        let job = Job::new("soft_smile".parse().expect("preset id"), "source.jpg", 0);
        store.insert_new(&job).expect("insert");
        for s in [Status::Queued, Status::Rendering, Status::PreviewReady] {
            store.transition(job.id, s, |_| {}).expect("walk");
        }
        // The expiry was recorded; the process died before the files went.
        store
            .transition(job.id, Status::Expired, |j| j.files = JobFiles::default())
            .expect("expire");
        let folder = job_dir(dir.path(), job.id);
        std::fs::create_dir_all(&folder).expect("mkdir");
        std::fs::write(folder.join("full.mp4"), b"video").expect("write");
        let s = sweep(&store, dir.path(), P, &InUse::default(), store.now_ms())
            .await
            .expect("sweep");
        assert_eq!(s, Sweep::default(), "nothing newly expired or deleted");
        assert!(!folder.exists(), "the expired job's video is gone");
        assert_eq!(
            store.get(job.id).expect("get").map(|j| j.status),
            Some(Status::Expired),
            "its record stays for the guest's page"
        );
    }

    #[tokio::test]
    async fn on_a_simulated_clock_a_jump_moves_job_times_and_expiry_counts_hours_lived() {
        use crate::clock::{Clock, SimClock};
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = SimClock::at(1_700_000_000_000);
        let store = JobStore::open_with_clock(&dir.path().join("db"), clock.clone()).expect("open");
        let job = Job::new(
            "soft_smile".parse().expect("preset id"),
            "source.jpg",
            clock.wall_ms(),
        );
        store.insert_new(&job).expect("insert");
        for s in [Status::Queued, Status::Rendering, Status::PreviewReady] {
            store.transition(job.id, s, |_| {}).expect("walk");
        }
        std::fs::create_dir_all(job_dir(dir.path(), job.id)).expect("mkdir");
        let mut watch = ClockWatch::new(clock.clone());
        clock.advance(Duration::from_secs(10));
        assert!(watch.look().is_none(), "time passing is no jump");

        // NTP sets the clock two days forward; no time passed.
        clock.set_wall(clock.wall_ms() + 48 * HOUR_MS);
        let jump = watch.look().expect("a jump");
        assert_eq!(jump.by_ms, 48 * HOUR_MS);
        assert_eq!(rebase_jobs(&store, &jump).await.expect("rebase"), 1);
        let in_use = InUse::default();
        let s = sweep(&store, dir.path(), P, &in_use, store.now_ms())
            .await
            .expect("sweep");
        assert!(s.expired.is_empty(), "the video has lived 10 s, not 48 h");

        clock.advance(Duration::from_secs(23 * 3600));
        assert!(watch.look().is_none());
        let s = sweep(&store, dir.path(), P, &in_use, store.now_ms())
            .await
            .expect("sweep");
        assert!(s.expired.is_empty(), "23 h of 24");
        clock.advance(Duration::from_secs(3600));
        let s = sweep(&store, dir.path(), P, &in_use, store.now_ms())
            .await
            .expect("sweep");
        assert_eq!(s.expired, vec![job.id], "24 h lived");
    }

    #[test]
    fn clock_jumps_are_told_from_drift() {
        assert_eq!(clock_jump(5_000, 5_000), None);
        assert_eq!(clock_jump(5_400, 5_000), None, "jitter");
        assert_eq!(clock_jump(2 * HOUR_MS + 5_000, 5_000), Some(2 * HOUR_MS));
        assert_eq!(clock_jump(5_000 - HOUR_MS, 5_000), Some(-HOUR_MS));
        assert_eq!(
            clock_jump(i64::MIN, i64::MAX),
            Some(i64::MIN),
            "no overflow"
        );
    }

    #[test]
    fn only_times_stamped_by_the_old_clock_move() {
        let forward = Jump {
            by_ms: HOUR_MS,
            old: (1_000, 2_000),
            fresh: (HOUR_MS, HOUR_MS + 2_000),
        };
        assert_eq!(rebased(1_500, &forward), 1_500 + HOUR_MS);
        assert_eq!(rebased(999, &forward), 999, "an earlier life's stamp");
        assert_eq!(rebased(9_000, &forward), 9_000, "stamped in the future");
        // Set back 500 ms past the old window's start: a stamp the new
        // clock made just now lies inside the old window but stays.
        let back = Jump {
            by_ms: -HOUR_MS,
            old: (0, 2 * HOUR_MS),
            fresh: (HOUR_MS - 6_000, HOUR_MS),
        };
        assert_eq!(rebased(HOUR_MS + 500_000, &back), 500_000);
        assert_eq!(rebased(HOUR_MS - 3_000, &back), HOUR_MS - 3_000, "fresh");
    }

    #[tokio::test]
    async fn a_clock_set_forward_does_not_expire_a_fresh_job() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = JobStore::open(&dir.path().join("db")).expect("store");
        let before = 1_000_000;
        let mut job = Job::new(
            "soft_smile".parse().expect("preset id"),
            "source.jpg",
            before,
        );
        job.status = Status::PreviewReady;
        store.insert_new(&job).expect("insert");
        let old_life = Job::new(
            "soft_smile".parse().expect("preset id"),
            "source.jpg",
            before - 10 * HOUR_MS,
        );
        store.insert_new(&old_life).expect("insert");
        // The clock jumps forward two days a minute after the job was made.
        let jump = 48 * HOUR_MS;
        let now = before + 60_000 + jump;
        assert!(
            is_due(Status::PreviewReady, before, None, now, P),
            "without the rebase"
        );
        let moved = rebase_jobs(
            &store,
            &Jump {
                by_ms: jump,
                old: (before - 1_000, before + 60_000),
                fresh: (now - 5_000, now),
            },
        )
        .await
        .expect("rebase");
        assert_eq!(moved, 1);
        let got = store.get(job.id).expect("get").expect("job");
        assert_eq!(got.created_at, before + jump);
        assert!(!is_due(got.status, got.created_at, None, now, P));
        let old = store.get(old_life.id).expect("get").expect("job");
        assert_eq!(old.created_at, before - 10 * HOUR_MS);
    }
}
