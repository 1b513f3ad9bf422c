//! The actions staff take on a guest's job: unlock for cash or as a comp,
//! render again, delete now. Each writes its own audit entry, so no caller
//! can forget it; the admin pages and the admin API only parse and call.

use std::net::IpAddr;
use std::path::Path;

use super::Audit;
use crate::backend::{Backend, UnknownBackend};
use crate::jobs::queue::Admission;
use crate::jobs::retention;
use crate::jobs::staff::{self, StaffError};
use crate::jobs::{Job, JobId, JobStore, Progress, Status, StoreError, UnlockReason};
use crate::motion::PresetId;

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("there is no such job (it may have been deleted)")]
    NotFound,
    #[error("the job is being rendered right now; try again when it is done")]
    Rendering,
    #[error("the job is {0}: only a finished preview or a failed job can be re-rendered")]
    NotRerenderable(Status),
    #[error("there is no preset `{0}`")]
    UnknownPreset(String),
    #[error("this kiosk has no animator backend `{0}`")]
    UnknownBackend(String),
    #[error("{0}")]
    Staff(StaffError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ActionError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => Self::NotFound,
            e => Self::Store(e),
        }
    }
}

impl From<StaffError> for ActionError {
    fn from(e: StaffError) -> Self {
        match e {
            StaffError::Store(e) => e.into(),
            e => Self::Staff(e),
        }
    }
}

/// What a re-render may change.
#[derive(Debug, Default, Clone, Copy)]
pub struct Rerender<'a> {
    pub preset: Option<&'a str>,
    pub backend: Option<&'a str>,
}

/// What a re-render may choose from.
pub struct Choices<'a> {
    pub presets: Vec<&'a str>,
    pub backends: Vec<Backend>,
    /// The backend a job without a request of its own renders with.
    pub default_backend: Backend,
}

/// The staff desk: what the actions touch, and who acts.
pub struct Desk<'a> {
    pub store: &'a JobStore,
    pub admission: &'a Admission,
    pub data_dir: &'a Path,
    pub audit: &'a Audit,
    /// The staff device's address, for the audit log.
    pub peer: IpAddr,
}

