//! The render as it happens: the worker publishes each watermarked
//! preview frame, and the kiosk screen shows them while the video is
//! still being encoded, so the guest sees the photo come alive at once.
//! Latest frame wins; nothing is encoded while nobody watches.

use std::sync::Arc;

use image::RgbImage;
use tokio::sync::watch;

use super::JobId;

/// JPEG quality of live render frames: a screen preview, not the product.
const QUALITY: u8 = 80;

#[derive(Debug, Clone)]
pub struct RenderFrame {
    pub job: JobId,
    /// 0-based frame number.
    pub index: u32,
    pub total: u32,
    pub jpeg: Arc<Vec<u8>>,
}

impl RenderFrame {
    pub fn is_last(&self) -> bool {
        self.index + 1 >= self.total
    }
}

pub struct LiveRenders {
    tx: watch::Sender<Option<RenderFrame>>,
}

impl Default for LiveRenders {
    fn default() -> Self {
        Self {
            tx: watch::channel(None).0,
        }
    }
}

impl LiveRenders {
    pub fn subscribe(&self) -> watch::Receiver<Option<RenderFrame>> {
        self.tx.subscribe()
    }

    pub fn watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Publishes one frame of `job` if anyone watches.
    pub fn publish(&self, job: JobId, index: u32, total: u32, frame: &RgbImage) {
        if !self.watched() {
            return;
        }
        let mut bytes = Vec::with_capacity(frame.len() / 10);
        let encoded = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, QUALITY)
            .encode_image(frame);
        match encoded {
            Ok(()) => {
                self.tx.send_replace(Some(RenderFrame {
                    job,
                    index,
                    total,
                    jpeg: Arc::new(bytes),
                }));
            }
            Err(e) => tracing::warn!(%job, "live frame not encoded: {e}"),
        }
    }
}
