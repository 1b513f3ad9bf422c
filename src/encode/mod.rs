//! Video encoding with GStreamer: the encoder chosen at start-up from the
//! registry (Jetson hardware first), MP4 files written frame by frame, and
//! the preview's watermark.

pub mod pipeline;
mod watermark;
mod writer;

pub use pipeline::{choose, ChoiceError, H264Encoder, Quality};
pub use watermark::Watermark;
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

/// Initialises GStreamer (idempotent) and picks the encoder.
pub fn detect(pref: EncoderPref) -> Result<H264Encoder, EncodeError> {
    gstreamer::init().map_err(|e| EncodeError::Init(e.to_string()))?;
    let encoder = choose(pref, |name| gstreamer::ElementFactory::find(name).is_some())?;
    tracing::info!(
        encoder = encoder.element(),
        hardware = encoder.is_hardware(),
        "H.264 encoder chosen"
    );
    Ok(encoder)
}
