//! `kill -9` in the middle of retention: the real binary starts on a data
//! directory whose videos are past their retention (its wall clock moved
//! ahead by libfaketime, the monotonic clock left alone) and is killed
//! right after its n-th expiry, then again after its n-th deletion of an
//! expired record. After every kill each job is either whole (record and
//! every file) or expired (record without files), never half; the next
//! start finishes the sweep and leaves no video behind.
//!
//! `RETENTION_FAULT_ROUNDS` (default 25: 50 kills) and `FAULTS_SEED` lengthen or
//! repeat the run by hand.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::common::*;
use smileloop::jobs::{job_dir, Job, JobId, JobStore, Status};

const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
/// Past both retention windows (24 h unpaid, 72 h paid).
const EXPIRE: &str = "+100h";
/// Seven days after that expiry, when expired records are deleted.
const DELETE: &str = "+400h";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The kiosk on `data` with its wall clock at real time + `offset`.
fn kiosk_at(data: &Path, offset: &str, env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = kiosk_command(data);
    cmd.envs(env.iter().copied()).envs([
        ("LD_PRELOAD", FAKETIME),
        ("FAKETIME", offset),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ]);
    cmd
}

/// Finished jobs to expire: three unlocked (a free event), three waiting
/// for payment (a paid one).
fn seed(data: &Path) -> BTreeMap<JobId, Status> {
    let stripe = crate::common::stripe::FakeStripe::start();
    let photo = photo("grace_hopper.jpg");
    let lives: [(&[(&str, &str)], &str); 2] = [
        (&[("SMILELOOP_EVENT_MODE", "free")], "unlocked"),
        (
            &[
                ("SMILELOOP_EVENT_MODE", "paid"),
                (
                    "SMILELOOP_STRIPE_SECRET_KEY",
                    crate::common::stripe::SECRET_KEY,
                ),
                (
                    "SMILELOOP_STRIPE_WEBHOOK_SECRET",
                    crate::common::stripe::WEBHOOK_SECRET,
                ),
                ("SMILELOOP_STRIPE_API_BASE", stripe.base.as_str()),
            ],
            "preview_ready",
        ),
    ];
    for (env, done) in lives {
        let life = Kiosk::start(kiosk_at(data, "+0", env), data);
        let ids: Vec<String> = ["soft_smile", "smile_wink", "gentle_laugh"]
            .iter()
            .map(|preset| {
                let (s, v) = upload(&life.kiosk, &photo, "g.jpg", preset);
                assert_eq!(s, 201, "{v}");
                v["job_id"].as_str().expect("id").to_string()
            })
            .collect();
        for id in &ids {
            wait_status(&life.kiosk, id, done);
        }
        life.terminate();
    }
    let store = JobStore::open(&data.join("db")).expect("store");
    store
        .all()
        .expect("all")
        .into_iter()
        .map(|j| (j.id, j.status))
        .collect()
}

/// Runs the kiosk at `offset` and kills it (SIGKILL) a moment after its
/// `n`-th log line containing `needle`.
fn kill_after(data: &Path, offset: &str, needle: &str, n: usize, rng: &mut fastrand::Rng) {
    let mut cmd = kiosk_at(data, offset, &[("SMILELOOP_EVENT_MODE", "free")]);
    cmd.env("SMILELOOP_LOG", "info");
    let mut life = Kiosk::spawn(cmd, data);
    // The sweep's summary line comes after its last job.
    let seen = life.log.wait_for(n, Duration::from_secs(60), |line| {
        line.contains(needle) && !line.contains("sweep")
    });
    if !seen {
        let status = life.child.try_wait().ok().flatten();
        life.child.kill().expect("kill -9");
        panic!(
            "fewer than {n} {needle:?} lines before the deadline (exit status: {status:?}); \
             last log lines:\n{}",
            life.log.tail(40)
        );
    }
    std::thread::sleep(Duration::from_micros(rng.u64(..3000)));
    life.child.kill().expect("kill -9");
    assert!(
        !life.child.wait().expect("wait").success(),
        "killed, not exited"
    );
}

