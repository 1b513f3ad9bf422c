//! The QR code a guest scans: the short guest URL, error correction M, the
//! standard 4-module quiet zone. The kiosk page shows the SVG at least
//! 8 cm wide, which keeps a module above 1.5 mm for a version-4 code:
//! readable by phone cameras from about a metre.

use image::{ImageEncoder, Luma};
use qrcode::{EcLevel, QrCode};

/// Pixels per module in the PNG (for printing at 300 dpi: ~0.85 mm).
pub const PNG_MODULE_PX: u32 = 10;
pub const QUIET_ZONE_MODULES: u32 = 4;

#[derive(Debug, thiserror::Error)]
#[error("the guest URL does not fit in a QR code: {0}")]
pub struct QrError(String);

fn code(url: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| QrError(e.to_string()))
}

/// Scalable vector image; black modules on white, crisp edges.
pub fn svg(url: &str) -> Result<String, QrError> {
    Ok(code(url)?
        .render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(8, 8)
        .build())
}

/// PNG for print, [`PNG_MODULE_PX`] pixels a module.
pub fn png(url: &str) -> Result<Vec<u8>, QrError> {
    let img = code(url)?
        .render::<Luma<u8>>()
        .quiet_zone(true)
        .module_dimensions(PNG_MODULE_PX, PNG_MODULE_PX)
        .build();
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::L8,
        )
        .map_err(|e| QrError(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://kiosk.example.com/g/0123456789abcdef0123456789abcdef";

    #[test]
    fn png_has_the_quiet_zone_and_module_size() {
        let bytes = png(URL).expect("fits");
        let img = image::load_from_memory(&bytes).expect("png").to_luma8();
        let modules = code(URL).expect("fits").width() as u32;
        let side = (modules + 2 * QUIET_ZONE_MODULES) * PNG_MODULE_PX;
        assert_eq!(img.dimensions(), (side, side));
        let qz = QUIET_ZONE_MODULES * PNG_MODULE_PX;
        // The quiet zone is white all round; the finder pattern starts black.
        for i in 0..side {
            for j in 0..qz {
                assert_eq!(img.get_pixel(i, j)[0], 255);
                assert_eq!(img.get_pixel(j, i)[0], 255);
            }
        }
        assert_eq!(img.get_pixel(qz, qz)[0], 0);
        assert!(modules <= 37, "a short URL stays a small code (v5 or less)");
    }

    #[test]
    fn svg_is_an_svg_document() {
        let s = svg(URL).expect("fits");
        assert!(s.contains("<svg") && s.contains("</svg>"));
    }
}
