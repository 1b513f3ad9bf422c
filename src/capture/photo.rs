//! Photo intake: checks an uploaded (or captured) photo from its header
//! before anything is decoded, then decodes it with memory limits and the
//! EXIF orientation applied.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits, RgbImage};

/// Largest photo accepted, in pixels (a 40 MP phone photo fits).
pub const MAX_PIXELS: u64 = 40_000_000;
/// Longest side accepted.
pub const MAX_SIDE: u32 = 12_000;
/// Shortest side that still animates into something worth paying for.
pub const MIN_SIDE: u32 = 128;
/// Long side / short side beyond which a "portrait" is a banner.
pub const MAX_ASPECT: f32 = 3.0;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhotoError {
    #[error("The upload was empty. Please choose a photo.")]
    Empty,
    #[error("That file isn't a photo we can read. Please use a JPEG, PNG or WebP image.")]
    NotAnImage,
    #[error("That photo seems damaged or incomplete. Please try another one.")]
    Corrupt(String),
    #[error(
        "That photo is too large ({width} × {height} pixels). Photos up to 40 megapixels work."
    )]
    TooLarge { width: u32, height: u32 },
    #[error("That photo is too small ({width} × {height} pixels). Please use one at least {MIN_SIDE} pixels on each side.")]
    TooSmall { width: u32, height: u32 },
    #[error("That photo is too long and narrow to animate. Please use a normal portrait or landscape photo.")]
    Shape { width: u32, height: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoInfo {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

impl PhotoInfo {
    /// File extension to store the original under.
    pub fn extension(&self) -> &'static str {
        match self.format {
            ImageFormat::Png => "png",
            ImageFormat::WebP => "webp",
            _ => "jpg",
        }
    }
}

fn reader(bytes: &[u8]) -> Result<ImageReader<Cursor<&[u8]>>, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| PhotoError::Corrupt(e.to_string()))?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP) => Ok(reader),
        _ => Err(PhotoError::NotAnImage),
    }
}

/// Reads only the header: format and size, checked against the limits.
pub fn inspect(bytes: &[u8]) -> Result<PhotoInfo, PhotoError> {
    let reader = reader(bytes)?;
    let format = reader.format().ok_or(PhotoError::NotAnImage)?;
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| PhotoError::Corrupt(e.to_string()))?;
    check_size(width, height)?;
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        // The JPEG decoder fills a cut-off image with grey instead of failing.
        return Err(PhotoError::Corrupt(
            "JPEG ends before its image data does".into(),
        ));
    }
    Ok(PhotoInfo {
        format,
        width,
        height,
    })
}

/// True when the JPEG's first scan is followed by an end-of-image marker.
/// Walks the marker segments so that an EXIF thumbnail's own end marker
/// (inside APP1, before the scan) does not count; entropy-coded data
/// cannot contain `FF D9`, so the first one after the scan starts is real.
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut i = 2;
    while i + 3 < bytes.len() {
        if bytes[i] != 0xFF {
            return false;
        }
        let marker = bytes[i + 1];
        match marker {
            0xFF => i += 1, // fill byte
            0xDA => return bytes[i..].windows(2).any(|w| w == [0xFF, 0xD9]),
            0x01 | 0xD0..=0xD7 => i += 2,
            _ => i += 2 + usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]])),
        }
    }
    false
}

/// Size rules, before any pixel is decoded.
pub fn check_size(width: u32, height: u32) -> Result<(), PhotoError> {
    if width.max(height) > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(PhotoError::TooLarge { width, height });
    }
    if width.min(height) < MIN_SIDE {
        return Err(PhotoError::TooSmall { width, height });
    }
    let aspect = width.max(height) as f32 / width.min(height) as f32;
    if aspect > MAX_ASPECT {
        return Err(PhotoError::Shape { width, height });
    }
    Ok(())
}

