//! `gentle`: whole-photo motion. The expression curves become a slow
//! push-in (how far the face is from neutral), a slight tilt (head roll)
//! and a small drift (head pitch and yaw), eased by the preset. It works on
//! any photo, face or not, and is the baseline every other backend beats.

use image::RgbImage;

use super::looped::{Looped, Scene};
use super::{output_size, AnimateError, Animation, Animator, Request};
use crate::backend::Backend;
use crate::geometry::{warp_affine, Affine, Scaler};
use crate::motion::{Expression, Preset};

/// Extra zoom at full expression intensity.
const PUSH_IN: f32 = 0.06;
/// Extra zoom at a full breath.
const BREATH_ZOOM: f32 = 0.012;
/// Fraction of the image a 15° pitch or yaw drifts it.
const DRIFT_AT_15_DEG: f32 = 0.025;
/// Photo tilt per degree of head roll: the whole picture turning as much as
/// the head would look seasick.
const TILT_PER_ROLL_DEG: f32 = 0.5;

pub struct Gentle;

impl Animator for Gentle {
    fn backend(&self) -> Backend {
        Backend::Gentle
    }

    fn start(
        &self,
        photo: &RgbImage,
        preset: &Preset,
        request: &Request<'_>,
    ) -> Result<Box<dyn Animation>, AnimateError> {
        super::ensure_supported(self.backend(), preset)?;
        let (width, height) = output_size(photo.width(), photo.height(), request.limits);
        let source = Scaler::default().scale(photo, width, height);
        let scene = GentleScene {
            source,
            preset: preset.clone(),
        };
        Ok(Box::new(Looped::play(scene, (width, height), preset)))
    }
}

struct GentleScene {
    source: RgbImage,
    preset: Preset,
}

impl Scene for GentleScene {
    fn draw(&mut self, index: u32, frame: &mut RgbImage) -> Result<(), AnimateError> {
        let e = self.preset.at_frame(index);
        let m = frame_transform(&e, frame.width() as f32, frame.height() as f32);
        warp_affine(&self.source, frame, m);
        Ok(())
    }
}

/// Output → source map for one frame: zoom about the centre, tilt, drift,
/// with the zoom raised as needed so no corner ever shows past the edge.
pub fn frame_transform(e: &Expression, w: f32, h: f32) -> Affine {
    let theta = (e.head_roll * TILT_PER_ROLL_DEG).to_radians();
    let dx = e.head_yaw / 15.0 * DRIFT_AT_15_DEG * w;
    let dy = -e.head_pitch / 15.0 * DRIFT_AT_15_DEG * h;
    let (sin, cos) = (theta.sin().abs(), theta.cos());
    let (hw, hh) = (w / 2.0, h / 2.0);
    let cover =
        ((hw * cos + hh * sin) / (hw - dx.abs())).max((hw * sin + hh * cos) / (hh - dy.abs()));
    let zoom = (1.0 + PUSH_IN * e.intensity() + BREATH_ZOOM * e.breath).max(cover);
    // src = c + R(θ)·(p − c)/zoom + d
    let (s, c) = theta.sin_cos();
    let (a, b, d, f) = (c / zoom, -s / zoom, s / zoom, c / zoom);
    [
        a,
        b,
        hw + dx - a * hw - b * hh,
        d,
        f,
        hh + dy - d * hw - f * hh,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(m: &Affine, x: f32, y: f32) -> (f32, f32) {
        (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])
    }

    #[test]
    fn neutral_face_is_identity() {
        let m = frame_transform(&Expression::default(), 640.0, 480.0);
        let expect = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        for (got, want) in m.iter().zip(expect) {
            assert!((got - want).abs() < 1e-4, "{m:?}");
        }
    }

    #[test]
    fn corners_stay_inside_the_photo_at_extremes() {
        let (w, h) = (1080.0, 1350.0);
        for roll in [-15.0, -3.0, 0.0, 7.0, 15.0] {
            for (pitch, yaw) in [(15.0, 15.0), (-15.0, -15.0), (0.0, 0.0), (4.0, -9.0)] {
                let e = Expression {
                    head_roll: roll,
                    head_pitch: pitch,
                    head_yaw: yaw,
                    smile: 1.0,
                    ..Default::default()
                };
                let m = frame_transform(&e, w, h);
                for (x, y) in [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)] {
                    let (sx, sy) = apply(&m, x, y);
                    assert!(
                        (-0.01..=w + 0.01).contains(&sx) && (-0.01..=h + 0.01).contains(&sy),
                        "roll {roll} pitch {pitch} yaw {yaw}: corner ({x},{y}) -> ({sx},{sy})"
                    );
                }
            }
        }
    }

    #[test]
    fn smiling_pushes_in_about_the_centre() {
        let e = Expression {
            smile: 1.0,
            ..Default::default()
        };
        let m = frame_transform(&e, 1000.0, 800.0);
        let (cx, cy) = apply(&m, 500.0, 400.0);
        assert!((cx - 500.0).abs() < 1e-3 && (cy - 400.0).abs() < 1e-3);
        assert!(
            (m[0] - 1.0 / (1.0 + PUSH_IN)).abs() < 1e-5,
            "zoomed in by PUSH_IN"
        );
    }
}
