//! Preset expressions → LivePortrait keypoint offsets.
//!
//! The coefficients per unit of each slider are LivePortrait's own MIT
//! parametric editor (`src/gradio_pipeline.py`, see
//! `liveportrait-notes.md` §4.2–4.3): they are added to the 21×3
//! expression tensor, and head rotations to the source's pose. A preset's
//! 0..1 value is scaled to a slider value with the `*_FULL` constants,
//! chosen inside the editor's ranges so that 1.0 reads as a clear, not a
//! grotesque, expression (a wink of 20 closes kp11 by 0.02, more than the
//! shipped wink template's 0.013, which only half-closes the eye).

use super::kp::{rotation, times, Kp, Motion, ZERO_KP};
use crate::motion::Expression;

/// Slider value at a preset value of 1.0.
pub const SMILE_FULL: f32 = 1.0;
pub const WINK_FULL: f32 = 20.0;
pub const BROW_FULL: f32 = 12.0;
pub const LIP_OPEN_FULL: f32 = 60.0;
/// `laugh` is a broad smile with the lips parted.
pub const LAUGH_SMILE: f32 = 0.3;
pub const LAUGH_LIP_OPEN: f32 = 20.0;
/// `breath` scales the face by up to 1 %.
pub const BREATH_SCALE: f32 = 0.01;

/// Our head angles are named for the viewer: positive pitch lifts the
/// chin, positive yaw turns to the subject's left, positive roll turns the
/// head clockwise on screen. LivePortrait's pitch and yaw point the other
/// way; its roll is ours: its rotation is `Rz·Ry·Rx` in image axes with y
/// pointing down (`src/utils/camera.py`), so a positive roll turns the
/// picture clockwise. Read against upstream's code; the contract models
/// used here cannot show a head turning.
pub const PITCH_SIGN: f32 = -1.0;
pub const YAW_SIGN: f32 = -1.0;
pub const ROLL_SIGN: f32 = 1.0;

/// Offsets for one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    pub exp: Kp,
    /// Degrees in LivePortrait's convention.
    pub pitch: f32,
    pub yaw: f32,
    pub roll: f32,
    /// Multiplies the source scale.
    pub scale: f32,
}

fn add(exp: &mut Kp, kp: usize, axis: usize, v: f32) {
    exp[kp][axis] += v;
}

const X: usize = 0;
const Y: usize = 1;
const Z: usize = 2;

/// The editor's `smile` slider.
fn smile(e: &mut Kp, v: f32) {
    add(e, 20, Y, -0.01 * v);
    add(e, 14, Y, -0.02 * v);
    add(e, 17, Y, 0.0065 * v);
    add(e, 17, Z, 0.003 * v);
    add(e, 13, Y, -0.00275 * v);
    add(e, 16, Y, -0.00275 * v);
    add(e, 3, Y, -0.0035 * v);
    add(e, 7, Y, -0.0035 * v);
}

/// The lids of one eye: keypoints 11 and 13 (the subject's right eye),
/// or 15 and 16 (the left, `mirrored`). The editor's blink moves these
/// alone, on both eyes (`src/gradio_pipeline.py`).
fn lids(e: &mut Kp, v: f32, mirrored: bool) {
    let (lid, under) = if mirrored { (15, 16) } else { (11, 13) };
    add(e, lid, Y, 0.001 * v);
    add(e, under, Y, -0.0003 * v);
}

/// What the editor's `wink` slider adds to the lids of keypoints 11 and
/// 13: the mouth pulled up to that side and the cheek raised. The other
/// eye's wink is the mirror image: x offsets negated, 3 swapped for 7 (its
/// smile moves 3 and 7 alike). [derived]
fn wink_pull(e: &mut Kp, v: f32, mirrored: bool) {
    let (cheek, side) = if mirrored { (7, -1.0) } else { (3, 1.0) };
    add(e, 17, X, side * 0.0003 * v);
    add(e, 17, Y, 0.0003 * v);
    add(e, cheek, Y, -0.0003 * v);
}

/// The editor's `eyebrow` slider (raise only).
fn brow(e: &mut Kp, v: f32) {
    add(e, 1, Y, 0.001 * v);
    add(e, 2, Y, -0.001 * v);
}

/// The editor's "lip close <-> open" slider.
fn lip_open(e: &mut Kp, v: f32) {
    add(e, 19, Y, 0.001 * v);
    add(e, 19, Z, 0.0001 * v);
    add(e, 17, Y, -0.0001 * v);
}

/// Which of LivePortrait's eyes (keypoint 11's or 15's) is the subject's
/// left: 15's (kp11 and kp13 are the right eye, as the decoded real-weight
/// wink templates show).
pub const LEFT_EYE_IS_KP11: bool = false;

pub fn delta(x: &Expression) -> Delta {
    let mut exp = ZERO_KP;
    smile(&mut exp, (x.smile + LAUGH_SMILE * x.laugh) * SMILE_FULL);
    lip_open(
        &mut exp,
        x.mouth_open * LIP_OPEN_FULL + x.laugh * LAUGH_LIP_OPEN,
    );
    // A blink closes both lids and nothing else; a wink closes one and
    // pulls the mouth and cheek. Lids do not close past closed.
    for (wink, mirrored) in [
        (x.wink_left, !LEFT_EYE_IS_KP11),
        (x.wink_right, LEFT_EYE_IS_KP11),
    ] {
        lids(&mut exp, wink.max(x.blink).min(1.0) * WINK_FULL, mirrored);
        wink_pull(&mut exp, wink.min(1.0) * WINK_FULL, mirrored);
    }
    brow(&mut exp, x.brow_raise * BROW_FULL);
    Delta {
        exp,
        pitch: PITCH_SIGN * x.head_pitch,
        yaw: YAW_SIGN * x.head_yaw,
        roll: ROLL_SIGN * x.head_roll,
        scale: 1.0 + BREATH_SCALE * x.breath,
    }
}

