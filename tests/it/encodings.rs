//! Photos in the less common encodings a phone or a camera may send
//! (grayscale and CMYK JPEG, 16-bit PNG) go through the whole flow like
//! any colour JPEG: upload, face check, render, preview.

use crate::common::*;
use image::RgbImage;
use smileloop::config::EventMode;

fn grayscale_jpeg(img: &RgbImage) -> Vec<u8> {
    let grey = image::DynamicImage::ImageRgb8(img.clone()).to_luma8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
        .encode_image(&grey)
        .expect("encodes");
    out
}

/// Naive RGB → CMYK (what a print workflow's export looks like to us).
fn cmyk_jpeg(img: &RgbImage) -> Vec<u8> {
    let mut cmyk = Vec::with_capacity(img.as_raw().len() / 3 * 4);
    for p in img.pixels() {
        let [r, g, b] = p.0.map(f32::from);
        let k = 255.0 - r.max(g).max(b);
        let ink = |c: f32| {
            if k >= 255.0 {
                0
            } else {
                ((255.0 - c - k) / (255.0 - k) * 255.0).round() as u8
            }
        };
        cmyk.extend([ink(r), ink(g), ink(b), k as u8]);
    }
    let mut out = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut out, 92);
    encoder
        .encode(
            &cmyk,
            img.width() as u16,
            img.height() as u16,
            jpeg_encoder::ColorType::Cmyk,
        )
        .expect("encodes");
    out
}

fn png16(img: &RgbImage) -> Vec<u8> {
    let wide = image::DynamicImage::ImageRgb8(img.clone()).to_rgb16();
    let mut out = std::io::Cursor::new(Vec::new());
    wide.write_to(&mut out, image::ImageFormat::Png)
        .expect("encodes");
    out.into_inner()
}

#[test]
fn grayscale_cmyk_and_16_bit_photos_animate_like_colour_ones() {
    let original = smileloop::capture::photo::decode(&photo("grace_hopper.jpg")).expect("decodes");
    let grey = grayscale_jpeg(&original);
    let cmyk = cmyk_jpeg(&original);
    let wide = png16(&original);

    // CMYK comes back in its colours, not inverted or channel-swapped.
    let back = smileloop::capture::photo::decode(&cmyk).expect("CMYK decodes");
    assert_eq!(back.dimensions(), original.dimensions());
    let diff = mean_abs_diff(&back, &original);
    assert!(diff < 8.0, "CMYK round trip differs by {diff:.1} levels");
    let back = smileloop::capture::photo::decode(&grey).expect("grey decodes");
    let p = back.get_pixel(100, 100).0;
    assert!(p[0] == p[1] && p[1] == p[2], "grey stays grey: {p:?}");

    let server = Server::start(|s| s.event_mode = EventMode::Free);
    let mut ids = Vec::new();
    for (name, bytes) in [
        ("grey.jpg", &grey),
        ("cmyk.jpg", &cmyk),
        ("sixteen.png", &wide),
    ] {
        let (status, created) = upload(&server.kiosk, bytes, name, "smile_wink");
        assert_eq!(status, 201, "{name}: {created}");
        ids.push((name, created["job_id"].as_str().expect("id").to_string()));
    }
    for (name, id) in ids {
        let job = wait_status(&server.kiosk, &id, "unlocked");
        assert_eq!(job["frames_done"], 100, "{name}");
        let (s, preview) = get(&format!("{}/api/jobs/{id}/preview.mp4", server.kiosk));
        assert_eq!(s, 200, "{name}");
        assert_eq!(inspect_mp4(&preview).samples, 100, "{name}");
        // Host-paid event: the guest page offers the download at once.
        let token = job["guest_url"]
            .as_str()
            .and_then(|u| u.rsplit('/').next())
            .expect("token")
            .to_string();
        let (s, page) = get(&format!("{}/g/{token}", server.guest));
        let page = String::from_utf8_lossy(&page).to_string();
        assert_eq!(s, 200);
        assert!(page.contains(&format!("href=\"/d/{token}\"")), "{page}");
        assert!(
            !page.contains("id=\"pay\""),
            "no Pay button at a free event"
        );
    }
}
