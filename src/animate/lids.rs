//! Eyelids, moved exactly per pixel: closing an eye is finer than any
//! grid, and a blink on a face a few pixels tall must still close cleanly.
//!
//! Each lid follows its own curve from corner to corner (the face mesh's
//! eye contour), so a closed eye is a lash line shaped like the lids, and
//! nothing beside the eye's corners moves.

use super::basis::smoothstep;
use crate::face::{mesh, Face};

/// An eye's pose: how far the upper lid comes down (1 = the whole
/// opening, a blink) and how far the lower lid rises (the narrowing of a
/// real smile), each as a share of the opening.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LidPose {
    pub close: f32,
    pub lift: f32,
}

impl LidPose {
    /// The opening never shrinks below this share (nothing left to map).
    const MIN_OPEN: f32 = 0.04;

    pub fn is_still(&self) -> bool {
        self.close <= 0.0 && self.lift <= 0.0
    }

    /// The upper and lower lid moves as shares of the opening, together
    /// leaving at least [`Self::MIN_OPEN`].
    fn shares(&self) -> (f32, f32) {
        let close = self.close.clamp(0.0, 1.0);
        let lift = self.lift.clamp(0.0, 1.0);
        let room = 1.0 - Self::MIN_OPEN;
        let total = close + lift;
        if total > room {
            (close * room / total, lift * room / total)
        } else {
            (close, lift)
        }
    }
}

/// Points along each lid, corner to corner.
const LID_POINTS: usize = 9;

/// One lid as a curve over the eye line: `(u, v)` about the eye's middle,
/// sorted by `u`.
type Curve = [[f32; 2]; LID_POINTS];

/// An eye's lids as an exact backward map along the face's vertical axis.
/// In each column between the eye's corners, the upper lid's skin (from
/// 1.5 central lid gaps above the lid) is stretched down, the lower lid's
/// skin (to 1.5 gaps below) is pushed up, and the opening is compressed
/// into what is left between them. A column moves in proportion to its
/// own opening, which is zero at the corners, so the map is continuous and
/// nothing beside the eye moves. Monotone along v in every column, so it
/// cannot fold.
#[derive(Debug, Clone, Copy)]
pub struct Lids {
    mid: [f32; 2],
    upper: Curve,
    lower: Curve,
    u: [f32; 2],
    v: [f32; 2],
    /// The opening at the eye's middle (pixels).
    gap: f32,
    iod: f32,
    /// Across the eye (in eye distances from its middle) the map ends
    /// here, when another face comes closer than the eye's corners.
    reach_u: Option<f32>,
    /// Skin the lids move above the upper lid and below the lower one, in
    /// central lid gaps: [`Self::SKIN`] unless another face is nearer.
    skin: [f32; 2],
    /// Where the map is not zero: x0, y0, x1, y1.
    pub bounds: [f32; 4],
}

impl Lids {
    /// Lid skin moved above and below the eye, in lid gaps.
    const SKIN: f32 = 1.5;
    /// Less skin than this and the lid would tear: the map ends across
    /// the eye instead.
    const MIN_SKIN: f32 = 0.2;

    /// The subject's left (`left`) or right eye of `face`, on the face's
    /// axes `u` (across) and `v` (down) with eye distance `iod`.
    pub fn of(face: &Face, left: bool, u: [f32; 2], v: [f32; 2], iod: f32) -> Self {
        let contour = if left {
            mesh::LEFT_EYE_CONTOUR
        } else {
            mesh::RIGHT_EYE_CONTOUR
        };
        let points = contour.map(|i| face.point(i));
        Self::from_contour(&points, u, v, iod)
    }

