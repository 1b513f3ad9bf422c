//! What a viewer sees in a meshwarp loop, on every face of every test
//! photo (the moustached one and both groups included):
//! - the mouth corners and cheeks rise at the smile's peak, read by the
//!   face models on the rendered frames (on faces neutral in the photo),
//!   and no face is lost in a blink;
//! - the field narrows and shuts the lids, every face blinks on its own,
//!   never across the loop's seam, and a wink stays a wink;
//! - an open mouth shows a dark interior, and its lower lip is the photo's
//!   lip moved, not stretched.
//!
//! The lids the field moves are the eye model's (`face::eyes`, MediaPipe's
//! refined landmarks), so the field's closure is the eye's. The eye model
//! run again on the frames is printed, not judged: it reads a rendered
//! blink, shut to a lash line by eye, as 55–115 % open (it puts the upper
//! lid on the crease), and a smile's narrowing as 60–125 %.

use image::RgbImage;

use crate::common::*;
use smileloop::animate::cast::Timing;
use smileloop::animate::meshwarp::{cast_for, find_faces, remap, MeshAnimation, Source};
use smileloop::animate::rig::Field;
use smileloop::animate::SizeLimits;
use smileloop::face::reading::{corner_lift, Change, Look};
use smileloop::face::{mesh, Face, FaceModels, Found};
use smileloop::geometry::Scaler;
use smileloop::motion::Preset;

/// The loop of `img` with every face, the faces in output pixels and the
/// photo at the output size.
fn animation(m: &FaceModels, img: &RgbImage, p: &Preset) -> (MeshAnimation, Found, RgbImage) {
    let found = find_faces(m, img, 6).expect("usable faces");
    let (cast, scaled, (w, h)) = cast_for(img, &found, SizeLimits::default());
    let source = Scaler::default().scale(img, w, h);
    let anim = MeshAnimation::new(Source::new(source.clone()), cast, p.clone(), 0x5eed);
    (anim, scaled, source)
}

/// Frame `i` of `anim` exactly as its scene draws it (the combined field,
/// then the remap), without the frames before it: the checks below read a
/// few frames of each loop, and drawing the rest cost most of their time.
fn draw_frame(anim: &MeshAnimation, source: &Source, frame: &mut RgbImage, i: u32) {
    remap(source, frame, &anim.field(i));
}

/// Each eye's lid gap after `field` over before, across the eye line.
fn openings(face: &Face, field: &Field) -> [f32; 2] {
    let iod = face.inter_ocular();
    let (er, el) = (face.eye_centre(false), face.eye_centre(true));
    let down = [-(el[1] - er[1]) / iod, (el[0] - er[0]) / iod];
    let gap = |a: [f32; 2], b: [f32; 2]| ((b[0] - a[0]) * down[0] + (b[1] - a[1]) * down[1]).abs();
    [
        (mesh::RIGHT_UPPER_LID, mesh::RIGHT_LOWER_LID),
        (mesh::LEFT_UPPER_LID, mesh::LEFT_LOWER_LID),
    ]
    .map(|(u, l)| {
        let (a, b) = (face.point(u), face.point(l));
        gap(field.forward(a), field.forward(b)) / gap(a, b).max(1e-3)
    })
}

/// Every other frame where face `k`'s smile (and laugh) is within 5 % of
/// its strongest, outside its blinks.
fn smile_peak(anim: &MeshAnimation, p: &Preset, k: usize) -> Vec<u32> {
    let timing: &Timing = &anim.timings()[k];
    let strength = |i: u32| {
        let e = anim.expressions(i)[k];
        e.smile + e.laugh
    };
    let best = (0..p.frame_count()).map(strength).fold(0.0, f32::max);
    let near: Vec<u32> = (0..p.frame_count())
        .filter(|&i| strength(i) >= 0.95 * best && timing.blink(i, p.fps()) == 0.0)
        .collect();
    near.into_iter().step_by(2).collect()
}

