//! The durable job store on sled.
//!
//! Trees: `jobs` (id → JSON record), `by_status` (status, created, id → ∅),
//! `by_token` (guest token → id), `meta` (schema version). Every write that
//! touches more than one tree runs in one sled transaction, so the indexes
//! never disagree with the records, even after `kill -9`.

use std::path::Path;

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use super::model::{GuestToken, Job, JobId, Payment, Status};
use crate::clock::SharedClock;

/// Bump with a numbered upgrader when the record layout changes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no job {0}")]
    NotFound(JobId),
    #[error("job {id} cannot go from {from} to {to}")]
    IllegalTransition { id: JobId, from: Status, to: Status },
    #[error("job {0} already exists")]
    Exists(JobId),
    #[error("job store record is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "job store was written by a newer SmileLoop (schema {found}, this build reads {supported})"
    )]
    Schema { found: u32, supported: u32 },
    #[error("job store: {0}")]
    Db(#[from] sled::Error),
}

type TxError = ConflictableTransactionError<StoreError>;

/// A job id's length in bytes, the head of every ledger key.
const JOB_ID_LEN: usize = std::mem::size_of::<JobId>();

fn unwrap_tx<T>(r: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    r.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Db(e),
    })
}

fn index_key(job: &Job) -> Vec<u8> {
    let mut key = Vec::with_capacity(17);
    key.push(job.status.code());
    // Offset so negative times (a broken clock) still sort before positive.
    key.extend_from_slice(&((job.created_at as u64) ^ (1 << 63)).to_be_bytes());
    key.extend_from_slice(job.id.as_bytes());
    key
}

fn decode(bytes: &[u8]) -> Result<Job, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn encode(job: &Job) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(job).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[derive(Clone)]
pub struct JobStore {
    db: sled::Db,
    jobs: sled::Tree,
    by_status: sled::Tree,
    by_token: sled::Tree,
    /// Payments of jobs that no longer exist (a guest deleted a paid video,
    /// retention removed it): job id → payment, with no photo or token, so
    /// the evening's takings survive guests' privacy requests.
    ledger: sled::Tree,
    /// What stamps the records' times.
    clock: SharedClock,
}

