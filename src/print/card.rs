//! The keepsake card: the loop's best frame, the event's name and date,
//! and the guest page's QR code with one line saying what it is for, in
//! the kiosk's language, laid out at the printer's 300 dpi on 4 × 6 in
//! paper (a 6 × 4 card is laid out across and turned; 2 × 6 strips come
//! two to a sheet).

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use image::imageops::FilterType;
use image::{Rgb, RgbImage};
use qrcode::{EcLevel, QrCode};

use crate::config::PrintLayout;
use crate::encode::{Watermark, FONT};

/// Dots per inch the card is laid out at.
pub const DPI: u32 = 300;
/// The paper every layout uses, in PWG's name.
pub const MEDIA: &str = "na_index-4x6_4x6in";
/// The sheet, portrait: 4 × 6 in at [`DPI`].
pub const SHEET: (u32, u32) = (4 * DPI, 6 * DPI);
/// A QR code this wide (≈ 0.7 mm a module for a guest URL) scans from
/// 30 cm with any phone.
const QR_PX: u32 = 360;

const PAPER: Rgb<u8> = Rgb([255, 255, 255]);
const INK: Rgb<u8> = Rgb([20, 20, 24]);
const SOFT_INK: Rgb<u8> = Rgb([90, 90, 96]);

/// What goes on a card.
pub struct CardText<'a> {
    pub event_name: &'a str,
    /// Already in words, e.g. "1 December 2026".
    pub date: &'a str,
    /// "Scan to watch and download your video", in the kiosk's language.
    pub scan_line: &'a str,
    pub guest_url: &'a str,
}

#[derive(Debug, thiserror::Error)]
#[error("the guest URL does not fit in a QR code: {0}")]
pub struct CardError(String);

/// The one line under the QR code, in `language` (`en` when unknown).
pub fn scan_line(language: &str) -> &'static str {
    match language {
        "de" => "Scannen, um dein Video anzusehen und herunterzuladen",
        "fr" => "Scannez pour regarder et télécharger votre vidéo",
        "es" => "Escanea para ver y descargar tu vídeo",
        _ => "Scan to watch and download your video",
    }
}

/// A date as a guest reads it in `language`.
pub fn date_words(date: time::Date, language: &str) -> String {
    let month = date.month() as usize - 1;
    let names: [&str; 12] = match language {
        "de" => [
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ],
        "fr" => [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ],
        "es" => [
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ],
        _ => [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
    };
    match language {
        "de" => format!("{}. {} {}", date.day(), names[month], date.year()),
        "es" => format!("{} de {} de {}", date.day(), names[month], date.year()),
        _ => format!("{} {} {}", date.day(), names[month], date.year()),
    }
}

/// The printed sheet (portrait, [`SHEET`] pixels). `watermark` is burnt
/// into the photo when the video is not yet paid for.
pub fn render(
    photo: &RgbImage,
    text: &CardText<'_>,
    layout: PrintLayout,
    watermark: Option<&str>,
) -> Result<RgbImage, CardError> {
    let qr = qr(text.guest_url)?;
    let sheet = match layout {
        PrintLayout::Portrait4x6 => portrait(photo, text, &qr, watermark, SHEET),
        PrintLayout::Landscape6x4 => {
            let across = landscape(photo, text, &qr, watermark, (SHEET.1, SHEET.0));
            image::imageops::rotate90(&across)
        }
        PrintLayout::Strip2x6 => {
            let strip = portrait(photo, text, &qr, watermark, (SHEET.0 / 2, SHEET.1));
            let mut sheet = RgbImage::from_pixel(SHEET.0, SHEET.1, PAPER);
            image::imageops::replace(&mut sheet, &strip, 0, 0);
            image::imageops::replace(&mut sheet, &strip, i64::from(SHEET.0 / 2), 0);
            sheet
        }
    };
    Ok(sheet)
}

fn qr(url: &str) -> Result<RgbImage, CardError> {
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)
        .map_err(|e| CardError(e.to_string()))?;
    let modules = code.width() as u32 + 8;
    let module = (QR_PX / modules).max(4);
    let img = code
        .render::<image::Luma<u8>>()
        .quiet_zone(true)
        .module_dimensions(module, module)
        .build();
    Ok(image::DynamicImage::ImageLuma8(img).to_rgb8())
}

/// The photo scaled to cover `w` × `h` and cut to it, centred.
fn cover(photo: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (pw, ph) = photo.dimensions();
    let scale = (w as f32 / pw as f32).max(h as f32 / ph as f32);
    let (sw, sh) = (
        ((pw as f32 * scale).ceil() as u32).max(w),
        ((ph as f32 * scale).ceil() as u32).max(h),
    );
    let scaled = image::imageops::resize(photo, sw, sh, FilterType::CatmullRom);
    image::imageops::crop_imm(&scaled, (sw - w) / 2, (sh - h) / 2, w, h).to_image()
}

