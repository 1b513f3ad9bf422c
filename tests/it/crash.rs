//! The real binary, killed with SIGKILL in the middle of a render (or
//! between a payment and its confirmation), then started again: the job
//! finishes, the payment is found, and nothing acknowledged is lost.

use std::path::Path;
use std::time::Duration;

use crate::common::*;

fn spawn(data: &Path) -> Kiosk {
    spawn_with(data, &[("SMILELOOP_EVENT_MODE", "free")])
}

fn part_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in files_under(dir) {
        if entry.ends_with(".part") {
            found.push(entry);
        }
    }
    found
}

#[test]
fn kill_9_mid_render_then_restart_finishes_every_job() {
    let data = tempfile::tempdir().expect("tempdir");
    let life = spawn(data.path());
    let kiosk = life.kiosk.clone();

    let big = photo("gramps_canon_man.jpg");
    let mut ids = Vec::new();
    for preset in ["gentle_laugh", "soft_smile"] {
        let (s, created) = upload(&kiosk, &big, "canon.jpg", preset);
        assert_eq!(s, 201, "{created}");
        ids.push((
            created["job_id"].as_str().expect("id").to_string(),
            created["token"].as_str().expect("t").to_string(),
        ));
    }
    // Kill it once frames are being produced: mid-render, files half-written.
    let first = &ids[0].0;
    let job = wait_for(&kiosk, first, Duration::from_secs(120), |j| {
        j["status"] == "rendering" && j["frames_done"].as_u64().unwrap_or(0) >= 5
    });
    life.kill();
    assert_eq!(job["status"], "rendering", "killed mid-render");

    let life = spawn(data.path());
    let kiosk = life.kiosk.clone();
    for (id, token) in &ids {
        let job = wait_status(&kiosk, id, "unlocked");
        assert_eq!(job["frames_done"], 100);
        let (s, full) = get(&format!("{}/d/{token}", life.guest));
        assert_eq!(s, 200);
        let facts = inspect_mp4(&full);
        assert_eq!(
            (facts.width, facts.height, facts.samples),
            (1920, 1276, 100)
        );
    }
    assert!(
        part_files(data.path()).is_empty(),
        "leftovers: {:?}",
        part_files(data.path())
    );

    // A graceful stop (SIGTERM) exits cleanly and the store reopens.
    life.terminate();
    let store = smileloop::jobs::JobStore::open(&data.path().join("db")).expect("store reopens");
    assert_eq!(store.all().expect("all").len(), 2);
}

#[test]
fn kill_9_between_payment_and_confirmation_then_the_poller_unlocks() {
    use crate::common::stripe::{FakeStripe, SECRET_KEY, WEBHOOK_SECRET};
    let stripe = FakeStripe::start();
    let data = tempfile::tempdir().expect("tempdir");
    let env = |poll: &'static str| {
        vec![
            ("SMILELOOP_EVENT_MODE", "paid"),
            ("SMILELOOP_STRIPE_SECRET_KEY", SECRET_KEY),
            ("SMILELOOP_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("SMILELOOP_STRIPE_API_BASE", stripe.base.as_str()),
            ("SMILELOOP_STRIPE_POLL_MS", poll),
        ]
    };
    // First life: polling once a minute, so nothing confirms the payment.
    let life = spawn_with(data.path(), &env("60000"));
    let kiosk = life.kiosk.clone();
    let (s, created) = upload(&kiosk, &photo("grace_hopper.jpg"), "g.jpg", "smile_wink");
    assert_eq!(s, 201, "{created}");
    let id = created["job_id"].as_str().expect("id").to_string();
    let token = created["token"].as_str().expect("token").to_string();
    wait_status(&kiosk, &id, "preview_ready");
    let res = ureq::AgentBuilder::new()
        .redirects(0)
        .build()
        .post(&format!("{}/g/{token}/pay", life.guest))
        .call()
        .expect("checkout");
    assert_eq!(res.status(), 303);
    let session = res
        .header("Location")
        .and_then(|l| l.rsplit('/').next())
        .expect("session")
        .to_string();
    stripe.pay(&session, None);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        get_json(&format!("{kiosk}/api/jobs/{id}")).1["status"],
        "preview_ready"
    );
    life.kill();

    let life = spawn_with(data.path(), &env("500"));
    let kiosk = life.kiosk.clone();
    let job = wait_for(&kiosk, &id, Duration::from_secs(30), |j| {
        j["status"] == "unlocked"
    });
    assert_eq!(job["unlock"], "paid");
    let (s, _) = get(&format!("{}/d/{token}", life.guest));
    assert_eq!(s, 200);
    life.kill();
}
