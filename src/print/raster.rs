//! The raster documents IPP Everywhere and AirPrint printers take: PWG
//! Raster (`image/pwg-raster`, PWG 5102.4) and Apple's URF
//! (`image/urf`). Both compress each line the same way: a repeat count
//! for the line, then runs of one repeated pixel or of literal pixels.

use image::RgbImage;

/// How pixels are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// 8-bit sRGB (`srgb_8`, URF `SRGB24`).
    Srgb8,
    /// 8-bit grey (`sgray_8`, URF `W8`).
    Sgray8,
}

impl Colour {
    fn bytes_per_pixel(self) -> usize {
        match self {
            Colour::Srgb8 => 3,
            Colour::Sgray8 => 1,
        }
    }
}

/// The page's pixels in `colour`, row by row.
fn pixels(page: &RgbImage, colour: Colour) -> Vec<u8> {
    match colour {
        Colour::Srgb8 => page.as_raw().clone(),
        Colour::Sgray8 => page
            .pixels()
            .map(|p| {
                let [r, g, b] = p.0.map(u32::from);
                ((r * 299 + g * 587 + b * 114) / 1000) as u8
            })
            .collect(),
    }
}

/// One page's lines in the shared run-length scheme.
fn compress(data: &[u8], width: usize, bpp: usize, out: &mut Vec<u8>) {
    let line_len = width * bpp;
    let lines: Vec<&[u8]> = data.chunks_exact(line_len).collect();
    let mut y = 0;
    while y < lines.len() {
        // Identical following lines ride on one (up to 256 in all).
        let mut repeat = 0;
        while repeat < 255 && y + repeat + 1 < lines.len() && lines[y + repeat + 1] == lines[y] {
            repeat += 1;
        }
        out.push(repeat as u8);
        compress_line(lines[y], bpp, out);
        y += repeat + 1;
    }
}

fn compress_line(line: &[u8], bpp: usize, out: &mut Vec<u8>) {
    let px: Vec<&[u8]> = line.chunks_exact(bpp).collect();
    let mut x = 0;
    while x < px.len() {
        let mut run = 1;
        while run < 128 && x + run < px.len() && px[x + run] == px[x] {
            run += 1;
        }
        if run > 1 {
            out.push((run - 1) as u8);
            out.extend_from_slice(px[x]);
            x += run;
            continue;
        }
        // Literal pixels up to the next pair of equal ones (2 to 128; a
        // single pixel is a run of one).
        let start = x;
        x += 1;
        while x < px.len() && x - start < 128 && !(x + 1 < px.len() && px[x + 1] == px[x]) {
            x += 1;
        }
        let n = x - start;
        out.push(if n == 1 { 0 } else { (257 - n) as u8 });
        for p in &px[start..x] {
            out.extend_from_slice(p);
        }
    }
}

/// A one-page PWG Raster document of `page` at `dpi`.
pub fn pwg(page: &RgbImage, dpi: u32, colour: Colour) -> Vec<u8> {
    let (w, h) = page.dimensions();
    let bpp = colour.bytes_per_pixel();
    let mut out = Vec::with_capacity(4 + 1796 + page.as_raw().len() / 4);
    out.extend_from_slice(b"RaS2");
    let mut head = [0u8; 1796];
    let put_str = |head: &mut [u8; 1796], at: usize, s: &str| {
        head[at..at + s.len()].copy_from_slice(s.as_bytes());
    };
    let put = |head: &mut [u8; 1796], at: usize, v: u32| {
        head[at..at + 4].copy_from_slice(&v.to_be_bytes());
    };
    put_str(&mut head, 0, "PwgRaster");
    put_str(&mut head, 64, "");
    put(&mut head, 276, dpi); // HWResolution
    put(&mut head, 280, dpi);
    // PageSize in points.
    put(&mut head, 352, w * 72 / dpi);
    put(&mut head, 356, h * 72 / dpi);
    put(&mut head, 372, w); // Width
    put(&mut head, 376, h); // Height
    put(&mut head, 384, 8); // BitsPerColor
    put(&mut head, 388, 8 * bpp as u32); // BitsPerPixel
    put(&mut head, 392, w * bpp as u32); // BytesPerLine
    put(&mut head, 396, 0); // ColorOrder: chunky
    put(
        &mut head,
        400,
        match colour {
            Colour::Srgb8 => 19,  // sRGB
            Colour::Sgray8 => 18, // sGray
        },
    );
    put(&mut head, 420, bpp as u32); // NumColors
    put(&mut head, 452, 1); // TotalPageCount
    put(&mut head, 456, 1); // CrossFeedTransform
    put(&mut head, 460, 1); // FeedTransform
                            // ImageBox: the whole page (borderless when the media is).
    put(&mut head, 472, w);
    put(&mut head, 476, h);
    put_str(&mut head, 1732, "");
    out.extend_from_slice(&head);
    compress(&pixels(page, colour), w as usize, bpp, &mut out);
    out
}

