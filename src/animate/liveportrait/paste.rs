//! Crop in, crop out: the 256 network input cut from the photo, and the
//! 512 generated face blended back into the full-size frame through
//! LivePortrait's soft mask template (notes §1.5, `crop.py` paste-back).

use image::{GrayImage, RgbImage};

use super::crop::CROP_SIDE;
use crate::face::roi::apply;
use crate::geometry::{sample_bilinear, warp_affine, Affine};

/// Input side of the appearance and motion networks.
pub const INPUT_SIDE: u32 = 256;

/// LivePortrait's paste-back mask (MIT, 512×512 grey), built in so that a
/// kiosk cannot lose it.
const MASK_PNG: &[u8] = include_bytes!("../../../engines/liveportrait/mask_template.png");

/// The mask as 0..1 weights, 512×512.
pub fn mask() -> Result<Vec<f32>, String> {
    let img = image::load_from_memory(MASK_PNG).map_err(|e| e.to_string())?;
    let grey: GrayImage = img.to_luma8();
    if grey.dimensions() != (CROP_SIDE, CROP_SIDE) {
        return Err(format!(
            "mask template is {:?}, not 512×512",
            grey.dimensions()
        ));
    }
    Ok(grey
        .as_raw()
        .iter()
        .map(|&v| f32::from(v) / 255.0)
        .collect())
}

/// The network input: the 512 crop (`to_photo` maps crop pixels to photo
/// pixels) halved to 256 by 2×2 averaging (LivePortrait resizes with
/// area interpolation), as NCHW RGB in 0..1.
pub fn network_input(photo: &RgbImage, to_photo: Affine) -> Vec<f32> {
    let mut crop = RgbImage::new(CROP_SIDE, CROP_SIDE);
    warp_affine(photo, &mut crop, to_photo);
    let n = INPUT_SIDE as usize;
    let plane = n * n;
    let mut out = vec![0.0f32; 3 * plane];
    let raw = crop.as_raw();
    let stride = CROP_SIDE as usize * 3;
    for y in 0..n {
        for x in 0..n {
            for c in 0..3 {
                let at = |dy: usize, dx: usize| {
                    f32::from(raw[(2 * y + dy) * stride + (2 * x + dx) * 3 + c])
                };
                let sum = at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1);
                out[c * plane + y * n + x] = sum / (4.0 * 255.0);
            }
        }
    }
    out
}

/// The generator's NCHW 0..1 output as an image.
pub fn to_image(planes: &[f32], side: u32) -> Option<RgbImage> {
    let plane = (side * side) as usize;
    if planes.len() != 3 * plane {
        return None;
    }
    let mut img = RgbImage::new(side, side);
    for (i, px) in img.pixels_mut().enumerate() {
        for c in 0..3 {
            px.0[c] = (planes[c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    Some(img)
}

fn sample_mask(mask: &[f32], side: usize, q: [f32; 2]) -> f32 {
    let max = (side - 1) as f32;
    if !(q[0] >= 0.0 && q[1] >= 0.0 && q[0] <= max && q[1] <= max) {
        return 0.0;
    }
    let (x0, y0) = (q[0] as usize, q[1] as usize);
    let (x1, y1) = ((x0 + 1).min(side - 1), (y0 + 1).min(side - 1));
    let (fx, fy) = (q[0] - x0 as f32, q[1] - y0 as f32);
    let top = mask[y0 * side + x0] * (1.0 - fx) + mask[y0 * side + x1] * fx;
    let bot = mask[y1 * side + x0] * (1.0 - fx) + mask[y1 * side + x1] * fx;
    top * (1.0 - fy) + bot * fy
}

/// Blends `generated` (a crop, `to_crop` maps frame pixels into it) over
/// `frame`, weighted by `mask`. Pixels the crop does not cover keep the
/// frame.
pub fn paste(frame: &mut RgbImage, generated: &RgbImage, mask: &[f32], to_crop: Affine) {
    let side = generated.width() as usize;
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    // Only the crop's footprint can change: its corners, mapped back.
    let Some(to_frame) = super::crop::invert(&to_crop) else {
        return;
    };
    let s = side as f32;
    let corners = [[0.0, 0.0], [s, 0.0], [0.0, s], [s, s]].map(|c| apply(&to_frame, c));
    let lo = |a: usize| {
        corners
            .iter()
            .fold(f32::MAX, |m, c| m.min(c[a]))
            .floor()
            .max(0.0) as usize
    };
    let hi = |a: usize, n: usize| {
        (corners
            .iter()
            .fold(f32::MIN, |m, c| m.max(c[a]))
            .ceil()
            .max(0.0) as usize)
            .min(n)
    };
    let (x0, x1, y0, y1) = (lo(0), hi(0, w), lo(1), hi(1, h));
    let g = generated.as_raw();
    let stride = side * 3;
    let max = (side - 1) as f32;
    let mut px = [0u8; 3];
    for y in y0..y1 {
        for x in x0..x1 {
            let q = apply(&to_crop, [x as f32, y as f32]);
            let m = sample_mask(mask, side, q);
            if m <= 0.0 {
                continue;
            }
            sample_bilinear(g, stride, max, max, q[0], q[1], &mut px);
            let out = frame.get_pixel_mut(x as u32, y as u32);
            for (o, g) in out.0.iter_mut().zip(px) {
                *o = (f32::from(g) * m + f32::from(*o) * (1.0 - m)).round() as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_template_is_soft_and_centred() {
        let m = mask().expect("mask");
        let side = CROP_SIDE as usize;
        assert_eq!(m.len(), side * side);
        assert!(m[side / 2 * side + side / 2] > 0.99);
        assert!(m[0] < 0.01 && m[side * side - 1] < 0.01);
    }

    #[test]
    fn paste_changes_only_the_masked_crop() {
        let mut frame = RgbImage::from_pixel(300, 200, image::Rgb([10, 20, 30]));
        let generated = RgbImage::from_pixel(512, 512, image::Rgb([250, 240, 230]));
        let m = mask().expect("mask");
        // The crop covers frame (100..164, 50..114): 8 crop pixels a pixel.
        let to_crop = [8.0, 0.0, -800.0, 0.0, 8.0, -400.0];
        paste(&mut frame, &generated, &m, to_crop);
        assert_eq!(frame.get_pixel(132, 82).0, [250, 240, 230]);
        assert_eq!(frame.get_pixel(10, 10).0, [10, 20, 30]);
        assert_eq!(frame.get_pixel(200, 82).0, [10, 20, 30]);
        // The crop's corner is outside the mask: unchanged.
        assert_eq!(frame.get_pixel(100, 50).0, [10, 20, 30]);
    }

    #[test]
    fn network_input_is_nchw_and_scaled() {
        let photo = RgbImage::from_pixel(600, 600, image::Rgb([255, 0, 51]));
        let input = network_input(&photo, [1.0, 0.0, 40.0, 0.0, 1.0, 40.0]);
        let plane = 256 * 256;
        assert_eq!(input.len(), 3 * plane);
        assert!((input[0] - 1.0).abs() < 1e-6);
        assert!(input[plane].abs() < 1e-6);
        assert!((input[2 * plane + 999] - 0.2).abs() < 1e-6);
        assert!(to_image(&input[..10], 256).is_none());
    }
}
