//! Nasolabial folds that deepen with a smile: the cheek bunched up by a
//! smile shades the crease from the nose wing down past the mouth corner.
//! The warp moves the cheek; this darkens the crease, which a warp alone
//! cannot do. The shade is applied where the photo's crease is (at the
//! photo point a pixel shows), so it moves with the skin.

use std::sync::Arc;

use super::basis::smoothstep;
use crate::face::Face;

/// Each side's crease, as Face Mesh points from the nose wing down to
/// beside the mouth corner (the subject's right, then left).
const RIGHT: [usize; 4] = [64, 206, 216, 212];
const LEFT: [usize; 4] = [294, 426, 436, 432];
/// How much darker the crease's middle gets at a full smile, and its
/// half-width (Gaussian sigma) in eye distances.
const DEPTH: f32 = 0.28;
const WIDTH_IOD: f32 = 0.03;
/// The shade fades in from the nose wing and out toward the end over
/// this share of the crease's length each.
const FADE: f32 = 0.3;
/// A laugh deepens it by this much per unit, on top of the smile.
const LAUGH_SHARE: f32 = 0.5;

#[derive(Debug, Clone)]
pub struct Fold {
    /// How dark each photo pixel of `bounds` gets at a full smile, as a
    /// share of [`DEPTH`] (row by row; worked out once per photo, so that
    /// a frame pays one lookup per pixel).
    depth: Arc<[f32]>,
    width: usize,
    /// Where the shade is not 1: x0, y0, x1, y1 (photo pixels, whole).
    pub bounds: [f32; 4],
}

/// The crease as a path, for working out its shade.
struct Crease {
    points: [[f32; 2]; 4],
    /// Length along the crease at each point.
    along: [f32; 4],
    sigma: f32,
}

impl Fold {
    /// The crease on the subject's `left` or right side of `face`.
    pub fn of(face: &Face, left: bool) -> Self {
        let points = (if left { LEFT } else { RIGHT }).map(|i| face.point(i));
        let mut along = [0.0f32; 4];
        for k in 1..4 {
            let (a, b) = (points[k - 1], points[k]);
            along[k] = along[k - 1] + ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        }
        let crease = Crease {
            points,
            along,
            sigma: (WIDTH_IOD * face.inter_ocular()).max(0.5),
        };
        let pad = 3.0 * crease.sigma + 1.0;
        let b = crate::geometry::bounds(points);
        let bounds = [
            (b[0] - pad).floor(),
            (b[1] - pad).floor(),
            (b[2] + pad).ceil(),
            (b[3] + pad).ceil(),
        ];
        let width = (bounds[2] - bounds[0]) as usize + 1;
        let height = (bounds[3] - bounds[1]) as usize + 1;
        let depth = (0..height)
            .flat_map(|j| (0..width).map(move |i| (i, j)))
            .map(|(i, j)| crease.depth([bounds[0] + i as f32, bounds[1] + j as f32]))
            .collect();
        Self {
            depth,
            width,
            bounds,
        }
    }

    /// How deep the folds are for a frame's smile and laugh (0..1).
    pub fn amount(smile: f32, laugh: f32) -> f32 {
        (smile.max(0.0) + LAUGH_SHARE * laugh.max(0.0)).min(1.0)
    }

    /// The factor photo point `p` is darkened by (1 = unchanged) with the
    /// folds `amount` deep.
    pub fn shade(&self, p: [f32; 2], amount: f32) -> f32 {
        let b = self.bounds;
        if amount <= 0.0 || p[0] < b[0] || p[1] < b[1] || p[0] > b[2] || p[1] > b[3] {
            return 1.0;
        }
        // Both are ≥ 0 here: adding a half and truncating rounds them,
        // without a call to libm's roundf per pixel.
        let (i, j) = ((p[0] - b[0] + 0.5) as usize, (p[1] - b[1] + 0.5) as usize);
        let depth = self.depth.get(j * self.width + i).copied().unwrap_or(0.0);
        1.0 - DEPTH * amount.min(1.0) * depth
    }
}

impl Crease {
    /// How dark photo point `p` gets at a full smile (0..1): a Gaussian
    /// across the nearest point of the crease, faded toward its ends.
    fn depth(&self, p: [f32; 2]) -> f32 {
        let total = self.along[3];
        if total <= 0.0 {
            return 0.0;
        }
        let (mut best, mut at) = (f32::MAX, 0.0);
        for k in 0..3 {
            let (a, c) = (self.points[k], self.points[k + 1]);
            let (ex, ey) = (c[0] - a[0], c[1] - a[1]);
            let len2 = ex * ex + ey * ey;
            let t = if len2 > 0.0 {
                (((p[0] - a[0]) * ex + (p[1] - a[1]) * ey) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (dx, dy) = (p[0] - a[0] - t * ex, p[1] - a[1] - t * ey);
            let d2 = dx * dx + dy * dy;
            if d2 < best {
                best = d2;
                at = self.along[k] + t * (self.along[k + 1] - self.along[k]);
            }
        }
        let s = at / total;
        let taper = smoothstep(0.0, FADE, s) * smoothstep(0.0, FADE, 1.0 - s);
        taper * (-best / (2.0 * self.sigma * self.sigma)).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::mesh;

    /// A crease straight down x = 50 from y 100 to 160, eyes 100 px apart.
    fn fold() -> Fold {
        let mut landmarks = vec![[0.0, 0.0, 0.0]; mesh::COUNT];
        landmarks[mesh::RIGHT_EYE_OUTER] = [0.0, 50.0, 0.0];
        landmarks[mesh::RIGHT_EYE_INNER] = [50.0, 50.0, 0.0];
        landmarks[mesh::LEFT_EYE_INNER] = [100.0, 50.0, 0.0];
        landmarks[mesh::LEFT_EYE_OUTER] = [150.0, 50.0, 0.0];
        for (k, &i) in RIGHT.iter().enumerate() {
            landmarks[i] = [50.0, 100.0 + 20.0 * k as f32, 0.0];
        }
        let face = Face {
            bbox: [0.0; 4],
            score: 1.0,
            landmarks,
        };
        Fold::of(&face, false)
    }

    #[test]
    fn the_crease_darkens_with_the_smile_and_nothing_else_does() {
        let f = fold();
        let mid = [50.0, 130.0];
        // No smile: nothing changes.
        assert_eq!(f.shade(mid, 0.0), 1.0);
        // The crease's middle darkens the deeper the smile…
        let (half, full) = (f.shade(mid, 0.5), f.shade(mid, 1.0));
        assert!(full < half && half < 1.0, "{half} {full}");
        assert!((full - (1.0 - DEPTH)).abs() < 1e-3, "{full}");
        // …less beside it, not at all a few widths away or beyond its ends.
        assert!(f.shade([53.0, 130.0], 1.0) > full);
        assert_eq!(f.shade([70.0, 130.0], 1.0), 1.0);
        assert!(f.shade([50.0, 100.0], 1.0) > 0.999);
        assert!(f.shade([50.0, 160.0], 1.0) > 0.999);
        assert_eq!(f.shade([50.0, 200.0], 1.0), 1.0);
        // A laugh deepens it too, never past a full smile's.
        assert!(Fold::amount(0.0, 1.0) > 0.0);
        assert_eq!(Fold::amount(1.0, 1.0), 1.0);
    }
}
