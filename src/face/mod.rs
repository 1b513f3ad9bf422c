//! Faces: detection (MediaPipe BlazeFace short and full range) and 468 landmarks
//! (MediaPipe Face Mesh), both Apache-2.0, run with ONNX Runtime. Shared by
//! every face-aware animator.
//!
//! Photo in, [`Face`]s out, in photo pixels, largest first. The checks a
//! guest hears about ("no face", "too small", "cut off", "turned away")
//! live in [`check`], as pure functions of a [`Face`].

pub mod detect;
pub mod eyes;
mod models;
pub mod reading;
pub mod recent;
pub mod roi;

pub(crate) use models::environment;
pub use models::{
    detector_input, detector_input_sized, landmark_input, roi_for, FaceModels, LANDMARK_INPUT,
    MAX_DETECTIONS,
};

/// Landmark indices used across the crate (MediaPipe Face Mesh topology).
pub mod mesh {
    pub const NOSE_TIP: usize = 1;
    pub const RIGHT_EYE_OUTER: usize = 33;
    pub const RIGHT_EYE_INNER: usize = 133;
    pub const LEFT_EYE_INNER: usize = 362;
    pub const LEFT_EYE_OUTER: usize = 263;
    pub const RIGHT_UPPER_LID: usize = 159;
    pub const RIGHT_LOWER_LID: usize = 145;
    pub const LEFT_UPPER_LID: usize = 386;
    pub const LEFT_LOWER_LID: usize = 374;
    /// Each eye's contour in the iris model's order: outer corner, the
    /// lower lid from the outer corner in, inner corner, the upper lid.
    pub const RIGHT_EYE_CONTOUR: [usize; 16] = [
        33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173,
    ];
    pub const LEFT_EYE_CONTOUR: [usize; 16] = [
        263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398,
    ];
    pub const MOUTH_RIGHT: usize = 61;
    pub const MOUTH_LEFT: usize = 291;
    pub const UPPER_LIP: usize = 13;
    pub const LOWER_LIP: usize = 14;
    pub const CHIN: usize = 152;
    pub const FOREHEAD: usize = 10;
    pub const COUNT: usize = 468;
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Face {
    /// Detector box in photo pixels: x, y, width, height.
    pub bbox: [f32; 4],
    pub score: f32,
    /// 468 points (x, y, z) in photo pixels.
    pub landmarks: Vec<[f32; 3]>,
}

impl Face {
    pub fn point(&self, i: usize) -> [f32; 2] {
        let p = self.landmarks[i];
        [p[0], p[1]]
    }

    /// Distance between the eye centres.
    pub fn inter_ocular(&self) -> f32 {
        let (r, l) = (self.eye_centre(false), self.eye_centre(true));
        ((l[0] - r[0]).powi(2) + (l[1] - r[1]).powi(2)).sqrt()
    }

    /// Centre of the subject's left (`true`) or right eye.
    pub fn eye_centre(&self, left: bool) -> [f32; 2] {
        let (a, b) = if left {
            (mesh::LEFT_EYE_INNER, mesh::LEFT_EYE_OUTER)
        } else {
            (mesh::RIGHT_EYE_INNER, mesh::RIGHT_EYE_OUTER)
        };
        let (p, q) = (self.point(a), self.point(b));
        [(p[0] + q[0]) / 2.0, (p[1] + q[1]) / 2.0]
    }

    /// The same face with every coordinate scaled (photo → output pixels).
    pub fn scaled(&self, sx: f32, sy: f32) -> Face {
        Face {
            bbox: [
                self.bbox[0] * sx,
                self.bbox[1] * sy,
                self.bbox[2] * sx,
                self.bbox[3] * sy,
            ],
            score: self.score,
            landmarks: self
                .landmarks
                .iter()
                .map(|p| [p[0] * sx, p[1] * sy, p[2] * sx])
                .collect(),
        }
    }

