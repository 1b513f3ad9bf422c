//! The two face networks on ONNX Runtime, loaded dynamically from the
//! `libonnxruntime.so` that `engines/face/install` puts in the models dir.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use image::RgbImage;
use ort::session::Session;
use ort::value::Tensor;

use super::detect::{self, Detection};
use super::roi::{apply, Letterbox, Roi};
use super::{Face, FaceError};
use crate::geometry::{warp_affine, Scaler};

pub const DETECTOR_FILE: &str = "face_detection_short_range.onnx";
pub const LANDMARK_FILE: &str = "face_landmark.onnx";
/// Input side of the landmark model.
pub const LANDMARK_INPUT: usize = 192;
const LANDMARK_VALUES: usize = 468 * 3;
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

struct Net {
    session: Mutex<Session>,
    input: String,
}

fn load(env: &ort::environment::Environment, path: &Path) -> Result<Net, FaceError> {
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

pub struct FaceModels {
    detector: Net,
    landmarker: Net,
    /// Output names, found at load by their shapes (the converter names
    /// them after layers, which can change between conversions).
    landmarks_out: String,
    presence_out: String,
    anchors: Vec<[f32; 2]>,
}

fn elements(outlet: &ort::value::Outlet) -> Option<i64> {
    outlet.dtype().tensor_shape().map(|s| s.iter().product())
}

impl FaceModels {
    pub fn load(onnxruntime_lib: &Path, models_dir: &Path) -> Result<Self, FaceError> {
        let env = environment(onnxruntime_lib)?;
        let detector = load(env, &models_dir.join(DETECTOR_FILE))?;
        let landmarker = load(env, &models_dir.join(LANDMARK_FILE))?;
        let path = models_dir.join(LANDMARK_FILE).display().to_string();
        let (landmarks_out, presence_out) = {
            let session = landmarker
                .session
                .lock()
                .map_err(|_| FaceError::Inference("poisoned".into()))?;
            let by_size = |n: i64| {
                session
                    .outputs()
                    .iter()
                    .find(|o| elements(o) == Some(n))
                    .map(|o| o.name().to_string())
            };
            match (by_size(LANDMARK_VALUES as i64), by_size(1)) {
                (Some(l), Some(p)) => (l, p),
                _ => {
                    return Err(FaceError::Model {
                        path,
                        message: "outputs are not [1404] landmarks and [1] score".into(),
                    })
                }
            }
        };
        Ok(Self {
            detector,
            landmarker,
            landmarks_out,
            presence_out,
            anchors: detect::anchors(),
        })
    }

    /// Default file locations under a models dir.
    pub fn paths(models_dir: &Path) -> [PathBuf; 2] {
        [
            models_dir.join(DETECTOR_FILE),
            models_dir.join(LANDMARK_FILE),
        ]
    }

    /// Every face in the photo, largest first.
    pub fn faces(&self, photo: &RgbImage) -> Result<Vec<Face>, FaceError> {
        let (detections, letterbox) = self.detections(photo)?;
        let mut faces = Vec::new();
        for d in detections {
            if let Some(face) = self.landmarks_for(photo, &d, &letterbox)? {
                faces.push(face);
            }
        }
        faces.sort_by(|a, b| (b.bbox[2] * b.bbox[3]).total_cmp(&(a.bbox[2] * a.bbox[3])));
        Ok(faces)
    }

    /// Raw detections for a photo (letterbox included), for tests and tools.
    pub fn detections(&self, photo: &RgbImage) -> Result<(Vec<Detection>, Letterbox), FaceError> {
        let (input, letterbox) = detector_input(photo);
        let (regressors, scores) = self.run_detector(&input)?;
        Ok((
            detect::decode(&regressors, &scores, &self.anchors),
            letterbox,
        ))
    }

    fn landmarks_for(
        &self,
        photo: &RgbImage,
        d: &Detection,
        lb: &Letterbox,
    ) -> Result<Option<Face>, FaceError> {
        let roi = roi_for(d, lb);
        let [x0, y0] = lb.to_photo([d.xmin, d.ymin]);
        let [x1, y1] = lb.to_photo([d.xmax, d.ymax]);
        let input = landmark_input(photo, &roi);
        let (raw, presence) = self.run_landmarks(&input)?;
        if presence < MIN_FACE_PRESENCE {
            return Ok(None);
        }
        let m = roi.crop_to_photo(LANDMARK_INPUT as f32);
        let z_scale = roi.size / LANDMARK_INPUT as f32;
        let landmarks = raw
            .chunks_exact(3)
            .map(|p| {
                let [x, y] = apply(&m, [p[0], p[1]]);
                [x, y, p[2] * z_scale]
            })
            .collect();
        Ok(Some(Face {
            bbox: [x0, y0, x1 - x0, y1 - y0],
            score: d.score,
            landmarks,
        }))
    }

    /// Raw detector outputs (`regressors` [896×16], `classificators` [896])
    /// for an NCHW input from [`detector_input`].
    pub fn run_detector(&self, input: &[f32]) -> Result<(Vec<f32>, Vec<f32>), FaceError> {
        let side = detect::INPUT;
        let out = run(
            &self.detector,
            input,
            side,
            &["regressors", "classificators"],
        )?;
        let mut it = out.into_iter();
        match (it.next(), it.next()) {
            (Some(r), Some(c)) => Ok((r, c)),
            _ => Err(FaceError::Inference("detector outputs missing".into())),
        }
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

fn run(
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

/// Photo → the detector's 128×128 NCHW input in [−1, 1], letterboxed.
pub fn detector_input(photo: &RgbImage) -> (Vec<f32>, Letterbox) {
    let side = detect::INPUT;
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
