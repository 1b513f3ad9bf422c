//! Bad configuration and a bad machine stop start-up with one clear line
//! that names the problem and its fix: never a panic, never a half-started
//! kiosk (the process exits, nothing listens).

use std::path::Path;
use std::time::Duration;

use crate::common::smileloop_command;

/// Runs `smileloop serve` with `env`; it must exit by itself.
fn start_fails(data: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let mut child = smileloop_command(data)
        .arg("serve")
        .env("SMILELOOP_LOG", "off")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the kiosk started with {env:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read");
    // Every listener binds port 0: a kiosk that got as far as listening
    // would have named its ports here.
    assert!(
        !data.join(smileloop::service::LISTENING_FILE).exists(),
        "nothing may listen after a failed start"
    );
    (status.code().unwrap_or(-1), stderr)
}

/// Variables for one start, and the words its error line must contain.
type Env<'a> = Vec<(&'a str, &'a str)>;

fn one_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, not {stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(lines[0].starts_with("smileloop: "), "{stderr}");
    lines[0]
}

#[test]
fn each_bad_start_says_what_is_wrong_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_s = data.display().to_string();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    };
    let wrong_type = write("wrong-type.toml", "[default]\nqueue_limit = \"many\"\n");
    let broken = write(
        "broken.toml",
        "[default]\nport = 80\nevent_name = \"unterminated\n",
    );
    let unknown = write("unknown.toml", "[default]\nprot = 8000\n");
    let missing = dir
        .path()
        .join("nowhere/smileloop.toml")
        .display()
        .to_string();
    let a_dir = dir.path().display().to_string();
    // A data directory under a regular file can never be created (root
    // in CI can write anywhere, so permissions cannot show it).
    let under_file = format!("{wrong_type}/data");

    let cases: Vec<(Env, &[&str])> = vec![
        (
            vec![("SMILELOOP_CONFIG", missing.as_str())],
            &[
                "SMILELOOP_CONFIG",
                "does not exist",
                "nowhere/smileloop.toml",
            ],
        ),
        (
            vec![("SMILELOOP_CONFIG", a_dir.as_str())],
            &["SMILELOOP_CONFIG", "cannot be read"],
        ),
        (
            vec![("SMILELOOP_CONFIG", wrong_type.as_str())],
            &["`queue_limit`", "many", "wrong-type.toml"],
        ),
        (
            vec![("SMILELOOP_CONFIG", broken.as_str())],
            &["broken.toml"],
        ),
        (vec![("SMILELOOP_CONFIG", unknown.as_str())], &["prot"]),
        (vec![("SMILELOOP_PORT", "-1")], &["`port`"]),
        (
            vec![("SMILELOOP_MAX_FACES", "13")],
            &["`max_faces`", "between 1 and 12"],
        ),
        (
            vec![("SMILELOOP_MAX_FACES", "0")],
            &["`max_faces`", "between 1 and 12"],
        ),
        (
            vec![("SMILELOOP_DATA_DIR", under_file.as_str())],
            &["data_dir", "SMILELOOP_DATA_DIR"],
        ),
        (
            vec![("SMILELOOP_ENCODER", "nvv4l2h264enc")],
            &["nvv4l2h264enc", "not installed", "encoder = \"auto\""],
        ),
        (
            vec![("SMILELOOP_PRESETS_DIR", "/nonexistent/presets")],
            &["/nonexistent/presets", "SMILELOOP_PRESETS_DIR"],
        ),
    ];
    for (env, words) in cases {
        let mut env = env;
        if !env.iter().any(|(k, _)| *k == "SMILELOOP_DATA_DIR") {
            env.push(("SMILELOOP_DATA_DIR", data_s.as_str()));
        }
        let (code, stderr) = start_fails(&data, &env);
        assert_ne!(code, 0, "{env:?}");
        let line = one_line(&stderr);
        for w in words {
            assert!(line.contains(w), "{env:?}: {line:?} lacks {w:?}");
        }
    }
}

#[test]
fn the_self_test_reports_a_failed_start_as_its_one_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = smileloop_command(&data)
        .args(["selftest", "--json"])
        .env("SMILELOOP_LOG", "off")
        .env("SMILELOOP_ENCODER", "nvv4l2h264enc")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["ready"], false);
    let checks = report["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 1, "{report:#}");
    assert_eq!(checks[0]["name"], "start");
    assert!(checks[0]["message"]
        .as_str()
        .expect("message")
        .contains("nvv4l2h264enc"));
}

/// A supervisor may stop the kiosk while it is still starting, or the
/// moment it is up: the signal is caught from the first thing `serve`
/// does, so the kiosk finishes starting and then stops cleanly (before,
/// SIGTERM's default action killed it until start-up was over).
#[test]
fn sigterm_during_start_up_stops_the_kiosk_cleanly() {
    for round in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let mut cmd = crate::common::kiosk_command(&data);
        cmd.env("SMILELOOP_CAMERA", "none");
        let mut kiosk = crate::common::kiosk::Kiosk::spawn(cmd, &data);
        // The first line `start` logs: start-up is under way, not over.
        assert!(
            kiosk
                .log
                .wait_for(1, Duration::from_secs(60), |l| l.contains("encoder chosen")),
            "round {round}: {}",
            kiosk.log.tail(20)
        );
        let pid = kiosk.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        assert!(sent.is_ok_and(|s| s.success()));
        let exit = kiosk.child.wait().expect("exit");
        assert!(
            exit.success(),
            "round {round}: {exit}; log:\n{}",
            kiosk.log.tail(20)
        );
        assert!(kiosk.log.wait_for(1, Duration::from_secs(5), |l| l
            .contains("SmileLoop stopped")));
    }
}
