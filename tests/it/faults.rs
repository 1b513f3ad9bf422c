//! Faults against the real binary: SIGKILL at random moments many times in
//! a row while guests upload and pay and staff unlock; SIGTERM in the
//! middle of a render. After every life the store is opened directly and
//! checked: nothing acknowledged is lost, nothing is unlocked twice.
//!
//! `FAULTS_ROUNDS` (default 50) and `FAULTS_SEED` repeat
//! or lengthen the run by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::staff::{Staff, PASSWORD};
use crate::common::stripe::{FakeStripe, SECRET_KEY, WEBHOOK_SECRET};
use crate::common::*;
use serde_json::{json, Value};
use smileloop::jobs::{JobId, JobStore, Status, UnlockReason};

/// One run of the kiosk binary and its three listeners.
struct Life(Kiosk);

impl std::ops::Deref for Life {
    type Target = Kiosk;
    fn deref(&self) -> &Kiosk {
        &self.0
    }
}

impl std::ops::DerefMut for Life {
    fn deref_mut(&mut self) -> &mut Kiosk {
        &mut self.0
    }
}

impl Drop for Life {
    /// A failed test must not leave a kiosk running.
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

fn live(data: &Path, env: &[(&str, &str)]) -> Life {
    Life(spawn_with(data, env))
}

fn set_password(data: &Path) {
    use std::io::Write;
    let mut child = smileloop_command(data)
        .args(["admin", "set-password"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("write");
    assert!(child.wait().expect("wait").success());
}

/// Requests that may meet a dead kiosk: a transport error is `None`.
fn try_call(
    req: ureq::Request,
    body: Option<(&str, Vec<u8>)>,
) -> Option<(u16, Value, Option<String>)> {
    let res = match body {
        Some((ct, b)) => req.set("Content-Type", ct).send_bytes(&b),
        None => req.call(),
    };
    let res = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(_)) => return None,
    };
    let status = res.status();
    let location = res.header("Location").map(str::to_string);
    let body = res
        .into_string()
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    Some((status, body, location))
}

fn short_agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .tls_config(crate::common::tls::any_kiosk())
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .build()
}

/// What the kiosk acknowledged to a guest or to staff.
#[derive(Default)]
struct Acked {
    /// id → guest token, for every upload answered 201.
    uploads: BTreeMap<String, String>,
    /// Jobs whose paid webhook was answered 200.
    paid: BTreeSet<String>,
    /// Jobs staff unlocked (answered 200).
    staff: BTreeSet<String>,
    /// The unlock time first seen in the store: it must never change.
    unlocked_at: BTreeMap<String, i64>,
    /// Jobs a checkout was already opened for.
    checkout_tried: BTreeSet<String>,
}

struct Workload<'a> {
    life: &'a Life,
    staff: &'a Staff,
    stripe: &'a FakeStripe,
    rng: fastrand::Rng,
    photo: Vec<u8>,
    max_uploads: usize,
}

