//! `meshwarp`: face-aware animation on any CPU. The photo's largest face
//! gets a [`Rig`]; each frame's expression becomes a smooth displacement
//! field that moves only the face region (see `rig` for the guarantees),
//! applied at full output resolution with bilinear sampling.

use std::sync::Arc;

use image::RgbImage;

use super::rig::{Field, Rig};
use super::{output_size, AnimateError, Animation, Animator, FramePlan, SizeLimits};
use crate::face::{check, Face, FaceModels};
use crate::geometry::{sample_bilinear, Lanes, Scaler};
use crate::motion::{Expression, Preset};

pub struct MeshWarp {
    models: Arc<FaceModels>,
}

impl MeshWarp {
    pub fn new(models: Arc<FaceModels>) -> Self {
        Self { models }
    }
}

/// Finds the face to animate: the largest, if it passes the photo checks.
pub fn main_face(models: &FaceModels, photo: &RgbImage) -> Result<Face, AnimateError> {
    let faces = models
        .faces(photo)
        .map_err(|e| AnimateError::Backend(e.to_string()))?;
    let face = faces
        .into_iter()
        .next()
        .ok_or(AnimateError::Photo(crate::face::PhotoProblem::NoFace))?;
    check::face(&face, photo.width(), photo.height()).map_err(AnimateError::Photo)?;
    Ok(face)
}

/// The rig for a photo at its output size, with the face (in output
/// pixels) it was built from.
pub fn rig_for(
    models: &FaceModels,
    photo: &RgbImage,
    limits: SizeLimits,
) -> Result<(Rig, Face, (u32, u32)), AnimateError> {
    let face = main_face(models, photo)?;
    let (width, height) = output_size(photo.width(), photo.height(), limits);
    let (sx, sy) = (
        width as f32 / photo.width() as f32,
        height as f32 / photo.height() as f32,
    );
    let scaled = Face {
        bbox: [
            face.bbox[0] * sx,
            face.bbox[1] * sy,
            face.bbox[2] * sx,
            face.bbox[3] * sy,
        ],
        score: face.score,
        landmarks: face
            .landmarks
            .iter()
            .map(|p| [p[0] * sx, p[1] * sy, p[2] * sx])
            .collect(),
    };
    Ok((Rig::new(&scaled, width, height), scaled, (width, height)))
}

impl Animator for MeshWarp {
    fn name(&self) -> &'static str {
        "meshwarp"
    }

    fn check_photo(&self, photo: &RgbImage) -> Result<(), AnimateError> {
        main_face(&self.models, photo).map(|_| ())
    }

    fn start(
        &self,
        photo: &RgbImage,
        preset: &Preset,
        limits: SizeLimits,
    ) -> Result<Box<dyn Animation>, AnimateError> {
        super::ensure_supported(self.name(), preset)?;
        let (rig, _, (width, height)) = rig_for(&self.models, photo, limits)?;
        let source = Scaler::default().scale(photo, width, height);
        Ok(Box::new(MeshAnimation {
            frame: source.clone(),
            source: Source::new(source),
            last: None,
            rig,
            preset: preset.clone(),
            next: 0,
        }))
    }
}

pub struct MeshAnimation {
    source: Source,
    frame: RgbImage,
    /// The expression `frame` shows: a held pose (a plateau in the curves)
    /// reuses the frame instead of warping it again.
    last: Option<Expression>,
    rig: Rig,
    preset: Preset,
    next: u32,
}

impl MeshAnimation {
    pub fn rig(&self) -> &Rig {
        &self.rig
    }
}

impl Animation for MeshAnimation {
    fn plan(&self) -> FramePlan {
        FramePlan {
            width: self.frame.width(),
            height: self.frame.height(),
            fps: self.preset.fps(),
            frame_count: self.preset.frame_count(),
        }
    }

    fn next_frame(&mut self) -> Result<Option<&RgbImage>, AnimateError> {
        if self.next >= self.preset.frame_count() {
            return Ok(None);
        }
        let expression = self.preset.at_frame(self.next);
        if self.last != Some(expression) {
            let field = self.rig.field(&expression);
            remap(&self.source, &mut self.frame, &field);
            self.last = Some(expression);
        }
        self.next += 1;
        Ok(Some(&self.frame))
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
        row_eyes.extend(field.eyes.iter().filter(|(lids, amount)| {
            *amount > 0.0 && yf + reach >= lids.bounds[1] && yf - reach <= lids.bounds[3]
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
            let near_eye = row_eyes.iter().any(|(lids, _)| {
                qa.max(qb) >= lids.bounds[0]
                    && qa.min(qb) <= lids.bounds[2]
                    && qy_hi >= lids.bounds[1]
                    && qy_lo <= lids.bounds[3]
            });
            if !near_eye && a == [0.0, 0.0] && b == [0.0, 0.0] {
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
                        lanes.run(p[0], p[1], per_px(0), per_px(1), &mut out[cells]);
                    }
                    None => src.run_slow(
                        [xa as f32 - a[0], yf - a[1]],
                        [1.0 - step[0], -step[1]],
                        &mut out[cells],
                    ),
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
                for (lids, amount) in &row_eyes {
                    let e = lids.at(q, *amount);
                    dx += e[0];
                    dy += e[1];
                }
                src.sample(x as f32 - dx, yf - dy, &mut out[x * 3..x * 3 + 3]);
            }
        }
    }
}
