//! The guest's whole flow on the kiosk screen in headless Chromium, at the
//! kiosk's two screen shapes, against the real server with the files
//! camera showing a real portrait. Screenshots of every step land in
//! `target/screenshots/kiosk-*.png` for people to look at.

use std::time::Duration;

use crate::common::browser::Browser;
use crate::common::*;
use smileloop::config::{CameraKind, EventMode};

const PHOTO: &str = "grace_hopper.jpg";
const STEP: Duration = Duration::from_secs(40);
const RENDER: Duration = Duration::from_secs(240);

fn visible(id: &str) -> String {
    format!("!document.getElementById('{id}').hidden")
}

/// A guest's tap: the pointer goes down on the element, which the kiosk
/// counts as a touch (its idle timeout starts again), then the click.
fn click(b: &mut Browser, selector: &str) {
    b.eval(&format!(
        "(el => {{ el.dispatchEvent(new PointerEvent('pointerdown', {{ bubbles: true }})); el.click(); }})(document.querySelector({selector:?}))"
    ));
}

fn text(b: &mut Browser, id: &str) -> String {
    b.eval(&format!("document.getElementById('{id}').innerText"))
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn server(folder: &std::path::Path, mode: EventMode, samples: bool) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = settings(dir.path());
    s.camera = CameraKind::Files;
    s.camera_files = Some(folder.to_path_buf());
    s.event_mode = mode;
    s.idle_timeout_s = 15;
    if samples {
        render_samples(&s);
    }
    Server::start_with(dir, s)
}

/// What `smileloop samples` does, with the fast `gentle` animator.
fn render_samples(s: &smileloop::config::Settings) {
    let out = smileloop::render::samples_dir(&s.data_dir);
    std::fs::create_dir_all(&out).expect("samples dir");
    let image =
        smileloop::capture::photo::decode(&photo("kphotoalbum_jesper_2.jpg")).expect("decode");
    let presets = smileloop::motion::load_dir(&s.presets_dir).expect("presets");
    for preset in presets
        .into_iter()
        .filter(|p| p.supports_backend(smileloop::backend::Backend::Gentle))
    {
        let job = smileloop::render::Job {
            photo: &image,
            seed: 0,
            faces: None,
            preset: &preset,
            animator: &smileloop::animate::gentle::Gentle,
            encoder: smileloop::encode::detect(s.encoder).expect("encoder"),
            watermark_text: "Sample",
        };
        smileloop::render::sample(&job, &out).expect("sample");
    }
}

/// attract → consent → camera → countdown → review → pick.
fn to_pick(b: &mut Browser, server: &Server, shots: &str) {
    b.wait_for(&visible("attract"), STEP);
    b.wait_for(
        "document.querySelectorAll('#presets .card').length === 4",
        STEP,
    );
    b.screenshot(&format!("{shots}-1-attract"));
    click(b, "#attract");
    b.wait_for(&visible("consent"), STEP);
    assert!(text(b, "consent-text").contains("24 hours"));
    b.screenshot(&format!("{shots}-2-consent"));
    click(b, "#consent-accept");
    b.wait_for(&visible("camera"), STEP);
    b.wait_for("document.getElementById('live').naturalWidth > 0", STEP);
    // The guide sees the real face in the live view.
    b.wait_for(
        "document.getElementById('hint').innerText === 'Great, hold still'",
        STEP,
    );
    b.screenshot(&format!("{shots}-3-camera"));
    let before = server.shared().camera.status().stills;
    // A double tap takes one photo.
    b.eval(
        "document.getElementById('shutter').click(); document.getElementById('shutter').click()",
    );
    b.wait_for(&visible("countdown"), STEP);
    b.screenshot(&format!("{shots}-4-countdown"));
    b.wait_for(&visible("review"), STEP);
    b.wait_for(
        "document.getElementById('review-photo').naturalWidth > 0",
        STEP,
    );
    assert_eq!(
        server.shared().camera.status().stills,
        before + 1,
        "one still for a double tap"
    );
    // The review says who will come alive before the guest goes on.
    b.wait_for(
        "document.getElementById('review-faces').innerText === 'Your face will smile'",
        STEP,
    );
    b.screenshot(&format!("{shots}-5-review"));
    click(b, "#use-photo");
    b.wait_for(&visible("pick"), STEP);
    b.screenshot(&format!("{shots}-6-pick"));
}

