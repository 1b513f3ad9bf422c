//! The revenue path against the real kiosk and a local Stripe stand-in:
//! QR → guest page → Checkout Session → webhook or poll → download, with
//! replays, bad signatures, mismatched amounts, restarts and deletion.

use std::time::Duration;

use crate::common::stripe::{eventually, FakeStripe, SECRET_KEY, WEBHOOK_SECRET};
use crate::common::*;
use serde_json::{json, Value};
use smileloop::config::{EventMode, Secret, Settings};

fn paid_settings(stripe: &FakeStripe, poll_ms: u32) -> impl FnOnce(&mut Settings) + '_ {
    move |s| {
        s.event_mode = EventMode::Paid;
        s.stripe_secret_key = Some(Secret::new(SECRET_KEY));
        s.stripe_webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
        s.stripe_api_base = stripe.base.clone();
        s.stripe_poll_ms = poll_ms;
        s.public_base_url = "https://photos.example.com/".into();
        s.event_name = "Ana & Ben's Wedding".into();
    }
}

fn no_redirects() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .tls_config(crate::common::tls::any_kiosk())
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .build()
}

/// A rendered job in paid mode: (job id, token).
fn ready_job(server: &Server) -> (String, String) {
    let (status, created) = upload(
        &server.kiosk,
        &photo("grace_hopper.jpg"),
        "g.jpg",
        "soft_smile",
    );
    assert_eq!(status, 201, "{created}");
    let id = created["job_id"].as_str().expect("id").to_string();
    let token = created["token"].as_str().expect("token").to_string();
    wait_status(&server.kiosk, &id, "preview_ready");
    (id, token)
}

/// The guest URL read back from the kiosk's QR image by a real decoder.
fn scan_qr(server: &Server, id: &str) -> String {
    let (s, png) = get(&format!("{}/api/jobs/{id}/qr.png", server.kiosk));
    assert_eq!(s, 200);
    let img = image::load_from_memory(&png).expect("png").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code");
    let (_, content) = grids[0].decode().expect("decodes");
    content
}

fn post_pay(server: &Server, token: &str) -> (u16, Option<String>, String) {
    let res = no_redirects()
        .post(&format!("{}/g/{token}/pay", server.guest))
        .call();
    let res = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = res.status();
    let location = res.header("Location").map(str::to_string);
    (status, location, res.into_string().unwrap_or_default())
}

/// Taps Pay and returns the Checkout Session the guest is sent to.
fn open_checkout(server: &Server, token: &str) -> String {
    let (status, location, body) = post_pay(server, token);
    assert_eq!(status, 303, "{body}");
    location
        .and_then(|l| l.rsplit('/').next().map(str::to_string))
        .expect("a session in the redirect")
}

