//! The kiosk's camera, phone hand-off and live render, through the real
//! server: the files camera serves a real portrait from ../shared/test-photos.

use std::time::{Duration, Instant};

use crate::common::*;
use smileloop::config::CameraKind;

const PHOTO: &str = "grace_hopper.jpg";

fn with_camera(folder: &std::path::Path) -> Server {
    let folder = folder.to_path_buf();
    Server::start(move |s| {
        s.camera = CameraKind::Files;
        s.camera_files = Some(folder);
    })
}

fn wait_camera(kiosk: &str, state: &str, limit: Duration) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let (code, status) = get_json(&format!("{kiosk}/api/camera/status"));
        assert_eq!(code, 200);
        if status["state"] == state {
            return status;
        }
        assert!(start.elapsed() < limit, "camera never {state}: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn dimensions(jpeg: &[u8]) -> (u32, u32) {
    let img = image::load_from_memory(jpeg).expect("a JPEG that decodes");
    (img.width(), img.height())
}

#[test]
fn live_view_streams_jpegs_and_the_shutter_takes_a_full_size_still() {
    let folder = camera_folder(PHOTO);
    let server = with_camera(folder.path());
    let mut live = MjpegReader::open(&format!("{}/api/camera/live", server.kiosk));
    for _ in 0..5 {
        let frame = live.next_jpeg().expect("a live frame");
        let (w, h) = dimensions(&frame);
        assert!(w.max(h) <= 1280, "live frames are webcam-sized: {w}×{h}");
    }
    let status = wait_camera(&server.kiosk, "live", Duration::from_secs(5));
    assert!(
        status["source"].as_str().unwrap_or("").contains(PHOTO),
        "{status}"
    );

    // The guide's hint comes from the newest frame: a real face here.
    let (_, with_face) = get_json(&format!("{}/api/camera/status?face=true", server.kiosk));
    assert_eq!(with_face["face"], "ok", "{with_face}");

    let (code, still, _) = call(
        agent().post(&format!("{}/api/camera/still", server.kiosk)),
        None,
    );
    assert_eq!(code, 200);
    let original = image::load_from_memory(&photo(PHOTO)).expect("photo");
    assert_eq!(dimensions(&still), (original.width(), original.height()));
    // The still is an ordinary upload from here on.
    let (code, job) = upload(&server.kiosk, &still, "still.jpg", "soft_smile");
    assert_eq!(code, 201, "{job}");
}

#[test]
fn an_unplugged_camera_reconnects_by_itself() {
    let parent = tempfile::tempdir().expect("tmp");
    let folder = parent.path().join("camera");
    std::fs::create_dir(&folder).expect("mkdir");
    std::fs::write(folder.join(PHOTO), photo(PHOTO)).expect("copy");
    let server = with_camera(&folder);
    let mut live = MjpegReader::open(&format!("{}/api/camera/live", server.kiosk));
    live.next_jpeg().expect("a frame before the unplug");

    let unplugged = parent.path().join("unplugged");
    std::fs::rename(&folder, &unplugged).expect("unplug");
    let status = wait_camera(&server.kiosk, "reconnecting", Duration::from_secs(5));
    assert!(status["error"].as_str().is_some(), "{status}");
    let (code, body, _) = call(
        agent().post(&format!("{}/api/camera/still", server.kiosk)),
        None,
    );
    assert_eq!(code, 503);
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["error"]["code"], "camera_unavailable", "{body}");

    std::fs::rename(&unplugged, &folder).expect("plug back in");
    let status = wait_camera(&server.kiosk, "live", Duration::from_secs(5));
    assert_eq!(status["reconnects"], 1, "{status}");
    // The same connection carries frames again: the page need not reload.
    live.next_jpeg().expect("frames after the replug");
}

