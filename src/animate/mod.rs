//! Animator backends: photo + preset → frames.
//!
//! An [`Animator`] prepares a photo once ([`Animator::start`]) and returns an
//! [`Animation`] that yields the loop's frames in order. The backend decides
//! the frame size, fps and frame count (reported up front by
//! [`Animation::plan`]), so a backend that must crop or batch (LivePortrait)
//! fits as well as one that warps the whole photo. Progress is the number of
//! frames yielded so far.
//!
//! Backends are CPU-heavy and blocking: call them from a blocking thread.

pub mod gentle;
pub mod meshwarp;
pub mod rig;
pub mod warp;

pub use gentle::Gentle;
pub use meshwarp::MeshWarp;

use image::RgbImage;

use crate::config::AnimatorKind;
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

#[derive(Debug, thiserror::Error)]
pub enum AnimateError {
    #[error("the {backend} animator does not support the preset {preset}")]
    Unsupported {
        backend: &'static str,
        preset: String,
    },
    /// The photo cannot be animated; the message is for the guest.
    #[error("{0}")]
    Photo(crate::face::PhotoProblem),
    #[error("{0}")]
    Backend(String),
}

pub trait Animator: Send + Sync {
    fn name(&self) -> &'static str;
    /// Cheap check at upload time, so that a guest hears at once when the
    /// photo cannot be animated (no face…) instead of after queueing.
    fn check_photo(&self, _photo: &RgbImage) -> Result<(), AnimateError> {
        Ok(())
    }
    fn start(
        &self,
        photo: &RgbImage,
        preset: &Preset,
        limits: SizeLimits,
    ) -> Result<Box<dyn Animation>, AnimateError>;
}

pub trait Animation: Send {
    fn plan(&self) -> FramePlan;
    /// The next frame of the loop (RGB, `plan()` size), or `None` after the
    /// last one.
    fn next_frame(&mut self) -> Result<Option<&RgbImage>, AnimateError>;
}

/// The backend configured by `animator`. A face-aware backend whose face
/// models cannot load falls back to `gentle`, with the reason returned so
/// that it can be logged and shown on the health page: a guest never sees
/// an error for it.
pub fn from_config(
    kind: AnimatorKind,
    onnxruntime_lib: &std::path::Path,
    models_dir: &std::path::Path,
) -> (Box<dyn Animator>, Option<String>) {
    match kind {
        AnimatorKind::Gentle => (Box::new(Gentle), None),
        AnimatorKind::Meshwarp => {
            match crate::face::FaceModels::load(onnxruntime_lib, models_dir) {
                Ok(models) => (Box::new(MeshWarp::new(std::sync::Arc::new(models))), None),
                Err(e) => (
                    Box::new(Gentle),
                    Some(format!("meshwarp unavailable, using gentle: {e}")),
                ),
            }
        }
    }
}

/// `gentle` needs no models and always works, so staff can re-render any
/// job with it besides the configured backend.
static GENTLE: Gentle = Gentle;

/// The backends a job may ask for: the one in use, then `gentle`.
pub fn available(main: &dyn Animator) -> Vec<&'static str> {
    let mut names = vec![main.name()];
    if main.name() != GENTLE.name() {
        names.push(GENTLE.name());
    }
    names
}

/// The backend for a job that asked for `requested` (by name); the one in
/// use when it asked for nothing or for a backend this kiosk lacks.
pub fn pick<'a>(main: &'a dyn Animator, requested: Option<&str>) -> &'a dyn Animator {
    match requested {
        Some(name) if name == GENTLE.name() && main.name() != name => &GENTLE,
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
