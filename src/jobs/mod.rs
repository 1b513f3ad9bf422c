//! Jobs: the record and its state machine (`model`), the durable store on
//! sled (`store`), the render worker (`worker`) and retention (`retention`).
//!
//! Invariants: only the store changes a job's status, and only along
//! [`Status::can_become`]; every status change is flushed to disk before
//! anyone reports it; the `queued` index *is* the render queue, so a crash
//! loses nothing that was acknowledged.

pub mod live;
mod model;
pub mod retention;
pub mod staff;
mod store;
pub mod worker;

pub use model::{
    Checkout, GuestToken, Job, JobFiles, JobId, MalformedId, Payment, Price, Progress, Status,
    UnlockReason,
};
pub use store::{JobStore, StoreError};

/// The folder holding a job's photo and videos.
pub fn job_dir(data_dir: &std::path::Path, id: JobId) -> std::path::PathBuf {
    data_dir.join("jobs").join(id.to_string())
}

/// Wall-clock time in Unix milliseconds.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
