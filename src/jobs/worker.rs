//! The render worker: one render at a time (the GPU, or the CPU, is one
//! resource), taking the oldest `queued` job from the store.
//!
//! The queue is the store's `queued` index, bounded by `queue_limit` at
//! upload time; [`Admission`] holds uploads' places and wakes the worker,
//! [`WorkerStatus`] says what the worker is doing. A job found `rendering`
//! at start-up was interrupted by a crash: it is queued again; once it has
//! been interrupted [`MAX_ATTEMPTS`] times it is rendered once more with
//! `gentle` (a guest still gets a video), and fails only if that is
//! interrupted too.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::live::LiveRenders;
use super::queue::{Admission, WorkerStatus};
use super::{job_dir, JobId, JobStore, Progress, Status, StoreError, UnlockReason};
use crate::animate::{AnimateError, Animator};
use crate::capture::photo;
use crate::config::{EventMode, LiveSettings};
use crate::encode::H264Encoder;
use crate::metrics::{Metrics, Outcome, RenderFigures};
use crate::motion::Preset;
use crate::render::{self, OutputPaths, RenderError, RenderReport};

/// Renders a job may start before it is given up as poison.
pub const MAX_ATTEMPTS: u32 = 3;

/// Everything a render needs, shared with the web layer.
pub struct Worker {
    pub store: JobStore,
    pub admission: Arc<Admission>,
    pub status: Arc<WorkerStatus>,
    pub presets: Arc<Vec<Preset>>,
    pub animator: Arc<dyn Animator>,
    pub encoder: H264Encoder,
    pub data_dir: PathBuf,
    /// Watermark and event mode, read per job so staff changes apply to
    /// the next guest.
    pub live: Arc<LiveSettings>,
    /// Frames for the kiosk screen while the render runs.
    pub renders: Arc<LiveRenders>,
    pub metrics: Arc<Metrics>,
}

/// At start-up, before serving: interrupted renders go back in the queue;
/// uploads that were never acknowledged (no `queued`) are dropped.
pub async fn recover(store: &JobStore, data_dir: &std::path::Path) -> Result<(), StoreError> {
    for id in store.ids_with_status(Status::Rendering)? {
        let job = store.get(id)?.ok_or(StoreError::NotFound(id))?;
        crate::render::remove_parts(&job_dir(data_dir, id));
        let gentle = crate::backend::Backend::Gentle;
        if job.attempts >= MAX_ATTEMPTS && job.backend_request != Some(gentle) {
            // The photo takes the backend down: a guest still gets a video,
            // from the backend that only moves the whole photo.
            store.transition(id, Status::Queued, |j| {
                j.progress = Progress::default();
                j.backend_request = Some(gentle);
            })?;
            tracing::warn!(job = %id, attempts = job.attempts, "queued again with gentle: interrupted too often");
        } else if job.attempts >= MAX_ATTEMPTS {
            store.transition(id, Status::Failed, |j| {
                j.error = Some(GUEST_FAILED.into());
            })?;
            tracing::warn!(job = %id, attempts = job.attempts, "failed: interrupted too often");
        } else {
            store.transition(id, Status::Queued, |j| j.progress = Progress::default())?;
            tracing::info!(job = %id, "queued again after an interrupted render");
        }
    }
    for id in store.ids_with_status(Status::Uploaded)? {
        store.delete(id)?;
        let _ = std::fs::remove_dir_all(job_dir(data_dir, id));
        tracing::info!(job = %id, "dropped an upload that was never acknowledged");
    }
    store.flush().await
}

const GUEST_FAILED: &str =
    "We couldn't animate this photo. Please try again, or try another photo.";

const GUEST_DISK_FULL: &str =
    "The kiosk ran out of storage space before your video was ready. Please ask the staff.";

/// Whether a render failed because the data disk filled up: an I/O error
/// saying so, GStreamer's sink reporting it in words, or no space left.
fn failed_for_space(e: &RenderError, data_dir: &std::path::Path) -> bool {
    let said_so = match e {
        RenderError::Io { source, .. } => super::is_disk_full(source),
        other => other.to_string().contains("No space left on device"),
    };
    said_so || super::free_bytes(data_dir).is_some_and(|f| f < 1024 * 1024)
}

fn guest_message(e: &RenderError, data_dir: &std::path::Path) -> String {
    if failed_for_space(e, data_dir) {
        return GUEST_DISK_FULL.into();
    }
    match e {
        RenderError::Animate(AnimateError::Photo(problem)) => problem.to_string(),
        RenderError::Animate(AnimateError::Unsupported { .. }) => {
            "This animation isn't available right now. Please pick another one.".into()
        }
        _ => GUEST_FAILED.into(),
    }
}

