//! The face rig of the mesh-warp backend: one displacement field per
//! expression parameter ("basis"), built once per photo from the landmarks,
//! and combined linearly per frame.
//!
//! Fields are *forward* displacements (where a photo point moves), sums of
//! anisotropic Gaussian handles placed on landmarks and oriented along the
//! face's own axes, multiplied by a window that is exactly zero beyond
//! [`WINDOW_OUTER`] face widths from the face centre: background, hair and
//! shoulders stay still. They are sampled on a coarse grid over the face
//! region; a frame's field is checked for folds on that grid and scaled back
//! until the warp's Jacobian determinant stays above [`MIN_DET`].

use super::basis::{self, Axes, Grid};
use super::folds::Fold;
pub use super::lids::{LidPose, Lids};
use super::mouth::Mouth;
use crate::face::Face;
use crate::motion::Expression;

/// Largest grid spacing of the coarse field, in output pixels; small faces
/// get a finer grid (an eighteenth of the eye distance) so that eyelids a
/// few pixels apart are still represented.
pub const MAX_CELL: usize = 8;
/// The window is 1 inside this many face widths from the centre…
pub const WINDOW_INNER: f32 = 0.75;
/// …and exactly 0 from this many on.
pub const WINDOW_OUTER: f32 = 1.4;
/// Lid moves per unit of an expression, as shares of the eye opening. A
/// wink closes most of the way (the lashes meet the cheek), a blink all
/// the way but the thinnest line; a smile narrows the eyes from below
/// (the cheeks push the lower lids up) and a little from above, a laugh
/// squints.
const WINK_CLOSE: f32 = 0.85;
const BLINK_CLOSE: f32 = 0.96;
const SMILE_CLOSE: f32 = 0.08;
const SMILE_LIFT: f32 = 0.26;
const LAUGH_CLOSE: f32 = 0.2;
const LAUGH_LIFT: f32 = 0.1;
/// Smallest allowed determinant of the backward map's Jacobian.
pub const MIN_DET: f32 = 0.2;

/// Expression parameters with a basis, in [`Expression`] field order.
pub const PARAMS: usize = 11;
/// The rig's bases: one per parameter, then what a smile adds where hair
/// hides the lips.
pub const BASES: usize = PARAMS + 1;
/// Where hair hides the lips, a smile adds this much of the hair basis
/// (see `basis::sample`): the lips' own smile cannot be seen there, so
/// the moustache and beard turning up with the mouth corners, the cheeks
/// and the brows lifting out of their rest carry it.
pub const HAIR_SMILE: f32 = 1.0;

#[derive(Debug, Clone)]
pub struct Rig {
    /// Grid origin (output pixels) and size in nodes.
    pub x0: f32,
    pub y0: f32,
    pub nx: usize,
    pub ny: usize,
    pub cell: usize,
    /// The subject's left and right eyelids, evaluated exactly per pixel
    /// (closing an eye is finer than any grid).
    pub eyes: [Lids; 2],
    /// The mouth, opened exactly per pixel.
    pub mouth: Mouth,
    /// The subject's left and right nasolabial folds, shaded per pixel.
    pub folds: [Fold; 2],
    /// `BASES` bases, each `nx·ny` (dx, dy) pairs.
    bases: Vec<Vec<[f32; 2]>>,
    pub centre: [f32; 2],
    pub face_width: f32,
    pub inter_ocular: f32,
}

/// A combined field for one frame.
#[derive(Debug, Clone)]
pub struct Field {
    /// Eyelid maps with how far each eye is closed.
    pub eyes: Vec<(Lids, LidPose)>,
    /// Mouth maps with how far each mouth is open.
    pub mouths: Vec<(Mouth, f32)>,
    /// Nasolabial folds with how deep each is.
    pub folds: Vec<(Fold, f32)>,
    pub cell: usize,
    pub x0: f32,
    pub y0: f32,
    pub nx: usize,
    pub ny: usize,
    pub d: Vec<[f32; 2]>,
}

impl Rig {
    /// Builds the rig for `face` (landmarks in output pixels) in a frame of
    /// `width` × `height`.
    pub fn new(face: &Face, width: u32, height: u32) -> Self {
        Self::build(face, width, height, Self::cell_for(face), &|_| 1.0)
    }

    /// The grid spacing a face alone would get.
    pub fn cell_for(face: &Face) -> usize {
        ((face.inter_ocular().max(1.0) / 18.0) as usize).clamp(2, MAX_CELL)
    }

    /// The rig on a grid of `cell` pixels (aligned to multiples of it, so
    /// that rigs of one photo share nodes), its window multiplied by
    /// `clip` (0..1): where other faces are, this face's fields are zero.
    pub fn build(
        face: &Face,
        width: u32,
        height: u32,
        cell: usize,
        clip: &dyn Fn([f32; 2]) -> f32,
    ) -> Self {
        let axes = Axes::of(face);
        let grid = Grid::over(&axes, width, height, cell);
        let lids = |left: bool| Lids::of(face, left, axes.u, axes.v, axes.iod);
        Self {
            x0: grid.x0,
            y0: grid.y0,
            nx: grid.nx,
            ny: grid.ny,
            cell,
            eyes: [lids(true), lids(false)],
            mouth: Mouth::new(face),
            folds: [Fold::of(face, true), Fold::of(face, false)],
            bases: basis::sample(face, &axes, &grid, clip),
            centre: axes.centre,
            face_width: axes.face_width,
            inter_ocular: axes.iod,
        }
    }