fn webhook(server: &Server, body: &[u8], signature: Option<&str>) -> (u16, Value) {
    let mut req = agent().post(&format!("{}/api/stripe/webhook", server.guest));
    if let Some(sig) = signature {
        req = req.set("Stripe-Signature", sig);
    }
    let (s, b, _) = call(req, Some(("application/json", body.to_vec())));
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

fn now_s() -> i64 {
    crate::common::now_ms() / 1000
}

fn job_json(server: &Server, id: &str) -> Value {
    get_json(&format!("{}/api/jobs/{id}", server.kiosk)).1
}

fn download_status(server: &Server, token: &str) -> u16 {
    call(agent().get(&format!("{}/d/{token}", server.guest)), None).0
}

#[test]
fn pay_by_webhook_once_with_replays_and_forgeries_refused() {
    let stripe = FakeStripe::start();
    // Polling every minute: this test is about the webhook.
    let server = Server::start(paid_settings(&stripe, 60_000));
    let (id, token) = ready_job(&server);

    let url = scan_qr(&server, &id);
    assert_eq!(url, format!("https://photos.example.com/g/{token}"));
    assert!(
        !url.contains(&id),
        "the QR carries the token, never the job id"
    );
    let (s, svg) = get(&format!("{}/api/jobs/{id}/qr.svg", server.kiosk));
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&svg).contains("<svg"));

    let (s, page) = get(&format!("{}/g/{token}", server.guest));
    let page = String::from_utf8_lossy(&page).to_string();
    assert_eq!(s, 200);
    assert!(
        page.contains("7.99 USD") && page.contains("id=\"pay\""),
        "{page}"
    );
    assert!(
        page.contains("Ana &amp; Ben's Wedding"),
        "escaped event name"
    );
    assert!(page.contains(&format!("/g/{token}/delete")));
    assert_eq!(
        download_status(&server, &token),
        403,
        "no HD before payment"
    );

    // Pay twice (a double tap): one session, reused.
    let (s1, loc1, _) = post_pay(&server, &token);
    let (s2, loc2, _) = post_pay(&server, &token);
    assert_eq!((s1, s2), (303, 303));
    assert_eq!(loc1, loc2);
    let session_id = loc1
        .as_deref()
        .and_then(|l| l.rsplit('/').next())
        .expect("session in URL")
        .to_string();
    let creates = stripe.creates();
    assert_eq!(creates.len(), 1, "the open session is reused");
    let c = &creates[0];
    let f = |k: &str| c.form.get(k).map(String::as_str);
    assert_eq!(f("mode"), Some("payment"));
    assert_eq!(f("client_reference_id"), Some(id.as_str()));
    assert_eq!(f("metadata[job_id]"), Some(id.as_str()));
    assert_eq!(f("line_items[0][quantity]"), Some("1"));
    assert_eq!(f("line_items[0][price_data][unit_amount]"), Some("799"));
    assert_eq!(f("line_items[0][price_data][currency]"), Some("usd"));
    assert!(f("line_items[0][price_data][product_data][name]")
        .is_some_and(|n| n.contains("Ana & Ben's Wedding")));
    assert_eq!(
        f("success_url"),
        Some(
            format!("https://photos.example.com/g/{token}?session_id={{CHECKOUT_SESSION_ID}}")
                .as_str()
        )
    );
    assert_eq!(
        f("cancel_url"),
        Some(format!("https://photos.example.com/g/{token}").as_str())
    );
    let expires: i64 = f("expires_at")
        .and_then(|e| e.parse().ok())
        .expect("expiry");
    assert!((expires - now_s() - 30 * 60).abs() < 120, "30 minutes");
    assert_eq!(
        c.idempotency_key.as_deref(),
        Some(format!("smileloop-{id}-1").as_str())
    );
    assert_eq!(
        c.authorization.as_deref(),
        Some(format!("Bearer {SECRET_KEY}").as_str())
    );

    let paid = stripe.pay(&session_id, None);
    let kind = "checkout.session.completed";
    let (body, sig) = FakeStripe::signed_event(kind, &paid, WEBHOOK_SECRET, now_s());

    // Forgeries and replays first: none changes anything.
    let (wrong, wrong_sig) = FakeStripe::signed_event(kind, &paid, "whsec_wrong", now_s());
    assert_eq!(webhook(&server, &wrong, Some(&wrong_sig)).0, 400);
    let mut tampered = body.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    assert_eq!(webhook(&server, &tampered, Some(&sig)).0, 400);
    let (old, old_sig) = FakeStripe::signed_event(kind, &paid, WEBHOOK_SECRET, now_s() - 600);
    let (s, e) = webhook(&server, &old, Some(&old_sig));
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("signature_too_old"))
    );
    assert_eq!(webhook(&server, &body, None).0, 400);
    assert_eq!(webhook(&server, b"{}", Some("t=1,v1=00")).0, 400);
    assert_eq!(job_json(&server, &id)["status"], "preview_ready");

    let (s, r) = webhook(&server, &body, Some(&sig));
    assert_eq!((s, r["outcome"].as_str()), (200, Some("unlocked")), "{r}");
    let job = job_json(&server, &id);
    assert_eq!(
        (job["status"].as_str(), job["unlock"].as_str()),
        (Some("unlocked"), Some("paid"))
    );
    // Stripe retries: 2xx, nothing changes.
    let before = server
        .shared()
        .store
        .get(id.parse().expect("id"))
        .expect("db");
    let (s, r) = webhook(&server, &body, Some(&sig));
    assert_eq!((s, r["outcome"].as_str()), (200, Some("already_recorded")));
    let (async_body, async_sig) = FakeStripe::signed_event(
        "checkout.session.async_payment_succeeded",
        &paid,
        WEBHOOK_SECRET,
        now_s(),
    );
    assert_eq!(webhook(&server, &async_body, Some(&async_sig)).0, 200);
    let after = server
        .shared()
        .store
        .get(id.parse().expect("id"))
        .expect("db");
    assert_eq!(before, after, "retries change nothing");

    // The phone gets the HD file.
    let res = agent()
        .get(&format!("{}/d/{token}", server.guest))
        .call()
        .expect("download");
    assert_eq!(res.header("Content-Type"), Some("video/mp4"));
    assert!(res
        .header("Content-Disposition")
        .is_some_and(|d| d.contains("attachment") && d.contains(".mp4")));
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut res.into_reader(), &mut bytes).expect("body");
    assert_eq!(inspect_mp4(&bytes).samples, 100);
    let (_, page) = get(&format!("{}/g/{token}", server.guest));
    let page = String::from_utf8_lossy(&page).to_string();
    assert!(page.contains(&format!("href=\"/d/{token}\"")) && page.contains("Save Video"));
    assert!(!page.contains("id=\"pay\""));
}

