//! `liveportrait`: LivePortrait's neural motion (Kuaishou, MIT) on ONNX
//! Runtime: TensorRT on the Jetson, CUDA on other NVIDIA machines, the CPU
//! everywhere else, with the same code.
//!
//! Per photo, once: our face landmarks give LivePortrait's crop; the
//! appearance network turns it into a 3-D feature volume and the motion
//! extractor into head pose, expression and 21 implicit keypoints. Per
//! frame: the preset's expression (or a recorded driving template) moves
//! the keypoints, the stitching network keeps the face's edge in place, the
//! warp-and-decode network renders the 512 face, and it is blended back
//! into the full-size photo.

pub mod crop;
pub mod engine;
pub mod expression;
pub mod kp;
pub mod paste;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use image::RgbImage;

use self::engine::{Net, Provider, Spec, TrtOptions};
use self::kp::{Kp, Motion, NUM_KP, STITCH_OUT};
use super::cast::Timing;
use super::looped::{Looped, Scene};
use super::meshwarp::{faces_for, find_faces, MeshWarp};
use super::{output_size, AnimateError, Animation, Animator, Request};
use crate::backend::Backend;
use crate::face::{Face, FaceModels, Found};
use crate::geometry::Scaler;
use crate::motion::Preset;

/// Source lip-open ratio from which the mouth is closed before animating
/// (LivePortrait's `lip_normalize_threshold`).
pub const LIP_NORMALIZE_THRESHOLD: f32 = 0.03;
/// Frames rendered per warp call where the model takes a batch.
pub const BATCH: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum LivePortraitError {
    #[error("LivePortrait model {0} is missing (run engines/fetch on a provisioning machine, then copy the files to liveportrait_dir)")]
    Missing(String),
    #[error("LivePortrait model {path}: {message}")]
    Model { path: String, message: String },
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    #[error("LivePortrait inference failed: {0}")]
    Inference(String),
}

/// The loaded networks and the provider they run on.
pub struct Nets {
    appearance: Net,
    motion: Net,
    warp: Net,
    stitching: Net,
    stitching_lip: Net,
    pub provider: Provider,
}

/// Where the models are and how to run them.
pub struct Options<'a> {
    pub onnxruntime_lib: &'a Path,
    pub dir: &'a Path,
    pub provider: Provider,
    /// TensorRT's engine cache: the data directory, since the appliance's
    /// root file system is read-only.
    pub cache_dir: PathBuf,
    pub threads: usize,
}

impl<'a> Options<'a> {
    /// The kiosk's settings: TensorRT's cache in the data directory.
    pub fn from_settings(settings: &'a crate::config::Settings) -> Self {
        Self {
            onnxruntime_lib: &settings.onnxruntime_lib,
            dir: &settings.liveportrait_dir,
            provider: settings.liveportrait_provider,
            cache_dir: settings.data_dir.join("tensorrt-cache"),
            // ONNX Runtime's default: every core.
            threads: 0,
        }
    }
}

/// Runs every network once on a plain grey face crop, so that TensorRT
/// builds (or loads) its engines now rather than for the first guest.
pub fn warm_up(nets: &Nets) -> Result<(), LivePortraitError> {
    let side = paste::INPUT_SIDE as usize;
    let input = vec![0.5f32; 3 * side * side];
    let f_s = nets.features(&input)?;
    let motion = nets.motion(&input)?;
    let x_s = motion.keypoints();
    nets.close_lips(&x_s, 0.1)?;
    let mut driving = [x_s];
    nets.stitch(&x_s, &mut driving)?;
    nets.render(&f_s, &x_s, &driving)?;
    Ok(())
}

