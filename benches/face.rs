//! `cargo bench --bench face`: face detection + 468 landmarks per photo on
//! this CPU with ONNX Runtime (one intra-op thread). Median of 20 runs after
//! a warm-up; figures only.

use std::path::PathBuf;
use std::time::Instant;

use smileloop::face::FaceModels;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let models = root.join("models");
    let m = FaceModels::load(&models.join("libonnxruntime.so"), &models)
        .expect("run engines/face/install first");
    println!(
        "{:<26} {:>10} {:>8} {:>10}",
        "photo", "size", "faces", "median ms"
    );
    for name in [
        "grace_hopper.jpg",
        "astronaut.png",
        "kphotoalbum_jesper_2.jpg",
        "gramps_e_w_dahlgren.jpg",
        "gramps_canon_man.jpg",
        "gramps_riga_old_man.jpg",
    ] {
        let Ok(bytes) = std::fs::read(root.join("../shared/test-photos").join(name)) else {
            continue;
        };
        let img = smileloop::capture::photo::decode(&bytes).expect("decodes");
        let faces = m.faces(&img).expect("warm-up").len();
        let mut times: Vec<f64> = (0..20)
            .map(|_| {
                let t = Instant::now();
                let _ = m.faces(&img);
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "{:<26} {:>10} {:>8} {:>10.1}",
            name,
            format!("{}x{}", img.width(), img.height()),
            faces,
            times[10]
        );
    }
}
