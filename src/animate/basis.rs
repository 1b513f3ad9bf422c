//! The rig's coarse basis fields, one per expression parameter, sampled on
//! the grid over one face: where each parameter moves a photo point.
//! [`super::rig::Rig::build`] calls [`sample`]; everything here is pure
//! geometry on the face's own axes.

use super::rig::{BASES, WINDOW_INNER, WINDOW_OUTER};
use crate::face::{mesh, Face};

/// The smile's bow over the lower face (see [`Axes::bow`]), in eye
/// distances from the mouth centre: its lift and outward pull at the
/// highest point, the half-width of the mouth it scales across, how far
/// beyond that it spreads, and its vertical reach above (up to the nose)
/// and below (over the chin) a centre just under the lips.
const BOW_LIFT: f32 = 0.09;
const BOW_OUT: f32 = 0.03;
const BOW_HALF_WIDTH: f32 = 0.5;
const BOW_SPREAD: f32 = 0.8;
const BOW_CENTRE_V: f32 = 0.05;
const BOW_ABOVE: f32 = 0.3;
const BOW_BELOW: f32 = 0.4;
/// Under hair a smile also lifts the inner brows up and apart, out of a
/// frown's knit, by this much (eye distances; the subject's left brow),
/// over these radii: across and above, and below, shorter, so that the
/// upper lids are not pulled open against the smile's narrowing.
const HAIR_BROW_MOVE: [f32; 2] = [0.05, -0.1];
const HAIR_BROW_SIGMA: [f32; 3] = [0.25, 0.25, 0.12];

/// Face edge landmarks (left and right cheek contour at eye height).
const FACE_RIGHT_EDGE: usize = 234;
const FACE_LEFT_EDGE: usize = 454;
const RIGHT_BROW: [usize; 3] = [70, 105, 107];
const LEFT_BROW: [usize; 3] = [300, 334, 336];
/// Each brow's inner end, the last of its points.
const RIGHT_BROW_INNER: usize = RIGHT_BROW[2];
const LEFT_BROW_INNER: usize = LEFT_BROW[2];
const RIGHT_CHEEK: usize = 205;
/// Under the outer eye corners, where a smile bunches the cheek.
const RIGHT_CHEEKBONE: usize = 117;
const LEFT_CHEEKBONE: usize = 346;
const LEFT_CHEEK: usize = 425;

pub(super) fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

pub(super) fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// A face's own frame: its axes, scale and the points the fields hang on.
pub(super) struct Axes {
    /// Unit vectors: u from the subject's right eye to the left, v down.
    pub u: [f32; 2],
    pub v: [f32; 2],
    /// Inter-ocular distance, the unit of every handle.
    pub iod: f32,
    pub mouth: [f32; 2],
    /// Halfway between the eyes' midpoint and the mouth.
    pub centre: [f32; 2],
    pub face_width: f32,
    /// Where the head turns: the neck, below the chin.
    pivot: [f32; 2],
}

impl Axes {
    pub fn of(face: &Face) -> Self {
        let iod = face.inter_ocular().max(1.0);
        let (er, el) = (face.eye_centre(false), face.eye_centre(true));
        let u = [(el[0] - er[0]) / iod, (el[1] - er[1]) / iod];
        let v = [-u[1], u[0]];
        let mouth = {
            let (a, b) = (face.point(mesh::MOUTH_RIGHT), face.point(mesh::MOUTH_LEFT));
            [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]
        };
        let eyes = [(er[0] + el[0]) / 2.0, (er[1] + el[1]) / 2.0];
        let centre = [(eyes[0] + mouth[0]) / 2.0, (eyes[1] + mouth[1]) / 2.0];
        let face_width =
            dist(face.point(FACE_RIGHT_EDGE), face.point(FACE_LEFT_EDGE)).max(1.8 * iod);
        let chin = face.point(mesh::CHIN);
        let pivot = [chin[0] + v[0] * 0.4 * iod, chin[1] + v[1] * 0.4 * iod];
        Self {
            u,
            v,
            iod,
            mouth,
            centre,
            face_width,
            pivot,
        }
    }

    /// 1 near the face, falling to exactly 0 at [`WINDOW_OUTER`] face
    /// widths, times `clip` (0 where other faces are).
    fn window(&self, p: [f32; 2], clip: &dyn Fn([f32; 2]) -> f32) -> f32 {
        let r = dist(p, self.centre) / self.face_width;
        let w = 1.0 - smoothstep(WINDOW_INNER, WINDOW_OUTER, r);
        if w > 0.0 {
            w * clip(p)
        } else {
            0.0
        }
    }

