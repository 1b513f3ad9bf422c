//! Image geometry: affine maps, bilinear sampling and resizing, shared by
//! the face models (crops) and the warping backends. Below both.

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
/// Weights are fixed point with 8 fractional bits, and rows are blended
/// first, each rounded to 8 bits (exact enough for 8-bit pixels, and the
/// arithmetic of [`Lanes`], which samples all three channels at once).
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
    let lerp = |a: u32, b: u32, w: u32| (a * (256 - w) + b * w + 128) >> 8;
    for c in 0..3 {
        let top = lerp(u32::from(s[i00 + c]), u32::from(s[i01 + c]), wx);
        let bot = lerp(u32::from(s[i10 + c]), u32::from(s[i11 + c]), wx);
        px[c] = lerp(top, bot, wy) as u8;
    }
}

/// An RGB image with each pixel spread over one `u64` (R, G and B in 16-bit
/// lanes), so a bilinear blend of all three channels is two multiplies and
/// an add per pair of pixels (SIMD within a register, no `unsafe`). Built
/// once per photo; warps that sample every pixel of every frame read it.
pub struct Lanes {
    px: Vec<u64>,
    width: usize,
    /// Last pixel coordinates, in 16.16 fixed point.
    max_fx: [i32; 2],
    /// Last column/row that has a right/lower neighbour.
    last_pair: [i32; 2],
}

const LANE_MASK: u64 = 0x00FF_00FF_00FF;
const LANE_HALF: u64 = 0x0080_0080_0080;

#[inline(always)]
fn lerp_lanes(a: u64, b: u64, w: u64) -> u64 {
    // Each lane: a·(256−w) + b·w + 128 ≤ 255·256 + 128 < 2¹⁶, so no carry
    // crosses into the next lane.
    ((a * (256 - w) + b * w + LANE_HALF) >> 8) & LANE_MASK
}

impl Lanes {
    /// `None` for images narrower or lower than 2 pixels (or wider than
    /// fixed point can address), which callers sample with
    /// [`sample_bilinear`].
    pub fn new(img: &RgbImage) -> Option<Self> {
        let (w, h) = (img.width() as usize, img.height() as usize);
        if w < 2 || h < 2 || w > 30_000 || h > 30_000 {
            return None;
        }
        let px = img
            .as_raw()
            .chunks_exact(3)
            .map(|p| u64::from(p[0]) | u64::from(p[1]) << 16 | u64::from(p[2]) << 32)
            .collect();
        Some(Self {
            px,
            width: w,
            max_fx: [((w - 1) as i32) << 16, ((h - 1) as i32) << 16],
            last_pair: [(w - 2) as i32, (h - 2) as i32],
        })
    }

    /// Converts a source position to clamped 16.16 fixed point.
    #[inline(always)]
    pub fn fixed(v: f32) -> i32 {
        (v.clamp(-30_000.0, 30_000.0) * 65536.0) as i32
    }

    /// The bilinear sample at fixed-point (`sx`, `sy`), clamped to the edge;
    /// identical to [`sample_bilinear`] at the same 8-bit weights.
    #[inline(always)]
    pub fn sample_fixed(&self, sx: i32, sy: i32, px: &mut [u8]) {
        let cx = sx.clamp(0, self.max_fx[0]);
        let cy = sy.clamp(0, self.max_fx[1]);
        // At the last column (row) the far pixel's weight is zero; one pixel
        // back with full weight reads the same value.
        let x0 = (cx >> 16).min(self.last_pair[0]);
        let y0 = (cy >> 16).min(self.last_pair[1]);
        let wx = ((cx - (x0 << 16)) >> 8) as u64;
        let wy = ((cy - (y0 << 16)) >> 8) as u64;
        self.blend(y0 as usize * self.width + x0 as usize, wx, wy, px);
    }

    /// Samples a run of output pixels whose source positions start at
    /// fixed-point (`sx`, `sy`) and advance by (`dx`, `dy`) per pixel (a
    /// warp that is linear along the run).
    pub fn run(&self, sx: i32, sy: i32, dx: i32, dy: i32, out: &mut [u8]) {
        let last = (out.len() / 3).saturating_sub(1) as i64;
        let inside = |s: i32, d: i32, max: i32| {
            let end = i64::from(s) + i64::from(d) * last;
            // Strictly below the last pixel, so the far neighbour exists
            // and no clamp is needed anywhere along the (linear) run.
            s >= 0 && s < max && end >= 0 && end < i64::from(max)
        };
        if inside(sx, dx, self.max_fx[0]) && inside(sy, dy, self.max_fx[1]) {
            self.run_inside(sx, sy, dx, dy, out);
            return;
        }
        let (mut sx, mut sy) = (sx, sy);
        for px in out.chunks_exact_mut(3) {
            self.sample_fixed(sx, sy, px);
            sx = sx.saturating_add(dx);
            sy = sy.saturating_add(dy);
        }
    }

