//! Shared helpers for the integration tests: a real kiosk on loopback
//! ports with a temp data dir, a small HTTP client, and MP4 inspection.
#![allow(dead_code)]

pub mod browser;
pub mod hang;
pub mod kiosk;
pub mod net;
pub mod ns;
pub mod printer;
pub mod staff;
pub mod stripe;
pub mod tls;

#[allow(unused_imports)] // the benches use the rest of this module
pub use kiosk::Kiosk;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use smileloop::app::{self, Running};
use smileloop::config::Settings;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn test_photos() -> PathBuf {
    repo().join("../shared/test-photos")
}

/// The test photos' file names, sorted.
pub fn test_photo_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(test_photos())
        .expect("../shared/test-photos")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".jpg") || n.ends_with(".png"))
        .collect();
    names.sort();
    names
}

/// Python of the tools venv that `engines/face/install` made.
pub fn venv_python() -> PathBuf {
    let venv = std::env::var_os("SMILELOOP_TOOLS_VENV")
        .map_or_else(|| repo().join(".ci/cache/venv"), PathBuf::from);
    venv.join("bin/python")
}

pub fn photo(name: &str) -> Vec<u8> {
    let path = test_photos().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A loopback port nothing listened on a moment ago, for a test that needs
/// a refused connection. Kiosks never get one of these: they bind port 0
/// themselves, so no other process can take their port first.
pub fn unused_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub fn settings(data_dir: &Path) -> Settings {
    Settings {
        address: [127, 0, 0, 1].into(),
        port: 0,
        guest_address: [127, 0, 0, 1].into(),
        guest_port: 0,
        admin_address: [127, 0, 0, 1].into(),
        admin_port: 0,
        data_dir: data_dir.to_path_buf(),
        presets_dir: repo().join("presets"),
        ui_dir: repo().join("kiosk-ui"),
        models_dir: repo().join("models"),
        onnxruntime_lib: repo().join("models/libonnxruntime.so"),
        // Tests about the camera turn it on (the files camera).
        camera: smileloop::config::CameraKind::None,
        ..Settings::default()
    }
}

/// The real kiosk, in-process, on its own runtime.
pub struct Server {
    pub kiosk: String,
    pub guest: String,
    pub admin: String,
    running: Option<Running>,
    runtime: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
}

impl Server {
    pub fn start(change: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = settings(dir.path());
        change(&mut s);
        Self::start_with(dir, s)
    }

    pub fn start_with(dir: tempfile::TempDir, settings: Settings) -> Self {
        Self::try_start_with(dir, settings).unwrap_or_else(|e| panic!("kiosk starts: {e}"))
    }

    pub fn try_start_with(
        dir: tempfile::TempDir,
        settings: Settings,
    ) -> Result<Self, app::StartError> {
        // Not in the benches: their figures are the output there.
        if cfg!(test) {
            hang::capture_logs();
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let running = runtime.block_on(app::start(settings))?;
        Ok(Self {
            kiosk: format!("http://127.0.0.1:{}", running.kiosk_port),
            guest: format!("http://127.0.0.1:{}", running.guest_port),
            admin: format!("https://127.0.0.1:{}", running.admin_port),
            running: Some(running),
            runtime,
            dir,
        })
    }

    /// Runs `f` on the server's own runtime.
    pub fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(f)
    }

    pub fn shared(&self) -> &smileloop::app::Shared {
        &self.running.as_ref().expect("running").shared
    }

    pub fn stop(mut self) -> tempfile::TempDir {
        if let Some(r) = self.running.take() {
            self.runtime.block_on(r.stop());
        }
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            self.runtime.block_on(r.stop());
        }
    }
}

/// The tests' HTTP client; over HTTPS it takes any kiosk's certificate.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .tls_config(tls::any_kiosk())
        .timeout(Duration::from_secs(60))
        .build()
}

/// Status and body of any answer, errors included.
pub fn call(req: ureq::Request, body: Option<(&str, Vec<u8>)>) -> (u16, Vec<u8>, Option<String>) {
    let result = match body {
        Some((content_type, bytes)) => req.set("Content-Type", content_type).send_bytes(&bytes),
        None => req.call(),
    };
    let res = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let status = res.status();
    let range = res.header("Content-Range").map(str::to_string);
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut res.into_reader(), &mut bytes).expect("body");
    (status, bytes, range)
}

pub fn get(url: &str) -> (u16, Vec<u8>) {
    let (s, b, _) = call(agent().get(url), None);
    (s, b)
}

