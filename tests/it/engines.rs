//! `engines/fetch`: unpinned manifest entries refused unless `--record`
//! writes their sums into the manifest, every file verified against its
//! pinned sum, corrupt files refused, no hang without internet; the warp
//! network's conversion for the TensorRT plugin; and `build-image`
//! refusing an unpinned manifest.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::*;

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).expect("read")))
}

/// Runs `engines/fetch DIR` from `base` with `manifest`; killed (and the
/// test failed) if it runs past a minute.
fn fetch(dir: &Path, base: &str, manifest: &Path) -> Output {
    fetch_with(&[], dir, base, manifest)
}

fn fetch_with(flags: &[&str], dir: &Path, base: &str, manifest: &Path) -> Output {
    let mut child = Command::new(repo().join("engines/fetch"))
        .args(flags)
        .arg(dir)
        .env("SMILELOOP_FETCH_BASE", base)
        .env("SMILELOOP_FETCH_MANIFEST", manifest)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("fetch runs");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("engines/fetch hung");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn unpinned_sums_are_refused_until_recorded_into_the_manifest() {
    let src = tempfile::tempdir().expect("tempdir");
    let dest = tempfile::tempdir().expect("tempdir");
    for (name, body) in [
        ("a.onnx", "first"),
        ("b.onnx", "second"),
        ("c.onnx", "third"),
    ] {
        std::fs::write(src.path().join(name), body).expect("write");
    }
    let known = sha256(&src.path().join("a.onnx"));
    let manifest = src.path().join("MANIFEST");
    std::fs::write(
        &manifest,
        format!("# test\na.onnx {known}\nb.onnx record\n\nc.onnx record\n"),
    )
    .expect("manifest");
    let base = format!("file://{}", src.path().display());

    // Unpinned entries are refused by name; nothing is downloaded.
    let out = fetch(dest.path(), &base, &manifest);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(text(&out).contains("b.onnx c.onnx"), "{}", text(&out));
    assert!(!dest.path().join("a.onnx").exists());

    // --record: a.onnx verified, b and c downloaded and their sums written
    // into the manifest itself, comments and pinned lines untouched.
    let out = fetch_with(&["--record"], dest.path(), &base, &manifest);
    assert!(out.status.success(), "{}", text(&out));
    let log = text(&out);
    assert_eq!(log.matches("RECORDED").count(), 2, "{log}");
    let pinned = std::fs::read_to_string(&manifest).expect("manifest");
    assert!(pinned.starts_with("# test\n"), "{pinned}");
    assert!(pinned.contains(&format!("a.onnx {known}")), "{pinned}");
    let b_sum = sha256(&src.path().join("b.onnx"));
    assert!(pinned.contains(&format!("b.onnx {b_sum}")), "{pinned}");
    assert!(!pinned.contains("record"), "{pinned}");
    assert_eq!(
        std::fs::read(dest.path().join("c.onnx")).expect("c"),
        b"third"
    );

    // Again, without --record: nothing downloaded, everything verified.
    let out = fetch(dest.path(), &base, &manifest);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out).matches("ok ").count(), 3, "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&manifest).expect("manifest"),
        pinned
    );

    // A damaged local copy is fetched again and verified.
    std::fs::write(dest.path().join("b.onnx"), "damaged").expect("damage");
    let out = fetch(dest.path(), &base, &manifest);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read(dest.path().join("b.onnx")).expect("b"),
        b"second"
    );

    // The server's file changes after its sum was pinned: refused, and
    // neither the old nor a partial file is left in place.
    std::fs::write(src.path().join("c.onnx"), "tampered").expect("tamper");
    std::fs::remove_file(dest.path().join("c.onnx")).expect("rm");
    let out = fetch(dest.path(), &base, &manifest);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains("c.onnx has SHA-256"), "{}", text(&out));
    assert!(!dest.path().join("c.onnx").exists());
    assert!(!dest.path().join(".c.onnx.part").exists());

    // A wrong sum in the manifest itself is refused the same way.
    std::fs::write(&manifest, format!("a.onnx {}\n", "0".repeat(64))).expect("manifest");
    std::fs::remove_file(dest.path().join("a.onnx")).expect("rm");
    let out = fetch(dest.path(), &base, &manifest);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
}