fn photo_box(photo: &RgbImage, watermark: Option<&str>, w: u32, h: u32) -> RgbImage {
    let mut img = cover(photo, w, h);
    if let Some(text) = watermark {
        Watermark::new(text, w, h).apply(&mut img);
    }
    img
}

/// Photo on top, then the QR code on the right and the words beside it.
fn portrait(
    photo: &RgbImage,
    text: &CardText<'_>,
    qr: &RgbImage,
    watermark: Option<&str>,
    (w, h): (u32, u32),
) -> RgbImage {
    let mut sheet = RgbImage::from_pixel(w, h, PAPER);
    let margin = w / 20;
    let narrow = w < SHEET.0;
    let qr_px = if narrow {
        qr.width().min(w - 2 * margin)
    } else {
        qr.width()
    };
    let qr = image::imageops::resize(qr, qr_px, qr_px, FilterType::Nearest);
    let footer = if narrow {
        qr_px + 3 * margin + 150
    } else {
        qr_px + 2 * margin
    };
    let photo_h = h - footer - margin;
    let pic = photo_box(photo, watermark, w - 2 * margin, photo_h);
    image::imageops::replace(&mut sheet, &pic, i64::from(margin), i64::from(margin));
    let top = margin + photo_h + margin;
    if narrow {
        // A strip: the words above the QR code, centred.
        let width = w - 2 * margin;
        let mut y = top;
        y += draw_line(&mut sheet, text.event_name, 44.0, margin, y, width, INK);
        y += draw_line(&mut sheet, text.date, 30.0, margin, y + 6, width, SOFT_INK);
        let qx = (w - qr_px) / 2;
        image::imageops::replace(&mut sheet, &qr, i64::from(qx), i64::from(y + 16));
        draw_line(
            &mut sheet,
            text.scan_line,
            24.0,
            margin,
            y + 24 + qr_px,
            width,
            SOFT_INK,
        );
    } else {
        let qx = w - margin - qr_px;
        image::imageops::replace(&mut sheet, &qr, i64::from(qx), i64::from(top));
        let width = qx - 2 * margin;
        let mut y = top + 20;
        y += draw_line(&mut sheet, text.event_name, 64.0, margin, y, width, INK);
        y += draw_line(&mut sheet, text.date, 40.0, margin, y + 12, width, SOFT_INK);
        draw_wrapped(&mut sheet, text.scan_line, 36.0, margin, y + 60, width, INK);
    }
    sheet
}

/// Photo on the left, the words and the QR code in a column on the right.
fn landscape(
    photo: &RgbImage,
    text: &CardText<'_>,
    qr: &RgbImage,
    watermark: Option<&str>,
    (w, h): (u32, u32),
) -> RgbImage {
    let mut sheet = RgbImage::from_pixel(w, h, PAPER);
    let margin = h / 20;
    let column = qr.width() + 2 * margin;
    let pic = photo_box(photo, watermark, w - column - margin, h - 2 * margin);
    image::imageops::replace(&mut sheet, &pic, i64::from(margin), i64::from(margin));
    let x = w - column + margin / 2;
    let width = column - margin;
    let mut y = margin;
    y += draw_wrapped(&mut sheet, text.event_name, 52.0, x, y, width, INK);
    y += draw_line(&mut sheet, text.date, 36.0, x, y + 10, width, SOFT_INK);
    let qy = h - margin - qr.height() - 110;
    image::imageops::replace(&mut sheet, qr, i64::from(x), i64::from(qy.max(y + 20)));
    draw_wrapped(
        &mut sheet,
        text.scan_line,
        30.0,
        x,
        h - margin - 100,
        width,
        INK,
    );
    sheet
}

fn font() -> FontRef<'static> {
    match FontRef::try_from_slice(FONT) {
        Ok(f) => f,
        Err(_) => unreachable!("the bundled font is a valid TrueType file"),
    }
}

/// Width of `text` at `px`.
fn measure(font: &FontRef<'_>, text: &str, px: f32) -> f32 {
    let scaled = font.as_scaled(PxScale::from(px));
    text.chars()
        .map(|c| scaled.h_advance(scaled.glyph_id(c)))
        .sum()
}

/// Draws one line at (x, y) (its top), shrunk to fit `width`; returns the
/// height it took.
fn draw_line(
    img: &mut RgbImage,
    text: &str,
    px: f32,
    x: u32,
    y: u32,
    width: u32,
    ink: Rgb<u8>,
) -> u32 {
    let font = font();
    let natural = measure(&font, text, px);
    let px = if natural > width as f32 {
        px * width as f32 / natural
    } else {
        px
    };
    draw(img, &font, text, px, x as f32, y as f32, ink);
    (px * 1.25).ceil() as u32
}

