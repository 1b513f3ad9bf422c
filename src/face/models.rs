//! The face networks (detectors, mesh, eyes) on ONNX Runtime, loaded dynamically from the
//! `libonnxruntime.so` that `engines/face/install` puts in the models dir.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use image::RgbImage;
use ort::session::Session;
use ort::value::Tensor;

use super::detect::{self, Detection};
use super::eyes::EyeModel;
use super::roi::{apply, Letterbox, Roi};
use super::{Face, FaceError};
use crate::geometry::{warp_affine, Scaler};

pub const DETECTOR_FILE: &str = "face_detection_short_range.onnx";
pub const FULL_RANGE_FILE: &str = "face_detection_full_range.onnx";
/// Detections that get landmarks, largest first: a crowd stays bounded in
/// time (about 5 ms each on one core).
pub const MAX_DETECTIONS: usize = 32;
pub const LANDMARK_FILE: &str = "face_landmark.onnx";
/// Input side of the landmark model.
pub const LANDMARK_INPUT: usize = 192;
const LANDMARK_VALUES: usize = 468 * 3;
/// The second, tight crop: 1.1 face boxes instead of 1.5.
const TIGHT_ROI_SCALE: f32 = 1.1;
/// Eye centres of the wide and tight meshes further apart than this (in
/// eye distances) mean the wide crop's mesh slid onto a neighbour.
const MAX_MESH_DISAGREEMENT: f32 = 0.35;
/// Face-presence score (after sigmoid) below which landmarks are dropped.
const MIN_FACE_PRESENCE: f32 = 0.5;

/// ONNX Runtime is one library per process: it is loaded once, from the
/// first path asked for, and every later caller shares it.
static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

pub(crate) fn environment(lib: &Path) -> Result<&'static ort::environment::Environment, FaceError> {
    let env = ENVIRONMENT.get_or_init(|| {
        if !lib.is_file() {
            return Err("file not found".to_string());
        }
        ort::init_from(lib)
            .map_err(|e| e.to_string())?
            .with_name("smileloop")
            .build()
            .map_err(|e| e.to_string())
    });
    env.as_ref().map_err(|message| FaceError::Runtime {
        path: lib.display().to_string(),
        message: message.clone(),
    })
}

pub(super) struct Net {
    pub(super) session: Mutex<Session>,
    input: String,
}

