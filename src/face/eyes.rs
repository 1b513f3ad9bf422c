//! The eyes up close: MediaPipe's iris landmark model (Apache-2.0, the
//! same wheel as the face models) finds 71 eye-contour and 5 iris points
//! in a 64 × 64 crop around one eye. Face Mesh alone does not follow the
//! lids (a shut eye still reads about 90 % open), so how far a rendered
//! eye has narrowed or closed is read here.

use std::path::Path;

use image::RgbImage;

use super::models::{load, run, Net};
use super::roi::{apply, Roi};
use super::{mesh, Face, FaceError};
use crate::geometry::{warp_affine, Affine};

pub const EYE_FILE: &str = "iris_landmark.onnx";
/// Input side of the eye model.
pub const EYE_INPUT: usize = 64;
const CONTOUR_POINTS: usize = 71;
const IRIS_POINTS: usize = 5;
/// The crop around an eye: its corner-to-corner width times this
/// (MediaPipe's iris ROI).
const EYE_ROI_SCALE: f32 = 2.3;
/// Contour indices: 0 and 8 are the corners, 1..=7 the lower lid and
/// 9..=15 the upper lid, both from the outer corner in; the three middle
/// pairs face each other across the eye.
const CORNERS: (usize, usize) = (0, 8);
const LID_PAIRS: [(usize, usize); 3] = [(11, 3), (12, 4), (13, 5)];

/// One eye as the model sees it, in photo pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Eye {
    pub contour: Vec<[f32; 2]>,
    /// Centre, then the iris' edge points.
    pub iris: [[f32; 2]; IRIS_POINTS],
}

impl Eye {
    /// The lid gap across the eye line (in pixels), over the three middle
    /// pairs of upper and lower lid points.
    pub fn opening(&self) -> f32 {
        let (a, b) = (self.contour[CORNERS.0], self.contour[CORNERS.1]);
        let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2))
            .sqrt()
            .max(1e-3);
        let across = [-(b[1] - a[1]) / len, (b[0] - a[0]) / len];
        LID_PAIRS
            .iter()
            .map(|&(u, l)| {
                let (p, q) = (self.contour[u], self.contour[l]);
                ((q[0] - p[0]) * across[0] + (q[1] - p[1]) * across[1]).abs()
            })
            .sum::<f32>()
            / LID_PAIRS.len() as f32
    }

    /// A level eye drawn by hand: `width` corner to corner about `centre`,
    /// its lids `gap` apart.
    #[cfg(test)]
    pub(crate) fn drawn(centre: [f32; 2], width: f32, gap: f32) -> Eye {
        let [cx, cy] = centre;
        let contour = (0..CONTOUR_POINTS)
            .map(|i| match i {
                0 => [cx - width / 2.0, cy],
                8 => [cx + width / 2.0, cy],
                1..=7 => [cx - width / 2.0 + width * i as f32 / 8.0, cy + gap / 2.0],
                9..=15 => [
                    cx - width / 2.0 + width * (i - 8) as f32 / 8.0,
                    cy - gap / 2.0,
                ],
                _ => [cx, cy],
            })
            .collect();
        Eye {
            contour,
            iris: [centre; IRIS_POINTS],
        }
    }
}

/// The iris landmark network, with its outputs found by their shapes.
pub struct EyeModel {
    net: Net,
    contour_out: String,
    iris_out: String,
}

impl EyeModel {
    /// Loaded with the other face models ([`super::FaceModels::load`]).
    pub(super) fn load(
        env: &'static ort::environment::Environment,
        models_dir: &Path,
    ) -> Result<Self, FaceError> {
        let path = models_dir.join(EYE_FILE);
        let net = load(env, &path)?;
        let [contour_out, iris_out] = net.outputs_sized(
            &path,
            [(CONTOUR_POINTS * 3) as i64, (IRIS_POINTS * 3) as i64],
            "[213] eye contour and [15] iris values",
        )?;
        Ok(Self {
            net,
            contour_out,
            iris_out,
        })
    }

