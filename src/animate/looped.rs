//! The one animation loop every backend runs: the frame cursor, the plan
//! and the loop's end. A backend supplies only a [`Scene`], which draws
//! frame `i` of the preset's loop.

use image::RgbImage;

use super::{AnimateError, Animation, FramePlan};
use crate::motion::Preset;

/// What a backend draws: frame `index` of the loop into `frame`.
pub trait Scene: Send {
    /// Draws frame `index` (`0..frame_count`, in order) into `frame`,
    /// which still holds the frame before (a held pose may leave it).
    fn draw(&mut self, index: u32, frame: &mut RgbImage) -> Result<(), AnimateError>;
}

/// A [`Scene`] played once through the preset's loop.
pub struct Looped<S> {
    scene: S,
    frame: RgbImage,
    fps: u32,
    frame_count: u32,
    next: u32,
}

impl<S: Scene> Looped<S> {
    /// `scene` drawn `width`×`height`, at the preset's rate and length.
    pub fn play(scene: S, (width, height): (u32, u32), preset: &Preset) -> Self {
        Self {
            scene,
            frame: RgbImage::new(width, height),
            fps: preset.fps(),
            frame_count: preset.frame_count(),
            next: 0,
        }
    }
}

/// The scene's own questions (a mesh's field at frame `i`…) go to it.
impl<S> std::ops::Deref for Looped<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.scene
    }
}

impl<S: Scene> Animation for Looped<S> {
    fn plan(&self) -> FramePlan {
        FramePlan {
            width: self.frame.width(),
            height: self.frame.height(),
            fps: self.fps,
            frame_count: self.frame_count,
        }
    }

    fn next_frame(&mut self) -> Result<Option<&RgbImage>, AnimateError> {
        if self.next >= self.frame_count {
            return Ok(None);
        }
        self.scene.draw(self.next, &mut self.frame)?;
        self.next += 1;
        Ok(Some(&self.frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paints each frame with its own index, and fails where told.
    struct Counting {
        fail_at: Option<u32>,
        drawn: Vec<u32>,
    }

    impl Scene for Counting {
        fn draw(&mut self, index: u32, frame: &mut RgbImage) -> Result<(), AnimateError> {
            if Some(index) == self.fail_at {
                return Err(AnimateError::Backend("told to".into()));
            }
            self.drawn.push(index);
            frame.pixels_mut().for_each(|p| p.0 = [index as u8; 3]);
            Ok(())
        }
    }

    fn preset() -> Preset {
        let toml = "id = \"t\"\nduration_s = 1.0\nfps = 10\nloop = \"cycle\"\n[label]\nen = \"T\"\n\
                    [curves]\nsmile = [ { t = 0.0, v = 0.0 }, { t = 0.5, v = 1.0 }, { t = 1.0, v = 0.0 } ]\n";
        Preset::from_toml(toml, std::path::Path::new("t.toml")).expect("preset")
    }

    #[test]
    fn the_loop_draws_every_frame_once_in_order_then_ends() {
        let p = preset();
        let mut anim = Looped::play(
            Counting {
                fail_at: None,
                drawn: vec![],
            },
            (4, 2),
            &p,
        );
        let plan = anim.plan();
        assert_eq!((plan.width, plan.height), (4, 2));
        assert_eq!((plan.fps, plan.frame_count), (p.fps(), p.frame_count()));
        let mut n = 0;
        while let Some(frame) = anim.next_frame().expect("draws") {
            assert_eq!(frame.get_pixel(3, 1).0, [n as u8; 3]);
            n += 1;
        }
        assert_eq!(n, p.frame_count());
        assert!(anim.next_frame().expect("still done").is_none());
        assert_eq!(anim.drawn, (0..p.frame_count()).collect::<Vec<_>>());
    }

    #[test]
    fn a_scene_that_fails_stops_the_loop_with_its_error() {
        let p = preset();
        let mut anim = Looped::play(
            Counting {
                fail_at: Some(2),
                drawn: vec![],
            },
            (2, 2),
            &p,
        );
        assert!(anim.next_frame().is_ok());
        assert!(anim.next_frame().is_ok());
        assert!(matches!(anim.next_frame(), Err(AnimateError::Backend(_))));
    }
}