impl Workload<'_> {
    /// One guest or staff action; `None` once the kiosk stops answering.
    fn step(&mut self, acked: &mut Acked) -> Option<()> {
        let agent = short_agent();
        let pick = |rng: &mut fastrand::Rng, from: &BTreeMap<String, String>| {
            let n = from.len();
            (n > 0).then(|| {
                let (id, token) = from.iter().nth(rng.usize(..n)).expect("in range");
                (id.clone(), token.clone())
            })
        };
        match self.rng.u8(..100) {
            0..=29 if acked.uploads.len() < self.max_uploads => {
                let preset = ["soft_smile", "smile_wink", "gentle_laugh"][self.rng.usize(..3)];
                let (ct, body) = multipart(&[
                    ("photo", Some("guest.jpg"), &self.photo),
                    ("preset", None, preset.as_bytes()),
                ]);
                let (s, v, _) = try_call(
                    agent.post(&format!("{}/api/jobs", self.life.kiosk)),
                    Some((&ct, body)),
                )?;
                if s == 201 {
                    let id = v["job_id"].as_str().expect("id").to_string();
                    let token = v["token"].as_str().expect("token").to_string();
                    acked.uploads.insert(id, token);
                } else {
                    assert!(s == 503, "upload answered {s}: {v}");
                }
            }
            30..=59 => {
                let Some((id, token)) = pick(&mut self.rng, &acked.uploads) else {
                    return Some(());
                };
                if acked.checkout_tried.contains(&id) {
                    return Some(());
                }
                let (s, job, _) = try_call(
                    agent.get(&format!("{}/api/jobs/{id}", self.life.kiosk)),
                    None,
                )?;
                if s != 200 || job["status"] != "preview_ready" {
                    return Some(());
                }
                let (s, _, location) = try_call(
                    agent.post(&format!("{}/g/{token}/pay", self.life.guest)),
                    None,
                )?;
                if s != 303 {
                    return Some(());
                }
                acked.checkout_tried.insert(id.clone());
                let session_id = location
                    .as_deref()
                    .and_then(|l| l.rsplit('/').next())
                    .expect("checkout location")
                    .to_string();
                let session = self.stripe.pay(&session_id, None);
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("clock")
                    .as_secs() as i64;
                let (body, sig) = FakeStripe::signed_event(
                    "checkout.session.completed",
                    &session,
                    WEBHOOK_SECRET,
                    now,
                );
                let (s, v, _) = try_call(
                    agent
                        .post(&format!("{}/api/stripe/webhook", self.life.guest))
                        .set("Stripe-Signature", &sig),
                    Some(("application/json", body)),
                )?;
                assert_eq!(s, 200, "webhook: {v}");
                acked.paid.insert(id);
            }
            60..=74 => {
                let Some((id, _)) = pick(&mut self.rng, &acked.uploads) else {
                    return Some(());
                };
                let (s, v, _) = try_call(
                    agent
                        .post(&format!("{}/api/admin/jobs/{id}/unlock", self.life.admin))
                        .set("Cookie", &self.staff.cookie)
                        .set("X-CSRF-Token", &self.staff.csrf),
                    Some((
                        "application/json",
                        serde_json::to_vec(&json!({"reason": "cash", "note": "fault test"}))
                            .expect("json"),
                    )),
                )?;
                match s {
                    200 => {
                        acked.staff.insert(id);
                    }
                    // Not ready yet, or already unlocked: refused, nothing changes.
                    409 => {}
                    _ => panic!("staff unlock answered {s}: {v}"),
                }
            }
            _ => {
                let Some((id, token)) = pick(&mut self.rng, &acked.uploads) else {
                    return Some(());
                };
                let (s, _, _) = try_call(
                    agent.get(&format!("{}/api/jobs/{id}", self.life.kiosk)),
                    None,
                )?;
                assert_eq!(s, 200, "an acknowledged job answers");
                try_call(agent.get(&format!("{}/g/{token}", self.life.guest)), None)?;
            }
        }
        Some(())
    }
}

/// Between lives: the store opens as it is, and holds everything the
/// kiosk acknowledged.
fn check_store(data: &Path, acked: &mut Acked) -> Vec<smileloop::jobs::Job> {
    let store = JobStore::open(&data.join("db")).expect("the store opens without repair");
    let jobs = store.all().expect("all jobs");
    let ledger: BTreeMap<JobId, _> = store.ledger().expect("ledger").into_iter().collect();
    let by_id: BTreeMap<String, _> = jobs.iter().map(|j| (j.id.to_string(), j)).collect();
    for id in acked.uploads.keys() {
        assert!(by_id.contains_key(id), "acknowledged upload {id} lost");
    }
    for id in &acked.paid {
        let job = by_id[id];
        assert_eq!(job.status, Status::Unlocked, "paid job {id}");
        assert!(job.payment.is_some(), "payment of {id} lost");
    }
    for id in &acked.staff {
        assert_eq!(
            by_id[id].status,
            Status::Unlocked,
            "staff-unlocked job {id}"
        );
    }
    for job in &jobs {
        if let Some(at) = job.unlocked_at {
            let first = *acked.unlocked_at.entry(job.id.to_string()).or_insert(at);
            assert_eq!(first, at, "job {} unlocked twice", job.id);
        }
        if job.unlock == Some(UnlockReason::Paid) {
            let payment = job
                .payment
                .as_ref()
                .expect("a paid unlock records its payment");
            assert_eq!(
                (payment.amount_cents, payment.currency.as_str()),
                (799, "usd")
            );
        }
        assert!(
            !ledger.contains_key(&job.id),
            "job {} both kept and deleted",
            job.id
        );
    }
    jobs
}

