//! One render: photo + preset → `full.mp4` (clean HD), `preview.mp4`
//! (720p, watermarked), `poster.jpg` (watermarked peak frame) and
//! `still.jpg` (the same frame clean and full size, for the printed card).
//!
//! Frames stream from the animator straight into both encoders, so memory
//! holds a handful of frames whatever the clip length. Outputs are written
//! as `*.part` and renamed only when all three are complete: a crash or a
//! failure never leaves a file that looks finished.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use image::RgbImage;

use crate::animate::{output_size, AnimateError, Animator, FramePlan, Request, SizeLimits};
use crate::encode::{EncodeError, H264Encoder, Quality, VideoWriter, Watermark};
use crate::geometry::Scaler;
use crate::motion::Preset;

/// Long side of the watermarked preview.
pub const PREVIEW_LONG_SIDE: u32 = 720;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Animate(#[from] AnimateError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the animator stopped after {got} of {expected} frames")]
    Short { expected: u32, got: u32 },
    #[error("render cancelled")]
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct OutputPaths {
    pub full: PathBuf,
    pub preview: PathBuf,
    pub poster: PathBuf,
    /// The clean peak frame at full size, when the card needs one.
    pub still: Option<PathBuf>,
}

/// The clean peak frame's name in a job's folder.
pub const STILL_FILE: &str = "still.jpg";

impl OutputPaths {
    /// The standard names inside a job's directory.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            full: dir.join("full.mp4"),
            preview: dir.join("preview.mp4"),
            poster: dir.join("poster.jpg"),
            still: Some(dir.join(STILL_FILE)),
        }
    }

    fn all(&self) -> Vec<&Path> {
        let mut all = vec![self.full.as_path(), &self.preview, &self.poster];
        all.extend(self.still.as_deref());
        all
    }
}

fn part(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// Removes the `*.part` files a render interrupted by a crash left in a
/// job's folder; returns how many went.
pub fn remove_parts(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "part"))
        .filter(|p| std::fs::remove_file(p).is_ok())
        .count()
}

#[derive(Debug, Clone)]
pub struct RenderReport {
    pub plan: FramePlan,
    pub preview_size: (u32, u32),
    pub backend: crate::backend::Backend,
    pub encoder: H264Encoder,
    /// Photo prepared by the backend.
    pub prepared: Duration,
    /// Every frame rendered and handed to the encoders.
    pub frames_done: Duration,
    pub full_ready: Duration,
    pub preview_ready: Duration,
    /// Time spent inside the animator only (not encoding).
    pub animate_time: Duration,
}

pub struct Job<'a> {
    pub photo: &'a RgbImage,
    /// Seeds each face's own timing: the job id, so a re-render repeats.
    pub seed: u64,
    /// The faces found at upload, if any were stored.
    pub faces: Option<&'a crate::face::Found>,
    pub preset: &'a Preset,
    pub animator: &'a dyn Animator,
    pub encoder: H264Encoder,
    pub watermark_text: &'a str,
}

/// Renders `job` into `out`. `progress(done, total, preview_frame)` is
/// called after every frame with the watermarked preview-size frame;
/// setting `cancel` stops at the next frame boundary.
pub fn render(
    job: &Job<'_>,
    out: &OutputPaths,
    progress: &mut dyn FnMut(u32, u32, &RgbImage),
    cancel: &AtomicBool,
) -> Result<RenderReport, RenderError> {
    for path in out.all() {
        remove_if_present(&part(path))?;
    }
    let result = render_parts(job, out, progress, cancel);
    if result.is_ok() {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RenderError::Io { path, source }
        };
        // On disk before the record says they exist: a power cut after
        // the job turns `preview_ready` must not leave empty files.
        for path in out.all() {
            sync(&part(path)).map_err(io(path))?;
            std::fs::rename(part(path), path).map_err(io(path))?;
        }
        if let Some(dir) = out.full.parent() {
            sync(dir).map_err(io(dir))?;
        }
    } else {
        for path in out.all() {
            let _ = std::fs::remove_file(part(path));
        }
    }
    result
}

