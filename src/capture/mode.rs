//! Choosing the camera's modes from what it offers. Pure functions, tested
//! on format lists recorded from real webcams (`v4l2-ctl --list-formats-ext`).

/// The pixel formats the kiosk can use. MJPEG frames go to the page as they
/// come; YUYV frames are converted and encoded by us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Mjpeg,
    Yuyv,
}

impl PixelFormat {
    pub fn from_fourcc(fourcc: &[u8; 4]) -> Option<Self> {
        match fourcc {
            b"MJPG" | b"JPEG" => Some(Self::Mjpeg),
            b"YUYV" => Some(Self::Yuyv),
            _ => None,
        }
    }

    pub fn fourcc(self) -> [u8; 4] {
        match self {
            Self::Mjpeg => *b"MJPG",
            Self::Yuyv => *b"YUYV",
        }
    }
}

/// One size of one format, at the highest frame rate the camera offers for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mode {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub fps: f32,
}

impl Mode {
    fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.format {
            PixelFormat::Mjpeg => "MJPEG",
            PixelFormat::Yuyv => "YUYV",
        };
        write!(
            f,
            "{name} {}×{} @ {:.0} fps",
            self.width, self.height, self.fps
        )
    }
}

/// The live view must look live.
pub const MIN_LIVE_FPS: f32 = 15.0;
/// The live view needs no more than this; larger modes only cost bandwidth.
const LIVE_WIDTH: u32 = 1280;
const LIVE_HEIGHT: u32 = 720;

/// The live-view mode: MJPEG (passed through untouched) of at least
/// 1280 × 720 at 15 fps or more, the smallest such; failing that the
/// largest MJPEG mode fast enough, then the largest fast YUYV mode, then
/// the fastest mode at all.
pub fn live_mode(modes: &[Mode]) -> Option<Mode> {
    let fast = |m: &&Mode| m.fps >= MIN_LIVE_FPS;
    let big = |m: &&Mode| m.width >= LIVE_WIDTH && m.height >= LIVE_HEIGHT;
    let mjpeg = |m: &&Mode| m.format == PixelFormat::Mjpeg;
    // Smallest area first, then the higher rate, then closest to 16:9.
    let rank_small = |m: &Mode| {
        let aspect_off = ((m.width as f32 / m.height as f32) - 16.0 / 9.0).abs();
        (
            m.area(),
            std::cmp::Reverse((m.fps * 100.0) as u64),
            (aspect_off * 1000.0) as u64,
        )
    };
    let rank_large = |m: &Mode| (m.area(), (m.fps * 100.0) as u64);
    modes
        .iter()
        .filter(mjpeg)
        .filter(fast)
        .filter(big)
        .min_by_key(|m| rank_small(m))
        .or_else(|| {
            modes
                .iter()
                .filter(mjpeg)
                .filter(fast)
                .max_by_key(|m| rank_large(m))
        })
        .or_else(|| modes.iter().filter(fast).max_by_key(|m| rank_large(m)))
        .or_else(|| {
            modes
                .iter()
                .max_by_key(|m| ((m.fps * 100.0) as u64, m.area()))
        })
        .copied()
}

/// The shutter's mode: the largest picture the camera takes, MJPEG when a
/// YUYV mode of the same size exists too (smaller transfer, same picture).
pub fn still_mode(modes: &[Mode]) -> Option<Mode> {
    modes
        .iter()
        .max_by_key(|m| {
            (
                m.area(),
                m.format == PixelFormat::Mjpeg,
                (m.fps * 100.0) as u64,
            )
        })
        .copied()
}

/// Keeps the fastest rate per (format, size): enumeration lists every
/// frame interval separately.
pub fn fastest_per_size(all: impl IntoIterator<Item = Mode>) -> Vec<Mode> {
    let mut out: Vec<Mode> = Vec::new();
    for m in all {
        if m.width == 0 || m.height == 0 || !m.fps.is_finite() || m.fps <= 0.0 {
            continue;
        }
        match out
            .iter_mut()
            .find(|o| o.format == m.format && o.width == m.width && o.height == m.height)
        {
            Some(o) if o.fps < m.fps => o.fps = m.fps,
            Some(_) => {}
            None => out.push(m),
        }
    }
    out
}