    /// The forward field for one expression, fold-free.
    pub fn field(&self, e: &Expression) -> Field {
        let mut field = Field::still(self.cell, [self.x0, self.y0], [self.nx, self.ny]);
        field.eyes = self.eyes_for(e).to_vec();
        field.mouths = vec![self.mouth_for(e)];
        field.folds = self.folds_for(e).into();
        self.add_grid(e, 1.0, &mut field);
        field.unfold();
        field
    }

    /// Adds this rig's grid displacement for `e`, times `k`, into `field`,
    /// whose grid has the same cell and contains this rig's grid.
    pub fn add_grid(&self, e: &Expression, k: f32, field: &mut Field) {
        let weights = [
            e.smile,
            e.laugh,
            e.wink_left,
            e.wink_right,
            e.blink,
            e.brow_raise,
            e.mouth_open,
            e.head_pitch,
            e.head_yaw,
            e.head_roll,
            e.breath,
            if self.mouth.hidden() {
                e.smile * HAIR_SMILE
            } else {
                0.0
            },
        ];
        let c = self.cell as f32;
        let ox = ((self.x0 - field.x0) / c).round() as usize;
        let oy = ((self.y0 - field.y0) / c).round() as usize;
        debug_assert!(ox + self.nx <= field.nx && oy + self.ny <= field.ny);
        for (basis, &w) in self.bases.iter().zip(&weights) {
            if w == 0.0 || k == 0.0 {
                continue;
            }
            let w = w * k;
            for (j, row) in basis.chunks_exact(self.nx).enumerate() {
                let start = (oy + j) * field.nx + ox;
                let Some(out) = field.d.get_mut(start..start + self.nx) else {
                    break;
                };
                for (o, b) in out.iter_mut().zip(row) {
                    o[0] += w * b[0];
                    o[1] += w * b[1];
                }
            }
        }
    }

    /// This rig's eyelids, ended before any of `others`' points.
    pub fn clear_eyes_of(&mut self, others: &[[f32; 2]]) {
        let margin = self.cell as f32;
        self.eyes = self.eyes.map(|l| l.clear_of(others, margin));
    }

    /// The mouth map with how far `e` opens it.
    pub fn mouth_for(&self, e: &Expression) -> (Mouth, f32) {
        (self.mouth, self.mouth.amount(e.mouth_open, e.smile))
    }

    /// Both folds with how deep `e` makes them.
    pub fn folds_for(&self, e: &Expression) -> [(Fold, f32); 2] {
        let amount = Fold::amount(e.smile, e.laugh);
        self.folds.clone().map(|f| (f, amount))
    }

    /// Both eyelid maps with each eye's pose for `e`.
    pub fn eyes_for(&self, e: &Expression) -> [(Lids, LidPose); 2] {
        let pose = |wink: f32| LidPose {
            close: WINK_CLOSE * wink
                + BLINK_CLOSE * e.blink
                + LAUGH_CLOSE * e.laugh
                + SMILE_CLOSE * e.smile,
            lift: SMILE_LIFT * e.smile + LAUGH_LIFT * e.laugh,
        };
        [
            (self.eyes[0], pose(e.wink_left)),
            (self.eyes[1], pose(e.wink_right)),
        ]
    }
}

impl Field {
    /// A field that moves nothing, on a grid of `n` nodes from `origin`.
    pub fn still(cell: usize, origin: [f32; 2], n: [usize; 2]) -> Self {
        Field {
            eyes: Vec::new(),
            mouths: Vec::new(),
            folds: Vec::new(),
            cell,
            x0: origin[0],
            y0: origin[1],
            nx: n[0],
            ny: n[1],
            d: vec![[0.0f32; 2]; n[0] * n[1]],
        }
    }

    /// The fold guard: scales the grid back until the backward map's
    /// Jacobian determinant stays above [`MIN_DET`].
    pub fn unfold(&mut self) {
        for _ in 0..8 {
            if self.min_det() >= MIN_DET {
                break;
            }

            for v in &mut self.d {
                v[0] *= 0.8;
                v[1] *= 0.8;
            }
        }
    }

    /// Forward displacement at output point `o`, composed as the renderer
    /// does: undo the head and expression motion first (`q = o − grid(o)`),
    /// then open the eyelids where the eyes are in the photo
    /// (`p = q − lids(q)`); `f(o) = o − p`.
    pub fn at(&self, o: [f32; 2]) -> [f32; 2] {
        let g = self.grid_at(o);
        let q = [o[0] - g[0], o[1] - g[1]];
        let mut d = g;
        for (mouth, open) in &self.mouths {
            let m = mouth.at(q, *open);
            d[0] += m[0];
            d[1] += m[1];
        }
        for (lids, pose) in &self.eyes {
            let e = lids.at(q, *pose);
            d[0] += e[0];
            d[1] += e[1];
        }
        d
    }

