//! The real binary, killed with SIGKILL in the middle of a render, then
//! started again: the job finishes and nothing acknowledged is lost.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn spawn(data: &Path, port: u16, guest_port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_smileloop"))
        .arg("serve")
        .env("SMILELOOP_DATA_DIR", data)
        .env("SMILELOOP_PORT", port.to_string())
        .env("SMILELOOP_GUEST_ADDRESS", "127.0.0.1")
        .env("SMILELOOP_GUEST_PORT", guest_port.to_string())
        .env("SMILELOOP_PRESETS_DIR", repo().join("presets"))
        .env("SMILELOOP_UI_DIR", repo().join("kiosk-ui"))
        .env("SMILELOOP_MODELS_DIR", repo().join("models"))
        .env(
            "SMILELOOP_ONNXRUNTIME_LIB",
            repo().join("models/libonnxruntime.so"),
        )
        .env("SMILELOOP_EVENT_MODE", "free")
        .env("SMILELOOP_CONFIG", data.join("absent.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start smileloop")
}

fn wait_healthy(kiosk: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(r) = agent().get(&format!("{kiosk}/api/health")).call() {
            if r.status() == 200 {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("kiosk did not come up");
}

fn part_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walk(dir) {
        if entry.ends_with(".part") {
            found.push(entry);
        }
    }
    found
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

#[test]
fn kill_9_mid_render_then_restart_finishes_every_job() {
    let data = tempfile::tempdir().expect("tempdir");
    let (port, guest_port) = (free_port(), free_port());
    let kiosk = format!("http://127.0.0.1:{port}");
    let mut child = spawn(data.path(), port, guest_port);
    wait_healthy(&kiosk);

    let big = photo("gramps_canon_man.jpg");
    let mut ids = Vec::new();
    for preset in ["gentle_laugh", "soft_smile"] {
        let (s, created) = upload(&kiosk, &big, "canon.jpg", preset);
        assert_eq!(s, 201, "{created}");
        ids.push((
            created["job_id"].as_str().expect("id").to_string(),
            created["token"].as_str().expect("t").to_string(),
        ));
    }
    // Kill it once frames are being produced: mid-render, files half-written.
    let first = &ids[0].0;
    let job = wait_for(&kiosk, first, Duration::from_secs(120), |j| {
        j["status"] == "rendering" && j["frames_done"].as_u64().unwrap_or(0) >= 5
    });
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(job["status"], "rendering", "killed mid-render");

    let mut child = spawn(data.path(), port, guest_port);
    wait_healthy(&kiosk);
    for (id, token) in &ids {
        let job = wait_status(&kiosk, id, "unlocked");
        assert_eq!(job["frames_done"], 100);
        let (s, full) = get(&format!("http://127.0.0.1:{guest_port}/d/{token}"));
        assert_eq!(s, 200);
        let facts = inspect_mp4(&full);
        assert_eq!(
            (facts.width, facts.height, facts.samples),
            (1920, 1276, 100)
        );
    }
    assert!(
        part_files(data.path()).is_empty(),
        "leftovers: {:?}",
        part_files(data.path())
    );

    // A graceful stop (SIGTERM) exits cleanly and the store reopens.
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("exit");
    assert!(exit.success(), "SIGTERM exit: {exit:?}");
    let store = smileloop::jobs::JobStore::open(&data.path().join("db")).expect("store reopens");
    assert_eq!(store.all().expect("all").len(), 2);
}
