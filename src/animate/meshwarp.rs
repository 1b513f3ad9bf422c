//! `meshwarp`: face-aware animation on any CPU. The photo's largest face
//! gets a [`Rig`]; each frame's expression becomes a smooth displacement
//! field that moves only the face region (see `rig` for the guarantees),
//! applied at full output resolution with bilinear sampling.

use std::sync::Arc;

use image::RgbImage;

use super::rig::{Field, Rig};
use super::warp::{sample_bilinear, Scaler};
use super::{output_size, AnimateError, Animation, Animator, FramePlan, SizeLimits};
use crate::face::{check, Face, FaceModels};
use crate::motion::Preset;

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
        if !preset.supports_backend(self.name()) {
            return Err(AnimateError::Unsupported {
                backend: self.name(),
                preset: preset.id().to_string(),
            });
        }
        let (rig, _, (width, height)) = rig_for(&self.models, photo, limits)?;
        let source = Scaler::default().scale(photo, width, height);
        Ok(Box::new(MeshAnimation {
            frame: source.clone(),
            source,
            rig,
            preset: preset.clone(),
            next: 0,
        }))
    }
}

pub struct MeshAnimation {
    source: RgbImage,
    frame: RgbImage,
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
        let field = self.rig.field(&self.preset.at_frame(self.next));
        remap(&self.source, &mut self.frame, &field);
        self.next += 1;
        Ok(Some(&self.frame))
    }
}

/// Renders `field` over `src` into `dst` (same size). Rows and columns
/// outside the field's grid are copied unchanged.
pub fn remap(src: &RgbImage, dst: &mut RgbImage, field: &Field) {
    let (w, h) = (src.width() as usize, src.height() as usize);
    let stride = w * 3;
    let s = src.as_raw();
    let x_start = field.x0 as usize;
    let y_start = field.y0 as usize;
    let cell = field.cell;
    let x_end = (x_start + (field.nx - 1) * cell).min(w);
    let y_end = (y_start + (field.ny - 1) * cell).min(h);
    let (max_x, max_y) = ((w - 1) as f32, (h - 1) as f32);
    let mut row_field = vec![[0.0f32; 2]; field.nx];
    let inv_cell = 1.0 / cell as f32;
    // Eyelid maps act at `q = o − grid(o)`; a row can only reach an eye if
    // it lies within the eye's bounds widened by the largest grid move.
    let reach = field
        .d
        .iter()
        .fold(0.0f32, |m, d| m.max(d[0].abs()).max(d[1].abs()))
        + 1.0;
    let mut row_eyes = Vec::with_capacity(field.eyes.len());
    for (y, out) in dst.chunks_exact_mut(stride).enumerate() {
        out.copy_from_slice(&s[y * stride..(y + 1) * stride]);
        if y < y_start || y >= y_end {
            continue;
        }
        let gy = (y - y_start) as f32 * inv_cell;
        let j = (gy as usize).min(field.ny - 2);
        let fy = gy - j as f32;
        for (i, rf) in row_field.iter_mut().enumerate() {
            let (a, c) = (field.d[j * field.nx + i], field.d[(j + 1) * field.nx + i]);
            *rf = [a[0] + (c[0] - a[0]) * fy, a[1] + (c[1] - a[1]) * fy];
        }
        let yf = y as f32;
        row_eyes.clear();
        row_eyes.extend(field.eyes.iter().filter(|(lids, amount)| {
            *amount > 0.0 && yf + reach >= lids.bounds[1] && yf - reach <= lids.bounds[3]
        }));
        for x in x_start..x_end {
            let gx = (x - x_start) as f32 * inv_cell;
            let i = (gx as usize).min(field.nx - 2);
            let fx = gx - i as f32;
            let (a, b) = (row_field[i], row_field[i + 1]);
            let mut dx = a[0] + (b[0] - a[0]) * fx;
            let mut dy = a[1] + (b[1] - a[1]) * fx;
            // Eyelids act where the eyes are in the photo: after the head
            // motion is undone (see `Field::at`).
            let q = [x as f32 - dx, yf - dy];
            for (lids, amount) in &row_eyes {
                let e = lids.at(q, *amount);
                dx += e[0];
                dy += e[1];
            }
            if dx == 0.0 && dy == 0.0 {
                continue;
            }
            sample_bilinear(
                s,
                stride,
                max_x,
                max_y,
                x as f32 - dx,
                y as f32 - dy,
                &mut out[x * 3..x * 3 + 3],
            );
        }
    }
}
