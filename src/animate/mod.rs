//! Animator backends: photo + preset → frames.
//!
//! An [`Animator`] prepares a photo once ([`Animator::start`]) and returns an
//! [`Animation`] that yields the loop's frames in order; every backend's is
//! a [`looped::Looped`] scene, so the loop itself is written once. The backend decides
//! the frame size, fps and frame count (reported up front by
//! [`Animation::plan`]), so a backend that must crop or batch (LivePortrait)
//! fits as well as one that warps the whole photo. Progress is the number of
//! frames yielded so far.
//!
//! Backends are CPU-heavy and blocking: call them from a blocking thread.

mod basis;
pub mod cast;
pub mod folds;
pub mod gentle;
pub mod lids;
pub mod liveportrait;
pub mod looped;
pub mod meshwarp;
pub mod mouth;
pub mod rig;

pub use gentle::Gentle;
pub use liveportrait::LivePortrait;
pub use meshwarp::MeshWarp;

use image::RgbImage;

use crate::backend::Backend;
use crate::config::Settings;
use crate::face::Found;
use crate::motion::Preset;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramePlan {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub frame_count: u32,
}

/// Output size bounds the caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimits {
    /// HD: the long side is at most this.
    pub max_long_side: u32,
    /// Small photos are upscaled to at least this long side.
    pub min_long_side: u32,
}

impl Default for SizeLimits {
    fn default() -> Self {
        Self {
            max_long_side: 1920,
            min_long_side: 720,
        }
    }
}

/// What one render asks of a backend besides the photo and the preset.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    pub limits: SizeLimits,
    /// Seeds each face's own timing (the job id), so that a re-render of a
    /// job is the same loop.
    pub seed: u64,
    /// The faces the upload check found (photo pixels); the backend finds
    /// them again when absent or chosen with another `max_faces`.
    pub faces: Option<&'a Found>,
}

#[derive(Debug, thiserror::Error)]
pub enum AnimateError {
    #[error("the {backend} animator does not support the preset {preset}")]
    Unsupported { backend: Backend, preset: String },
    /// The photo cannot be animated; the message is for the guest.
    #[error("{0}")]
    Photo(crate::face::PhotoProblem),
    #[error("{0}")]
    Backend(String),
}

pub trait Animator: Send + Sync {
    fn backend(&self) -> Backend;
    fn name(&self) -> &'static str {
        self.backend().as_str()
    }
    /// Cheap check at upload time, so that a guest hears at once when the
    /// photo cannot be animated (no face…) instead of after queueing. The
    /// faces it found go with the job to the render. A backend that moves
    /// the whole photo finds none.
    fn check_photo(&self, _photo: &RgbImage) -> Result<Found, AnimateError> {
        Ok(Found::default())
    }
    fn start(
        &self,
        photo: &RgbImage,
        preset: &Preset,
        request: &Request<'_>,
    ) -> Result<Box<dyn Animation>, AnimateError>;
    /// The backend that re-renders a job this one failed on (not for a
    /// photo problem, which no backend fixes).
    fn fallback(&self) -> Option<&dyn Animator> {
        None
    }
    /// Why the last job fell back, for the admin health page.
    fn note(&self) -> Option<String> {
        None
    }
}

pub trait Animation: Send {
    fn plan(&self) -> FramePlan;
    /// The next frame of the loop (RGB, `plan()` size), or `None` after the
    /// last one.
    fn next_frame(&mut self) -> Result<Option<&RgbImage>, AnimateError>;
}

