//! The mesh-warp animator's quality bar, on every test photo: no fold,
//! a still background, a real smile and wink, a seamless loop.

use crate::common::*;
use smileloop::animate::meshwarp::{remap, rig_for, Source};
use smileloop::animate::mouth::Look;
use smileloop::animate::rig::{Field, Rig};
use smileloop::animate::{Animator, MeshWarp, Request, SizeLimits};
use smileloop::face::{mesh, Face};
use smileloop::motion::Preset;

fn preset<'a>(all: &'a [Preset], id: &str) -> &'a Preset {
    all.iter().find(|p| p.id() == id).expect("preset")
}

fn rigs() -> Vec<(String, Rig, Face, (u32, u32))> {
    let m = face_models();
    test_photo_names()
        .into_iter()
        .map(|n| {
            let img = smileloop::capture::photo::decode(&photo(&n)).expect("decodes");
            let (rig, face, size) =
                rig_for(&m, &img, SizeLimits::default()).unwrap_or_else(|e| panic!("{n}: {e}"));
            (n, rig, face, size)
        })
        .collect()
}

fn sub(a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
    [a[0] - b[0], a[1] - b[1]]
}

#[test]
fn fields_never_fold_and_the_background_stays_still() {
    let all = meshwarp_presets();
    for (name, rig, _, (w, h)) in rigs() {
        for p in &all {
            let frames: Vec<u32> = (0..p.frame_count())
                .step_by(5)
                .chain([p.peak_frame()])
                .collect();
            for i in frames {
                let f = rig.field(&p.at_frame(i));
                let det = min_det_fine(&f);
                assert!(det > 0.0, "{name} {} frame {i}: fold (det {det})", p.id());
                let mut y = 0.0;
                while y < h as f32 {
                    let mut x = 0.0;
                    while x < w as f32 {
                        let r = ((x - rig.centre[0]).powi(2) + (y - rig.centre[1]).powi(2)).sqrt();
                        if r > 1.5 * rig.face_width {
                            let d = f.at([x, y]);
                            let m = (d[0] * d[0] + d[1] * d[1]).sqrt();
                            assert!(
                                m < 0.5,
                                "{name} {} frame {i}: ({x},{y}) moves {m} px",
                                p.id()
                            );
                        }
                        x += 4.0;
                    }
                    y += 4.0;
                }
            }
        }
    }
}

#[test]
fn soft_smile_lifts_the_mouth_corners_and_the_wink_closes_the_eye() {
    let all = meshwarp_presets();
    let smile = preset(&all, "soft_smile");
    let wink = preset(&all, "smile_wink");
    for (name, rig, face, _) in rigs() {
        let iod = face.inter_ocular();
        let (er, el) = (face.eye_centre(false), face.eye_centre(true));
        let u = [(el[0] - er[0]) / iod, (el[1] - er[1]) / iod];
        let up = [u[1], -u[0]];
        let f = rig.field(&smile.at_frame(smile.peak_frame()));
        let nose = face.point(mesh::NOSE_TIP);
        let nose_moved = sub(f.forward(nose), nose);
        for corner in [mesh::MOUTH_RIGHT, mesh::MOUTH_LEFT] {
            let p = face.point(corner);
            let moved = sub(sub(f.forward(p), p), nose_moved);
            let rise = moved[0] * up[0] + moved[1] * up[1];
            assert!(
                rise >= 0.03 * iod,
                "{name}: corner {corner} rises {:.2}% of the IOD",
                100.0 * rise / iod
            );
        }
        let peak = (0..wink.frame_count())
            .max_by(|a, b| {
                wink.at_frame(*a)
                    .wink_left
                    .total_cmp(&wink.at_frame(*b).wink_left)
            })
            .expect("frames");
        let f = rig.field(&wink.at_frame(peak));
        let (upper, lower) = (
            face.point(mesh::LEFT_UPPER_LID),
            face.point(mesh::LEFT_LOWER_LID),
        );
        // The lid gap is measured across the eye line (the two lid
        // landmarks are not exactly above each other).
        let gap =
            |a: [f32; 2], b: [f32; 2]| ((b[0] - a[0]) * -up[0] + (b[1] - a[1]) * -up[1]).abs();
        let before = gap(upper, lower);
        let after = gap(f.forward(upper), f.forward(lower));
        assert!(
            after <= 0.3 * before,
            "{name}: lid gap {before:.1} -> {after:.1} px"
        );
    }
}

#[test]
fn loops_are_seamless() {
    let all = meshwarp_presets();
    for (name, rig, _, _) in rigs() {
        for p in &all {
            let fields: Vec<Field> = (0..p.frame_count())
                .map(|i| rig.field(&p.at_frame(i)))
                .collect();
            let diff = |a: &Field, b: &Field| {
                a.d.iter()
                    .zip(&b.d)
                    .map(|(x, y)| (x[0] - y[0]).abs().max((x[1] - y[1]).abs()))
                    .fold(0.0f32, f32::max)
            };
            let steps: Vec<f32> = fields.windows(2).map(|w| diff(&w[0], &w[1])).collect();
            let wrap = diff(fields.last().expect("frames"), &fields[0]);
            let largest = steps.iter().copied().fold(0.0, f32::max);
            assert!(
                wrap <= largest + 1e-4,
                "{name} {}: wrap {wrap} > largest step {largest}",
                p.id()
            );
        }
    }
}

