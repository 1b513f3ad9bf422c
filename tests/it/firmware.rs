//! The appliance image's own layer (`firmware-image/build-layer`): built
//! from this checkout and read back with the `tar` crate, it holds the
//! right tree with root as owner and the appliance's modes; the binary
//! in it runs; its default config is valid; the kiosk browser's policy
//! names only policies this Chromium knows and allows the kiosk page alone.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use crate::common::repo;

struct Entry {
    mode: u32,
    uid: u64,
    gid: u64,
    kind: tar::EntryType,
    link: Option<String>,
    bytes: Vec<u8>,
}

fn build_layer(out: &Path, binary: &Path, models: Option<&Path>) -> std::process::Output {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("firmware-image/build-layer"))
        .arg("--binary")
        .arg(binary)
        .arg("--out")
        .arg(out);
    if let Some(m) = models {
        cmd.arg("--models").arg(m);
    }
    cmd.output().expect("run build-layer")
}

fn read_layer(path: &Path) -> BTreeMap<String, Entry> {
    let file = std::fs::File::open(path).expect("layer");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut entries = BTreeMap::new();
    for e in archive.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e
            .path()
            .expect("path")
            .to_string_lossy()
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        let h = e.header();
        let entry = Entry {
            mode: h.mode().expect("mode"),
            uid: h.uid().expect("uid"),
            gid: h.gid().expect("gid"),
            kind: h.entry_type(),
            link: e
                .link_name()
                .expect("link")
                .map(|l| l.to_string_lossy().into_owned()),
            bytes: {
                let mut b = Vec::new();
                e.read_to_end(&mut b).expect("read");
                b
            },
        };
        entries.insert(name, entry);
    }
    entries
}

#[test]
fn the_layer_has_the_appliance_tree_owners_and_modes() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The image ships a build without debug sections; so does this test
    // (the debug build's are hundreds of MB).
    let binary = dir.path().join("smileloop");
    let stripped = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&binary)
        .arg(env!("CARGO_BIN_EXE_smileloop"))
        .status()
        .expect("strip (binutils)");
    assert!(stripped.success());
    let out = dir.path().join("layer.tar.gz");
    let models = repo().join("models");
    let run = build_layer(&out, &binary, Some(&models));
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let layer = read_layer(&out);

    for (name, e) in &layer {
        assert_eq!((e.uid, e.gid), (0, 0), "{name} belongs to root");
        let expected = match e.kind {
            tar::EntryType::Directory => 0o755,
            tar::EntryType::Symlink => e.mode,
            _ if name == "usr/bin/smileloop" => 0o755,
            // Scripts (a `#!` line) are executable, their data is not.
            _ if name
                .strip_prefix("usr/share/smileloop/engines/")
                .and_then(|f| std::fs::read(repo().join("engines").join(f)).ok())
                .is_some_and(|b| b.starts_with(b"#!")) =>
            {
                0o755
            }
            _ => 0o644,
        };
        assert_eq!(e.mode & 0o7777, expected, "{name} mode {:o}", e.mode);
    }
    let must = [
        "usr/bin/smileloop",
        "lib/systemd/system/smileloop.service",
        "lib/systemd/system/smileloop-kiosk.service",
        "usr/lib/sysusers.d/smileloop.conf",
        "etc/smileloop/smileloop.toml",
        "etc/chromium/policies/managed/smileloop.json",
        "etc/overlayroot.local.conf",
        "usr/share/smileloop/kiosk-ui/index.html",
        "usr/share/smileloop/kiosk-ui/fonts/DejaVuSans.ttf",
        "usr/share/smileloop/presets/soft_smile.toml",
        "usr/share/smileloop/presets/templates/talking.json",
        "usr/share/smileloop/engines/liveportrait/contract_models.py",
        "usr/share/smileloop/engines/face/install",
        "usr/share/smileloop/models/face_landmark.onnx",
        "usr/share/smileloop/models/iris_landmark.onnx",
        "usr/share/smileloop/models/libonnxruntime.so",
    ];
    for path in must {
        assert!(layer.contains_key(path), "{path} missing");
    }
    for (unit, target) in [
        ("smileloop.service", "multi-user.target.wants"),
        ("smileloop-engines.service", "multi-user.target.wants"),
        ("smileloop-kiosk.service", "graphical.target.wants"),
    ] {
        let link = &layer[&format!("etc/systemd/system/{target}/{unit}")];
        assert_eq!(link.kind, tar::EntryType::Symlink);
        assert_eq!(
            link.link.as_deref(),
            Some(format!("/lib/systemd/system/{unit}").as_str())
        );
    }
    // Units and data are the checkout's, byte for byte.
    let same = |inside: &str, here: &str| {
        let ours = std::fs::read(repo().join(here)).expect("read");
        assert!(layer[inside].bytes == ours, "{inside} differs from {here}");
    };
    same(
        "lib/systemd/system/smileloop.service",
        "systemd/smileloop.service",
    );
    same(
        "usr/lib/sysusers.d/smileloop.conf",
        "systemd/smileloop.sysusers",
    );
    same("usr/share/smileloop/kiosk-ui/app.js", "kiosk-ui/app.js");

    // The binary in the layer runs, and the default config is valid:
    // the units point SMILELOOP_CONFIG at it.
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).expect("mkdir");
    let tar_ok = Command::new("tar")
        .args(["-xzf"])
        .arg(&out)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .expect("tar");
    assert!(tar_ok.success());
    let bin = unpacked.join("usr/bin/smileloop");
    let version = Command::new(&bin).arg("--version").output().expect("run");
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("smileloop "),
        "{version:?}"
    );
    let presets = Command::new(&bin)
        .arg("presets")
        .env(
            "SMILELOOP_CONFIG",
            unpacked.join("etc/smileloop/smileloop.toml"),
        )
        .env(
            "SMILELOOP_PRESETS_DIR",
            unpacked.join("usr/share/smileloop/presets"),
        )
        .output()
        .expect("run");
    assert!(
        presets.status.success(),
        "the default config: {}",
        String::from_utf8_lossy(&presets.stderr)
    );
    assert!(String::from_utf8_lossy(&presets.stdout).contains("soft_smile"));

    // Same inputs, same bytes: an image can be rebuilt and compared.
    let again = dir.path().join("again.tar.gz");
    assert!(build_layer(&again, &binary, Some(&models)).status.success());
    assert!(
        std::fs::read(&again).expect("read") == std::fs::read(&out).expect("read"),
        "the layer is reproducible"
    );
}

