//! `cargo bench --bench warp`: the mesh-warp's per-frame cost on one core
//! for a 1080 × 1350 portrait frame (the camera's crop), every frame of
//! `smile_wink` (head motion, smile and a wink), or of the preset named in
//! `SMILELOOP_BENCH_PRESET` (`big_smile` opens the mouth). Each test photo is scaled
//! to cover 1080 × 1350 and centre-cropped. Each frame is timed three
//! times and keeps its best; prints the mean field build and remap and the
//! slowest frame. Figures only, no pass/fail.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smileloop::animate::meshwarp::{remap, rig_for, Source};
use smileloop::animate::SizeLimits;
use smileloop::face::FaceModels;
use smileloop::motion;

const W: u32 = 1080;
const H: u32 = 1350;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let models = root.join("models");
    let models = Arc::new(
        FaceModels::load(&models.join("libonnxruntime.so"), &models)
            .expect("run engines/face/install first"),
    );
    let presets = motion::load_dir(&root.join("presets")).expect("presets");
    let id = std::env::var("SMILELOOP_BENCH_PRESET").unwrap_or_else(|_| "smile_wink".into());
    let preset = presets
        .iter()
        .find(|p| p.id() == id)
        .unwrap_or_else(|| panic!("no preset {id}"));
    println!(
        "{W}x{H}, preset {} ({} frames), one thread",
        preset.id(),
        preset.frame_count()
    );
    println!(
        "{:<26} {:>9} {:>10} {:>10} {:>10}",
        "photo", "grid", "field ms", "remap ms", "slowest"
    );
    for entry in std::fs::read_dir(root.join("../shared/test-photos")).expect("test photos") {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        let photo = common::portrait(
            &smileloop::capture::photo::decode(&bytes).expect("decodes"),
            W,
            H,
        );
        let limits = SizeLimits {
            max_long_side: H,
            min_long_side: 2,
        };
        let (rig, _, _) = match rig_for(&models, &photo, limits) {
            Ok(r) => r,
            Err(e) => {
                println!("{name:<26} skipped: {e}");
                continue;
            }
        };
        let mut frame = photo.clone();
        let source = Source::new(photo);
        // Each frame's best of three rounds: the VM's neighbours add noise
        // that a single pass would charge to whichever frame it hit.
        let n = preset.frame_count();
        let mut best = vec![(Duration::MAX, Duration::MAX); n as usize];
        for _ in 0..3 {
            for (i, b) in (0..n).zip(best.iter_mut()) {
                let t = Instant::now();
                let field = rig.field(&preset.at_frame(i));
                let t1 = Instant::now();
                remap(&source, &mut frame, &field);
                *b = (b.0.min(t1 - t), b.1.min(t1.elapsed()));
            }
        }
        let field_t: Duration = best.iter().map(|b| b.0).sum();
        let remap_t: Duration = best.iter().map(|b| b.1).sum();
        let worst = best.iter().map(|b| b.0 + b.1).max().unwrap_or_default();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(n);
        let grid = {
            let f = rig.field(&preset.at_frame(0));
            format!("{}x{}", f.nx, f.ny)
        };
        println!(
            "{:<26} {:>9} {:>10.2} {:>10.2} {:>10.2}",
            name,
            grid,
            ms(field_t),
            ms(remap_t),
            worst.as_secs_f64() * 1000.0
        );
    }
}
