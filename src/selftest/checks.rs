//! The checks themselves. Verdicts that need no I/O are plain functions
//! with unit tests; the rest gather figures and hand them over.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Check, Level};
use crate::admin::stats;
use crate::config::{CameraKind, EventMode};
use crate::encode::{Quality, VideoWriter};
use crate::payments::PaymentError;
use crate::render::{self, OutputPaths};
use crate::state::Shared;

const MB: f64 = 1024.0 * 1024.0;
const GB: f64 = 1024.0 * MB;

/// Watching the live view this long after the first frame gives the fps.
const CAMERA_WINDOW: Duration = Duration::from_secs(2);
const CAMERA_FIRST_FRAME: Duration = Duration::from_secs(10);

pub async fn camera(app: &Shared) -> Check {
    let s = &app.settings;
    if s.camera == CameraKind::None {
        return Check::new(
            "camera",
            Level::Warn,
            "no camera configured (camera = \"none\"): guests can only send photos from their phones",
        );
    }
    let mut rx = app.camera.subscribe();
    let started = Instant::now();
    let mut first: Option<(Instant, u64)> = None;
    let mut last_seq = 0;
    loop {
        if let Some(seq) = rx.borrow_and_update().as_ref().map(|f| f.seq) {
            let now = Instant::now();
            let (t0, _) = *first.get_or_insert((now, seq));
            last_seq = seq;
            if now - t0 >= CAMERA_WINDOW {
                break;
            }
        }
        let deadline = match first {
            Some((t0, _)) => t0 + CAMERA_WINDOW,
            None => started + CAMERA_FIRST_FRAME,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || tokio::time::timeout(left, rx.changed()).await.is_err() {
            break;
        }
    }
    drop(rx);
    let status = app.camera.status();
    let Some((t0, first_seq)) = first else {
        let why = status.error.map(|e| format!(": {e}")).unwrap_or_default();
        return Check::new(
            "camera",
            Level::Fail,
            format!(
                "no picture from the camera in {} s ({}{why}); check its USB cable and `journalctl -u smileloop`, or set camera = \"none\" to run on phone uploads only",
                CAMERA_FIRST_FRAME.as_secs(),
                status.state.as_str()
            ),
        );
    };
    let secs = t0.elapsed().as_secs_f64().max(0.001);
    let fps = (last_seq.saturating_sub(first_seq)) as f64 / secs;
    if crate::capture::uses_test_camera(s) {
        let level = if s.camera == CameraKind::Auto {
            Level::Fail
        } else {
            Level::Warn
        };
        return Check::new(
            "camera",
            level,
            format!(
                "no USB camera: the kiosk shows a test picture ({}); plug the camera in (it is found within a second)",
                status.source
            ),
        )
        .with_value(fps, "fps");
    }
    let level = if fps < 10.0 { Level::Warn } else { Level::Ok };
    let hint = if level == Level::Warn {
        "; the live view will stutter: try another USB port or cable"
    } else {
        ""
    };
    Check::new(
        "camera",
        level,
        format!("{}: {fps:.1} fps{hint}", status.source),
    )
    .with_value(fps, "fps")
}

/// A working folder under `data_dir/tmp` that is removed afterwards.
fn scratch(data_dir: &Path, what: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    data_dir
        .join("tmp")
        .join(format!("selftest-{what}-{nanos}"))
}

/// The photo to time the animator with: the operator's, else the poster of
/// a preset sample (a photo whose subject agreed to be shown).
fn test_photo(data_dir: &Path, given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(|| {
        let mut posters: Vec<PathBuf> = std::fs::read_dir(render::samples_dir(data_dir))
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
            .collect();
        posters.sort();
        posters.into_iter().next()
    })
}

pub async fn animator(app: Arc<Shared>, photo: Option<PathBuf>) -> Check {
    let name = app.animator.name();
    let note = app
        .animator_note
        .as_ref()
        .map(|n| format!(" (fallback: {n})"))
        .unwrap_or_default();
    let level = if note.is_empty() {
        Level::Ok
    } else {
        Level::Warn
    };
    let Some(photo) = test_photo(&app.settings.data_dir, photo) else {
        return Check::new(
            "animator",
            Level::Warn,
            format!(
                "{name} loaded{note}; no photo to time it with: run `smileloop samples PHOTO` once (the attract screen needs it too) or pass --photo"
            ),
        );
    };
    let work = Arc::clone(&app);
    let result = tokio::task::spawn_blocking(move || render_test(&work, &photo)).await;
    match result {
        Ok(Ok((preset, frames, ms, preview_s))) => Check::new(
            "animator",
            level,
            format!(
                "{name}{note} renders {preset}: {frames} frames at {ms:.1} ms/frame, preview ready in {preview_s:.1} s"
            ),
        )
        .with_value(ms, "ms/frame"),
        Ok(Err(e)) => Check::new(
            "animator",
            Level::Fail,
            format!("{name}{note} could not render the test animation: {e}"),
        ),
        Err(e) => Check::new(
            "animator",
            Level::Fail,
            format!("{name} crashed rendering the test animation: {e}"),
        ),
    }
}

/// Renders the shortest preset the backend supports into a scratch folder:
/// (preset, frames, ms per frame, seconds to the preview).
fn render_test(app: &Shared, photo: &Path) -> Result<(String, u32, f64, f64), String> {
    let bytes = std::fs::read(photo).map_err(|e| format!("{}: {e}", photo.display()))?;
    let image =
        crate::capture::photo::decode(&bytes).map_err(|e| format!("{}: {e}", photo.display()))?;
    let animator = app.animator.as_ref();
    let preset = app
        .presets
        .all()
        .iter()
        .filter(|p| p.supports_backend(animator.backend()))
        .min_by(|a, b| a.file.duration_s.total_cmp(&b.file.duration_s))
        .ok_or("no preset supports this backend")?;
    let dir = scratch(&app.settings.data_dir, "render");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let job = render::Job {
        photo: &image,
        seed: 0,
        faces: None,
        preset,
        animator,
        encoder: app.encoder,
        watermark_text: "Self-test",
    };
    let report = render::render(
        &job,
        &OutputPaths::in_dir(&dir),
        &mut |_, _, _| {},
        &AtomicBool::new(false),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let r = report.map_err(|e| e.to_string())?;
    let frames = r.plan.frame_count;
    let ms = r.animate_time.as_secs_f64() * 1000.0 / f64::from(frames.max(1));
    Ok((
        preset.id().to_string(),
        frames,
        ms,
        r.preview_ready.as_secs_f64(),
    ))
}

/// HD frames through the chosen encoder into a real MP4.
pub async fn encoder(app: Arc<Shared>) -> Check {
    let encoder = app.encoder;
    let kind = if encoder.is_hardware() {
        "hardware"
    } else {
        "software"
    };
    let element = encoder.element();
    let result = tokio::task::spawn_blocking(move || encode_test(&app)).await;
    match result {
        Ok(Ok(fps)) => {
            let slow = fps < 25.0;
            Check::new(
                "encoder",
                if slow { Level::Warn } else { Level::Ok },
                format!(
                    "{element} ({kind}) encodes 1080×1350 at {fps:.0} fps{}",
                    if slow {
                        "; slower than the video plays, guests will wait longer"
                    } else {
                        ""
                    }
                ),
            )
            .with_value(fps, "fps")
        }
        Ok(Err(e)) => Check::new(
            "encoder",
            Level::Fail,
            format!("{element} ({kind}) failed: {e}; set encoder = \"x264enc\" to use the software encoder"),
        ),
        Err(e) => Check::new("encoder", Level::Fail, format!("{element} crashed: {e}")),
    }
}

fn encode_test(app: &Shared) -> Result<f64, String> {
    const W: u32 = 1080;
    const H: u32 = 1350;
    const FRAMES: u32 = 50;
    let dir = scratch(&app.settings.data_dir, "encode");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("test.mp4");
    let t = Instant::now();
    let run = || -> Result<u64, String> {
        let mut writer = VideoWriter::create(app.encoder, Quality::Full, W, H, 25, &path)
            .map_err(|e| e.to_string())?;
        let mut frame = vec![0u8; (W * H * 3) as usize];
        for i in 0..FRAMES {
            // A moving gradient: something to encode, not a flat picture.
            for (n, px) in frame.chunks_exact_mut(3).enumerate() {
                let (x, y) = (n as u32 % W, n as u32 / W);
                px[0] = ((x + 4 * i) % 256) as u8;
                px[1] = ((y + 2 * i) % 256) as u8;
                px[2] = ((x + y) % 256) as u8;
            }
            writer.push(&frame).map_err(|e| e.to_string())?;
        }
        let file = writer.finish().map_err(|e| e.to_string())?;
        std::fs::metadata(&file)
            .map(|m| m.len())
            .map_err(|e| e.to_string())
    };
    let written = run();
    let elapsed = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    match written? {
        0 => Err("the encoder wrote an empty file".into()),
        _ => Ok(f64::from(FRAMES) / elapsed.max(0.001)),
    }
}

/// A busy wedding: the fewest guests a day the disk is judged for.
const GUESTS_A_DAY: u64 = 150;
/// The photo printer: reachable, a format the kiosk sends, 4 × 6 in paper
/// loaded, supplies left.
pub async fn printer(app: &Shared) -> Check {
    use crate::print::{service::choose_format, PrinterState};
    let p = &app.printing;
    let Some(uri) = p.printer_uri() else {
        return Check::new(
            "printer",
            Level::Ok,
            "no printer set up (printer_uri is empty)",
        );
    };
    let (status, caps) = match p.ask().await {
        Ok(s) => s,
        Err(e) => return Check::new("printer", Level::Fail, format!("{uri}: {e}")),
    };
    let Some(format) = choose_format(&caps) else {
        return Check::new(
            "printer",
            Level::Fail,
            format!(
                "{uri} takes {}: none of PWG Raster, URF or JPEG, which the kiosk sends",
                caps.formats.join(", ")
            ),
        );
    };
    let media = crate::print::card::MEDIA;
    if !caps.media_supported.is_empty() && !caps.media_supported.iter().any(|m| m == media) {
        return Check::new(
            "printer",
            Level::Fail,
            format!(
                "{uri} offers no 4 × 6 in paper ({media}); it has {}",
                caps.media_supported.join(", ")
            ),
        );
    }
    let supplies: Vec<String> = status
        .markers
        .iter()
        .map(|m| match m.level {
            Some(l) => format!("{} {l} %", m.name),
            None => m.name.clone(),
        })
        .collect();
    let loaded = caps.media_ready.is_empty() || caps.media_ready.iter().any(|m| m == media);
    let summary = format!(
        "{uri}: {}; sends {}; {}; {}",
        status.state.words(),
        format.mime(),
        if loaded {
            "4 × 6 in paper loaded"
        } else {
            "no 4 × 6 in paper loaded"
        },
        if supplies.is_empty() {
            "supplies unknown".into()
        } else {
            supplies.join(", ")
        }
    );
    let level = match status.state {
        _ if !loaded => Level::Warn,
        PrinterState::Ready | PrinterState::Printing => Level::Ok,
        PrinterState::SupplyLow => Level::Warn,
        _ => Level::Fail,
    };
    Check::new("printer", level, summary)
}

/// The staff page's certificate, for staff to compare once with what
/// their browser shows.
pub fn admin_https(app: &Shared) -> Check {
    Check::new(
        "admin_https",
        Level::Ok,
        format!(
            "the staff page speaks HTTPS on port {} with this box's own certificate, \
             SHA-256 {}: check that the browser shows the same the first time",
            app.settings.admin_port, app.admin_fingerprint
        ),
    )
}

/// Per job (photo, HD video, preview, poster) before there are any to measure.
const BYTES_PER_JOB_GUESS: u64 = 15 * 1024 * 1024;

pub fn disk(app: &Shared) -> Check {
    let data_dir = &app.settings.data_dir;
    let jobs_dir = data_dir.join("jobs");
    let folders = std::fs::read_dir(&jobs_dir)
        .map(|d| d.filter_map(Result::ok).count() as u64)
        .unwrap_or(0);
    let per_job = match folders {
        0 => BYTES_PER_JOB_GUESS,
        n => (stats::jobs_bytes(&jobs_dir) / n).max(1),
    };
    let day_ago = app.clock.wall_ms() - 24 * 3600 * 1000;
    let last_day = app
        .store
        .all()
        .map(|jobs| jobs.iter().filter(|j| j.created_at >= day_ago).count() as u64)
        .unwrap_or(0);
    let event = app.live.get();
    let window = event.retention_paid_hours.max(event.retention_unpaid_hours);
    disk_verdict(
        stats::disk(data_dir).map(|d| d.0),
        per_job,
        last_day.max(GUESTS_A_DAY),
        window,
    )
}

/// Enough free space for `guests_a_day` jobs of `per_job` bytes, kept for
/// the retention window (at least one night).
pub fn disk_verdict(
    free: Option<u64>,
    per_job: u64,
    guests_a_day: u64,
    window_hours: u32,
) -> Check {
    let Some(free) = free else {
        return Check::new(
            "disk",
            Level::Fail,
            "cannot read the free space of data_dir; is the data partition mounted?",
        );
    };
    let days = (f64::from(window_hours) / 24.0).max(1.0);
    let needed = per_job as f64 * guests_a_day as f64 * days;
    let message = format!(
        "{:.1} GB free; {guests_a_day} guests a day kept for {window_hours} h need about {:.1} GB ({:.0} MB a guest)",
        free as f64 / GB,
        needed / GB,
        per_job as f64 / MB
    );
    if (free as f64) < needed {
        Check::new(
            "disk",
            Level::Fail,
            format!("{message}: free space on the data partition, or shorten retention on the admin page"),
        )
    } else {
        Check::new("disk", Level::Ok, message)
    }
    .with_value(free as f64, "bytes")
}

pub async fn clock() -> Check {
    use crate::clock::Clock;
    // The machine's own clock is what is checked here, not the kiosk's.
    let now = crate::clock::SystemClock.wall_ms() / 1000;
    let asked = tokio::process::Command::new("timedatectl")
        .args(["show", "--property=NTPSynchronized", "--value"])
        .output()
        .await;
    let synced = match asked {
        Ok(out) if out.status.success() => match String::from_utf8_lossy(&out.stdout).trim() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        },
        _ => None,
    };
    clock_verdict(now, synced)
}

/// 2025-01-01: a clock before this was never set (a Jetson without an RTC
/// battery boots in the past).
const CLOCK_FLOOR: i64 = 1_735_689_600;

pub fn clock_verdict(now_unix: i64, synced: Option<bool>) -> Check {
    let when = time::OffsetDateTime::from_unix_timestamp(now_unix)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| now_unix.to_string());
    let why = "Stripe refuses webhooks signed more than 5 minutes away from this clock";
    if now_unix < CLOCK_FLOOR {
        return Check::new(
            "clock",
            Level::Fail,
            format!("the clock reads {when}, which is wrong: connect the box to the internet (NTP) or set it with `timedatectl set-time`; {why}"),
        );
    }
    match synced {
        Some(true) => Check::new("clock", Level::Ok, format!("synchronised (NTP): {when}")),
        Some(false) => Check::new(
            "clock",
            Level::Fail,
            format!("not synchronised (reads {when}): check the network, then `timedatectl set-ntp true`; {why}"),
        ),
        None => Check::new(
            "clock",
            Level::Warn,
            format!("could not ask timedatectl whether the clock is synchronised; it reads {when}: compare with a phone"),
        ),
    }
}

