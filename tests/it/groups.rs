//! Couples and groups: every usable face comes alive on its own, no face's
//! motion moves another face, and a one-face photo renders as it did
//! before faces were counted.

use image::RgbImage;

use crate::common::*;
use smileloop::animate::cast::Cast;
use smileloop::animate::meshwarp::{cast_for, find_faces, remap, MeshAnimation, Source};
use smileloop::animate::rig::{Field, Rig};
use smileloop::animate::{Animation, Animator, MeshWarp, Request, SizeLimits};
use smileloop::face::{mesh, Face, FaceModels, Found};
use smileloop::geometry::Scaler;
use smileloop::motion::{Expression, Preset};

/// A mouth corner closer than this many of its face's eye distances to
/// another face's landmarks lies on the seam between the two faces.
const SEAM_IOD: f32 = 0.15;

/// The two group photos with the number of faces a person counts in them.
const GROUPS: [(&str, usize); 2] = [("kphotoalbum_bar55.jpg", 2), ("kphotoalbum_qt_logo.jpg", 3)];

fn preset<'a>(all: &'a [Preset], id: &str) -> &'a Preset {
    all.iter().find(|p| p.id() == id).expect("preset")
}

fn decode(name: &str) -> RgbImage {
    smileloop::capture::photo::decode(&photo(name)).expect("decodes")
}

/// A mesh animation of `img` with every face, and the faces in output
/// pixels.
fn animation(m: &FaceModels, img: &RgbImage, p: &Preset) -> (MeshAnimation, Found) {
    let found = find_faces(m, img, 6).expect("usable faces");
    let (cast, scaled, (w, h)) = cast_for(img, &found, SizeLimits::default());
    let source = Source::new(Scaler::default().scale(img, w, h));
    (MeshAnimation::new(source, cast, p.clone(), 0x5eed), scaled)
}

fn sub(a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
    [a[0] - b[0], a[1] - b[1]]
}

fn norm(d: [f32; 2]) -> f32 {
    (d[0] * d[0] + d[1] * d[1]).sqrt()
}

/// The subject's "up" for a face: across its eye line.
fn up(face: &Face) -> [f32; 2] {
    let iod = face.inter_ocular();
    let (er, el) = (face.eye_centre(false), face.eye_centre(true));
    [(el[1] - er[1]) / iod, -(el[0] - er[0]) / iod]
}

/// The frame where face `k`'s `param` is strongest.
fn peak_of(anim: &MeshAnimation, frames: u32, k: usize, param: fn(&Expression) -> f32) -> u32 {
    (0..frames)
        .max_by(|a, b| param(&anim.expressions(*a)[k]).total_cmp(&param(&anim.expressions(*b)[k])))
        .expect("frames")
}

#[test]
fn group_photos_find_every_face_and_portraits_one() {
    let m = face_models();
    for name in test_photo_names() {
        let img = decode(&name);
        let found = find_faces(&m, &img, 6).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = GROUPS.iter().find(|(n, _)| *n == name).map_or(1, |g| g.1);
        assert_eq!(
            (found.animated.len(), found.still.len()),
            (expected, 0),
            "{name}: both detectors together, each face counted once"
        );
        // The full-range detector sees these faces on its own too.
        let (input, _) = smileloop::face::detector_input_sized(&img, 192);
        let (boxes, scores) = m.run_full_range(&input).expect("full range runs");
        assert_eq!((boxes.len(), scores.len()), (2304 * 16, 2304));
        let seen = scores.iter().filter(|s| **s > 0.0).count();
        assert!(seen > 0, "{name}: the full-range detector sees no face");
    }
    let found = find_faces(&m, &decode("kphotoalbum_qt_logo.jpg"), 2).expect("faces");
    assert_eq!(
        (found.animated.len(), found.still.len()),
        (2, 1),
        "max_faces 2: the largest two come alive, the third stays still"
    );
}

