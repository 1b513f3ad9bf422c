//! `cargo bench --bench animate`: the `smileloop animate` path on the test
//! photos with a 4-second preset. Prints wall time to `full.mp4` and to
//! `preview.mp4`, HD encoding frames per second, the animator's ms per
//! frame and the process's peak memory. Figures only, no pass/fail.

mod common;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use smileloop::config::{Backend, EncoderPref};
use smileloop::render::{render, Job, OutputPaths};
use smileloop::{animate, capture, encode, motion};

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let presets = motion::load_dir(&root.join("presets")).expect("presets");
    let preset = presets
        .iter()
        .find(|p| p.id() == "soft_smile")
        .expect("soft_smile");
    let encoder = encode::detect(EncoderPref::Auto).expect("an H.264 encoder");
    let kind = match std::env::var("SMILELOOP_ANIMATOR").as_deref() {
        Ok("gentle") => Backend::Gentle,
        _ => Backend::Meshwarp,
    };
    let models = root.join("models");
    let settings = smileloop::config::Settings {
        animator: kind,
        onnxruntime_lib: models.join("libonnxruntime.so"),
        models_dir: models,
        ..Default::default()
    };
    let (animator, fallback) = animate::from_config(&settings);
    assert!(fallback.is_none(), "{fallback:?}");
    let out_dir = tempfile::tempdir().expect("tempdir");
    println!(
        "preset {} ({} frames at {} fps), backend {}, encoder {}, {} CPUs",
        preset.id(),
        preset.frame_count(),
        preset.fps(),
        animator.name(),
        encoder.element(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<34} {:>6} {:>10} {:>9} {:>9} {:>9} {:>10} {:>9}",
        "photo", "faces", "size", "ms/frame", "full s", "prev s", "enc fps", "peak MiB"
    );
    // (photo, cropped to the camera's 4:5 still at 1080 × 1350?)
    for (name, crop) in [
        ("grace_hopper.jpg", false),
        ("kphotoalbum_jesper_2.jpg", false),
        ("gramps_canon_man.jpg", false),
        ("gramps_canon_man.jpg", true),
        ("kphotoalbum_bar55.jpg", false),
        ("kphotoalbum_bar55.jpg", true),
        ("kphotoalbum_qt_logo.jpg", false),
        ("kphotoalbum_qt_logo.jpg", true),
    ] {
        let path = root.join("../shared/test-photos").join(name);
        let Ok(mut bytes) = std::fs::read(&path) else {
            println!("{name}: not found at {}", path.display());
            continue;
        };
        if crop {
            let photo = capture::photo::decode(&bytes).expect("decodes");
            bytes = common::jpeg(&common::portrait(&photo, 1080, 1350));
        }
        let label = format!("{}, 4:5 crop (jpeg)", name.trim_end_matches(".jpg"));
        let name = if crop { label.as_str() } else { name };
        let t0 = Instant::now();
        let photo = capture::photo::decode(&bytes).expect("decodes");
        let decode_s = t0.elapsed().as_secs_f64();
        // The render finds the faces itself (as it does without a stored
        // check); this count is only for the table.
        let faces = animator.check_photo(&photo).map_or(0, |f| f.animated.len());
        let job = Job {
            photo: &photo,
            seed: 0,
            faces: None,
            preset,
            animator: animator.as_ref(),
            encoder,
            watermark_text: "SmileLoop preview",
        };
        let out = OutputPaths::in_dir(out_dir.path());
        let report =
            render(&job, &out, &mut |_, _, _| {}, &AtomicBool::new(false)).expect("renders");
        let p = report.plan;
        println!(
            "{:<34} {:>6} {:>10} {:>9.1} {:>9.2} {:>9.2} {:>10.1} {:>9.0}",
            name,
            faces,
            format!("{}x{}", p.width, p.height),
            report.animate_time.as_secs_f64() * 1000.0 / f64::from(p.frame_count),
            decode_s + report.full_ready.as_secs_f64(),
            decode_s + report.preview_ready.as_secs_f64(),
            f64::from(p.frame_count) / report.full_ready.as_secs_f64(),
            peak_rss_mib()
        );
    }
}
