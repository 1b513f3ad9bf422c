//! An MP4 file written frame by frame through GStreamer:
//! `appsrc (RGB) → [encoder chain] → filesink`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::pipeline::{stages, H264Encoder, Quality};
use super::EncodeError;

/// How long finishing a file may take before we call the pipeline stuck.
const FINISH_TIMEOUT: Duration = Duration::from_secs(60);

pub struct VideoWriter {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    bus: gst::Bus,
    fps: u32,
    frame_bytes: usize,
    /// GStreamer's row stride for RGB (rows padded to 4 bytes): a width
    /// of 614 has 1842-byte rows in our frames but 1844 in GStreamer's.
    stride: usize,
    row_bytes: usize,
    frames: u64,
    path: PathBuf,
}

fn pipeline_err(e: impl std::fmt::Display) -> EncodeError {
    EncodeError::Pipeline(e.to_string())
}

/// Tightly packed rows of `row_bytes`, copied into rows of `stride` bytes.
fn padded_rows(rgb: &[u8], row_bytes: usize, stride: usize) -> Vec<u8> {
    if stride == row_bytes || row_bytes == 0 {
        return rgb.to_vec();
    }
    let rows = rgb.len() / row_bytes;
    let mut out = vec![0u8; rows * stride];
    for (dst, src) in out
        .chunks_exact_mut(stride)
        .zip(rgb.chunks_exact(row_bytes))
    {
        dst[..row_bytes].copy_from_slice(src);
    }
    out
}

impl VideoWriter {
    pub fn create(
        encoder: H264Encoder,
        quality: Quality,
        width: u32,
        height: u32,
        fps: u32,
        path: &Path,
    ) -> Result<Self, EncodeError> {
        if width == 0 || height == 0 || width % 2 != 0 || height % 2 != 0 || fps == 0 {
            return Err(EncodeError::Pipeline(format!(
                "frame size {width}×{height} at {fps} fps cannot be encoded (sides must be even)"
            )));
        }
        let location = path.to_str().ok_or_else(|| {
            EncodeError::Pipeline(format!("path {} is not UTF-8", path.display()))
        })?;
        let info =
            gstreamer_video::VideoInfo::builder(gstreamer_video::VideoFormat::Rgb, width, height)
                .fps(gst::Fraction::new(fps as i32, 1))
                .build()
                .map_err(pipeline_err)?;
        let caps = info.to_caps().map_err(pipeline_err)?;
        let frame_bytes = width as usize * height as usize * 3;
        let stride = usize::try_from(info.stride()[0]).map_err(pipeline_err)?;
        let src = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Time)
            .is_live(false)
            // Bounded: a slow encoder makes the renderer wait, not the RAM grow.
            .block(true)
            .max_bytes(frame_bytes as u64 * 4)
            .build();