    /// Both eyes of `face` (found on `photo` or tracked on a frame of it),
    /// the subject's right first.
    pub fn eyes(&self, photo: &RgbImage, face: &Face) -> Result<[Eye; 2], FaceError> {
        let right = self.eye(photo, &eye_crop(face, false))?;
        let left = self.eye(photo, &eye_crop(face, true))?;
        Ok([right, left])
    }

    /// `face` with its lids where the eye model sees them (MediaPipe's
    /// "refined" landmarks): Face Mesh puts the lids inside the opening
    /// and would leave a strip of eye showing in a blink. The lids keep
    /// the model's shape and gap, laid between the mesh's corners (which
    /// set the eye distance); an eye the model sees much wider, narrower
    /// or elsewhere than the mesh's keeps the mesh's lids.
    pub fn refine(&self, photo: &RgbImage, face: &Face) -> Result<Face, FaceError> {
        let mut refined = face.clone();
        for (left, contour) in [
            (false, mesh::RIGHT_EYE_CONTOUR),
            (true, mesh::LEFT_EYE_CONTOUR),
        ] {
            let eye = self.eye(photo, &eye_crop(face, left))?;
            let corners = (face.point(contour[0]), face.point(contour[8]));
            if let Some(lids) = lids_between(&eye, corners) {
                for (k, [x, y]) in lids {
                    let p = &mut refined.landmarks[contour[k]];
                    (p[0], p[1]) = (x, y);
                }
            }
        }
        Ok(refined)
    }

    fn eye(&self, photo: &RgbImage, crop: &Affine) -> Result<Eye, FaceError> {
        let (contour, iris) = self.run_eye(&eye_input(photo, crop))?;
        let to_photo = |v: &[f32]| -> Vec<[f32; 2]> {
            v.chunks_exact(3)
                .map(|p| apply(crop, [p[0], p[1]]))
                .collect()
        };
        let iris = to_photo(&iris);
        Ok(Eye {
            contour: to_photo(&contour),
            iris: std::array::from_fn(|i| iris[i]),
        })
    }

    /// Raw outputs (contour [71×3], iris [5×3], input pixels) for an NCHW
    /// input from [`eye_input`].
    pub fn run_eye(&self, input: &[f32]) -> Result<(Vec<f32>, Vec<f32>), FaceError> {
        let names = [self.contour_out.as_str(), self.iris_out.as_str()];
        let out = run(&self.net, input, EYE_INPUT, &names)?;
        let mut it = out.into_iter();
        match (it.next(), it.next()) {
            (Some(c), Some(i)) if c.len() == CONTOUR_POINTS * 3 && i.len() == IRIS_POINTS * 3 => {
                Ok((c, i))
            }
            _ => Err(FaceError::Inference("eye outputs missing".into())),
        }
    }
}

/// The model's eye is the mesh's when its width is within these shares
/// of the mesh's (0.67 on the Riga portrait, whose mesh corners run into
/// the crow's feet)…
const EYE_WIDTH_RATIO: (f32, f32) = (0.5, 1.5);
/// …its middle within this share of the mesh eye's width of the mesh
/// eye's middle…
const MAX_EYE_OFFSET: f32 = 0.3;
/// …and its lid points between its corners, give or take this share.
const LID_OVERHANG: f32 = 0.1;

