//! The staff's admin listener through real HTTP against the real server
//! and sled: access control, sign-in, CSRF, settings, job actions, export,
//! audit and the end-of-event wipe.

use std::time::Duration;

use crate::common::staff::{agent, send, Staff, PASSWORD};
use crate::common::*;
use serde_json::Value;
use smileloop::config::{Backend, EventMode};

fn fast(s: &mut smileloop::config::Settings) {
    s.animator = Backend::Gentle;
}

/// The settings form as the page fills it, with `changes` applied.
fn settings_form(changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = [
        ("event_name", "Ada & Grace's wedding"),
        ("event_mode", "paid"),
        ("price", "7.99"),
        ("currency", "usd"),
        ("position[soft_smile]", "1"),
        ("position[smile_wink]", "2"),
        ("position[gentle_laugh]", "3"),
        ("watermark_text", "SmileLoop preview"),
        ("kiosk_language", "en"),
        ("idle_timeout_s", "90"),
        ("retention_unpaid_hours", "24"),
        ("retention_paid_hours", "72"),
        ("admin_networks", "127.0.0.0/8\n::1/128\n192.168.0.0/16"),
        // Changing the networks asks for the password again.
        ("current_password", crate::common::staff::PASSWORD),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in changes {
        match form.iter_mut().find(|(fk, _)| fk == k) {
            Some(entry) => entry.1 = v.to_string(),
            None => form.push((k.to_string(), v.to_string())),
        }
    }
    form
}

fn post_settings(staff: &Staff, changes: &[(&str, &str)]) -> (u16, String) {
    let form = settings_form(changes);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    staff.post("/admin/settings", &pairs)
}

/// Every record of a CSV, which must parse.
fn records<R: std::io::Read>(mut reader: csv::Reader<R>) -> Vec<csv::StringRecord> {
    reader
        .records()
        .collect::<Result<_, _>>()
        .expect("valid CSV")
}

/// Every admin route with its parameters filled in: (method, path).
fn admin_routes() -> Vec<(String, String)> {
    let id = "0123456789abcdef";
    smileloop::web::admin::routes()
        .iter()
        .map(|r| {
            let path = r.uri.path().to_string().replace("<id>", id);
            (r.method.as_str().to_string(), path)
        })
        .collect()
}

#[test]
fn admin_routes_live_only_on_the_admin_listener() {
    let server = Server::start(fast);
    for base in [&server.kiosk, &server.guest] {
        for path in [
            "/admin",
            "/admin/login",
            "/admin/setup",
            "/api/admin/dashboard",
        ] {
            let (s, _, _) = send(agent().get(&format!("{base}{path}")), None);
            assert_eq!(s, 404, "{base}{path} must not exist");
        }
    }
    let (s, _, _) = send(
        agent().get(&format!("{}/api/jobs/0123456789abcdef", server.admin)),
        None,
    );
    assert_eq!(s, 404, "kiosk routes do not exist on the admin listener");
}

#[test]
fn every_admin_route_refuses_anonymous_requests_and_writes_need_csrf() {
    let server = Server::start(fast);
    let routes = admin_routes();
    assert!(routes.len() >= 20, "{routes:?}");
    let open = smileloop::web::admin::OPEN_ROUTES;
    let staff = Staff::setup(&server.admin);
    for (method, path) in &routes {
        if open.contains(&format!("{method} {path}").as_str()) {
            continue;
        }
        let url = format!("{}{path}", server.admin);
        let (s, body, _) = send(agent().request(method, &url), None);
        assert_eq!(
            s, 401,
            "{method} {path} answered an anonymous request: {body}"
        );
        // A forged cookie is no better than none.
        let (s, _, _) = send(
            agent()
                .request(method, &url)
                .set("Cookie", &format!("smileloop_staff={}", "ab".repeat(32))),
            None,
        );
        assert_eq!(s, 401, "{method} {path} with a forged session");
        if method == "POST" {
            let (s, body) = staff.post_raw(path, &[]);
            assert_eq!(s, 403, "{method} {path} without a CSRF token: {body}");
            let (s, _) = staff.post_raw(&format!("{path}?csrf={}", "0".repeat(64)), &[]);
            assert_eq!(s, 403, "{method} {path} with a wrong CSRF token");
        }
    }
    // The open routes are exactly sign-in, first-boot setup and metrics.
    for r in open {
        assert!(routes.iter().any(|(m, p)| format!("{m} {p}") == r), "{r}");
    }
}

#[test]
fn a_disallowed_network_is_refused_before_any_page_logic() {
    let server = Server::start(|s| {
        fast(s);
        s.admin_networks = vec!["10.0.0.0/8".parse().expect("net")];
    });
    let mut paths = admin_routes();
    paths.push(("GET".into(), "/no/such/page".into()));
    for (method, path) in paths {
        let (s, body, cookies) = send(
            agent()
                .request(&method, &format!("{}{path}", server.admin))
                // Forwarded headers are never believed.
                .set("X-Forwarded-For", "10.1.2.3")
                .set("X-Real-IP", "10.1.2.3"),
            None,
        );
        assert_eq!(s, 403, "{method} {path}: {body}");
        assert!(cookies.is_empty(), "{method} {path} set a cookie");
        assert!(body.contains("venue") || body.contains("network"), "{body}");
    }
}

#[test]
fn sign_in_throttle_sessions_and_sign_out_everywhere() {
    let server = Server::start(fast);
    let (s, body, _) = send(agent().get(&format!("{}/admin/login", server.admin)), None);
    assert_eq!(
        s, 303,
        "no password yet: the login page sends to setup: {body}"
    );
    let first = Staff::setup(&server.admin);
    let (s, body, _) = send(agent().get(&format!("{}/admin/setup", server.admin)), None);
    assert_eq!(s, 409, "setup works once: {body}");

    // A login form without its token is refused.
    let (s, _, _) = send(
        agent().post(&format!("{}/admin/login", server.admin)),
        Some(&[("password", PASSWORD), ("csrf", "x")]),
    );
    assert_eq!(s, 403);

    for i in 1..=5 {
        let e = Staff::login(&server.admin, "wrong password")
            .err()
            .expect("refused");
        assert_eq!(e.0, 401, "try {i}: {}", e.1);
        assert!(e.1.contains("Wrong password"));
    }
    // After five, even the right password waits.
    let e = Staff::login(&server.admin, PASSWORD)
        .err()
        .expect("throttled");
    assert_eq!(e.0, 429, "{}", e.1);
    assert!(e.1.contains("Try again in"), "{}", e.1);
    std::thread::sleep(Duration::from_millis(1100));
    let second = Staff::login(&server.admin, PASSWORD).expect("signs in after the wait");

    // An expired session is refused.
    let auth = smileloop::admin::StaffAuth::new(server.shared().store.tree("staff").expect("tree"));
    let (old, _) = auth
        .open_session(crate::common::now_ms() - smileloop::admin::auth::SESSION_MS - 1)
        .expect("session");
    let (s, _, _) = send(
        agent()
            .get(&format!("{}/admin", server.admin))
            .set("Cookie", &format!("smileloop_staff={old}")),
        None,
    );
    assert_eq!(s, 401);

    // Another session's CSRF token does not sign this one's forms.
    let (s, _) = second.post_raw(&format!("/admin/logout?csrf={}", first.csrf), &[]);
    assert_eq!(s, 403);

    assert_eq!(first.get("/admin").0, 200);
    let (s, _) = second.post("/admin/logout-all", &[]);
    assert_eq!(s, 303);
    assert_eq!(first.get("/admin").0, 401, "signed out everywhere");
    assert_eq!(second.get("/admin").0, 401);

    let audit = Staff::login(&server.admin, PASSWORD)
        .expect("login")
        .get("/admin/audit")
        .1;
    for action in ["login_failed", "logout_all", "password"] {
        assert!(audit.contains(action), "audit lacks {action}");
    }
}

#[test]
fn bad_settings_are_refused_and_change_nothing() {
    let server = Server::start(fast);
    let staff = Staff::setup(&server.admin);
    let before = (*server.shared().live.get()).clone();
    let cases: [(&[(&str, &str)], &str); 9] = [
        (&[("price", "-5")], "negative"),
        (&[("currency", "doubloons")], "currency"),
        (&[("retention_unpaid_hours", "0")], "retention_unpaid_hours"),
        (&[("event_name", "   ")], "event_name"),
        (&[("position[moonwalk]", "1")], "moonwalk"),
        (&[("event_mode", "sometimes")], "event_mode"),
        (&[("admin_networks", "10.0.0.0/8")], "lock out"),
        (&[("admin_networks", "300.1.1.1/8")], "admin_networks"),
        (&[("screen_hours", "16:00-25:00")], "screen_hours"),
    ];
    for (change, words) in cases {
        let (s, body) = post_settings(&staff, change);
        assert_eq!(s, 422, "{change:?}: {body}");
        assert!(
            body.contains(words),
            "{change:?} should say {words}: {body}"
        );
        assert_eq!(
            *server.shared().live.get(),
            before,
            "{change:?} changed something"
        );
    }
    // The allowed networks change only with the current password.
    for (given, status) in [("", 403), ("not the password", 403)] {
        let (s, body) = post_settings(
            &staff,
            &[
                ("admin_networks", "127.0.0.0/8\n10.9.0.0/16"),
                ("current_password", given),
            ],
        );
        assert_eq!(s, status, "{given:?}: {body}");
        assert!(body.contains("password"), "{body}");
        assert_eq!(*server.shared().live.get(), before);
    }
    // Without the CSRF token nothing is saved either.
    let form = settings_form(&[("price", "9.99")]);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(staff.post_raw("/admin/settings", &pairs).0, 403);
    assert_eq!(*server.shared().live.get(), before);

    // A good change applies to the next upload and is audited.
    let (s, body) = post_settings(
        &staff,
        &[
            ("price", "12.50"),
            ("currency", "eur"),
            ("position[gentle_laugh]", "off"),
            ("screen_hours", " 16:00-02:00 "),
        ],
    );
    assert_eq!(s, 303, "{body}");
    // The kiosk page reads the event's hours from its health.
    let (_, health) = get_json(&format!("{}/api/health", server.kiosk));
    assert_eq!(health["screen_hours"], serde_json::json!([960, 120]));
    let live = server.shared().live.get();
    assert_eq!((live.price_cents, live.currency.as_str()), (1250, "eur"));
    assert_eq!(live.presets, ["soft_smile", "smile_wink"]);
    let (_, presets) = get_json(&format!("{}/api/presets", server.kiosk));
    let ids: Vec<&str> = presets
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        ["soft_smile", "smile_wink"],
        "the kiosk offers only enabled presets"
    );
    let (s, created) = upload(
        &server.kiosk,
        &photo("grace_hopper.jpg"),
        "g.jpg",
        "soft_smile",
    );
    assert_eq!(s, 201, "{created}");
    let (_, job) = get_json(&format!(
        "{}/api/jobs/{}",
        server.kiosk,
        created["job_id"].as_str().expect("id")
    ));
    assert_eq!(
        (job["price_cents"].as_u64(), job["currency"].as_str()),
        (Some(1250), Some("eur"))
    );
    let (s, refused) = upload(
        &server.kiosk,
        &photo("grace_hopper.jpg"),
        "g.jpg",
        "gentle_laugh",
    );
    assert_eq!(s, 422, "a disabled preset: {refused}");
    let audit = staff.get("/admin/audit").1;
    assert!(audit.contains("price_cents: 799 → 1250"), "{audit}");

    // Saved settings survive a restart.
    let dir = server.stop();
    let s = {
        let mut s = settings(dir.path());
        fast(&mut s);
        s
    };
    let server = Server::start_with(dir, s);
    assert_eq!(server.shared().live.get().price_cents, 1250);
}