pub fn get_json(url: &str) -> (u16, Value) {
    let (s, b) = get(url);
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

/// A multipart/form-data body with the given fields.
pub fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "smileloop-test-boundary-7d4a1c";
    let mut body = Vec::new();
    for (name, filename, data) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub fn upload(kiosk: &str, photo: &[u8], name: &str, preset: &str) -> (u16, Value) {
    let (ct, body) = multipart(&[
        ("photo", Some(name), photo),
        ("preset", None, preset.as_bytes()),
    ]);
    let (s, b, _) = call(
        agent().post(&format!("{kiosk}/api/jobs")),
        Some((&ct, body)),
    );
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

/// Polls a job until `pred` holds for its JSON, or panics after `limit`.
pub fn wait_for(kiosk: &str, id: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (status, job) = get_json(&format!("{kiosk}/api/jobs/{id}"));
        assert_eq!(status, 200, "{job}");
        if pred(&job) {
            return job;
        }
        if start.elapsed() > limit {
            panic!("job {id} stuck: {job}\n{}", hang::thread_stacks());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn wait_status(kiosk: &str, id: &str, status: &str) -> Value {
    wait_for(kiosk, id, Duration::from_secs(240), |j| {
        assert_ne!(j["status"], "failed", "job failed: {j}");
        j["status"] == status
    })
}

#[derive(Debug)]
pub struct VideoFacts {
    pub width: u16,
    pub height: u16,
    pub samples: u32,
    pub duration: Duration,
    pub fps: f64,
}

/// Parses an MP4 with a real parser and describes its one H.264 track.
pub fn inspect_mp4(bytes: &[u8]) -> VideoFacts {
    let reader = std::io::Cursor::new(bytes);
    let mp4 = mp4::Mp4Reader::read_header(reader, bytes.len() as u64).expect("a valid MP4");
    assert_eq!(mp4.tracks().len(), 1, "one track");
    let track = mp4.tracks().values().next().expect("track");
    assert_eq!(
        track.media_type().expect("media type"),
        mp4::MediaType::H264
    );
    VideoFacts {
        width: track.width(),
        height: track.height(),
        samples: track.sample_count(),
        duration: track.duration(),
        fps: track.frame_rate(),
    }
}

/// A well-formed PNG whose header claims `width` × `height` pixels.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::new(200, 200);
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    let mut bytes = out.into_inner();
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let mut crc = 0xFFFF_FFFFu32;
    for &b in &bytes[12..29] {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    bytes[29..33].copy_from_slice(&(!crc).to_be_bytes());
    bytes
}

/// POSTs over a raw socket, reading the answer while still writing: a
/// server may refuse an oversized body (and close) before it is all sent,
/// which HTTP allows and which ordinary clients report as a broken pipe.
pub fn raw_post(url: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let (status, text) = raw_post_framed(url, content_type, body, Framing::Length);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// How a raw POST says where its body ends.
#[derive(Clone, Copy, Debug)]
pub enum Framing {
    /// `Content-Length`.
    Length,
    /// `Transfer-Encoding: chunked`, in 64 KiB chunks: the size is not
    /// known until the end.
    Chunked,
}

pub fn raw_post_framed(
    url: &str,
    content_type: &str,
    body: Vec<u8>,
    framing: Framing,
) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .expect("path");
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let length = match framing {
        Framing::Length => format!("Content-Length: {}", body.len()),
        Framing::Chunked => "Transfer-Encoding: chunked".to_string(),
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n{length}\r\nConnection: close\r\n\r\n"
    );
    let body = match framing {
        Framing::Length => body,
        Framing::Chunked => {
            let mut framed = Vec::with_capacity(body.len() + body.len() / 1000 + 16);
            for chunk in body.chunks(64 * 1024) {
                framed.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                framed.extend_from_slice(chunk);
                framed.extend_from_slice(b"\r\n");
            }
            framed.extend_from_slice(b"0\r\n\r\n");
            framed
        }
    };
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let _ = writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(&body));
    });
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

/// A folder holding one test photo, for the files camera (the photo is
/// copied into a temp dir, never into the repo).
pub fn camera_folder(photo_name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(photo_name), photo(photo_name)).expect("copy photo");
    dir
}

/// Reads the JPEG parts of a `multipart/x-mixed-replace` stream.
pub struct MjpegReader {
    reader: std::io::BufReader<Box<dyn std::io::Read + Send + Sync>>,
}

impl MjpegReader {
    pub fn open(url: &str) -> Self {
        let res = agent().get(url).call().expect("stream opens");
        assert_eq!(res.status(), 200);
        let ct = res.header("Content-Type").unwrap_or_default().to_string();
        assert!(ct.starts_with("multipart/x-mixed-replace"), "{ct}");
        Self {
            reader: std::io::BufReader::new(res.into_reader()),
        }
    }

    fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match std::io::BufRead::read_line(&mut self.reader, &mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end().to_string()),
        }
    }

    /// The next JPEG, or `None` when the stream ended.
    pub fn next_jpeg(&mut self) -> Option<Vec<u8>> {
        let boundary = self.line()?;
        assert!(boundary.starts_with("--"), "boundary line: {boundary:?}");
        let mut len = None;
        loop {
            let header = self.line()?;
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse::<usize>().ok();
                }
                if k.eq_ignore_ascii_case("content-type") {
                    assert_eq!(v.trim(), "image/jpeg");
                }
            }
        }
        let mut jpeg = vec![0; len.expect("Content-Length in every part")];
        std::io::Read::read_exact(&mut self.reader, &mut jpeg).ok()?;
        assert_eq!(self.line().as_deref(), Some(""), "CRLF after the part");
        Some(jpeg)
    }
}

