//! The appliance's systemd side: every unit in `systemd/` passes
//! `systemd-analyze verify`, the sysusers file is accepted, and the real
//! binary speaks the notify protocol (READY, WATCHDOG, STOPPING) to a
//! notify socket the way systemd provides one.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// `systemd-analyze verify` on a unit, with the installed binary's path
/// mapped to this build's; everything it prints counts as a finding.
fn verify(unit_text: &str, name: &str, dir: &Path) -> (bool, String) {
    let engines_build = repo().join("engines/build");
    let text = unit_text
        .replace("/usr/bin/smileloop", env!("CARGO_BIN_EXE_smileloop"))
        .replace(
            "/usr/share/smileloop/engines/build",
            &engines_build.to_string_lossy(),
        );
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze runs (Debian's systemd package)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && said.trim().is_empty(), said)
}

/// `systemd-analyze security --offline=true`'s overall exposure of a unit
/// file (0 safe … 10 exposed).
fn exposure(unit: &Path) -> f64 {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(unit)
        .output()
        .expect("systemd-analyze runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.split("exposure level for ").nth(1))
        .and_then(|rest| rest.split(": ").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure in: {text}"))
}

#[test]
fn the_units_stay_hardened_by_systemds_own_measure() {
    // README gives the figures: server 3.4 → 1.9, screen 8.5 → 4.1.
    let server = exposure(&repo().join("systemd/smileloop.service"));
    assert!(server <= 2.0, "smileloop.service exposure {server}");
    let screen = exposure(&repo().join("systemd/smileloop-kiosk.service"));
    assert!(screen <= 4.5, "smileloop-kiosk.service exposure {screen}");
}

#[test]
fn every_unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut units = 0;
    for entry in std::fs::read_dir(repo().join("systemd")).expect("systemd/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "service") {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).expect("read unit");
            let (ok, said) = verify(&text, &name, dir.path());
            assert!(ok, "{name}: {said}");
            units += 1;
        }
    }
    assert!(units >= 3, "the server, engine and screen units");
    // The check itself notices a typo.
    let (ok, said) = verify(
        "[Service]\nExecStart=/usr/bin/smileloop serve\nRestrat=always\n",
        "typo.service",
        dir.path(),
    );
    assert!(!ok && said.contains("Restrat"), "{said}");
}

#[test]
fn the_server_unit_is_hardened_and_notifies() {
    let text = std::fs::read_to_string(repo().join("systemd/smileloop.service")).expect("unit");
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "StartLimitBurst=",
        "User=smileloop",
        "StateDirectory=smileloop",
        "ConfigurationDirectory=smileloop",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=",
        "DeviceAllow=char-video4linux rw",
        "SupplementaryGroups=video render",
        "LimitNOFILE=16384",
        "SystemCallFilter=@system-service",
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "MemoryMax=",
        "TasksMax=",
    ] {
        assert!(text.contains(line), "smileloop.service lacks {line:?}");
    }
}

#[test]
fn sysusers_creates_the_service_users() {
    let root = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(root.path().join("etc")).expect("etc");
    for f in ["passwd", "group"] {
        std::fs::copy(Path::new("/etc").join(f), root.path().join("etc").join(f)).expect("copy");
    }
    let out = Command::new("systemd-sysusers")
        .arg("--dry-run")
        .arg(format!("--root={}", root.path().display()))
        .arg(repo().join("systemd/smileloop.sysusers"))
        .output()
        .expect("systemd-sysusers runs");
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("Creating user 'smileloop'"), "{said}");
    assert!(said.contains("Creating user 'smileloop-screen'"), "{said}");
}

#[test]
fn the_binary_says_ready_pings_the_watchdog_and_says_stopping() {
    let dir = tempfile::tempdir().expect("tmp");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let data = dir.path().join("data");
    // systemd names the watched process in WATCHDOG_PID: a shell that
    // execs the binary knows that pid in advance ($$).
    let kiosk = kiosk_command(&data);
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "WATCHDOG_PID=$$ exec \"$0\" serve",
        env!("CARGO_BIN_EXE_smileloop"),
    ]);
    for (k, v) in kiosk.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env("NOTIFY_SOCKET", &socket_path)
        // 2 s: a ping every 0.5 s while healthy.
        .env("WATCHDOG_USEC", "2000000")
        .env("SMILELOOP_CAMERA", "none")
        .stdout(std::process::Stdio::null());
    let mut life = Kiosk::spawn(cmd, &data);
    let mut messages = Vec::new();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    while !messages.iter().any(|m: &String| m.contains("WATCHDOG=1")) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{messages:?}; last log lines:\n{}",
            life.log.tail(40)
        );
        let n = socket.recv(&mut buf).unwrap_or_else(|e| {
            panic!(
                "a notify message: {e}; {messages:?}; last log lines:\n{}",
                life.log.tail(40)
            )
        });
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(
        messages[0].contains("READY=1"),
        "READY comes first: {messages:?}"
    );
    assert!(messages[0].contains("STATUS="), "{messages:?}");
    // READY is sent only once the kiosk answers (and has named its ports).
    let bound = smileloop::service::Listening::read(&data).expect("listening file before READY");
    assert_eq!(get(&format!("http://{}/api/health", bound.kiosk)).0, 200);

    let status = Command::new("kill")
        .args(["-TERM", &life.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    loop {
        let n = socket.recv(&mut buf).expect("STOPPING before exit");
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            break;
        }
    }
    let exit = life.child.wait().expect("exits");
    assert!(exit.success(), "{exit:?}");
}