fn leftovers(data: &Path) -> Vec<String> {
    let mut out: Vec<String> = files_under(&data.join("jobs"))
        .into_iter()
        .filter(|f| f.ends_with(".part"))
        .collect();
    out.extend(
        std::fs::read_dir(data.join("tmp"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().display().to_string()),
    );
    out
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sigterm(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    child.wait().expect("exit")
}

#[test]
fn kill_9_at_random_moments_loses_nothing() {
    let rounds = env_number("FAULTS_ROUNDS", 50);
    let seed = env_number("FAULTS_SEED", fastrand::u64(..));
    eprintln!("fault test: {rounds} rounds, FAULTS_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let stripe = FakeStripe::start();
    let data = tempfile::tempdir().expect("tempdir");
    set_password(data.path());
    let env = [
        ("SMILELOOP_EVENT_MODE", "paid"),
        ("SMILELOOP_STRIPE_SECRET_KEY", SECRET_KEY),
        ("SMILELOOP_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("SMILELOOP_STRIPE_API_BASE", stripe.base.as_str()),
        ("SMILELOOP_STRIPE_POLL_MS", "700"),
    ];
    let mut acked = Acked::default();
    let photo = photo("grace_hopper.jpg");
    let mut kills_mid_render = 0;
    for round in 0..rounds {
        let mut life = live(data.path(), &env);
        let staff = Staff::login(&life.admin, PASSWORD).expect("staff sign in");
        let killed = Arc::new(AtomicBool::new(false));
        let after = Duration::from_millis(rng.u64(100..2500));
        let pid = life.child.id().to_string();
        let killer = {
            let killed = Arc::clone(&killed);
            std::thread::spawn(move || {
                std::thread::sleep(after);
                let ok = Command::new("kill").args(["-KILL", &pid]).status();
                killed.store(true, Ordering::SeqCst);
                ok.map(|s| s.success()).unwrap_or(false)
            })
        };
        let mut work = Workload {
            life: &life,
            staff: &staff,
            stripe: &stripe,
            rng: fastrand::Rng::with_seed(rng.u64(..)),
            photo: photo.clone(),
            max_uploads: 24,
        };
        while !killed.load(Ordering::SeqCst) {
            if work.step(&mut acked).is_none() {
                // Only the kill may end a life: wait for the killer's flag.
                std::thread::sleep(Duration::from_millis(300));
                assert!(
                    killed.load(Ordering::SeqCst),
                    "round {round}: the kiosk stopped answering before it was killed"
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            killer.join().expect("killer"),
            "round {round}: kill -9 failed"
        );
        let exit = life.child.wait().expect("wait");
        assert!(
            !exit.success(),
            "round {round}: the kiosk exited on its own: {exit:?}"
        );
        let jobs = check_store(data.path(), &mut acked);
        kills_mid_render += usize::from(jobs.iter().any(|j| j.status == Status::Rendering));
    }

    // A last life: every job reaches a final state, leftovers are gone.
    let mut life = live(data.path(), &env);
    let start = Instant::now();
    loop {
        let pending = acked
            .uploads
            .keys()
            .filter(|id| {
                let (_, j) = get_json(&format!("{}/api/jobs/{id}", life.kiosk));
                !matches!(
                    j["status"].as_str(),
                    Some("preview_ready" | "unlocked" | "failed" | "expired")
                )
            })
            .count();
        if pending == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "{pending} jobs never finished"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The poller confirms payments whose webhook died with the process.
    for id in acked.checkout_tried.clone() {
        let ok = stripe::eventually(Duration::from_secs(20), || {
            get_json(&format!("{}/api/jobs/{id}", life.kiosk)).1["status"] == "unlocked"
        });
        assert!(ok, "paid job {id} was never unlocked");
    }
    assert!(sigterm(&mut life.child).success(), "clean stop");
    let jobs = check_store(data.path(), &mut acked);
    for job in &jobs {
        assert!(
            matches!(
                job.status,
                Status::PreviewReady | Status::Unlocked | Status::Failed | Status::Expired
            ),
            "job {} left {:?}",
            job.id,
            job.status
        );
    }
    assert!(
        leftovers(data.path()).is_empty(),
        "temp files left: {:?}",
        leftovers(data.path())
    );
    eprintln!(
        "fault test: {rounds} kills ({kills_mid_render} mid-render), {} uploads, {} paid, {} staff unlocks, {} jobs failed",
        acked.uploads.len(),
        acked.paid.len(),
        acked.staff.len(),
        jobs.iter().filter(|j| j.status == Status::Failed).count()
    );
}

#[test]
fn sigterm_mid_render_requeues_and_the_next_life_finishes() {
    let data = tempfile::tempdir().expect("tempdir");
    let env = [("SMILELOOP_EVENT_MODE", "free")];
    let mut life = live(data.path(), &env);
    let (s, created) = upload(
        &life.kiosk,
        &photo("gramps_canon_man.jpg"),
        "c.jpg",
        "soft_smile",
    );
    assert_eq!(s, 201, "{created}");
    let id = created["job_id"].as_str().expect("id").to_string();
    wait_for(&life.kiosk, &id, Duration::from_secs(120), |j| {
        j["status"] == "rendering" && j["frames_done"].as_u64().unwrap_or(0) >= 5
    });
    assert!(sigterm(&mut life.child).success(), "SIGTERM exits cleanly");

    let store = JobStore::open(&data.path().join("db")).expect("store");
    let job = store
        .get(id.parse().expect("id"))
        .expect("get")
        .expect("job kept");
    assert_eq!(job.status, Status::Queued, "re-queued, not half-written");
    assert!(
        job.files.preview.is_none(),
        "no preview promised: {:?}",
        job.files
    );
    drop(store);
    assert!(
        leftovers(data.path()).is_empty(),
        "{:?}",
        leftovers(data.path())
    );

    let mut life = live(data.path(), &env);
    let job = wait_status(&life.kiosk, &id, "unlocked");
    assert_eq!(job["frames_done"], 100);
    let (s, video) = get(&format!(
        "{}/d/{}",
        life.guest,
        created["token"].as_str().expect("t")
    ));
    assert_eq!(s, 200);
    assert_eq!(inspect_mp4(&video).samples, 100);
    sigterm(&mut life.child);
}

/// A data directory on its own small tmpfs, mounted in a private mount
/// namespace that a sleeping holder keeps alive; the kiosk runs inside it
/// (through `nsenter`) and the test sees it through `/proc/PID/root`.
struct SmallDisk {
    ns: crate::common::ns::Namespace,
    mount_point: tempfile::TempDir,
}

impl SmallDisk {
    fn new(megabytes: u32) -> Self {
        let mount_point = tempfile::tempdir().expect("tempdir");
        let ns = crate::common::ns::Namespace::new(
            &["--mount"],
            &format!("mount -t tmpfs -o size={megabytes}m smileloop-test \"$1\""),
            &[mount_point.path().to_str().expect("utf-8 temp path")],
        );
        Self { ns, mount_point }
    }

    /// The data directory as the kiosk sees it.
    fn inside(&self) -> &Path {
        self.mount_point.path()
    }

    /// The same directory as this test process sees it.
    fn outside(&self) -> PathBuf {
        let rel = self.inside().strip_prefix("/").expect("absolute");
        Path::new(&format!("/proc/{}/root", self.ns.pid())).join(rel)
    }

    fn kiosk(&self) -> Life {
        let mut cmd = self.ns.command(env!("CARGO_BIN_EXE_smileloop"));
        cmd.arg("serve").stdout(std::process::Stdio::null());
        with_test_env(&mut cmd, self.inside());
        cmd.env("SMILELOOP_EVENT_MODE", "free");
        let mut life = Kiosk::spawn(cmd, &self.outside());
        life.wait_up(&self.outside());
        Life(life)
    }

    /// Another writer fills the disk until `left` bytes are free.
    fn fill(&self, left: u64) -> PathBuf {
        use std::io::Write;
        let ballast = self.outside().join("ballast");
        let free = smileloop::jobs::free_bytes(&self.outside()).expect("statvfs");
        let mut f = std::fs::File::create(&ballast).expect("ballast");
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..free.saturating_sub(left) >> 20 {
            f.write_all(&chunk).expect("ballast write");
        }
        f.sync_all().expect("sync");
        ballast
    }
}

#[test]
fn a_full_disk_refuses_uploads_fails_renders_cleanly_and_recovers() {
    let disk = SmallDisk::new(96);
    let mut life = disk.kiosk();
    let guest_photo = photo("grace_hopper.jpg");

    // A guest's finished video, before the disk fills.
    let (s, first) = upload(&life.kiosk, &guest_photo, "g.jpg", "soft_smile");
    assert_eq!(s, 201, "{first}");
    let first_id = first["job_id"].as_str().expect("id").to_string();
    let first_token = first["token"].as_str().expect("token").to_string();
    wait_status(&life.kiosk, &first_id, "unlocked");
    let (s, first_video) = get(&format!("{}/d/{first_token}", life.guest));
    assert_eq!(s, 200);

    // Two more photos taken; the disk fills while they render.
    let mut waiting = Vec::new();
    for preset in ["smile_wink", "gentle_laugh"] {
        let (s, v) = upload(&life.kiosk, &guest_photo, "g.jpg", preset);
        assert_eq!(s, 201, "{v}");
        waiting.push(v["job_id"].as_str().expect("id").to_string());
    }
    // Less than a render needs is left, more than the store needs.
    let ballast = disk.fill(6 << 20);
    for id in &waiting {
        let job = wait_for(&life.kiosk, id, Duration::from_secs(120), |j| {
            matches!(j["status"].as_str(), Some("failed" | "unlocked"))
        });
        if job["status"] == "failed" {
            let why = job["error"].as_str().expect("a reason");
            assert!(why.contains("storage"), "guest-readable reason: {why}");
        }
    }
    let last = get_json(&format!("{}/api/jobs/{}", life.kiosk, waiting[1])).1;
    assert_eq!(
        last["status"], "failed",
        "the render after the disk filled fails"
    );

    // New photos are refused in words; what is stored is intact.
    let (s, refused) = upload(&life.kiosk, &guest_photo, "g.jpg", "soft_smile");
    assert_eq!(s, 507, "{refused}");
    assert_eq!(refused["error"]["code"], "storage_full");
    assert!(refused["error"]["message"]
        .as_str()
        .expect("message")
        .contains("staff"));
    let (s, again) = get(&format!("{}/d/{first_token}", life.guest));
    assert_eq!(
        (s, again == first_video),
        (200, true),
        "a stored video survives"
    );

    // Space returns: the kiosk takes photos again by itself.
    std::fs::remove_file(&ballast).expect("free space");
    let (s, v) = upload(&life.kiosk, &guest_photo, "g.jpg", "soft_smile");
    assert_eq!(s, 201, "{v}");
    wait_status(&life.kiosk, v["job_id"].as_str().expect("id"), "unlocked");
    assert!(sigterm(&mut life.child).success(), "clean stop");

    let store = JobStore::open(&disk.outside().join("db")).expect("the store opens");
    let jobs = store.all().expect("all");
    assert_eq!(jobs.len(), 4, "every acknowledged job is still recorded");
    assert!(
        leftovers(&disk.outside()).is_empty(),
        "{:?}",
        leftovers(&disk.outside())
    );
}
