//! The eyes of a meshwarp loop, on every face of every test photo (the
//! moustached one and both groups included): a smile narrows them, every
//! face blinks on its own, never across the loop's seam, and a wink stays
//! a wink.
//!
//! Eye openings are read from the field (the lid landmarks moved by it):
//! Face Mesh without its iris refinement does not follow lids, so a frame
//! whose eyes are shut (seen on the frames) still reads about 90 % open.
//! What the face models read of the mouth and cheeks on rendered frames is
//! printed by `cargo bench --bench expression`.

use image::RgbImage;

use crate::common::*;
use smileloop::animate::cast::Timing;
use smileloop::animate::meshwarp::{cast_for, find_faces, MeshAnimation, Source};
use smileloop::animate::rig::Field;
use smileloop::animate::SizeLimits;
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
