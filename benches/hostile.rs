//! `cargo bench --bench hostile`: the attacks of `tests/it/network.rs`
//! against the real binary (release build) on loopback, measured. Figures
//! only, no pass/fail.
//!
//! 1. Connection floods: 2,000 half-sent requests on the guest port and
//!    500 on the admin port; the descriptors the kiosk holds, and the
//!    kiosk listener's `/api/health` latency meanwhile.
//! 2. A login burst: 500 wrong passwords at once from 500 addresses;
//!    answers and resident memory.
//! 3. A decode flood: 24 uploads of a 36-megapixel PNG into 8 phone slots
//!    at once; answers, time, photos per second and resident memory.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::io::Write;
use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

use common::net::*;
use common::staff::Staff;
use common::*;

fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

fn counts(statuses: &[u16]) -> String {
    let mut kinds: Vec<u16> = statuses.to_vec();
    kinds.sort_unstable();
    kinds.dedup();
    kinds
        .iter()
        .map(|k| {
            let n = statuses.iter().filter(|s| *s == k).count();
            let name = if *k == RESET {
                "reset".to_string()
            } else {
                k.to_string()
            };
            format!("{n} × {name}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    raise_own_nofile();
    let data = tempfile::tempdir().expect("tempdir");
    let life = spawn_with(
        data.path(),
        &[
            ("SMILELOOP_ANIMATOR", "gentle"),
            ("SMILELOOP_CAMERA", "none"),
            ("RUST_LOG", "warn"),
        ],
    );
    let pid = life.child.id();
    let (guest, admin) = (socket(&life.guest), socket(&life.admin));

    // 1. Floods.
    let idle = descriptors(pid);
    let mut flood = Vec::new();
    let mut held = Vec::new();
    for (to, count) in [(guest, 2000), (admin, 500)] {
        let start = Instant::now();
        for _ in 0..count {
            // Past the cap and a full backlog the SYN goes unanswered.
            if let Ok(mut s) = TcpStream::connect_timeout(&to, Duration::from_millis(50)) {
                let _ = s.write_all(b"GET /api/he");
                flood.push(s);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        held.push((descriptors(pid), start.elapsed().as_secs_f64()));
    }
    let mut latencies = Vec::new();
    let mut unanswered = 0;
    for _ in 0..200 {
        let t = Instant::now();
        match status_within(&life.kiosk, "/api/health", Duration::from_secs(5)) {
            Some(200) => latencies.push(t.elapsed().as_secs_f64() * 1000.0),
            _ => unanswered += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "flood: {} of 2,500 connections opened (2,000 guest, then 500 admin); the kiosk holds \
         {} descriptors after the guest flood ({:.1} s) and {} after the admin flood ({:.1} s), \
         {idle} idle (a half-sent request holds one; caps 256 guest, 64 admin)",
        flood.len(),
        held[0].0,
        held[0].1,
        held[1].0,
        held[1].1
    );
    println!(
        "kiosk /api/health during the flood: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} of 200 unanswered",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
        unanswered
    );
    drop(flood);

    // 2. A login burst from 500 addresses.
    Staff::setup(&life.admin);
    let request = wrong_login_for(&life.admin);
    let before = rss_kib(pid);
    let start = Instant::now();
    let (statuses, peak) = peak_rss_during(pid, || {
        runtime().block_on(async {
            let tasks: Vec<_> = (0..500u32)
                .map(|i| IpAddr::from([127, 2, (i / 250) as u8, (i % 250 + 1) as u8]))
                .map(|ip| tokio::spawn(exchange_secure(ip, admin, request.clone())))
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(match t.await {
                    Ok(Ok(answer)) => status_of(&answer),
                    _ => RESET,
                });
            }
            out
        })
    });
    println!(
        "login burst, 500 addresses at once: {} in {:.1} s; RSS {:.0} → peak {:.0} → {:.0} MiB",
        counts(&statuses),
        start.elapsed().as_secs_f64(),
        mib(before),
        mib(peak),
        mib(rss_kib(pid))
    );

    // 3. A decode flood through the phone slots.
    let big = big_png();
    let links = phone_links(&life.kiosk, 8);
    let before = rss_kib(pid);
    let start = Instant::now();
    let (statuses, peak) = peak_rss_during(pid, || {
        let sends = upload_flood(&life.guest, &links, 3, &big);
        sends
            .into_iter()
            .map(|t| t.join().unwrap_or(RESET))
            .collect::<Vec<u16>>()
    });
    let seconds = start.elapsed().as_secs_f64();
    let delivered = statuses.iter().filter(|s| **s == 200).count();
    println!(
        "decode flood, 24 × 36 MP PNG into 8 slots: {} in {seconds:.1} s ({:.1} photos/s); \
         RSS {:.0} → peak {:.0} → {:.0} MiB",
        counts(&statuses),
        delivered as f64 / seconds,
        mib(before),
        mib(peak),
        mib(rss_kib(pid))
    );
    life.terminate();
}