/// Draws `text` in as many lines of `width` as it needs (at most three);
/// returns the height it took.
fn draw_wrapped(
    img: &mut RgbImage,
    text: &str,
    px: f32,
    x: u32,
    y: u32,
    width: u32,
    ink: Rgb<u8>,
) -> u32 {
    let font = font();
    let mut lines: Vec<String> = vec![];
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if measure(&font, &format!("{line} {word}"), px) <= width as f32 => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    if lines.len() > 3 {
        let rest = lines.split_off(2).join(" ");
        lines.push(rest);
    }
    let mut used = 0;
    for line in &lines {
        used += draw_line(img, line, px, x, y + used, width, ink);
    }
    used
}

fn draw(img: &mut RgbImage, font: &FontRef<'_>, text: &str, px: f32, x: f32, y: f32, ink: Rgb<u8>) {
    let scaled = font.as_scaled(PxScale::from(px));
    let mut caret = x;
    let baseline = y + scaled.ascent();
    let mut prev = None;
    for ch in text.chars() {
        let id = scaled.glyph_id(ch);
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(px, point(caret, baseline));
        caret += scaled.h_advance(id);
        prev = Some(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let b = outline.px_bounds();
        outline.draw(|gx, gy, cover| {
            let (px_x, px_y) = (
                b.min.x as i64 + i64::from(gx),
                b.min.y as i64 + i64::from(gy),
            );
            if px_x < 0
                || px_y < 0
                || px_x >= i64::from(img.width())
                || px_y >= i64::from(img.height())
            {
                return;
            }
            let p = img.get_pixel_mut(px_x as u32, px_y as u32);
            for c in 0..3 {
                let bg = f32::from(p.0[c]);
                p.0[c] = (bg + (f32::from(ink.0[c]) - bg) * cover.clamp(0.0, 1.0)).round() as u8;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://192.168.4.1:8080/g/0123456789abcdef0123456789abcdef";

    fn photo() -> RgbImage {
        RgbImage::from_fn(900, 1125, |x, y| Rgb([(x / 4) as u8, (y / 5) as u8, 128]))
    }

    fn text() -> CardText<'static> {
        CardText {
            event_name: "Ada & Grace's wedding",
            date: "1 December 2026",
            scan_line: scan_line("en"),
            guest_url: URL,
        }
    }

    /// The QR code read back from the sheet with an independent decoder.
    fn decoded(sheet: &RgbImage) -> Vec<String> {
        let grey = image::DynamicImage::ImageRgb8(sheet.clone()).to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(grey);
        prepared
            .detect_grids()
            .iter()
            .filter_map(|g| g.decode().ok().map(|(_, s)| s))
            .collect()
    }

    #[test]
    fn every_layout_fills_the_sheet_and_its_qr_codes_read_back() {
        for (layout, codes) in [
            (PrintLayout::Portrait4x6, 1),
            (PrintLayout::Landscape6x4, 1),
            (PrintLayout::Strip2x6, 2),
        ] {
            let sheet = render(&photo(), &text(), layout, None).expect("renders");
            assert_eq!(sheet.dimensions(), SHEET, "{layout:?}");
            let found = decoded(&sheet);
            assert_eq!(found.len(), codes, "{layout:?}: {found:?}");
            assert!(found.iter().all(|u| u == URL), "{layout:?}");
        }
    }

    #[test]
    fn a_locked_card_carries_the_watermark_and_a_paid_one_does_not() {
        let clean = render(&photo(), &text(), PrintLayout::Portrait4x6, None).expect("clean");
        let marked = render(
            &photo(),
            &text(),
            PrintLayout::Portrait4x6,
            Some("SmileLoop preview"),
        )
        .expect("marked");
        let differing = clean
            .pixels()
            .zip(marked.pixels())
            .filter(|(a, b)| a != b)
            .count();
        let area = (SHEET.0 * SHEET.1) as usize;
        assert!(differing > area / 50, "{differing} pixels differ");
        // The QR code and the words are untouched.
        assert_eq!(decoded(&marked), [URL]);
    }

    #[test]
    fn dates_read_in_the_kiosks_language() {
        let d = time::macros::date!(2026 - 12 - 01);
        assert_eq!(date_words(d, "en"), "1 December 2026");
        assert_eq!(date_words(d, "de"), "1. Dezember 2026");
        assert_eq!(date_words(d, "fr"), "1 décembre 2026");
        assert_eq!(date_words(d, "es"), "1 de diciembre de 2026");
    }
}