#[test]
fn bad_events_and_mismatched_amounts_never_unlock() {
    let stripe = FakeStripe::start();
    let server = Server::start(paid_settings(&stripe, 60_000));
    let (id, token) = ready_job(&server);
    let session_id = open_checkout(&server, &token);
    let kind = "checkout.session.completed";

    let store = &server.shared().store;
    // A paid event for a job this kiosk does not have (deleted, or never
    // here): the money is kept in the ledger and Stripe gets its 2xx.
    let paid_copy = || {
        // The fake's own session stays open: later steps pay it.
        let mut s = stripe.session(&session_id);
        s["status"] = "complete".into();
        s["payment_status"] = "paid".into();
        s
    };
    let mut other = paid_copy();
    other["client_reference_id"] = "00000000deadbeef".into();
    other["metadata"]["job_id"] = "00000000deadbeef".into();
    let (b, s) = FakeStripe::signed_event(kind, &other, WEBHOOK_SECRET, now_s());
    let (st, r) = webhook(&server, &b, Some(&s));
    assert_eq!(
        (st, r["outcome"].as_str()),
        (200, Some("recorded_for_deleted_job"))
    );
    assert_eq!(webhook(&server, &b, Some(&s)).0, 200, "a retry");
    let ledger = store.ledger().expect("ledger");
    assert_eq!(ledger.len(), 1, "recorded once: {ledger:?}");
    assert_eq!(ledger[0].0.to_string(), "00000000deadbeef");
    // A paid event of the same amount for this job, through a session the
    // kiosk never opened for it: flagged and in the ledger, not unlocked.
    let mut foreign = paid_copy();
    foreign["id"] = "cs_test_not_this_jobs".into();
    let (b, s) = FakeStripe::signed_event(kind, &foreign, WEBHOOK_SECRET, now_s());
    let (st, r) = webhook(&server, &b, Some(&s));
    assert_eq!(
        (st, r["outcome"].as_str()),
        (200, Some("flagged_for_staff"))
    );
    let job = store
        .get(id.parse().expect("id"))
        .expect("db")
        .expect("job");
    assert_eq!(job.status, smileloop::jobs::Status::PreviewReady);
    assert_eq!(job.payment, None);
    assert!(job
        .staff_flag
        .as_deref()
        .is_some_and(|f| f.contains("cs_test_not_this_jobs")));
    assert_eq!(store.ledger().expect("ledger").len(), 2);
    assert_eq!(download_status(&server, &token), 403);
    // A signature stamped beyond the tolerance ahead is refused like an
    // old one.
    let (b, s) = FakeStripe::signed_event(kind, &foreign, WEBHOOK_SECRET, now_s() + 301);
    let (st, r) = webhook(&server, &b, Some(&s));
    assert_eq!(
        (st, r["error"]["code"].as_str()),
        (400, Some("signature_in_the_future"))
    );
    // Not JSON at all, correctly signed.
    let (b, s) = (
        b"not json".to_vec(),
        smileloop::payments::signature::sign(b"not json", WEBHOOK_SECRET, now_s()),
    );
    assert_eq!(webhook(&server, &b, Some(&s)).0, 400);
    // Completed but unpaid (a bank debit still pending): nothing yet.
    let mut pending = stripe.session(&session_id);
    pending["status"] = "complete".into();
    let (b, s) = FakeStripe::signed_event(kind, &pending, WEBHOOK_SECRET, now_s());
    assert_eq!(webhook(&server, &b, Some(&s)).1["outcome"], "not_paid");
    // Paid, but less than the price: recorded and flagged for staff.
    let short = stripe.pay(&session_id, Some(100));
    let (b, s) = FakeStripe::signed_event(kind, &short, WEBHOOK_SECRET, now_s());
    let (st, r) = webhook(&server, &b, Some(&s));
    assert_eq!(
        (st, r["outcome"].as_str()),
        (200, Some("flagged_for_staff"))
    );
    let job = server
        .shared()
        .store
        .get(id.parse().expect("id"))
        .expect("db")
        .expect("job");
    assert_eq!(job.status, smileloop::jobs::Status::PreviewReady);
    assert_eq!(job.payment.as_ref().map(|p| p.amount_cents), Some(100));
    assert!(job.staff_flag.is_some());
    assert_eq!(download_status(&server, &token), 403);
    // Ignored event types still answer 2xx so Stripe stops sending them.
    let (b, s) =
        FakeStripe::signed_event("checkout.session.expired", &short, WEBHOOK_SECRET, now_s());
    assert_eq!(webhook(&server, &b, Some(&s)).1["outcome"], "ignored");

    // Malformed and guessed tokens.
    assert_eq!(get(&format!("{}/g/not-a-token", server.guest)).0, 404);
    assert_eq!(
        get(&format!("{}/g/{}", server.guest, "ab".repeat(16))).0,
        404
    );
    assert_eq!(post_pay(&server, &"cd".repeat(16)).0, 404);
}