    /// [`Lanes::run`] for a run known to stay clear of the last row and
    /// column: no clamping, no overflow, the same samples.
    fn run_inside(&self, mut sx: i32, mut sy: i32, dx: i32, dy: i32, out: &mut [u8]) {
        for px in out.chunks_exact_mut(3) {
            let (x0, y0) = ((sx >> 16) as usize, (sy >> 16) as usize);
            let (wx, wy) = (((sx >> 8) & 0xFF) as u64, ((sy >> 8) & 0xFF) as u64);
            self.blend(y0 * self.width + x0, wx, wy, px);
            sx += dx;
            sy += dy;
        }
    }

    #[inline(always)]
    fn blend(&self, at: usize, wx: u64, wy: u64, px: &mut [u8]) {
        let w = self.width;
        // One range check covers all four neighbours.
        let Some(quad) = self.px.get(at..at + w + 2) else {
            return;
        };
        let v = lerp_lanes(
            lerp_lanes(quad[0], quad[1], wx),
            lerp_lanes(quad[w], quad[w + 1], wx),
            wy,
        );
        px[0] = v as u8;
        px[1] = (v >> 16) as u8;
        px[2] = (v >> 32) as u8;
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

/// The bounding box (x0, y0, x1, y1) of `points`.
pub fn bounds(points: impl IntoIterator<Item = [f32; 2]>) -> [f32; 4] {
    points
        .into_iter()
        .fold([f32::MAX, f32::MAX, f32::MIN, f32::MIN], |b, p| {
            [
                b[0].min(p[0]),
                b[1].min(p[1]),
                b[2].max(p[0]),
                b[3].max(p[1]),
            ]
        })
}

/// The bounding box of the rectangle `u0..u1` × `v0..v1` laid out from
/// `origin` along the (unit) axes `u` and `v`.
pub fn rect_bounds(
    origin: [f32; 2],
    u: [f32; 2],
    v: [f32; 2],
    us: [f32; 2],
    vs: [f32; 2],
) -> [f32; 4] {
    bounds(
        [
            [us[0], vs[0]],
            [us[1], vs[0]],
            [us[0], vs[1]],
            [us[1], vs[1]],
        ]
        .map(|[a, b]| {
            [
                origin[0] + a * u[0] + b * v[0],
                origin[1] + a * u[1] + b * v[1],
            ]
        }),
    )
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
    fn lanes_agree_with_the_scalar_sampler() {
        let src = RgbImage::from_fn(23, 17, |x, y| {
            image::Rgb([(x * 11 % 256) as u8, (y * 15) as u8, ((x * y) % 256) as u8])
        });
        let lanes = Lanes::new(&src).expect("big enough");
        let (stride, mx, my) = (23 * 3, 22.0, 16.0);
        for k in 0..2000u32 {
            // Positions on the 8-bit weight grid, inside and beyond the edges.
            let sx = (k * 37 % 6400) as f32 / 256.0 - 1.0;
            let sy = (k * 53 % 4900) as f32 / 256.0 - 1.0;
            let (mut a, mut b) = ([0u8; 3], [0u8; 3]);
            sample_bilinear(src.as_raw(), stride, mx, my, sx, sy, &mut a);
            lanes.sample_fixed(Lanes::fixed(sx), Lanes::fixed(sy), &mut b);
            assert_eq!(a, b, "at ({sx}, {sy})");
        }
        assert!(Lanes::new(&RgbImage::new(1, 40)).is_none());
    }

    #[test]
    fn runs_agree_with_single_samples_inside_and_across_the_edges() {
        let src = RgbImage::from_fn(31, 19, |x, y| {
            image::Rgb([
                (x * 7 % 256) as u8,
                (y * 13) as u8,
                ((x + y) * 5 % 256) as u8,
            ])
        });
        let lanes = Lanes::new(&src).expect("big enough");
        // Runs wholly inside, ending on the last column, starting before
        // the first row, and steep enough to cross the image.
        let runs = [
            (3.3, 2.7, 0.9, 0.05, 12),
            (20.0, 10.5, 1.0, 0.0, 11),
            (25.2, -1.5, 0.5, 0.4, 9),
            (-2.0, 17.6, 3.0, -2.1, 14),
            (0.0, 0.0, 1.0, 1.0, 18),
        ];
        for (x, y, dx, dy, n) in runs {
            let (sx, sy) = (Lanes::fixed(x), Lanes::fixed(y));
            let (stx, sty) = (Lanes::fixed(dx), Lanes::fixed(dy));
            let mut got = vec![0u8; n * 3];
            lanes.run(sx, sy, stx, sty, &mut got);
            for (k, px) in got.chunks_exact(3).enumerate() {
                let k = k as i32;
                let mut want = [0u8; 3];
                lanes.sample_fixed(sx + stx * k, sy + sty * k, &mut want);
                assert_eq!(px, want, "run from ({x}, {y}) step ({dx}, {dy}) pixel {k}");
            }
        }
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