#[test]
fn eyes_narrow_with_the_smile_and_every_face_blinks_on_its_own() {
    let m = face_models();
    let all = meshwarp_presets();
    for name in test_photo_names() {
        let img = smileloop::capture::photo::decode(&photo(&name)).expect("decodes");
        for p in &all {
            let (anim, found, _photo) = animation(&m, &img, p);
            let n = p.frame_count();
            for (k, face) in found.animated.iter().enumerate() {
                let timing = &anim.timings()[k];
                let winks = |i: u32| {
                    let e = anim.expressions(i)[k];
                    e.wink_left.max(e.wink_right) > 0.02
                };
                // Smile peak, both eyes open (no wink, no blink): narrowed.
                if p.id() != "smile_wink" {
                    let i = smile_peak(&anim, p, k)[0];
                    let o = openings(face, &anim.field(i));
                    assert!(
                        o.iter().all(|o| *o <= 0.85),
                        "{name} {} face {k} frame {i}: eyes open {o:?} at the smile's peak",
                        p.id()
                    );
                }
                assert!(
                    !timing.blinks.is_empty(),
                    "{name} {} face {k}: never blinks",
                    p.id()
                );
                for &b in &timing.blinks {
                    let o = openings(face, &anim.field(b));
                    assert!(
                        o.iter().all(|o| *o <= 0.2),
                        "{name} {} face {k}: the blink at frame {b} leaves the eyes {o:?} open",
                        p.id()
                    );
                    assert!(!winks(b), "{name} {} face {k}: blink during a wink", p.id());
                    // Open again at both ends of the loop: no blink is cut
                    // by the seam.
                    assert!(b > 3 && b + 4 < n, "{name} {}: blink at {b} of {n}", p.id());
                }
                let ends = [0, n - 1].map(|i| timing.blink(i, p.fps()));
                assert_eq!(ends, [0.0, 0.0], "{name} {}: a blink at the seam", p.id());
                // A wink closes one eye while the other stays open.
                if let Some(i) = (0..n).find(|&i| anim.expressions(i)[k].wink_left > 0.99) {
                    let o = openings(face, &anim.field(i));
                    assert!(o[1] <= 0.3 && o[0] >= 0.6, "{name} face {k} wink: {o:?}");
                }
            }
            // The faces of a group blink at moments of their own.
            let moments: std::collections::BTreeSet<u32> = anim
                .timings()
                .iter()
                .flat_map(|t| t.blinks.iter().copied())
                .collect();
            if found.animated.len() > 1 {
                assert!(moments.len() > 1, "{name} {}: blinks in lockstep", p.id());
            }
        }
    }
}

/// Luma of `img` at `p`, bilinear (0 outside).
fn luma(img: &RgbImage, p: [f32; 2]) -> f32 {
    let (w, h) = (img.width() as f32, img.height() as f32);
    if p[0] < 0.0 || p[1] < 0.0 || p[0] >= w - 1.0 || p[1] >= h - 1.0 {
        return 0.0;
    }
    let (x, y) = (p[0].floor(), p[1].floor());
    let (fx, fy) = (p[0] - x, p[1] - y);
    let at = |dx: u32, dy: u32| {
        let [r, g, b] = img.get_pixel(x as u32 + dx, y as u32 + dy).0;
        0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b)
    };
    (at(0, 0) * (1.0 - fx) + at(1, 0) * fx) * (1.0 - fy)
        + (at(0, 1) * (1.0 - fx) + at(1, 1) * fx) * fy
}

