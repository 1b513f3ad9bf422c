//! What a viewer reads from a face: how far its mouth corners and cheeks
//! have risen and its eyes narrowed, between the photo and a rendered
//! frame, from the landmarks found again on that frame
//! ([`super::FaceModels::track`]). The expression bench judges a render by
//! these, not by the field that made it.

use super::{mesh, Face};

/// Cheek points (right, left), averaged: the apple of the cheek beside
/// the nose and the upper cheek under the outer eye corner, where a real
/// smile bunches the skin.
const RIGHT_CHEEK: [usize; 5] = [50, 101, 205, 117, 118];
const LEFT_CHEEK: [usize; 5] = [280, 330, 425, 346, 347];
/// Two upper/lower lid pairs per eye (right, left), averaged.
const RIGHT_LIDS: [(usize, usize); 2] =
    [(mesh::RIGHT_UPPER_LID, mesh::RIGHT_LOWER_LID), (158, 153)];
const LEFT_LIDS: [(usize, usize); 2] = [(mesh::LEFT_UPPER_LID, mesh::LEFT_LOWER_LID), (385, 380)];

/// A face's change from the photo to a frame. Rises are in the photo
/// face's eye distances, along its own "up" and relative to its nose tip
/// (so that a nod is not read as a smile); openings are the frame's lid
/// gap over the photo's (1 = unchanged, 0 = shut), subject's right first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub corners: [f32; 2],
    pub cheeks: [f32; 2],
    pub eyes: [f32; 2],
}

impl Change {
    pub fn between(photo: &Face, frame: &Face) -> Change {
        let iod = photo.inter_ocular().max(1.0);
        let (er, el) = (photo.eye_centre(false), photo.eye_centre(true));
        let up = [(el[1] - er[1]) / iod, -(el[0] - er[0]) / iod];
        let rise = |points: &[usize]| {
            let (before, after) = (mean(photo, points), mean(frame, points));
            let (nb, na) = (photo.point(mesh::NOSE_TIP), frame.point(mesh::NOSE_TIP));
            let moved = [
                (after[0] - na[0]) - (before[0] - nb[0]),
                (after[1] - na[1]) - (before[1] - nb[1]),
            ];
            (moved[0] * up[0] + moved[1] * up[1]) / iod
        };
        let opening = |pairs: &[(usize, usize)]| {
            let gap = |f: &Face| {
                pairs
                    .iter()
                    .map(|&(a, b)| dist(f.point(a), f.point(b)))
                    .sum::<f32>()
            };
            let before = gap(photo);
            if before <= f32::EPSILON {
                1.0
            } else {
                gap(frame) / before
            }
        };
        Change {
            corners: [rise(&[mesh::MOUTH_RIGHT]), rise(&[mesh::MOUTH_LEFT])],
            cheeks: [rise(&RIGHT_CHEEK), rise(&LEFT_CHEEK)],
            eyes: [opening(&RIGHT_LIDS), opening(&LEFT_LIDS)],
        }
    }
}

/// How far a face's mouth corners sit above the line where its lips
/// meet, in eye distances: about 0 for a neutral mouth, more for one
/// that already smiles.
pub fn corner_lift(face: &Face) -> f32 {
    let iod = face.inter_ocular().max(1.0);
    let (er, el) = (face.eye_centre(false), face.eye_centre(true));
    let up = [(el[1] - er[1]) / iod, -(el[0] - er[0]) / iod];
    let lips = mean(face, &[mesh::UPPER_LIP, mesh::LOWER_LIP]);
    let corners = mean(face, &[mesh::MOUTH_RIGHT, mesh::MOUTH_LEFT]);
    ((corners[0] - lips[0]) * up[0] + (corners[1] - lips[1]) * up[1]) / iod
}

fn mean(face: &Face, points: &[usize]) -> [f32; 2] {
    let n = points.len().max(1) as f32;
    let s = points.iter().fold([0.0, 0.0], |s, &i| {
        let p = face.point(i);
        [s[0] + p[0], s[1] + p[1]]
    });
    [s[0] / n, s[1] / n]
}

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A level face with eyes 100 px apart at y = 100 and every other
    /// point at (150, 150).
    fn face() -> Face {
        let mut landmarks = vec![[150.0, 150.0, 0.0]; mesh::COUNT];
        for (i, x) in [
            (mesh::RIGHT_EYE_OUTER, 80.0),
            (mesh::RIGHT_EYE_INNER, 120.0),
            (mesh::LEFT_EYE_INNER, 180.0),
            (mesh::LEFT_EYE_OUTER, 220.0),
        ] {
            landmarks[i] = [x, 100.0, 0.0];
        }
        for (u, l) in RIGHT_LIDS.iter().chain(&LEFT_LIDS) {
            landmarks[*u][1] = 95.0;
            landmarks[*l][1] = 105.0;
        }
        Face {
            bbox: [0.0, 0.0, 300.0, 300.0],
            score: 1.0,
            landmarks,
        }
    }

    #[test]
    fn rises_are_relative_to_the_nose_and_openings_relative_to_the_photo() {
        let photo = face();
        let mut frame = face();
        // The whole face nods 5 px down: nothing reads as a smile.
        for p in &mut frame.landmarks {
            p[1] += 5.0;
        }
        let c = Change::between(&photo, &frame);
        assert!(
            c.corners.iter().chain(&c.cheeks).all(|r| r.abs() < 1e-5),
            "{c:?}"
        );
        assert_eq!(c.eyes, [1.0, 1.0]);
        // The left mouth corner rises 4 px (4 % of the eye distance), the
        // right eye shuts by half.
        frame.landmarks[mesh::MOUTH_LEFT][1] -= 4.0;
        for (u, _) in RIGHT_LIDS {
            frame.landmarks[u][1] += 5.0;
        }
        let c = Change::between(&photo, &frame);
        assert!((c.corners[1] - 0.04).abs() < 1e-5, "{c:?}");
        assert!(c.corners[0].abs() < 1e-5, "{c:?}");
        assert!((c.eyes[0] - 0.5).abs() < 1e-5, "{c:?}");
    }
}
