//! `meshwarp`: face-aware animation on any CPU. Every usable face of the
//! photo (up to `max_faces`) gets a [`Rig`], all on one grid ([`Cast`]);
//! each frame's expressions become a smooth displacement field that moves
//! only the face regions (see `rig` and `cast` for the guarantees),
//! applied at full output resolution with bilinear sampling.

use std::sync::Arc;

use image::RgbImage;

use super::cast::{Cast, Timing};
use super::folds::Fold;
use super::looped::{Looped, Scene};
use super::mouth::Look;
use super::rig::{Field, Rig};
use super::{output_size, AnimateError, Animation, Animator, Request, SizeLimits};
use crate::backend::Backend;
use crate::face::{check, Face, FaceModels, Found};
use crate::geometry::{sample_bilinear, Lanes, Scaler};
use crate::motion::{Expression, Preset};

pub struct MeshWarp {
    models: Arc<FaceModels>,
    max_faces: u32,
}

impl MeshWarp {
    pub fn new(models: Arc<FaceModels>, max_faces: u32) -> Self {
        Self { models, max_faces }
    }
}

/// Finds the faces to animate (and those to keep still) in a photo.
pub fn find_faces(
    models: &FaceModels,
    photo: &RgbImage,
    max_faces: u32,
) -> Result<Found, AnimateError> {
    let faces = models
        .faces(photo)
        .map_err(|e| AnimateError::Backend(e.to_string()))?;
    check::select(faces, photo.width(), photo.height(), max_faces).map_err(AnimateError::Photo)
}

/// The faces a render uses: those the upload check stored, when they were
/// chosen with this `max_faces`; else found again.
pub fn faces_for(
    models: &FaceModels,
    photo: &RgbImage,
    request: &Request<'_>,
    max_faces: u32,
) -> Result<Found, AnimateError> {
    match request.faces {
        Some(found) if found.max_faces == max_faces && !found.animated.is_empty() => {
            Ok(found.clone())
        }
        _ => find_faces(models, photo, max_faces),
    }
}

/// Finds the face to animate: the largest usable one.
pub fn main_face(models: &FaceModels, photo: &RgbImage) -> Result<Face, AnimateError> {
    let found = find_faces(models, photo, 1)?;
    found
        .animated
        .into_iter()
        .next()
        .ok_or(AnimateError::Photo(crate::face::PhotoProblem::NoFace))
}

/// The faces of `found` (photo pixels) at the output size for `limits`.
pub fn scaled(photo: &RgbImage, found: &Found, limits: SizeLimits) -> (Found, (u32, u32)) {
    let (width, height) = output_size(photo.width(), photo.height(), limits);
    let (sx, sy) = (
        width as f32 / photo.width() as f32,
        height as f32 / photo.height() as f32,
    );
    (found.scaled(sx, sy), (width, height))
}

/// The rig of the photo's main face at its output size, with that face
/// (in output pixels).
pub fn rig_for(
    models: &FaceModels,
    photo: &RgbImage,
    limits: SizeLimits,
) -> Result<(Rig, Face, (u32, u32)), AnimateError> {
    let found = find_faces(models, photo, 1)?;
    let (found, (width, height)) = scaled(photo, &found, limits);
    let face = found
        .animated
        .into_iter()
        .next()
        .ok_or(AnimateError::Photo(crate::face::PhotoProblem::NoFace))?;
    Ok((Rig::new(&face, width, height), face, (width, height)))
}

/// Every animated face's rig on one grid, with the faces (output pixels).
pub fn cast_for(photo: &RgbImage, found: &Found, limits: SizeLimits) -> (Cast, Found, (u32, u32)) {
    let (found, (width, height)) = scaled(photo, found, limits);
    let cast = Cast::new(&found.animated, &found.still, width, height);
    (cast, found, (width, height))
}

impl Animator for MeshWarp {
    fn backend(&self) -> Backend {
        Backend::Meshwarp
    }

    fn check_photo(&self, photo: &RgbImage) -> Result<Found, AnimateError> {
        find_faces(&self.models, photo, self.max_faces)
    }