/// The driving keypoints for `delta` on the source face: its pose turned
/// by the delta's angles, its expression plus the delta's, LivePortrait's
/// editor composition (`x_d = s·(kp @ R + exp) + t`, z translation
/// dropped). A zero delta gives the source's own keypoints.
pub fn drive(source: &Motion, delta: &Delta) -> Kp {
    let r = rotation(
        source.pitch + delta.pitch,
        source.yaw + delta.yaw,
        source.roll + delta.roll,
    );
    let mut x = times(&source.kp, &r);
    let s = source.scale * delta.scale;
    for ((p, e), d) in x.iter_mut().zip(&source.exp).zip(&delta.exp) {
        for a in 0..3 {
            p[a] = s * (p[a] + e[a] + d[a]);
        }
        p[0] += source.t[0];
        p[1] += source.t[1];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutral_is_no_offset() {
        let d = delta(&Expression::default());
        assert_eq!(d.exp, ZERO_KP);
        assert_eq!((d.pitch, d.yaw, d.roll, d.scale), (0.0, 0.0, 0.0, 1.0));
    }

    #[test]
    fn smile_uses_the_editor_coefficients() {
        let d = delta(&Expression {
            smile: 1.0,
            ..Default::default()
        });
        assert_eq!(d.exp[14][1], -0.02);
        assert_eq!(d.exp[17][2], 0.003);
        assert_eq!(d.exp[3][1], d.exp[7][1]);
    }

    #[test]
    fn winks_close_one_eye_each_and_blink_closes_both() {
        let left = delta(&Expression {
            wink_left: 1.0,
            ..Default::default()
        });
        let right = delta(&Expression {
            wink_right: 1.0,
            ..Default::default()
        });
        let lids = |d: &Delta| {
            let r = |v: f32| (v * 1e5).round() / 1e5;
            (r(d.exp[11][1]), r(d.exp[15][1]))
        };
        assert_eq!(lids(&right), (0.02, 0.0));
        assert_eq!(lids(&left), (0.0, 0.02));
        // Mirror images: the mouth's sideways pull is opposite.
        assert_eq!(left.exp[17][0], -right.exp[17][0]);
        let both = delta(&Expression {
            blink: 1.0,
            wink_left: 1.0,
            ..Default::default()
        });
        assert_eq!(lids(&both), (0.02, 0.02));
    }

    #[test]
    fn a_blink_moves_the_lids_alone() {
        let blink = delta(&Expression {
            blink: 1.0,
            ..Default::default()
        });
        for (kp, row) in blink.exp.iter().enumerate() {
            let lid = [11, 13, 15, 16].contains(&kp);
            assert_eq!(row[1] != 0.0, lid, "kp{kp}: {row:?}");
            assert_eq!((row[0], row[2]), (0.0, 0.0), "kp{kp}");
        }
        // A wink on top of a blink adds its pull, not a second lid.
        let both = delta(&Expression {
            blink: 1.0,
            wink_right: 1.0,
            ..Default::default()
        });
        assert_eq!(both.exp[11][1], blink.exp[11][1]);
        assert!(both.exp[17][1] > 0.0 && both.exp[3][1] < 0.0);
    }

    /// A positive roll turns the face clockwise on screen (y points down):
    /// a keypoint right of the centre moves down, one above it moves right.
    #[test]
    fn a_positive_roll_turns_the_face_clockwise_on_screen() {
        let mut source = Motion {
            pitch: 0.0,
            yaw: 0.0,
            roll: 0.0,
            t: [0.0; 3],
            exp: ZERO_KP,
            scale: 1.0,
            kp: ZERO_KP,
        };
        source.kp[0] = [0.1, 0.0, 0.0];
        source.kp[1] = [0.0, -0.1, 0.0];
        let driven = drive(
            &source,
            &delta(&Expression {
                head_roll: 10.0,
                ..Default::default()
            }),
        );
        assert!(
            driven[0][1] > 0.01,
            "right of centre moves down: {:?}",
            driven[0]
        );
        assert!(
            driven[1][0] > 0.01,
            "above centre moves right: {:?}",
            driven[1]
        );
    }

    #[test]
    fn zero_delta_drives_to_the_source_keypoints() {
        let mut source = Motion {
            pitch: -5.0,
            yaw: 12.0,
            roll: 1.0,
            t: [0.02, 0.01, 0.5],
            exp: ZERO_KP,
            scale: 1.3,
            kp: ZERO_KP,
        };
        for (i, p) in source.kp.iter_mut().enumerate() {
            *p = [0.02 * i as f32 - 0.2, 0.3 - 0.03 * i as f32, 0.01];
            source.exp[i] = [0.001 * i as f32, -0.002, 0.0];
        }
        let own = source.keypoints();
        let driven = drive(&source, &delta(&Expression::default()));
        for (a, b) in own.iter().flatten().zip(driven.iter().flatten()) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}
