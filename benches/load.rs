//! `cargo bench --bench load`: the real binary on loopback under a bounded
//! load generator. Figures only; nothing here is an assertion about speed.
//!
//! 1. Phones: `LOAD_PHONES` (200) phones each poll their guest page and
//!    their job's status every 2 s for `LOAD_SECONDS` (600) while renders
//!    run back to back: p50/p99 latency, errors, memory.
//! 2. Burst: three times the queue limit of uploads at once: how many are
//!    taken, how many get a clean 503, memory, and the time to drain.
//! 3. Soak: `SOAK_JOBS` (1000) renders one after another: resident memory
//!    at the start and at the end.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (current, peak) resident memory of `pid` in MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn status_of(url: &str) -> Option<u16> {
    match agent().get(url).call() {
        Ok(r) => Some(r.status()),
        Err(ureq::Error::Status(s, _)) => Some(s),
        Err(_) => None,
    }
}

fn queued(kiosk: &str) -> u64 {
    get_json(&format!("{kiosk}/api/health")).1["queued"]
        .as_u64()
        .unwrap_or(0)
}

fn upload_one(kiosk: &str, photo: &[u8]) -> (u16, Option<(String, String)>) {
    let (s, v) = upload(kiosk, photo, "g.jpg", "soft_smile");
    let ids = (s == 201).then(|| {
        (
            v["job_id"].as_str().unwrap_or_default().to_string(),
            v["token"].as_str().unwrap_or_default().to_string(),
        )
    });
    (s, ids)
}

fn main() {
    let phones = env_number("LOAD_PHONES", 200) as usize;
    let seconds = env_number("LOAD_SECONDS", 600);
    let soak_jobs = env_number("SOAK_JOBS", 1000);
    let data = tempfile::tempdir().expect("tempdir");
    let mut life = spawn_with(
        data.path(),
        &[("SMILELOOP_EVENT_MODE", "free"), ("RUST_LOG", "warn")],
    );
    let (kiosk, guest) = (life.kiosk.clone(), life.guest.clone());
    let pid = life.child.id();
    let photo = photo("grace_hopper.jpg");

    // Jobs for the phones to watch.
    let mut jobs = Vec::new();
    for _ in 0..8 {
        if let (201, Some(ids)) = upload_one(&kiosk, &photo) {
            jobs.push(ids);
        }
    }
    while queued(&kiosk) > 0 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (rss_start, _) = rss_mib(pid);

    // 1. Phones polling while renders run back to back.
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let errors = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for phone in 0..phones {
        let (id, token) = jobs[phone % jobs.len()].clone();
        let (kiosk, guest) = (kiosk.clone(), guest.clone());
        let (stop, latencies, errors) = (stop.clone(), latencies.clone(), errors.clone());
        threads.push(std::thread::spawn(move || {
            // Phones do not arrive in step.
            std::thread::sleep(Duration::from_millis((phone as u64 * 2000) / 200));
            while !stop.load(Ordering::Relaxed) {
                for url in [
                    format!("{guest}/g/{token}"),
                    format!("{kiosk}/api/jobs/{id}"),
                ] {
                    let t = Instant::now();
                    let ok = status_of(&url) == Some(200);
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    if ok {
                        latencies.lock().expect("lock").push(ms);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        }));
    }
    let start = Instant::now();
    let mut renders = 0;
    let mut peak: f64 = 0.0;
    while start.elapsed() < Duration::from_secs(seconds) {
        if queued(&kiosk) == 0 && upload_one(&kiosk, &photo).0 == 201 {
            renders += 1;
        }
        peak = peak.max(rss_mib(pid).0);
        std::thread::sleep(Duration::from_millis(250));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let mut lat = latencies.lock().expect("lock").clone();
    lat.sort_by(f64::total_cmp);
    let (rss_after, _) = rss_mib(pid);
    println!(
        "phones: {phones} phones × {seconds} s, {renders} renders meanwhile: {} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, errors {}; RSS {rss_start:.0} → {rss_after:.0} MiB (peak {peak:.0})",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        errors.load(Ordering::Relaxed),
    );

    // 2. A burst of uploads beyond the queue limit.
    let limit = get_json(&format!("{kiosk}/api/health")).1["queue_limit"]
        .as_u64()
        .unwrap_or(20) as usize;
    let counts = Arc::new(Mutex::new(std::collections::BTreeMap::<u16, u32>::new()));
    let burst: Vec<_> = (0..3 * limit)
        .map(|_| {
            let (kiosk, photo, counts) = (kiosk.clone(), photo.clone(), counts.clone());
            std::thread::spawn(move || {
                let (s, _) = upload_one(&kiosk, &photo);
                *counts.lock().expect("lock").entry(s).or_default() += 1;
            })
        })
        .collect();
    for t in burst {
        let _ = t.join();
    }
    let (rss_burst, _) = rss_mib(pid);
    let drain = Instant::now();
    while queued(&kiosk) > 0
        || get_json(&format!("{kiosk}/api/health")).1["rendering"] != serde_json::Value::Null
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "burst: {} uploads at once, queue limit {limit}: answers {:?}; RSS {rss_burst:.0} MiB; drained in {:.1} s",
        3 * limit,
        counts.lock().expect("lock"),
        drain.elapsed().as_secs_f64()
    );

    // 3. Soak: renders one after another.
    let (soak_start, _) = rss_mib(pid);
    let t = Instant::now();
    let mut done = 0;
    let every = (soak_jobs / 10).max(1);
    while done < soak_jobs {
        if queued(&kiosk) < 2 && upload_one(&kiosk, &photo).0 == 201 {
            done += 1;
            if done % every == 0 {
                // The curve, not two points, tells a leak from a plateau.
                let (now, peak) = rss_mib(pid);
                println!("soak: {done} jobs, RSS {now:.0} MiB (peak {peak:.0})");
            }
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    while queued(&kiosk) > 0 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (soak_end, soak_peak) = rss_mib(pid);
    println!(
        "soak: {soak_jobs} jobs in {:.0} s; RSS at start {soak_start:.0} MiB, at end {soak_end:.0} MiB, peak {soak_peak:.0} MiB",
        t.elapsed().as_secs_f64()
    );
    let _ = life.child.kill();
    let _ = life.child.wait();
}
