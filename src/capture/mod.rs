//! Getting a photo into the kiosk: the camera, phone uploads and their
//! validation.
//!
//! Everything that arrives from outside is checked here before any other
//! module sees it: `photo` validates and decodes image bytes; the camera
//! drops broken frames before they reach the page.

pub mod camera;
pub mod handoff;
pub mod hub;
pub mod mode;
pub mod photo;
pub mod testcam;
pub mod v4l2;

use std::path::Path;

pub use camera::{Camera, CameraError, Jpeg};
pub use hub::{CameraHub, CameraState, CameraStatus};

use crate::config::{CameraKind, Settings};
use testcam::{TestCamera, TestSource};

/// Whether this machine has any V4L2 device node at all.
fn has_video_device() -> bool {
    std::fs::read_dir(Path::new("/dev"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().starts_with("video"))
        })
        .unwrap_or(false)
}

/// The camera the settings ask for, started; `auto` takes the USB camera
/// when the machine has a video device, else the test camera.
/// Whether `auto` (or the configuration) ends up on the files or
/// test-pattern camera rather than a real one: fine on a desk, not at a
/// party.
pub fn uses_test_camera(settings: &Settings) -> bool {
    match settings.camera {
        CameraKind::Files | CameraKind::Pattern => true,
        CameraKind::Auto => settings.camera_device.is_none() && !has_video_device(),
        CameraKind::None | CameraKind::V4l2 => false,
    }
}

pub fn start(settings: &Settings) -> CameraHub {
    let test_source = || match &settings.camera_files {
        Some(dir) => TestSource::Files(dir.clone()),
        None => TestSource::Pattern,
    };
    let camera: Box<dyn Camera> = match settings.camera {
        CameraKind::None => return CameraHub::off(),
        CameraKind::V4l2 => Box::new(v4l2::V4l2Camera::new(settings.camera_device.clone())),
        CameraKind::Auto if settings.camera_device.is_some() || has_video_device() => {
            Box::new(v4l2::V4l2Camera::new(settings.camera_device.clone()))
        }
        CameraKind::Auto | CameraKind::Files => {
            Box::new(TestCamera::new(test_source(), settings.camera_fps))
        }
        CameraKind::Pattern => Box::new(TestCamera::new(TestSource::Pattern, settings.camera_fps)),
    };
    tracing::info!(camera = %camera.describe(), "camera configured");
    CameraHub::start(camera)
}