impl Nets {
    /// Loads every network on the first provider of `options.provider`'s
    /// chain that takes them all; each refusal is logged.
    pub fn load(options: &Options) -> Result<Self, LivePortraitError> {
        let env = crate::face::environment(options.onnxruntime_lib)
            .map_err(|e| LivePortraitError::Runtime(e.to_string()))?;
        // Built on the device by engines/build into the cache, or shipped
        // beside the models.
        let plugin = [options.dir, options.cache_dir.as_path()]
            .map(|d| d.join(engine::PLUGIN_FILE))
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| options.cache_dir.join(engine::PLUGIN_FILE));
        let trt = TrtOptions {
            cache_dir: &options.cache_dir,
            plugin: &plugin,
        };
        let mut last = None;
        for &p in options.provider.chain() {
            if p == Provider::Tensorrt {
                // Best effort: TensorRT reports a missing directory late.
                let _ = std::fs::create_dir_all(&options.cache_dir);
            }
            let one = |spec: &Spec| engine::load(env, options.dir, spec, p, &trt, options.threads);
            let loaded = (|| {
                Ok::<_, LivePortraitError>(Nets {
                    appearance: one(&engine::APPEARANCE)?,
                    motion: one(&engine::MOTION)?,
                    warp: one(&engine::WARP)?,
                    stitching: one(&engine::STITCHING)?,
                    stitching_lip: one(&engine::STITCHING_LIP)?,
                    provider: p,
                })
            })();
            match loaded {
                Ok(nets) => {
                    tracing::info!(provider = p.as_str(), dir = %options.dir.display(), "LivePortrait loaded");
                    return Ok(nets);
                }
                // A missing file is missing on every provider.
                Err(e @ LivePortraitError::Missing(_)) => return Err(e),
                Err(e) => {
                    tracing::warn!(provider = p.as_str(), error = %e, "LivePortrait provider refused");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| LivePortraitError::Runtime("no provider to try".into())))
    }

    pub fn motion(&self, input: &[f32]) -> Result<Motion, LivePortraitError> {
        let names = ["pitch", "yaw", "roll", "t", "exp", "scale", "kp"];
        let shape = vec![1, 3, paste::INPUT_SIDE as usize, paste::INPUT_SIDE as usize];
        let out = self.motion.run(&[("img", shape, input)], &names)?;
        let bad = |what: &str| LivePortraitError::Inference(format!("motion extractor: {what}"));
        let t: [f32; 3] = out[3].as_slice().try_into().map_err(|_| bad("t"))?;
        Ok(Motion {
            pitch: kp::degrees_from_bins(&out[0]),
            yaw: kp::degrees_from_bins(&out[1]),
            roll: kp::degrees_from_bins(&out[2]),
            t,
            exp: kp::unflatten(&out[4]).ok_or_else(|| bad("exp"))?,
            scale: *out[5].first().ok_or_else(|| bad("scale"))?,
            kp: kp::unflatten(&out[6]).ok_or_else(|| bad("kp"))?,
        })
    }

    pub fn features(&self, input: &[f32]) -> Result<Vec<f32>, LivePortraitError> {
        let shape = vec![1, 3, paste::INPUT_SIDE as usize, paste::INPUT_SIDE as usize];
        let mut out = self.appearance.run(&[("img", shape, input)], &["output"])?;
        out.pop()
            .ok_or_else(|| LivePortraitError::Inference("appearance: no output".into()))
    }

    /// The lip network's offsets that close the mouth of `x_s`
    /// (LivePortrait's `retarget_lip(x_s, [c_s_lip, 0])`).
    pub fn close_lips(&self, x_s: &Kp, lip_ratio: f32) -> Result<Kp, LivePortraitError> {
        let mut input = kp::flatten(x_s).to_vec();
        input.extend([lip_ratio, 0.0]);
        let out = self
            .stitching_lip
            .run(&[("input", vec![1, 65], &input)], &["output"])?;
        kp::unflatten(&out[0])
            .ok_or_else(|| LivePortraitError::Inference("stitching_lip: wrong size".into()))
    }

