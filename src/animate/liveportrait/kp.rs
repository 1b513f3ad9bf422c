//! LivePortrait's keypoint math: head pose from bins, its rotation
//! convention, the keypoint transform, relative motion from a driving
//! template, and how the stitching network's output is applied.
//! Formulas and sources: `liveportrait-notes.md` §1.2 and §3.2.

use crate::motion::DrivingFrame;

/// Implicit keypoints per face.
pub const NUM_KP: usize = 21;
/// Head-pose bins the motion extractor scores per axis.
pub const POSE_BINS: usize = 66;
/// Stitching output: 63 keypoint deltas, then tx, ty.
pub const STITCH_OUT: usize = NUM_KP * 3 + 2;

pub type Kp = [[f32; 3]; NUM_KP];
pub type Mat3 = [[f32; 3]; 3];

pub const ZERO_KP: Kp = [[0.0; 3]; NUM_KP];

/// Degrees from one axis's 66 bin logits: the softmax-weighted bin index
/// × 3 − 97.5 (bins are 3° wide, centred on −97.5° … 97.5°).
pub fn degrees_from_bins(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut total, mut weighted) = (0.0f64, 0.0f64);
    for (i, &l) in logits.iter().enumerate() {
        let e = f64::from(l - max).exp();
        total += e;
        weighted += e * i as f64;
    }
    if total == 0.0 || !total.is_finite() {
        return 0.0;
    }
    (weighted / total * 3.0 - 97.5) as f32
}

pub fn matmul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

pub fn transpose(a: &Mat3) -> Mat3 {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = a[j][i];
        }
    }
    m
}

/// LivePortrait's rotation for pitch (about x), yaw (y) and roll (z) in
/// degrees: `(Rz·Ry·Rx)ᵀ`. It is transposed because keypoints are row
/// vectors multiplied as `kp @ R`.
pub fn rotation(pitch: f32, yaw: f32, roll: f32) -> Mat3 {
    let (sx, cx) = pitch.to_radians().sin_cos();
    let (sy, cy) = yaw.to_radians().sin_cos();
    let (sz, cz) = roll.to_radians().sin_cos();
    let rx = [[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]];
    let ry = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
    let rz = [[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]];
    transpose(&matmul(&rz, &matmul(&ry, &rx)))
}

/// Row vectors times `r`.
pub fn times(kp: &Kp, r: &Mat3) -> Kp {
    let mut out = ZERO_KP;
    for (o, p) in out.iter_mut().zip(kp) {
        for (j, v) in o.iter_mut().enumerate() {
            *v = p[0] * r[0][j] + p[1] * r[1][j] + p[2] * r[2][j];
        }
    }
    out
}

/// What the motion extractor says about one face.
#[derive(Debug, Clone, PartialEq)]
pub struct Motion {
    /// Degrees.
    pub pitch: f32,
    pub yaw: f32,
    pub roll: f32,
    pub t: [f32; 3],
    pub exp: Kp,
    pub scale: f32,
    /// Canonical keypoints.
    pub kp: Kp,
}

impl Motion {
    pub fn rotation(&self) -> Mat3 {
        rotation(self.pitch, self.yaw, self.roll)
    }

    /// The face's own driving keypoints, `x_s`.
    pub fn keypoints(&self) -> Kp {
        transform(&self.kp, &self.rotation(), &self.exp, self.scale, self.t)
    }
}

/// Eqn. 2 of the paper: `x = scale·(kp @ R + exp)`, then `x.xy += t.xy`
/// (the z translation is not applied).
pub fn transform(kp: &Kp, r: &Mat3, exp: &Kp, scale: f32, t: [f32; 3]) -> Kp {
    let mut x = times(kp, r);
    for (p, e) in x.iter_mut().zip(exp) {
        for a in 0..3 {
            p[a] = scale * (p[a] + e[a]);
        }
        p[0] += t[0];
        p[1] += t[1];
    }
    x
}

/// Relative driving, LivePortrait's default: the source face moves by how
/// far `frame` is from the template's first frame `first`.
pub fn relative(source: &Motion, frame: &DrivingFrame, first: &DrivingFrame) -> Kp {
    let r = matmul(&matmul(&frame.r, &transpose(&first.r)), &source.rotation());
    let mut exp = source.exp;
    for ((e, d), d0) in exp.iter_mut().zip(&frame.exp).zip(&first.exp) {
        for a in 0..3 {
            e[a] += d[a] - d0[a];
        }
    }
    let scale = source.scale * frame.scale / first.scale;
    let t = [
        source.t[0] + frame.t[0] - first.t[0],
        source.t[1] + frame.t[1] - first.t[1],
        0.0,
    ];
    transform(&source.kp, &r, &exp, scale, t)
}

/// Applies the stitching network's output to the driving keypoints: the
/// first 63 values move each keypoint, the last two shift them all in x, y.
pub fn apply_stitching(driving: &mut Kp, delta: &[f32; STITCH_OUT]) {
    for (i, p) in driving.iter_mut().enumerate() {
        p[0] += delta[i * 3] + delta[63];
        p[1] += delta[i * 3 + 1] + delta[64];
        p[2] += delta[i * 3 + 2];
    }
}