/// Uploads a photo and waits for its preview: the job id.
fn ready_job(server: &Server) -> String {
    let (s, created) = upload(
        &server.kiosk,
        &photo("grace_hopper.jpg"),
        "g.jpg",
        "soft_smile",
    );
    assert_eq!(s, 201, "{created}");
    let id = created["job_id"].as_str().expect("id").to_string();
    wait_status(&server.kiosk, &id, "preview_ready");
    id
}

fn kiosk_job(server: &Server, id: &str) -> (u16, Value) {
    get_json(&format!("{}/api/jobs/{id}", server.kiosk))
}

#[test]
fn staff_unlock_rerender_delete_export_and_end_of_event() {
    let server = Server::start(|s| {
        fast(s);
        s.event_mode = EventMode::Paid;
    });
    let staff = Staff::setup(&server.admin);
    let a = ready_job(&server);
    let b = ready_job(&server);

    // Unlock for cash needs a reason; then it is unlocked once.
    let (s, body) = staff.post(
        &format!("/admin/jobs/{a}/unlock"),
        &[("reason", "cash"), ("note", " ")],
    );
    assert_eq!(s, 422, "{body}");
    let (s, body) = staff.post(
        &format!("/admin/jobs/{a}/unlock"),
        &[("reason", "bitcoin"), ("note", "x")],
    );
    assert_eq!(s, 422, "{body}");
    let (s, body) = staff.post(
        &format!("/admin/jobs/{a}/unlock"),
        &[("reason", "cash"), ("note", "=1+1 $8, cash \"at the bar\"")],
    );
    assert_eq!(s, 303, "{body}");
    assert_eq!(kiosk_job(&server, &a).1["unlock"], "staff_cash");
    let (s, body) = staff.post(
        &format!("/admin/jobs/{a}/unlock"),
        &[("reason", "comp"), ("note", "again")],
    );
    assert_eq!(s, 409, "already unlocked: {body}");
    assert!(body.contains("unlocked"), "{body}");
    let (s, _) = staff.post(
        "/admin/jobs/nonsense/unlock",
        &[("reason", "cash"), ("note", "x")],
    );
    assert_eq!(s, 400);
    let (s, _) = staff.post(
        "/admin/jobs/0123456789abcdef/unlock",
        &[("reason", "cash"), ("note", "x")],
    );
    assert_eq!(s, 404);

    // The JSON API takes the same action with the CSRF header.
    let (s, body, _) = send(
        agent()
            .post(&format!("{}/api/admin/jobs/{b}/rerender", server.admin))
            .set("Cookie", &staff.cookie)
            .set("X-CSRF-Token", &staff.csrf)
            .set("Content-Type", "application/json"),
        None,
    );
    assert!(
        s == 400 || s == 422,
        "a rerender without a body: {s} {body}"
    );

    // Re-render with another preset.
    let (s, body) = staff.post(
        &format!("/admin/jobs/{b}/rerender"),
        &[("preset", "moonwalk")],
    );
    assert_eq!(s, 422, "{body}");
    let (s, body) = staff.post(
        &format!("/admin/jobs/{b}/rerender"),
        &[("preset", "smile_wink")],
    );
    assert_eq!(s, 303, "{body}");
    let job = wait_status(&server.kiosk, &b, "preview_ready");
    assert_eq!(job["preset"], "smile_wink");

    // A job being rendered cannot be deleted.
    let mut rendering = smileloop::jobs::Job::new(
        "soft_smile".parse().expect("preset id"),
        "source.jpg",
        crate::common::now_ms(),
    );
    rendering.status = smileloop::jobs::Status::Rendering;
    server
        .shared()
        .store
        .insert_new(&rendering)
        .expect("insert");
    let (s, body) = staff.post(
        &format!("/admin/jobs/{}/delete", rendering.id),
        &[("confirm", "yes")],
    );
    assert_eq!(s, 409, "{body}");
    assert!(server.shared().store.contains(rendering.id).expect("read"));

    // Delete now: unconfirmed refused, confirmed removes record and files.
    let (s, _) = staff.post(&format!("/admin/jobs/{b}/delete"), &[]);
    assert_eq!(s, 422);
    let b_dir = server.dir.path().join("jobs").join(&b);
    assert!(b_dir.exists());
    let (s, body) = staff.post(&format!("/admin/jobs/{b}/delete"), &[("confirm", "yes")]);
    assert_eq!(s, 303, "{body}");
    assert_eq!(kiosk_job(&server, &b).0, 404);
    assert!(!b_dir.exists(), "files deleted");

    // The jobs page lists what is left, with its poster and actions.
    let (s, html) = staff.get("/admin/jobs?status=unlocked");
    assert_eq!(s, 200);
    assert!(html.contains(&format!("id=\"job-{a}\"")), "{html}");
    assert!(!html.contains(&format!("id=\"job-{}\"", rendering.id)));
    assert_eq!(staff.get(&format!("/admin/jobs/{a}/poster.jpg")).0, 200);
    assert_eq!(staff.get("/admin/jobs?status=bogus").0, 400);
    assert_eq!(staff.get("/admin/jobs?from=yesterday").0, 400);
    let (s, svg) = staff.get(&format!("/admin/jobs/{a}/qr.svg"));
    assert!(s == 200 && svg.contains("<svg"));

    // Export: parse the CSV with a real parser.
    let today = smileloop::admin::export::utc(crate::common::now_ms())[..10].to_string();
    let (s, csv_text) = staff.get(&format!("/admin/export.csv?from={today}&to={today}"));
    assert_eq!(s, 200, "{csv_text}");
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(
        reader.headers().expect("header").iter().collect::<Vec<_>>(),
        smileloop::admin::export::HEADER
    );
    let rows = records(reader);
    let row = rows
        .iter()
        .find(|r| &r[1] == a.as_str())
        .expect("job a exported");
    assert_eq!(
        (&row[3], &row[6], &row[7]),
        // Quoted by the CSV rules, and a formula made inert text.
        ("unlocked", "staff_cash", "'=1+1 $8, cash \"at the bar\"")
    );
    assert!(
        rows.iter().all(|r| &r[1] != b.as_str()),
        "deleted unpaid jobs are gone"
    );
    assert_eq!(
        staff
            .get("/admin/export.csv?from=2026-13-01&to=2026-01-01")
            .0,
        400
    );

    // The dashboard and its JSON.
    let (s, html) = staff.get("/admin");
    assert_eq!(s, 200);
    assert!(
        html.contains("Photos") && html.contains("Encoder"),
        "{html}"
    );
    let (s, body) = staff.get("/api/admin/dashboard");
    assert_eq!(s, 200);
    let d: Value = serde_json::from_str(&body).expect("json");
    assert!(d["last_24h"]["photos"].as_u64() >= Some(1), "{d}");
    assert!(d["last_ms_per_frame"].as_f64().is_some(), "{d}");
    assert!(d["disk"]["free_bytes"].as_u64() > Some(0), "{d}");

    // End of event: keeps unlocked videos in their window, then all.
    let c = ready_job(&server);
    let (s, _) = staff.post("/admin/end-event", &[("scope", "keep")]);
    assert_eq!(s, 422, "unconfirmed");
    assert_eq!(kiosk_job(&server, &c).0, 200);
    let (s, html) = staff.post("/admin/end-event", &[("scope", "keep"), ("confirm", "yes")]);
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("1 job(s) deleted, 1 kept"), "{html}");
    assert_eq!(kiosk_job(&server, &c).0, 404);
    assert_eq!(kiosk_job(&server, &a).0, 200);
    let (_, html) = staff.post("/admin/end-event", &[("scope", "all"), ("confirm", "yes")]);
    assert!(html.contains("1 job(s) deleted, 0 kept"), "{html}");
    assert!(html.contains("1 rendering left alone"), "{html}");
    assert_eq!(kiosk_job(&server, &a).0, 404);

    let audit = staff.get("/admin/audit").1;
    for action in ["unlock", "rerender", "delete", "export", "end_event"] {
        assert!(
            audit.contains(&format!("<td>{action}</td>")),
            "audit lacks {action}"
        );
    }
}

