//! What venue staff can do to a guest's job (the admin page calls these):
//! unlock for cash or as a comp, always with a reason that is kept.

use super::{Job, JobId, JobStore, Status, StoreError, UnlockReason};

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("an unlock needs a reason (1-200 characters)")]
    Reason,
    #[error("only cash or comp unlocks are staff unlocks")]
    NotStaffReason,
    #[error("the job is {0}: only a finished preview can be unlocked")]
    NotUnlockable(Status),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Unlocks a finished preview for `reason` (cash or comp) with `note`
/// recorded on the job; clears a payment flag staff have now handled.
/// Flushed before it returns.
pub async fn unlock(
    store: &JobStore,
    id: JobId,
    reason: UnlockReason,
    note: &str,
) -> Result<Job, StaffError> {
    let note = note.trim();
    if note.is_empty() || note.chars().count() > 200 || note.chars().any(char::is_control) {
        return Err(StaffError::Reason);
    }
    if !matches!(reason, UnlockReason::StaffCash | UnlockReason::StaffComp) {
        return Err(StaffError::NotStaffReason);
    }
    let now = store.now_ms();
    let job = store.transition(id, Status::Unlocked, |j| {
        j.unlock = Some(reason);
        j.unlock_note = Some(note.to_string());
        j.unlocked_at = Some(now);
        j.staff_flag = None;
    });
    let job = match job {
        Ok(job) => job,
        Err(StoreError::IllegalTransition { from, .. }) => {
            return Err(StaffError::NotUnlockable(from))
        }
        Err(e) => return Err(e.into()),
    };
    store.flush().await?;
    tracing::info!(job = %id, reason = ?reason, "unlocked by staff");
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn staff_unlock_needs_a_reason_and_a_finished_preview() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = JobStore::open(&dir.path().join("db")).expect("open");
        let job = Job::new("soft_smile".parse().expect("preset id"), "source.jpg", 1);
        store.insert_new(&job).expect("insert");
        let cash = UnlockReason::StaffCash;
        assert!(matches!(
            unlock(&store, job.id, cash, "paid cash").await,
            Err(StaffError::NotUnlockable(Status::Uploaded))
        ));
        for s in [Status::Queued, Status::Rendering, Status::PreviewReady] {
            store.transition(job.id, s, |_| {}).expect("advance");
        }
        store
            .update(job.id, |j| j.staff_flag = Some("paid 100 usd".into()))
            .expect("flag");
        assert!(matches!(
            unlock(&store, job.id, cash, "  ").await,
            Err(StaffError::Reason)
        ));
        assert!(matches!(
            unlock(&store, job.id, UnlockReason::Paid, "x").await,
            Err(StaffError::NotStaffReason)
        ));
        let done = unlock(&store, job.id, cash, " $8 cash at the bar ")
            .await
            .expect("unlocks");
        assert_eq!(done.status, Status::Unlocked);
        assert_eq!(done.unlock, Some(cash));
        assert_eq!(done.unlock_note.as_deref(), Some("$8 cash at the bar"));
        assert_eq!(done.staff_flag, None);
        assert!(matches!(
            unlock(&store, job.id, UnlockReason::StaffComp, "again").await,
            Err(StaffError::NotUnlockable(Status::Unlocked))
        ));
        let missing = Job::new("soft_smile".parse().expect("preset id"), "source.jpg", 1).id;
        assert!(matches!(
            unlock(&store, missing, cash, "paid cash").await,
            Err(StaffError::Store(StoreError::NotFound(id))) if id == missing
        ));
    }
}