/// Decodes to 8-bit RGB with the EXIF orientation applied. Checks the
/// header first, and caps decoder memory, so a hostile file cannot balloon.
/// The most memory one photo's decoding may hold at once, counting every
/// copy: the decoded image, a rotated copy (EXIF orientation) and the
/// conversion to 8-bit RGB.
pub const MAX_DECODED_BYTES: u64 = 512 * 1024 * 1024;

/// What [`decode`] holds for a `width` × `height` image of `color`
/// turned by `orientation`: the decoded buffer, a second one when a
/// quarter turn is applied (flips and half turns work in place), and the
/// RGB copy unless it already is 8-bit RGB.
pub fn decoded_bytes(
    width: u32,
    height: u32,
    color: image::ColorType,
    orientation: image::metadata::Orientation,
) -> u64 {
    use image::metadata::Orientation::*;
    let pixels = u64::from(width) * u64::from(height);
    let decoded = pixels * u64::from(color.bytes_per_pixel());
    let turned = match orientation {
        Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH => decoded,
        _ => 0,
    };
    let rgb = if color == image::ColorType::Rgb8 {
        0
    } else {
        pixels * 3
    };
    decoded + turned + rgb
}

pub fn decode(bytes: &[u8]) -> Result<RgbImage, PhotoError> {
    let info = inspect(bytes)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    // 16-bit RGBA at the pixel limit, plus the decoder's working room.
    limits.max_alloc = Some(MAX_PIXELS * 8 + 64 * 1024 * 1024);
    let mut reader = reader(bytes)?;
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| PhotoError::Corrupt(e.to_string()))?;
    use image::ImageDecoder;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let (width, height) = decoder.dimensions();
    if decoded_bytes(width, height, decoder.color_type(), orientation) > MAX_DECODED_BYTES {
        return Err(PhotoError::TooLarge { width, height });
    }
    let mut image =
        DynamicImage::from_decoder(decoder).map_err(|e| PhotoError::Corrupt(e.to_string()))?;
    image.apply_orientation(orientation);
    let rgb = image.into_rgb8();
    // Orientation may swap the sides; the rules still hold.
    debug_assert_eq!(
        u64::from(rgb.width()) * u64::from(rgb.height()),
        u64::from(info.width) * u64::from(info.height)
    );
    Ok(rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decode_bound_counts_the_turned_and_the_converted_copy() {
        use image::metadata::Orientation::{NoTransforms, Rotate90};
        use image::ColorType::{Rgb16, Rgb8, Rgba16};
        let (w, h) = (5000, 8000);
        assert_eq!(decoded_bytes(w, h, Rgb8, NoTransforms), 120_000_000);
        assert_eq!(decoded_bytes(w, h, Rgb8, Rotate90), 240_000_000);
        assert_eq!(decoded_bytes(w, h, Rgb16, NoTransforms), 360_000_000);
        // 40 MP of 16-bit RGBA turned a quarter: 320 + 320 + 120 MB.
        assert!(decoded_bytes(w, h, Rgba16, Rotate90) > MAX_DECODED_BYTES);
        assert!(decoded_bytes(w, h, Rgb8, Rotate90) < MAX_DECODED_BYTES);
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(width, height, image::Rgb([200, 100, 50]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).expect("encode");
        out.into_inner()
    }

    #[test]
    fn refuses_what_is_not_a_usable_photo() {
        assert_eq!(inspect(b""), Err(PhotoError::Empty));
        assert_eq!(
            inspect(b"hello, I am a text file"),
            Err(PhotoError::NotAnImage)
        );
        assert!(matches!(
            inspect(&png(32, 32)),
            Err(PhotoError::TooSmall { .. })
        ));
        assert!(matches!(
            inspect(&png(1000, 200)),
            Err(PhotoError::Shape { .. })
        ));
        let ok = inspect(&png(300, 400)).expect("fine");
        assert_eq!((ok.width, ok.height, ok.extension()), (300, 400, "png"));
    }

    #[test]
    fn webp_and_16_bit_png_decode_to_rgb() {
        let img = RgbImage::from_pixel(160, 200, image::Rgb([10, 20, 30]));
        let mut webp = Cursor::new(Vec::new());
        img.write_to(&mut webp, ImageFormat::WebP)
            .expect("encode webp");
        let webp = webp.into_inner();
        assert_eq!(inspect(&webp).map(|i| i.extension()), Ok("webp"));
        assert_eq!(decode(&webp).expect("webp").get_pixel(5, 5).0, [10, 20, 30]);

        let deep = image::ImageBuffer::<image::Rgb<u16>, _>::from_pixel(
            150,
            150,
            image::Rgb([65535, 0, 32896]),
        );
        let mut png16 = Cursor::new(Vec::new());
        deep.write_to(&mut png16, ImageFormat::Png)
            .expect("encode png16");
        assert_eq!(
            decode(&png16.into_inner())
                .expect("png16")
                .get_pixel(0, 0)
                .0,
            [255, 0, 128]
        );
    }

    #[test]
    fn cut_off_jpeg_is_corrupt() {
        let img = RgbImage::from_fn(300, 300, |x, y| image::Rgb([x as u8, y as u8, 9]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Jpeg).expect("encode");
        let jpeg = out.into_inner();
        assert!(jpeg_is_complete(&jpeg));
        assert!(decode(&jpeg).is_ok());
        for keep in [jpeg.len() - 2, jpeg.len() / 2, 200, 3] {
            assert!(
                matches!(inspect(&jpeg[..keep]), Err(PhotoError::Corrupt(_))),
                "cut at {keep}"
            );
        }
        // Data appended after the end marker (phones do this) is fine.
        let mut trailer = jpeg.clone();
        trailer.extend_from_slice(&[0u8; 100]);
        assert!(inspect(&trailer).is_ok());
    }

    #[test]
    fn truncated_file_is_corrupt_not_a_panic() {
        let bytes = png(300, 300);
        let cut = &bytes[..bytes.len() / 2];
        assert!(matches!(decode(cut), Err(PhotoError::Corrupt(_))));
    }

    #[test]
    fn huge_header_is_refused_before_decoding() {
        // A valid PNG header claiming 100,000 × 100,000 pixels.
        let mut bytes = png(200, 200);
        bytes[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        // Fix the IHDR CRC so the header itself is well-formed.
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            inspect(&bytes),
            Err(PhotoError::TooLarge {
                width: 100_000,
                height: 100_000
            })
        );
        assert!(matches!(decode(&bytes), Err(PhotoError::TooLarge { .. })));
    }

    #[test]
    fn exif_orientation_is_applied() {
        // 300 wide, 200 high, left half red: stored as landscape, tagged
        // "rotate 90° clockwise" (orientation 6) as phones do.
        let img = RgbImage::from_fn(300, 200, |x, _| {
            if x < 150 {
                image::Rgb([255, 0, 0])
            } else {
                image::Rgb([0, 0, 255])
            }
        });
        let mut jpeg = Cursor::new(Vec::new());
        img.write_to(&mut jpeg, ImageFormat::Jpeg).expect("encode");
        let jpeg = jpeg.into_inner();
        let tiff: [u8; 26] = [
            b'M', b'M', 0, 42, 0, 0, 0, 8, // big-endian TIFF header, IFD at 8
            0, 1, // one entry
            0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, // Orientation = 6
            0, 0, 0, 0, // no next IFD
        ];
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend_from_slice(&(2 + 6 + tiff.len() as u16).to_be_bytes());
        app1.extend_from_slice(b"Exif\0\0");
        app1.extend_from_slice(&tiff);
        let mut tagged = jpeg[..2].to_vec();
        tagged.extend_from_slice(&app1);
        tagged.extend_from_slice(&jpeg[2..]);
        let rgb = decode(&tagged).expect("decodes");
        assert_eq!((rgb.width(), rgb.height()), (200, 300));
        // Rotated clockwise: the red left half is now on top.
        assert!(rgb.get_pixel(100, 20)[0] > 200 && rgb.get_pixel(100, 280)[2] > 200);
    }

    /// PNG's CRC-32 (IEEE), for building test headers.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