#[test]
fn every_face_of_a_group_smiles_and_winks_on_its_own() {
    let m = face_models();
    let all = meshwarp_presets();
    let (smile, wink) = (preset(&all, "soft_smile"), preset(&all, "smile_wink"));
    for (name, count) in GROUPS {
        let img = decode(name);
        let (anim, found) = animation(&m, &img, smile);
        assert_eq!(found.animated.len(), count, "{name}");
        for (k, face) in found.animated.iter().enumerate() {
            let iod = face.inter_ocular();
            let up = up(face);
            let f = anim.field(peak_of(&anim, smile.frame_count(), k, |e| e.smile));
            let nose = face.point(mesh::NOSE_TIP);
            let nose_moved = sub(f.forward(nose), nose);
            // A corner that touches another face (cheek to cheek) sits on
            // the seam where both faces' motion ends: it may not move the
            // other face, so it cannot lift its full amount. Every other
            // corner must; every face lifts at least one.
            let seam = |p: [f32; 2]| {
                found
                    .animated
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != k)
                    .any(|(_, o)| {
                        o.landmarks
                            .iter()
                            .any(|q| norm(sub(p, [q[0], q[1]])) < SEAM_IOD * iod)
                    })
            };
            let mut lifted = 0;
            for corner in [mesh::MOUTH_RIGHT, mesh::MOUTH_LEFT] {
                let p = face.point(corner);
                let moved = sub(sub(f.forward(p), p), nose_moved);
                let rise = moved[0] * up[0] + moved[1] * up[1];
                let on_seam = seam(p);
                eprintln!(
                    "{name} face {k}: corner {corner} rises {:.1}%{}",
                    100.0 * rise / iod,
                    if on_seam {
                        " (on the seam with another face)"
                    } else {
                        ""
                    }
                );
                if rise >= 0.03 * iod {
                    lifted += 1;
                }
                assert!(
                    rise >= 0.03 * iod || on_seam,
                    "{name} face {k}: corner {corner} rises {:.2}% of its IOD",
                    100.0 * rise / iod
                );
            }
            assert!(lifted >= 1, "{name} face {k}: no mouth corner lifts");
        }
        let (anim, _) = animation(&m, &img, wink);
        for (k, face) in found.animated.iter().enumerate() {
            let f = anim.field(peak_of(&anim, wink.frame_count(), k, |e| e.wink_left));
            let up = up(face);
            let (upper, lower) = (
                face.point(mesh::LEFT_UPPER_LID),
                face.point(mesh::LEFT_LOWER_LID),
            );
            let gap =
                |a: [f32; 2], b: [f32; 2]| ((b[0] - a[0]) * -up[0] + (b[1] - a[1]) * -up[1]).abs();
            let (before, after) = (gap(upper, lower), gap(f.forward(upper), f.forward(lower)));
            // Every eye closes, also the one against the other face's
            // cheek (its lid skin ends before that face).
            eprintln!("{name} face {k}: lid gap {before:.1} -> {after:.1} px");
            assert!(
                after <= 0.3 * before,
                "{name} face {k}: lid gap {before:.1} -> {after:.1} px"
            );
        }
        // Not in lockstep: the faces' timings differ.
        let e = anim.expressions(wink.frame_count() / 4);
        assert!(
            e.windows(2).any(|w| w[0] != w[1]),
            "{name}: every face plays the same curve"
        );
    }
}

