//! The keepsake card through the real kiosk and a real IPP Everywhere
//! printer (`ippeveprinter`, see `common/printer.rs`): the document the
//! printer spooled is decoded and its QR code read back; paper running out
//! holds cards and they print when it is back; a printer killed mid-job
//! prints the card once after its restart; bad printers and bad requests
//! get answers in words.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use smileloop::config::{Backend, PrintLayout, PrintWhen};
use smileloop::print::PrintState;

use crate::common::printer::{file_name, until, Model, Printer};
use crate::common::*;

fn kiosk_for(uri: &str, change: impl FnOnce(&mut smileloop::config::Settings)) -> Server {
    let uri = uri.to_string();
    Server::start(move |s| {
        s.animator = Backend::Gentle;
        s.printer_uri = uri;
        s.print_when = PrintWhen::OnRequest;
        change(s);
    })
}

/// A rendered job: its id and guest URL.
fn ready_job(server: &Server) -> (String, String) {
    let (s, created) = upload(
        &server.kiosk,
        &photo("grace_hopper.jpg"),
        "g.jpg",
        "soft_smile",
    );
    assert_eq!(s, 201, "{created}");
    let id = created["job_id"].as_str().expect("id").to_string();
    let token = created["token"].as_str().expect("token");
    wait_status(&server.kiosk, &id, "preview_ready");
    (id, format!("http://localhost:8080/g/{token}"))
}

fn print(server: &Server, id: &str) -> (u16, Value) {
    raw_post(
        &format!("{}/api/jobs/{id}/print", server.kiosk),
        "application/json",
        vec![],
    )
}

fn printer_state(server: &Server) -> Value {
    get_json(&format!("{}/api/printer", server.kiosk)).1
}

fn wait_printer(server: &Server, state: &str) {
    until(Duration::from_secs(30), &format!("printer {state}"), || {
        printer_state(server)["state"] == state
    });
}

fn records(server: &Server) -> Vec<smileloop::print::PrintRecord> {
    server.shared().printing.queue().all().expect("prints")
}

/// Undoes PWG Raster / URF line compression, as a printer reads it.
fn expand(mut data: &[u8], width: usize, bpp: usize, height: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(width * bpp * height);
    while out.len() < width * bpp * height {
        let repeat = data[0] as usize + 1;
        data = &data[1..];
        let mut line = Vec::with_capacity(width * bpp);
        while line.len() < width * bpp {
            let n = data[0] as usize;
            data = &data[1..];
            if n < 128 {
                for _ in 0..=n {
                    line.extend_from_slice(&data[..bpp]);
                }
                data = &data[bpp..];
            } else {
                let count = 257 - n;
                line.extend_from_slice(&data[..count * bpp]);
                data = &data[count * bpp..];
            }
        }
        for _ in 0..repeat {
            out.extend_from_slice(&line);
        }
    }
    out
}

/// The page a spooled document holds, decoded as the printer would.
fn page(doc: &Path) -> image::RgbImage {
    let bytes = std::fs::read(doc).expect("spooled document");
    let be = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    match doc.extension().and_then(|e| e.to_str()) {
        Some("jpg" | "jpeg") => image::load_from_memory(&bytes).expect("a JPEG").to_rgb8(),
        Some("pwg") => {
            assert_eq!(&bytes[..4], b"RaS2");
            let head = &bytes[4..1800];
            let (w, h, bpp) = (be(head, 372), be(head, 376), be(head, 388) / 8);
            assert_eq!((be(head, 276), be(head, 280)), (300, 300), "300 dpi");
            assert_eq!(bpp, 3, "sRGB 8-bit");
            let px = expand(&bytes[1800..], w as usize, 3, h as usize);
            image::RgbImage::from_raw(w, h, px).expect("pixels")
        }
        Some("urf") => {
            assert_eq!(&bytes[..8], b"UNIRAST\0");
            let (w, h, dpi) = (
                be(&bytes, 12 + 12),
                be(&bytes, 12 + 16),
                be(&bytes, 12 + 20),
            );
            assert_eq!(dpi, 300);
            let px = expand(&bytes[44..], w as usize, 3, h as usize);
            image::RgbImage::from_raw(w, h, px).expect("pixels")
        }
        other => panic!("unexpected spool file {other:?}"),
    }
}

