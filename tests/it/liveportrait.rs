//! The LivePortrait backend on contract models (LivePortrait's exact tensor
//! names, shapes and types, real operators, generated at test time by
//! `engines/liveportrait/contract_models.py`), and its math against numpy
//! reference values (`engines/liveportrait/reference_math.py`).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use image::GenericImageView;
use serde_json::{json, Value};
use smileloop::animate::liveportrait::engine::Provider;
use smileloop::animate::liveportrait::kp::{self, Kp, Motion, STITCH_OUT, ZERO_KP};
use smileloop::animate::liveportrait::{
    crop, expression, paste, LivePortraitError, Nets, Options, BATCH,
};
use smileloop::animate::{Animator, LivePortrait, MeshWarp, Request};
use smileloop::backend::Backend;
use smileloop::face::FaceModels;
use smileloop::motion::{load_dir, DrivingFrame, Expression, Preset};

/// Contract models in a fresh folder, with the generator's `flags`.
fn contract_models(flags: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(venv_python())
        .arg(repo().join("engines/liveportrait/contract_models.py"))
        .arg(dir.path())
        .args(flags)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn face_models() -> Arc<FaceModels> {
    let dir = repo().join("models");
    Arc::new(FaceModels::load(&dir.join("libonnxruntime.so"), &dir).expect("face models"))
}

fn nets(dir: &Path) -> Result<Nets, LivePortraitError> {
    Nets::load(&Options {
        onnxruntime_lib: &repo().join("models/libonnxruntime.so"),
        dir,
        provider: Provider::Cpu,
        cache_dir: dir.join("cache"),
        threads: 2,
    })
}

fn backend(dir: &Path) -> LivePortrait {
    let faces = face_models();
    LivePortrait::new(
        faces.clone(),
        nets(dir).expect("nets load"),
        MeshWarp::new(faces, 6),
        6,
    )
    .expect("backend")
}

fn presets() -> Vec<Preset> {
    load_dir(&repo().join("presets")).expect("presets")
}

fn preset(id: &str) -> Preset {
    presets()
        .into_iter()
        .find(|p| p.id() == id)
        .expect("preset")
}

fn decoded(name: &str) -> image::RgbImage {
    smileloop::capture::photo::decode(&photo(name)).expect("decodes")
}

/// A deterministic pseudo-random sequence in -1..1.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn kp(&mut self, scale: f32) -> Kp {
        let mut k = ZERO_KP;
        for p in k.iter_mut() {
            *p = [
                self.next() * scale,
                self.next() * scale,
                self.next() * scale,
            ];
        }
        k
    }
}

fn assert_close(what: &str, rust: &[f32], numpy: &Value, eps: f32) {
    let reference: Vec<f32> = numpy
        .as_array()
        .expect("array")
        .iter()
        .flat_map(|v| match v.as_array() {
            Some(row) => row
                .iter()
                .map(|x| x.as_f64().expect("number") as f32)
                .collect(),
            None => vec![v.as_f64().expect("number") as f32],
        })
        .collect();
    assert_eq!(rust.len(), reference.len(), "{what}: length");
    for (i, (a, b)) in rust.iter().zip(&reference).enumerate() {
        assert!((a - b).abs() <= eps, "{what}[{i}]: rust {a} vs numpy {b}");
    }
}