    /// Bounding box of the landmarks: x0, y0, x1, y1.
    pub fn extent(&self) -> [f32; 4] {
        crate::geometry::bounds(self.landmarks.iter().map(|p| [p[0], p[1]]))
    }
}

/// Two faces are one person when both eyes sit within a third of the eye
/// distance of each other (two detector boxes on one face).
pub fn same_person(a: &Face, b: &Face) -> bool {
    let limit = a.inter_ocular().min(b.inter_ocular()) / 3.0;
    [false, true].iter().all(|&left| {
        let (p, q) = (a.eye_centre(left), b.eye_centre(left));
        ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt() < limit
    })
}

/// The faces of one photo, sorted for the animators: the ones that come
/// alive (largest first) and the ones found but left still (too small,
/// cut off, turned, or beyond `max_faces`), which no other face's motion
/// may move either. Stored with the job, in photo pixels.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Found {
    pub animated: Vec<Face>,
    pub still: Vec<Face>,
    /// The `max_faces` this was chosen with.
    pub max_faces: u32,
}

impl Found {
    pub fn scaled(&self, sx: f32, sy: f32) -> Found {
        Found {
            animated: self.animated.iter().map(|f| f.scaled(sx, sy)).collect(),
            still: self.still.iter().map(|f| f.scaled(sx, sy)).collect(),
            max_faces: self.max_faces,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaceError {
    #[error("ONNX Runtime could not be loaded from {path}: {message} (run engines/face/install, or set SMILELOOP_ONNXRUNTIME_LIB)")]
    Runtime { path: String, message: String },
    #[error(
        "face model {path}: {message} (run engines/face/install, or set SMILELOOP_MODELS_DIR)"
    )]
    Model { path: String, message: String },
    #[error("face inference failed: {0}")]
    Inference(String),
}

/// Why a photo cannot be animated, in the guest's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhotoProblem {
    #[error("We couldn't find a face. Look at the camera and try again.")]
    NoFace,
    #[error("Your face is too small in this photo. Come a little closer and try again.")]
    TooSmall,
    #[error("Your face is cut off at the edge of the photo. Step into the middle and try again.")]
    CutOff,
    #[error("Please face the camera: your head is turned too far to the side.")]
    Turned,
}

impl PhotoProblem {
    /// The machine code pages translate.
    pub fn code(self) -> &'static str {
        match self {
            Self::NoFace => "no_face",
            Self::TooSmall => "face_too_small",
            Self::CutOff => "face_cut_off",
            Self::Turned => "face_turned",
        }
    }
}

pub mod check {
    //! Pure checks of a found face against the photo it came from.
    use super::{mesh, Face, PhotoProblem};

    /// Smallest face (eye to eye) that animates well, in photo pixels.
    pub const MIN_INTER_OCULAR_PX: f32 = 24.0;
    /// Share of landmarks allowed outside the photo (a cropped forehead is fine).
    pub const MAX_OUTSIDE: f32 = 0.15;
    /// Nose position between the outer eye corners, 0.5 = frontal.
    pub const MAX_TURN: f32 = 0.3;

    /// Sorts `faces` (largest first) into the ones to animate, at most
    /// `max_faces`, and the ones left still. Refused only when no face is
    /// usable: with the largest face's problem.
    pub fn select(
        faces: Vec<Face>,
        width: u32,
        height: u32,
        max_faces: u32,
    ) -> Result<super::Found, PhotoProblem> {
        let mut found = super::Found {
            max_faces,
            ..Default::default()
        };
        let mut first_problem = None;
        for f in faces {
            match face(&f, width, height) {
                Ok(()) if found.animated.len() < max_faces as usize => found.animated.push(f),
                Ok(()) => found.still.push(f),
                Err(p) => {
                    first_problem.get_or_insert(p);
                    found.still.push(f);
                }
            }
        }
        if found.animated.is_empty() {
            return Err(first_problem.unwrap_or(PhotoProblem::NoFace));
        }
        Ok(found)
    }

    pub fn face(face: &Face, width: u32, height: u32) -> Result<(), PhotoProblem> {
        if face.inter_ocular() < MIN_INTER_OCULAR_PX {
            return Err(PhotoProblem::TooSmall);
        }
        let outside = face
            .landmarks
            .iter()
            .filter(|p| p[0] < 0.0 || p[1] < 0.0 || p[0] >= width as f32 || p[1] >= height as f32)
            .count();
        let eyes_in = [
            mesh::RIGHT_EYE_OUTER,
            mesh::LEFT_EYE_OUTER,
            mesh::MOUTH_LEFT,
            mesh::MOUTH_RIGHT,
        ]
        .iter()
        .all(|&i| {
            let p = face.point(i);
            p[0] >= 0.0 && p[1] >= 0.0 && p[0] < width as f32 && p[1] < height as f32
        });
        if !eyes_in || outside as f32 > MAX_OUTSIDE * face.landmarks.len() as f32 {
            return Err(PhotoProblem::CutOff);
        }
        if (turn(face) - 0.5).abs() > MAX_TURN {
            return Err(PhotoProblem::Turned);
        }
        Ok(())
    }

