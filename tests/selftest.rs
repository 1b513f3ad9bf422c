//! `smileloop selftest`, run as the operator runs it: the real binary,
//! once with no kiosk running (it starts one for the test) and once
//! against a running kiosk (which runs the checks it owns the hardware
//! for), with the Stripe stand-in online, offline and refusing a key.

mod common;

use std::net::{IpAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};

use common::stripe::{FakeStripe, SECRET_KEY, WEBHOOK_SECRET};
use common::{free_port, kiosk_command, test_photos, wait_healthy};
use serde_json::Value;

/// This machine's address on its network, as a phone would reach it
/// (no packet is sent: connecting a UDP socket only picks the route).
fn lan_address() -> Option<IpAddr> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.250:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Runs `smileloop selftest --json` with the kiosk's test environment.
fn selftest(
    data: &Path,
    port: u16,
    guest_port: u16,
    env: &[(&str, String)],
    args: &[&str],
) -> (i32, Value) {
    let mut cmd = common::smileloop_command(data, port, guest_port);
    let out = cmd
        .args(["selftest", "--json"])
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run selftest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exit code"), report)
}

/// The kiosk process, stopped even when an assertion fails.
struct Kiosk(std::process::Child);

impl Drop for Kiosk {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {name} check in {report:#}"))
}

#[test]
fn selftest_without_a_running_kiosk_times_the_animator_and_encoder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let camera = common::camera_folder("grace_hopper.jpg");
    let (port, guest_port) = (free_port(), free_port());
    let lan = lan_address();
    let public = match lan {
        Some(ip) => format!("http://{ip}:{guest_port}"),
        None => format!("http://127.0.0.1:{guest_port}"),
    };
    let env = [
        ("SMILELOOP_EVENT_MODE", "free".to_string()),
        ("SMILELOOP_CAMERA", "files".to_string()),
        (
            "SMILELOOP_CAMERA_FILES",
            camera.path().display().to_string(),
        ),
        ("SMILELOOP_GUEST_ADDRESS", "0.0.0.0".to_string()),
        ("SMILELOOP_PUBLIC_BASE_URL", public.clone()),
        ("SMILELOOP_RETENTION_PAID_HOURS", "24".to_string()),
    ];
    let photo = test_photos().join("grace_hopper.jpg");
    let photo_arg = photo.display().to_string();
    let (code, report) = selftest(&data, port, guest_port, &env, &["--photo", &photo_arg]);

    let names: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "camera",
            "animator",
            "encoder",
            "disk",
            "clock",
            "stripe",
            "public_url"
        ]
    );
    let camera = check(&report, "camera");
    assert_eq!(
        camera["level"], "warn",
        "a files camera is not a USB camera: {camera}"
    );
    assert!(camera["value"].as_f64().expect("fps") > 5.0, "{camera}");
    let animator = check(&report, "animator");
    assert_eq!(animator["level"], "ok", "{animator}");
    assert_eq!(animator["unit"], "ms/frame");
    assert!(animator["value"].as_f64().expect("ms") > 0.0);
    assert!(
        animator["message"]
            .as_str()
            .expect("msg")
            .starts_with("meshwarp"),
        "{animator}"
    );
    let encoder = check(&report, "encoder");
    assert_ne!(encoder["level"], "fail", "{encoder}");
    assert!(encoder["message"]
        .as_str()
        .expect("msg")
        .contains("x264enc (software)"));
    assert!(encoder["value"].as_f64().expect("fps") > 1.0);
    assert_eq!(check(&report, "stripe")["level"], "ok", "free event");
    let public_url = check(&report, "public_url");
    match lan {
        Some(_) => assert_eq!(public_url["level"], "ok", "{public_url}"),
        None => assert!(public_url["message"]
            .as_str()
            .expect("msg")
            .contains("localhost")),
    }
    // The clock depends on the machine (no timedatectl in a container).
    for c in report["checks"].as_array().expect("checks") {
        if c["name"] != "clock" && c["name"] != "public_url" {
            assert_ne!(c["level"], "fail", "{c}");
        }
    }
    let ready = report["ready"].as_bool().expect("ready");
    assert_eq!(code, if ready { 0 } else { 1 }, "{report:#}");
    // The test render and encode leave nothing behind.
    let tmp: Vec<_> = std::fs::read_dir(data.join("tmp"))
        .expect("tmp")
        .filter_map(Result::ok)
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
    let jobs = std::fs::read_dir(data.join("jobs")).expect("jobs").count();
    assert_eq!(jobs, 0, "the self-test is not a guest");
}