#[test]
fn math_matches_independent_numpy_reference() {
    let mut r = Lcg(7);
    let bins: Vec<Vec<f32>> = (0..3)
        .map(|_| (0..66).map(|_| r.next() * 4.0).collect())
        .collect();
    let (kp_c, exp) = (r.kp(0.5), r.kp(0.02));
    let pose = [12.5f32, -20.0, 7.25];
    let (scale, t) = (1.37f32, [0.03f32, -0.05, 0.4]);
    let source = Motion {
        pitch: -4.0,
        yaw: 9.0,
        roll: -2.5,
        t: [0.02, 0.01, 0.3],
        exp: r.kp(0.02),
        scale: 1.6,
        kp: r.kp(0.5),
    };
    let driving = |r: &mut Lcg, p: [f32; 3]| DrivingFrame {
        scale: 1.0 + r.next() * 0.1,
        r: kp::rotation(p[0], p[1], p[2]),
        exp: r.kp(0.03),
        t: [r.next() * 0.05, r.next() * 0.05, r.next()],
    };
    let (first, frame) = (
        driving(&mut r, [3.0, -1.0, 0.5]),
        driving(&mut r, [-6.0, 8.0, 2.0]),
    );
    let x_d = r.kp(0.5);
    let delta: Vec<f32> = (0..STITCH_OUT).map(|_| r.next() * 0.01).collect();
    let points: Vec<[f32; 2]> = (0..40)
        .map(|_| [400.0 + r.next() * 150.0, 500.0 + r.next() * 200.0])
        .collect();
    let (eyes, mouth) = ([410.0f32, 440.0], [440.0f32, 600.0]);
    let lips = r.kp(0.01);
    let motion_json = |m: &Motion| {
        json!({"pitch": m.pitch, "yaw": m.yaw, "roll": m.roll, "t": m.t, "exp": m.exp,
               "scale": m.scale, "kp": m.kp})
    };
    let frame_json = |f: &DrivingFrame| json!({"scale": f.scale, "R": f.r, "exp": f.exp, "t": f.t});
    let query = json!({
        "bins": {"pitch": bins[0], "yaw": bins[1], "roll": bins[2]},
        "pose": pose, "kp": kp_c, "exp": exp, "scale": scale, "t": t,
        "source": motion_json(&source), "frame": frame_json(&frame), "first": frame_json(&first),
        "x_d": x_d, "delta": delta, "lips": lips, "roll": 7.5, "blink": 8.0,
        "sliders": {"smile": 0.7, "wink": 10.0, "eyebrow": 6.0, "lip_open": 12.0},
        "crop": {"points": points, "eyes": eyes, "mouth": mouth},
    });
    let mut child = Command::new(venv_python())
        .arg(repo().join("engines/liveportrait/reference_math.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(query.to_string().as_bytes())
        .expect("query written");
    let out = child.wait_with_output().expect("reference runs");
    assert!(out.status.success());
    let numpy: Value = serde_json::from_slice(&out.stdout).expect("json");

    let degrees: Vec<f32> = bins.iter().map(|b| kp::degrees_from_bins(b)).collect();
    assert_close("pose bins", &degrees, &numpy["bins"], 1e-3);
    let rot = kp::rotation(pose[0], pose[1], pose[2]);
    assert_close("rotation", rot.as_flattened(), &numpy["rotation"], 1e-6);
    let x = kp::transform(&kp_c, &rot, &exp, scale, t);
    assert_close("transform", x.as_flattened(), &numpy["transform"], 1e-5);
    assert_close(
        "x_s",
        source.keypoints().as_flattened(),
        &numpy["source_kp"],
        1e-5,
    );
    let rel = kp::relative(&source, &frame, &first);
    assert_close(
        "relative motion",
        rel.as_flattened(),
        &numpy["relative"],
        1e-5,
    );
    let mut stitched = x_d;
    kp::apply_stitching(&mut stitched, delta.as_slice().try_into().expect("65"));
    assert_close(
        "stitching",
        stitched.as_flattened(),
        &numpy["stitched"],
        1e-6,
    );
    // Upstream adds the lip-closing offset after stitching, which sees
    // the driving keypoints without it.
    let mut finished = [x_d];
    kp::stitch_then_close_lips(&mut finished, Some(&lips), |d| {
        assert_eq!(d, [x_d], "stitching's input has no lip offset");
        kp::apply_stitching(&mut d[0], delta.as_slice().try_into().expect("65"));
        Ok::<_, ()>(())
    })
    .expect("stitched");
    assert_close(
        "stitching, then the lip offset",
        finished[0].as_flattened(),
        &numpy["stitched_lips"],
        1e-6,
    );
    // Our roll is upstream's: a preset's roll of 7.5° is its 7.5°.
    let still = Motion {
        pitch: 0.0,
        yaw: 0.0,
        roll: 0.0,
        t: [0.0; 3],
        exp: ZERO_KP,
        scale: 1.0,
        kp: kp_c,
    };
    let rolled = expression::drive(
        &still,
        &expression::delta(&Expression {
            head_roll: 7.5,
            ..Default::default()
        }),
    );
    assert_close("roll", rolled.as_flattened(), &numpy["rolled"], 1e-6);
    // A blink is upstream's blink slider: the lids alone.
    let blink = expression::delta(&Expression {
        blink: 8.0 / expression::WINK_FULL,
        ..Default::default()
    });
    assert_close("blink", blink.exp.as_flattened(), &numpy["blink"], 1e-6);
    // Our preset values for the same slider settings.
    let d = expression::delta(&Expression {
        smile: 0.7 / expression::SMILE_FULL,
        wink_right: 10.0 / expression::WINK_FULL,
        brow_raise: 6.0 / expression::BROW_FULL,
        mouth_open: 12.0 / expression::LIP_OPEN_FULL,
        ..Default::default()
    });
    assert_close(
        "expression sliders",
        d.exp.as_flattened(),
        &numpy["sliders"],
        1e-6,
    );
    let c = crop::crop_for(&points, eyes, mouth, 512.0).expect("crop");
    assert_close("crop transform", &c.to_crop, &numpy["crop"], 2e-3);
    // Round trip photo → crop → photo within half a pixel.
    for p in &points {
        let back =
            smileloop::face::roi::apply(&c.to_photo, smileloop::face::roi::apply(&c.to_crop, *p));
        assert!(
            (back[0] - p[0]).abs() < 0.5 && (back[1] - p[1]).abs() < 0.5,
            "{p:?} → {back:?}"
        );
    }
}

#[test]
fn warp_binds_driving_and_source_by_name() {
    let dir = contract_models(&[]);
    let nets = nets(dir.path()).expect("contract models load");
    let photo = decoded("grace_hopper.jpg");
    let face = &face_models().faces(&photo).expect("faces")[0];
    let c = crop::face_crop(face).expect("crop");
    let input = paste::network_input(&photo, c.to_photo);
    let f_s = nets.features(&input).expect("features");
    let motion = nets.motion(&input).expect("motion");
    // The contract motion extractor's pose peaks near +4.5°, -4.5°, +1.5°:
    // read by name, not by position (its outputs are declared shuffled).
    assert!((motion.pitch - 4.5).abs() < 2.0, "pitch {}", motion.pitch);
    assert!((motion.yaw + 4.5).abs() < 2.0, "yaw {}", motion.yaw);
    assert!((motion.scale - 1.5).abs() < 0.1, "scale {}", motion.scale);
    let x_s = motion.keypoints();
    // Every driving keypoint 0.1 to the right: the face moves right by
    // 0.1 of the half-width, 25.6 px of the 512 output.
    let mut moved = x_s;
    for p in moved.iter_mut() {
        p[0] += 0.1;
    }
    let out = nets.render(&f_s, &x_s, &[x_s, moved]).expect("renders");
    let (still, shifted) = (&out[0], &out[1]);
    let mut err_right = 0.0;
    let mut err_left = 0.0;
    for y in (100..412).step_by(4) {
        for x in (100..412).step_by(4) {
            let v = f64::from(shifted.get_pixel(x, y).0[1]);
            err_right += (v - f64::from(still.get_pixel(x - 26, y).0[1])).abs();
            err_left += (v - f64::from(still.get_pixel(x + 26, y).0[1])).abs();
        }
    }
    assert!(
        err_right * 3.0 < err_left,
        "moved the wrong way: {err_right} vs {err_left}"
    );
}

#[test]
fn contract_models_animate_a_photo_into_an_mp4() {
    let dir = contract_models(&[]);
    let lp = backend(dir.path());
    let photo = decoded("grace_hopper.jpg");
    let out_dir = tempfile::tempdir().expect("tempdir");
    let preset = preset("soft_smile");
    let encoder = smileloop::encode::detect(smileloop::config::EncoderPref::X264enc).expect("x264");
    let mut frames = Vec::new();
    let job = smileloop::render::Job {
        photo: &photo,
        seed: 0,
        faces: None,
        preset: &preset,
        animator: &lp,
        encoder,
        watermark_text: "SmileLoop preview",
    };
    let paths = smileloop::render::OutputPaths::in_dir(out_dir.path());
    let report = smileloop::render::render(
        &job,
        &paths,
        &mut |done, _, frame| {
            if done % 10 == 1 {
                frames.push(frame.clone());
            }
        },
        &AtomicBool::new(false),
    )
    .expect("renders");
    assert_eq!(report.backend, Backend::Liveportrait);
    let full = inspect_mp4(&std::fs::read(&paths.full).expect("full.mp4"));
    assert_eq!(full.samples, preset.frame_count());
    assert_eq!(
        (u32::from(full.width), u32::from(full.height)),
        (report.plan.width, report.plan.height)
    );
    // The generated face changes over the loop; the corners of the photo,
    // outside the paste-back mask, do not.
    let (first, later) = (&frames[0], &frames[frames.len() / 2]);
    assert!(mean_abs_diff(first, later) > 0.05, "the face does not move");
    let corner = |f: &image::RgbImage| f.view(0, 0, 40, 40).to_image();
    assert_eq!(corner(first), corner(later));
}

#[test]
fn batched_models_render_the_same_frames() {
    let (single, batched) = (contract_models(&[]), contract_models(&["--dynamic-batch"]));
    let photo = decoded("grace_hopper.jpg");
    let p = preset("smile_wink");
    let frames = |dir: &Path| {
        let mut a = backend(dir)
            .start(&photo, &p, &Request::default())
            .expect("starts");
        (0..6)
            .map(|_| a.next_frame().expect("frame").expect("some").clone())
            .collect::<Vec<_>>()
    };
    let (one, many) = (frames(single.path()), frames(batched.path()));
    for (i, (a, b)) in one.iter().zip(&many).enumerate() {
        assert!(mean_abs_diff(a, b) < 0.5, "frame {i} differs");
    }
}

#[test]
fn template_presets_play_only_on_liveportrait() {
    let dir = contract_models(&[]);
    let lp = backend(dir.path());
    let talking = preset("talking");
    assert!(talking.template().is_some());
    assert!(!talking.supports_backend(Backend::Meshwarp));
    let photo = decoded("grace_hopper.jpg");
    let mut a = lp
        .start(&photo, &talking, &Request::default())
        .expect("starts");
    let plan = a.plan();
    assert_eq!(plan.frame_count, 100);
    let first = a.next_frame().expect("frame").expect("some").clone();
    let mut moved = 0.0f64;
    while let Some(f) = a.next_frame().expect("frame") {
        moved = moved.max(mean_abs_diff(&first, f));
    }
    assert!(moved > 0.05, "the template does not move the face");
    let mesh = MeshWarp::new(face_models(), 6);
    assert!(mesh.start(&photo, &talking, &Request::default()).is_err());
}

#[test]
fn wrong_or_missing_models_are_refused_with_the_file_named() {
    let dir = contract_models(&[]);
    // stitching_lip in the place of stitching: names fit, shapes do not.
    std::fs::copy(
        dir.path().join("stitching_lip.onnx"),
        dir.path().join("stitching.onnx"),
    )
    .expect("copy");
    let message = nets(dir.path()).err().expect("refused").to_string();
    assert!(
        message.contains("stitching.onnx") && message.contains("shape"),
        "{message}"
    );
    let empty = tempfile::tempdir().expect("tempdir");
    let message = nets(empty.path()).err().expect("refused").to_string();
    assert!(
        message.contains("missing") && message.contains("appearance_feature_extractor.onnx"),
        "{message}"
    );
}

#[test]
fn kiosk_falls_back_to_meshwarp_when_the_engine_is_missing_or_fails() {
    // Missing: the kiosk starts on meshwarp and says why.
    let missing = tempfile::tempdir().expect("tempdir");
    let server = Server::start(|s| {
        s.animator = smileloop::config::Backend::Liveportrait;
        s.liveportrait_dir = missing.path().to_path_buf();
    });
    let (_, health) = get_json(&format!("{}/api/health", server.kiosk));
    assert_eq!(health["animator"], "meshwarp");
    let note = health["animator_note"].as_str().unwrap_or_default();
    assert!(note.contains("liveportrait unavailable"), "{health}");
    drop(server);

    // Fails mid-job: the job is rendered again with meshwarp.
    let broken = contract_models(&["--broken-warp"]);
    let server = Server::start(|s| {
        s.animator = smileloop::config::Backend::Liveportrait;
        s.liveportrait_dir = broken.path().to_path_buf();
    });
    let (_, health) = get_json(&format!("{}/api/health", server.kiosk));
    assert_eq!(health["animator"], "liveportrait");
    let (status, job) = upload(
        &server.kiosk,
        &photo("grace_hopper.jpg"),
        "g.jpg",
        "soft_smile",
    );
    assert_eq!(status, 201, "{job}");
    let id = job["job_id"].as_str().expect("job_id").to_string();
    let done = wait_for(&server.kiosk, &id, Duration::from_secs(240), |j| {
        j["status"] == "preview_ready" || j["status"] == "failed"
    });
    assert_eq!(done["status"], "preview_ready", "{done}");
    let (_, health) = get_json(&format!("{}/api/health", server.kiosk));
    let note = health["animator_note"].as_str().unwrap_or_default();
    assert!(note.contains("re-rendered with meshwarp"), "{health}");
    let record = server
        .shared()
        .store
        .get(id.parse().expect("id"))
        .expect("read")
        .expect("job");
    assert_eq!(record.backend, Some(Backend::Meshwarp));
}

#[test]
fn every_face_of_a_group_is_animated_and_pasted_in_its_own_place() {
    let dir = contract_models(&[]);
    let lp = backend(dir.path());
    // Three friends, far enough apart that one face's paste-back never
    // reaches another's eyes.
    let photo = decoded("kphotoalbum_qt_logo.jpg");
    let found = lp.check_photo(&photo).expect("usable faces");
    assert_eq!(found.animated.len(), 3);
    let p = preset("soft_smile");
    let mut a = lp
        .start(
            &photo,
            &p,
            &Request {
                faces: Some(&found),
                ..Request::default()
            },
        )
        .expect("starts");
    let plan = a.plan();
    let frame = a.next_frame().expect("frame").expect("some").clone();
    let background = smileloop::geometry::Scaler::default().scale(&photo, plan.width, plan.height);
    let (sx, sy) = (
        plan.width as f32 / photo.width() as f32,
        plan.height as f32 / photo.height() as f32,
    );
    // Each face's own eye region is replaced by that face's rendering.
    for (k, face) in found.animated.iter().enumerate() {
        let [ex, ey] = face.eye_centre(false);
        let side = (face.inter_ocular() * sx / 2.0) as u32;
        let (x, y) = ((ex * sx) as u32 - side / 2, (ey * sy) as u32 - side / 2);
        let (a, b) = (
            frame.view(x, y, side, side).to_image(),
            background.view(x, y, side, side).to_image(),
        );
        let d = mean_abs_diff(&a, &b);
        assert!(d > 1.0, "face {k}: its eye region is the photo's ({d:.2})");
    }
    let corner = |f: &image::RgbImage| f.view(0, 0, 40, 40).to_image();
    assert_eq!(
        corner(&frame),
        corner(&background),
        "the background stays the photo"
    );
    // A batched model takes the faces of a group in one warp call: the
    // same frames as one face at a time.
    let batched = contract_models(&["--dynamic-batch"]);
    let request = Request {
        faces: Some(&found),
        ..Request::default()
    };
    let mut b = backend(batched.path())
        .start(&photo, &p, &request)
        .expect("starts");
    let mut a = lp.start(&photo, &p, &request).expect("starts");
    for i in 0..BATCH {
        let (x, y) = (
            a.next_frame().expect("frame").expect("some").clone(),
            b.next_frame().expect("frame").expect("some").clone(),
        );
        assert!(
            mean_abs_diff(&x, &y) < 0.5,
            "frame {i} differs when batched"
        );
    }
}