    /// Where the nose tip sits between the outer eye corners (0..1).
    pub fn turn(face: &Face) -> f32 {
        let (r, l, n) = (
            face.point(mesh::RIGHT_EYE_OUTER),
            face.point(mesh::LEFT_EYE_OUTER),
            face.point(mesh::NOSE_TIP),
        );
        let (dx, dy) = (l[0] - r[0], l[1] - r[1]);
        let len2 = dx * dx + dy * dy;
        if len2 <= f32::EPSILON {
            return 0.5;
        }
        ((n[0] - r[0]) * dx + (n[1] - r[1]) * dy) / len2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic frontal face: eyes 100 px apart around (300, 300).
    fn face_at(dx: f32, nose_x: f32) -> Face {
        let mut landmarks = vec![[300.0 + dx, 320.0, 0.0]; mesh::COUNT];
        let mut set = |i: usize, x: f32, y: f32| landmarks[i] = [x + dx, y, 0.0];
        set(mesh::RIGHT_EYE_OUTER, 230.0, 280.0);
        set(mesh::RIGHT_EYE_INNER, 270.0, 280.0);
        set(mesh::LEFT_EYE_INNER, 330.0, 280.0);
        set(mesh::LEFT_EYE_OUTER, 370.0, 280.0);
        set(mesh::NOSE_TIP, nose_x, 320.0);
        set(mesh::MOUTH_RIGHT, 270.0, 360.0);
        set(mesh::MOUTH_LEFT, 330.0, 360.0);
        Face {
            bbox: [200.0 + dx, 200.0, 200.0, 200.0],
            score: 0.9,
            landmarks,
        }
    }

    #[test]
    fn frontal_face_passes() {
        let f = face_at(0.0, 300.0);
        assert!((f.inter_ocular() - 100.0).abs() < 1e-4);
        assert_eq!(check::face(&f, 600, 600), Ok(()));
        assert!((check::turn(&f) - 0.5).abs() < 1e-5);
    }

    #[test]
    fn select_animates_usable_faces_up_to_the_limit_and_keeps_the_rest_still() {
        let ok = |dx| face_at(dx, 300.0);
        let cut = face_at(-250.0, 50.0);
        let got = check::select(
            vec![ok(0.0), cut.clone(), ok(600.0), ok(1200.0)],
            1800,
            600,
            2,
        )
        .expect("usable faces");
        let boxes = |faces: &[Face]| faces.iter().map(|f| f.bbox[0]).collect::<Vec<_>>();
        assert_eq!(boxes(&got.animated), [200.0, 800.0]);
        assert_eq!(boxes(&got.still), [-50.0, 1400.0]);
        assert_eq!(
            check::select(vec![cut], 1800, 600, 6),
            Err(PhotoProblem::CutOff),
            "refused only when no face is usable"
        );
        assert_eq!(check::select(vec![], 10, 10, 6), Err(PhotoProblem::NoFace));
        assert!(same_person(&ok(0.0), &face_at(5.0, 305.0)));
        assert!(!same_person(&ok(0.0), &ok(600.0)));
    }

    #[test]
    fn problems_are_named() {
        assert_eq!(
            check::face(&face_at(0.0, 240.0), 600, 600),
            Err(PhotoProblem::Turned)
        );
        assert_eq!(
            check::face(&face_at(-250.0, 300.0), 600, 600),
            Err(PhotoProblem::CutOff)
        );
        let mut tiny = face_at(0.0, 300.0);
        for p in &mut tiny.landmarks {
            p[0] = 300.0 + (p[0] - 300.0) / 10.0;
        }
        assert_eq!(check::face(&tiny, 600, 600), Err(PhotoProblem::TooSmall));
    }
}