/// pick → live render → loop with a QR code that decodes to the guest URL.
fn render_and_result(b: &mut Browser, server: &Server, shots: &str) -> String {
    click(b, "#presets .card");
    b.wait_for(&visible("result"), STEP);
    b.wait_for(
        "location.hash.startsWith('#job=') && document.getElementById('render-live').naturalWidth > 0",
        RENDER,
    );
    b.screenshot(&format!("{shots}-7-rendering"));
    b.wait_for(
        "!document.getElementById('pay-box').hidden && document.getElementById('preview').readyState >= 2 \
         && document.getElementById('render-live').hidden && document.getElementById('qr').naturalWidth > 0",
        RENDER,
    );
    let shot = b.screenshot(&format!("{shots}-8-result"));
    // The browser really decodes the loop: its picture matches the poster
    // (the same photo), not a green frame from rows GStreamer misread.
    let means = b.eval(
        "(async () => { const mean = (el, w, h) => { const c = document.createElement('canvas');          c.width = w; c.height = h; const g = c.getContext('2d'); g.drawImage(el, 0, 0, w, h);          const d = g.getImageData(0, 0, w, h).data; const m = [0, 0, 0];          for (let i = 0; i < d.length; i += 4) { m[0] += d[i]; m[1] += d[i + 1]; m[2] += d[i + 2]; }          return m.map(x => x / (w * h)); };          const v = document.getElementById('preview'); const p = new Image(); p.src = v.poster; await p.decode();          return [mean(v, v.videoWidth, v.videoHeight), mean(p, p.naturalWidth, p.naturalHeight)]; })()",
    );
    for c in 0..3 {
        let (v, p) = (
            means[0][c].as_f64().expect("mean"),
            means[1][c].as_f64().expect("mean"),
        );
        assert!(
            (v - p).abs() < 25.0,
            "video and poster differ in channel {c}: {means}"
        );
    }
    let id = b
        .eval("location.hash.slice(5)")
        .as_str()
        .expect("id")
        .to_string();
    let (_, job) = get_json(&format!("{}/api/jobs/{id}", server.kiosk));
    let codes = scan_qr_codes(&shot);
    assert_eq!(
        codes,
        vec![job["guest_url"].as_str().expect("url").to_string()]
    );
    id
}