#[test]
fn rendered_loop_is_seamless_and_moves_only_the_face() {
    let all = meshwarp_presets();
    let animator = MeshWarp::new(face_models(), 6);
    let img = smileloop::capture::photo::decode(&photo("grace_hopper.jpg")).expect("decodes");
    for p in &all {
        let mut anim = animator
            .start(&img, p, &Request::default())
            .expect("starts");
        let mut frames = Vec::new();
        while let Some(f) = anim.next_frame().expect("frame") {
            frames.push(f.clone());
        }
        assert_eq!(frames.len() as u32, p.frame_count());
        let mad = |a: &image::RgbImage, b: &image::RgbImage| {
            a.as_raw()
                .iter()
                .zip(b.as_raw())
                .map(|(x, y)| u64::from(x.abs_diff(*y)))
                .sum::<u64>() as f64
                / a.as_raw().len() as f64
        };
        let steps: Vec<f64> = frames.windows(2).map(|w| mad(&w[0], &w[1])).collect();
        let wrap = mad(frames.last().expect("frames"), &frames[0]);
        let largest = steps.iter().copied().fold(0.0, f64::max);
        assert!(largest > 0.0, "{}: nothing moves", p.id());
        assert!(
            wrap <= largest + 1e-9,
            "{}: wrap {wrap} > largest step {largest}",
            p.id()
        );
        // The corners of the frame (background) never change.
        let (w, h) = frames[0].dimensions();
        for f in &frames {
            for (x, y) in [(2, 2), (w - 3, 2), (2, h - 3), (w - 3, h - 3)] {
                assert_eq!(f.get_pixel(x, y), frames[0].get_pixel(x, y), "{}", p.id());
            }
        }
    }
    // `remap` with a zero field is an exact copy.
    let zero = Field {
        eyes: vec![],
        mouths: vec![],
        folds: vec![],
        cell: 8,
        x0: 0.0,
        y0: 0.0,
        nx: 4,
        ny: 4,
        d: vec![[0.0; 2]; 16],
    };
    let mut out = image::RgbImage::new(img.width(), img.height());
    remap(&Source::new(img.clone()), &mut out, &zero);
    assert_eq!(out, img);
}

#[test]
fn the_renderer_samples_exactly_where_the_field_says() {
    use smileloop::geometry::sample_bilinear;
    let all = meshwarp_presets();
    let m = face_models();
    let img =
        smileloop::capture::photo::decode(&photo("kphotoalbum_jesper_2.jpg")).expect("decodes");
    let (rig, _, (w, h)) = rig_for(&m, &img, SizeLimits::default()).expect("rig");
    let src = smileloop::geometry::Scaler::default().scale(&img, w, h);
    let wink = preset(&all, "smile_wink");
    // The wink's peak exercises grid, eyelids, the parted lips and head
    // motion together.
    let field = rig.field(&wink.at_frame(wink.frame_count() / 2));
    let mut fast = image::RgbImage::new(w, h);
    remap(&Source::new(src.clone()), &mut fast, &field);
    let (stride, max_x, max_y) = (w as usize * 3, (w - 1) as f32, (h - 1) as f32);
    let mut worst = 0u8;
    let mut moved = 0usize;
    let mut shaded = 0usize;
    let mut interior = 0usize;
    for y in 0..h {
        for x in 0..w {
            let d = field.at([x as f32, y as f32]);
            let mut px = [0u8; 3];
            sample_bilinear(
                src.as_raw(),
                stride,
                max_x,
                max_y,
                x as f32 - d[0],
                y as f32 - d[1],
                &mut px,
            );
            // The smile's folds shade what the field shows.
            let shade = field.shade([x as f32, y as f32]);
            if shade < 1.0 {
                shaded += 1;
                px = px.map(|c| (f32::from(c) * shade).round().clamp(0.0, 255.0) as u8);
            }
            // Between the parted lips the mouth's interior covers it.
            let g = field.grid_at([x as f32, y as f32]);
            for (mouth, open) in &field.mouths {
                if let Look::Cavity { colour, cover, .. } =
                    mouth.look([x as f32 - g[0], y as f32 - g[1]], *open)
                {
                    interior += 1;
                    for (p, c) in px.iter_mut().zip(colour) {
                        *p = (f32::from(*p) * (1.0 - cover) + c * cover)
                            .round()
                            .clamp(0.0, 255.0) as u8;
                    }
                }
            }
            let got = fast.get_pixel(x, y).0;
            for c in 0..3 {
                worst = worst.max(px[c].abs_diff(got[c]));
            }
            if d[0].abs() + d[1].abs() > 0.5 {
                moved += 1;
            }
        }
    }
    assert!(moved > 1000, "the field moves the face ({moved} pixels)");
    assert!(shaded > 100, "the smile shades its folds ({shaded} pixels)");
    assert!(interior > 10, "the lips part ({interior} pixels)");
    // Rounding differs (the renderer interpolates rows first): one level at most.
    assert!(worst <= 1, "renderer and field disagree by {worst} levels");
}