    /// Stitching for a batch of driving keypoints against `x_s`.
    pub fn stitch(&self, x_s: &Kp, driving: &mut [Kp]) -> Result<(), LivePortraitError> {
        let source = kp::flatten(x_s);
        let rows: Vec<Vec<f32>> = driving
            .iter()
            .map(|d| {
                source
                    .iter()
                    .chain(kp::flatten(d).iter())
                    .copied()
                    .collect()
            })
            .collect();
        let deltas = Self::batched(
            &self.stitching,
            &rows,
            &[126],
            ("input", "output"),
            STITCH_OUT,
        )?;
        for (d, delta) in driving.iter_mut().zip(deltas.chunks_exact(STITCH_OUT)) {
            let delta: &[f32; STITCH_OUT] = delta
                .try_into()
                .map_err(|_| LivePortraitError::Inference("stitching: wrong size".into()))?;
            kp::apply_stitching(d, delta);
        }
        Ok(())
    }

    /// Runs `net` on `rows` (each of shape `item`): in one call where the
    /// model takes a batch, else one by one. Returns the outputs back to
    /// back, `out_len` values each.
    fn batched(
        net: &Net,
        rows: &[Vec<f32>],
        item: &[usize],
        (input, output): (&str, &str),
        out_len: usize,
    ) -> Result<Vec<f32>, LivePortraitError> {
        let mut shape = vec![1];
        shape.extend_from_slice(item);
        let mut all = Vec::with_capacity(rows.len() * out_len);
        if net.batched && rows.len() > 1 {
            shape[0] = rows.len();
            let flat: Vec<f32> = rows.concat();
            let out = net.run(&[(input, shape, &flat)], &[output])?;
            all.extend_from_slice(&out[0]);
        } else {
            for row in rows {
                let out = net.run(&[(input, shape.clone(), row)], &[output])?;
                all.extend_from_slice(&out[0]);
            }
        }
        if all.len() != rows.len() * out_len {
            return Err(LivePortraitError::Inference(format!(
                "{}: {} values for {} frames",
                net.file.display(),
                all.len(),
                rows.len()
            )));
        }
        Ok(all)
    }

    /// Warp and decode: the 512 face for each driving keypoint set.
    pub fn render(
        &self,
        f_s: &[f32],
        x_s: &Kp,
        driving: &[Kp],
    ) -> Result<Vec<RgbImage>, LivePortraitError> {
        let items: Vec<(&[f32], &Kp, &Kp)> = driving.iter().map(|d| (f_s, x_s, d)).collect();
        self.render_items(&items)
    }

    /// Warp and decode for items of any faces (each its own features,
    /// source and driving keypoints), batched where the model takes a
    /// batch: the faces of a group go through together.
    pub fn render_items(
        &self,
        items: &[(&[f32], &Kp, &Kp)],
    ) -> Result<Vec<RgbImage>, LivePortraitError> {
        let side = crop::CROP_SIDE as usize;
        let out_len = 3 * side * side;
        let mut faces = Vec::with_capacity(items.len());
        let per_call = if self.warp.batched { BATCH } else { 1 };
        for chunk in items.chunks(per_call) {
            let b = chunk.len();
            let feature: Vec<f32> = chunk
                .iter()
                .flat_map(|(f, _, _)| f.iter().copied())
                .collect();
            let kp_d: Vec<f32> = chunk.iter().flat_map(|(_, _, d)| kp::flatten(d)).collect();
            let kp_s: Vec<f32> = chunk.iter().flat_map(|(_, s, _)| kp::flatten(s)).collect();
            let out = self.warp.run(
                &[
                    ("feature_3d", vec![b, 32, 16, 64, 64], &feature),
                    ("kp_driving", vec![b, NUM_KP, 3], &kp_d),
                    ("kp_source", vec![b, NUM_KP, 3], &kp_s),
                ],
                &["out"],
            )?;
            if out[0].len() != b * out_len {
                return Err(LivePortraitError::Inference(
                    "warping_spade: wrong size".into(),
                ));
            }
            for planes in out[0].chunks_exact(out_len) {
                faces.push(paste::to_image(planes, crop::CROP_SIDE).ok_or_else(|| {
                    LivePortraitError::Inference("warping_spade: wrong size".into())
                })?);
            }
        }
        Ok(faces)
    }
}