/// Opens sled, waiting up to two seconds for the file lock: a store just
/// closed in this process releases it only when sled's flusher thread has
/// ended (seen as a flaky reopen in tests).
pub(crate) fn open_db(path: &Path) -> Result<sled::Db, sled::Error> {
    let mut tries = 0;
    loop {
        let opened = sled::Config::new()
            .path(path)
            .flush_every_ms(Some(500))
            .open();
        match opened {
            // sled reports a held lock only in the message.
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && tries < 40 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

impl JobStore {
    /// Opens the store on the system clock.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_clock(path, crate::clock::system())
    }

    /// Opens the store; its records' times come from `clock`.
    pub fn open_with_clock(path: &Path, clock: SharedClock) -> Result<Self, StoreError> {
        let db = open_db(path)?;
        let meta = db.open_tree("meta")?;
        match meta.get("schema")? {
            Some(v) => {
                let found = u32::from_be_bytes(
                    v.as_ref()
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("schema".into()))?,
                );
                if found > SCHEMA_VERSION {
                    return Err(StoreError::Schema {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
            }
            None => {
                meta.insert("schema", &SCHEMA_VERSION.to_be_bytes())?;
                db.flush()?;
            }
        }
        Ok(Self {
            jobs: db.open_tree("jobs")?,
            by_status: db.open_tree("by_status")?,
            by_token: db.open_tree("by_token")?,
            ledger: db.open_tree("ledger")?,
            db,
            clock,
        })
    }

    /// The clock the store stamps records with, for everyone who works
    /// on them.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Wall-clock time in Unix milliseconds, by [`Self::clock`].
    pub fn now_ms(&self) -> i64 {
        self.clock.wall_ms()
    }

    /// Another domain's tree in the same database (settings, staff, audit),
    /// so one `flush` and one lock cover everything on disk.
    pub fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(name)?)
    }

    /// A number no earlier call returned, across restarts too.
    pub fn generate_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    /// Makes every change so far durable. Call before reporting a change.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }

    pub fn insert_new(&self, job: &Job) -> Result<(), StoreError> {
        let value = encode(job)?;
        let r = (&self.jobs, &self.by_status, &self.by_token).transaction(|(jobs, idx, tokens)| {
            if jobs.get(job.id.as_bytes())?.is_some() {
                return Err(TxError::Abort(StoreError::Exists(job.id)));
            }
            jobs.insert(job.id.as_bytes(), value.as_slice())?;
            idx.insert(index_key(job), &[])?;
            tokens.insert(job.token.as_bytes(), job.id.as_bytes())?;
            Ok(())
        });
        unwrap_tx(r)
    }

    pub fn get(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        self.jobs
            .get(id.as_bytes())?
            .map(|v| decode(&v))
            .transpose()
    }

    pub fn get_by_token(&self, token: GuestToken) -> Result<Option<Job>, StoreError> {
        match self.by_token.get(token.as_bytes())? {
            Some(id) => self.get(
                JobId::from_bytes(&id).map_err(|_| StoreError::Corrupt("token index".into()))?,
            ),
            None => Ok(None),
        }
    }

    /// Moves a job to `to`, applying `change` in the same atomic write.
    /// Rejects transitions the state machine does not allow.
    pub fn transition(
        &self,
        id: JobId,
        to: Status,
        change: impl Fn(&mut Job),
    ) -> Result<Job, StoreError> {
        self.modify(id, |job| {
            if !job.status.can_become(to) {
                return Err(StoreError::IllegalTransition {
                    id,
                    from: job.status,
                    to,
                });
            }
            change(job);
            job.status = to;
            Ok(())
        })
    }

    /// Changes fields other than the status (progress, download count…).
    pub fn update(&self, id: JobId, change: impl Fn(&mut Job)) -> Result<Job, StoreError> {
        self.modify(id, |job| {
            let status = job.status;
            change(job);
            job.status = status;
            Ok(())
        })
    }

    /// Applies `change`, which may also move the status; the state machine
    /// is checked on the result. For changes decided from the record itself
    /// (a payment that unlocks only a job still waiting for one).
    pub fn change(
        &self,
        id: JobId,
        change: impl Fn(&mut Job) -> Result<(), StoreError>,
    ) -> Result<Job, StoreError> {
        self.modify(id, |job| {
            let from = job.status;
            change(job)?;
            let to = job.status;
            if from != to && !from.can_become(to) {
                return Err(StoreError::IllegalTransition { id, from, to });
            }
            Ok(())
        })
    }

    fn modify(
        &self,
        id: JobId,
        change: impl Fn(&mut Job) -> Result<(), StoreError>,
    ) -> Result<Job, StoreError> {
        let r = (&self.jobs, &self.by_status).transaction(|(jobs, idx)| {
            let mut job = read(jobs, id)?;
            let before = job.clone();
            let old_key = index_key(&job);
            change(&mut job).map_err(TxError::Abort)?;
            if job == before {
                // Nothing to write (a retried webhook, an idle update).
                return Ok(job);
            }
            job.id = id;
            job.updated_at = self.clock.wall_ms();
            let new_key = index_key(&job);
            if new_key != old_key {
                idx.remove(old_key)?;
                idx.insert(new_key, &[])?;
            }
            jobs.insert(id.as_bytes(), encode(&job).map_err(TxError::Abort)?)?;
            Ok(job)
        });
        unwrap_tx(r)
    }

    /// Removes the record and its index entries (files are the caller's).
    /// A recorded payment moves to the ledger in the same transaction.
    pub fn delete(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        self.delete_if(id, |_| Ok(()))
    }

    /// [`delete`](Self::delete), if `allowed` passes the record as it is
    /// inside the same transaction (so no state change slips in between).
    pub fn delete_if(
        &self,
        id: JobId,
        allowed: impl Fn(&Job) -> Result<(), StoreError>,
    ) -> Result<Option<Job>, StoreError> {
        let r = (&self.jobs, &self.by_status, &self.by_token, &self.ledger).transaction(
            |(jobs, idx, tokens, ledger)| {
                let Some(bytes) = jobs.remove(id.as_bytes())? else {
                    return Ok(None);
                };
                let job = decode(&bytes).map_err(TxError::Abort)?;
                allowed(&job).map_err(TxError::Abort)?;
                idx.remove(index_key(&job))?;
                tokens.remove(job.token.as_bytes())?;
                if let Some(payment) = &job.payment {
                    let value = serde_json::to_vec(payment)
                        .map_err(|e| TxError::Abort(StoreError::Corrupt(e.to_string())))?;
                    ledger.insert(id.as_bytes(), value)?;
                }
                Ok(Some(job))
            },
        );
        unwrap_tx(r)
    }

    /// Records money that is on no job's record: a session the kiosk did
    /// not open for the job, or a payment for a job already deleted. Keyed
    /// by job and session, so a retried event writes the same entry.
    /// A session already in the ledger under the job's own key (its
    /// payment, moved there when the job was deleted) is not added twice.
    pub fn record_loose_payment(&self, id: JobId, payment: &Payment) -> Result<(), StoreError> {
        if let Some(moved) = self.ledger.get(id.as_bytes())? {
            let moved: Payment =
                serde_json::from_slice(&moved).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if moved.session_id == payment.session_id {
                return Ok(());
            }
        }
        let mut key = id.as_bytes().to_vec();
        key.extend_from_slice(payment.session_id.as_bytes());
        let value = serde_json::to_vec(payment).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.ledger.insert(key, value)?;
        Ok(())
    }

    /// Payments on no job's record (of deleted jobs, and loose ones), in
    /// job id order.
    pub fn ledger(&self) -> Result<Vec<(JobId, Payment)>, StoreError> {
        self.ledger
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                // The job id, then (for loose payments) the session id.
                let id = JobId::from_bytes(k.get(..JOB_ID_LEN).unwrap_or(&k))
                    .map_err(|_| StoreError::Corrupt("ledger".into()))?;
                let p =
                    serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((id, p))
            })
            .collect()
    }

    /// Ids with `status`, oldest first, from the index (no full scan).
    pub fn ids_with_status(&self, status: Status) -> Result<Vec<JobId>, StoreError> {
        self.by_status
            .scan_prefix([status.code()])
            .keys()
            .map(|k| {
                let k = k?;
                JobId::from_bytes(&k[9..]).map_err(|_| StoreError::Corrupt("status index".into()))
            })
            .collect()
    }

    pub fn oldest_with_status(&self, status: Status) -> Result<Option<JobId>, StoreError> {
        match self.by_status.scan_prefix([status.code()]).keys().next() {
            Some(k) => Ok(Some(
                JobId::from_bytes(&k?[9..])
                    .map_err(|_| StoreError::Corrupt("status index".into()))?,
            )),
            None => Ok(None),
        }
    }

    pub fn count_with_status(&self, status: Status) -> usize {
        self.by_status.scan_prefix([status.code()]).count()
    }

    /// Every job, newest first (admin listings; not used on hot paths).
    pub fn all(&self) -> Result<Vec<Job>, StoreError> {
        let mut jobs = self
            .jobs
            .iter()
            .values()
            .map(|v| decode(&v?))
            .collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by_key(|j| std::cmp::Reverse(j.created_at));
        Ok(jobs)
    }

    pub fn contains(&self, id: JobId) -> Result<bool, StoreError> {
        Ok(self.jobs.contains_key(id.as_bytes())?)
    }
}