/// The eye's lid points (contour indices 1..=7, 9..=15) moved onto the
/// mesh's `corners`: each keeps its share of the way from corner to corner
/// and its offset across the eye line, in pixels. None when the model's
/// eye is not the mesh's.
fn lids_between(eye: &Eye, corners: ([f32; 2], [f32; 2])) -> Option<Vec<(usize, [f32; 2])>> {
    let frame = |a: [f32; 2], b: [f32; 2]| {
        let along = [b[0] - a[0], b[1] - a[1]];
        let len = (along[0].powi(2) + along[1].powi(2)).sqrt();
        (a, along, len)
    };
    let (ma, m_along, m_len) = frame(corners.0, corners.1);
    let (ea, e_along, e_len) = frame(eye.contour[CORNERS.0], eye.contour[CORNERS.1]);
    if m_len < 1.0 || e_len < 1.0 {
        return None;
    }
    let ratio = e_len / m_len;
    let mid = |a: [f32; 2], d: [f32; 2]| [a[0] + d[0] / 2.0, a[1] + d[1] / 2.0];
    let (mm, em) = (mid(ma, m_along), mid(ea, e_along));
    let offset = ((mm[0] - em[0]).powi(2) + (mm[1] - em[1]).powi(2)).sqrt() / m_len;
    if !(EYE_WIDTH_RATIO.0..=EYE_WIDTH_RATIO.1).contains(&ratio) || offset > MAX_EYE_OFFSET {
        return None;
    }
    let unit = |d: [f32; 2], len: f32| [d[0] / len, d[1] / len];
    let (eu, mu) = (unit(e_along, e_len), unit(m_along, m_len));
    let mut lids = Vec::with_capacity(14);
    for k in (1..8).chain(9..16) {
        let p = eye.contour[k];
        let d = [p[0] - ea[0], p[1] - ea[1]];
        let t = (d[0] * eu[0] + d[1] * eu[1]) / e_len;
        let across = -d[0] * eu[1] + d[1] * eu[0];
        if !(-LID_OVERHANG..=1.0 + LID_OVERHANG).contains(&t) {
            return None;
        }
        let t = t.clamp(0.0, 1.0);
        lids.push((
            k,
            [
                ma[0] + t * m_along[0] - across * mu[1],
                ma[1] + t * m_along[1] + across * mu[0],
            ],
        ));
    }
    Some(lids)
}

/// Crop pixel → photo pixel for one eye: a square of 2.3 eye widths on
/// its corners, turned with them. The model knows the subject's right eye
/// (left on screen), so the left eye's crop is mirrored.
pub fn eye_crop(face: &Face, left: bool) -> Affine {
    let (start, end) = if left {
        (mesh::LEFT_EYE_INNER, mesh::LEFT_EYE_OUTER)
    } else {
        (mesh::RIGHT_EYE_OUTER, mesh::RIGHT_EYE_INNER)
    };
    let (a, b) = (face.point(start), face.point(end));
    let width = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
    let roi = Roi {
        cx: (a[0] + b[0]) / 2.0,
        cy: (a[1] + b[1]) / 2.0,
        size: (width * EYE_ROI_SCALE).max(1.0),
        rotation: (b[1] - a[1]).atan2(b[0] - a[0]),
    };
    let m = roi.crop_to_photo(EYE_INPUT as f32);
    if left {
        // (u, v) → (side − u, v) first.
        let side = EYE_INPUT as f32;
        [
            -m[0],
            m[1],
            m[2] + side * m[0],
            -m[3],
            m[4],
            m[5] + side * m[3],
        ]
    } else {
        m
    }
}