pub struct LivePortrait {
    faces: Arc<FaceModels>,
    nets: Arc<Nets>,
    mask: Arc<Vec<f32>>,
    /// Re-renders a job the engine failed on.
    fallback: MeshWarp,
    max_faces: u32,
    /// The engine's last failure, for the health page.
    failure: Arc<Mutex<Option<String>>>,
}

/// Records `e` as the engine's last failure and turns it into the
/// animator's error.
fn failed(note: &Mutex<Option<String>>, e: LivePortraitError) -> AnimateError {
    let message = e.to_string();
    tracing::warn!("liveportrait failed: {message}");
    if let Ok(mut n) = note.lock() {
        *n = Some(format!(
            "liveportrait failed, the job was re-rendered with meshwarp: {message}"
        ));
    }
    AnimateError::Backend(message)
}

impl LivePortrait {
    pub fn new(
        faces: Arc<FaceModels>,
        nets: Nets,
        fallback: MeshWarp,
        max_faces: u32,
    ) -> Result<Self, LivePortraitError> {
        let mask = paste::mask().map_err(|m| LivePortraitError::Model {
            path: "mask_template.png".into(),
            message: m,
        })?;
        Ok(Self {
            faces,
            nets: Arc::new(nets),
            mask: Arc::new(mask),
            fallback,
            max_faces,
            failure: Arc::new(Mutex::new(None)),
        })
    }

    pub fn provider(&self) -> Provider {
        self.nets.provider
    }
}

impl Animator for LivePortrait {
    fn backend(&self) -> Backend {
        Backend::Liveportrait
    }

    fn check_photo(&self, photo: &RgbImage) -> Result<Found, AnimateError> {
        find_faces(&self.faces, photo, self.max_faces)
    }

    fn fallback(&self) -> Option<&dyn Animator> {
        Some(&self.fallback)
    }

    fn note(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|n| n.clone())
    }

    fn start(
        &self,
        photo: &RgbImage,
        preset: &Preset,
        request: &Request<'_>,
    ) -> Result<Box<dyn Animation>, AnimateError> {
        super::ensure_supported(self.backend(), preset)?;
        let found = faces_for(&self.faces, photo, request, self.max_faces)?;
        let (width, height) = output_size(photo.width(), photo.height(), request.limits);
        let timings = Timing::for_faces(found.animated.len(), request.seed, preset);
        let subjects = found
            .animated
            .iter()
            .zip(timings)
            .map(|(face, timing)| self.subject(photo, face, timing, (width, height)))
            .collect::<Result<Vec<_>, _>>()?;
        let scene = PortraitScene {
            nets: self.nets.clone(),
            mask: self.mask.clone(),
            failure: self.failure.clone(),
            preset: preset.clone(),
            subjects,
            background: Scaler::default().scale(photo, width, height),
        };
        Ok(Box::new(Looped::play(scene, (width, height), preset)))
    }
}

impl LivePortrait {
    /// One face's source features, motion and crop, for a frame of `size`.
    fn subject(
        &self,
        photo: &RgbImage,
        face: &Face,
        timing: Timing,
        (width, height): (u32, u32),
    ) -> Result<Subject, AnimateError> {
        let c = crop::face_crop(face)
            .ok_or_else(|| AnimateError::Backend("no crop for this face".into()))?;
        let input = paste::network_input(photo, c.to_photo);
        let backend = |e| failed(&self.failure, e);
        let f_s = self.nets.features(&input).map_err(backend)?;
        let motion = self.nets.motion(&input).map_err(backend)?;
        let x_s = motion.keypoints();
        let lip_ratio = crop::lip_ratio(face);
        let lips = if lip_ratio >= LIP_NORMALIZE_THRESHOLD {
            Some(self.nets.close_lips(&x_s, lip_ratio).map_err(backend)?)
        } else {
            None
        };
        // Frame pixel → photo pixel → crop pixel.
        let (sx, sy) = (
            photo.width() as f32 / width as f32,
            photo.height() as f32 / height as f32,
        );
        let m = c.to_crop;
        Ok(Subject {
            f_s,
            motion,
            x_s,
            lips,
            to_crop: [m[0] * sx, m[1] * sy, m[2], m[3] * sx, m[4] * sy, m[5]],
            timing,
            ready: std::collections::VecDeque::new(),
        })
    }
}