/// The backend configured by `animator`. A backend whose models cannot
/// load falls back to the next simpler one (liveportrait → meshwarp →
/// gentle), with the reason returned so that it can be logged and shown on
/// the health page: a guest never sees an error for it.
pub fn from_config(settings: &Settings) -> (Box<dyn Animator>, Option<String>) {
    let faces = || {
        crate::face::FaceModels::load(&settings.onnxruntime_lib, &settings.models_dir)
            .map(std::sync::Arc::new)
    };
    let max_faces = settings.max_faces;
    match settings.animator {
        Backend::Gentle => (Box::new(Gentle), None),
        Backend::Meshwarp => match faces() {
            Ok(models) => (Box::new(MeshWarp::new(models, max_faces)), None),
            Err(e) => (
                Box::new(Gentle),
                Some(format!("meshwarp unavailable, using gentle: {e}")),
            ),
        },
        Backend::Liveportrait => {
            let models = match faces() {
                Ok(m) => m,
                Err(e) => {
                    return (
                        Box::new(Gentle),
                        Some(format!("liveportrait unavailable, using gentle: {e}")),
                    )
                }
            };
            let loaded = liveportrait::Nets::load(&liveportrait::Options::from_settings(settings))
                .and_then(|nets| {
                    LivePortrait::new(
                        models.clone(),
                        nets,
                        MeshWarp::new(models.clone(), max_faces),
                        max_faces,
                    )
                });
            match loaded {
                Ok(lp) => (Box::new(lp), None),
                Err(e) => (
                    Box::new(MeshWarp::new(models, max_faces)),
                    Some(format!("liveportrait unavailable, using meshwarp: {e}")),
                ),
            }
        }
    }
}

/// The error every backend gives for a preset it does not play.
pub fn ensure_supported(backend: Backend, preset: &Preset) -> Result<(), AnimateError> {
    if preset.supports_backend(backend) {
        Ok(())
    } else {
        Err(AnimateError::Unsupported {
            backend,
            preset: preset.id().to_string(),
        })
    }
}

/// `gentle` needs no models and always works, so staff can re-render any
/// job with it besides the configured backend.
static GENTLE: Gentle = Gentle;

/// The backends a job may ask for: the one in use, its fallback, then
/// `gentle`.
pub fn available(main: &dyn Animator) -> Vec<Backend> {
    let mut backends = vec![main.backend()];
    if let Some(f) = main.fallback() {
        backends.push(f.backend());
    }
    if !backends.contains(&Backend::Gentle) {
        backends.push(Backend::Gentle);
    }
    backends
}

/// The backend for a job that asked for `requested`; the one in use when
/// it asked for nothing or for a backend this kiosk lacks.
pub fn pick(main: &dyn Animator, requested: Option<Backend>) -> &dyn Animator {
    match (requested, main.fallback()) {
        (Some(b), Some(f)) if b == f.backend() => f,
        (Some(Backend::Gentle), _) if main.backend() != Backend::Gentle => &GENTLE,
        _ => main,
    }
}

/// Output size for a `width` × `height` photo: aspect kept, long side
/// within `limits`, both sides even (H.264 with 4:2:0 needs it).
pub fn output_size(width: u32, height: u32, limits: SizeLimits) -> (u32, u32) {
    let long = width.max(height).max(1) as f32;
    let target = long.clamp(limits.min_long_side as f32, limits.max_long_side as f32);
    let scale = target / long;
    let even = |v: u32| ((v as f32 * scale / 2.0).round() as u32 * 2).max(2);
    (even(width), even(height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_size_is_even_bounded_and_keeps_aspect() {
        let l = SizeLimits::default();
        assert_eq!(output_size(2048, 1360, l), (1920, 1276));
        assert_eq!(output_size(512, 600, l), (614, 720));
        assert_eq!(output_size(1080, 1350, l), (1080, 1350));
        assert_eq!(output_size(703, 622, l), (720, 638));
        let p = SizeLimits {
            max_long_side: 720,
            min_long_side: 720,
        };
        assert_eq!(output_size(1920, 1276, p), (720, 478));
        for (w, h) in [(3001, 1999), (129, 387), (4000, 4000)] {
            let (ow, oh) = output_size(w, h, l);
            assert!(ow % 2 == 0 && oh % 2 == 0 && ow.max(oh) <= 1920);
            let (a, b) = (w as f32 / h as f32, ow as f32 / oh as f32);
            assert!((a - b).abs() / a < 0.01, "{w}x{h} -> {ow}x{oh}");
        }
    }
}
