//! A camera without hardware: it serves a portrait from a folder of image
//! files (the tests point it at real photos, so the whole flow runs with
//! real faces) or a moving test pattern. It behaves like the USB camera:
//! a live view at a steady rate, full-resolution stills, and it "unplugs"
//! when its folder disappears, so reconnecting can be tested.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::{Rgb, RgbImage};

use super::camera::{Camera, CameraError, Jpeg};
use super::photo;

/// Live frames are at most this long (like a 720p webcam's).
const LIVE_LONG_SIDE: u32 = 1280;
const PATTERN_SIZE: (u32, u32) = (960, 540);
const STILL_PATTERN_SIZE: (u32, u32) = (1920, 1080);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestSource {
    /// The first image (by name) in this folder.
    Files(PathBuf),
    /// Colour bars with a moving band.
    Pattern,
}

pub struct TestCamera {
    source: TestSource,
    interval: Duration,
    next_due: Instant,
    tick: u64,
    loaded: Option<Loaded>,
}

struct Loaded {
    name: String,
    original: Jpeg,
    live: Jpeg,
}

impl TestCamera {
    pub fn new(source: TestSource, fps: u32) -> Self {
        Self {
            source,
            interval: Duration::from_secs_f64(1.0 / f64::from(fps.clamp(1, 60))),
            next_due: Instant::now(),
            tick: 0,
            loaded: None,
        }
    }

    fn pace(&mut self) {
        let now = Instant::now();
        if self.next_due > now {
            std::thread::sleep(self.next_due - now);
        }
        // A late frame does not make the next ones hurry.
        self.next_due = self.next_due.max(now) + self.interval;
        self.tick += 1;
    }
}

/// The portrait a files camera shows: the first JPEG/PNG/WebP by name.
fn first_image(dir: &Path) -> Result<PathBuf, CameraError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| CameraError::NotFound(format!("{}: {e}", dir.display())))?;
    let mut images: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                matches!(
                    x.to_ascii_lowercase().as_str(),
                    "jpg" | "jpeg" | "png" | "webp"
                )
            })
        })
        .collect();
    images.sort();
    images
        .into_iter()
        .next()
        .ok_or_else(|| CameraError::NotFound(format!("no images in {}", dir.display())))
}