fn render_parts(
    job: &Job<'_>,
    out: &OutputPaths,
    progress: &mut dyn FnMut(u32, u32, &RgbImage),
    cancel: &AtomicBool,
) -> Result<RenderReport, RenderError> {
    let start = Instant::now();
    let mut animation = job.animator.start(
        job.photo,
        job.preset,
        &Request {
            limits: SizeLimits::default(),
            seed: job.seed,
            faces: job.faces,
        },
    )?;
    let plan = animation.plan();
    let prepared = start.elapsed();
    let preview_limits = SizeLimits {
        max_long_side: PREVIEW_LONG_SIDE.min(plan.width.max(plan.height)),
        min_long_side: 2,
    };
    let (pw, ph) = output_size(plan.width, plan.height, preview_limits);
    let watermark = Watermark::new(job.watermark_text, pw, ph);
    let mut full = VideoWriter::create(
        job.encoder,
        Quality::Full,
        plan.width,
        plan.height,
        plan.fps,
        &part(&out.full),
    )?;
    let mut preview = VideoWriter::create(
        job.encoder,
        Quality::Preview,
        pw,
        ph,
        plan.fps,
        &part(&out.preview),
    )?;
    let mut scaler = Scaler::default();
    let mut small = RgbImage::new(pw, ph);
    let poster_at = job
        .preset
        .peak_frame()
        .min(plan.frame_count.saturating_sub(1));
    let mut animate_time = Duration::ZERO;

    for index in 0..plan.frame_count {
        if cancel.load(Ordering::Relaxed) {
            return Err(RenderError::Cancelled);
        }
        let t = Instant::now();
        let frame = animation.next_frame()?.ok_or(RenderError::Short {
            expected: plan.frame_count,
            got: index,
        })?;
        animate_time += t.elapsed();
        full.push(frame.as_raw())?;
        scaler.scale_into(frame, &mut small);
        watermark.apply(&mut small);
        preview.push(small.as_raw())?;
        if index == poster_at {
            write_poster(&small, &part(&out.poster))?;
            if let Some(still) = &out.still {
                write_poster(frame, &part(still))?;
            }
        }
        progress(index + 1, plan.frame_count, &small);
    }
    let frames_done = start.elapsed();
    full.finish()?;
    let full_ready = start.elapsed();
    preview.finish()?;
    let preview_ready = start.elapsed();
    Ok(RenderReport {
        plan,
        preview_size: (pw, ph),
        backend: job.animator.backend(),
        encoder: job.encoder,
        prepared,
        frames_done,
        full_ready,
        preview_ready,
        animate_time,
    })
}

fn write_poster(frame: &RgbImage, path: &Path) -> Result<(), RenderError> {
    let io = |source| RenderError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut writer = std::io::BufWriter::new(file);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut writer, 85)
        .encode_image(frame)
        .map_err(|e| io(std::io::Error::other(e)))?;
    // A failed last write must fail the render, not vanish in a drop.
    std::io::Write::flush(&mut writer).map_err(io)?;
    Ok(())
}

/// Makes a file's data, or a folder's entries, durable.
pub fn sync(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

fn remove_if_present(path: &Path) -> Result<(), RenderError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(RenderError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Where the kiosk keeps the sample loops of its presets.
pub fn samples_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("samples")
}

/// Renders the attract screen's sample loop of `job.preset` into
/// `<dir>/<preset>.mp4` (preview quality, watermarked) and its poster
/// `<dir>/<preset>.jpg`. The photo must be one its subject agreed to show.
pub fn sample(job: &Job<'_>, dir: &Path) -> Result<RenderReport, RenderError> {
    let io = |path: &Path, source| RenderError::Io {
        path: path.to_path_buf(),
        source,
    };
    let work = dir.join(format!(".{}.work", job.preset.id()));
    std::fs::create_dir_all(&work).map_err(|e| io(&work, e))?;
    let out = OutputPaths::in_dir(&work);
    let report = render(job, &out, &mut |_, _, _| {}, &AtomicBool::new(false));
    let moved = report.and_then(|report| {
        for (from, name) in [(&out.preview, "mp4"), (&out.poster, "jpg")] {
            let to = dir.join(format!("{}.{name}", job.preset.id()));
            std::fs::rename(from, &to).map_err(|e| io(&to, e))?;
        }
        Ok(report)
    });
    let _ = std::fs::remove_dir_all(&work);
    moved
}
