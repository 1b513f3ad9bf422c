//! Where the models look: the detector's letterbox and the landmark
//! model's rotated square crop, with the maps back to photo pixels.

use crate::geometry::Affine;

/// Letterbox that fits a `w` × `h` photo into a square of `side` pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub scale: f32,
    pub pad_x: f32,
    pub pad_y: f32,
    pub side: f32,
}

impl Letterbox {
    pub fn new(w: u32, h: u32, side: usize) -> Self {
        let side = side as f32;
        let scale = side / w.max(h) as f32;
        Self {
            scale,
            pad_x: (side - w as f32 * scale) / 2.0,
            pad_y: (side - h as f32 * scale) / 2.0,
            side,
        }
    }

    /// Normalised input coordinates → photo pixels.
    pub fn to_photo(&self, p: [f32; 2]) -> [f32; 2] {
        [
            (p[0] * self.side - self.pad_x) / self.scale,
            (p[1] * self.side - self.pad_y) / self.scale,
        ]
    }
}

/// A rotated square in photo pixels: centre, side, rotation (radians,
/// clockwise on screen).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roi {
    pub cx: f32,
    pub cy: f32,
    pub size: f32,
    pub rotation: f32,
}

/// Scale of the face box that the landmark model sees (MediaPipe's 1.5).
pub const LANDMARK_ROI_SCALE: f32 = 1.5;

impl Roi {
    /// From a face box (photo pixels) and the two eye keypoints: square on
    /// the box's long side, scaled, turned so the eye line is level.
    pub fn from_box(
        xmin: f32,
        ymin: f32,
        xmax: f32,
        ymax: f32,
        right_eye: [f32; 2],
        left_eye: [f32; 2],
    ) -> Self {
        let size = (xmax - xmin).max(ymax - ymin) * LANDMARK_ROI_SCALE;
        let angle = -(right_eye[1] - left_eye[1]).atan2(left_eye[0] - right_eye[0]);
        Self {
            cx: (xmin + xmax) / 2.0,
            cy: (ymin + ymax) / 2.0,
            size,
            rotation: normalise(angle),
        }
    }

    /// Output pixel (u, v) of a `side`-pixel crop → photo position.
    pub fn crop_to_photo(&self, side: f32) -> Affine {
        let (s, c) = self.rotation.sin_cos();
        let k = self.size / side;
        // p = centre + R·((u, v) − side/2)·k
        let (a, b, d, e) = (c * k, -s * k, s * k, c * k);
        let half = side / 2.0;
        [
            a,
            b,
            self.cx - a * half - b * half,
            d,
            e,
            self.cy - d * half - e * half,
        ]
    }
}

/// Angle into [−π, π).
pub fn normalise(angle: f32) -> f32 {
    use std::f32::consts::PI;
    angle - 2.0 * PI * ((angle + PI) / (2.0 * PI)).floor()
}

pub fn apply(m: &Affine, p: [f32; 2]) -> [f32; 2] {
    [
        m[0] * p[0] + m[1] * p[1] + m[2],
        m[3] * p[0] + m[4] * p[1] + m[5],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_round_trip() {
        let lb = Letterbox::new(2048, 1360, 128);
        assert_eq!(lb.pad_x, 0.0);
        assert!((lb.pad_y - (128.0 - 1360.0 * 0.0625) / 2.0).abs() < 1e-4);
        let [x, y] = lb.to_photo([0.5, 0.5]);
        assert!((x - 1024.0).abs() < 1e-3 && (y - 680.0).abs() < 1e-3);
        let [_, y] = lb.to_photo([0.0, lb.pad_y / 128.0]);
        assert!(y.abs() < 1e-3, "top of the picture, not of the padding");
    }

    #[test]
    fn level_eyes_give_an_upright_crop() {
        let roi = Roi::from_box(100.0, 100.0, 300.0, 340.0, [150.0, 180.0], [250.0, 180.0]);
        assert_eq!(roi.rotation, 0.0);
        assert_eq!(roi.size, 360.0);
        let m = roi.crop_to_photo(192.0);
        let c = apply(&m, [96.0, 96.0]);
        assert!((c[0] - 200.0).abs() < 1e-3 && (c[1] - 220.0).abs() < 1e-3);
        let tl = apply(&m, [0.0, 0.0]);
        assert!((tl[0] - 20.0).abs() < 1e-3 && (tl[1] - 40.0).abs() < 1e-3);
    }

    #[test]
    fn tilted_eyes_turn_the_crop_with_them() {
        // The subject's left eye (right on screen) lower: head tilted clockwise.
        let roi = Roi::from_box(0.0, 0.0, 200.0, 200.0, [50.0, 90.0], [150.0, 110.0]);
        let expect = (20.0f32 / 100.0).atan();
        assert!((roi.rotation - expect).abs() < 1e-5);
        let m = roi.crop_to_photo(192.0);
        // Moving right in the crop follows the eye line in the photo.
        let (p0, p1) = (apply(&m, [96.0, 96.0]), apply(&m, [192.0, 96.0]));
        let slope = (p1[1] - p0[1]) / (p1[0] - p0[0]);
        assert!((slope - 0.2).abs() < 1e-4, "{slope}");
    }

    #[test]
    fn angles_normalise() {
        use std::f32::consts::PI;
        assert!((normalise(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-5);
        assert!((normalise(-PI) + PI).abs() < 1e-5);
        assert_eq!(normalise(0.25), 0.25);
    }
}