pub async fn stripe(app: &Shared) -> Check {
    if app.live.get().event_mode != EventMode::Paid {
        return Check::new(
            "stripe",
            Level::Ok,
            "not needed: downloads are free tonight (host-paid event)",
        );
    }
    let Some(api) = app.stripe.api() else {
        return Check::new(
            "stripe",
            Level::Fail,
            "guests pay tonight but no Stripe keys are set: enter them on the admin page (Settings → Stripe keys)",
        );
    };
    let mode = match app.stripe.live() {
        Some(true) => "live",
        _ => "test",
    };
    match api.check_key().await {
        Ok(()) => Check::new(
            "stripe",
            if mode == "live" {
                Level::Ok
            } else {
                Level::Warn
            },
            format!(
                "{mode} keys accepted by Stripe{}",
                if mode == "test" {
                    ": test mode takes no real money"
                } else {
                    ""
                }
            ),
        ),
        Err(PaymentError::Offline(e)) => Check::new(
            "stripe",
            Level::Fail,
            format!("Stripe cannot be reached from this box ({e}): guests would be sent to staff; check the venue's internet"),
        ),
        Err(e) => Check::new(
            "stripe",
            Level::Fail,
            format!("Stripe refused the secret key ({e}): enter the keys again on the admin page"),
        ),
    }
}