fn qr_codes(page: &image::RgbImage) -> Vec<String> {
    let grey = image::DynamicImage::ImageRgb8(page.clone()).to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(grey);
    prepared
        .detect_grids()
        .iter()
        .filter_map(|g| g.decode().ok().map(|(_, t)| t))
        .collect()
}

#[test]
fn each_format_prints_the_card_at_four_by_six_with_the_guests_qr_code() {
    for (formats, extension) in [
        ("image/pwg-raster", "pwg"),
        ("image/urf", "urf"),
        ("image/jpeg", "jpg"),
    ] {
        let printer = Printer::start(Model {
            formats,
            ..Model::default()
        });
        let server = kiosk_for(&printer.uri(), |s| {
            s.print_layout = PrintLayout::Portrait4x6
        });
        wait_printer(&server, "ready");
        let check = server.block_on(smileloop::selftest::checks::printer(server.shared()));
        assert_eq!(check.level, smileloop::selftest::Level::Ok, "{check:?}");
        assert!(
            check.message.contains(formats) && check.message.contains("paper loaded"),
            "{check:?}"
        );
        let (id, guest_url) = ready_job(&server);
        let (s, queued) = print(&server, &id);
        assert_eq!(s, 202, "{queued}");
        assert_eq!(queued["held"], false, "{queued}");
        until(Duration::from_secs(60), "the card printed", || {
            records(&server)
                .iter()
                .any(|r| r.state == PrintState::Printed)
        });
        let spooled = printer.spooled();
        assert_eq!(spooled.len(), 1, "{formats}: {spooled:?}");
        assert!(file_name(&spooled[0]).ends_with(extension), "{spooled:?}");
        let card = page(&spooled[0]);
        assert_eq!(
            card.dimensions(),
            (1200, 1800),
            "{formats}: 4 × 6 in at 300 dpi"
        );
        assert_eq!(qr_codes(&card), [guest_url], "{formats}");
        let jobs = printer.jobs();
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        assert_eq!(jobs[0].1, "completed", "{jobs:?}");
    }
}

#[test]
fn out_of_paper_holds_a_few_cards_refuses_more_and_prints_them_when_paper_is_back() {
    let printer = Printer::start(Model::default());
    let server = kiosk_for(&printer.uri(), |s| s.print_limit = 10);
    wait_printer(&server, "ready");
    let (id, _) = ready_job(&server);
    printer.set_paper(0);
    wait_printer(&server, "out_of_paper");
    assert_eq!(printer_state(&server)["can_print"], false);

    for _ in 0..3 {
        let (s, held) = print(&server, &id);
        assert_eq!(s, 202, "{held}");
        assert_eq!(held["held"], true, "{held}");
        let message = held["message"].as_str().expect("message");
        assert!(
            message.contains("out of paper") && message.contains("needs the staff"),
            "{message}"
        );
    }
    let (s, refused) = print(&server, &id);
    assert_eq!(s, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "printer_unavailable");
    assert!(refused["error"]["message"]
        .as_str()
        .expect("words")
        .contains("out of paper"));
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        printer.spooled().is_empty(),
        "nothing is sent to a printer without paper"
    );
    assert_eq!(printer_state(&server)["held"], 3);

    printer.set_paper(40);
    until(Duration::from_secs(90), "three cards printed", || {
        records(&server)
            .iter()
            .filter(|r| r.state == PrintState::Printed)
            .count()
            == 3
    });
    assert_eq!(printer.spooled().len(), 3, "each card sent once");
    let jobs = printer.jobs();
    assert!(
        jobs.iter().all(|(_, s)| s == "completed") && jobs.len() == 3,
        "{jobs:?}"
    );

    // The night's count in /metrics, and the job's in the CSV.
    let (s, text) = get(&format!("{}/metrics", server.admin));
    assert_eq!(s, 200);
    let text = String::from_utf8_lossy(&text).into_owned();
    let metrics = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("metrics parse");
    let value = |name: &str, label: Option<(&str, &str)>| {
        metrics
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
                _ => f64::NAN,
            })
    };
    assert_eq!(
        value("smileloop_cards_printed_total", None),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value("smileloop_printer_state", Some(("state", "ready"))),
        Some(1.0)
    );
    assert!(
        value("smileloop_printer_supply_percent", None).is_some(),
        "{text}"
    );
    let staff = crate::common::staff::Staff::setup(&server.admin);
    let today = smileloop::admin::export::utc(crate::common::now_ms())[..10].to_string();
    let (s, csv_text) = staff.get(&format!("/admin/export.csv?from={today}&to={today}"));
    assert_eq!(s, 200, "{csv_text}");
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let at = reader
        .headers()
        .expect("header")
        .iter()
        .position(|h| h == "cards_printed");
    let row = reader
        .records()
        .filter_map(Result::ok)
        .find(|r| &r[1] == id.as_str())
        .expect("the job's row");
    assert_eq!(&row[at.expect("a cards_printed column")], "3");
}

