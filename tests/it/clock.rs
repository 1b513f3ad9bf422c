//! The real binary with its wall clock moved under it by libfaketime (the
//! monotonic clock left alone, as when NTP or a person sets the time): a
//! jump forward does not expire a fresh video, a jump back does not keep it
//! longer, and Stripe's webhook signatures are judged by the clock in force
//! with Stripe's 5-minute tolerance, before and after the jumps.

use std::path::Path;
use std::time::Duration;

use crate::common::stripe::{FakeStripe, SECRET_KEY, WEBHOOK_SECRET};
use crate::common::*;
use serde_json::json;

const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

fn real_now_ms() -> i64 {
    crate::common::now_ms()
}

/// Moves the kiosk's wall clock to real time + `offset` (libfaketime's
/// relative form: "+2h", "-4m", "+0").
fn set_clock(file: &Path, offset: &str) {
    std::fs::write(file, format!("{offset}\n")).expect("clock file");
}

/// Waits until the kiosk's log has said `needle` `count` times.
fn wait_log(life: &Kiosk, needle: &str, count: usize) {
    let said = life
        .log
        .wait_for(count, Duration::from_secs(40), |l| l.contains(needle));
    assert!(
        said,
        "the kiosk never logged {needle:?} {count} times; last log lines:\n{}",
        life.log.tail(40)
    );
}

/// A webhook for a job this kiosk never had, signed now by the test's
/// (real) clock, to the guest listener: 400 when the signature is refused;
/// once verification has passed, the payment is kept in the ledger (200
/// `recorded_for_deleted_job`).
fn webhook_status(guest: &str) -> (u16, String) {
    let unknown = smileloop::jobs::JobId::generate().to_string();
    let session = json!({"id": "cs_test_clock", "object": "checkout.session",
        "client_reference_id": unknown, "metadata": {},
        "payment_status": "paid", "status": "complete", "amount_total": 799, "currency": "usd"});
    let (body, header) = FakeStripe::signed_event(
        "checkout.session.completed",
        &session,
        WEBHOOK_SECRET,
        real_now_ms() / 1000,
    );
    let res = agent()
        .post(&format!("{guest}/api/stripe/webhook"))
        .set("Stripe-Signature", &header)
        .set("Content-Type", "application/json")
        .send_bytes(&body);
    match res {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap_or_default()),
        Err(e) => panic!("webhook: {e}"),
    }
}

#[test]
fn wall_clock_jumps_neither_expire_videos_early_nor_break_webhooks() {
    assert!(
        Path::new(FAKETIME).exists(),
        "libfaketime is missing: run .ci/setup with SMILELOOP_SETUP_TESTS=1"
    );
    let stripe = FakeStripe::start();
    let data = tempfile::tempdir().expect("tempdir");
    let clock = data.path().join("clock");
    set_clock(&clock, "+0");
    let verified =
        |(status, body): (u16, String)| status == 200 && body.contains("recorded_for_deleted_job");
    let mut cmd = kiosk_command(data.path());
    cmd.envs([
        ("SMILELOOP_EVENT_MODE", "paid"),
        ("SMILELOOP_STRIPE_SECRET_KEY", SECRET_KEY),
        ("SMILELOOP_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("SMILELOOP_STRIPE_API_BASE", stripe.base.as_str()),
        ("SMILELOOP_RETENTION_UNPAID_HOURS", "1"),
        ("RUST_LOG", "info"),
        ("LD_PRELOAD", FAKETIME),
        ("FAKETIME_TIMESTAMP_FILE", clock.to_str().expect("utf-8")),
        ("FAKETIME_NO_CACHE", "1"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ]);
    let life = Kiosk::start(cmd, data.path());
    let (kiosk, guest) = (life.kiosk.clone(), life.guest.clone());

    let uploaded_at = real_now_ms();
    let (s, created) = upload(&kiosk, &photo("grace_hopper.jpg"), "g.jpg", "soft_smile");
    assert_eq!(s, 201, "{created}");
    let id = created["job_id"].as_str().expect("id").to_string();
    wait_status(&kiosk, &id, "preview_ready");
    assert!(
        verified(webhook_status(&guest)),
        "a signature in time is verified"
    );

    const JUMPED: &str = "the wall clock jumped";
    // Forward two hours (twice the unpaid retention): without moving the
    // job's times with the clock, the re-check would expire it.
    set_clock(&clock, "+2h");
    wait_log(&life, "retention re-checked after the clock jump", 1);
    assert_eq!(
        get_json(&format!("{kiosk}/api/jobs/{id}")).1["status"],
        "preview_ready"
    );
    // Stripe's events are stamped with real time: two hours is far past
    // the tolerance, so the kiosk refuses them while its clock is wrong.
    let (status, body) = webhook_status(&guest);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("signature_too_old"), "{body}");

    // Back to four minutes fast, then four minutes slow: within tolerance.
    set_clock(&clock, "+4m");
    wait_log(&life, JUMPED, 2);
    assert!(verified(webhook_status(&guest)), "4 minutes fast");
    set_clock(&clock, "-4m");
    wait_log(&life, JUMPED, 3);
    assert!(verified(webhook_status(&guest)), "4 minutes slow");
    assert_eq!(
        get_json(&format!("{kiosk}/api/jobs/{id}")).1["status"],
        "preview_ready"
    );
    life.terminate();

    // The job's age is its real age: its creation time moved with every
    // jump and now reads in the -4 minute clock.
    let store = smileloop::jobs::JobStore::open(&data.path().join("db")).expect("store");
    let job = store
        .get(id.parse().expect("job id"))
        .expect("get")
        .expect("the job is kept");
    let expected = uploaded_at - 4 * 60_000;
    assert!(
        (job.created_at - expected).abs() < 20_000,
        "created_at {} should be near {expected} (real upload time - 4 min)",
        job.created_at
    );
}