fn load(path: &Path) -> Result<Loaded, CameraError> {
    let bad = |e: String| CameraError::Device(format!("{}: {e}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let image = photo::decode(&bytes).map_err(|e| bad(e.to_string()))?;
    let (w, h) = (image.width(), image.height());
    let scale = (LIVE_LONG_SIDE as f32 / w.max(h) as f32).min(1.0);
    let (lw, lh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let small = image::imageops::resize(&image, lw, lh, image::imageops::FilterType::Triangle);
    // Stills are re-encoded from the decoded picture, so EXIF rotation is
    // already applied, as a camera's own JPEG would be.
    Ok(Loaded {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        original: Jpeg::encode(&image, 92)?,
        live: Jpeg::encode(&small, 80)?,
    })
}

/// SMPTE-like bars with a band that moves one step per frame, so a frozen
/// view is obvious, and the frame number in binary along the bottom, so
/// no two frames are alike.
pub fn pattern(width: u32, height: u32, tick: u64) -> RgbImage {
    const BARS: [[u8; 3]; 7] = [
        [192, 192, 192],
        [192, 192, 0],
        [0, 192, 192],
        [0, 192, 0],
        [192, 0, 192],
        [192, 0, 0],
        [0, 0, 192],
    ];
    let band = (tick * 8 % u64::from(width.max(1))) as u32;
    let bits = width.max(1).div_ceil(32);
    RgbImage::from_fn(width, height, |x, y| {
        if y > height * 7 / 8 {
            let bit = (x / bits).min(63);
            let on = (tick >> bit) & 1 == 1;
            Rgb(if on { [235, 235, 235] } else { [16, 16, 16] })
        } else if x.abs_diff(band) < 12 {
            Rgb([16, 16, 16])
        } else {
            Rgb(BARS[(x * 7 / width.max(1)) as usize % 7])
        }
    })
}

impl TestCamera {
    /// The loaded photo; with `check`, first whether its folder is still
    /// there (unplugged otherwise).
    fn loaded(&mut self, check: bool) -> Result<&Loaded, CameraError> {
        if let (true, TestSource::Files(dir)) = (check, &self.source) {
            if !dir.is_dir() {
                self.loaded = None;
                return Err(CameraError::Disconnected(format!(
                    "{} is gone",
                    dir.display()
                )));
            }
        }
        self.loaded
            .as_ref()
            .ok_or_else(|| CameraError::NotFound("camera not open".into()))
    }
}

impl Camera for TestCamera {
    fn describe(&self) -> String {
        match (&self.source, &self.loaded) {
            (TestSource::Files(dir), Some(l)) => format!(
                "test camera: {} from {} ({}×{})",
                l.name,
                dir.display(),
                l.original.width,
                l.original.height
            ),
            (TestSource::Files(dir), None) => format!("test camera: files in {}", dir.display()),
            (TestSource::Pattern, _) => "test camera: test pattern".into(),
        }
    }

    fn open(&mut self) -> Result<(), CameraError> {
        self.loaded = match &self.source {
            TestSource::Files(dir) => Some(load(&first_image(dir)?)?),
            TestSource::Pattern => None,
        };
        self.next_due = Instant::now();
        Ok(())
    }

    fn next_frame(&mut self) -> Result<Jpeg, CameraError> {
        self.pace();
        match &self.source {
            // Every 15th frame, as a USB camera would notice its cable.
            TestSource::Files(_) => self.loaded(self.tick % 15 == 0).map(|l| l.live.clone()),
            TestSource::Pattern => {
                let (w, h) = PATTERN_SIZE;
                Jpeg::encode(&pattern(w, h, self.tick), 80)
            }
        }
    }

    fn still(&mut self) -> Result<Jpeg, CameraError> {
        match &self.source {
            TestSource::Files(_) => self.loaded(true).map(|l| l.original.clone()),
            TestSource::Pattern => {
                let (w, h) = STILL_PATTERN_SIZE;
                Jpeg::encode(&pattern(w, h, self.tick), 92)
            }
        }
    }

    fn close(&mut self) {
        self.loaded = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_moves() {
        let a = pattern(320, 180, 1);
        let b = pattern(320, 180, 2);
        assert_ne!(a, b);
        assert_eq!(a.dimensions(), (320, 180));
    }

    #[test]
    fn missing_or_empty_folder_is_not_found() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut cam = TestCamera::new(TestSource::Files(dir.path().join("nope")), 30);
        assert!(matches!(cam.open(), Err(CameraError::NotFound(_))));
        let mut cam = TestCamera::new(TestSource::Files(dir.path().to_path_buf()), 30);
        assert!(matches!(cam.open(), Err(CameraError::NotFound(_))));
    }

    #[test]
    fn files_camera_serves_a_portrait_and_unplugs_with_its_folder() {
        let dir = tempfile::tempdir().expect("tmp");
        let photos = dir.path().join("photos");
        std::fs::create_dir(&photos).expect("mkdir");
        pattern(1600, 2000, 0)
            .save(photos.join("b.png"))
            .expect("save");
        std::fs::write(photos.join("a.txt"), b"not a photo").expect("write");
        let mut cam = TestCamera::new(TestSource::Files(photos.clone()), 60);
        cam.open().expect("opens");
        let live = cam.next_frame().expect("frame");
        assert_eq!((live.width, live.height), (1024, 1280));
        let still = cam.still().expect("still");
        assert_eq!((still.width, still.height), (1600, 2000));
        assert!(cam.describe().contains("b.png"), "{}", cam.describe());
        std::fs::rename(&photos, dir.path().join("gone")).expect("unplug");
        let err = (0..16).find_map(|_| cam.next_frame().err());
        assert!(matches!(err, Some(CameraError::Disconnected(_))), "{err:?}");
    }
}
