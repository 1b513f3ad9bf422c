//! `smileloop selftest`, run as the operator runs it: the real binary,
//! once with no kiosk running (it starts one for the test) and once
//! against a running kiosk (which runs the checks it owns the hardware
//! for), with the Stripe stand-in online, offline and refusing a key.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::ns::{Namespace, NETNS_IP};
use crate::common::stripe::{FakeStripe, SECRET_KEY, WEBHOOK_SECRET};
use crate::common::{kiosk_command, smileloop_command, test_photos, Kiosk};
use serde_json::Value;

/// Runs `cmd selftest --json ARGS` with `env` and reads its report.
fn run_selftest(mut cmd: Command, env: &[(&str, String)], args: &[&str]) -> (i32, Value) {
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

/// `smileloop selftest` with the kiosk's test environment.
fn selftest(data: &Path, env: &[(&str, String)], args: &[&str]) -> (i32, Value) {
    run_selftest(smileloop_command(data), env, args)
}

/// The kiosk process, stopped even when an assertion fails.
struct Running(Kiosk);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.child.id().to_string()])
            .status();
        let _ = self.0.child.wait();
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
    let camera = crate::common::camera_folder("grace_hopper.jpg");
    // The public URL is checked through the guest listener on an address
    // a phone could reach: inside a network namespace of the test's own,
    // where the port is free by construction.
    let netns = Namespace::network();
    let public = format!("http://{NETNS_IP}:8080");
    let env = [
        ("SMILELOOP_EVENT_MODE", "free".to_string()),
        ("SMILELOOP_CAMERA", "files".to_string()),
        (
            "SMILELOOP_CAMERA_FILES",
            camera.path().display().to_string(),
        ),
        ("SMILELOOP_GUEST_ADDRESS", "0.0.0.0".to_string()),
        ("SMILELOOP_GUEST_PORT", "8080".to_string()),
        ("SMILELOOP_PUBLIC_BASE_URL", public.clone()),
        ("SMILELOOP_RETENTION_PAID_HOURS", "24".to_string()),
    ];
    let photo = test_photos().join("grace_hopper.jpg");
    let photo_arg = photo.display().to_string();
    let mut cmd = netns.command(env!("CARGO_BIN_EXE_smileloop"));
    crate::common::with_test_env(&mut cmd, &data);
    let (code, report) = run_selftest(cmd, &env, &["--photo", &photo_arg]);

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
            "admin_https",
            "printer",
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
    assert_eq!(public_url["level"], "ok", "{public_url}");
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
    let env = [
        ("SMILELOOP_EVENT_MODE", "paid".to_string()),
        ("SMILELOOP_STRIPE_SECRET_KEY", SECRET_KEY.to_string()),
        (
            "SMILELOOP_STRIPE_WEBHOOK_SECRET",
            WEBHOOK_SECRET.to_string(),
        ),
        ("SMILELOOP_STRIPE_API_BASE", stripe.base.clone()),
        ("SMILELOOP_CAMERA", "none".to_string()),
    ];
    let mut cmd = kiosk_command(&data);
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    // The self-test finds this kiosk's ports in its listening file.
    let kiosk = Running(Kiosk::start(cmd, &data));

    let (code, report) = selftest(&data, &env, &[]);
    // It reached the kiosk over HTTPS trusting the kiosk's certificate
    // alone, and says its fingerprint, as the start log does.
    let https = check(&report, "admin_https");
    assert_eq!(https["level"], "ok", "{https}");
    let fingerprint = {
        use rustls::pki_types::pem::PemObject;
        let cert = data.join("tls").join(smileloop::admin::tls::CERT_FILE);
        let der = rustls::pki_types::CertificateDer::from_pem_file(&cert).expect("cert");
        use sha2::Digest;
        hex::encode_upper(sha2::Sha256::digest(&der))
    };
    let said = https["message"].as_str().expect("msg").replace(':', "");
    assert!(said.contains(&fingerprint), "{said} vs {fingerprint}");
    assert!(
        kiosk
            .0
            .log
            .tail(200)
            .replace(':', "")
            .contains(&fingerprint),
        "the start log says the fingerprint"
    );
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
    let (code, report) = selftest(&data, &env, &[]);
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

#[test]
fn selftest_is_refused_from_a_non_loopback_peer() {
    // Inside a network namespace of the test's own: the kiosk's admin
    // listener on every address, asked from the veth address.
    let netns = Namespace::network();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut cmd = netns.command(env!("CARGO_BIN_EXE_smileloop"));
    cmd.arg("serve").stdout(Stdio::null());
    crate::common::with_test_env(&mut cmd, &data);
    cmd.envs([
        ("SMILELOOP_EVENT_MODE", "free"),
        ("SMILELOOP_CAMERA", "none"),
        ("SMILELOOP_ADMIN_ADDRESS", "0.0.0.0"),
        ("SMILELOOP_ADMIN_PORT", "8081"),
        (
            "SMILELOOP_ADMIN_NETWORKS",
            r#"["127.0.0.0/8", "0.0.0.0/0"]"#,
        ),
    ]);
    let kiosk = Running(Kiosk::spawn(cmd, &data));
    // The test's own client, inside the namespace (a bounded retry while
    // the kiosk starts).
    let client = r#"
import ssl, sys, time, urllib.request, urllib.error
url = sys.argv[1]
# The kiosk's own certificate: what is tested here is who may ask.
tls = ssl._create_unverified_context()
for _ in range(600):
    try:
        urllib.request.urlopen(url, timeout=10, context=tls)
        print("200"); break
    except urllib.error.HTTPError as e:
        print(e.code); print(e.read().decode()); break
    except OSError:
        time.sleep(0.1)
else:
    print("no answer")
"#;
    let url = format!("https://{NETNS_IP}:8081/api/selftest");
    let out = netns
        .command("python3")
        .args(["-c", client, &url])
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("403") && text.contains("loopback_only"),
        "{url}: {text}; kiosk log:\n{}",
        kiosk.0.log.tail(40)
    );
}