#[test]
fn set_password_from_the_command_line() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |input: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_smileloop"))
            .args(["admin", "set-password"])
            .env("SMILELOOP_DATA_DIR", dir.path())
            .env("SMILELOOP_CONFIG", "/dev/null")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        child.wait_with_output().expect("wait")
    };
    let short = run("short\n");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("8-128"));
    let ok = run(&format!("{PASSWORD}\n"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let mut s = settings(dir.path());
    fast(&mut s);
    let server = Server::start_with(dir, s);
    let (s, _, _) = send(agent().get(&format!("{}/admin/setup", server.admin)), None);
    assert_eq!(s, 409, "the password is already set");
    Staff::login(&server.admin, PASSWORD).expect("the password from the command line works");
}

#[test]
fn staff_run_the_night_in_chromium() {
    use crate::common::browser::Browser;
    use crate::common::stripe::{FakeStripe, SECRET_KEY, WEBHOOK_SECRET};
    use smileloop::config::Secret;
    let stripe = FakeStripe::start();
    let server = Server::start(|s| {
        fast(s);
        s.event_mode = EventMode::Paid;
        s.stripe_secret_key = Some(Secret::new(SECRET_KEY));
        s.stripe_webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
        s.stripe_api_base = stripe.base.clone();
    });
    let a = ready_job(&server);
    let b = ready_job(&server);
    let mut phone = Browser::phone();
    let limit = Duration::from_secs(20);

    // First boot on the kiosk itself: choose the password, land signed in.
    phone.goto(&format!("{}/admin/setup", server.admin));
    phone.eval(&format!(
        "document.querySelector('[name=password]').value = {p:?};\
         document.querySelector('[name=again]').value = {p:?};\
         document.querySelector('form').submit()",
        p = PASSWORD
    ));
    phone.wait_for(
        "location.pathname === '/admin' && document.readyState === 'complete'",
        limit,
    );
    phone.wait_for("document.body.innerText.includes('Photos')", limit);
    phone.screenshot("admin-dashboard");

    // Change the price; the kiosk's next QR screen shows it.
    phone.goto(&format!("{}/admin/settings", server.admin));
    phone.eval(
        "document.querySelector('[name=price]').value = '9.50';\
         document.querySelector('[name=idle_timeout_s]').value = '15';\
         document.querySelector('[name=kiosk_language]').value = 'de';\
         document.querySelector('form[action^=\"/admin/settings\"] button').click()",
    );
    phone.wait_for("location.search.includes('saved=true')", limit);
    phone.screenshot("admin-settings-saved");
    let c = ready_job(&server);
    let mut kiosk = Browser::screen(1280, 800);
    kiosk.goto(&format!("{}/#job={c}", server.kiosk));
    kiosk.wait_for(
        "document.querySelector('#unlock-text').textContent.includes('9,50')",
        Duration::from_secs(30),
    );
    // Untouched past the idle timeout, the kiosk starts over by itself,
    // in the language staff chose.
    kiosk.wait_for(
        "!document.querySelector('#attract').hidden && location.hash === ''",
        Duration::from_secs(40),
    );
    kiosk.wait_for(
        "document.querySelector('#presets').textContent.includes('Sanftes Lächeln') && document.documentElement.lang === 'de'",
        Duration::from_secs(10),
    );

    // Unlock a guest's video for cash, in two taps and a reason.
    phone.goto(&format!("{}/admin/jobs", server.admin));
    phone.wait_for(&format!("!!document.querySelector('#job-{a}')"), limit);
    phone.eval(&format!(
        "const row = document.querySelector('#job-{a}');\
         row.querySelector('[name=note]').value = 'paid $9.50 cash';\
         row.querySelector('form[action*=unlock] button').click()"
    ));
    phone.wait_for(
        &format!("location.search.includes('done=') && document.querySelector('#job-{a} .status').innerText === 'unlocked'"),
        limit,
    );
    phone.screenshot("admin-jobs-unlocked");
    assert_eq!(kiosk_job(&server, &a).1["unlock"], "staff_cash");

    // Delete a guest's job on request.
    phone.eval(&format!(
        "const row = document.querySelector('#job-{b}');\
         row.querySelector('[name=confirm]').checked = true;\
         row.querySelector('form[action*=delete] button').click()"
    ));
    phone.wait_for(
        &format!("location.search.includes('done=') && !document.querySelector('#job-{b}')"),
        limit,
    );
    assert_eq!(kiosk_job(&server, &b).0, 404);

    // Export the night as CSV through the page's own form.
    let downloads = tempfile::tempdir().expect("tempdir");
    phone.downloads_to(downloads.path());
    phone.goto(&format!("{}/admin/export", server.admin));
    phone.screenshot("admin-export");
    phone.eval("document.querySelector('main form button').click()");
    let csv_path = (0..200)
        .find_map(|_| {
            let found = std::fs::read_dir(downloads.path())
                .ok()?
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "csv"));
            if found.is_none() {
                std::thread::sleep(Duration::from_millis(100));
            }
            found
        })
        .unwrap_or_else(|| {
            let listing: Vec<_> = std::fs::read_dir(downloads.path())
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            panic!(
                "no CSV downloaded: {listing:?} at {}",
                phone.eval("location.href")
            )
        });
    let reader = csv::Reader::from_path(&csv_path).expect("open CSV");
    let rows = records(reader);
    let row = rows
        .iter()
        .find(|r| &r[1] == a.as_str())
        .expect("job a in the CSV");
    assert_eq!((&row[6], &row[7]), ("staff_cash", "paid $9.50 cash"));
    assert!(rows.iter().any(|r| &r[1] == c.as_str()));
    assert!(rows.iter().all(|r| &r[1] != b.as_str()));
}

