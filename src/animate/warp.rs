//! Pixel sampling shared by the warping backends.

use image::RgbImage;

/// Affine map from output pixel (x, y) to source position:
/// `sx = m[0]·x + m[1]·y + m[2]`, `sy = m[3]·x + m[4]·y + m[5]`.
pub type Affine = [f32; 6];

/// Resamples `src` into `dst` through `m` with bilinear filtering; source
/// positions outside the image clamp to its edge.
pub fn warp_affine(src: &RgbImage, dst: &mut RgbImage, m: Affine) {
    let dw = dst.width() as usize;
    let stride = src.width() as usize * 3;
    let s = src.as_raw();
    let max_x = (src.width() - 1) as f32;
    let max_y = (src.height() - 1) as f32;
    for (y, row) in dst.chunks_exact_mut(dw * 3).enumerate() {
        let y = y as f32;
        let mut sx = m[1] * y + m[2];
        let mut sy = m[4] * y + m[5];
        for px in row.chunks_exact_mut(3) {
            sample_bilinear(s, stride, max_x, max_y, sx, sy, px);
            sx += m[0];
            sy += m[3];
        }
    }
}

/// Bilinear sample of an RGB buffer (`stride` bytes a row, last pixel at
/// `max_x`, `max_y`) at (`sx`, `sy`), clamped to the edge, into `px`.
/// Weights are fixed point with 8 fractional bits: exact enough for 8-bit
/// pixels and much faster than float per channel.
#[inline]
pub fn sample_bilinear(
    s: &[u8],
    stride: usize,
    max_x: f32,
    max_y: f32,
    sx: f32,
    sy: f32,
    px: &mut [u8],
) {
    let fx = sx.clamp(0.0, max_x);
    let fy = sy.clamp(0.0, max_y);
    let (x0, y0) = (fx as usize, fy as usize);
    let x1 = (x0 + 1).min(max_x as usize);
    let y1 = (y0 + 1).min(max_y as usize);
    let wx = ((fx - x0 as f32) * 256.0) as u32;
    let wy = ((fy - y0 as f32) * 256.0) as u32;
    let (i00, i01) = (y0 * stride + x0 * 3, y0 * stride + x1 * 3);
    let (i10, i11) = (y1 * stride + x0 * 3, y1 * stride + x1 * 3);
    for c in 0..3 {
        let top = u32::from(s[i00 + c]) * (256 - wx) + u32::from(s[i01 + c]) * wx;
        let bot = u32::from(s[i10 + c]) * (256 - wx) + u32::from(s[i11 + c]) * wx;
        px[c] = ((top * (256 - wy) + bot * wy + (1 << 15)) >> 16) as u8;
    }
}

/// High-quality resampling with a reusable working buffer (one per
/// render: the preview path scales every frame).
pub struct Scaler {
    resizer: fast_image_resize::Resizer,
    options: fast_image_resize::ResizeOptions,
}

impl Default for Scaler {
    fn default() -> Self {
        use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions};
        Self {
            resizer: fast_image_resize::Resizer::new(),
            options: ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3)),
        }
    }
}

impl Scaler {
    /// Scales `src` to fill `dst` (aspect is the caller's business).
    pub fn scale_into(&mut self, src: &RgbImage, dst: &mut RgbImage) {
        use fast_image_resize::images::{Image, ImageRef};
        use fast_image_resize::PixelType;
        if src.dimensions() == dst.dimensions() {
            dst.copy_from_slice(src.as_raw());
            return;
        }
        let (dw, dh) = dst.dimensions();
        let (Ok(from), Ok(mut to)) = (
            ImageRef::new(src.width(), src.height(), src.as_raw(), PixelType::U8x3),
            Image::from_slice_u8(dw, dh, dst.as_mut(), PixelType::U8x3),
        ) else {
            unreachable!("RgbImage buffers always match their dimensions");
        };
        if self.resizer.resize(&from, &mut to, &self.options).is_err() {
            unreachable!("same pixel type, non-empty images");
        }
    }

    pub fn scale(&mut self, src: &RgbImage, width: u32, height: u32) -> RgbImage {
        let mut dst = RgbImage::new(width, height);
        self.scale_into(src, &mut dst);
        dst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 4) as u8, (y * 4) as u8, 77]))
    }

    #[test]
    fn scaler_keeps_flat_colour_and_size() {
        let src = RgbImage::from_pixel(64, 48, image::Rgb([10, 200, 30]));
        let out = Scaler::default().scale(&src, 17, 9);
        assert_eq!(out.dimensions(), (17, 9));
        assert!(out.pixels().all(|p| p.0 == [10, 200, 30]));
    }

    #[test]
    fn identity_copies_exactly() {
        let src = gradient(40, 30);
        let mut dst = RgbImage::new(40, 30);
        warp_affine(&src, &mut dst, [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        assert_eq!(src, dst);
    }

    #[test]
    fn half_pixel_shift_interpolates_and_edges_clamp() {
        let src = gradient(40, 30);
        let mut dst = RgbImage::new(40, 30);
        warp_affine(&src, &mut dst, [1.0, 0.0, 0.5, 0.0, 1.0, -3.0]);
        // x: halfway between 4·10 and 4·11.
        assert_eq!(dst.get_pixel(10, 10)[0], 42);
        // y shifted up by 3, clamped to row 0 at the top.
        assert_eq!(dst.get_pixel(10, 13)[1], 40);
        assert_eq!(dst.get_pixel(10, 0)[1], 0);
        assert_eq!(dst.get_pixel(39, 5)[0], 156, "right edge clamps");
    }
}