    /// The sum of `handles`' Gaussian moves at `p`.
    fn gauss(&self, handles: &[Handle], p: [f32; 2]) -> [f32; 2] {
        let ([u, v], iod) = ([self.u, self.v], self.iod);
        let mut d = [0.0f32; 2];
        for hd in handles {
            let (dx, dy) = (p[0] - hd.at[0], p[1] - hd.at[1]);
            let pu = (dx * u[0] + dy * u[1]) / iod;
            let pv = (dx * v[0] + dy * v[1]) / iod;
            let sv = if pv < 0.0 {
                hd.sigma_uv[1]
            } else {
                hd.sigma_uv[2]
            };
            let w =
                (-(pu * pu) / (2.0 * hd.sigma_uv[0].powi(2)) - (pv * pv) / (2.0 * sv * sv)).exp();
            let (mu, mv) = (hd.move_uv[0] * iod * w, hd.move_uv[1] * iod * w);
            d[0] += mu * u[0] + mv * v[0];
            d[1] += mu * u[1] + mv * v[1];
        }
        d
    }

    /// Per degree of roll: a turn about the pivot.
    fn roll(&self, p: [f32; 2]) -> [f32; 2] {
        let deg = 1.0f32.to_radians();
        let (rx, ry) = (p[0] - self.pivot[0], p[1] - self.pivot[1]);
        [-ry * deg, rx * deg]
    }

    /// Per degree of yaw: the face slides across its axis (a small-angle
    /// stand-in for a turn).
    fn yaw(&self) -> [f32; 2] {
        let deg = 1.0f32.to_radians();
        let u = self.u;
        [
            u[0] * 0.35 * self.face_width * deg,
            u[1] * 0.35 * self.face_width * deg,
        ]
    }

    /// Per degree of pitch: the face slides along its axis.
    fn pitch(&self) -> [f32; 2] {
        let deg = 1.0f32.to_radians();
        let v = self.v;
        [
            -v[0] * 0.3 * self.face_width * deg,
            -v[1] * 0.3 * self.face_width * deg,
        ]
    }

    /// The lower face bends with a smile: everything around the mouth,
    /// lips, moustache and beard alike, rises the more the further out
    /// from the middle it lies (a bow, highest just beyond the mouth
    /// corners), so that hair that hides the lips turns up with them.
    fn bow(&self, p: [f32; 2]) -> [f32; 2] {
        let ([u, v], iod, mouth) = ([self.u, self.v], self.iod, self.mouth);
        let (dx, dy) = (p[0] - mouth[0], p[1] - mouth[1]);
        let pu = (dx * u[0] + dy * u[1]) / iod;
        let pv = (dx * v[0] + dy * v[1]) / iod;
        let s = pu / BOW_HALF_WIDTH;
        let lateral = s * s * (-(s * s) / (2.0 * BOW_SPREAD * BOW_SPREAD)).exp()
            / (2.0 * BOW_SPREAD * BOW_SPREAD / std::f32::consts::E);
        let sv = if pv < BOW_CENTRE_V {
            BOW_ABOVE
        } else {
            BOW_BELOW
        };
        let vertical = (-(pv - BOW_CENTRE_V).powi(2) / (2.0 * sv * sv)).exp();
        let w = lateral * vertical * iod;
        let (mu, mv) = (BOW_OUT * s.signum() * w, -BOW_LIFT * w);
        [mu * u[0] + mv * v[0], mu * u[1] + mv * v[1]]
    }

    /// Per unit of breath: a slight swell about the pivot.
    fn breath(&self, p: [f32; 2]) -> [f32; 2] {
        let (rx, ry) = (p[0] - self.pivot[0], p[1] - self.pivot[1]);
        [rx * 0.006, ry * 0.006]
    }
}

/// A Gaussian handle on a landmark.
struct Handle {
    at: [f32; 2],
    /// Displacement in face axes (u along the eye line, v down the face),
    /// in units of the inter-ocular distance.
    move_uv: [f32; 2],
    /// Gaussian radii along u, along −v (above the handle) and along +v
    /// (below it), same units.
    sigma_uv: [f32; 3],
}

/// The handles of each Gaussian basis.
struct Handles {
    smile: Vec<Handle>,
    laugh: Vec<Handle>,
    cheek_l: Vec<Handle>,
    cheek_r: Vec<Handle>,
    brows: Vec<Handle>,
    /// Under hair, with the bow and both cheeks (see [`sample`]).
    hair_brows: Vec<Handle>,
}

