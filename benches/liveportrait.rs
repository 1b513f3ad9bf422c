//! `cargo bench --bench liveportrait`: the LivePortrait backend per stage,
//! in ms per frame: stitching, warp + decode, paste-back into the HD frame,
//! and H.264 encoding (the whole `soft_smile` render minus the animator).
//! Uses the model files in `SMILELOOP_LIVEPORTRAIT_DIR` when set (the real
//! ones on a provisioning machine or a Jetson), else contract models
//! generated now (same tensors, tiny graphs: they time our code around the
//! networks, not LivePortrait). `SMILELOOP_LIVEPORTRAIT_PROVIDER` picks
//! the provider (default auto). Figures only, no pass/fail.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use smileloop::animate::liveportrait::engine::Provider;
use smileloop::animate::liveportrait::{crop, expression, paste, LivePortrait, Nets, Options};
use smileloop::animate::MeshWarp;
use smileloop::config::EncoderPref;
use smileloop::face::FaceModels;
use smileloop::render::{render, Job, OutputPaths};
use smileloop::{capture, encode, motion};

fn provider() -> Provider {
    match std::env::var("SMILELOOP_LIVEPORTRAIT_PROVIDER").as_deref() {
        Ok("tensorrt") => Provider::Tensorrt,
        Ok("cuda") => Provider::Cuda,
        Ok("cpu") => Provider::Cpu,
        _ => Provider::Auto,
    }
}

fn model_dir(root: &Path, scratch: &Path) -> (PathBuf, &'static str) {
    if let Some(dir) = std::env::var_os("SMILELOOP_LIVEPORTRAIT_DIR") {
        return (PathBuf::from(dir), "installed models");
    }
    let python = root.join(".ci/cache/venv/bin/python");
    let ok = std::process::Command::new(python)
        .arg(root.join("engines/liveportrait/contract_models.py"))
        .arg(scratch)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "contract models (run .ci/setup first)");
    (scratch.to_path_buf(), "contract models")
}