    fn start(
        &self,
        photo: &RgbImage,
        preset: &Preset,
        request: &Request<'_>,
    ) -> Result<Box<dyn Animation>, AnimateError> {
        super::ensure_supported(self.backend(), preset)?;
        let found = faces_for(&self.models, photo, request, self.max_faces)?;
        let (cast, _, (width, height)) = cast_for(photo, &found, request.limits);
        let source = Scaler::default().scale(photo, width, height);
        Ok(Box::new(MeshAnimation::new(
            Source::new(source),
            cast,
            preset.clone(),
            request.seed,
        )))
    }
}

/// A mesh warp of the photo's faces, played through the preset's loop.
pub type MeshAnimation = Looped<MeshScene>;

impl Looped<MeshScene> {
    pub fn new(source: Source, mut cast: Cast, preset: Preset, seed: u64) -> Self {
        cast.learn_mouths(&source.image);
        let timings = Timing::for_faces(cast.rigs().len(), seed, &preset);
        let size = source.image.dimensions();
        let scene = MeshScene {
            source,
            last: Vec::new(),
            cast,
            timings,
            preset: preset.clone(),
        };
        Looped::play(scene, size, &preset)
    }
}

/// Every face's rig, each on its own timing, warping one photo.
pub struct MeshScene {
    source: Source,
    /// The expressions the frame shows: a held pose (a plateau in the
    /// curves) keeps the frame instead of warping it again.
    last: Vec<Expression>,
    cast: Cast,
    timings: Vec<Timing>,
    preset: Preset,
}

impl MeshScene {
    pub fn cast(&self) -> &Cast {
        &self.cast
    }

    /// Each animated face's timing (largest face first).
    pub fn timings(&self) -> &[Timing] {
        &self.timings
    }

    /// Each face's expression at frame `index`.
    pub fn expressions(&self, index: u32) -> Vec<Expression> {
        self.timings
            .iter()
            .map(|t| t.expression(&self.preset, index))
            .collect()
    }

    /// The combined field at frame `index`.
    pub fn field(&self, index: u32) -> Field {
        self.cast.field(&self.expressions(index))
    }
}

impl Scene for MeshScene {
    fn draw(&mut self, index: u32, frame: &mut RgbImage) -> Result<(), AnimateError> {
        let expressions = self.expressions(index);
        if self.last != expressions {
            let field = self.cast.field(&expressions);
            remap(&self.source, frame, &field);
            self.last = expressions;
        }
        Ok(())
    }
}

/// The photo a mesh animation warps, kept in both layouts: bytes for
/// copying, lanes for sampling.
pub struct Source {
    image: RgbImage,
    lanes: Option<Lanes>,
}

impl Source {
    pub fn new(image: RgbImage) -> Self {
        let lanes = Lanes::new(&image);
        Self { image, lanes }
    }

    pub fn image(&self) -> &RgbImage {
        &self.image
    }

    fn sample(&self, sx: f32, sy: f32, px: &mut [u8]) {
        match &self.lanes {
            Some(l) => l.sample_fixed(Lanes::fixed(sx), Lanes::fixed(sy), px),
            None => {
                let (w, h) = self.image.dimensions();
                let (mx, my) = ((w.max(1) - 1) as f32, (h.max(1) - 1) as f32);
                sample_bilinear(self.image.as_raw(), w as usize * 3, mx, my, sx, sy, px);
            }
        }
    }

    /// A linear run of samples from an image too small for lanes.
    fn run_slow(&self, from: [f32; 2], step: [f32; 2], out: &mut [u8]) {
        for (k, px) in out.chunks_exact_mut(3).enumerate() {
            let k = k as f32;
            self.sample(from[0] + step[0] * k, from[1] + step[1] * k, px);
        }
    }
}

