//! The camera seen by the rest of the kiosk: a live view of JPEG frames and
//! a full-resolution still. Two real implementations: V4L2 for the USB
//! camera ([`super::v4l2`]) and a camera that serves image files or a test
//! pattern ([`super::testcam`]), used where no camera is attached and in
//! the tests.

use std::sync::Arc;

use image::RgbImage;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CameraError {
    /// No camera at all (nothing plugged in, or an empty folder).
    #[error("no camera found: {0}")]
    NotFound(String),
    /// It was there and went away (unplugged, cable, USB reset).
    #[error("camera disconnected: {0}")]
    Disconnected(String),
    /// Another program holds the device.
    #[error("camera busy: {0}")]
    Busy(String),
    /// The camera answered with something unusable.
    #[error("camera error: {0}")]
    Device(String),
}

impl CameraError {
    /// Classifies an I/O error from the device by its errno.
    pub fn from_io(what: &str, e: &std::io::Error) -> Self {
        const ENOENT: i32 = 2;
        const EIO: i32 = 5;
        const ENXIO: i32 = 6;
        const EBUSY: i32 = 16;
        const ENODEV: i32 = 19;
        let message = format!("{what}: {e}");
        match e.raw_os_error() {
            Some(ENOENT) => Self::NotFound(message),
            Some(EIO | ENXIO | ENODEV) => Self::Disconnected(message),
            Some(EBUSY) => Self::Busy(message),
            _ if e.kind() == std::io::ErrorKind::TimedOut => Self::Disconnected(message),
            _ => Self::Device(message),
        }
    }
}

/// One JPEG picture with its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jpeg {
    pub bytes: Arc<Vec<u8>>,
    pub width: u32,
    pub height: u32,
}

impl Jpeg {
    pub fn new(bytes: Vec<u8>, width: u32, height: u32) -> Self {
        Self {
            bytes: Arc::new(bytes),
            width,
            height,
        }
    }

    /// Encodes RGB pixels (YUYV cameras, the test pattern, small previews).
    pub fn encode(image: &RgbImage, quality: u8) -> Result<Self, CameraError> {
        let mut bytes = Vec::with_capacity(image.len() / 8);
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
            .encode_image(image)
            .map_err(|e| CameraError::Device(format!("encoding a frame: {e}")))?;
        Ok(Self::new(bytes, image.width(), image.height()))
    }
}

/// A camera. Methods block; the [`super::hub::CameraHub`] calls them from
/// its own thread, never from the async runtime.
pub trait Camera: Send {
    /// What the operator reads on the admin page: device and mode.
    fn describe(&self) -> String;
    /// Opens the device and starts the live view.
    fn open(&mut self) -> Result<(), CameraError>;
    /// The next live-view frame; waits for it.
    fn next_frame(&mut self) -> Result<Jpeg, CameraError>;
    /// A still at the camera's full resolution; the live view goes on after.
    fn still(&mut self) -> Result<Jpeg, CameraError>;
    /// Stops streaming and releases the device.
    fn close(&mut self);
}

/// YUYV 4:2:2 (two pixels in four bytes: Y0 U Y1 V) to RGB with BT.601
/// limited-range coefficients, as UVC webcams send it.
pub fn yuyv_to_rgb(data: &[u8], width: u32, height: u32) -> Result<RgbImage, CameraError> {
    let needed = width as usize * height as usize * 2;
    if width % 2 != 0 || data.len() < needed {
        return Err(CameraError::Device(format!(
            "short YUYV frame: {} bytes for {width}×{height}",
            data.len()
        )));
    }
    let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
    for quad in data[..needed].chunks_exact(4) {
        let (u, v) = (f32::from(quad[1]) - 128.0, f32::from(quad[3]) - 128.0);
        for y in [quad[0], quad[2]] {
            let c = 1.164 * (f32::from(y) - 16.0);
            let px = [c + 1.596 * v, c - 0.392 * u - 0.813 * v, c + 2.017 * u];
            rgb.extend(px.map(|x| x.round().clamp(0.0, 255.0) as u8));
        }
    }
    RgbImage::from_raw(width, height, rgb)
        .ok_or_else(|| CameraError::Device("YUYV conversion size".into()))
}

/// Whether MJPEG bytes look like a whole JPEG: webcams now and then hand
/// out a truncated or empty buffer, which must not reach the page.
pub fn plausible_jpeg(bytes: &[u8]) -> bool {
    bytes.len() > 128 && bytes.starts_with(&[0xFF, 0xD8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_greys_and_colours() {
        // Black, white, then a saturated red pair.
        let data = [16, 128, 16, 128, 235, 128, 235, 128, 81, 90, 81, 240];
        let rgb = yuyv_to_rgb(&data, 6, 1).expect("converts");
        assert_eq!(rgb.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(rgb.get_pixel(2, 0).0, [255, 255, 255]);
        let red = rgb.get_pixel(4, 0).0;
        assert!(red[0] > 240 && red[1] < 10 && red[2] < 10, "{red:?}");
    }

    #[test]
    fn short_or_odd_yuyv_is_an_error() {
        assert!(yuyv_to_rgb(&[0; 7], 2, 2).is_err());
        assert!(yuyv_to_rgb(&[0; 12], 3, 2).is_err());
    }

    #[test]
    fn errno_classification() {
        let e = |n| CameraError::from_io("x", &std::io::Error::from_raw_os_error(n));
        assert!(matches!(e(19), CameraError::Disconnected(_)));
        assert!(matches!(e(2), CameraError::NotFound(_)));
        assert!(matches!(e(16), CameraError::Busy(_)));
        assert!(matches!(e(22), CameraError::Device(_)));
    }

    #[test]
    fn truncated_jpeg_is_rejected() {
        assert!(!plausible_jpeg(&[]));
        assert!(!plausible_jpeg(&[0u8; 400]));
        let img = RgbImage::new(16, 16);
        assert!(plausible_jpeg(&Jpeg::encode(&img, 80).expect("jpeg").bytes));
    }
}