/// One animated face: its source, its crop in the frame, its own timing.
struct Subject {
    f_s: Vec<f32>,
    motion: Motion,
    x_s: Kp,
    lips: Option<Kp>,
    to_crop: crate::geometry::Affine,
    timing: Timing,
    /// Generated faces not yet handed out (a batch runs ahead).
    ready: std::collections::VecDeque<RgbImage>,
}

/// Every face's generated crops pasted on the photo.
pub struct PortraitScene {
    nets: Arc<Nets>,
    mask: Arc<Vec<f32>>,
    failure: Arc<Mutex<Option<String>>>,
    preset: Preset,
    /// Largest first; pasted in that order, so a smaller face's own crop
    /// goes on top of the larger face's edge.
    subjects: Vec<Subject>,
    background: RgbImage,
}

impl PortraitScene {
    /// How many faces come alive.
    pub fn faces(&self) -> usize {
        self.subjects.len()
    }

    /// Driving keypoints of the first face for frame `index`, before
    /// stitching (and before the lip-closing offset, which goes on after).
    pub fn driving(&self, index: u32) -> Kp {
        self.driving_of(0, index)
    }

    /// Driving keypoints of face `k` for frame `index`, on its own timing.
    pub fn driving_of(&self, k: usize, index: u32) -> Kp {
        let Some(subject) = self.subjects.get(k) else {
            return Kp::default();
        };
        match self.preset.template() {
            Some(t) => {
                let shifted = subject.timing.frame(index, self.preset.frame_count());
                let at = t.at_time(self.preset.curve_time(shifted));
                kp::relative(&subject.motion, at, &t.frames[0])
            }
            None => {
                let delta = expression::delta(&subject.timing.expression(&self.preset, index));
                expression::drive(&subject.motion, &delta)
            }
        }
    }

    /// Every face's frames from `from` on, a batch of them: driving
    /// keypoints per face, stitched against that face's source, then one
    /// warp pass for all of them (a group fills the model's batch together).
    fn refill(&mut self, from: u32) -> Result<(), LivePortraitError> {
        let end = (from + BATCH as u32).min(self.preset.frame_count());
        let mut driving: Vec<Vec<Kp>> = Vec::with_capacity(self.subjects.len());
        for k in 0..self.subjects.len() {
            let mut d: Vec<Kp> = (from..end).map(|i| self.driving_of(k, i)).collect();
            let s = &self.subjects[k];
            kp::stitch_then_close_lips(&mut d, s.lips.as_ref(), |d| self.nets.stitch(&s.x_s, d))?;
            driving.push(d);
        }
        let items: Vec<(&[f32], &Kp, &Kp)> = self
            .subjects
            .iter()
            .zip(&driving)
            .flat_map(|(s, d)| d.iter().map(move |d| (s.f_s.as_slice(), &s.x_s, d)))
            .collect();
        let mut faces = self.nets.render_items(&items)?.into_iter();
        for (s, d) in self.subjects.iter_mut().zip(&driving) {
            s.ready.extend(faces.by_ref().take(d.len()));
        }
        Ok(())
    }
}

impl Scene for PortraitScene {
    fn draw(&mut self, index: u32, frame: &mut RgbImage) -> Result<(), AnimateError> {
        if self.subjects.iter().any(|s| s.ready.is_empty()) {
            if let Err(e) = self.refill(index) {
                return Err(failed(&self.failure, e));
            }
        }
        frame.copy_from_slice(self.background.as_raw());
        for s in &mut self.subjects {
            let face = s
                .ready
                .pop_front()
                .ok_or_else(|| AnimateError::Backend("LivePortrait rendered no frame".into()))?;
            paste::paste(frame, &face, &self.mask, s.to_crop);
        }
        Ok(())
    }
}