pub(super) fn load(env: &ort::environment::Environment, path: &Path) -> Result<Net, FaceError> {
    let fail = |e: &dyn std::fmt::Display| FaceError::Model {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if !path.is_file() {
        return Err(fail(&"file not found"));
    }
    let session = Session::builder(env)
        .map_err(|e| fail(&e))?
        .with_intra_threads(1)
        .map_err(|e| fail(&e))?
        .commit_from_file(path)
        .map_err(|e| fail(&e))?;
    let input = session
        .inputs()
        .first()
        .map(|i| i.name().to_string())
        .ok_or_else(|| fail(&"no input"))?;
    Ok(Net {
        session: Mutex::new(session),
        input,
    })
}

/// One BlazeFace detector with its layout and output names.
struct Detector {
    net: Net,
    spec: detect::Spec,
    anchors: Vec<[f32; 2]>,
    regressors_out: String,
    scores_out: String,
}

impl Detector {
    fn load(
        env: &ort::environment::Environment,
        path: &Path,
        spec: detect::Spec,
    ) -> Result<Self, FaceError> {
        let net = load(env, path)?;
        let n = spec.anchor_count() as i64;
        let [regressors_out, scores_out] = net.outputs_sized(
            path,
            [n * detect::VALUES_PER_ANCHOR as i64, n],
            &format!("[{n}×16] boxes and [{n}] scores"),
        )?;
        Ok(Self {
            net,
            anchors: detect::anchors_for(&spec),
            spec,
            regressors_out,
            scores_out,
        })
    }

    fn run(&self, input: &[f32]) -> Result<(Vec<f32>, Vec<f32>), FaceError> {
        let names = [self.regressors_out.as_str(), self.scores_out.as_str()];
        let out = run(&self.net, input, self.spec.input, &names)?;
        let mut it = out.into_iter();
        match (it.next(), it.next()) {
            (Some(r), Some(c)) => Ok((r, c)),
            _ => Err(FaceError::Inference("detector outputs missing".into())),
        }
    }
}

pub struct FaceModels {
    detector: Detector,
    full_range: Detector,
    landmarker: Net,
    /// Output names, found at load by their shapes (the converter names
    /// them after layers, which can change between conversions).
    landmarks_out: String,
    presence_out: String,
    /// Refines each found face's lids and reads eyes up close.
    eyes: EyeModel,
}

fn elements(outlet: &ort::value::Outlet) -> Option<i64> {
    outlet.dtype().tensor_shape().map(|s| s.iter().product())
}

impl Net {
    /// The names of the outputs with these element counts, in their
    /// order (the converted models' output names are not stable, their
    /// shapes are); an error saying what was `expected` if one is missing.
    pub(super) fn outputs_sized<const N: usize>(
        &self,
        path: &Path,
        sizes: [i64; N],
        expected: &str,
    ) -> Result<[String; N], FaceError> {
        let session = self
            .session
            .lock()
            .map_err(|_| FaceError::Inference("poisoned".into()))?;
        let found: Option<Vec<String>> = sizes
            .iter()
            .map(|&n| {
                session
                    .outputs()
                    .iter()
                    .find(|o| elements(o) == Some(n))
                    .map(|o| o.name().to_string())
            })
            .collect();
        found
            .and_then(|names| names.try_into().ok())
            .ok_or_else(|| FaceError::Model {
                path: path.display().to_string(),
                message: format!("outputs are not {expected}"),
            })
    }
}

impl FaceModels {
    pub fn load(onnxruntime_lib: &Path, models_dir: &Path) -> Result<Self, FaceError> {
        let env = environment(onnxruntime_lib)?;
        let detector = Detector::load(env, &models_dir.join(DETECTOR_FILE), detect::SHORT_RANGE)?;
        let full_range =
            Detector::load(env, &models_dir.join(FULL_RANGE_FILE), detect::FULL_RANGE)?;
        let landmarker = load(env, &models_dir.join(LANDMARK_FILE))?;
        let [landmarks_out, presence_out] = landmarker.outputs_sized(
            &models_dir.join(LANDMARK_FILE),
            [LANDMARK_VALUES as i64, 1],
            "[1404] landmarks and [1] score",
        )?;
        let eyes = EyeModel::load(env, models_dir)?;
        Ok(Self {
            detector,
            full_range,
            landmarker,
            landmarks_out,
            presence_out,
            eyes,
        })
    }

    /// The eye model the faces' lids are refined with.
    pub fn eyes(&self) -> &EyeModel {
        &self.eyes
    }

    /// Default file locations under a models dir.
    pub fn paths(models_dir: &Path) -> [PathBuf; 4] {
        [
            models_dir.join(DETECTOR_FILE),
            models_dir.join(FULL_RANGE_FILE),
            models_dir.join(LANDMARK_FILE),
            models_dir.join(super::eyes::EYE_FILE),
        ]
    }

    /// Every face in the photo, largest first; one face seen twice (two
    /// boxes, the same eyes) counts once.
    pub fn faces(&self, photo: &RgbImage) -> Result<Vec<Face>, FaceError> {
        let (mut detections, letterbox) = self.detections(photo)?;
        let area = |d: &Detection| (d.xmax - d.xmin) * (d.ymax - d.ymin);
        detections.sort_by(|a, b| area(b).total_cmp(&area(a)));
        detections.truncate(MAX_DETECTIONS);
        let mut faces: Vec<Face> = Vec::new();
        for d in detections {
            if let Some(face) = self.landmarks_for(photo, &d, &letterbox)? {
                if !faces.iter().any(|f| super::same_person(f, &face)) {
                    faces.push(self.eyes.refine(photo, &face)?);
                }
            }
        }
        faces.sort_by(|a, b| (b.bbox[2] * b.bbox[3]).total_cmp(&(a.bbox[2] * a.bbox[3])));
        Ok(faces)
    }

    /// Raw detections of both detectors, merged (letterbox included), for
    /// tests and tools.
    pub fn detections(&self, photo: &RgbImage) -> Result<(Vec<Detection>, Letterbox), FaceError> {
        let (input, letterbox) = detector_input(photo);
        let (regressors, scores) = self.run_detector(&input)?;
        let short = detect::decode_raw(
            &self.detector.spec,
            &regressors,
            &scores,
            &self.detector.anchors,
        );
        let (input, _) = detector_input_sized(photo, detect::FULL_RANGE.input);
        let (regressors, scores) = self.full_range.run(&input)?;
        let full = detect::decode_raw(
            &self.full_range.spec,
            &regressors,
            &scores,
            &self.full_range.anchors,
        );
        Ok((detect::merge(short, full), letterbox))
    }

    /// Landmarks for one detection. The model looks at 1.5 face boxes; in
    /// a couple cheek to cheek that crop holds most of the other face too,
    /// and the mesh can slide onto it. So the face is meshed again from a
    /// tight crop: when the two meshes disagree about the eyes, the wide
    /// one was pulled away and the tight one is kept.
    fn landmarks_for(
        &self,
        photo: &RgbImage,
        d: &Detection,
        lb: &Letterbox,
    ) -> Result<Option<Face>, FaceError> {
        let roi = roi_for(d, lb);
        let [x0, y0] = lb.to_photo([d.xmin, d.ymin]);
        let [x1, y1] = lb.to_photo([d.xmax, d.ymax]);
        let face = |landmarks| Face {
            bbox: [x0, y0, x1 - x0, y1 - y0],
            score: d.score,
            landmarks,
        };
        let Some(wide) = self.mesh(photo, &roi)?.map(face) else {
            return Ok(None);
        };
        let tight_roi = Roi {
            size: roi.size * TIGHT_ROI_SCALE / super::roi::LANDMARK_ROI_SCALE,
            ..roi
        };
        let Some(tight) = self.mesh(photo, &tight_roi)?.map(face) else {
            return Ok(Some(wide));
        };
        let limit = MAX_MESH_DISAGREEMENT * tight.inter_ocular();
        let off = |left| {
            let (a, b) = (wide.eye_centre(left), tight.eye_centre(left));
            ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
        };
        Ok(Some(if off(false) > limit || off(true) > limit {
            tight
        } else {
            wide
        }))
    }

    /// `face` (found in a photo) found again in `frame`, an animated frame
    /// of that photo: meshed from the crops the photo's face was meshed
    /// from, as MediaPipe tracks a face from frame to frame instead of
    /// detecting it anew, keeping the mesh whose eyes stay nearer the
    /// photo's. None when the model sees no face there.
    pub fn track(&self, frame: &RgbImage, face: &Face) -> Result<Option<Face>, FaceError> {
        let [x, y, w, h] = face.bbox;
        let roi = Roi::from_box(
            x,
            y,
            x + w,
            y + h,
            face.eye_centre(false),
            face.eye_centre(true),
        );
        let tight_roi = Roi {
            size: roi.size * TIGHT_ROI_SCALE / super::roi::LANDMARK_ROI_SCALE,
            ..roi
        };
        let off = |f: &Face| {
            [false, true]
                .iter()
                .map(|&left| {
                    let (a, b) = (f.eye_centre(left), face.eye_centre(left));
                    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
                })
                .sum::<f32>()
        };
        let mut best: Option<Face> = None;
        for r in [roi, tight_roi] {
            if let Some(landmarks) = self.mesh(frame, &r)? {
                let found = Face {
                    landmarks,
                    ..face.clone()
                };
                if best.as_ref().is_none_or(|b| off(&found) < off(b)) {
                    best = Some(found);
                }
            }
        }
        Ok(best)
    }

    /// The 468 landmarks (photo pixels) the model finds in `roi`, or none
    /// when it sees no face there.
    fn mesh(&self, photo: &RgbImage, roi: &Roi) -> Result<Option<Vec<[f32; 3]>>, FaceError> {
        let input = landmark_input(photo, roi);
        let (raw, presence) = self.run_landmarks(&input)?;
        if presence < MIN_FACE_PRESENCE {
            return Ok(None);
        }
        let m = roi.crop_to_photo(LANDMARK_INPUT as f32);
        let z_scale = roi.size / LANDMARK_INPUT as f32;
        Ok(Some(
            raw.chunks_exact(3)
                .map(|p| {
                    let [x, y] = apply(&m, [p[0], p[1]]);
                    [x, y, p[2] * z_scale]
                })
                .collect(),
        ))
    }

    /// Raw detector outputs (`regressors` [896×16], `classificators` [896])
    /// for an NCHW input from [`detector_input`].
    pub fn run_detector(&self, input: &[f32]) -> Result<(Vec<f32>, Vec<f32>), FaceError> {
        self.detector.run(input)
    }

    /// Raw full-range detector outputs ([2304×16], [2304]) for an NCHW
    /// input from [`detector_input_sized`] at 192 px.
    pub fn run_full_range(&self, input: &[f32]) -> Result<(Vec<f32>, Vec<f32>), FaceError> {
        self.full_range.run(input)
    }

    /// Raw landmarks (1404 values, input pixels) and the face-presence
    /// probability, for an NCHW input from [`landmark_input`].
    pub fn run_landmarks(&self, input: &[f32]) -> Result<(Vec<f32>, f32), FaceError> {
        let names = [self.landmarks_out.as_str(), self.presence_out.as_str()];
        let out = run(&self.landmarker, input, LANDMARK_INPUT, &names)?;
        let mut it = out.into_iter();
        match (it.next(), it.next().and_then(|p| p.first().copied())) {
            (Some(l), Some(p)) if l.len() == LANDMARK_VALUES => Ok((l, 1.0 / (1.0 + (-p).exp()))),
            _ => Err(FaceError::Inference("landmark outputs missing".into())),
        }
    }
}

/// The landmark model's crop for a detection, in photo pixels.
pub fn roi_for(d: &Detection, lb: &Letterbox) -> Roi {
    let [x0, y0] = lb.to_photo([d.xmin, d.ymin]);
    let [x1, y1] = lb.to_photo([d.xmax, d.ymax]);
    Roi::from_box(
        x0,
        y0,
        x1,
        y1,
        lb.to_photo(d.keypoints[0]),
        lb.to_photo(d.keypoints[1]),
    )
}

pub(super) fn run(
    net: &Net,
    input: &[f32],
    side: usize,
    outputs: &[&str],
) -> Result<Vec<Vec<f32>>, FaceError> {
    let fail = |e: &dyn std::fmt::Display| FaceError::Inference(e.to_string());
    if input.len() != 3 * side * side {
        return Err(fail(&format!(
            "input has {} values, expected {}",
            input.len(),
            3 * side * side
        )));
    }
    let tensor =
        Tensor::from_array(([1usize, 3, side, side], input.to_vec())).map_err(|e| fail(&e))?;
    let mut session = net
        .session
        .lock()
        .map_err(|_| fail(&"session lock poisoned"))?;
    let result = session
        .run(ort::inputs![net.input.as_str() => tensor])
        .map_err(|e| fail(&e))?;
    outputs
        .iter()
        .map(|name| {
            let value = result
                .get(name)
                .ok_or_else(|| fail(&format!("no output named {name}")))?;
            let (_, data) = value.try_extract_tensor::<f32>().map_err(|e| fail(&e))?;
            Ok(data.to_vec())
        })
        .collect()
}

/// Photo → the short-range detector's 128×128 NCHW input in [−1, 1],
/// letterboxed.
pub fn detector_input(photo: &RgbImage) -> (Vec<f32>, Letterbox) {
    detector_input_sized(photo, detect::INPUT)
}

/// Photo → a `side`-pixel square detector input in [−1, 1], letterboxed.
pub fn detector_input_sized(photo: &RgbImage, side: usize) -> (Vec<f32>, Letterbox) {
    let lb = Letterbox::new(photo.width(), photo.height(), side);
    let w = ((photo.width() as f32 * lb.scale).round() as u32).clamp(1, side as u32);
    let h = ((photo.height() as f32 * lb.scale).round() as u32).clamp(1, side as u32);
    let small = Scaler::default().scale(photo, w, h);
    let (ox, oy) = (lb.pad_x.round() as usize, lb.pad_y.round() as usize);
    let mut out = vec![-1.0f32; 3 * side * side];
    for (y, row) in small.rows().enumerate() {
        for (x, px) in row.enumerate() {
            let (tx, ty) = (x + ox, y + oy);
            if tx < side && ty < side {
                for c in 0..3 {
                    out[c * side * side + ty * side + tx] = f32::from(px[c]) / 127.5 - 1.0;
                }
            }
        }
    }
    (out, lb)
}

/// Photo + ROI → the landmark model's 192×192 NCHW input in [0, 1].
pub fn landmark_input(photo: &RgbImage, roi: &Roi) -> Vec<f32> {
    let side = LANDMARK_INPUT;
    let mut crop = RgbImage::new(side as u32, side as u32);
    warp_affine(photo, &mut crop, roi.crop_to_photo(side as f32));
    let mut out = vec![0.0f32; 3 * side * side];
    for (i, px) in crop.pixels().enumerate() {
        for c in 0..3 {
            out[c * side * side + i] = f32::from(px[c]) / 255.0;
        }
    }
    out
}