#[test]
fn stripe_keys_entered_by_staff_apply_at_once_and_are_never_shown() {
    let stripe = crate::common::stripe::FakeStripe::start();
    let server = Server::start(|s| {
        fast(s);
        s.event_mode = EventMode::Paid;
        s.stripe_api_base = stripe.base.clone();
    });
    let staff = Staff::setup(&server.admin);
    let health = || get_json(&format!("{}/api/health", server.kiosk)).1;
    assert_eq!(health()["payments_configured"], false);
    let webhook_status = || {
        send(
            agent()
                .post(&format!("{}/api/stripe/webhook", server.guest))
                .set("Stripe-Signature", "t=1,v1=00"),
            None,
        )
        .0
    };
    assert_eq!(webhook_status(), 404, "no keys: no webhook");

    // Replacing the keys asks for the staff password again.
    let (s, body) = staff.post(
        "/admin/stripe",
        &[
            ("secret_key", crate::common::stripe::SECRET_KEY),
            ("webhook_secret", crate::common::stripe::WEBHOOK_SECRET),
            ("current_password", "not the password"),
        ],
    );
    assert_eq!(s, 403, "{body}");
    assert_eq!(health()["payments_configured"], false);
    let (s, body) = staff.post(
        "/admin/stripe",
        &[
            ("secret_key", "pk_live_public"),
            ("webhook_secret", crate::common::stripe::WEBHOOK_SECRET),
            ("current_password", crate::common::staff::PASSWORD),
        ],
    );
    assert_eq!(s, 422, "{body}");
    assert_eq!(
        health()["payments_configured"],
        false,
        "a refused pair changes nothing"
    );

    let (s, body) = staff.post(
        "/admin/stripe",
        &[
            ("secret_key", crate::common::stripe::SECRET_KEY),
            ("webhook_secret", crate::common::stripe::WEBHOOK_SECRET),
            ("current_password", crate::common::staff::PASSWORD),
        ],
    );
    assert_eq!(s, 303, "{body}");
    assert_eq!(health()["payments_configured"], true);
    assert_eq!(webhook_status(), 400, "the new signing secret is checked");
    for page in ["/admin/settings", "/admin/audit", "/admin"] {
        let html = staff.get(page).1;
        assert!(
            !html.contains(crate::common::stripe::SECRET_KEY),
            "{page} shows the key"
        );
        assert!(
            !html.contains(crate::common::stripe::WEBHOOK_SECRET),
            "{page} shows the secret"
        );
    }
    assert!(staff.get("/admin/audit").1.contains("stripe_keys"));

    // A guest can now pay on the phone: the Pay button opens Checkout.
    let (s, created) = upload(
        &server.kiosk,
        &photo("grace_hopper.jpg"),
        "g.jpg",
        "soft_smile",
    );
    assert_eq!(s, 201, "{created}");
    let id = created["job_id"].as_str().expect("id");
    wait_status(&server.kiosk, id, "preview_ready");
    let token = created["token"].as_str().expect("token");
    let (s, _, _) = send(
        agent().post(&format!("{}/g/{token}/pay", server.guest)),
        None,
    );
    assert_eq!(s, 303, "Checkout opens with the entered key");
    assert_eq!(stripe.creates().len(), 1);
}