/// Every QR code a real decoder finds in a PNG (a screenshot).
pub fn scan_qr_codes(png: &Path) -> Vec<String> {
    let img = image::open(png).expect("screenshot").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    prepared
        .detect_grids()
        .iter()
        .filter_map(|g| g.decode().ok().map(|(_, text)| text))
        .collect()
}

/// Mean absolute difference of two same-size RGB images, in grey levels.
pub fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.as_raw().len().max(1) as f64
}

/// Every file below `dir` (none if it is missing), as display strings.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

/// `smileloop serve` with the test defaults (every listener on a port the
/// system picks, this checkout's presets, page and models, no config file).
/// Start it with [`kiosk::Kiosk::start`].
pub fn kiosk_command(data: &Path) -> std::process::Command {
    let mut cmd = smileloop_command(data);
    cmd.arg("serve").stdout(std::process::Stdio::null());
    cmd
}

/// The binary with the test defaults' environment, no subcommand yet.
pub fn smileloop_command(data: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_smileloop"));
    with_test_env(&mut cmd, data);
    cmd
}

/// The test defaults' environment on any command that runs the binary.
pub fn with_test_env(cmd: &mut std::process::Command, data: &Path) {
    cmd.env("SMILELOOP_DATA_DIR", data)
        .env("SMILELOOP_PORT", "0")
        .env("SMILELOOP_GUEST_ADDRESS", "127.0.0.1")
        .env("SMILELOOP_GUEST_PORT", "0")
        .env("SMILELOOP_ADMIN_ADDRESS", "127.0.0.1")
        .env("SMILELOOP_ADMIN_PORT", "0")
        .env("SMILELOOP_PRESETS_DIR", repo().join("presets"))
        .env("SMILELOOP_UI_DIR", repo().join("kiosk-ui"))
        .env("SMILELOOP_MODELS_DIR", repo().join("models"))
        .env(
            "SMILELOOP_ONNXRUNTIME_LIB",
            repo().join("models/libonnxruntime.so"),
        )
        .env("SMILELOOP_CONFIG", "/dev/null");
}

/// The binary with the test defaults, then `env` on top, up and healthy.
pub fn spawn_with(data: &Path, env: &[(&str, &str)]) -> kiosk::Kiosk {
    let mut cmd = kiosk_command(data);
    cmd.envs(env.iter().copied());
    kiosk::Kiosk::start(cmd, data)
}

/// Smallest Jacobian determinant of the backward map, sampled every 3 px
/// where the frame shows the photo.
pub fn min_det_fine(f: &smileloop::animate::rig::Field) -> f32 {
    let (x1, y1) = (
        f.x0 + ((f.nx - 1) * f.cell) as f32,
        f.y0 + ((f.ny - 1) * f.cell) as f32,
    );
    let h = 0.5;
    let mut min = f32::MAX;
    let mut y = f.y0;
    while y < y1 - 1.0 {
        let mut x = f.x0;
        while x < x1 - 1.0 {
            // Inside an open mouth the frame shows its interior, not the
            // photo: nothing is sampled there.
            let shown = [[x, y], [x + h, y], [x, y + h]];
            if !shown.iter().all(|p| f.shows_photo(*p)) {
                x += 3.0;
                continue;
            }
            let (a, bx, by) = (f.at([x, y]), f.at([x + h, y]), f.at([x, y + h]));
            let j = [
                [1.0 - (bx[0] - a[0]) / h, -(by[0] - a[0]) / h],
                [-(bx[1] - a[1]) / h, 1.0 - (by[1] - a[1]) / h],
            ];
            min = min.min(j[0][0] * j[1][1] - j[0][1] * j[1][0]);
            x += 3.0;
        }
        y += 3.0;
    }
    min
}

/// The face models `engines/face/install` put in `models/`.
pub fn face_models() -> std::sync::Arc<smileloop::face::FaceModels> {
    let dir = repo().join("models");
    std::sync::Arc::new(
        smileloop::face::FaceModels::load(&dir.join("libonnxruntime.so"), &dir)
            .expect("face models (engines/face/install)"),
    )
}

/// The presets the mesh-warp backend plays (not the LivePortrait-only ones).
pub fn meshwarp_presets() -> Vec<smileloop::motion::Preset> {
    smileloop::motion::load_dir(&repo().join("presets"))
        .expect("presets")
        .into_iter()
        .filter(|p| p.supports_backend(smileloop::backend::Backend::Meshwarp))
        .collect()
}

/// Wall-clock time in Unix milliseconds, as the kiosk's system clock reads it.
pub fn now_ms() -> i64 {
    use smileloop::clock::Clock;
    smileloop::clock::SystemClock.wall_ms()
}