#[test]
fn returning_guests_ask_stripe_about_their_own_session_and_not_on_every_reload() {
    let stripe = FakeStripe::start();
    // The poller asks once a minute at most: what reaches Stripe here is
    // the guest page's lookups.
    let server = Server::start(paid_settings(&stripe, 60_000));
    let (_, token) = ready_job(&server);
    let session_id = open_checkout(&server, &token);
    let asked = || {
        stripe
            .retrieved()
            .iter()
            .filter(|s| **s == session_id)
            .count()
    };
    let before = asked();
    let page = |sid: &str| get(&format!("{}/g/{token}?session_id={sid}", server.guest)).0;
    // Twenty reloads in a row while the session is still open: one lookup.
    for _ in 0..20 {
        assert_eq!(page(&session_id), 200);
    }
    assert_eq!(asked() - before, 1, "{:?}", stripe.retrieved());
    // Someone else's session id on this guest's page is never looked up.
    let all = stripe.retrieved().len();
    assert_eq!(page("cs_test_someone_else"), 200);
    assert_eq!(stripe.retrieved().len(), all);
}

#[test]
fn polling_confirms_payment_made_while_the_kiosk_was_down() {
    let stripe = FakeStripe::start();
    let server = Server::start(paid_settings(&stripe, 200));
    let (id, token) = ready_job(&server);
    let session_id = open_checkout(&server, &token);
    let dir = server.stop();

    // The guest pays while the kiosk is off; no webhook reaches it.
    stripe.pay(&session_id, None);
    let mut s = settings(dir.path());
    paid_settings(&stripe, 200)(&mut s);
    let server = Server::start_with(dir, s);
    assert!(
        eventually(Duration::from_secs(10), || job_json(&server, &id)["status"]
            == "unlocked"),
        "the poller reconciles the open session: {}",
        job_json(&server, &id)
    );
    let job = server
        .shared()
        .store
        .get(id.parse().expect("id"))
        .expect("db")
        .expect("job");
    assert_eq!(
        job.payment.as_ref().map(|p| p.seen_by.as_str()),
        Some("poll")
    );
    assert_eq!(download_status(&server, &token), 200);
}

#[test]
fn offline_stripe_and_missing_keys_point_guests_to_staff() {
    let stripe = FakeStripe::start();
    let server = Server::start(paid_settings(&stripe, 60_000));
    let (_, token) = ready_job(&server);
    stripe.set_offline(true);
    let (s, _, body) = post_pay(&server, &token);
    assert_eq!(s, 503);
    assert!(body.contains("ask the staff"), "{body}");
    let id = server
        .shared()
        .store
        .get_by_token(token.parse().expect("token"))
        .expect("db")
        .expect("job")
        .id
        .to_string();
    assert_eq!(
        job_json(&server, &id)["payments_offline"],
        true,
        "the kiosk knows"
    );
    stripe.set_offline(false);
    assert_eq!(post_pay(&server, &token).0, 303, "works again once online");
    assert_eq!(job_json(&server, &id)["payments_offline"], false);
    drop(server);

    let server = Server::start(|s| s.event_mode = EventMode::Paid);
    let (_, health) = get_json(&format!("{}/api/health", server.kiosk));
    assert_eq!(health["payments_configured"], false);
    let (id, token) = ready_job(&server);
    assert_eq!(job_json(&server, &id)["payments_configured"], false);
    let (_, page) = get(&format!("{}/g/{token}", server.guest));
    let page = String::from_utf8_lossy(&page).to_string();
    assert!(
        !page.contains("id=\"pay\"") && page.contains("ask the"),
        "{page}"
    );
    assert_eq!(post_pay(&server, &token).0, 503);
    let (b, s) = FakeStripe::signed_event(
        "checkout.session.completed",
        &Value::Null,
        WEBHOOK_SECRET,
        now_s(),
    );
    assert_eq!(
        webhook(&server, &b, Some(&s)).0,
        404,
        "no webhook without keys"
    );
}