#[test]
fn rerender_with_another_backend_through_the_json_api() {
    let server = Server::start(|_| {});
    assert_eq!(
        server.shared().animator.name(),
        "meshwarp",
        "the face models are installed"
    );
    let staff = Staff::setup(&server.admin);
    let id = ready_job(&server);
    let job_id: smileloop::jobs::JobId = id.parse().expect("id");
    let backend = || {
        server
            .shared()
            .store
            .get(job_id)
            .expect("read")
            .expect("job")
            .backend
    };
    assert_eq!(backend(), Some(smileloop::backend::Backend::Meshwarp));
    let api = |body: &str| {
        let res = agent()
            .post(&format!("{}/api/admin/jobs/{id}/rerender", server.admin))
            .set("Cookie", &staff.cookie)
            .set("X-CSRF-Token", &staff.csrf)
            .set("Content-Type", "application/json")
            .send_string(body);
        match res {
            Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap_or_default()),
            Err(e) => panic!("{e}"),
        }
    };
    let (s, body) = api(r#"{"backend": "liveportrait"}"#);
    assert_eq!(s, 422, "{body}");
    assert!(body.contains("liveportrait"), "{body}");
    let (s, body) = api(r#"{"backend": "gentle", "preset": "smile_wink"}"#);
    assert_eq!(s, 200, "{body}");
    let row: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (row["status"].as_str(), row["preset"].as_str()),
        (Some("queued"), Some("smile_wink"))
    );
    wait_status(&server.kiosk, &id, "preview_ready");
    assert_eq!(backend(), Some(smileloop::backend::Backend::Gentle));

    // A fleet's Prometheus sees both renders, without signing in.
    let (s, text, _) = send(agent().get(&format!("{}/metrics", server.admin)), None);
    assert_eq!(s, 200, "{text}");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text");
    let sample = |name: &str, labels: &[(&str, &str)]| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| s.value.clone())
    };
    let gauge = |name: &str, labels: &[(&str, &str)]| match sample(name, labels) {
        Some(prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v)) => v,
        other => panic!("{name} {labels:?}: {other:?}\n{text}"),
    };
    for b in ["meshwarp", "gentle"] {
        let ok = gauge(
            "smileloop_renders_total",
            &[("backend", b), ("outcome", "ok")],
        );
        assert_eq!(ok, 1.0, "{b}");
        assert!(gauge("smileloop_animate_ms_per_frame", &[("backend", b)]) > 0.0);
        match sample("smileloop_render_duration_seconds", &[("backend", b)]) {
            Some(prometheus_parse::Value::Histogram(buckets)) => {
                let all = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
                assert_eq!(all, 1.0, "{b}: {buckets:?}");
            }
            other => panic!("{b}: {other:?}"),
        }
    }
    assert_eq!(gauge("smileloop_jobs", &[("state", "preview_ready")]), 1.0);
    assert_eq!(gauge("smileloop_jobs", &[("state", "failed")]), 0.0);
    assert_eq!(gauge("smileloop_queue_length", &[]), 0.0);
    assert!(gauge("smileloop_encode_fps", &[("encoder", "x264enc")]) > 0.0);
    assert!(gauge("smileloop_disk_free_bytes", &[]) > 0.0);
    assert!(
        text.contains("smileloop_camera_reconnects_total 0"),
        "{text}"
    );
}