        let pipeline = gst::Pipeline::new();
        let mut elements: Vec<gst::Element> = vec![src.clone().upcast()];
        for stage in stages(encoder, quality, fps, width * height) {
            let mut builder = gst::ElementFactory::make(stage.factory);
            for (name, value) in &stage.props {
                builder = builder.property_from_str(name, value);
            }
            elements.push(builder.build().map_err(|e| EncodeError::Element {
                element: stage.factory,
                message: e.to_string(),
            })?);
        }
        let sink = gst::ElementFactory::make("filesink")
            .property("location", location)
            .build()
            .map_err(|e| EncodeError::Element {
                element: "filesink",
                message: e.to_string(),
            })?;
        elements.push(sink);
        pipeline.add_many(&elements).map_err(pipeline_err)?;
        gst::Element::link_many(&elements).map_err(pipeline_err)?;
        let bus = pipeline
            .bus()
            .ok_or_else(|| pipeline_err("pipeline has no bus"))?;
        pipeline.set_state(gst::State::Playing).map_err(|_| {
            take_error(&bus).unwrap_or_else(|| pipeline_err("pipeline refused to start"))
        })?;
        Ok(Self {
            pipeline,
            src,
            bus,
            fps,
            frame_bytes,
            stride,
            row_bytes: width as usize * 3,
            frames: 0,
            path: path.to_path_buf(),
        })
    }

    /// Queues one RGB frame of the size given at creation.
    pub fn push(&mut self, rgb: &[u8]) -> Result<(), EncodeError> {
        if rgb.len() != self.frame_bytes {
            return Err(EncodeError::Pipeline(format!(
                "frame has {} bytes, expected {}",
                rgb.len(),
                self.frame_bytes
            )));
        }
        if let Some(e) = take_error(&self.bus) {
            return Err(e);
        }
        let mut buffer = gst::Buffer::from_slice(padded_rows(rgb, self.row_bytes, self.stride));
        let frame_ns = |i: u64| i * 1_000_000_000 / u64::from(self.fps);
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(frame_ns(self.frames)));
            b.set_duration(gst::ClockTime::from_nseconds(
                frame_ns(self.frames + 1) - frame_ns(self.frames),
            ));
        }
        self.src.push_buffer(buffer).map_err(|flow| {
            take_error(&self.bus)
                .unwrap_or_else(|| pipeline_err(format!("encoder stopped: {flow:?}")))
        })?;
        self.frames += 1;
        Ok(())
    }

    /// Ends the stream and waits until the file is complete on disk.
    pub fn finish(self) -> Result<PathBuf, EncodeError> {
        self.src
            .end_of_stream()
            .map_err(|flow| pipeline_err(format!("end of stream: {flow:?}")))?;
        let msg = self.bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(FINISH_TIMEOUT.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        match msg.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => Ok(self.path.clone()),
            Some(gst::MessageView::Error(e)) => Err(EncodeError::Stream(describe(e))),
            _ => Err(EncodeError::Stream(format!(
                "encoding {} did not finish within {} s",
                self.path.display(),
                FINISH_TIMEOUT.as_secs()
            ))),
        }
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        // Stops the streaming threads whether we finished or failed.
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn describe(e: &gst::message::Error) -> String {
    let from = e.src().map(|s| s.name().to_string()).unwrap_or_default();
    format!("{from}: {}", e.error())
}

fn take_error(bus: &gst::Bus) -> Option<EncodeError> {
    let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(EncodeError::Stream(describe(e))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_padded_to_the_stride() {
        // Two rows of a 2-pixel-wide RGB frame (6 bytes) into 8-byte rows.
        let rgb = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        assert_eq!(
            padded_rows(&rgb, 6, 8),
            [1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0]
        );
        assert_eq!(padded_rows(&rgb, 6, 6), rgb);
    }

    /// An element failing mid-stream (as a hardware encoder does when its
    /// block faults) ends this file with that element named, and the next
    /// file is written as if nothing happened.
    #[test]
    fn an_element_failing_mid_stream_fails_this_file_only() {
        let encoder = crate::encode::detect(crate::config::EncoderPref::Auto).expect("an encoder");
        let dir = tempfile::tempdir().expect("tempdir");
        let frame = vec![90u8; 64 * 48 * 3];
        let mut writer = VideoWriter::create(
            encoder,
            Quality::Preview,
            64,
            48,
            25,
            &dir.path().join("a.mp4"),
        )
        .expect("pipeline");
        for _ in 0..10 {
            writer.push(&frame).expect("frames before the fault");
        }
        let element = writer
            .pipeline
            .iterate_elements()
            .into_iter()
            .flatten()
            .find(|e| {
                e.factory()
                    .is_some_and(|f| f.name().as_str() == encoder.element())
            })
            .expect("the encoder element");
        gst::element_error!(
            element,
            gst::StreamError::Encode,
            ("encoder block fault"),
            ["as a hardware encoder reports it"]
        );
        let failed = (0..50).find_map(|_| writer.push(&frame).err());
        let message = failed.expect("push reports the fault").to_string();
        assert!(message.contains("encoder block fault"), "{message}");
        assert!(
            message.contains(encoder.element()),
            "names the element: {message}"
        );
        drop(writer);

        let path = dir.path().join("b.mp4");
        let mut writer =
            VideoWriter::create(encoder, Quality::Preview, 64, 48, 25, &path).expect("pipeline");
        for _ in 0..25 {
            writer.push(&frame).expect("frame");
        }
        writer.finish().expect("the next file is complete");
        let bytes = std::fs::read(&path).expect("file");
        let mp4 = mp4::Mp4Reader::read_header(std::io::Cursor::new(&bytes), bytes.len() as u64)
            .expect("a real MP4");
        let samples: u32 = mp4.tracks().values().map(|t| t.sample_count()).sum();
        assert_eq!(samples, 25);
    }
}
