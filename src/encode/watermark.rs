//! The preview's watermark: the configured text tiled diagonally across
//! the whole frame, light text with a dark rim so it shows on any photo,
//! visible enough that a screen recording of the preview is not the product.

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};

use image::RgbImage;

/// DejaVu Sans Bold (free license, in `kiosk-ui/fonts/`).
pub static FONT: &[u8] = include_bytes!("../../kiosk-ui/fonts/DejaVuSans-Bold.ttf");

const ANGLE_DEG: f32 = -28.0;
/// 0..256 strength of the light text and of the dark rim.
const TEXT_STRENGTH: u32 = 120;
const RIM_STRENGTH: u32 = 90;

/// A precomputed overlay for one frame size.
pub struct Watermark {
    width: u32,
    height: u32,
    /// Per pixel: (text coverage, rim coverage), each 0..=255.
    mask: Vec<[u8; 2]>,
}

impl Watermark {
    pub fn new(text: &str, width: u32, height: u32) -> Self {
        let tile = Tile::render(text, (width.min(height) as f32 / 13.0).max(12.0));
        let (sin, cos) = ANGLE_DEG.to_radians().sin_cos();
        let mut mask = Vec::with_capacity(width as usize * height as usize);
        for y in 0..height {
            for x in 0..width {
                let (x, y) = (x as f32, y as f32);
                let u = x * cos + y * sin;
                let v = -x * sin + y * cos;
                let row = (v / tile.height as f32).floor();
                // Every other row shifted half a tile: a brick pattern has no
                // clean stripe to crop along.
                let u = u + row * tile.width as f32 / 2.0;
                let tx = u.rem_euclid(tile.width as f32) as u32;
                let ty = v.rem_euclid(tile.height as f32) as u32;
                mask.push(tile.at(tx, ty));
            }
        }
        Self {
            width,
            height,
            mask,
        }
    }

    /// Burns the watermark into a frame of the size given to [`Watermark::new`].
    pub fn apply(&self, frame: &mut RgbImage) {
        debug_assert_eq!(frame.dimensions(), (self.width, self.height));
        for (px, &[text, rim]) in frame.chunks_exact_mut(3).zip(&self.mask) {
            if text == 0 && rim == 0 {
                continue;
            }
            let dark = 256 - ((u32::from(rim) * RIM_STRENGTH) >> 8);
            let light = (u32::from(text) * TEXT_STRENGTH) >> 8;
            for c in px.iter_mut() {
                let v = (u32::from(*c) * dark) >> 8;
                *c = (v + (((255 - v) * light) >> 8)) as u8;
            }
        }
    }

    /// Fraction of the frame the text covers (for tests and tuning).
    pub fn coverage(&self) -> f32 {
        let covered = self.mask.iter().filter(|m| m[0] > 128).count();
        covered as f32 / self.mask.len().max(1) as f32
    }
}

struct Tile {
    width: u32,
    height: u32,
    cells: Vec<[u8; 2]>,
}

impl Tile {
    fn render(text: &str, px: f32) -> Self {
        let Ok(font) = FontRef::try_from_slice(FONT) else {
            unreachable!("the bundled font is a valid TrueType file");
        };
        let scaled = font.as_scaled(PxScale::from(px));
        let rim = (px / 10.0).ceil().max(1.0) as i32;
        let mut glyphs = Vec::new();
        let mut caret = px; // left margin
        let mut prev = None;
        for ch in text.chars() {
            let id = scaled.glyph_id(ch);
            if let Some(p) = prev {
                caret += scaled.kern(p, id);
            }
            glyphs.push(id.with_scale_and_position(px, point(caret, px * 0.5 + scaled.ascent())));
            caret += scaled.h_advance(id);
            prev = Some(id);
        }
        let width = (caret + px * 1.5) as u32;
        let height = (px * 2.6) as u32;
        let mut coverage = vec![0u8; (width * height) as usize];
        for g in glyphs {
            if let Some(outline) = font.outline_glyph(g) {
                let b = outline.px_bounds();
                outline.draw(|x, y, c| {
                    let (x, y) = (b.min.x as i32 + x as i32, b.min.y as i32 + y as i32);
                    if (0..width as i32).contains(&x) && (0..height as i32).contains(&y) {
                        let i = (y as u32 * width + x as u32) as usize;
                        coverage[i] = coverage[i].max((c * 255.0) as u8);
                    }
                });
            }
        }
        // The rim is the text grown by `rim` pixels (a square max filter).
        let at = |x: i32, y: i32| -> u8 {
            if (0..width as i32).contains(&x) && (0..height as i32).contains(&y) {
                coverage[(y as u32 * width + x as u32) as usize]
            } else {
                0
            }
        };
        let mut cells = Vec::with_capacity(coverage.len());
        for y in 0..height as i32 {
            for x in 0..width as i32 {
                let mut grown = 0u8;
                for dy in -rim..=rim {
                    for dx in -rim..=rim {
                        grown = grown.max(at(x + dx, y + dy));
                    }
                }
                cells.push([at(x, y), grown]);
            }
        }
        Self {
            width,
            height,
            cells,
        }
    }

    fn at(&self, x: u32, y: u32) -> [u8; 2] {
        self.cells[(y.min(self.height - 1) * self.width + x.min(self.width - 1)) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_covers_the_whole_frame_visibly() {
        let wm = Watermark::new("SmileLoop preview", 720, 540);
        let cov = wm.coverage();
        assert!((0.04..0.5).contains(&cov), "text covers {cov}");
        // Tiled: every quarter of the frame carries text.
        for (qx, qy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let mut hits = 0;
            for y in qy * 270..(qy + 1) * 270 {
                for x in qx * 360..(qx + 1) * 360 {
                    if wm.mask[(y * 720 + x) as usize][0] > 128 {
                        hits += 1;
                    }
                }
            }
            assert!(hits > 500, "quarter ({qx},{qy}) has {hits} text pixels");
        }
    }

    #[test]
    fn shows_on_black_and_on_white() {
        let wm = Watermark::new("SmileLoop", 200, 200);
        for base in [0u8, 128, 255] {
            let mut frame = RgbImage::from_pixel(200, 200, image::Rgb([base; 3]));
            wm.apply(&mut frame);
            let changed = frame
                .pixels()
                .filter(|p| p.0[0].abs_diff(base) > 30)
                .count();
            assert!(changed > 400, "on {base}: {changed} pixels visibly marked");
        }
    }
}