#[test]
fn an_open_mouth_shows_a_dark_interior_and_its_lips_stay_sharp() {
    let m = face_models();
    let all = meshwarp_presets();
    let opening: Vec<&Preset> = all
        .iter()
        .filter(|p| (0..p.frame_count()).any(|i| p.at_frame(i).mouth_open >= 0.4))
        .collect();
    assert!(
        opening.len() >= 2,
        "the laugh and the big smile open the mouth"
    );
    for name in test_photo_names() {
        let img = smileloop::capture::photo::decode(&photo(&name)).expect("decodes");
        for p in &opening {
            let (anim, found, source) = animation(&m, &img, p);
            let drawn = Source::new(source.clone());
            let mut frame = source.clone();
            let mut checked = 0;
            for i in 0..p.frame_count() {
                let expressions = anim.expressions(i);
                if expressions.iter().all(|e| e.mouth_open < 0.4) {
                    continue;
                }
                draw_frame(&anim, &drawn, &mut frame, i);
                let field = anim.field(i);
                for (k, face) in found.animated.iter().enumerate() {
                    if expressions[k].mouth_open < 0.4 {
                        continue;
                    }
                    // Two points on the lips, 2 px in from where they part
                    // in the photo (below any teeth it shows).
                    let (top, low, down) = field.mouths[k].0.parting();
                    let along = |p: [f32; 2]| p[0] * down[0] + p[1] * down[1];
                    let step = |p: [f32; 2], d: f32| [p[0] + d * down[0], p[1] + d * down[1]];
                    let (upper, lower) = (step(top, -2.0), step(low, 2.0));
                    let (a, b) = (field.forward(upper), field.forward(lower));
                    let gap = along(b) - along(a) - (along(lower) - along(upper));
                    assert!(
                        gap >= 2.0,
                        "{name} {} face {k} frame {i}: open {gap:.1} px",
                        p.id()
                    );
                    let at = |t: f32| [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
                    // The darkest three pixels running across the opening
                    // (teeth the photo shows may fill much of it).
                    let across: Vec<f32> = (0..=20)
                        .map(|s| luma(&frame, at(s as f32 / 20.0)))
                        .collect();
                    let inside = across[2..19]
                        .windows(3)
                        .map(|w| w.iter().sum::<f32>() / 3.0)
                        .fold(f32::MAX, f32::min);
                    let lips = (luma(&frame, at(0.0)) + luma(&frame, at(1.0))) / 2.0;
                    assert!(
                        inside < 0.6 * lips,
                        "{name} {} face {k} frame {i}: the opening (luma {inside:.0}) is not darker than the lips ({lips:.0})",
                        p.id()
                    );
                    // The lower lip is moved, not stretched: its rows are the
                    // photo's, a few pixels lower.
                    let thick = (along(face.point(17)) - along(lower)).max(3.0);
                    let rows = (0..thick as i32).map(|d| d as f32);
                    let diff = rows
                        .clone()
                        .map(|d| (luma(&frame, step(b, d)) - luma(&source, step(lower, d))).abs())
                        .sum::<f32>()
                        / rows.count().max(1) as f32;
                    eprintln!("{name} {} face {k} frame {i}: open {gap:.1} px, opening {inside:.0} lips {lips:.0} lower lip off by {diff:.1}", p.id());
                    assert!(
                        diff < 20.0,
                        "{name} {} face {k} frame {i}: the lower lip differs by {diff:.0} grey levels from the photo's",
                        p.id()
                    );
                    checked += 1;
                }
            }
            assert!(checked > 0, "{name} {}: no open-mouth frame", p.id());
        }
    }
}

/// What the models read of one face over a loop: at each peak frame its
/// corners' and cheeks' rise and its eyes' opening (the wider eye), and
/// at each blink the frame and the wider eye's opening.
#[derive(Debug, Clone, Default)]
struct Seen {
    corners: Vec<f32>,
    cheeks: Vec<f32>,
    eyes: Vec<f32>,
    blinks: Vec<(u32, f32)>,
}

/// Mouth corners this far above the lips' line (eye distances) mark a
/// face that already smiles in the photo.
const NEUTRAL_LIFT: f32 = 0.04;

/// The median of `v` (0 when empty).
fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

#[test]
fn a_viewer_reads_the_smile_on_every_neutral_face() {
    // Measured as a viewer would: the face models find each face again on
    // the rendered frames, and its mouth corners and cheeks at the smile's
    // peak are compared with the photo's (median over the peak's frames,
    // so one mis-tracked frame neither makes nor breaks it).
    let m = face_models();
    let mut weak = Vec::new();
    let mut neutral = 0;
    for name in test_photo_names() {
        let img = smileloop::capture::photo::decode(&photo(&name)).expect("decodes");
        for p in &meshwarp_presets() {
            let (anim, found, source) = animation(&m, &img, p);
            let before: Vec<Look> = found
                .animated
                .iter()
                .map(|f| {
                    Look::read(&m, &source, f)
                        .expect("tracks")
                        .expect("the photo's face")
                })
                .collect();
            let peaks: Vec<Vec<u32>> = (0..before.len()).map(|k| smile_peak(&anim, p, k)).collect();
            let timings = anim.timings().to_vec();
            let mut seen = vec![Seen::default(); before.len()];
            let wanted: std::collections::BTreeSet<u32> = peaks
                .iter()
                .chain(timings.iter().map(|t| &t.blinks))
                .flatten()
                .copied()
                .collect();
            let drawn = Source::new(source.clone());
            let mut frame = source.clone();
            for &i in &wanted {
                draw_frame(&anim, &drawn, &mut frame, i);
                for (k, face) in found.animated.iter().enumerate() {
                    let (peak, blink) = (peaks[k].contains(&i), timings[k].blinks.contains(&i));
                    if !peak && !blink {
                        continue;
                    }
                    let Some(again) = Look::read(&m, &frame, face).expect("tracks") else {
                        continue;
                    };
                    let c = Change::between(&before[k], &again);
                    if peak {
                        seen[k].corners.push((c.corners[0] + c.corners[1]) / 2.0);
                        seen[k].cheeks.push((c.cheeks[0] + c.cheeks[1]) / 2.0);
                        seen[k].eyes.push(c.eyes[0].max(c.eyes[1]));
                    } else {
                        seen[k].blinks.push((i, c.eyes[0].max(c.eyes[1])));
                    }
                }
            }
            for (k, s) in seen.into_iter().enumerate() {
                let who = format!("{name} {} face {k}", p.id());
                assert!(
                    s.corners.len() * 2 >= peaks[k].len(),
                    "{who}: lost on most peak frames"
                );
                assert_eq!(
                    s.blinks.len(),
                    timings[k].blinks.len(),
                    "{who}: lost in a blink"
                );
                let (corners, cheeks, open) = (median(s.corners), median(s.cheeks), median(s.eyes));
                eprintln!(
                    "{who}: corners {:.1} %, cheeks {:.1} %, eyes {:.0} % open, blinks {:?}",
                    100.0 * corners,
                    100.0 * cheeks,
                    100.0 * open,
                    s.blinks
                );
                // A face that already smiles in the photo (the group
                // photos' faces) is shown, not judged: its smile has little
                // left to rise.
                if corner_lift(&before[k].face) >= NEUTRAL_LIFT {
                    continue;
                }
                neutral += 1;
                if corners < 0.03 || cheeks < 0.02 {
                    weak.push(format!(
                        "{who}: mouth corners rise {:.1} %, cheeks {:.1} % of the eye distance",
                        100.0 * corners,
                        100.0 * cheeks
                    ));
                }
            }
        }
    }
    // Five neutral portraits, under each of four presets.
    assert!(neutral >= 20, "only {neutral} neutral faces judged");
    assert!(
        weak.is_empty(),
        "smiles too faint to read (corners ≥ 3 %, cheeks ≥ 2 %):\n{}",
        weak.join("\n")
    );
}