#[test]
fn a_guest_deletes_photo_and_video_and_the_payment_stays_on_the_ledger() {
    let stripe = FakeStripe::start();
    let server = Server::start(paid_settings(&stripe, 60_000));
    let (id, token) = ready_job(&server);
    let session_id = open_checkout(&server, &token);
    let paid = stripe.pay(&session_id, None);
    let (b, sig) =
        FakeStripe::signed_event("checkout.session.completed", &paid, WEBHOOK_SECRET, now_s());
    assert_eq!(webhook(&server, &b, Some(&sig)).0, 200);

    let (s, page) = get(&format!("{}/g/{token}/delete", server.guest));
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&page).contains("cannot be undone"));
    let url = format!("{}/g/{token}/delete", server.guest);
    let unconfirmed = call(
        agent().post(&url),
        Some(("application/x-www-form-urlencoded", b"confirm=no".to_vec())),
    );
    assert_eq!(unconfirmed.0, 400);
    assert_eq!(
        job_json(&server, &id)["status"],
        "unlocked",
        "nothing deleted yet"
    );

    let job_dir = smileloop::jobs::job_dir(server.dir.path(), id.parse().expect("id"));
    assert!(job_dir.exists());
    let done = call(
        agent().post(&url),
        Some(("application/x-www-form-urlencoded", b"confirm=yes".to_vec())),
    );
    assert_eq!(done.0, 200);
    assert_eq!(get_json(&format!("{}/api/jobs/{id}", server.kiosk)).0, 404);
    assert!(!job_dir.exists(), "files are gone");
    assert_eq!(download_status(&server, &token), 404);
    assert_eq!(get(&format!("{}/g/{token}", server.guest)).0, 404);
    let ledger = server.shared().store.ledger().expect("ledger");
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].1.amount_cents, 799);
    // A late webhook for the deleted job: 2xx, so Stripe stops; nothing
    // recreated and the payment not counted twice.
    assert_eq!(webhook(&server, &b, Some(&sig)).0, 200);
    assert_eq!(server.shared().store.ledger().expect("ledger").len(), 1);
    assert_eq!(get(&format!("{}/g/{token}", server.guest)).0, 404);
}

#[test]
fn a_phone_scans_pays_and_downloads_in_chromium() {
    use crate::common::browser::Browser;
    let stripe = FakeStripe::start();
    // The QR must point somewhere this test's browser can open: the guest
    // listener itself.
    // Its URL must be known before it starts: a port free a moment ago,
    // and another one should something else take it first.
    let server = (0..5)
        .find_map(|_| {
            let guest_port = unused_port();
            let dir = tempfile::tempdir().expect("tempdir");
            let mut s = settings(dir.path());
            paid_settings(&stripe, 60_000)(&mut s);
            s.guest_port = guest_port;
            s.public_base_url = format!("http://127.0.0.1:{guest_port}");
            Server::try_start_with(dir, s).ok()
        })
        .expect("the kiosk starts on one of five free ports");
    let (id, token) = ready_job(&server);
    let url = scan_qr(&server, &id);
    assert_eq!(url, format!("{}/g/{token}", server.guest));

    let mut phone = Browser::phone();
    phone.goto(&url);
    assert_eq!(phone.eval("innerWidth"), 390, "phone viewport");
    let text = phone.eval("document.body.innerText");
    assert!(
        text.as_str().is_some_and(|t| t.contains("7.99 USD")),
        "{text}"
    );
    assert_eq!(
        phone.eval("!!document.querySelector('video[src$=\"preview.mp4\"]')"),
        true
    );
    // Mobile-first: nothing wider than the screen.
    assert_eq!(
        phone.eval("document.documentElement.scrollWidth <= innerWidth"),
        true
    );

    phone.eval("document.querySelector('#pay').click()");
    phone.wait_for(
        &format!(
            "location.href.startsWith('{}/pay/') && !!document.querySelector('#pay-now')",
            stripe.base
        ),
        Duration::from_secs(20),
    );
    phone.eval("document.querySelector('#pay-now').click()");
    // Back on the guest page, which asks Stripe at once.
    phone.wait_for(
        "!!document.querySelector('#download')",
        Duration::from_secs(20),
    );
    let href = phone.eval("document.querySelector('#download').href");
    assert_eq!(href, format!("{}/d/{token}", server.guest));
    let job = job_json(&server, &id);
    assert_eq!(
        (job["status"].as_str(), job["unlock"].as_str()),
        (Some("unlocked"), Some("paid"))
    );

    let (s, bytes, _) = call(agent().get(href.as_str().expect("href")), None);
    assert_eq!(s, 200);
    assert_eq!(inspect_mp4(&bytes).samples, 100);
}

