//! `cargo bench --bench kiosk`: what the guest feels at the kiosk, through
//! the real server on loopback. Figures only.
//!
//! - Live view: frames per second and latency (frame published by the
//!   camera thread → the whole JPEG read from the HTTP stream), over 300
//!   frames of the test-pattern camera (each frame differs, so each can be
//!   matched).
//! - The tap that starts the render (what the kiosk page sends when the
//!   guest picks an animation after "Use this photo"): time to the first
//!   live render frame, to the first frame that moves, and to the playable
//!   watermarked loop, for each test photo.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use smileloop::config::CameraKind;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn key(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn live_view() {
    const FRAMES: usize = 300;
    let server = Server::start(|s| {
        s.camera = CameraKind::Pattern;
        s.camera_fps = 30;
    });
    // The camera thread's publish times, seen from inside the process.
    let published: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let mut rx = server.shared().camera.subscribe();
    let seen = Arc::clone(&published);
    let watcher = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if rx.changed().await.is_err() {
                    break;
                }
                let frame = rx.borrow_and_update().clone();
                if let Some(f) = frame {
                    let mut map = seen.lock().expect("lock");
                    map.insert(key(&f.jpeg.bytes), Instant::now());
                    if map.len() > FRAMES + 200 {
                        break;
                    }
                }
            }
        });
    });
    let mut live = MjpegReader::open(&format!("{}/api/camera/live", server.kiosk));
    live.next_jpeg().expect("first frame");
    let start = Instant::now();
    let mut latencies = Vec::new();
    let mut bytes = 0usize;
    for _ in 0..FRAMES {
        let jpeg = live.next_jpeg().expect("frame");
        let got = Instant::now();
        bytes += jpeg.len();
        if let Some(at) = published.lock().expect("lock").get(&key(&jpeg)) {
            latencies.push(got.duration_since(*at).as_secs_f64() * 1000.0);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(live);
    let _ = watcher.join();
    latencies.sort_by(f64::total_cmp);
    println!(
        "live view   {:.1} fps over {FRAMES} frames (camera set to 30), {:.0} KiB a frame",
        FRAMES as f64 / secs,
        bytes as f64 / FRAMES as f64 / 1024.0
    );
    if !latencies.is_empty() {
        println!(
            "            latency publish→received: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} frames matched)",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies[latencies.len() - 1],
            latencies.len()
        );
    }
    println!(
        "            camera status: {:?}",
        server.shared().camera.status()
    );
}

fn tap_to_loop() {
    let server = Server::start(|_| {});
    println!("animator    {}", server.shared().animator.name());
    for name in test_photo_names() {
        let bytes = photo(&name);
        let tap = Instant::now();
        let (code, job) = upload(&server.kiosk, &bytes, &name, "soft_smile");
        if code != 201 {
            println!("{name:<28} refused: {job}");
            continue;
        }
        let accepted = tap.elapsed();
        let id = job["job_id"].as_str().expect("id").to_string();
        let mut live = MjpegReader::open(&format!("{}/api/jobs/{id}/live", server.kiosk));
        let mut first: Option<(Duration, image::RgbImage)> = None;
        let mut moving = None;
        while let Some(jpeg) = live.next_jpeg() {
            let at = tap.elapsed();
            let img = image::load_from_memory(&jpeg).expect("jpeg").to_rgb8();
            match &first {
                None => first = Some((at, img)),
                Some((_, f)) if moving.is_none() && mean_abs_diff(f, &img) > 0.5 => {
                    moving = Some(at)
                }
                _ => {}
            }
        }
        wait_status(&server.kiosk, &id, "preview_ready");
        let ready = tap.elapsed();
        let ms = |d: Option<Duration>| {
            d.map_or("-".to_string(), |d| {
                format!("{:.0} ms", d.as_secs_f64() * 1000.0)
            })
        };
        println!(
            "{name:<28} accepted {:>7}  first frame {:>7}  first moving {:>7}  loop ready {:>7}",
            ms(Some(accepted)),
            ms(first.map(|f| f.0)),
            ms(moving),
            ms(Some(ready))
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    live_view();
    tap_to_loop();
}