impl Handles {
    fn of(face: &Face) -> Self {
        let h = |i: usize, m: [f32; 2], s: [f32; 2]| Handle {
            at: face.point(i),
            move_uv: m,
            sigma_uv: [s[0], s[1], s[1]],
        };
        Self {
            smile: vec![
                h(mesh::MOUTH_RIGHT, [-0.07, -0.10], [0.22, 0.2]),
                h(mesh::MOUTH_LEFT, [0.07, -0.10], [0.22, 0.2]),
                h(mesh::UPPER_LIP, [0.0, -0.02], [0.2, 0.12]),
                h(RIGHT_CHEEK, [-0.01, -0.08], [0.3, 0.3]),
                h(LEFT_CHEEK, [0.01, -0.08], [0.3, 0.3]),
                h(RIGHT_CHEEKBONE, [0.0, -0.07], [0.25, 0.2]),
                h(LEFT_CHEEKBONE, [0.0, -0.07], [0.25, 0.2]),
            ],
            laugh: vec![
                h(mesh::MOUTH_RIGHT, [-0.05, -0.05], [0.22, 0.2]),
                h(mesh::MOUTH_LEFT, [0.05, -0.05], [0.22, 0.2]),
                h(RIGHT_CHEEK, [0.0, -0.05], [0.3, 0.3]),
                h(LEFT_CHEEK, [0.0, -0.05], [0.3, 0.3]),
            ],
            cheek_l: vec![h(LEFT_CHEEK, [0.0, -0.05], [0.3, 0.3])],
            cheek_r: vec![h(RIGHT_CHEEK, [0.0, -0.05], [0.3, 0.3])],
            brows: RIGHT_BROW
                .iter()
                .chain(LEFT_BROW.iter())
                .map(|&i| h(i, [0.0, -0.07], [0.3, 0.22]))
                .collect(),
            hair_brows: [(RIGHT_BROW_INNER, -1.0), (LEFT_BROW_INNER, 1.0)]
                .map(|(i, side)| Handle {
                    at: face.point(i),
                    move_uv: [side * HAIR_BROW_MOVE[0], HAIR_BROW_MOVE[1]],
                    sigma_uv: HAIR_BROW_SIGMA,
                })
                .into(),
        }
    }
}

/// The grid the fields are sampled on: origin and size in nodes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Grid {
    pub x0: f32,
    pub y0: f32,
    pub nx: usize,
    pub ny: usize,
    pub cell: usize,
}

impl Grid {
    /// Nodes every `cell` pixels (aligned to multiples of it, so that the
    /// rigs of one photo share nodes) over the face's window, within a
    /// frame of `width` × `height`.
    pub fn over(axes: &Axes, width: u32, height: u32, cell: usize) -> Self {
        let (centre, reach) = (axes.centre, WINDOW_OUTER * axes.face_width);
        let c = cell.max(1) as f32;
        let x0 = ((centre[0] - reach).max(0.0) / c).floor() * c;
        let y0 = ((centre[1] - reach).max(0.0) / c).floor() * c;
        let x1 = (centre[0] + reach).min(width as f32 - 1.0);
        let y1 = (centre[1] + reach).min(height as f32 - 1.0);
        let nx = (((x1 - x0) / c).ceil() as usize + 2).max(2);
        let ny = (((y1 - y0) / c).ceil() as usize + 2).max(2);
        Self {
            x0,
            y0,
            nx,
            ny,
            cell,
        }
    }
}

/// Every parameter's basis on `grid`, in [`crate::motion::Expression`]
/// field order, then what a smile adds under hair (see
/// [`super::rig::HAIR_SMILE`]: the bow once more, both cheeks, the brows),
/// each `nx·ny` (dx, dy) pairs, windowed and clipped.
pub(super) fn sample(
    face: &Face,
    axes: &Axes,
    grid: &Grid,
    clip: &dyn Fn([f32; 2]) -> f32,
) -> Vec<Vec<[f32; 2]>> {
    let handles = Handles::of(face);
    let (nx, ny) = (grid.nx, grid.ny);
    let mut bases: Vec<Vec<[f32; 2]>> = (0..BASES).map(|_| Vec::with_capacity(nx * ny)).collect();
    for j in 0..ny {
        for i in 0..nx {
            let p = [
                grid.x0 + (i * grid.cell) as f32,
                grid.y0 + (j * grid.cell) as f32,
            ];
            let w = axes.window(p, clip);
            let scale = |d: [f32; 2]| [d[0] * w, d[1] * w];
            let bow = axes.bow(p);
            let smiled = {
                let a = axes.gauss(&handles.smile, p);
                [a[0] + bow[0], a[1] + bow[1]]
            };
            let cheek_l = axes.gauss(&handles.cheek_l, p);
            let cheek_r = axes.gauss(&handles.cheek_r, p);
            let hair = {
                let b = axes.gauss(&handles.hair_brows, p);
                [
                    bow[0] + cheek_l[0] + cheek_r[0] + b[0],
                    bow[1] + cheek_l[1] + cheek_r[1] + b[1],
                ]
            };
            let values: [[f32; 2]; BASES] = [
                smiled,
                axes.gauss(&handles.laugh, p),
                cheek_l,
                cheek_r,
                // Eyes close by their lid maps (see `rig::Lids`).
                [0.0, 0.0],
                axes.gauss(&handles.brows, p),
                // The mouth map opens the mouth (see `mouth`).
                [0.0, 0.0],
                axes.pitch(),
                axes.yaw(),
                axes.roll(p),
                axes.breath(p),
                hair,
            ];
            for (b, d) in bases.iter_mut().zip(values) {
                b.push(scale(d));
            }
        }
    }
    bases
}
