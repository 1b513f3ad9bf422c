//! `cargo bench --bench expression`: what a viewer reads from every face of
//! every test photo under each meshwarp preset. Every frame is rendered and
//! each face tracked on it with the face models (`FaceModels::track`, from
//! the crops the photo's face was meshed from) and its eyes read by the
//! iris model; per face it prints the strongest mouth corner and cheek
//! rise (% of the eye distance, relative to the nose), the eye opening at
//! that frame and at each blink (% of the photo's), and which faces'
//! lips it finds hidden under hair.
//! Face crops of the photo and of every other frame land in
//! `target/expression/<photo>/<preset>/` for an outside expression
//! classifier. Figures only, no pass/fail.
//!
//! `SMILELOOP_BENCH_PHOTOS=DIR` reads the photos from DIR instead of
//! `../shared/test-photos` (photos held out of the tests, say);
//! `SMILELOOP_BENCH_PHOTO=NAME` keeps only file names containing NAME.

use std::path::PathBuf;
use std::sync::Arc;

use image::RgbImage;
use smileloop::animate::meshwarp::{cast_for, find_faces, MeshAnimation, Source};
use smileloop::animate::{Animation, SizeLimits};
use smileloop::face::reading::{Change, Look};
use smileloop::face::{Face, FaceModels};
use smileloop::geometry::Scaler;
use smileloop::motion;

fn crop(img: &RgbImage, face: &Face) -> RgbImage {
    let [x0, y0, x1, y1] = face.extent();
    let side = (x1 - x0).max(y1 - y0) * 1.3;
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let x = (cx - side / 2.0).clamp(0.0, img.width() as f32 - 1.0) as u32;
    let y = (cy - side / 2.0).clamp(0.0, img.height() as f32 - 1.0) as u32;
    let w = (side as u32).min(img.width() - x);
    let h = (side as u32).min(img.height() - y);
    image::imageops::crop_imm(img, x, y, w, h).to_image()
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let photos = std::env::var_os("SMILELOOP_BENCH_PHOTOS")
        .map_or_else(|| root.join("../shared/test-photos"), PathBuf::from);
    let models = root.join("models");
    let m = Arc::new(
        FaceModels::load(&models.join("libonnxruntime.so"), &models).expect("face models"),
    );
    let presets: Vec<_> = motion::load_dir(&root.join("presets"))
        .expect("presets")
        .into_iter()
        .filter(|p| p.supports_backend(smileloop::backend::Backend::Meshwarp))
        .collect();
    let out = root.join("target/expression");
    let mut names: Vec<String> = std::fs::read_dir(&photos)
        .expect("test photos")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".jpg") || n.ends_with(".png"))
        .collect();
    names.sort();
    let only = std::env::var("SMILELOOP_BENCH_PHOTO").ok();
    println!(
        "{:<26} {:<14} {:>4} {:>8} {:>8} {:>8} {:>8} {:>7} {:>14}",
        "photo",
        "preset",
        "face",
        "corner R",
        "corner L",
        "cheeks",
        "eyes",
        "frame",
        "blinks (eyes)"
    );
    for name in &names {
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        let img =
            smileloop::capture::photo::decode(&std::fs::read(photos.join(name)).expect("reads"))
                .expect("decodes");
        let found = find_faces(&m, &img, 6).expect("faces");
        let (cast, scaled, (w, h)) = cast_for(&img, &found, SizeLimits::default());
        let source = Scaler::default().scale(&img, w, h);
        let mut learned = cast.clone();
        learned.learn_mouths(&source);
        let hidden: Vec<usize> = (0..learned.rigs().len())
            .filter(|&k| learned.rigs()[k].mouth.hidden())
            .collect();
        if !hidden.is_empty() {
            println!("{name}: hair hides the lips of face(s) {hidden:?}");
        }
        for p in &presets {
            let dir = out.join(name).join(p.id());
            std::fs::create_dir_all(&dir).expect("output dir");
            let mut anim =
                MeshAnimation::new(Source::new(source.clone()), cast.clone(), p.clone(), 0x5eed);
            let timings = anim.timings().to_vec();
            let photo_faces = &scaled.animated;
            for (k, f) in photo_faces.iter().enumerate() {
                crop(&source, f)
                    .save(dir.join(format!("face{k}_photo.png")))
                    .expect("saves");
            }
            let mut changes: Vec<Vec<Option<Change>>> = vec![Vec::new(); photo_faces.len()];
            // Each face tracked on the photo and on every frame from the
            // same crops, so that only the animation differs.
            let before: Vec<Option<Look>> = photo_faces
                .iter()
                .map(|f| Look::read(&m, &source, f).ok().flatten())
                .collect();
            let mut i = 0u32;
            while let Some(frame) = anim.next_frame().expect("frame") {
                for (k, f) in photo_faces.iter().enumerate() {
                    let again = Look::read(&m, frame, f).ok().flatten();
                    changes[k].push(match (&before[k], again) {
                        (Some(b), Some(a)) => Some(Change::between(b, &a)),
                        _ => None,
                    });
                    if i % 2 == 0 || timings[k].blink(i, p.fps()) > 0.0 {
                        crop(frame, f)
                            .save(dir.join(format!("face{k}_{i:03}.png")))
                            .expect("saves");
                    }
                }
                i += 1;
            }
            for (k, c) in changes.iter().enumerate() {
                let blinking = |i: usize| timings[k].blink(i as u32, p.fps()) > 0.0;
                let peak = c
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !blinking(*i))
                    .filter_map(|(i, c)| c.map(|c| (i, c)))
                    .max_by(|a, b| {
                        (a.1.corners[0] + a.1.corners[1])
                            .total_cmp(&(b.1.corners[0] + b.1.corners[1]))
                    });
                let blinks: Vec<String> = timings[k]
                    .blinks
                    .iter()
                    .map(|&b| match c.get(b as usize).copied().flatten() {
                        Some(c) => {
                            format!("@{b} {:.0}/{:.0}", 100.0 * c.eyes[0], 100.0 * c.eyes[1])
                        }
                        None => "lost".into(),
                    })
                    .collect();
                match peak {
                    Some((i, c)) => println!(
                        "{:<26} {:<14} {:>4} {:>7.1}% {:>7.1}% {:>7.1}% {:>4.0}/{:<3.0} {:>7} {:>14}",
                        name,
                        p.id(),
                        k,
                        100.0 * c.corners[0],
                        100.0 * c.corners[1],
                        50.0 * (c.cheeks[0] + c.cheeks[1]),
                        100.0 * c.eyes[0],
                        100.0 * c.eyes[1],
                        i,
                        blinks.join(" ")
                    ),
                    None => println!("{name:<26} {:<14} {k:>4} face lost on every frame", p.id()),
                }
            }
        }
    }
}
