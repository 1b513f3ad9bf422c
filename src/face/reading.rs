//! What a viewer reads from a face: how far its mouth corners and cheeks
//! have risen and its eyes narrowed, between the photo and a rendered
//! frame, from the landmarks found again on that frame
//! ([`super::FaceModels::track`], [`super::eyes::EyeModel`]). The
//! expression tests and bench judge a render by these, not by the field
//! that made it.

use image::RgbImage;

use super::eyes::Eye;
use super::{mesh, Face, FaceError, FaceModels};

/// Cheek points (right, left), averaged: the apple of the cheek beside
/// the nose and the upper cheek under the outer eye corner, where a real
/// smile bunches the skin.
const RIGHT_CHEEK: [usize; 5] = [50, 101, 205, 117, 118];
const LEFT_CHEEK: [usize; 5] = [280, 330, 425, 346, 347];

/// A face as the models read it on one image: its mesh and both eyes.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    pub face: Face,
    /// The subject's right eye first.
    pub eyes: [Eye; 2],
}

impl Look {
    /// `face` (found on the photo) read on `image`, the photo or a frame
    /// of it; None when the landmark model sees no face there.
    pub fn read(
        models: &FaceModels,
        image: &RgbImage,
        face: &Face,
    ) -> Result<Option<Look>, FaceError> {
        let Some(face) = models.track(image, face)? else {
            return Ok(None);
        };
        let eyes = models.eyes().eyes(image, &face)?;
        Ok(Some(Look { face, eyes }))
    }
}

/// A face's change from the photo to a frame. Rises are in the photo
/// face's eye distances, along its own "up" and relative to its nose tip
/// (so that a nod is not read as a smile); openings are the frame's lid
/// gap over the photo's (1 = unchanged, 0 = shut), read by the eye model,
/// subject's right first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub corners: [f32; 2],
    pub cheeks: [f32; 2],
    pub eyes: [f32; 2],
}

impl Change {
    pub fn between(photo_look: &Look, frame_look: &Look) -> Change {
        let (photo, frame) = (&photo_look.face, &frame_look.face);
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
        let opening = |k: usize| {
            let before = photo_look.eyes[k].opening();
            if before <= f32::EPSILON {
                1.0
            } else {
                frame_look.eyes[k].opening() / before
            }
        };
        Change {
            corners: [rise(&[mesh::MOUTH_RIGHT]), rise(&[mesh::MOUTH_LEFT])],
            cheeks: [rise(&RIGHT_CHEEK), rise(&LEFT_CHEEK)],
            eyes: [opening(0), opening(1)],
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A level face with eyes 100 px apart at y = 100 and every other
    /// point at (150, 150); its eyes 10 px open.
    fn face() -> Look {
        let mut landmarks = vec![[150.0, 150.0, 0.0]; mesh::COUNT];
        for (i, x) in [
            (mesh::RIGHT_EYE_OUTER, 80.0),
            (mesh::RIGHT_EYE_INNER, 120.0),
            (mesh::LEFT_EYE_INNER, 180.0),
            (mesh::LEFT_EYE_OUTER, 220.0),
        ] {
            landmarks[i] = [x, 100.0, 0.0];
        }
        Look {
            face: Face {
                bbox: [0.0, 0.0, 300.0, 300.0],
                score: 1.0,
                landmarks,
            },
            eyes: [
                Eye::drawn([100.0, 100.0], 40.0, 10.0),
                Eye::drawn([200.0, 100.0], 40.0, 10.0),
            ],
        }
    }

    #[test]
    fn rises_are_relative_to_the_nose_and_openings_relative_to_the_photo() {
        let photo = face();
        let mut frame = face();
        // The whole face nods 5 px down: nothing reads as a smile.
        for p in &mut frame.face.landmarks {
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
        frame.face.landmarks[mesh::MOUTH_LEFT][1] -= 4.0;
        frame.eyes[0] = Eye::drawn([100.0, 100.0], 40.0, 5.0);
        let c = Change::between(&photo, &frame);
        assert!((c.corners[1] - 0.04).abs() < 1e-5, "{c:?}");
        assert!(c.corners[0].abs() < 1e-5, "{c:?}");
        assert!((c.eyes[0] - 0.5).abs() < 1e-5, "{c:?}");
    }
}