/// Checks twice a second, for 22 s (past the 15 s idle timeout these
/// kiosks have), that `condition` holds: the guest's screen stays.
fn stays_past_the_idle_timeout(b: &mut Browser, condition: &str, what: &str) {
    let waited = std::time::Instant::now();
    while waited.elapsed() < Duration::from_secs(22) {
        assert_eq!(
            b.eval(condition),
            true,
            "sent away after {:?} {what}",
            waited.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Untouched, the screen goes back to attract and forgets the guest.
fn idle_reset(b: &mut Browser, shots: &str) {
    b.wait_for(&visible("attract"), Duration::from_secs(40));
    assert_eq!(b.eval("location.hash"), "");
    assert_eq!(
        b.eval("[document.getElementById('review-photo').src, document.getElementById('preview').src, document.getElementById('render-stage').style.backgroundImage].join('')"),
        ""
    );
    b.screenshot(&format!("{shots}-9-idle-reset"));
}

#[test]
fn portrait_kiosk_free_event_from_tap_to_loop_and_back() {
    let folder = camera_folder(PHOTO);
    let server = server(folder.path(), EventMode::Free, true);
    let mut b = Browser::screen(1080, 1920);
    b.goto(&format!("{}/", server.kiosk));
    to_pick(&mut b, &server, "kiosk-portrait");
    render_and_result(&mut b, &server, "kiosk-portrait");
    assert_eq!(text(&mut b, "paid-text"), "Free tonight: scan to download");
    // Nothing on screen needs scrolling, and every button is big enough.
    assert_eq!(
        b.eval("document.documentElement.scrollHeight <= innerHeight && document.documentElement.scrollWidth <= innerWidth"),
        true
    );
    let small = b.eval(
        "[...document.querySelectorAll('button')].filter(x => x.offsetParent && (x.offsetWidth < 64 || x.offsetHeight < 64)).map(x => x.id || x.innerText)",
    );
    assert_eq!(small, serde_json::json!([]), "buttons under 64 px");
    idle_reset(&mut b, "kiosk-portrait");
}

#[test]
fn landscape_kiosk_in_german_with_a_phone_photo_and_a_camera_outage() {
    let parent = tempfile::tempdir().expect("tmp");
    let folder = parent.path().join("camera");
    std::fs::create_dir(&folder).expect("mkdir");
    std::fs::write(folder.join(PHOTO), photo(PHOTO)).expect("copy");
    let server = server(&folder, EventMode::Paid, false);
    let mut b = Browser::screen(1920, 1080);
    b.goto(&format!("{}/", server.kiosk));
    b.wait_for(&visible("attract"), STEP);

    // The guest switches to German; the whole screen follows.
    click(&mut b, "[data-lang=de]");
    assert_eq!(b.eval("document.documentElement.lang"), "de");
    click(&mut b, "#attract");
    b.wait_for(&visible("consent"), STEP);
    assert!(text(&mut b, "consent").contains("Bevor es losgeht"));
    click(&mut b, "#consent-accept");
    b.wait_for(&visible("camera"), STEP);
    b.wait_for("document.getElementById('live').naturalWidth > 0", STEP);

    // Unplugged: the cover says so, and the view comes back by itself.
    let unplugged = parent.path().join("unplugged");
    std::fs::rename(&folder, &unplugged).expect("unplug");
    b.wait_for(&visible("camera-down"), STEP);
    assert_eq!(text(&mut b, "camera-down"), "Kamera verbindet sich neu…");
    b.screenshot("kiosk-landscape-camera-reconnecting");
    // The shutter while it is gone: the guest's words and a way back.
    click(&mut b, "#shutter");
    b.wait_for(&visible("error"), STEP);
    assert_eq!(
        text(&mut b, "error-text"),
        "Die Kamera funktioniert gerade nicht. Du kannst dein Foto vom Handy senden."
    );
    b.screenshot("kiosk-landscape-error");
    click(&mut b, "#error-back");
    b.wait_for(
        "document.getElementById('error').hidden && !document.getElementById('camera').hidden",
        STEP,
    );
    std::fs::rename(&unplugged, &folder).expect("plug back in");
    b.wait_for("document.getElementById('camera-down').hidden", STEP);

    // The photo comes from the guest's phone instead.
    click(&mut b, "#to-phone");
    b.wait_for(&visible("phone"), STEP);
    b.wait_for("document.getElementById('phone-qr').naturalWidth > 0", STEP);
    let shot = b.screenshot("kiosk-landscape-phone");
    let codes = scan_qr_codes(&shot);
    assert_eq!(codes.len(), 1, "{codes:?}");
    let url = codes[0].clone();
    assert!(url.starts_with("http://localhost:8080/u/"), "{url}");
    let path = url.trim_start_matches("http://localhost:8080");
    // A couple's photo: the review counts both faces, in German.
    let couple = photo("kphotoalbum_bar55.jpg");
    let (ct, body) = multipart(&[("photo", Some("paar.jpg"), &couple)]);
    let (s, page, _) = call(
        agent().post(&format!("{}{path}", server.guest)),
        Some((&ct, body)),
    );
    let page = String::from_utf8_lossy(&page).to_string();
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("2 faces will come alive"), "{page}");
    b.wait_for(&visible("review"), STEP);
    b.wait_for(
        "document.getElementById('review-photo').naturalWidth > 0",
        STEP,
    );
    b.wait_for(
        "document.getElementById('review-faces').innerText === '2 Gesichter werden lächeln'",
        STEP,
    );
    b.screenshot("kiosk-landscape-5-review-couple");
    click(&mut b, "#use-photo");
    b.wait_for(&visible("pick"), STEP);
    assert!(b
        .eval("document.getElementById('presets').innerText")
        .as_str()
        .is_some_and(|t| t.contains("Sanftes Lächeln")));
    b.screenshot("kiosk-landscape-6-pick");
    render_and_result(&mut b, &server, "kiosk-landscape");
    // Paid mode without Stripe keys: the guest is sent to the staff.
    assert!(text(&mut b, "unlock-text").contains("Personal"));
    idle_reset(&mut b, "kiosk-landscape");
    assert_eq!(
        b.eval("document.documentElement.lang"),
        "en",
        "the next guest gets the staff's language"
    );
}

#[test]
fn outside_event_hours_the_screen_is_black_until_touched() {
    let folder = camera_folder(PHOTO);
    let mut b = Browser::screen(1080, 1920);
    // The page judges the hours by the box's local clock, as Chromium sees it.
    let now = b
        .eval("new Date().getHours() * 60 + new Date().getMinutes()")
        .as_u64()
        .expect("minutes");
    let hm = |m: u64| format!("{:02}:{:02}", (m % 1440) / 60, m % 60);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = settings(dir.path());
    s.camera = CameraKind::Files;
    s.camera_files = Some(folder.path().to_path_buf());
    s.idle_timeout_s = 15;
    // The event starts in two hours: now is outside its hours.
    s.screen_hours = format!("{}-{}", hm(now + 120), hm(now + 300))
        .parse()
        .expect("hours");
    let server = Server::start_with(dir, s);
    b.goto(&format!("{}/", server.kiosk));
    b.wait_for(&visible("standby"), STEP);
    assert_eq!(
        b.eval("getComputedStyle(document.getElementById('standby')).backgroundColor"),
        "rgb(0, 0, 0)"
    );
    assert_eq!(text(&mut b, "standby"), "Touch to wake");
    b.screenshot("kiosk-standby");
    // A touch wakes it for a guest; left alone, it goes black again.
    click(&mut b, "#standby");
    b.wait_for(&visible("attract"), STEP);
    b.wait_for(&visible("standby"), Duration::from_secs(40));
}

/// A guest watching their render is not walking away: however long the
/// queue or the render takes, the idle timeout (15 s here) starts only
/// when the loop is ready. A render that cannot finish holds the screen
/// here well past the timeout, and the progress keeps moving on it.
#[test]
fn a_guest_waiting_for_their_loop_keeps_the_screen_past_the_idle_timeout() {
    use smileloop::jobs::{Job, Progress, Status};
    let folder = camera_folder(PHOTO);
    let server = server(folder.path(), EventMode::Free, false);
    let mut job = Job::new(
        "soft_smile".parse().expect("preset id"),
        "source.jpg",
        now_ms(),
    );
    // Rendering already: the worker renders only queued jobs, so this one
    // stays at 40 of 100 frames until the test moves it.
    job.status = Status::Rendering;
    job.progress = Progress {
        frames_done: 40,
        frames_total: 100,
    };
    let store = &server.shared().store;
    store.insert_new(&job).expect("insert");
    let mut b = Browser::screen(1080, 1920);
    // The kiosk browser restarted on this guest's screen (see `openJob`).
    b.open(&format!("{}/#job={}", server.kiosk, job.id));
    b.wait_for(
        "document.getElementById('progress-text').innerText.startsWith('40 of 100 frames')",
        STEP,
    );
    stays_past_the_idle_timeout(
        &mut b,
        &format!(
            "{} && document.getElementById('attract').hidden",
            visible("result")
        ),
        "while rendering",
    );
    store
        .update(job.id, |j| {
            j.progress = Progress {
                frames_done: 90,
                frames_total: 100,
            }
        })
        .expect("progress");
    b.wait_for(
        "document.getElementById('progress-text').innerText.startsWith('90 of 100 frames')",
        STEP,
    );
}

/// A guest choosing a photo on their phone is still at the kiosk: once the
/// phone has the upload page open, the phone screen waits past the idle
/// timeout (15 s here), and the photo still arrives for review.
#[test]
fn the_phone_screen_waits_while_a_phone_has_the_upload_page() {
    let folder = camera_folder(PHOTO);
    let server = server(folder.path(), EventMode::Free, false);
    let mut b = Browser::screen(1080, 1920);
    b.goto(&format!("{}/", server.kiosk));
    b.wait_for(&visible("attract"), STEP);
    click(&mut b, "#attract");
    b.wait_for(&visible("consent"), STEP);
    click(&mut b, "#consent-accept");
    b.wait_for(&visible("camera"), STEP);
    click(&mut b, "#to-phone");
    b.wait_for(&visible("phone"), STEP);
    b.wait_for("document.getElementById('phone-qr').naturalWidth > 0", STEP);
    let qr = b.eval("new URL(document.getElementById('phone-qr').src).pathname");
    let code = qr
        .as_str()
        .and_then(|p| p.strip_prefix("/api/phone-uploads/"))
        .and_then(|p| p.strip_suffix("/qr.svg"))
        .unwrap_or_else(|| panic!("the slot's QR: {qr}"))
        .to_string();
    let (s, _) = get(&format!("{}/u/{code}", server.guest));
    assert_eq!(s, 200);
    stays_past_the_idle_timeout(&mut b, &visible("phone"), "with the phone's page open");
    let (ct, body) = multipart(&[("photo", Some("me.jpg"), &photo(PHOTO))]);
    let (s, page, _) = call(
        agent().post(&format!("{}/u/{code}", server.guest)),
        Some((&ct, body)),
    );
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&page));
    b.wait_for(&visible("review"), STEP);
}