#[test]
fn selftest_asks_the_running_kiosk_and_checks_stripe() {
    let stripe = FakeStripe::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (port, guest_port, admin_port) = (free_port(), free_port(), free_port());
    let env = [
        ("SMILELOOP_EVENT_MODE", "paid".to_string()),
        ("SMILELOOP_STRIPE_SECRET_KEY", SECRET_KEY.to_string()),
        (
            "SMILELOOP_STRIPE_WEBHOOK_SECRET",
            WEBHOOK_SECRET.to_string(),
        ),
        ("SMILELOOP_STRIPE_API_BASE", stripe.base.clone()),
        ("SMILELOOP_ADMIN_PORT", admin_port.to_string()),
        ("SMILELOOP_ADMIN_ADDRESS", "0.0.0.0".to_string()),
        (
            "SMILELOOP_ADMIN_NETWORKS",
            r#"["127.0.0.0/8", "0.0.0.0/0"]"#.to_string(),
        ),
        ("SMILELOOP_CAMERA", "none".to_string()),
    ];
    let kiosk = Kiosk(
        kiosk_command(&data, port, guest_port)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .spawn()
            .expect("start kiosk"),
    );
    wait_healthy(&format!("http://127.0.0.1:{port}"));

    let (code, report) = selftest(&data, port, guest_port, &env, &[]);
    let stripe_check = check(&report, "stripe");
    assert_eq!(
        stripe_check["level"], "warn",
        "test keys work but take no money: {stripe_check}"
    );
    assert!(stripe_check["message"]
        .as_str()
        .expect("msg")
        .contains("test keys accepted"));
    assert_eq!(check(&report, "camera")["level"], "warn", "camera = none");
    let animator = check(&report, "animator");
    assert!(
        animator["message"]
            .as_str()
            .expect("msg")
            .contains("smileloop samples"),
        "no photo to time with: {animator}"
    );
    assert_eq!(
        check(&report, "public_url")["level"],
        "fail",
        "localhost is no address for a phone"
    );
    assert_eq!(code, 1);

    stripe.set_offline(true);
    let (code, report) = selftest(&data, port, guest_port, &env, &[]);
    let offline = check(&report, "stripe");
    assert_eq!(offline["level"], "fail");
    assert!(
        offline["message"]
            .as_str()
            .expect("msg")
            .contains("cannot be reached"),
        "{offline}"
    );
    assert_eq!(code, 1);
    stripe.set_offline(false);

    // Only the box itself may start a self-test (it renders and encodes).
    if let Some(ip) = lan_address() {
        let url = format!("http://{ip}:{admin_port}/api/selftest");
        match common::agent().get(&url).call() {
            Err(ureq::Error::Status(s, r)) => {
                assert_eq!(s, 403);
                assert!(r
                    .into_string()
                    .unwrap_or_default()
                    .contains("loopback_only"));
            }
            other => panic!("{url}: {:?}", other.map(|r| r.status())),
        }
    }
    drop(kiosk);

    // A key Stripe refuses is told apart from a network problem.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let api =
        smileloop::payments::StripeApi::new("sk_test_someone_elses", &stripe.base).expect("client");
    match runtime.block_on(api.check_key()) {
        Err(smileloop::payments::PaymentError::Rejected(m)) => assert!(m.contains("401"), "{m}"),
        other => panic!("{other:?}"),
    }
    let good = smileloop::payments::StripeApi::new(SECRET_KEY, &stripe.base).expect("client");
    assert!(runtime.block_on(good.check_key()).is_ok());
}