/// Photo + eye crop → the eye model's 64 × 64 NCHW input in [0, 1].
pub fn eye_input(photo: &RgbImage, crop: &Affine) -> Vec<f32> {
    let side = EYE_INPUT;
    let mut small = RgbImage::new(side as u32, side as u32);
    warp_affine(photo, &mut small, *crop);
    let mut out = vec![0.0f32; 3 * side * side];
    for (i, px) in small.pixels().enumerate() {
        for c in 0..3 {
            out[c * side * side + i] = f32::from(px[c]) / 255.0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face_with_eyes(right: ([f32; 2], [f32; 2]), left: ([f32; 2], [f32; 2])) -> Face {
        let mut landmarks = vec![[0.0, 0.0, 0.0]; mesh::COUNT];
        landmarks[mesh::RIGHT_EYE_OUTER] = [right.0[0], right.0[1], 0.0];
        landmarks[mesh::RIGHT_EYE_INNER] = [right.1[0], right.1[1], 0.0];
        landmarks[mesh::LEFT_EYE_INNER] = [left.0[0], left.0[1], 0.0];
        landmarks[mesh::LEFT_EYE_OUTER] = [left.1[0], left.1[1], 0.0];
        Face {
            bbox: [0.0, 0.0, 300.0, 300.0],
            score: 1.0,
            landmarks,
        }
    }

    #[test]
    fn the_right_eye_crop_is_upright_and_the_left_one_mirrored() {
        let f = face_with_eyes(
            ([80.0, 100.0], [120.0, 100.0]),
            ([180.0, 100.0], [220.0, 100.0]),
        );
        let r = eye_crop(&f, false);
        let c = apply(&r, [32.0, 32.0]);
        assert!((c[0] - 100.0).abs() < 1e-3 && (c[1] - 100.0).abs() < 1e-3);
        // 2.3 × 40 px over 64 crop pixels; the crop's left is the outer corner.
        let edge = apply(&r, [0.0, 32.0]);
        assert!((edge[0] - (100.0 - 46.0)).abs() < 1e-3, "{edge:?}");
        let l = eye_crop(&f, true);
        let c = apply(&l, [32.0, 32.0]);
        assert!((c[0] - 200.0).abs() < 1e-3 && (c[1] - 100.0).abs() < 1e-3);
        // Mirrored: the crop's left is the left eye's outer corner too.
        let edge = apply(&l, [0.0, 32.0]);
        assert!((edge[0] - (200.0 + 46.0)).abs() < 1e-3, "{edge:?}");
        let below = apply(&l, [32.0, 64.0]);
        assert!(below[1] > 100.0, "down stays down: {below:?}");
    }

    #[test]
    fn refined_lids_keep_their_shape_between_the_meshs_corners() {
        // The model sees the eye 20 px wide about (100, 100), lids 6 px
        // apart; the mesh has it 30 px wide about (102, 100).
        let eye = Eye::drawn([100.0, 100.0], 20.0, 6.0);
        let lids = lids_between(&eye, ([87.0, 100.0], [117.0, 100.0])).expect("the same eye");
        let at = |k: usize| {
            lids.iter()
                .find(|(i, _)| *i == k)
                .map(|(_, p)| *p)
                .expect("point")
        };
        // Point 4 is halfway along the lower lid: halfway between the
        // mesh's corners, 3 px below the line; point 12 is above it.
        assert!(
            (at(4)[0] - 102.0).abs() < 1e-3 && (at(4)[1] - 103.0).abs() < 1e-3,
            "{:?}",
            at(4)
        );
        assert!((at(12)[1] - 97.0).abs() < 1e-3, "{:?}", at(12));
        // An eye half the mesh's width, or beside it, is another eye.
        assert!(lids_between(&eye, ([60.0, 100.0], [140.0, 100.0])).is_none());
        assert!(lids_between(&eye, ([105.0, 100.0], [135.0, 100.0])).is_none());
    }

    #[test]
    fn an_eye_opening_is_its_lid_gap_across_the_eye_line() {
        // An eye tilted 90°: corners one above the other, lids 6 px apart
        // across that line.
        let mut contour = vec![[0.0, 0.0]; CONTOUR_POINTS];
        contour[CORNERS.0] = [100.0, 80.0];
        contour[CORNERS.1] = [100.0, 120.0];
        for (u, l) in LID_PAIRS {
            contour[u] = [97.0, 100.0 + u as f32];
            contour[l] = [103.0, 100.0 - l as f32];
        }
        let eye = Eye {
            contour,
            iris: [[100.0, 100.0]; IRIS_POINTS],
        };
        assert!((eye.opening() - 6.0).abs() < 1e-4, "{}", eye.opening());
    }
}
