//! The USB camera through V4L2 (`v4l` crate): live view in the mode
//! [`super::mode::live_mode`] picks, stills in [`super::mode::still_mode`].
//!
//! Verified here only by compiling and by the mode-selection tests: this
//! machine has no camera. On the kiosk `smileloop selftest` and the admin
//! page show what it opened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use v4l::buffer::Type;
use v4l::capability::Flags as CapFlags;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::io::traits::CaptureStream;
use v4l::prelude::{Device, MmapStream};
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::FourCC;

use super::camera::{plausible_jpeg, yuyv_to_rgb, Camera, CameraError, Jpeg};
use super::mode::{self, fps_of_interval, Mode, PixelFormat};

/// Frames thrown away after a mode switch: the first ones come from
/// before the switch or before exposure settles.
const SETTLE_FRAMES: usize = 3;
/// A camera that sends nothing for this long is treated as gone.
const FRAME_TIMEOUT: Duration = Duration::from_secs(2);
/// JPEG quality for frames we encode ourselves (YUYV cameras).
const QUALITY: u8 = 90;

pub struct V4l2Camera {
    /// The configured device; `None` picks the first capture device.
    wanted: Option<PathBuf>,
    open: Option<Open>,
}

struct Open {
    path: PathBuf,
    card: String,
    device: Device,
    stream: Option<MmapStream<'static>>,
    live: Mode,
    still: Mode,
    current: Mode,
}

impl V4l2Camera {
    pub fn new(wanted: Option<PathBuf>) -> Self {
        Self { wanted, open: None }
    }
}

/// The V4L2 capture devices present, by path (`/dev/video0`, …); metadata
/// nodes that UVC cameras also create are left out.
pub fn capture_devices() -> Vec<PathBuf> {
    v4l::context::enum_devices()
        .into_iter()
        .filter(|node| {
            Device::with_path(node.path())
                .and_then(|d| d.query_caps())
                .is_ok_and(|caps| caps.capabilities.contains(CapFlags::VIDEO_CAPTURE))
        })
        .map(|node| node.path().to_path_buf())
        .collect()
}

fn modes_of(device: &Device) -> Result<Vec<Mode>, CameraError> {
    let io = |what: &str, e: std::io::Error| CameraError::from_io(what, &e);
    let mut all = Vec::new();
    for desc in device.enum_formats().map_err(|e| io("formats", e))? {
        let Some(format) = PixelFormat::from_fourcc(&desc.fourcc.repr) else {
            continue;
        };
        let sizes = device
            .enum_framesizes(desc.fourcc)
            .map_err(|e| io("frame sizes", e))?;
        for size in sizes {
            let discrete: Vec<_> = match size.size {
                FrameSizeEnum::Discrete(d) => vec![(d.width, d.height)],
                // Stepwise ranges: the ends are what matter to us.
                FrameSizeEnum::Stepwise(s) => vec![
                    (s.max_width, s.max_height),
                    (s.min_width.max(1280), s.min_height.max(720)),
                ],
            };
            for (width, height) in discrete {
                let Ok(intervals) = device.enum_frameintervals(desc.fourcc, width, height) else {
                    continue;
                };
                for interval in intervals {
                    let fps = match interval.interval {
                        FrameIntervalEnum::Discrete(f) => {
                            fps_of_interval(f.numerator, f.denominator)
                        }
                        FrameIntervalEnum::Stepwise(s) => {
                            fps_of_interval(s.min.numerator, s.min.denominator)
                        }
                    };
                    all.push(Mode {
                        format,
                        width,
                        height,
                        fps,
                    });
                }
            }
        }
    }
    Ok(mode::fastest_per_size(all))
}