impl Desk<'_> {
    /// Unlocks a finished preview for cash or as a comp, with a reason.
    pub async fn unlock(
        &self,
        id: JobId,
        reason: UnlockReason,
        note: &str,
    ) -> Result<Job, ActionError> {
        let job = staff::unlock(self.store, id, reason, note).await?;
        let detail = format!("job {id} unlocked ({reason:?}): {}", note.trim());
        self.record("unlock", detail).await;
        Ok(job)
    }

    /// Renders a job again, with another preset or backend if given: back
    /// in the queue with its attempts reset, since staff chose to retry it.
    pub async fn rerender(
        &self,
        id: JobId,
        with: Rerender<'_>,
        choices: &Choices<'_>,
    ) -> Result<Job, ActionError> {
        let (preset, backend) = (with.preset, with.backend);
        if let Some(p) = preset.filter(|p| !choices.presets.contains(p)) {
            return Err(ActionError::UnknownPreset(p.chars().take(40).collect()));
        }
        // Offered, so well formed.
        let preset: Option<PresetId> = preset.and_then(|p| p.parse().ok());
        let backend = match backend.map(str::parse::<Backend>).transpose() {
            Ok(b) => b,
            Err(UnknownBackend(name)) => return Err(ActionError::UnknownBackend(name)),
        };
        if let Some(b) = backend.filter(|b| !choices.backends.contains(b)) {
            return Err(ActionError::UnknownBackend(b.to_string()));
        }
        let before = self.store.get(id)?.ok_or(ActionError::NotFound)?;
        if !matches!(before.status, Status::PreviewReady | Status::Failed) {
            return Err(ActionError::NotRerenderable(before.status));
        }
        let job = self.store.transition(id, Status::Queued, |j| {
            if let Some(p) = &preset {
                j.preset = p.clone();
            }
            if let Some(b) = backend {
                j.backend_request = Some(b);
            }
            j.attempts = 0;
            j.error = None;
            j.progress = Progress::default();
            j.finished_at = None;
            // Staff re-render because something looked wrong: the faces
            // are found again rather than taken from the upload's check.
            j.files.faces = None;
        })?;
        self.store.flush().await?;
        tracing::info!(job = %id, preset = %job.preset, backend = ?job.backend_request, "queued again by staff");
        self.admission.wake();
        let used = job.backend_request.unwrap_or(choices.default_backend);
        let detail = format!(
            "job {id} queued again ({} → {}, backend {used})",
            before.preset, job.preset
        );
        self.record("rerender", detail).await;
        Ok(job)
    }

    /// Deletes a job's record and files now (a guest's privacy request).
    pub async fn delete(&self, id: JobId) -> Result<(), ActionError> {
        match retention::delete_now(self.store, self.data_dir, id).await {
            Ok(true) => {}
            Ok(false) => return Err(ActionError::NotFound),
            Err(StoreError::IllegalTransition { .. }) => return Err(ActionError::Rendering),
            Err(e) => return Err(e.into()),
        }
        self.record("delete", format!("job {id} deleted")).await;
        Ok(())
    }

    /// The action is done either way: a log line keeps what the audit
    /// could not.
    async fn record(&self, action: &str, detail: String) {
        if let Err(e) = self.audit.record(self.peer, action, detail.clone()).await {
            tracing::warn!(action, "audit entry not written ({e}): {detail}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_action_writes_its_own_audit_entry_and_knows_a_missing_job() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = JobStore::open(&dir.path().join("db")).expect("open");
        let audit = Audit::new(
            store.tree("audit").expect("tree"),
            std::sync::Arc::clone(store.clock()),
        );
        let admission = Admission::default();
        let desk = Desk {
            store: &store,
            admission: &admission,
            data_dir: dir.path(),
            audit: &audit,
            peer: IpAddr::from([192, 168, 1, 20]),
        };
        let choices = Choices {
            presets: vec!["soft_smile", "wink"],
            backends: vec![Backend::Meshwarp],
            default_backend: Backend::Meshwarp,
        };
        let job = Job::new("soft_smile".parse().expect("preset id"), "source.jpg", 1);
        store.insert_new(&job).expect("insert");
        for s in [Status::Queued, Status::Rendering, Status::PreviewReady] {
            store.transition(job.id, s, |_| {}).expect("advance");
        }

        let with = Rerender {
            preset: Some("wink"),
            backend: None,
        };
        let again = desk
            .rerender(job.id, with, &choices)
            .await
            .expect("rerender");
        assert_eq!(
            (again.status, again.preset.as_str()),
            (Status::Queued, "wink")
        );
        let unknown = Rerender {
            preset: Some("moonwalk"),
            backend: None,
        };
        assert!(matches!(
            desk.rerender(job.id, unknown, &choices).await,
            Err(ActionError::UnknownPreset(p)) if p == "moonwalk"
        ));
        // Not a backend at all, or not one this kiosk offers.
        for name in ["Meshwarp", "liveportrait"] {
            let with = Rerender {
                preset: None,
                backend: Some(name),
            };
            assert!(matches!(
                desk.rerender(job.id, with, &choices).await,
                Err(ActionError::UnknownBackend(n)) if n == name
            ));
        }
        for s in [Status::Rendering, Status::PreviewReady] {
            store.transition(job.id, s, |_| {}).expect("advance");
        }
        let unlocked = desk
            .unlock(job.id, UnlockReason::StaffComp, "the couple's own")
            .await
            .expect("unlock");
        assert_eq!(unlocked.status, Status::Unlocked);
        desk.delete(job.id).await.expect("delete");
        assert!(store.get(job.id).expect("get").is_none());

        let missing = job.id;
        assert!(matches!(
            desk.unlock(missing, UnlockReason::StaffCash, "cash").await,
            Err(ActionError::NotFound)
        ));
        assert!(matches!(
            desk.rerender(missing, Rerender::default(), &choices).await,
            Err(ActionError::NotFound)
        ));
        assert!(matches!(
            desk.delete(missing).await,
            Err(ActionError::NotFound)
        ));

        let entries = audit.newest(10).expect("audit");
        let said: Vec<_> = entries
            .iter()
            .rev()
            .map(|e| (e.action.as_str(), e.peer.as_str()))
            .collect();
        assert_eq!(
            said,
            [
                ("rerender", "192.168.1.20"),
                ("unlock", "192.168.1.20"),
                ("delete", "192.168.1.20")
            ]
        );
        assert!(entries[2]
            .detail
            .contains("soft_smile → wink, backend meshwarp"));
        assert!(
            entries[0].detail.ends_with("deleted"),
            "{}",
            entries[0].detail
        );
    }
}
