//! Video encoding with GStreamer: the encoder chosen at start-up from the
//! registry (Jetson hardware first), MP4 files written frame by frame, and
//! the preview's watermark.

pub mod pipeline;
mod watermark;
mod writer;

pub use pipeline::{choose, ChoiceError, H264Encoder, Quality};
pub use watermark::{Watermark, FONT};
pub use writer::VideoWriter;

use crate::config::EncoderPref;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("GStreamer could not start: {0}")]
    Init(String),
    #[error(transparent)]
    Choice(#[from] ChoiceError),
    #[error("GStreamer element {element}: {message}")]
    Element {
        element: &'static str,
        message: String,
    },
    #[error("encoder pipeline: {0}")]
    Pipeline(String),
    #[error("encoding failed: {0}")]
    Stream(String),
}

/// Initialises GStreamer (idempotent) and picks the encoder. The hardware
/// encoder first encodes a few frames: an Orin Nano's image carries
/// `nvv4l2h264enc`, but the module has no encoder block, so the element
/// exists and fails at the first frame. `auto` then falls back to software.
pub fn detect(pref: EncoderPref) -> Result<H264Encoder, EncodeError> {
    gstreamer::init().map_err(|e| EncodeError::Init(e.to_string()))?;
    let installed = |name: &str| gstreamer::ElementFactory::find(name).is_some();
    let mut encoder = choose(pref, installed)?;
    if encoder.is_hardware() {
        if let Err(e) = probe(encoder) {
            if pref != EncoderPref::Auto {
                return Err(EncodeError::Pipeline(format!(
                    "{} is installed but does not work ({e}); an Orin Nano has no hardware encoder: set encoder = \"auto\" or \"x264enc\"",
                    encoder.element()
                )));
            }
            tracing::warn!(
                encoder = encoder.element(),
                "the hardware encoder is installed but does not work ({e}); using software"
            );
            encoder = pipeline::choose_without(encoder, installed)?;
        }
    }
    tracing::info!(
        encoder = encoder.element(),
        hardware = encoder.is_hardware(),
        "H.264 encoder chosen"
    );
    Ok(encoder)
}

/// Eight small frames through `encoder` into a scratch file.
pub fn probe(encoder: H264Encoder) -> Result<(), EncodeError> {
    let path = std::env::temp_dir().join(format!(
        "smileloop-encoder-probe-{}.mp4",
        std::process::id()
    ));
    let run = || {
        let mut writer = VideoWriter::create(encoder, Quality::Preview, 320, 240, 25, &path)?;
        let frame = vec![128u8; 320 * 240 * 3];
        for _ in 0..8 {
            writer.push(&frame)?;
        }
        writer.finish().map(|_| ())
    };
    let result = run();
    let _ = std::fs::remove_file(&path);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_software_encoder_passes_the_probe() {
        let encoder = detect(EncoderPref::Auto).expect("an encoder");
        assert!(probe(encoder).is_ok());
    }
}