#[test]
fn build_image_refuses_a_manifest_with_an_unpinned_entry_before_downloading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("MANIFEST");
    let pinned = "0".repeat(64);
    std::fs::write(
        &manifest,
        format!("# x\na.onnx {pinned}\nplugin.tar.gz record https://example.invalid/p.tar.gz\n"),
    )
    .expect("manifest");
    let layer = dir.path().join("layer.tar.gz");
    std::fs::write(&layer, b"").expect("layer");
    let out = Command::new(repo().join("firmware-image/build-image"))
        .arg("--layer")
        .arg(&layer)
        .env("SMILELOOP_FETCH_MANIFEST", &manifest)
        .env("WORK", dir.path().join("work"))
        .output()
        .expect("build-image runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("plugin.tar.gz"), "{}", text(&out));
    assert!(!dir.path().join("work").exists(), "nothing was downloaded");
}

#[test]
fn bad_manifests_and_unreachable_servers_fail_fast_with_a_reason() {
    let dest = tempfile::tempdir().expect("tempdir");
    let manifest = dest.path().join("MANIFEST");
    std::fs::write(&manifest, "../evil.onnx record\n").expect("manifest");
    let out = fetch(dest.path(), "file:///nowhere", &manifest);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("bad file name"), "{}", text(&out));
    std::fs::write(&manifest, "a.onnx 1234\n").expect("manifest");
    let out = fetch(dest.path(), "file:///nowhere", &manifest);
    assert!(text(&out).contains("bad sum"), "{}", text(&out));

    // Nothing listens on this port: the reachability check fails at once
    // with the advice to fetch on a provisioning machine.
    let port = unused_port();
    std::fs::write(&manifest, format!("a.onnx {}\n", "0".repeat(64))).expect("manifest");
    let out = fetch(
        dest.path(),
        &format!("http://127.0.0.1:{port}/x"),
        &manifest,
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("provisioning machine"),
        "{}",
        text(&out)
    );
    assert!(!dest.path().join("a.onnx").exists());
}

#[test]
fn the_warp_network_is_converted_for_the_tensorrt_plugin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let python = venv_python();
    let run = |args: &[&Path]| {
        Command::new(&python)
            .args(args)
            .output()
            .expect("python runs")
    };
    let models = run(&[
        &repo().join("engines/liveportrait/contract_models.py"),
        dir.path(),
    ]);
    assert!(models.status.success(), "{}", text(&models));
    let (warp, fixed) = (
        dir.path().join("warping_spade.onnx"),
        dir.path().join("warping_spade-fix.onnx"),
    );
    let out = run(&[
        &repo().join("engines/liveportrait/trt_model.py"),
        &warp,
        &fixed,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let check = Command::new(&python)
        .arg("-c")
        .arg(
            "import onnx, sys; m = onnx.load(sys.argv[1]); \
             n = [x for x in m.graph.node if x.op_type.startswith('GridSample')]; \
             print([(x.op_type, x.domain, sorted((a.name, a.i) for a in x.attribute)) for x in n]); \
             print(sorted(o.domain for o in m.opset_import))",
        )
        .arg(&fixed)
        .output()
        .expect("python runs");
    let described = text(&check);
    assert!(
        described.contains("('GridSample3D', 'trt.plugins', [('align_corners', 0), ('interpolation_mode', 0), ('padding_mode', 0)])"),
        "{described}"
    );
    assert!(described.contains("'trt.plugins'"), "{described}");
    // A network without a 5-D GridSample is refused.
    let out = run(&[
        &repo().join("engines/liveportrait/trt_model.py"),
        &dir.path().join("stitching.onnx"),
        &dir.path().join("x.onnx"),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no 5-D GridSample"), "{}", text(&out));
    assert!(!dir.path().join("x.onnx").exists());
}

#[test]
fn engines_build_without_fetched_files_says_what_to_run() {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = Command::new(repo().join("engines/build"))
        .env("SMILELOOP_LIVEPORTRAIT_DIR", empty.path())
        .env("SMILELOOP_DATA_DIR", empty.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("run engines/fetch"), "{}", text(&out));
    // With the networks but no plugin source, it names that instead.
    std::fs::write(empty.path().join("warping_spade.onnx"), "x").expect("write");
    let out = Command::new(repo().join("engines/build"))
        .env("SMILELOOP_LIVEPORTRAIT_DIR", empty.path())
        .env("SMILELOOP_DATA_DIR", empty.path())
        .output()
        .expect("runs");
    assert!(
        text(&out).contains("no GridSample3D plugin source"),
        "{}",
        text(&out)
    );
    assert!(!empty.path().join("tensorrt-cache").exists());
}
