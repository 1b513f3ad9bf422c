//! The face crop LivePortrait was trained on, from our MediaPipe landmarks.
//!
//! LivePortrait's cropper (`src/utils/crop.py`, notes §1.5) turns the
//! photo so that the line from the eyes' midpoint to the mouth's points
//! straight down, takes the landmarks' bounding square in that frame,
//! grows it 2.3×, moves it up by 0.125 of its side and maps it onto a
//! 512-pixel square. Upstream builds that crop from InsightFace's
//! 106-point landmarks (`src/utils/cropper.py`); we have MediaPipe's Face
//! Mesh instead, which serves as well: only the landmarks' extremes
//! matter, so we feed it the mesh points that span what the 106-point set
//! spans (brows, cheeks, jaw and chin), not the forehead the mesh also
//! covers.

use crate::face::{mesh, Face};
use crate::geometry::Affine;

pub const CROP_SIDE: u32 = 512;
pub const CROP_SCALE: f32 = 2.3;
pub const CROP_SHIFT_X: f32 = 0.0;
pub const CROP_SHIFT_Y: f32 = -0.125;

/// Face Mesh indices: the jaw line from cheek to cheek through the chin,
/// and both brows.
pub const EXTENT_POINTS: [usize; 41] = [
    234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361,
    323, 454, // jaw
    70, 63, 105, 66, 107, 46, 53, 52, 65, 55, // one brow
    300, 293, 334, 296, 336, 276, 283, 282, 295, 285, // the other
];

/// A similarity transform between photo pixels and crop pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crop {
    /// Photo pixel → crop pixel.
    pub to_crop: Affine,
    /// Crop pixel → photo pixel.
    pub to_photo: Affine,
}

/// Inverse of a similarity (or any invertible) affine map.
pub fn invert(m: &Affine) -> Option<Affine> {
    let det = m[0] * m[4] - m[1] * m[3];
    if det.abs() < 1e-12 || !det.is_finite() {
        return None;
    }
    let (a, b, d, e) = (m[4] / det, -m[1] / det, -m[3] / det, m[0] / det);
    Some([a, b, -(a * m[2] + b * m[5]), d, e, -(d * m[2] + e * m[5])])
}

/// The crop for `points` (the extent), with `eyes` and `mouth` centres
/// fixing its rotation: LivePortrait's rule with our parameters.
pub fn crop_for(points: &[[f32; 2]], eyes: [f32; 2], mouth: [f32; 2], side: f32) -> Option<Crop> {
    if points.is_empty() {
        return None;
    }
    // uy: down the face; ux: across it, to the photo's right when upright.
    let (dx, dy) = (mouth[0] - eyes[0], mouth[1] - eyes[1]);
    let len = (dx * dx + dy * dy).sqrt();
    let uy = if len > 1e-3 {
        [dx / len, dy / len]
    } else {
        [0.0, 1.0]
    };
    let ux = [uy[1], -uy[0]];
    let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
    for p in points {
        let r = [p[0] * ux[0] + p[1] * ux[1], p[0] * uy[0] + p[1] * uy[1]];
        for a in 0..2 {
            lo[a] = lo[a].min(r[a]);
            hi[a] = hi[a].max(r[a]);
        }
    }
    let size = (hi[0] - lo[0]).max(hi[1] - lo[1]) * CROP_SCALE;
    if size <= 1e-3 || !size.is_finite() {
        return None;
    }
    // Centre in the rotated frame, shifted, then back to photo axes.
    let cu = (lo[0] + hi[0]) / 2.0 + CROP_SHIFT_X * size;
    let cv = (lo[1] + hi[1]) / 2.0 + CROP_SHIFT_Y * size;
    let centre = [cu * ux[0] + cv * uy[0], cu * ux[1] + cv * uy[1]];
    let s = side / size;
    let half = side / 2.0;
    // q = s·[ux; uy]·(p − centre) + half
    let to_crop = [
        s * ux[0],
        s * ux[1],
        half - s * (ux[0] * centre[0] + ux[1] * centre[1]),
        s * uy[0],
        s * uy[1],
        half - s * (uy[0] * centre[0] + uy[1] * centre[1]),
    ];
    let to_photo = invert(&to_crop)?;
    Some(Crop { to_crop, to_photo })
}