#[test]
fn no_face_moves_another_and_the_field_never_folds() {
    let m = face_models();
    let all = meshwarp_presets();
    for (name, _) in GROUPS {
        let img = decode(name);
        for p in &all {
            let (anim, found) = animation(&m, &img, p);
            let cast: &Cast = anim.cast();
            let n = found.animated.len();
            let (w, h) = (anim.plan().width, anim.plan().height);
            let mut worst = 0.0f32;
            for i in (0..p.frame_count()).step_by(5).chain([p.peak_frame()]) {
                let all_faces = anim.expressions(i);
                let f = cast.field(&all_faces);
                let det = min_det_fine(&f);
                assert!(det > 0.0, "{name} {} frame {i}: fold (det {det})", p.id());
                // One face's own expression, every other face neutral:
                // nothing of it may reach another face's landmarks.
                for j in 0..n {
                    let mut only = vec![Expression::default(); n];
                    only[j] = all_faces[j];
                    let fj = cast.field(&only);
                    for (k, other) in found.animated.iter().enumerate().filter(|(k, _)| *k != j) {
                        for q in &other.landmarks {
                            let d = norm(fj.at([q[0], q[1]]));
                            worst = worst.max(d);
                            assert!(
                                d < 0.5,
                                "{name} {} frame {i}: face {j} moves face {k}'s landmark at {q:?} by {d:.2} px",
                                p.id()
                            );
                        }
                    }
                }
                // Beyond every face's window the photo stays still.
                let mut y = 0.0;
                while y < h as f32 {
                    let mut x = 0.0;
                    while x < w as f32 {
                        let far = cast
                            .rigs()
                            .iter()
                            .all(|r| norm(sub([x, y], r.centre)) > 1.5 * r.face_width);
                        if far {
                            let d = norm(f.at([x, y]));
                            assert!(
                                d < 0.5,
                                "{name} {} frame {i}: ({x},{y}) moves {d} px",
                                p.id()
                            );
                        }
                        x += 6.0;
                    }
                    y += 6.0;
                }
            }
            eprintln!(
                "{name} {}: largest cross-face displacement {worst:.3} px",
                p.id()
            );
            // Seamless: the step from the last frame to the first is no
            // larger than any step inside the loop.
            let fields: Vec<Field> = (0..p.frame_count()).map(|i| anim.field(i)).collect();
            let diff = |a: &Field, b: &Field| {
                a.d.iter()
                    .zip(&b.d)
                    .map(|(x, y)| (x[0] - y[0]).abs().max((x[1] - y[1]).abs()))
                    .fold(0.0f32, f32::max)
            };
            let largest = fields
                .windows(2)
                .map(|w| diff(&w[0], &w[1]))
                .fold(0.0, f32::max);
            let wrap = diff(fields.last().expect("frames"), &fields[0]);
            assert!(
                wrap <= largest + 1e-4,
                "{name} {}: wrap {wrap} > {largest}",
                p.id()
            );
        }
    }
}

#[test]
fn a_one_face_photo_renders_exactly_as_its_single_rig() {
    let m = face_models();
    let all = meshwarp_presets();
    let animator = MeshWarp::new(m.clone(), 6);
    for name in ["grace_hopper.jpg", "gramps_e_w_dahlgren.jpg"] {
        let img = decode(name);
        let found = find_faces(&m, &img, 6).expect("faces");
        let (mut cast, scaled, (w, h)) = cast_for(&img, &found, SizeLimits::default());
        let mut rig = Rig::new(&scaled.animated[0], w, h);
        let src = Source::new(Scaler::default().scale(&img, w, h));
        // As the animator does: what the photo shows (hair over the lips)
        // shapes the field.
        cast.learn_mouths(src.image());
        rig.mouth.learn_from(src.image());
        for p in &all {
            let mut anim = animator
                .start(
                    &img,
                    p,
                    &Request {
                        seed: 99,
                        ..Request::default()
                    },
                )
                .expect("starts");
            for i in 0..p.frame_count() {
                let e = p.at_frame(i);
                let (a, b) = (cast.field(&[e]), rig.field(&e));
                assert_eq!(
                    (a.x0, a.y0, a.nx, a.ny, a.cell),
                    (b.x0, b.y0, b.nx, b.ny, b.cell)
                );
                assert_eq!(a.d, b.d, "{name} {} frame {i}: field differs", p.id());
                let frame = anim.next_frame().expect("frame").expect("a frame").clone();
                if i % 20 == 0 {
                    let mut alone = RgbImage::new(w, h);
                    remap(&src, &mut alone, &b);
                    let worst = frame
                        .as_raw()
                        .iter()
                        .zip(alone.as_raw())
                        .map(|(x, y)| x.abs_diff(*y))
                        .max()
                        .unwrap_or(0);
                    assert!(
                        worst <= 1,
                        "{name} {} frame {i}: {worst} grey levels",
                        p.id()
                    );
                }
            }
        }
    }
}