fn read(jobs: &TransactionalTree, id: JobId) -> Result<Job, TxError> {
    let bytes = jobs
        .get(id.as_bytes())?
        .ok_or(TxError::Abort(StoreError::NotFound(id)))?;
    decode(&bytes).map_err(TxError::Abort)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::UnlockReason;

    fn store() -> (tempfile::TempDir, JobStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = JobStore::open(&dir.path().join("db")).expect("open");
        (dir, store)
    }

    #[test]
    fn transitions_update_the_index_atomically() {
        let (_dir, s) = store();
        let a = Job::new("soft_smile".parse().expect("preset id"), "source.jpg", 1000);
        let b = Job::new("soft_smile".parse().expect("preset id"), "source.jpg", 2000);
        s.insert_new(&a).expect("insert a");
        s.insert_new(&b).expect("insert b");
        assert!(matches!(s.insert_new(&a), Err(StoreError::Exists(_))));
        for j in [&b, &a] {
            s.transition(j.id, Status::Queued, |_| {}).expect("queue");
        }
        assert_eq!(
            s.ids_with_status(Status::Queued).expect("list"),
            vec![a.id, b.id]
        );
        assert_eq!(
            s.oldest_with_status(Status::Queued).expect("first"),
            Some(a.id)
        );
        assert_eq!(s.count_with_status(Status::Uploaded), 0);

        let err = s.transition(a.id, Status::Unlocked, |j| {
            j.unlock = Some(UnlockReason::Paid)
        });
        assert!(matches!(err, Err(StoreError::IllegalTransition { .. })));
        let kept = s.get(a.id).expect("get").expect("exists");
        assert_eq!(
            (kept.status, kept.unlock),
            (Status::Queued, None),
            "rejected change left no trace"
        );

        let r = s
            .transition(a.id, Status::Rendering, |j| j.attempts += 1)
            .expect("render");
        assert_eq!(r.attempts, 1);
        assert_eq!(s.ids_with_status(Status::Queued).expect("list"), vec![b.id]);
        assert_eq!(
            s.ids_with_status(Status::Rendering).expect("list"),
            vec![a.id]
        );
    }

    #[test]
    fn update_cannot_change_status_and_tokens_resolve() {
        let (_dir, s) = store();
        let a = Job::new("soft_smile".parse().expect("preset id"), "source.png", 5);
        s.insert_new(&a).expect("insert");
        let u = s.update(a.id, |j| {
            j.status = Status::Unlocked;
            j.download_count = 3;
        });
        let u = u.expect("update");
        assert_eq!((u.status, u.download_count), (Status::Uploaded, 3));
        assert_eq!(
            s.get_by_token(a.token).expect("by token").map(|j| j.id),
            Some(a.id)
        );
        assert!(s
            .get_by_token(GuestToken::generate())
            .expect("lookup")
            .is_none());
        assert!(s.delete(a.id).expect("delete").is_some());
        assert!(s.get_by_token(a.token).expect("lookup").is_none());
        assert_eq!(s.count_with_status(Status::Uploaded), 0);
        assert!(s.delete(a.id).expect("delete twice").is_none());
        assert!(matches!(
            s.update(a.id, |_| {}),
            Err(StoreError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn survives_reopen_and_refuses_newer_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        let a = Job::new("wink".parse().expect("preset id"), "source.jpg", 7);
        {
            let s = JobStore::open(&path).expect("open");
            s.insert_new(&a).expect("insert");
            s.transition(a.id, Status::Queued, |_| {}).expect("queue");
            s.flush().await.expect("flush");
        }
        {
            let s = JobStore::open(&path).expect("reopen");
            assert_eq!(
                s.get(a.id).expect("get").map(|j| j.status),
                Some(Status::Queued)
            );
            s.db.open_tree("meta")
                .expect("meta")
                .insert("schema", &99u32.to_be_bytes())
                .expect("poke");
            s.db.flush().expect("flush");
        }
        assert!(matches!(
            JobStore::open(&path),
            Err(StoreError::Schema { found: 99, .. })
        ));
    }
}