/// The 512 crop for a detected face.
pub fn face_crop(face: &Face) -> Option<Crop> {
    if face.landmarks.len() < mesh::COUNT {
        return None;
    }
    let points: Vec<[f32; 2]> = EXTENT_POINTS.iter().map(|&i| face.point(i)).collect();
    let (l, r) = (face.eye_centre(true), face.eye_centre(false));
    let eyes = [(l[0] + r[0]) / 2.0, (l[1] + r[1]) / 2.0];
    let (a, b) = (face.point(mesh::MOUTH_LEFT), face.point(mesh::MOUTH_RIGHT));
    let mouth = [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
    crop_for(&points, eyes, mouth, CROP_SIDE as f32)
}

/// The mouth's inner gap over its width: LivePortrait's lip-open ratio
/// (its 203-point |p90−p102| / |p48−p66|) on Face Mesh points.
pub fn lip_ratio(face: &Face) -> f32 {
    let d = |a: usize, b: usize| {
        let (p, q) = (face.point(a), face.point(b));
        ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt()
    };
    let width = d(mesh::MOUTH_LEFT, mesh::MOUTH_RIGHT);
    if width <= f32::EPSILON {
        return 0.0;
    }
    d(mesh::UPPER_LIP, mesh::LOWER_LIP) / width
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::roi::apply;

    #[test]
    fn upright_face_crop_is_centred_above_the_box_centre() {
        // A 100 px square of points, eyes above mouth.
        let pts = [
            [100.0, 100.0],
            [200.0, 100.0],
            [100.0, 200.0],
            [200.0, 200.0],
        ];
        let c = crop_for(&pts, [150.0, 130.0], [150.0, 180.0], 512.0).expect("crop");
        // Side 230 px → 512; centre (150, 150 − 0.125·230).
        let centre = apply(&c.to_photo, [256.0, 256.0]);
        assert!((centre[0] - 150.0).abs() < 1e-3);
        assert!((centre[1] - (150.0 - 28.75)).abs() < 1e-3);
        let corner = apply(&c.to_photo, [0.0, 0.0]);
        assert!((corner[0] - (150.0 - 115.0)).abs() < 1e-3);
    }

    #[test]
    fn tilted_face_crop_turns_with_it_and_round_trips() {
        let a = 0.4f32;
        let (s, co) = a.sin_cos();
        let turn = |p: [f32; 2]| [300.0 + co * p[0] - s * p[1], 200.0 + s * p[0] + co * p[1]];
        let pts: Vec<[f32; 2]> = [[-50.0, -50.0], [50.0, -50.0], [-50.0, 50.0], [50.0, 50.0]]
            .into_iter()
            .map(turn)
            .collect();
        let c = crop_for(&pts, turn([0.0, -20.0]), turn([0.0, 30.0]), 512.0).expect("crop");
        // The face's own down direction maps to the crop's down direction.
        let down = apply(&c.to_crop, turn([0.0, 40.0]));
        let up = apply(&c.to_crop, turn([0.0, -40.0]));
        assert!((down[0] - up[0]).abs() < 1e-3 && down[1] > up[1]);
        for p in [[0.0, 0.0], [511.0, 3.0], [128.5, 400.25]] {
            let back = apply(&c.to_crop, apply(&c.to_photo, p));
            assert!((back[0] - p[0]).abs() < 1e-3 && (back[1] - p[1]).abs() < 1e-3);
        }
    }

    #[test]
    fn degenerate_points_give_no_crop() {
        assert!(crop_for(&[], [0.0, 0.0], [0.0, 1.0], 512.0).is_none());
        assert!(crop_for(&[[5.0, 5.0]], [5.0, 5.0], [5.0, 5.0], 512.0).is_none());
    }
}