pub async fn public_url(app: &Shared) -> Check {
    let base = app.settings.public_base().to_string();
    let loopback = url::Url::parse(&base)
        .ok()
        .and_then(|u| {
            u.host().map(|h| match h {
                url::Host::Domain(d) => d == "localhost",
                url::Host::Ipv4(ip) => ip.is_loopback(),
                url::Host::Ipv6(ip) => ip.is_loopback(),
            })
        })
        .unwrap_or(false);
    let probe = format!("{base}/api/ping");
    let answer = tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(5))
            .build();
        match agent.get(&probe).call() {
            Ok(r) => r
                .into_string()
                .map(|b| b.contains("smileloop"))
                .map_err(|e| e.to_string()),
            Err(ureq::Error::Status(code, _)) => Err(format!("HTTP {code}")),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    match answer {
        Ok(true) if loopback => Check::new(
            "public_url",
            Level::Fail,
            format!("public_base_url is {base}: phones cannot open this box's localhost; set it to the box's address on the guests' Wi-Fi (or a tunnel)"),
        ),
        Ok(true) => Check::new(
            "public_url",
            Level::Ok,
            format!("{base} answers from this box (the QR codes point there)"),
        ),
        Ok(false) => Check::new(
            "public_url",
            Level::Fail,
            format!("{base} answers, but not with this kiosk's guest pages: check public_base_url"),
        ),
        Err(e) => Check::new(
            "public_url",
            Level::Fail,
            format!("{base} does not answer ({e}): set public_base_url to the address of the guest listener that phones reach"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_is_judged_for_the_retention_window() {
        let mb = 1024 * 1024;
        // 150 guests × 15 MB × 3 days = 6.6 GB.
        let ok = disk_verdict(Some(10 * 1024 * mb), 15 * mb, 150, 72);
        assert_eq!(ok.level, Level::Ok, "{}", ok.message);
        let short = disk_verdict(Some(5 * 1024 * mb), 15 * mb, 150, 72);
        assert_eq!(short.level, Level::Fail);
        assert!(short.message.contains("retention"), "{}", short.message);
        // A window under a day still needs a night's worth.
        let night = disk_verdict(Some(2 * 1024 * mb), 15 * mb, 150, 2);
        assert_eq!(night.level, Level::Fail, "{}", night.message);
        assert_eq!(disk_verdict(None, mb, 1, 24).level, Level::Fail);
    }

    #[test]
    fn clock_must_be_set_and_synchronised() {
        let now = 1_795_000_000; // 2026-11
        assert_eq!(clock_verdict(now, Some(true)).level, Level::Ok);
        let off = clock_verdict(now, Some(false));
        assert_eq!(off.level, Level::Fail);
        assert!(
            off.message.contains("timedatectl set-ntp"),
            "{}",
            off.message
        );
        assert_eq!(clock_verdict(now, None).level, Level::Warn);
        let unset = clock_verdict(1_000_000, Some(true));
        assert_eq!(unset.level, Level::Fail, "a clock in 1970 is wrong");
        assert!(unset.message.contains("1970-01-12"), "{}", unset.message);
    }

    #[test]
    fn the_test_photo_is_given_or_a_sample_poster() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(test_photo(dir.path(), None), None);
        let samples = render::samples_dir(dir.path());
        std::fs::create_dir_all(&samples).expect("mkdir");
        std::fs::write(samples.join("soft_smile.mp4"), b"x").expect("write");
        std::fs::write(samples.join("soft_smile.jpg"), b"x").expect("write");
        assert_eq!(
            test_photo(dir.path(), None),
            Some(samples.join("soft_smile.jpg"))
        );
        let given = PathBuf::from("/photos/me.jpg");
        assert_eq!(test_photo(dir.path(), Some(given.clone())), Some(given));
    }
}