#[test]
fn a_printer_killed_mid_job_prints_the_card_once_after_it_restarts() {
    let mut printer = Printer::start(Model {
        print_seconds: 6.0,
        ..Model::default()
    });
    let server = kiosk_for(&printer.uri(), |_| {});
    wait_printer(&server, "ready");
    let (id, _) = ready_job(&server);
    let (s, queued) = print(&server, &id);
    assert_eq!(s, 202, "{queued}");
    until(Duration::from_secs(30), "the job printing", || {
        printer.jobs().iter().any(|(_, s)| s == "processing")
    });
    let first_life = printer.spooled();
    assert_eq!(first_life.len(), 1);

    printer.kill();
    wait_printer(&server, "unreachable");
    printer.restart();
    until(Duration::from_secs(90), "the card printed", || {
        records(&server)
            .iter()
            .any(|r| r.state == PrintState::Printed)
    });
    let jobs = printer.jobs();
    assert_eq!(
        jobs.len(),
        1,
        "sent once to the restarted printer: {jobs:?}"
    );
    assert_eq!(jobs[0].1, "completed");
    let rec = &records(&server)[0];
    assert_eq!(rec.resent, 1, "{rec:?}");
    // Still printed once after another round of checks.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(printer.jobs().len(), 1);
    assert_eq!(records(&server).len(), 1);
}