/// Renders `field` over `src` into `dst` (same size). Rows and columns
/// outside the field's grid are copied unchanged.
///
/// Within one grid cell of one row the displacement is linear in x, so the
/// source position advances by a constant step: the inner loop is an add and
/// a bilinear sample. Cells whose ends do not move (the window is zero
/// outside its circle) stay copied. Eyelid maps are evaluated only where an
/// eye can reach.
pub fn remap(src: &Source, dst: &mut RgbImage, field: &Field) {
    let (w, h) = (src.image.width() as usize, src.image.height() as usize);
    let stride = w * 3;
    let s = src.image.as_raw();
    let x_start = field.x0 as usize;
    let y_start = field.y0 as usize;
    let cell = field.cell;
    let x_end = (x_start + (field.nx - 1) * cell).min(w);
    let y_end = (y_start + (field.ny - 1) * cell).min(h);
    let mut row_field = vec![[0.0f32; 2]; field.nx];
    let inv_cell = 1.0 / cell as f32;
    // Eyelid maps act at `q = o − grid(o)`; a pixel can only reach an eye if
    // it lies within the eye's bounds widened by the largest grid move.
    let reach = field
        .d
        .iter()
        .fold(0.0f32, |m, d| m.max(d[0].abs()).max(d[1].abs()))
        + 1.0;
    let mut row_eyes = Vec::with_capacity(field.eyes.len());
    let mut row_mouths = Vec::with_capacity(field.mouths.len());
    let mut row_folds = Vec::with_capacity(field.folds.len());
    // Source positions of the row's nodes in the lanes' fixed point, and
    // 1/cell in 32.32 for the per-pixel step between two of them.
    let mut node_at = vec![[0i32; 2]; field.nx];
    let recip = (1i64 << 32) / cell as i64;
    for (y, out) in dst.chunks_exact_mut(stride).enumerate() {
        let row = &s[y * stride..(y + 1) * stride];
        if y < y_start || y >= y_end || x_start >= x_end {
            out.copy_from_slice(row);
            continue;
        }
        out[..x_start * 3].copy_from_slice(&row[..x_start * 3]);
        out[x_end * 3..].copy_from_slice(&row[x_end * 3..]);
        let gy = (y - y_start) as f32 * inv_cell;
        let j = (gy as usize).min(field.ny - 2);
        let fy = gy - j as f32;
        let (above, below) = (
            &field.d[j * field.nx..(j + 1) * field.nx],
            &field.d[(j + 1) * field.nx..(j + 2) * field.nx],
        );
        for ((rf, a), c) in row_field.iter_mut().zip(above).zip(below) {
            *rf = [a[0] + (c[0] - a[0]) * fy, a[1] + (c[1] - a[1]) * fy];
        }
        let yf = y as f32;
        if src.lanes.is_some() {
            for (k, (at, rf)) in node_at.iter_mut().zip(&row_field).enumerate() {
                let x = (x_start + k * cell) as f32;
                *at = [Lanes::fixed(x - rf[0]), Lanes::fixed(yf - rf[1])];
            }
        }
        row_eyes.clear();
        row_eyes.extend(field.eyes.iter().filter(|(lids, pose)| {
            !pose.is_still() && yf + reach >= lids.bounds[1] && yf - reach <= lids.bounds[3]
        }));
        row_mouths.clear();
        row_mouths.extend(field.mouths.iter().filter(|(mouth, open)| {
            *open > 0.0 && yf + reach >= mouth.bounds[1] && yf - reach <= mouth.bounds[3]
        }));
        row_folds.clear();
        row_folds.extend(field.folds.iter().filter(|(fold, deep)| {
            *deep > 0.0 && yf + reach >= fold.bounds[1] && yf - reach <= fold.bounds[3]
        }));
        for (i, ab) in row_field.windows(2).enumerate() {
            let xa = x_start + i * cell;
            if xa >= x_end {
                break;
            }
            let xb = (xa + cell).min(x_end);
            let (a, b) = (ab[0], ab[1]);
            let cells = xa * 3..xb * 3;
            // `q` is linear along the cell: its ends bound it.
            let (qa, qb) = (xa as f32 - a[0], (xa + cell) as f32 - b[0]);
            let (qy_lo, qy_hi) = (yf - a[1].max(b[1]), yf - a[1].min(b[1]));
            let meets = |b: &[f32; 4]| {
                qa.max(qb) >= b[0] && qa.min(qb) <= b[2] && qy_hi >= b[1] && qy_lo <= b[3]
            };
            let near_eye = row_eyes.iter().any(|(lids, _)| meets(&lids.bounds))
                || row_mouths.iter().any(|(mouth, _)| meets(&mouth.bounds));
            let near_fold = row_folds.iter().any(|(fold, _)| meets(&fold.bounds));
            if !near_eye && !near_fold && a == [0.0, 0.0] && b == [0.0, 0.0] {
                out[cells.clone()].copy_from_slice(&row[cells]);
                continue;
            }
            let step = [(b[0] - a[0]) * inv_cell, (b[1] - a[1]) * inv_cell];
            if !near_eye {
                match &src.lanes {
                    Some(lanes) => {
                        let (p, q) = (node_at[i], node_at[i + 1]);
                        let per_px =
                            |k: usize| (((i64::from(q[k]) - i64::from(p[k])) * recip) >> 32) as i32;
                        lanes.run(p[0], p[1], per_px(0), per_px(1), &mut out[cells.clone()]);
                    }
                    None => src.run_slow(
                        [xa as f32 - a[0], yf - a[1]],
                        [1.0 - step[0], -step[1]],
                        &mut out[cells.clone()],
                    ),
                }
                if near_fold {
                    shade_run(&row_folds, [xa as f32, yf], a, step, &mut out[cells]);
                }
                continue;
            }
            let mut d = a;
            for x in xa..xb {
                let (mut dx, mut dy) = (d[0], d[1]);
                d = [d[0] + step[0], d[1] + step[1]];
                // Eyelids act where the eyes are in the photo: after the
                // head motion is undone (see `Field::at`).
                let q = [x as f32 - dx, yf - dy];
                let mut cavity = None;
                for (mouth, open) in &row_mouths {
                    let m = match mouth.look(q, *open) {
                        Look::Shifted(m) => m,
                        Look::Cavity { colour, cover, d } => {
                            cavity = Some((colour, cover));
                            d
                        }
                    };
                    dx += m[0];
                    dy += m[1];
                }
                for (lids, pose) in &row_eyes {
                    let e = lids.at(q, *pose);
                    dx += e[0];
                    dy += e[1];
                }
                let px = &mut out[x * 3..x * 3 + 3];
                let from = [x as f32 - dx, yf - dy];
                src.sample(from[0], from[1], px);
                darken(
                    px,
                    row_folds.iter().map(|(f, k)| f.shade(from, *k)).product(),
                );
                if let Some((colour, cover)) = cavity {
                    for (p, c) in px.iter_mut().zip(colour) {
                        *p = to_u8(f32::from(*p) * (1.0 - cover) + c * cover);
                    }
                }
            }
        }
    }
}

/// Shades a run of pixels the grid alone moves (from `start`, the grid's
/// move `d` there changing by `step` per pixel) with the folds.
fn shade_run(folds: &[&(Fold, f32)], start: [f32; 2], d: [f32; 2], step: [f32; 2], out: &mut [u8]) {
    for (k, px) in out.chunks_exact_mut(3).enumerate() {
        let k = k as f32;
        let from = [
            start[0] + k - d[0] - step[0] * k,
            start[1] - d[1] - step[1] * k,
        ];
        darken(
            px,
            folds
                .iter()
                .map(|(f, amount)| f.shade(from, *amount))
                .product(),
        );
    }
}

/// One pixel darkened by `shade` (1 = unchanged).
fn darken(px: &mut [u8], shade: f32) {
    if shade < 1.0 {
        for p in px.iter_mut() {
            *p = to_u8(f32::from(*p) * shade);
        }
    }
}

/// A channel value rounded to the nearest level and clamped to 0..=255
/// (as `round`, which is a libm call per pixel on baseline x86-64).
fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 255.0) + 0.5) as u8
}