    /// The factor the folds darken output point `o` by (1 = unchanged):
    /// their shade at the photo point `o` shows.
    pub fn shade(&self, o: [f32; 2]) -> f32 {
        let d = self.at(o);
        let p = [o[0] - d[0], o[1] - d[1]];
        self.folds.iter().map(|(f, k)| f.shade(p, *k)).product()
    }

    /// Whether output point `o` shows the photo: false inside an open
    /// mouth, which shows its interior instead (so the map there, squeezing
    /// the lips' meeting line into the gap, is not sampled and may be
    /// degenerate).
    pub fn shows_photo(&self, o: [f32; 2]) -> bool {
        let g = self.grid_at(o);
        let q = [o[0] - g[0], o[1] - g[1]];
        !self
            .mouths
            .iter()
            .any(|(m, open)| matches!(m.look(q, *open), super::mouth::Look::Cavity { .. }))
    }

    /// Bilinear displacement of the grid alone (zero outside it).
    pub fn grid_at(&self, p: [f32; 2]) -> [f32; 2] {
        let gx = (p[0] - self.x0) / self.cell as f32;
        let gy = (p[1] - self.y0) / self.cell as f32;
        if gx < 0.0 || gy < 0.0 || gx >= (self.nx - 1) as f32 || gy >= (self.ny - 1) as f32 {
            return [0.0, 0.0];
        }
        let (i, j) = (gx as usize, gy as usize);
        let (fx, fy) = (gx - i as f32, gy - j as f32);
        let n = |i: usize, j: usize| self.d[j * self.nx + i];
        let (a, b, c, d) = (n(i, j), n(i + 1, j), n(i, j + 1), n(i + 1, j + 1));
        let mut out = [0.0; 2];
        for k in 0..2 {
            out[k] =
                (a[k] * (1.0 - fx) + b[k] * fx) * (1.0 - fy) + (c[k] * (1.0 - fx) + d[k] * fx) * fy;
        }
        out
    }

    /// Where a photo point appears in the frame: solves `o − f(o) = p`
    /// (the renderer samples the photo at `o − f(o)`).
    pub fn forward(&self, p: [f32; 2]) -> [f32; 2] {
        // Newton's method on s(o) = o − f(o) = p. The field keeps the
        // Jacobian's determinant ≥ MIN_DET, so each step is well defined;
        // fixed-point iteration would diverge where the eye closes (the map
        // is steep there).
        let h = 0.25;
        let mut o = p;
        for _ in 0..50 {
            let f = self.at(o);
            let r = [o[0] - f[0] - p[0], o[1] - f[1] - p[1]];
            if r[0].abs() < 1e-3 && r[1].abs() < 1e-3 {
                break;
            }
            let (fx, fy) = (self.at([o[0] + h, o[1]]), self.at([o[0], o[1] + h]));
            let j = [
                [1.0 - (fx[0] - f[0]) / h, -(fy[0] - f[0]) / h],
                [-(fx[1] - f[1]) / h, 1.0 - (fy[1] - f[1]) / h],
            ];
            let det = j[0][0] * j[1][1] - j[0][1] * j[1][0];
            // Where the map is flat (an open mouth's interior, which shows
            // no photo) a plain residual step walks out of it.
            let step = if det.abs() < 1e-3 {
                r
            } else {
                [
                    (j[1][1] * r[0] - j[0][1] * r[1]) / det,
                    (-j[1][0] * r[0] + j[0][0] * r[1]) / det,
                ]
            };
            let limit = self.cell as f32;
            o = [
                o[0] - step[0].clamp(-limit, limit),
                o[1] - step[1].clamp(-limit, limit),
            ];
        }
        o
    }

    /// Grid cells (column, row) where the backward map's Jacobian
    /// determinant is below `limit`.
    pub fn folded_cells(&self, limit: f32) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let c = self.cell as f32;
        for j in 0..self.ny - 1 {
            for i in 0..self.nx - 1 {
                if self.det_at(i, j, c) < limit {
                    out.push((i, j));
                }
            }
        }
        out
    }

    fn det_at(&self, i: usize, j: usize, c: f32) -> f32 {
        let n = |i: usize, j: usize| self.d[j * self.nx + i];
        let (a, b, cc) = (n(i, j), n(i + 1, j), n(i, j + 1));
        let dxx = (b[0] - a[0]) / c;
        let dyx = (b[1] - a[1]) / c;
        let dxy = (cc[0] - a[0]) / c;
        let dyy = (cc[1] - a[1]) / c;
        (1.0 - dxx) * (1.0 - dyy) - dxy * dyx
    }

    /// Smallest Jacobian determinant of the backward map `o ↦ o − f(o)`
    /// over the grid cells.
    pub fn min_det(&self) -> f32 {
        let mut min = f32::MAX;
        let c = self.cell as f32;
        for j in 0..self.ny - 1 {
            for i in 0..self.nx - 1 {
                min = min.min(self.det_at(i, j, c));
            }
        }
        min
    }
}