/// Frames per second from a V4L2 frame interval (seconds as a fraction).
pub fn fps_of_interval(numerator: u32, denominator: u32) -> f32 {
    if numerator == 0 {
        0.0
    } else {
        denominator as f32 / numerator as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses the part of `v4l2-ctl --list-formats-ext` output we use, so
    /// recorded lists can be pasted in as they are.
    fn parse(listing: &str) -> Vec<Mode> {
        let mut format = None;
        let mut size = None;
        let mut out = Vec::new();
        for line in listing.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix('[') {
                let fourcc = rest.split('\'').nth(1).unwrap_or("");
                format = <[u8; 4]>::try_from(fourcc.as_bytes())
                    .ok()
                    .and_then(|f| PixelFormat::from_fourcc(&f));
            } else if let Some(rest) = line.strip_prefix("Size: Discrete ") {
                let (w, h) = rest.split_once('x').expect("WxH");
                size = Some((w.parse().expect("w"), h.parse().expect("h")));
            } else if let Some(rest) = line.strip_prefix("Interval: Discrete ") {
                let secs = rest.split('s').next().expect("interval");
                let (Some(format), Some((width, height))) = (format, size) else {
                    continue;
                };
                let fps = 1.0 / secs.parse::<f32>().expect("seconds");
                out.push(Mode {
                    format,
                    width,
                    height,
                    fps,
                });
            }
        }
        fastest_per_size(out)
    }

    // Logitech C920 (trimmed to the sizes that matter; H264 left in to
    // show it is skipped).
    const C920: &str = "
        [0]: 'YUYV' (YUYV 4:2:2)
            Size: Discrete 640x480
                Interval: Discrete 0.033s (30.000 fps)
                Interval: Discrete 0.067s (15.000 fps)
            Size: Discrete 1280x720
                Interval: Discrete 0.100s (10.000 fps)
            Size: Discrete 1920x1080
                Interval: Discrete 0.200s (5.000 fps)
            Size: Discrete 2304x1536
                Interval: Discrete 0.500s (2.000 fps)
        [1]: 'H264' (H.264, compressed)
            Size: Discrete 1920x1080
                Interval: Discrete 0.033s (30.000 fps)
        [2]: 'MJPG' (Motion-JPEG, compressed)
            Size: Discrete 640x480
                Interval: Discrete 0.033s (30.000 fps)
            Size: Discrete 960x720
                Interval: Discrete 0.033s (30.000 fps)
            Size: Discrete 1280x720
                Interval: Discrete 0.033s (30.000 fps)
                Interval: Discrete 0.042s (24.000 fps)
            Size: Discrete 1600x896
                Interval: Discrete 0.033s (30.000 fps)
            Size: Discrete 1920x1080
                Interval: Discrete 0.033s (30.000 fps)";

    // Logitech C270: MJPEG and YUYV share the largest size.
    const C270: &str = "
        [0]: 'YUYV' (YUYV 4:2:2)
            Size: Discrete 640x480
                Interval: Discrete 0.033s (30.000 fps)
            Size: Discrete 1280x720
                Interval: Discrete 0.133s (7.500 fps)
            Size: Discrete 1280x960
                Interval: Discrete 0.133s (7.500 fps)
        [1]: 'MJPG' (Motion-JPEG, compressed)
            Size: Discrete 640x480
                Interval: Discrete 0.033s (30.000 fps)
            Size: Discrete 1280x720
                Interval: Discrete 0.033s (30.000 fps)
            Size: Discrete 1280x960
                Interval: Discrete 0.033s (30.000 fps)";

    // A no-name camera with YUYV only.
    const YUYV_ONLY: &str = "
        [0]: 'YUYV' (YUYV 4:2:2)
            Size: Discrete 640x480
                Interval: Discrete 0.033s (30.000 fps)
            Size: Discrete 800x600
                Interval: Discrete 0.050s (20.000 fps)
            Size: Discrete 1280x720
                Interval: Discrete 0.100s (10.000 fps)";

    // An HDMI grabber that offers MJPEG only below 720p.
    const SMALL_MJPEG: &str = "
        [0]: 'MJPG' (Motion-JPEG, compressed)
            Size: Discrete 640x360
                Interval: Discrete 0.017s (60.000 fps)
            Size: Discrete 1024x576
                Interval: Discrete 0.033s (30.000 fps)
        [1]: 'YUYV' (YUYV 4:2:2)
            Size: Discrete 1920x1080
                Interval: Discrete 0.200s (5.000 fps)";

    fn mode(format: PixelFormat, width: u32, height: u32) -> (PixelFormat, u32, u32) {
        (format, width, height)
    }

    fn key(m: Option<Mode>) -> (PixelFormat, u32, u32) {
        let m = m.expect("a mode");
        (m.format, m.width, m.height)
    }

    #[test]
    fn c920_live_is_mjpeg_720p_and_still_is_the_largest_yuyv() {
        let modes = parse(C920);
        assert_eq!(modes.len(), 9, "{modes:?}");
        let live = live_mode(&modes).expect("live");
        assert_eq!(key(Some(live)), mode(PixelFormat::Mjpeg, 1280, 720));
        assert!((live.fps - 30.0).abs() < 0.5, "{live}");
        assert_eq!(key(still_mode(&modes)), mode(PixelFormat::Yuyv, 2304, 1536));
    }

    #[test]
    fn c270_still_prefers_mjpeg_at_equal_size() {
        let modes = parse(C270);
        assert_eq!(key(live_mode(&modes)), mode(PixelFormat::Mjpeg, 1280, 720));
        assert_eq!(key(still_mode(&modes)), mode(PixelFormat::Mjpeg, 1280, 960));
    }

    #[test]
    fn yuyv_only_camera_gets_the_largest_fast_mode() {
        let modes = parse(YUYV_ONLY);
        assert_eq!(key(live_mode(&modes)), mode(PixelFormat::Yuyv, 800, 600));
        assert_eq!(key(still_mode(&modes)), mode(PixelFormat::Yuyv, 1280, 720));
    }

    #[test]
    fn small_mjpeg_beats_slow_big_yuyv_for_the_live_view() {
        let modes = parse(SMALL_MJPEG);
        assert_eq!(key(live_mode(&modes)), mode(PixelFormat::Mjpeg, 1024, 576));
        assert_eq!(key(still_mode(&modes)), mode(PixelFormat::Yuyv, 1920, 1080));
    }

    #[test]
    fn slow_camera_still_gets_a_live_view() {
        let modes = [Mode {
            format: PixelFormat::Yuyv,
            width: 1920,
            height: 1080,
            fps: 5.0,
        }];
        assert_eq!(key(live_mode(&modes)), mode(PixelFormat::Yuyv, 1920, 1080));
    }

    #[test]
    fn nothing_usable_is_none() {
        assert!(live_mode(&[]).is_none());
        assert!(still_mode(&[]).is_none());
        assert!(parse(
            "[0]: 'H264' (H.264)\n Size: Discrete 1920x1080\n Interval: Discrete 0.033s"
        )
        .is_empty());
    }

    #[test]
    fn broken_intervals_are_dropped() {
        let m = |fps| Mode {
            format: PixelFormat::Mjpeg,
            width: 1280,
            height: 720,
            fps,
        };
        assert!(fastest_per_size([m(f32::INFINITY), m(0.0), m(f32::NAN)]).is_empty());
        assert_eq!(fps_of_interval(0, 30), 0.0);
        assert_eq!(fps_of_interval(1, 30), 30.0);
    }
}