/// A one-page URF document of `page` at `dpi`.
pub fn urf(page: &RgbImage, dpi: u32, colour: Colour) -> Vec<u8> {
    let (w, h) = page.dimensions();
    let bpp = colour.bytes_per_pixel();
    let mut out = Vec::with_capacity(12 + 32 + page.as_raw().len() / 4);
    out.extend_from_slice(b"UNIRAST\0");
    out.extend_from_slice(&1u32.to_be_bytes()); // pages
    out.push(8 * bpp as u8); // bits per pixel
    out.push(match colour {
        Colour::Srgb8 => 1,
        Colour::Sgray8 => 4,
    });
    out.push(0); // duplex: none
    out.push(4); // quality: normal
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&w.to_be_bytes());
    out.extend_from_slice(&h.to_be_bytes());
    out.extend_from_slice(&dpi.to_be_bytes());
    out.extend_from_slice(&[0u8; 8]);
    compress(&pixels(page, colour), w as usize, bpp, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Undoes [`compress`], as a printer reads it.
    fn expand(mut data: &[u8], width: usize, bpp: usize, height: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while out.len() < width * bpp * height {
            let repeat = data[0] as usize + 1;
            data = &data[1..];
            let mut line = Vec::new();
            while line.len() < width * bpp {
                let n = data[0];
                data = &data[1..];
                if n < 128 {
                    for _ in 0..=n {
                        line.extend_from_slice(&data[..bpp]);
                    }
                    data = &data[bpp..];
                } else {
                    let count = 257 - n as usize;
                    line.extend_from_slice(&data[..count * bpp]);
                    data = &data[count * bpp..];
                }
            }
            for _ in 0..repeat {
                out.extend_from_slice(&line);
            }
        }
        assert!(data.is_empty(), "nothing after the last line");
        out
    }

    fn sample() -> RgbImage {
        // Flat areas, noise and repeated lines: every kind of run.
        let mut rng = 7u32;
        RgbImage::from_fn(301, 40, |x, y| {
            rng = rng.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            match (x, y) {
                (_, 0..=9) => image::Rgb([255, 255, 255]),
                (0..=99, _) => image::Rgb([10, 20, 30]),
                _ => image::Rgb([(rng >> 16) as u8, (rng >> 8) as u8, x as u8]),
            }
        })
    }

    #[test]
    fn pwg_pages_read_back_exactly() {
        let page = sample();
        let doc = pwg(&page, 300, Colour::Srgb8);
        assert_eq!(&doc[..4], b"RaS2");
        let be = |at: usize| u32::from_be_bytes(doc[4 + at..8 + at].try_into().expect("4"));
        assert_eq!((be(372), be(376), be(276)), (301, 40, 300));
        assert_eq!(expand(&doc[1800..], 301, 3, 40), page.as_raw().as_slice());
        let grey = pwg(&page, 300, Colour::Sgray8);
        assert_eq!(expand(&grey[1800..], 301, 1, 40).len(), 301 * 40);
    }

    #[test]
    fn urf_pages_read_back_exactly() {
        let page = sample();
        let doc = urf(&page, 300, Colour::Srgb8);
        assert_eq!(&doc[..8], b"UNIRAST\0");
        assert_eq!(expand(&doc[44..], 301, 3, 40), page.as_raw().as_slice());
    }

    #[test]
    fn flat_pages_shrink_to_almost_nothing() {
        let white = RgbImage::from_pixel(1200, 1800, image::Rgb([255, 255, 255]));
        assert!(pwg(&white, 300, Colour::Srgb8).len() < 1800 + 1000);
    }
}