impl Worker {
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(backend = self.animator.name(), "render worker started");
        loop {
            self.status.beat();
            if *shutdown.borrow() {
                break;
            }
            match self.store.oldest_with_status(Status::Queued) {
                Ok(Some(id)) => {
                    if let Err(e) = self.render_one(id, shutdown.clone()).await {
                        // The store itself failed: wait and retry rather than spin.
                        tracing::error!(job = %id, "render bookkeeping failed: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::error!("reading the queue failed: {e}"),
            }
            tokio::select! {
                () = self.admission.woken() => {}
                _ = shutdown.changed() => {}
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
        tracing::info!("render worker stopped");
    }

    async fn render_one(
        self: &Arc<Self>,
        id: JobId,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), StoreError> {
        if let Some(free) = self.free_below(super::MIN_FREE_BYTES) {
            let detail = format!("the data disk has {} MB free", free / 1_048_576);
            return self.fail(id, GUEST_DISK_FULL, &detail).await;
        }
        let job = self.store.transition(id, Status::Rendering, |j| {
            j.attempts += 1;
            j.progress = Progress::default();
            j.error = None;
        })?;
        self.store.flush().await?;
        tracing::info!(job = %id, preset = %job.preset, attempt = job.attempts, "rendering");
        self.status.set_current(Some(id));

        let backend = crate::animate::pick(self.animator.as_ref(), job.backend_request).name();
        let cancel = Arc::new(AtomicBool::new(false));
        let low_space = Arc::new(AtomicBool::new(false));
        let this = Arc::clone(self);
        let (flag, low) = (Arc::clone(&cancel), Arc::clone(&low_space));
        let task = tokio::task::spawn_blocking(move || this.render_blocking(&job, &flag, &low));
        tokio::pin!(task);
        let outcome = loop {
            tokio::select! {
                r = &mut task => break r,
                _ = shutdown.changed() => cancel.store(true, Ordering::Relaxed),
            }
        };
        self.status.set_current(None);

        match outcome {
            Ok(Ok(report)) => self.finish(id, &report).await,
            Ok(Err(RenderError::Cancelled)) if low_space.load(Ordering::Relaxed) => {
                self.metrics.render_ended(backend, Outcome::Failed);
                let detail = "stopped: the data disk is nearly full";
                self.fail(id, GUEST_DISK_FULL, detail).await
            }
            Ok(Err(RenderError::Cancelled)) => {
                self.metrics.render_ended(backend, Outcome::Requeued);
                self.store
                    .transition(id, Status::Queued, |j| j.progress = Progress::default())?;
                self.store.flush().await?;
                tracing::info!(job = %id, "queued again: the kiosk is shutting down");
                Ok(())
            }
            Ok(Err(e)) => {
                self.metrics.render_ended(backend, Outcome::Failed);
                self.fail(id, &guest_message(&e, &self.data_dir), &e.to_string())
                    .await
            }
            Err(join) => {
                // A panic skips the render's own clean-up of its `.part` files.
                crate::render::remove_parts(&job_dir(&self.data_dir, id));
                self.metrics.render_ended(backend, Outcome::Failed);
                self.fail(id, GUEST_FAILED, &format!("render panicked: {join}"))
                    .await
            }
        }
    }

    async fn finish(&self, id: JobId, report: &RenderReport) -> Result<(), StoreError> {
        let ms_per_frame =
            report.animate_time.as_secs_f64() * 1000.0 / f64::from(report.plan.frame_count.max(1));
        let now = self.store.now_ms();
        self.store.transition(id, Status::PreviewReady, |j| {
            j.files.full = Some("full.mp4".into());
            j.files.preview = Some("preview.mp4".into());
            j.files.poster = Some("poster.jpg".into());
            j.backend = Some(report.backend);
            j.encoder = Some(report.encoder.element().into());
            j.finished_at = Some(now);
            j.progress.frames_done = report.plan.frame_count;
        })?;
        let encoding = report.full_ready.saturating_sub(report.prepared);
        self.metrics.render_finished(RenderFigures {
            backend: report.backend.as_str(),
            encoder: report.encoder.element(),
            seconds: report.preview_ready.as_secs_f64(),
            ms_per_frame,
            encode_fps: f64::from(report.plan.frame_count) / encoding.as_secs_f64(),
        });
        self.status.set_ms_per_frame(ms_per_frame);
        tracing::info!(
            job = %id,
            seconds = report.preview_ready.as_secs_f64(),
            ms_per_frame,
            "preview_ready"
        );
        if self.live.get().event_mode == EventMode::Free {
            self.store.transition(id, Status::Unlocked, |j| {
                j.unlock = Some(UnlockReason::Event);
                j.unlocked_at = Some(now);
            })?;
            tracing::info!(job = %id, reason = "event", "unlocked");
        }
        self.store.flush().await
    }

    async fn fail(&self, id: JobId, guest: &str, detail: &str) -> Result<(), StoreError> {
        self.store
            .transition(id, Status::Failed, |j| j.error = Some(guest.into()))?;
        self.store.flush().await?;
        tracing::warn!(job = %id, "failed: {detail}");
        Ok(())
    }

    /// Free bytes on the data disk when they are fewer than `limit`.
    fn free_below(&self, limit: u64) -> Option<u64> {
        super::free_bytes(&self.data_dir).filter(|&free| free < limit)
    }

    /// On a blocking thread: decode, animate, encode. Sets `low_space`
    /// (and `cancel`) when the disk fills up during the render.
    fn render_blocking(
        &self,
        job: &super::Job,
        cancel: &AtomicBool,
        low_space: &AtomicBool,
    ) -> Result<RenderReport, RenderError> {
        let dir = job_dir(&self.data_dir, job.id);
        let animator = crate::animate::pick(self.animator.as_ref(), job.backend_request);
        let preset = self
            .presets
            .iter()
            .find(|p| *p.key() == job.preset)
            .ok_or_else(|| {
                RenderError::Animate(AnimateError::Unsupported {
                    backend: animator.backend(),
                    preset: job.preset.to_string(),
                })
            })?;
        let source = dir.join(&job.files.source);
        let bytes = std::fs::read(&source).map_err(|e| RenderError::Io {
            path: source.clone(),
            source: e,
        })?;
        let image = photo::decode(&bytes)
            .map_err(|e| RenderError::Animate(AnimateError::Backend(e.to_string())))?;
        let watermark_text = self.live.get().watermark_text.clone();
        let faces = stored_faces(&dir, job);
        let request = render::Job {
            photo: &image,
            seed: u64::from_be_bytes(*job.id.as_bytes()),
            faces: faces.as_ref(),
            preset,
            animator,
            encoder: self.encoder,
            watermark_text: &watermark_text,
        };
        let mut last_write = Instant::now();
        let mut progress = |done: u32, total: u32, frame: &image::RgbImage| {
            self.status.beat();
            self.renders.publish(job.id, done - 1, total, frame);
            if done % 10 == 0 && self.free_below(super::RENDER_MIN_FREE_BYTES).is_some() {
                low_space.store(true, Ordering::Relaxed);
                cancel.store(true, Ordering::Relaxed);
            }
            // Progress is not a state change: written often enough for a
            // progress bar, not flushed.
            if done == total || last_write.elapsed() >= Duration::from_millis(150) {
                last_write = Instant::now();
                let r = self.store.update(job.id, |j| {
                    j.progress = Progress {
                        frames_done: done,
                        frames_total: total,
                    };
                });
                if let Err(e) = r {
                    tracing::warn!(job = %job.id, "progress not recorded: {e}");
                }
            }
        };
        let paths = OutputPaths::in_dir(&dir);
        match (
            render::render(&request, &paths, &mut progress, cancel),
            animator.fallback(),
        ) {
            // The engine broke, not the photo: the fallback backend renders
            // the job again from the start (the outputs are rewritten).
            (Err(RenderError::Animate(AnimateError::Backend(e))), Some(fallback)) => {
                tracing::warn!(job = %job.id, backend = animator.name(), fallback = fallback.name(), "re-rendering after: {e}");
                let request = render::Job {
                    animator: fallback,
                    ..request
                };
                render::render(&request, &paths, &mut progress, cancel)
            }
            (other, _) => other,
        }
    }
}

/// The faces the upload check stored for `job`; none when there are none
/// or the file cannot be read (the render then finds them itself).
fn stored_faces(dir: &std::path::Path, job: &super::Job) -> Option<crate::face::Found> {
    let name = job.files.faces.as_deref()?;
    let bytes = std::fs::read(dir.join(name)).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(found) => Some(found),
        Err(e) => {
            tracing::warn!(job = %job.id, "stored faces unreadable, detecting again: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::PhotoProblem;

    #[test]
    fn guests_read_why_a_render_failed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let here = dir.path();
        let no_face = RenderError::Animate(AnimateError::Photo(PhotoProblem::NoFace));
        assert_eq!(
            guest_message(&no_face, here),
            PhotoProblem::NoFace.to_string()
        );
        let gone = RenderError::Animate(AnimateError::Unsupported {
            backend: crate::backend::Backend::Meshwarp,
            preset: "x".into(),
        });
        assert!(guest_message(&gone, here).contains("another one"));
        let broken = RenderError::Short {
            expected: 100,
            got: 3,
        };
        assert_eq!(
            guest_message(&broken, here),
            GUEST_FAILED,
            "internal details stay in the log"
        );
        let full = RenderError::Io {
            path: "full.mp4".into(),
            source: std::io::Error::from_raw_os_error(28),
        };
        assert_eq!(guest_message(&full, here), GUEST_DISK_FULL);
        let sink = RenderError::Encode(crate::encode::EncodeError::Pipeline(
            "Error while writing to file: No space left on device".into(),
        ));
        assert_eq!(guest_message(&sink, here), GUEST_DISK_FULL);
    }
}