#[test]
fn the_kiosk_screen_shows_the_qr_and_then_paid() {
    use crate::common::browser::Browser;
    let stripe = FakeStripe::start();
    let server = Server::start(paid_settings(&stripe, 60_000));
    let (id, _) = ready_job(&server);
    let mut kiosk = Browser::screen(1280, 800);
    kiosk.goto(&format!("{}/#job={id}", server.kiosk));
    kiosk.wait_for(
        "!document.querySelector('#pay-box').hidden && document.querySelector('#qr').naturalWidth > 0",
        Duration::from_secs(60),
    );
    assert_eq!(kiosk.eval("location.hash"), format!("#job={id}"));
    let text = kiosk.eval("document.querySelector('#unlock-text').innerText");
    assert!(text.as_str().is_some_and(|t| t.contains("7.99")), "{text}");
    assert_eq!(
        kiosk.eval("document.querySelector('#paid-text').hidden"),
        true
    );

    let token = job_json(&server, &id)["guest_url"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .expect("token")
        .to_string();
    let session = open_checkout(&server, &token);
    let paid = stripe.pay(&session, None);
    let (b, sig) =
        FakeStripe::signed_event("checkout.session.completed", &paid, WEBHOOK_SECRET, now_s());
    let sent = std::time::Instant::now();
    assert_eq!(webhook(&server, &b, Some(&sig)).0, 200);
    kiosk.wait_for(
        "!document.querySelector('#paid-text').hidden",
        Duration::from_secs(10),
    );
    eprintln!("kiosk showed Paid {:?} after the webhook", sent.elapsed());
    let paid_text = kiosk.eval("document.querySelector('#paid-text').innerText");
    assert_eq!(paid_text, "Paid: your video is on your phone");

    // A restarted kiosk browser comes back to the same guest's screen.
    kiosk.goto(&format!("{}/#job={id}", server.kiosk));
    kiosk.wait_for(
        "!document.querySelector('#paid-text').hidden",
        Duration::from_secs(10),
    );
}

#[test]
fn a_yen_event_shows_yen_on_every_surface() {
    use crate::common::browser::Browser;
    let stripe = FakeStripe::start();
    let server = Server::start(|s| {
        paid_settings(&stripe, 60_000)(s);
        s.currency = "jpy".into();
        s.price_cents = 800;
    });
    let (id, token) = ready_job(&server);
    let (_, job) = get_json(&format!("{}/api/jobs/{id}", server.kiosk));
    assert_eq!(
        (
            &job["price_cents"],
            &job["currency"],
            &job["price_decimals"]
        ),
        (&json!(800), &json!("jpy"), &json!(0)),
        "{job}"
    );
    let (s, page) = get(&format!("{}/g/{token}", server.guest));
    assert_eq!(s, 200);
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains("800 JPY"), "the guest page's price");
    assert!(!page.contains("8.00"), "no cents in yen");
    let (s, _, _) = post_pay(&server, &token);
    assert_eq!(s, 303);
    let creates = stripe.creates();
    let f = |k: &str| creates[0].form.get(k).map(String::as_str);
    assert_eq!(f("line_items[0][price_data][unit_amount]"), Some("800"));
    assert_eq!(f("line_items[0][price_data][currency]"), Some("jpy"));

    // The kiosk screen: ¥800, not ¥8 (it divided every price by 100).
    let mut kiosk = Browser::screen(1280, 800);
    kiosk.goto(&format!("{}/#job={id}", server.kiosk));
    let shown = "document.querySelector('#unlock-text').textContent";
    kiosk.wait_for(
        &format!("{shown}.includes('¥800')"),
        Duration::from_secs(30),
    );
    kiosk.screenshot("kiosk-yen-price");
}