/// The store opens as it is; every job is whole, expired without files, or
/// (when `deleted_ok`) gone with its folder. Returns (whole, expired, gone,
/// expired jobs whose folder was still there).
fn check(
    data: &Path,
    seeded: &BTreeMap<JobId, Status>,
    deleted_ok: bool,
) -> (usize, usize, usize, usize) {
    let store = JobStore::open(&data.join("db")).expect("the store opens without repair");
    let jobs: BTreeMap<JobId, Job> = store
        .all()
        .expect("all")
        .into_iter()
        .map(|j| (j.id, j))
        .collect();
    let mut counts = (0, 0, 0, 0);
    for (id, seeded_status) in seeded {
        let folder = job_dir(data, *id);
        match jobs.get(id) {
            None => {
                assert!(deleted_ok, "job {id} lost before its record was due");
                assert!(!folder.exists(), "deleted job {id} left its folder");
                counts.2 += 1;
            }
            Some(job) if job.status == Status::Expired => {
                assert!(
                    job.files.full.is_none() && job.files.preview.is_none(),
                    "expired job {id} still lists files: {:?}",
                    job.files
                );
                counts.1 += 1;
                counts.3 += usize::from(folder.exists());
            }
            Some(job) => {
                assert_eq!(job.status, *seeded_status, "job {id}");
                let files = [
                    Some(&job.files.source),
                    job.files.full.as_ref(),
                    job.files.preview.as_ref(),
                    job.files.poster.as_ref(),
                ];
                for name in files.into_iter().flatten() {
                    let len = std::fs::metadata(folder.join(name)).map_or(0, |m| m.len());
                    assert!(len > 0, "job {id} is whole but {name} is missing");
                }
                counts.0 += 1;
            }
        }
    }
    counts
}

/// A normal life at `offset` until every job reads `status` (or is gone),
/// then a clean stop.
fn finish(data: &Path, offset: &str, seeded: &BTreeMap<JobId, Status>, gone: bool) {
    let life = Kiosk::start(
        kiosk_at(data, offset, &[("SMILELOOP_EVENT_MODE", "free")]),
        data,
    );
    let kiosk = &life.kiosk;
    for id in seeded.keys() {
        let done = crate::common::stripe::eventually(Duration::from_secs(30), || {
            let (s, job) = get_json(&format!("{kiosk}/api/jobs/{id}"));
            if gone {
                s == 404
            } else {
                job["status"] == "expired"
            }
        });
        assert!(
            done,
            "job {id} was never swept (gone: {gone}); last log lines:\n{}",
            life.log.tail(40)
        );
    }
    life.terminate();
}

#[test]
fn kill_9_during_retention_leaves_every_job_whole_or_expired() {
    assert!(
        Path::new(FAKETIME).exists(),
        "libfaketime is missing: run .ci/setup with SMILELOOP_SETUP_TESTS=1"
    );
    let rounds = env_number("RETENTION_FAULT_ROUNDS", 25);
    let seed_value = env_number("FAULTS_SEED", fastrand::u64(..));
    eprintln!("retention faults: {rounds} rounds, FAULTS_SEED={seed_value}");
    let mut rng = fastrand::Rng::with_seed(seed_value);
    let seeded_dir = tempfile::tempdir().expect("tempdir");
    let seeded = seed(seeded_dir.path());
    assert_eq!(seeded.len(), 6, "{seeded:?}");
    let (mut mid_expiry, mut mid_delete, mut stray_folders) = (0, 0, 0);
    for round in 0..rounds {
        let run = tempfile::tempdir().expect("tempdir");
        copy_dir(seeded_dir.path(), run.path());

        // Expiry: killed after the n-th video is expired.
        let n = rng.usize(1..=seeded.len());
        kill_after(run.path(), EXPIRE, "expired", n, &mut rng);
        let (whole, expired, _, stray) = check(run.path(), &seeded, false);
        assert!(expired >= n, "round {round}: {expired} expired, {n} logged");
        mid_expiry += usize::from(whole > 0);
        stray_folders += stray;
        finish(run.path(), EXPIRE, &seeded, false);
        let (whole, expired, _, stray) = check(run.path(), &seeded, false);
        assert_eq!((whole, expired, stray), (0, 6, 0), "round {round}");

        // A week later: killed after the n-th expired record is deleted.
        let n = rng.usize(1..=seeded.len());
        kill_after(run.path(), DELETE, "expired record deleted", n, &mut rng);
        // Deletions are flushed at the end of a sweep: a kill before that
        // may bring a record back (without files), for the next sweep.
        let (_, expired, _, stray) = check(run.path(), &seeded, true);
        assert_eq!(stray, 0, "round {round}: an expired job kept its files");
        mid_delete += usize::from(expired > 0);
        finish(run.path(), DELETE, &seeded, true);
        let (_, _, gone, _) = check(run.path(), &seeded, true);
        assert_eq!(gone, 6, "round {round}");
        let left = files_under(&run.path().join("jobs"));
        assert!(left.is_empty(), "round {round}: files left: {left:?}");
        let tmp = files_under(&run.path().join("tmp"));
        assert!(tmp.is_empty(), "round {round}: temp files left: {tmp:?}");
    }
    eprintln!(
        "retention faults: {rounds} kills mid-expiry ({mid_expiry} with jobs still whole, \
         {stray_folders} expired jobs whose files the kill left for the next start), \
         {rounds} mid-deletion ({mid_delete} with records still to delete)"
    );
}