/// The last step of every driving frame, in upstream's order
/// (`x_d = stitching(x_s, x_d) + lip_delta`, `live_portrait_pipeline.py`):
/// `stitch` sees the driving keypoints without the lip-closing offset,
/// which is added to its result.
pub fn stitch_then_close_lips<E>(
    driving: &mut [Kp],
    lips: Option<&Kp>,
    stitch: impl FnOnce(&mut [Kp]) -> Result<(), E>,
) -> Result<(), E> {
    stitch(driving)?;
    if let Some(lips) = lips {
        for d in driving.iter_mut() {
            for (p, l) in d.iter_mut().zip(lips) {
                for a in 0..3 {
                    p[a] += l[a];
                }
            }
        }
    }
    Ok(())
}

pub fn flatten(kp: &Kp) -> [f32; NUM_KP * 3] {
    let mut out = [0.0; NUM_KP * 3];
    for (o, v) in out.iter_mut().zip(kp.iter().flatten()) {
        *o = *v;
    }
    out
}

/// 63 values (x, y, z per keypoint) back into keypoints; `None` when the
/// length is wrong.
pub fn unflatten(values: &[f32]) -> Option<Kp> {
    if values.len() != NUM_KP * 3 {
        return None;
    }
    let mut kp = ZERO_KP;
    for (p, v) in kp.iter_mut().zip(values.chunks_exact(3)) {
        p.copy_from_slice(v);
    }
    Some(kp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32, eps: f32) -> bool {
        (a - b).abs() <= eps
    }

    #[test]
    fn one_hot_bins_decode_to_their_centre() {
        let mut logits = [-1000.0f32; POSE_BINS];
        logits[33] = 0.0;
        assert!(close(degrees_from_bins(&logits), 1.5, 1e-4));
        logits[33] = -1000.0;
        logits[0] = 0.0;
        assert!(close(degrees_from_bins(&logits), -97.5, 1e-4));
        // Equal logits: the mean bin, 32.5 → 0°.
        assert!(close(degrees_from_bins(&[0.7; POSE_BINS]), 0.0, 1e-3));
    }

    #[test]
    fn rotation_is_orthonormal_and_transposed() {
        let r = rotation(10.0, -20.0, 5.0);
        let i = matmul(&r, &transpose(&r));
        for (a, row) in i.iter().enumerate() {
            for (b, v) in row.iter().enumerate() {
                assert!(close(*v, if a == b { 1.0 } else { 0.0 }, 1e-6));
            }
        }
        // Pure pitch: Rx's (1,2) entry is −sin, so the transpose has +sin.
        let p = rotation(30.0, 0.0, 0.0);
        assert!(close(p[1][2], 0.5, 1e-6) && close(p[2][1], -0.5, 1e-6));
    }

    #[test]
    fn relative_motion_of_the_first_frame_is_the_source() {
        let mut source = Motion {
            pitch: 3.0,
            yaw: -4.0,
            roll: 2.0,
            t: [0.01, -0.02, 0.3],
            exp: ZERO_KP,
            scale: 1.4,
            kp: ZERO_KP,
        };
        for (i, p) in source.kp.iter_mut().enumerate() {
            *p = [
                i as f32 * 0.03 - 0.3,
                0.1 - i as f32 * 0.01,
                0.02 * i as f32,
            ];
        }
        source.exp[5] = [0.01, 0.02, -0.01];
        let frame = DrivingFrame {
            scale: 1.1,
            r: rotation(8.0, 1.0, -3.0),
            exp: [[0.004; 3]; NUM_KP],
            t: [0.5, 0.6, 0.7],
        };
        let same = relative(&source, &frame, &frame);
        let own = source.keypoints();
        for (a, b) in same.iter().flatten().zip(own.iter().flatten()) {
            assert!(close(*a, *b, 1e-5), "{a} vs {b}");
        }
    }

    #[test]
    fn stitching_moves_each_keypoint_and_shifts_all() {
        let mut kp = ZERO_KP;
        let mut delta = [0.0; STITCH_OUT];
        delta[3] = 0.5; // keypoint 1, x
        delta[63] = 0.25;
        delta[64] = -0.125;
        apply_stitching(&mut kp, &delta);
        assert_eq!(kp[0], [0.25, -0.125, 0.0]);
        assert_eq!(kp[1], [0.75, -0.125, 0.0]);
    }

    #[test]
    fn stitching_sees_the_driving_keypoints_without_the_lip_offset() {
        let mut driving = [ZERO_KP, ZERO_KP];
        driving[1][19] = [0.0, 0.5, 0.0];
        let before = driving;
        let mut lips = ZERO_KP;
        lips[19] = [0.0, -0.01, 0.002];
        let mut seen = Vec::new();
        stitch_then_close_lips(&mut driving, Some(&lips), |d| {
            seen.extend_from_slice(d);
            // A stitching that depends on its input, as the network does.
            for k in d.iter_mut() {
                k[19][1] *= 2.0;
            }
            Ok::<_, ()>(())
        })
        .expect("stitched");
        assert_eq!(seen, before, "stitching's input has no lip offset");
        assert_eq!(driving[1][19], [0.0, 0.99, 0.002]);
        assert_eq!(driving[0][19], [0.0, -0.01, 0.002]);
        let mut unchanged = before;
        stitch_then_close_lips(&mut unchanged, None, |_| Ok::<_, ()>(())).expect("ok");
        assert_eq!(unchanged, before);
    }

    #[test]
    fn flatten_round_trips_and_checks_length() {
        let mut kp = ZERO_KP;
        kp[20] = [1.0, 2.0, 3.0];
        assert_eq!(unflatten(&flatten(&kp)), Some(kp));
        assert_eq!(unflatten(&[0.0; 62]), None);
    }
}