#[test]
fn without_a_camera_the_shutter_says_so_and_phone_upload_still_works() {
    let server = Server::start(|_| {});
    let (_, status) = get_json(&format!("{}/api/camera/status", server.kiosk));
    assert_eq!(status["state"], "off", "{status}");
    let (code, body, _) = call(
        agent().post(&format!("{}/api/camera/still", server.kiosk)),
        None,
    );
    assert_eq!(code, 503, "{}", String::from_utf8_lossy(&body));

    // The kiosk opens a slot and shows its QR code.
    let (code, body, _) = call(
        agent().post(&format!("{}/api/phone-uploads", server.kiosk)),
        None,
    );
    assert_eq!(code, 201);
    let slot: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let code_str = slot["code"].as_str().expect("code").to_string();
    let url = slot["upload_url"].as_str().expect("url").to_string();
    assert!(url.ends_with(&format!("/u/{code_str}")), "{url}");
    let (s, svg) = get(&format!(
        "{}{}",
        server.kiosk,
        slot["qr_url"].as_str().expect("qr")
    ));
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&svg).contains("<svg"));
    let state = |kiosk: &str| get_json(&format!("{kiosk}/api/phone-uploads/{code_str}"));
    assert_eq!(state(&server.kiosk).1["state"], "waiting");

    // The phone's page lives on the guest listener.
    let (s, page) = get(&format!("{}/u/{code_str}", server.guest));
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&page).contains("multipart/form-data"));
    // The kiosk screen learns that a phone has the page.
    assert_eq!(state(&server.kiosk).1["state"], "opened");
    let (s, _) = get(&format!("{}/u/{code_str}", server.kiosk));
    assert_eq!(s, 404, "the upload page is not on the kiosk listener");

    let post = |bytes: &[u8], name: &str| {
        let (ct, body) = multipart(&[("photo", Some(name), bytes)]);
        let (s, b, _) = call(
            agent().post(&format!("{}/u/{code_str}", server.guest)),
            Some((&ct, body)),
        );
        (s, String::from_utf8_lossy(&b).into_owned())
    };
    let (s, page) = post(b"not a photo at all", "notes.txt");
    assert_eq!(s, 415, "{page}");
    assert!(page.contains("JPEG, PNG or WebP"), "{page}");
    assert_eq!(state(&server.kiosk).1["state"], "opened");
    let (s, page) = post(&photo(PHOTO), PHOTO);
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("on the kiosk screen"), "{page}");
    assert_eq!(state(&server.kiosk).1["state"], "received");

    let (s, got) = get(&format!(
        "{}/api/phone-uploads/{code_str}/photo",
        server.kiosk
    ));
    assert_eq!(s, 200);
    assert_eq!(got, photo(PHOTO), "the kiosk gets the phone's bytes");
    let (s, _, _) = call(
        agent().delete(&format!("{}/api/phone-uploads/{code_str}", server.kiosk)),
        None,
    );
    assert_eq!(s, 204);
    assert_eq!(state(&server.kiosk).0, 404);
    let (s, page) = post(&photo(PHOTO), PHOTO);
    assert_eq!(s, 404, "a closed slot takes nothing: {page}");
    for bad in [
        "..%2F..%2Fetc",
        "ABCDEF",
        "0123456789abcdef0123456789abcdeg",
    ] {
        assert_eq!(get(&format!("{}/u/{bad}", server.guest)).0, 404, "{bad}");
        assert_eq!(
            get_json(&format!("{}/api/phone-uploads/{bad}", server.kiosk)).0,
            404,
            "{bad}"
        );
    }
}

#[test]
fn the_kiosk_watches_the_render_frame_by_frame() {
    let server = Server::start(|_| {});
    let (code, job) = upload(&server.kiosk, &photo(PHOTO), PHOTO, "soft_smile");
    assert_eq!(code, 201, "{job}");
    let id = job["job_id"].as_str().expect("id").to_string();
    let mut live = MjpegReader::open(&format!("{}/api/jobs/{id}/live", server.kiosk));
    let mut frames = 0;
    let mut size = None;
    while let Some(jpeg) = live.next_jpeg() {
        let dims = dimensions(&jpeg);
        assert_eq!(*size.get_or_insert(dims), dims, "every frame the same size");
        frames += 1;
    }
    let done = wait_status(&server.kiosk, &id, "preview_ready");
    let total = done["frames_total"].as_u64().expect("total");
    // A late subscriber may miss the first frames, never the last.
    assert!(frames >= 1 && frames as u64 <= total, "{frames} of {total}");
    let (w, h) = size.expect("frames");
    let (_, preview) = get(&format!("{}/api/jobs/{id}/preview.mp4", server.kiosk));
    let facts = inspect_mp4(&preview);
    assert_eq!(
        (w, h),
        (u32::from(facts.width), u32::from(facts.height)),
        "the live frames are the preview's"
    );
    // Over: the stream is refused rather than left hanging.
    let (s, _) = get(&format!("{}/api/jobs/{id}/live", server.kiosk));
    assert_eq!(s, 409);
}

#[test]
fn preset_samples_are_listed_and_served() {
    let dir = tempfile::tempdir().expect("tmp");
    let settings = settings(dir.path());
    let samples = smileloop::render::samples_dir(dir.path());
    std::fs::create_dir_all(&samples).expect("mkdir");
    {
        let presets = smileloop::motion::load_dir(&settings.presets_dir).expect("presets");
        let preset = presets
            .iter()
            .find(|p| p.id() == "smile_wink")
            .expect("smile_wink");
        let image = smileloop::capture::photo::decode(&photo(PHOTO)).expect("decode");
        let animator = smileloop::animate::gentle::Gentle;
        let job = smileloop::render::Job {
            photo: &image,
            seed: 0,
            faces: None,
            preset,
            animator: &animator,
            encoder: smileloop::encode::detect(settings.encoder).expect("encoder"),
            watermark_text: "Sample",
        };
        smileloop::render::sample(&job, &samples).expect("sample renders");
    }
    let server = Server::start_with(dir, settings);
    let (_, presets) = get_json(&format!("{}/api/presets", server.kiosk));
    let presets = presets.as_array().expect("list").clone();
    for p in &presets {
        let has = p["sample_url"].is_string();
        assert_eq!(has, p["id"] == "smile_wink", "{p}");
    }
    let (s, mp4) = get(&format!(
        "{}/api/presets/smile_wink/sample.mp4",
        server.kiosk
    ));
    assert_eq!(s, 200);
    assert!(inspect_mp4(&mp4).samples > 10);
    assert_eq!(
        get(&format!(
            "{}/api/presets/smile_wink/sample.jpg",
            server.kiosk
        ))
        .0,
        200
    );
    assert_eq!(
        get(&format!(
            "{}/api/presets/soft_smile/sample.mp4",
            server.kiosk
        ))
        .0,
        404
    );
    assert_eq!(
        get(&format!(
            "{}/api/presets/smile_wink/other.txt",
            server.kiosk
        ))
        .0,
        404
    );
    assert_eq!(
        get(&format!("{}/api/presets/..%2Fdb/sample.mp4", server.kiosk)).0,
        404
    );
}
