//! Job intake: a guest's photo, from the kiosk's camera, its upload or a
//! phone, checked before anything is promised and then recorded as a
//! queued job. The kiosk's `/api/photo-check`, its `/api/jobs` and the
//! phone's `/u/…` all come through here; the web layer only reads the form
//! and maps [`IntakeError`] to an answer.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::queue::Admission;
use super::{job_dir, Job, JobStore, Price, Status, StoreError};
use crate::animate::{AnimateError, Animator};
use crate::capture::photo::{self, PhotoError, PhotoInfo};
use crate::config::{EventMode, LiveSettings};
use crate::face::recent::Recent;
use crate::face::{Found, PhotoProblem};
use crate::metrics::Metrics;
use crate::motion::Preset;

/// Photos decoded and checked at once: each may hold up to
/// `capture::photo::MAX_DECODED_BYTES`, and a face check takes a core.
pub const AT_ONCE: usize = 2;

/// How long a photo waits for a turn at decoding before [`IntakeError::Busy`].
const TURN_WAIT: Duration = Duration::from_secs(2);

/// The file in a job's folder that holds the faces found at upload.
pub const FACES_FILE: &str = "faces.json";

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("There is no animation called `{0}`.")]
    UnknownPreset(String),
    #[error("the data disk is full")]
    StorageFull,
    #[error("The kiosk is busy with other guests' photos. Please try again in a minute.")]
    QueueFull,
    #[error("The kiosk is checking other photos right now. Please try again in a moment.")]
    Busy,
    #[error(transparent)]
    Photo(#[from] PhotoError),
    #[error(transparent)]
    Problem(#[from] PhotoProblem),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the photo check stopped: {0}")]
    Internal(String),
}

/// A photo that passed the checks: its header, its bytes and the faces
/// found (none when the check could not run: the worker finds them).
pub struct Checked {
    pub info: PhotoInfo,
    pub bytes: Vec<u8>,
    pub found: Option<Found>,
}

impl Checked {
    /// How many faces will come alive (0 for a whole-photo animator).
    pub fn faces(&self) -> u32 {
        self.found.as_ref().map_or(0, |f| f.animated.len() as u32)
    }
}

/// What intake needs from the rest of the kiosk.
pub struct Intake {
    pub store: JobStore,
    pub admission: Arc<Admission>,
    pub animator: Arc<dyn Animator>,
    pub presets: Arc<Vec<Preset>>,
    pub live: Arc<LiveSettings>,
    pub metrics: Arc<Metrics>,
    pub data_dir: PathBuf,
    pub queue_limit: usize,
    /// Faces of photos checked a moment ago (review, phone, job).
    recent: Arc<Recent>,
    /// Turns at decoding and face-checking, kiosk and phones together.
    turns: Arc<Semaphore>,
}

impl Intake {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: JobStore,
        admission: Arc<Admission>,
        animator: Arc<dyn Animator>,
        presets: Arc<Vec<Preset>>,
        live: Arc<LiveSettings>,
        metrics: Arc<Metrics>,
        data_dir: PathBuf,
        queue_limit: usize,
    ) -> Self {
        Self {
            store,
            admission,
            animator,
            presets,
            live,
            metrics,
            data_dir,
            queue_limit,
            recent: Arc::default(),
            turns: Arc::new(Semaphore::new(AT_ONCE)),
        }
    }

    /// Checks a photo: its header, a full decode (proves the file is
    /// whole) and the animator's face check, so that the guest hears at
    /// once when it cannot be animated. The faces are kept a moment, so
    /// the job that follows does not look for them again.
    pub async fn check(&self, bytes: Vec<u8>) -> Result<Checked, IntakeError> {
        let info = photo::inspect(&bytes)?;
        // A flood of uploads (phones on the Wi-Fi) waits its turn briefly,
        // then hears that the kiosk is busy: decodes never pile up in memory.
        let turn = tokio::time::timeout(TURN_WAIT, Arc::clone(&self.turns).acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(IntakeError::Busy)?;
        let animator = Arc::clone(&self.animator);
        let recent = Arc::clone(&self.recent);
        let checked = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            // These very bytes were decoded and checked a moment ago.
            if let Some(found) = recent.get(&bytes) {
                return Ok((bytes, Some(found)));
            }
            let image = photo::decode(&bytes)?;
            match animator.check_photo(&image) {
                Err(AnimateError::Photo(problem)) => Err(IntakeError::Problem(problem)),
                // An inference hiccup is the worker's to retry, not the guest's fault.
                Err(e) => {
                    tracing::warn!("photo check skipped: {e}");
                    Ok((bytes, None))
                }
                Ok(found) => {
                    recent.put(&bytes, found.clone());
                    Ok((bytes, Some(found)))
                }
            }
        })
        .await;
        let (bytes, found) = checked.map_err(|e| IntakeError::Internal(e.to_string()))??;
        Ok(Checked { info, bytes, found })
    }

    /// Records `bytes` as a new job for `preset`, queued and flushed, and
    /// wakes the worker. Refuses before the photo is decoded when the
    /// preset is not on tonight's menu, the disk is full or the queue is.
    pub async fn create(&self, preset: &str, bytes: Vec<u8>) -> Result<Job, IntakeError> {
        let event = self.live.get();
        let preset = self
            .presets
            .iter()
            .find(|p| p.id() == preset)
            .filter(|p| event.preset_rank(p.id()).is_some())
            .ok_or_else(|| IntakeError::UnknownPreset(preset.chars().take(40).collect()))?;
        if super::free_bytes(&self.data_dir).is_some_and(|f| f < super::MIN_FREE_BYTES) {
            return Err(IntakeError::StorageFull);
        }
        // Held until the job is recorded as queued (dropped at the end).
        let _place = self
            .admission
            .reserve(
                || self.store.count_with_status(Status::Queued),
                self.queue_limit,
            )
            .ok_or(IntakeError::QueueFull)?;
        let checked = self.check(bytes).await?;

        let source = format!("source.{}", checked.info.extension());
        let mut job = Job::new(preset.key().clone(), &source, self.store.now_ms());
        let faces_json = checked
            .found
            .as_ref()
            .filter(|f| !f.animated.is_empty())
            .and_then(|f| serde_json::to_vec(f).ok());
        if faces_json.is_some() {
            job.files.faces = Some(FACES_FILE.to_string());
        }
        job.faces = checked.found.as_ref().map(|f| f.animated.len() as u32);
        job.price = (event.event_mode == EventMode::Paid).then(|| Price {
            cents: event.price_cents,
            currency: event.currency.clone(),
        });
        let job = self
            .keep(&job, faces_json.as_deref(), &source, &checked.bytes)
            .await?;
        let faces = job.faces.unwrap_or(0);
        tracing::info!(job = %job.id, preset = preset.id(), bytes = checked.bytes.len(), faces, "queued");
        self.metrics.photo_accepted(faces);
        self.admission.wake();
        Ok(job)
    }

    /// Writes the job's files and record, or leaves nothing behind.
    /// Returns the job as queued.
    async fn keep(
        &self,
        job: &Job,
        faces: Option<&[u8]>,
        source: &str,
        bytes: &[u8],
    ) -> Result<Job, IntakeError> {
        let dir = job_dir(&self.data_dir, job.id);
        let written = match faces {
            Some(faces) => write_durably(&dir, FACES_FILE, faces).await,
            None => Ok(()),
        };
        if let Err(source) = written.and(write_durably(&dir, source, bytes).await) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(IntakeError::Io {
                what: "saving upload",
                source,
            });
        }
        let recorded = self
            .store
            .insert_new(job)
            .and_then(|()| self.store.transition(job.id, Status::Queued, |_| {}));
        let queued = match recorded {
            Ok(queued) => queued,
            Err(e) => {
                let _ = self.store.delete(job.id);
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e.into());
            }
        };
        self.store.flush().await?;
        Ok(queued)
    }
}

async fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    tokio::fs::create_dir_all(dir).await?;
    let mut f = tokio::fs::File::create(dir.join(name)).await?;
    f.write_all(bytes).await?;
    f.sync_all().await?;
    // The folder's entry for the file too, or a power cut can lose it.
    tokio::fs::File::open(dir).await?.sync_all().await
}
