//! Jobs: the record and its state machine (`model`), the durable store on
//! sled (`store`), the render worker (`worker`) and retention (`retention`).
//!
//! Invariants: only the store changes a job's status, and only along
//! [`Status::can_become`]; every status change is flushed to disk before
//! anyone reports it; the `queued` index *is* the render queue, so a crash
//! loses nothing that was acknowledged.

pub mod intake;
pub mod live;
mod model;
pub mod queue;
pub mod retention;
pub mod staff;
mod store;
pub mod worker;

pub use model::{
    Checkout, GuestToken, Job, JobFiles, JobId, MalformedId, Payment, Price, Progress, SeenBy,
    Status, UnlockReason, EARLIER_SESSIONS,
};
#[cfg(test)]
pub(crate) use store::open_db;
pub use store::{JobStore, StoreError};

/// Space a render needs on the data disk for its three files at HD, with
/// room for the store: below it the kiosk takes no new photo.
pub const MIN_FREE_BYTES: u64 = 32 * 1024 * 1024;

/// A render stops (and fails in words) when free space falls below this,
/// before the disk is full: sled cannot write its log on a full disk.
pub const RENDER_MIN_FREE_BYTES: u64 = 16 * 1024 * 1024;

/// Whether an I/O error means the data disk is full (or over quota).
pub fn is_disk_full(e: &std::io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
}

/// Free bytes on the file system holding `dir`, if it can be read.
pub fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// The folder holding a job's photo and videos.
pub fn job_dir(data_dir: &std::path::Path, id: JobId) -> std::path::PathBuf {
    data_dir.join("jobs").join(id.to_string())
}