    /// From an eye contour in the iris model's order: the corners at 0
    /// and 8, the lower lid 1..=7 and the upper lid 9..=15 between them.
    pub fn from_contour(points: &[[f32; 2]; 16], u: [f32; 2], v: [f32; 2], iod: f32) -> Self {
        let (a, b) = (points[0], points[8]);
        let mid = [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
        let to_uv = |q: [f32; 2]| {
            let d = [q[0] - mid[0], q[1] - mid[1]];
            [d[0] * u[0] + d[1] * u[1], d[0] * v[0] + d[1] * v[1]]
        };
        let curve = |inner: std::ops::RangeInclusive<usize>| -> Curve {
            let mut c = [[0.0; 2]; LID_POINTS];
            c[0] = to_uv(a);
            c[LID_POINTS - 1] = to_uv(b);
            for (k, i) in inner.enumerate() {
                c[k + 1] = to_uv(points[i]);
            }
            c.sort_by(|p, q| p[0].total_cmp(&q[0]));
            c
        };
        let (mut upper, lower) = (curve(9..=15), curve(1..=7));
        // The upper lid never runs below the lower one.
        for p in upper.iter_mut() {
            p[1] = p[1].min(value_at(&lower, p[0]));
        }
        let gap = (value_at(&lower, 0.0) - value_at(&upper, 0.0)).max(1.0);
        let mut lids = Self {
            mid,
            upper,
            lower,
            u,
            v,
            gap,
            iod,
            reach_u: None,
            skin: [Self::SKIN, Self::SKIN],
            bounds: [0.0; 4],
        };
        lids.bounds = lids.reach();
        lids
    }

    /// Where the map can be non-zero.
    fn reach(&self) -> [f32; 4] {
        let (u0, u1) = (self.upper[0][0].min(self.lower[0][0]), {
            let l = LID_POINTS - 1;
            self.upper[l][0].max(self.lower[l][0])
        });
        let top = self.upper.iter().map(|p| p[1]).fold(f32::MAX, f32::min);
        let bottom = self.lower.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
        crate::geometry::rect_bounds(
            self.mid,
            self.u,
            self.v,
            [u0 - 1.0, u1 + 1.0],
            [
                top - self.skin[0] * self.gap - 1.0,
                bottom + self.skin[1] * self.gap + 1.0,
            ],
        )
    }

    fn uv(&self, q: [f32; 2]) -> (f32, f32) {
        let d = [q[0] - self.mid[0], q[1] - self.mid[1]];
        (
            d[0] * self.u[0] + d[1] * self.u[1],
            d[0] * self.v[0] + d[1] * self.v[1],
        )
    }

    /// The same lids, clear of `others` (another face's landmarks) within
    /// their bounds: a point above the upper lid or below the lower one
    /// shortens the skin the lid stretches, so the map ends before it; a
    /// point level with the opening ends the map across the eye; points
    /// beyond the corners leave it as it is. An eye that closes moves no
    /// other face.
    pub fn clear_of(mut self, others: &[[f32; 2]], margin: f32) -> Self {
        let b = self.bounds;
        let mut beside = f32::MAX;
        for p in others.iter().filter(|p| {
            p[0] >= b[0] - margin
                && p[0] <= b[2] + margin
                && p[1] >= b[1] - margin
                && p[1] <= b[3] + margin
        }) {
            let (pu, pv) = self.uv(*p);
            // Columns beyond the corners never move.
            if pu < self.upper[0][0] - margin || pu > self.upper[LID_POINTS - 1][0] + margin {
                continue;
            }
            let vu = value_at(&self.upper, pu);
            let vl = value_at(&self.lower, pu);
            let above = (vu - (pv + margin)) / self.gap;
            let below = ((pv - margin) - vl) / self.gap;
            if above >= Self::MIN_SKIN {
                self.skin[0] = self.skin[0].min(above);
            } else if below >= Self::MIN_SKIN {
                self.skin[1] = self.skin[1].min(below);
            } else {
                beside = beside.min(pu.abs());
            }
        }
        if beside < f32::MAX {
            self.reach_u = Some(((beside - margin) / self.iod).max(0.0));
        }
        self.bounds = self.reach();
        self
    }

    /// Forward displacement at output point `p` for the eye in `pose` (the
    /// renderer samples the photo at `p − f(p)`).
    pub fn at(&self, p: [f32; 2], pose: LidPose) -> [f32; 2] {
        if pose.is_still()
            || p[0] < self.bounds[0]
            || p[1] < self.bounds[1]
            || p[0] > self.bounds[2]
            || p[1] > self.bounds[3]
        {
            return [0.0, 0.0];
        }
        let (pu, pv) = self.uv(p);
        let l = LID_POINTS - 1;
        if pu <= self.upper[0][0].max(self.lower[0][0])
            || pu >= self.upper[l][0].min(self.lower[l][0])
        {
            return [0.0, 0.0];
        }
        let vu = value_at(&self.upper, pu);
        let vl = value_at(&self.lower, pu);
        let opening = (vl - vu).max(0.0);
        let (top, bottom) = (vu - self.skin[0] * self.gap, vl + self.skin[1] * self.gap);
        let (close, lift) = pose.shares();
        let new_upper = vu + close * opening;
        let new_lower = vl - lift * opening;
        // Piecewise linear and increasing: [top, new_upper] ← [top, vu],
        // [new_upper, new_lower] ← [vu, vl], [new_lower, bottom] ← [vl, bottom].
        let lerp = |x: f32, a0: f32, a1: f32, b0: f32, b1: f32| {
            b0 + (x - a0) * (b1 - b0) / (a1 - a0).max(1e-3)
        };
        let source = if pv <= top || pv >= bottom {
            pv
        } else if pv < new_upper {
            lerp(pv, top, new_upper, top, vu)
        } else if pv < new_lower {
            lerp(pv, new_upper, new_lower, vu, vl)
        } else {
            lerp(pv, new_lower, bottom, vl, bottom)
        };
        let mut fade = 1.0;
        if let Some(reach) = self.reach_u {
            let across = pu.abs() / self.iod;
            if across >= reach {
                return [0.0, 0.0];
            }
            fade = 1.0 - smoothstep(0.5 * reach, reach, across);
        }
        let f = (pv - source) * fade;
        [f * self.v[0], f * self.v[1]]
    }
}

/// The curve's `v` at `u` (linear between its points, level beyond).
fn value_at(curve: &Curve, u: f32) -> f32 {
    let l = LID_POINTS - 1;
    if u <= curve[0][0] {
        return curve[0][1];
    }
    if u >= curve[l][0] {
        return curve[l][1];
    }
    let k = curve.partition_point(|p| p[0] <= u).clamp(1, l);
    let (a, b) = (curve[k - 1], curve[k]);
    let t = (u - a[0]) / (b[0] - a[0]).max(1e-6);
    a[1] + t * (b[1] - a[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A level eye 40 px wide about (100, 100), lids 10 px apart in the
    /// middle and meeting at the corners.
    fn eye() -> Lids {
        let mut c = [[0.0; 2]; 16];
        c[0] = [80.0, 100.0];
        c[8] = [120.0, 100.0];
        for k in 1..=7 {
            let x = 80.0 + 5.0 * k as f32;
            let h = 5.0 * (1.0 - ((x - 100.0) / 20.0).powi(2));
            c[k] = [x, 100.0 + h];
            c[8 + k] = [x, 100.0 - h];
        }
        Lids::from_contour(&c, [1.0, 0.0], [0.0, 1.0], 100.0)
    }

    fn blink() -> LidPose {
        LidPose {
            close: 1.0,
            lift: 0.0,
        }
    }

    #[test]
    fn a_blink_brings_each_column_of_the_upper_lid_down_to_the_lower() {
        let lids = eye();
        // Middle column: the upper lid (95) moves to the lower (105) but
        // the thinnest line.
        let f = lids.at([100.0, 95.0 + 0.96 * 10.0], blink());
        let source = 95.0 + 0.96 * 10.0 - f[1];
        assert!((source - 95.0).abs() < 0.05, "{source}");
        // Halfway to a corner the opening is 7.5 px and moves as far.
        let h = 5.0 * (1.0 - 0.25f32);
        let q = [110.0, 100.0 - h + 0.96 * 2.0 * h];
        let source = q[1] - lids.at(q, blink())[1];
        assert!((source - (100.0 - h)).abs() < 0.05, "{source}");
        assert_eq!(f[0], 0.0);
    }

    #[test]
    fn nothing_beside_the_corners_or_beyond_the_skin_moves() {
        let lids = eye();
        for p in [
            [79.0, 100.0],
            [121.0, 98.0],
            [60.0, 95.0],
            [100.0, 95.0 - 15.5],
            [100.0, 105.0 + 15.5],
        ] {
            assert_eq!(lids.at(p, blink()), [0.0, 0.0], "{p:?}");
        }
        // Close to a corner the move is small: the opening is small there.
        let f = lids.at([81.0, 100.0], blink());
        assert!(f[1].abs() < 1.0, "{f:?}");
    }

    #[test]
    fn the_map_is_monotone_down_every_column() {
        let lids = eye();
        let pose = LidPose {
            close: 0.6,
            lift: 0.3,
        };
        for x in (81..120).step_by(3) {
            let mut last = f32::MIN;
            for y in 80..121 {
                let q = [x as f32, y as f32];
                let source = q[1] - lids.at(q, pose)[1];
                assert!(source >= last, "column {x} folds at {y}");
                last = source;
            }
        }
    }

    #[test]
    fn a_neighbour_beside_the_eye_ends_the_map_before_it() {
        let lids = eye().clear_of(&[[115.0, 100.0]], 2.0);
        assert_eq!(lids.at([114.0, 100.0], blink()), [0.0, 0.0]);
        assert!(lids.at([100.0, 99.0], blink())[1].abs() > 1.0);
    }
}