#[test]
fn bad_printers_and_bad_requests_get_answers_in_words() {
    // Nothing listens there.
    let server = kiosk_for(
        &format!("ipp://127.0.0.1:{}/ipp/print", unused_port()),
        |s| s.print_limit = 1,
    );
    wait_printer(&server, "unreachable");
    let check = server.block_on(smileloop::selftest::checks::printer(server.shared()));
    assert_eq!(check.level, smileloop::selftest::Level::Fail, "{check:?}");
    let (id, _) = ready_job(&server);
    let (s, held) = print(&server, &id);
    assert_eq!(s, 202, "{held}");
    assert!(
        held["message"]
            .as_str()
            .expect("words")
            .contains("not reachable"),
        "{held}"
    );
    let (s, limit) = print(&server, &id);
    assert_eq!(s, 429, "{limit}");
    assert_eq!(limit["error"]["code"], "print_limit");
    let (s, bad) = print(&server, "not-a-job");
    assert_eq!(s, 400, "{bad}");
    let (s, none) = print(&server, "0123456789abcdef");
    assert_eq!(s, 404, "{none}");
    drop(server);

    // A couple's photo with one copy per face: two copies, one request.
    let server = kiosk_for(
        &format!("ipp://127.0.0.1:{}/ipp/print", unused_port()),
        |s| s.print_copies = smileloop::config::PrintCopies::PerFace,
    );
    let store = &server.shared().store;
    let mut couple = smileloop::jobs::Job::new(
        "soft_smile".parse().expect("preset id"),
        "source.jpg",
        crate::common::now_ms(),
    );
    couple.faces = Some(2);
    store.insert_new(&couple).expect("insert");
    for to in [
        smileloop::jobs::Status::Queued,
        smileloop::jobs::Status::Rendering,
        smileloop::jobs::Status::PreviewReady,
    ] {
        store.transition(couple.id, to, |_| {}).expect("advance");
    }
    let (s, held) = print(&server, &couple.id.to_string());
    assert_eq!(s, 202, "{held}");
    assert_eq!(held["print"]["copies"], 2, "{held}");
    drop(server);

    // An HTTP server that is no printer: the kiosk's own guest listener.
    let web = Server::start(|_| {});
    let guest = web.guest.trim_start_matches("http://").to_string();
    let server = kiosk_for(&format!("ipp://{guest}/ipp/print"), |_| {});
    wait_printer(&server, "not_a_printer");
    let msg = printer_state(&server)["message"]
        .as_str()
        .expect("words")
        .to_string();
    assert!(msg.contains("not as a printer"), "{msg}");
    drop(server);

    // A printer that takes only what the kiosk cannot write.
    let pdf = Printer::start(Model {
        formats: "application/pdf,application/postscript",
        ..Model::default()
    });
    let server = kiosk_for(&pdf.uri(), |_| {});
    wait_printer(&server, "no_format");
    let (id, _) = ready_job(&server);
    let (s, held) = print(&server, &id);
    assert_eq!(s, 202, "{held}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(pdf.spooled().is_empty());
    drop(server);

    // A job whose loop is not rendered yet.
    let printer = Printer::start(Model::default());
    let server = kiosk_for(&printer.uri(), |_| {});
    let job = smileloop::jobs::Job::new(
        "soft_smile".parse().expect("preset id"),
        "source.jpg",
        crate::common::now_ms(),
    );
    server.shared().store.insert_new(&job).expect("insert");
    let (s, early) = print(&server, &job.id.to_string());
    assert_eq!(s, 409, "{early}");
    assert_eq!(early["error"]["code"], "job_not_ready");
    assert!(records(&server).is_empty(), "nothing queued");
    drop(server);

    // Printing turned off.
    let off = kiosk_for(&printer.uri(), |s| s.print_when = PrintWhen::Off);
    let (id, _) = ready_job(&off);
    let (s, refused) = print(&off, &id);
    assert_eq!(s, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "printing_off");
}

#[test]
fn a_guest_prints_from_the_kiosk_screen_and_staff_see_the_printer_in_chromium() {
    use crate::common::browser::Browser;
    let printer = Printer::start(Model::default());
    let server = kiosk_for(&printer.uri(), |s| s.print_limit = 5);
    wait_printer(&server, "ready");
    let (id, _) = ready_job(&server);
    let limit = Duration::from_secs(30);

    // The kiosk screen, back on this guest's result (as after a reload).
    let mut kiosk = Browser::screen(1080, 1920);
    kiosk.goto(&format!("{}/#job={id}", server.kiosk));
    let button = "document.getElementById('print')";
    kiosk.wait_for(
        &format!("!{button}.hidden && {button}.textContent === 'Print my card'"),
        limit,
    );
    kiosk.eval(&format!("{button}.click()"));
    kiosk.wait_for(
        "document.getElementById('print-text').textContent === 'Your card is printing.'",
        limit,
    );
    until(Duration::from_secs(60), "the card printed", || {
        records(&server)
            .iter()
            .any(|r| r.state == PrintState::Printed)
    });
    kiosk.screenshot("kiosk-print");

    // Out of paper: the button says so, and a tap keeps the card.
    printer.set_paper(0);
    wait_printer(&server, "out_of_paper");
    kiosk.wait_for(
        &format!("{button}.textContent === 'The printer needs the staff'"),
        limit,
    );
    kiosk.eval(&format!("{button}.click()"));
    kiosk.wait_for(
        "document.getElementById('print-text').textContent.startsWith('The printer needs the staff.')",
        limit,
    );
    kiosk.screenshot("kiosk-print-needs-staff");

    // Staff's dashboard shows the printer, its ribbon and the waiting card.
    let mut staff = Browser::phone();
    staff.goto(&format!("{}/admin/setup", server.admin));
    staff.eval(&format!(
        "document.querySelector('[name=password]').value = {p:?};\
         document.querySelector('[name=again]').value = {p:?};\
         document.querySelector('form').submit()",
        p = crate::common::staff::PASSWORD
    ));
    staff.wait_for(
        "location.pathname === '/admin' && document.readyState === 'complete'",
        limit,
    );
    let card = "document.getElementById('printer').innerText";
    staff.wait_for(&format!("{card}.includes('out of paper')"), limit);
    staff.wait_for(
        &format!("{card}.includes('60 %') && {card}.includes('1 card(s) waiting')"),
        limit,
    );
    staff.screenshot("admin-printer");

    // Paper back: the kept card prints by itself.
    printer.set_paper(40);
    until(Duration::from_secs(60), "the kept card printed", || {
        records(&server)
            .iter()
            .filter(|r| r.state == PrintState::Printed)
            .count()
            == 2
    });
}

#[test]
fn staff_set_the_printer_up_on_the_settings_page_and_it_stays_after_a_restart() {
    let printer = Printer::start(Model::default());
    let server = kiosk_for("", |s| s.print_when = PrintWhen::Off);
    assert_eq!(printer_state(&server)["state"], "not_configured");
    let staff = crate::common::staff::Staff::setup(&server.admin);
    let uri = printer.uri();
    let form = |uri: &str, when: &str| {
        [
            ("printer_uri", uri.to_string()),
            ("print_when", when.to_string()),
            ("print_layout", "2x6".to_string()),
            ("print_copies", "per_face".to_string()),
            ("print_limit", "3".to_string()),
        ]
    };
    let send = |pairs: &[(&str, String)]| {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        staff.post("/admin/printer", &pairs)
    };
    for (bad, key) in [
        (form("ftp://printer/queue", "on_request"), "printer_uri"),
        (form(&uri, "sometimes"), "print_when"),
        (form("", "always"), "printer_uri"),
    ] {
        let (s, answer) = send(&bad);
        assert_eq!(s, 422, "{answer}");
        assert!(
            answer.contains(key) && answer.contains("unchanged"),
            "{answer}"
        );
        assert_eq!(printer_state(&server)["state"], "not_configured");
    }
    let (s, answer) = send(&form(&uri, "on_request"));
    assert_eq!(s, 303, "{answer}");
    wait_printer(&server, "ready");
    let (_, settings_page) = staff.get("/admin/settings");
    assert!(
        settings_page.contains(&uri),
        "the form shows what is in force"
    );

    // The strip layout is in force: two strips, two codes, one sheet.
    let (id, guest_url) = ready_job(&server);
    let (s, queued) = print(&server, &id);
    assert_eq!(s, 202, "{queued}");
    until(Duration::from_secs(60), "the card printed", || {
        records(&server)
            .iter()
            .any(|r| r.state == PrintState::Printed)
    });
    let sheet = page(&printer.spooled()[0]);
    assert_eq!(qr_codes(&sheet), [guest_url.clone(), guest_url]);
    let (_, audit) = staff.get("/admin/audit");
    assert!(audit.contains("printer"), "the change is in the audit log");

    let dir = server.stop();
    let s = settings(dir.path());
    let again = Server::start_with(dir, s);
    let kept = again.shared().printing.settings();
    assert_eq!(kept.printer_uri, uri);
    assert_eq!(kept.print_layout, PrintLayout::Strip2x6);
    assert_eq!(kept.print_limit, 3);
}