fn start_stream(
    device: &Device,
    path: &Path,
    wanted: Mode,
) -> Result<(MmapStream<'static>, Mode), CameraError> {
    let io = |what: &str, e: std::io::Error| CameraError::from_io(what, &e);
    let mut format = device.format().map_err(|e| io("format", e))?;
    format.width = wanted.width;
    format.height = wanted.height;
    format.fourcc = FourCC::new(&wanted.format.fourcc());
    let got = device
        .set_format(&format)
        .map_err(|e| io("set format", e))?;
    let Some(pixel) = PixelFormat::from_fourcc(&got.fourcc.repr) else {
        return Err(CameraError::Device(format!(
            "{} refused {wanted} and chose {}",
            path.display(),
            got.fourcc
        )));
    };
    let fps = wanted.fps.round().max(1.0) as u32;
    // Not every driver takes a frame rate; the one it runs at is fine.
    let _ = device.set_params(&Parameters::with_fps(fps));
    let mut stream =
        MmapStream::with_buffers(device, Type::VideoCapture, 4).map_err(|e| io("buffers", e))?;
    stream.set_timeout(FRAME_TIMEOUT);
    let mode = Mode {
        format: pixel,
        width: got.width,
        height: got.height,
        fps: wanted.fps,
    };
    Ok((stream, mode))
}

impl Open {
    fn frame(&mut self) -> Result<Jpeg, CameraError> {
        let mode = self.current;
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| CameraError::Device("stream not started".into()))?;
        // A few bad buffers in a row are normal on a busy USB bus.
        for _ in 0..5 {
            let (buf, meta) = stream
                .next()
                .map_err(|e| CameraError::from_io("capture", &e))?;
            let used = (meta.bytesused as usize).min(buf.len());
            let data = &buf[..used];
            match mode.format {
                PixelFormat::Mjpeg if plausible_jpeg(data) => {
                    return Ok(Jpeg::new(data.to_vec(), mode.width, mode.height))
                }
                PixelFormat::Mjpeg => continue,
                PixelFormat::Yuyv => {
                    let rgb = yuyv_to_rgb(data, mode.width, mode.height)?;
                    return Jpeg::encode(&rgb, QUALITY);
                }
            }
        }
        Err(CameraError::Device("the camera sends broken frames".into()))
    }

    fn switch(&mut self, to: Mode) -> Result<(), CameraError> {
        // The old stream must be gone before the format can change.
        self.stream = None;
        let (stream, mode) = start_stream(&self.device, &self.path, to)?;
        self.stream = Some(stream);
        self.current = mode;
        Ok(())
    }
}

impl Camera for V4l2Camera {
    fn describe(&self) -> String {
        match &self.open {
            Some(o) => format!(
                "{} ({}), live {}, stills {}",
                o.card,
                o.path.display(),
                o.live,
                o.still
            ),
            None => match &self.wanted {
                Some(p) => format!("USB camera {}", p.display()),
                None => "USB camera (first found)".into(),
            },
        }
    }

    fn open(&mut self) -> Result<(), CameraError> {
        self.open = None;
        let path = match &self.wanted {
            Some(p) => p.clone(),
            None => capture_devices()
                .into_iter()
                .next()
                .ok_or_else(|| CameraError::NotFound("no /dev/video capture device".into()))?,
        };
        let device = Device::with_path(&path)
            .map_err(|e| CameraError::from_io(&path.display().to_string(), &e))?;
        let caps = device
            .query_caps()
            .map_err(|e| CameraError::from_io("capabilities", &e))?;
        let modes = modes_of(&device)?;
        let (Some(live), Some(still)) = (mode::live_mode(&modes), mode::still_mode(&modes)) else {
            return Err(CameraError::Device(format!(
                "{} offers neither MJPEG nor YUYV",
                path.display()
            )));
        };
        let (stream, current) = start_stream(&device, &path, live)?;
        tracing::info!(device = %path.display(), card = %caps.card, %live, %still, "camera opened");
        self.open = Some(Open {
            path,
            card: caps.card,
            device,
            stream: Some(stream),
            live,
            still,
            current,
        });
        Ok(())
    }

    fn next_frame(&mut self) -> Result<Jpeg, CameraError> {
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| CameraError::NotFound("camera not open".into()))?;
        open.frame()
    }

    fn still(&mut self) -> Result<Jpeg, CameraError> {
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| CameraError::NotFound("camera not open".into()))?;
        if open.still == open.live {
            return open.frame();
        }
        let (live, still) = (open.live, open.still);
        open.switch(still)?;
        let shot = (0..SETTLE_FRAMES)
            .try_for_each(|_| open.frame().map(drop))
            .and_then(|()| open.frame());
        // Back to the live view whatever happened to the still.
        let back = open.switch(live);
        let shot = shot?;
        back?;
        Ok(shot)
    }

    fn close(&mut self) {
        self.open = None;
    }
}
