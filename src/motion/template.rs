//! LivePortrait driving templates: recorded head and expression motion,
//! one record per frame, as JSON (converted offline from LivePortrait's
//! pickles; the schema is in `presets/templates/README.md`). A preset that
//! names a template is driven by it instead of by curves; only the
//! LivePortrait backend can play one.

use std::path::Path;

use serde::Deserialize;

pub const MAX_FRAMES: usize = 3000;

/// One recorded frame. `r` is stored as LivePortrait stores it: already
/// transposed, for row-vector keypoints.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DrivingFrame {
    pub scale: f32,
    #[serde(rename = "R")]
    pub r: [[f32; 3]; 3],
    pub exp: [[f32; 3]; 21],
    pub t: [f32; 3],
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Template {
    pub fps: u32,
    pub n_frames: usize,
    pub frames: Vec<DrivingFrame>,
}

impl Template {
    /// Reads and checks a template file; the error says what is wrong.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
        let t: Template =
            serde_json::from_str(&text).map_err(|e| format!("not a template: {e}"))?;
        t.validate()?;
        Ok(t)
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(1..=120).contains(&self.fps) {
            return Err(format!("fps {} is not within 1..120", self.fps));
        }
        if self.frames.is_empty() || self.frames.len() > MAX_FRAMES {
            return Err(format!("it must have 1..{MAX_FRAMES} frames"));
        }
        if self.n_frames != self.frames.len() {
            return Err(format!(
                "n_frames is {} but it has {} frames",
                self.n_frames,
                self.frames.len()
            ));
        }
        for (i, f) in self.frames.iter().enumerate() {
            let values =
                f.r.iter()
                    .flatten()
                    .chain(f.exp.iter().flatten())
                    .chain(&f.t)
                    .chain(std::iter::once(&f.scale));
            let finite = values.into_iter().all(|v| v.is_finite() && v.abs() < 1e3);
            if !finite || f.scale <= 0.0 {
                return Err(format!("frame {i} has a value out of range"));
            }
        }
        Ok(())
    }

    /// The recorded frame shown at `t` seconds (held at the ends).
    pub fn at_time(&self, t: f32) -> &DrivingFrame {
        let i = (t.max(0.0) * self.fps as f32).round() as usize;
        &self.frames[i.min(self.frames.len() - 1)]
    }

    pub fn duration_s(&self) -> f32 {
        self.frames.len() as f32 / self.fps as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(scale: f32) -> DrivingFrame {
        DrivingFrame {
            scale,
            r: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            exp: [[0.0; 3]; 21],
            t: [0.0; 3],
        }
    }

    #[test]
    fn frames_are_picked_by_time_and_held_at_the_ends() {
        let t = Template {
            fps: 10,
            n_frames: 3,
            frames: vec![frame(1.0), frame(2.0), frame(3.0)],
        };
        assert!(t.validate().is_ok());
        assert_eq!(t.at_time(-1.0).scale, 1.0);
        assert_eq!(t.at_time(0.14).scale, 2.0);
        assert_eq!(t.at_time(9.0).scale, 3.0);
    }

    #[test]
    fn bad_templates_are_refused_with_a_reason() {
        let mut t = Template {
            fps: 25,
            n_frames: 2,
            frames: vec![frame(1.0)],
        };
        assert!(t.validate().expect_err("refused").contains("n_frames"));
        t.n_frames = 1;
        t.frames[0].exp[3][1] = f32::NAN;
        assert!(t.validate().expect_err("refused").contains("frame 0"));
        t.frames[0] = frame(0.0);
        assert!(t.validate().is_err());
        t.frames.clear();
        t.n_frames = 0;
        assert!(t.validate().is_err());
    }
}