fn ms(t: Instant, frames: usize) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0 / frames as f64
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().expect("tempdir");
    let (dir, what) = model_dir(&root, scratch.path());
    let models = root.join("models");
    let lib = models.join("libonnxruntime.so");
    let faces = Arc::new(FaceModels::load(&lib, &models).expect("face models"));
    let options = Options {
        onnxruntime_lib: &lib,
        dir: &dir,
        provider: provider(),
        cache_dir: scratch.path().join("tensorrt-cache"),
        threads: 0,
    };
    let started = Instant::now();
    let nets = Nets::load(&options).expect("LivePortrait loads");
    let provider = nets.provider;
    println!(
        "{what} from {}, provider {}, loaded in {:.2} s, {} CPUs",
        dir.display(),
        provider.as_str(),
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let presets = motion::load_dir(&root.join("presets")).expect("presets");
    let preset = presets
        .iter()
        .find(|p| p.id() == "soft_smile")
        .expect("soft_smile");
    let frames = preset.frame_count() as usize;
    let photo_path = root.join("../shared/test-photos/grace_hopper.jpg");
    let photo =
        capture::photo::decode(&std::fs::read(&photo_path).expect("photo")).expect("decodes");

    // Per photo, once.
    let t = Instant::now();
    let face = faces.faces(&photo).expect("faces").remove(0);
    let c = crop::face_crop(&face).expect("crop");
    let input = paste::network_input(&photo, c.to_photo);
    let f_s = nets.features(&input).expect("features");
    let source = nets.motion(&input).expect("motion");
    let per_photo = t.elapsed().as_secs_f64() * 1000.0;
    let x_s = source.keypoints();

    // Per frame, stage by stage.
    let t = Instant::now();
    let mut driving: Vec<_> = (0..frames as u32)
        .map(|i| expression::drive(&source, &expression::delta(&preset.at_frame(i))))
        .collect();
    for chunk in driving.chunks_mut(4) {
        nets.stitch(&x_s, chunk).expect("stitching");
    }
    let stitch_ms = ms(t, frames);
    let t = Instant::now();
    let mut generated = Vec::with_capacity(frames);
    for chunk in driving.chunks(4) {
        generated.extend(nets.render(&f_s, &x_s, chunk).expect("warp"));
    }
    let warp_ms = ms(t, frames);
    let (w, h) = smileloop::animate::output_size(
        photo.width(),
        photo.height(),
        smileloop::animate::SizeLimits::default(),
    );
    let background = smileloop::geometry::Scaler::default().scale(&photo, w, h);
    let mask = paste::mask().expect("mask");
    let (sx, sy) = (
        photo.width() as f32 / w as f32,
        photo.height() as f32 / h as f32,
    );
    let m = c.to_crop;
    let to_crop = [m[0] * sx, m[1] * sy, m[2], m[3] * sx, m[4] * sy, m[5]];
    let t = Instant::now();
    let mut frame = background.clone();
    for g in &generated {
        frame.copy_from_slice(background.as_raw());
        paste::paste(&mut frame, g, &mask, to_crop);
    }
    let paste_ms = ms(t, frames);

    // The whole render, encoders included.
    let animator =
        LivePortrait::new(faces.clone(), nets, MeshWarp::new(faces, 6), 6).expect("backend");
    let encoder = encode::detect(EncoderPref::Auto).expect("an H.264 encoder");
    let out_dir = tempfile::tempdir().expect("tempdir");
    let job = Job {
        photo: &photo,
        seed: 0,
        faces: None,
        preset,
        animator: &animator,
        encoder,
        watermark_text: "SmileLoop preview",
    };
    let run = |job: &Job| {
        render(
            job,
            &OutputPaths::in_dir(out_dir.path()),
            &mut |_, _, _| {},
            &AtomicBool::new(false),
        )
        .expect("renders")
    };
    let report = run(&job);
    let total_ms = report.full_ready.as_secs_f64() * 1000.0;
    let encode_ms = (total_ms - report.animate_time.as_secs_f64() * 1000.0) / frames as f64;
    println!(
        "grace_hopper.jpg → {w}×{h}, soft_smile {frames} frames, encoder {}",
        encoder.element()
    );
    println!("per photo (faces, crop, appearance, motion): {per_photo:.1} ms");
    println!(
        "per frame: stitching {stitch_ms:.2} ms, warp+decode {warp_ms:.2} ms, paste-back {paste_ms:.2} ms, encode (full + preview) {encode_ms:.2} ms"
    );
    println!(
        "whole render: full.mp4 in {:.2} s, preview.mp4 in {:.2} s",
        report.full_ready.as_secs_f64(),
        report.preview_ready.as_secs_f64()
    );
    // Groups: each animated face costs its own networks per frame.
    let one_face_ms = report.animate_time.as_secs_f64() * 1000.0 / frames as f64;
    for name in ["kphotoalbum_bar55.jpg", "kphotoalbum_qt_logo.jpg"] {
        let Ok(bytes) = std::fs::read(root.join("../shared/test-photos").join(name)) else {
            println!("{name}: not found");
            continue;
        };
        let group = smileloop::capture::photo::decode(&bytes).expect("decodes");
        let count = smileloop::animate::Animator::check_photo(&animator, &group)
            .map_or(0, |f| f.animated.len());
        let job = Job {
            photo: &group,
            ..job
        };
        let report = run(&job);
        let ms = report.animate_time.as_secs_f64() * 1000.0 / frames as f64;
        println!(
            "{name}: {count} faces, animator {ms:.1} ms/frame (one face: {one_face_ms:.1}), \
             about {:.1} ms/frame per extra face; preview.mp4 in {:.2} s",
            (ms - one_face_ms) / (count.max(2) - 1) as f64,
            report.preview_ready.as_secs_f64()
        );
    }
}
