//! The guest's phone pages speak the phone's language: `Accept-Language`
//! picks among the kiosk's four, `?lang=` switches (and a cookie keeps the
//! choice), and a phone asking for none of them gets the kiosk screen's
//! language. The words come from the catalogue the kiosk screen uses.

use crate::common::*;
use smileloop::config::EventMode;

/// Status, body and `Set-Cookie` of a GET with these headers.
fn fetch(url: &str, headers: &[(&str, &str)]) -> (u16, String, Option<String>) {
    let mut req = agent().get(url);
    for (name, value) in headers {
        req = req.set(name, value);
    }
    let res = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let cookie = res.header("Set-Cookie").map(str::to_string);
    (res.status(), res.into_string().expect("text"), cookie)
}

fn lang_of(page: &str) -> &str {
    page.split("<html lang=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
}

#[test]
fn guest_pages_speak_the_phones_language() {
    let server = Server::start(|s| {
        s.event_mode = EventMode::Free;
        s.kiosk_language = "es".into();
    });
    let (s, job) = upload(
        &server.kiosk,
        &photo("grace_hopper.jpg"),
        "g.jpg",
        "soft_smile",
    );
    assert_eq!(s, 201, "{job}");
    let id = job["job_id"].as_str().expect("id");
    let token = job["token"].as_str().expect("token");
    wait_status(&server.kiosk, id, "unlocked");
    let page = format!("{}/g/{token}", server.guest);

    // The phone's first language we speak.
    let (s, html, _) = fetch(&page, &[("Accept-Language", "ja, de-CH;q=0.9, en;q=0.5")]);
    assert_eq!(s, 200);
    assert_eq!(lang_of(&html), "de", "{html}");
    assert!(html.contains("HD-Video herunterladen"), "{html}");
    assert!(html.contains("Mein Foto und Video jetzt löschen"), "{html}");
    assert!(
        html.contains("href=\"?lang=fr\""),
        "a link to each other language: {html}"
    );
    assert!(!html.contains("Download the HD video"), "{html}");

    // A link switches, and the cookie keeps the choice over the header.
    let (s, html, cookie) = fetch(&format!("{page}?lang=fr"), &[("Accept-Language", "de")]);
    assert_eq!(s, 200);
    assert_eq!(lang_of(&html), "fr");
    assert!(html.contains("Télécharger la vidéo HD"), "{html}");
    let cookie = cookie.expect("the choice is kept");
    assert!(cookie.starts_with("lang=fr"), "{cookie}");
    let pair = cookie.split(';').next().expect("name=value").to_string();
    let delete = format!("{page}/delete");
    let (_, html, _) = fetch(&delete, &[("Accept-Language", "de"), ("Cookie", &pair)]);
    assert_eq!(lang_of(&html), "fr");
    assert!(html.contains("Supprimer maintenant"), "{html}");

    // None of ours asked for: the kiosk screen's language.
    let (_, html, _) = fetch(&page, &[("Accept-Language", "ja, zh;q=0.8")]);
    assert_eq!(lang_of(&html), "es");
    assert!(html.contains("Descargar el vídeo HD"), "{html}");
    // A language we do not speak in the link changes nothing.
    let (s, html, cookie) = fetch(&format!("{page}?lang=tlh"), &[("Accept-Language", "en")]);
    assert_eq!((s, lang_of(&html), cookie), (200, "en", None));

    // Error pages too.
    let (s, html, _) = fetch(
        &format!("{}/g/0000000000000000000000", server.guest),
        &[("Accept-Language", "fr")],
    );
    assert_eq!(s, 404);
    assert!(html.contains("Lien introuvable"), "{html}");
    let (s, html, _) = fetch(
        &format!("{}/u/00000000000000000000000000000000", server.guest),
        &[("Accept-Language", "de")],
    );
    assert_eq!(s, 404);
    assert!(html.contains("Link abgelaufen"), "{html}");
    assert!(
        html.contains("Lieber mein Handy"),
        "names the kiosk's button in its words: {html}"
    );

    // The phone's upload page, and a refusal in the phone's words.
    let (_, slot, _) = call(
        agent().post(&format!("{}/api/phone-uploads", server.kiosk)),
        None,
    );
    let slot: serde_json::Value = serde_json::from_slice(&slot).expect("slot");
    let code = slot["code"].as_str().expect("code");
    let upload_page = format!("{}/u/{code}", server.guest);
    let (s, html, _) = fetch(&upload_page, &[("Accept-Language", "es-MX")]);
    assert_eq!(s, 200);
    assert!(html.contains("Enviar al quiosco"), "{html}");
    let (ct, body) = multipart(&[("photo", Some("notes.txt"), b"not a photo at all")]);
    let (s, html, _) = call(
        agent().post(&upload_page).set("Accept-Language", "de"),
        Some((&ct, body)),
    );
    let html = String::from_utf8_lossy(&html);
    assert_eq!(s, 415, "{html}");
    assert!(html.contains("JPEG-, PNG- oder WebP-Bild"), "{html}");
    assert!(
        html.contains("An das Gerät senden"),
        "the form again: {html}"
    );
}