/// A 5 × 5 collage of the portraits' faces, each tile a different size.
fn collage() -> RgbImage {
    let m = face_models();
    let portraits: Vec<(RgbImage, Face)> = test_photo_names()
        .into_iter()
        .filter(|n| !GROUPS.iter().any(|(g, _)| g == n))
        .map(|n| {
            let img = decode(&n);
            let face = find_faces(&m, &img, 1).expect("face").animated.remove(0);
            (img, face)
        })
        .collect();
    let tile = 300u32;
    let mut out = RgbImage::from_pixel(tile * 5, tile * 5, image::Rgb([90, 110, 130]));
    for t in 0..25u32 {
        let (img, face) = &portraits[t as usize % portraits.len()];
        let [x0, y0, x1, y1] = face.extent();
        let side = (x1 - x0).max(y1 - y0) * 1.6;
        let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        let crop_x = (cx - side / 2.0).clamp(0.0, (img.width() as f32 - side).max(0.0)) as u32;
        let crop_y = (cy - side / 2.0).clamp(0.0, (img.height() as f32 - side).max(0.0)) as u32;
        let side = (side as u32)
            .min(img.width() - crop_x)
            .min(img.height() - crop_y);
        let crop = image::imageops::crop_imm(img, crop_x, crop_y, side, side).to_image();
        let size = tile - 20 * (t % 4);
        let small =
            image::imageops::resize(&crop, size, size, image::imageops::FilterType::Triangle);
        image::imageops::replace(
            &mut out,
            &small,
            i64::from((t % 5) * tile),
            i64::from((t / 5) * tile),
        );
    }
    out
}

#[test]
fn a_crowd_animates_at_most_max_faces_and_finishes() {
    let m = face_models();
    let img = collage();
    let all = meshwarp_presets();
    let found = find_faces(&m, &img, 6).expect("a crowd has usable faces");
    let total = found.animated.len() + found.still.len();
    eprintln!(
        "collage: {} animated, {} still",
        found.animated.len(),
        found.still.len()
    );
    assert_eq!(
        found.animated.len(),
        6,
        "max_faces bounds the animated faces"
    );
    assert!(total >= 12, "only {total} of 25 faces found");
    assert!(
        total <= smileloop::face::MAX_DETECTIONS,
        "detections are bounded"
    );
    let animator = MeshWarp::new(m, 6);
    let mut anim = animator
        .start(&img, preset(&all, "soft_smile"), &Request::default())
        .expect("starts");
    let mut frames = 0;
    while anim.next_frame().expect("frame").is_some() {
        frames += 1;
    }
    assert_eq!(frames, anim.plan().frame_count);
}

#[test]
fn a_usable_face_beside_a_cut_off_one_animates_alone() {
    let m = face_models();
    let grace = decode("grace_hopper.jpg");
    let (w, h) = grace.dimensions();
    // Two copies side by side, the second cut by the right edge halfway
    // through the face.
    let face = find_faces(&m, &grace, 1).expect("face").animated.remove(0);
    let [fx0, _, fx1, _] = face.extent();
    let cut_at = ((fx0 + fx1) / 2.0) as u32;
    let mut two = RgbImage::new(w + cut_at, h);
    image::imageops::replace(&mut two, &grace, 0, 0);
    image::imageops::replace(&mut two, &grace, i64::from(w), 0);
    let found = find_faces(&m, &two, 6).expect("the whole face is usable");
    assert_eq!(found.animated.len(), 1, "only the whole face comes alive");
    assert_eq!(
        found.still.len(),
        1,
        "the cut-off face is found and kept still"
    );
    assert!(found.animated[0].eye_centre(false)[0] < w as f32);
    let all = meshwarp_presets();
    let (anim, scaled) = animation(&m, &two, preset(&all, "soft_smile"));
    let f = anim.field(preset(&all, "soft_smile").peak_frame());
    for q in &scaled.still[0].landmarks {
        if q[0] < anim.plan().width as f32 {
            let d = norm(f.at([q[0], q[1]]));
            assert!(
                d < 0.5,
                "the still face's landmark at {q:?} moves {d:.2} px"
            );
        }
    }
}
