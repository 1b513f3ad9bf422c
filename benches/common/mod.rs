//! Helpers shared by the benches.
// Each bench includes this file and uses only part of it.
#![allow(dead_code)]

use image::RgbImage;
use smileloop::geometry::Scaler;

/// `photo` scaled to cover `w` × `h` and centre-cropped: the portrait crop
/// the kiosk's camera still gets.
pub fn portrait(photo: &RgbImage, w: u32, h: u32) -> RgbImage {
    let scale = (w as f32 / photo.width() as f32).max(h as f32 / photo.height() as f32);
    let (sw, sh) = (
        ((photo.width() as f32 * scale).ceil() as u32).max(w),
        ((photo.height() as f32 * scale).ceil() as u32).max(h),
    );
    let big = Scaler::default().scale(photo, sw, sh);
    image::imageops::crop_imm(&big, (sw - w) / 2, (sh - h) / 2, w, h).to_image()
}

/// JPEG bytes of `img` at quality 92, as a camera would deliver them.
pub fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
        .encode_image(img)
        .expect("encodes");
    out
}