#[test]
fn build_layer_refuses_bad_arguments_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("layer.tar.gz");
    let run = build_layer(&out, &dir.path().join("no-such-binary"), None);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("not an executable"));
    let empty_models = dir.path().join("models");
    std::fs::create_dir_all(&empty_models).expect("mkdir");
    let run = build_layer(
        &out,
        Path::new(env!("CARGO_BIN_EXE_smileloop")),
        Some(&empty_models),
    );
    assert_eq!(run.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("engines/face/install"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(!out.exists(), "no half-built layer");
}

#[test]
fn the_browser_policy_allows_the_kiosk_page_only_and_chromium_knows_it() {
    let text = std::fs::read_to_string(repo().join("firmware-image/chromium-policy.json"))
        .expect("policy");
    let policy: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let kiosk = serde_json::json!(["http://localhost:8000"]);
    assert_eq!(policy["URLBlocklist"], serde_json::json!(["*"]));
    assert_eq!(policy["URLAllowlist"], kiosk);
    assert_eq!(
        policy["VideoCaptureAllowed"], false,
        "no prompt, no other site"
    );
    assert_eq!(
        policy["VideoCaptureAllowedUrls"], kiosk,
        "local origin only"
    );
    assert_eq!(policy["AudioCaptureAllowed"], false);
    assert_eq!(policy["AutoplayAllowed"], true);
    assert_eq!(policy["TranslateEnabled"], false);
    // The unit's --app URL is the one the policy allows.
    let unit =
        std::fs::read_to_string(repo().join("systemd/smileloop-kiosk.service")).expect("unit");
    assert!(unit.contains("--app=http://localhost:8000/"));
    // A misspelt policy is silently ignored by Chromium: every name must
    // be one this Chromium build carries.
    let dir = tempfile::tempdir().expect("tempdir");
    let patterns = dir.path().join("names");
    let names: Vec<&String> = policy.as_object().expect("object").keys().collect();
    let lines: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
    std::fs::write(&patterns, lines.join("\n")).expect("write");
    let found = Command::new("grep")
        .args(["-a", "-o", "-w", "-F", "-f"])
        .arg(&patterns)
        .arg("/usr/lib/chromium/chromium")
        .output()
        .expect("grep Debian's chromium");
    let found: std::collections::BTreeSet<String> = String::from_utf8_lossy(&found.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    for name in names {
        assert!(
            found.contains(name),
            "Chromium does not know the policy {name}"
        );
    }
}

#[test]
fn glibc_check_accepts_this_build_for_jetpack_6_and_names_what_is_too_new() {
    let check = |max: &str| {
        Command::new("bash")
            .arg(repo().join("firmware-image/glibc-check"))
            .arg(env!("CARGO_BIN_EXE_smileloop"))
            .arg(max)
            .output()
            .expect("run glibc-check")
    };
    // Debian 12 has glibc 2.36, yet what the kiosk calls is older: the
    // same holds for the aarch64 cross build (checked by cross-build).
    let ok = check("2.35");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let old = check("2.17");
    assert_eq!(old.status.code(), Some(1));
    let said = String::from_utf8_lossy(&old.stderr);
    assert!(said.contains("GLIBC_2.") && said.contains("2.17"), "{said}");
}
