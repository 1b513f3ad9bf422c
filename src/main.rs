//! The `smileloop` command: `serve` runs the kiosk, `animate` renders one
//! photo from the command line (and is the benchmark's entry point).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::{Parser, Subcommand};

use smileloop::config::Settings;
use smileloop::{animate, app, capture, encode, motion, render, selftest, service};

#[derive(Parser)]
#[command(name = "smileloop", version, about = "SmileLoop photo-animation kiosk")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the kiosk (the default): kiosk and guest listeners, worker, retention.
    Serve,
    /// Animate one photo into an MP4 loop, with its preview and poster.
    Animate {
        photo: PathBuf,
        /// Preset id (see `presets/`).
        #[arg(long)]
        preset: String,
        /// The clean HD video.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// The watermarked preview (default: OUTPUT with `.preview.mp4`).
        #[arg(long)]
        preview: Option<PathBuf>,
        /// The poster image (default: OUTPUT with `.poster.jpg`).
        #[arg(long)]
        poster: Option<PathBuf>,
    },
    /// A contact sheet: each photo, then its peak frame for every preset.
    Sheet {
        photos: Vec<PathBuf>,
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Height of each cell in pixels.
        #[arg(long, default_value_t = 360)]
        cell: u32,
    },
    /// List the presets.
    Presets,
    /// Is the box ready for guests? Camera, animator, encoder, disk, clock,
    /// Stripe, public URL. Exit code 0 only when nothing failed. Asks the
    /// running kiosk, or starts one for the test when none runs.
    Selftest {
        /// The report as JSON on stdout, for machines.
        #[arg(long)]
        json: bool,
        /// A portrait to time the animator with (default: a preset
        /// sample's poster from `smileloop samples`).
        #[arg(long)]
        photo: Option<PathBuf>,
    },
    /// Render the sample loop of every preset from one photo, for the
    /// attract screen and the animation picker (into `data_dir/samples`).
    /// Use a photo whose subject agreed to be shown to every guest.
    Samples { photo: PathBuf },
    /// Staff access to the admin page.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Load LivePortrait's networks on the configured provider and run
    /// them once, so that TensorRT builds its engines (into
    /// `data_dir/tensorrt-cache`) before the first guest; run by
    /// `smileloop-engines.service` at boot. Exit code 1 when they cannot
    /// load on that provider.
    PrepareEngines,
    /// Find faces and landmarks in photos (a check of the face models).
    Faces {
        photos: Vec<PathBuf>,
        /// Also write each photo with its landmarks drawn, into this folder.
        #[arg(long)]
        draw: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Set the staff password (asked twice on a terminal, else one line
    /// from stdin); signs every staff device out. Run it while the kiosk
    /// is stopped: the store allows one process at a time.
    SetPassword,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    app::init_tracing();
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("smileloop: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Selftest { json, photo } => return selftest(settings, json, photo),
        Command::Serve => app::serve(settings),
        Command::Animate {
            photo,
            preset,
            output,
            preview,
            poster,
        } => {
            let with_suffix = |suffix: &str| {
                let mut p = output.clone().into_os_string();
                p.push(suffix);
                PathBuf::from(p)
            };
            let out = render::OutputPaths {
                preview: preview.unwrap_or_else(|| with_suffix(".preview.mp4")),
                poster: poster.unwrap_or_else(|| with_suffix(".poster.jpg")),
                still: None,
                full: output.clone(),
            };
            animate_one(&settings, &photo, &preset, &out)
        }
        Command::Sheet {
            photos,
            output,
            cell,
        } => sheet(&settings, &photos, &output, cell),
        Command::Samples { photo } => samples(&settings, &photo),
        Command::PrepareEngines => prepare_engines(&settings),
        Command::Faces { photos, draw } => faces(&settings, &photos, draw.as_deref()),
        Command::Admin {
            command: AdminCommand::SetPassword,
        } => set_password(&settings),
        Command::Presets => motion::load_dir(&settings.presets_dir)
            .map(|presets| {
                for p in presets {
                    println!(
                        "{:<16} {:>4.1} s  {} fps  {}",
                        p.id(),
                        p.file.duration_s,
                        p.fps(),
                        p.label("en")
                    );
                }
            })
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("smileloop: {message}");
            ExitCode::FAILURE
        }
    }
}

fn selftest(settings: Settings, json: bool, photo: Option<PathBuf>) -> ExitCode {
    // The kiosk may run as another user in another folder: send it a full path.
    let photo = photo.map(|p| std::fs::canonicalize(&p).unwrap_or(p));
    let report = rocket::execute(selftest_report(settings, photo));
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("smileloop: {e}"),
        }
    } else {
        print!("{}", report.text());
    }
    if report.ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn selftest_report(settings: Settings, photo: Option<PathBuf>) -> selftest::Report {
    use selftest::{Check, Level, Report};
    // A kiosk started with port 0 says where it listens in its data folder.
    let (kiosk, admin) = match service::Listening::read(&settings.data_dir) {
        Some(l) => (l.kiosk, l.admin),
        None => (
            SocketAddr::new(settings.address, settings.port),
            SocketAddr::new(settings.admin_address, settings.admin_port),
        ),
    };
    let kiosk = service::loopback_for(kiosk.ip(), kiosk.port());
    if kiosk.port() != 0 && service::http_ok(kiosk).await {
        // The running kiosk holds the camera and the store: it runs the checks.
        let admin = service::loopback_for(admin.ip(), admin.port());
        let mut url = format!("https://{admin}/api/selftest");
        if let Some(p) = &photo {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("photo", &p.to_string_lossy())
                .finish();
            url = format!("{url}?{query}");
        }
        let data_dir = settings.data_dir.clone();
        let asked = tokio::task::spawn_blocking(move || {
            // The kiosk's own certificate and no other: a self-test that
            // reaches it has also checked the certificate staff will see.
            let tls = smileloop::admin::tls::pinned_client(&data_dir).map_err(|e| e.to_string())?;
            let agent = ureq::AgentBuilder::new()
                .tls_config(tls)
                .timeout(std::time::Duration::from_secs(400))
                .build();
            agent
                .get(&url)
                .call()
                .map_err(|e| e.to_string())
                .and_then(|r| r.into_string().map_err(|e| e.to_string()))
                .and_then(|body| serde_json::from_str::<Report>(&body).map_err(|e| e.to_string()))
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        return asked.unwrap_or_else(|e| {
            Report::from_checks(vec![Check::new(
                "kiosk",
                Level::Fail,
                format!("the running kiosk answers on {kiosk} but its self-test on {admin} did not: {e}"),
            )])
        });
    }
    match app::start(settings).await {
        Err(e) => Report::from_checks(vec![Check::new("start", Level::Fail, e.to_string())]),
        Ok(running) => {
            let report = selftest::run(
                std::sync::Arc::clone(&running.shared),
                selftest::Options { photo },
            )
            .await;
            running.stop().await;
            report
        }
    }
}

fn set_password(settings: &Settings) -> Result<(), String> {
    use std::io::IsTerminal;
    let (password, again) = if std::io::stdin().is_terminal() {
        let first =
            rpassword::prompt_password("New staff password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        (first, again)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("reading the password from stdin: {e}"))?;
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        (line.clone(), line)
    };
    smileloop::admin::auth::check_new_password(&password, &again).map_err(|e| e.to_string())?;
    let store = smileloop::jobs::JobStore::open(&settings.data_dir.join("db")).map_err(|e| {
        format!(
            "{e} (is the kiosk running? stop it first, or change the password on the admin page)"
        )
    })?;
    let tree = store.tree("staff").map_err(|e| e.to_string())?;
    smileloop::admin::StaffAuth::new(tree)
        .set_password(&password)
        .map_err(|e| e.to_string())?;
    println!("Staff password set; every staff device is signed out.");
    Ok(())
}

/// The configured animator; a fallback is reported on stderr.
fn samples(settings: &Settings, photo: &std::path::Path) -> Result<(), String> {
    let presets = motion::load_dir(&settings.presets_dir).map_err(|e| e.to_string())?;
    let image = read_photo(photo)?;
    let encoder = encode::detect(settings.encoder).map_err(|e| e.to_string())?;
    let animator = load_animator(settings);
    let dir = render::samples_dir(&settings.data_dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for preset in presets
        .iter()
        .filter(|p| p.supports_backend(animator.name()))
    {
        let job = render::Job {
            photo: &image,
            seed: 0,
            faces: None,
            preset,
            animator: animator.as_ref(),
            encoder,
            watermark_text: "Sample",
        };
        let report = render::sample(&job, &dir).map_err(|e| format!("{}: {e}", preset.id()))?;
        println!(
            "{:<16} {} frames in {:.1} s",
            preset.id(),
            report.plan.frame_count,
            report.preview_ready.as_secs_f64()
        );
    }
    println!("samples in {}", dir.display());
    Ok(())
}

fn prepare_engines(settings: &Settings) -> Result<(), String> {
    use animate::liveportrait::{warm_up, Nets, Options};
    let started = std::time::Instant::now();
    let nets = Nets::load(&Options::from_settings(settings)).map_err(|e| e.to_string())?;
    let loaded = started.elapsed();
    warm_up(&nets).map_err(|e| e.to_string())?;
    println!(
        "LivePortrait ready on {} from {} (loaded in {:.1} s, first frame in {:.1} s)",
        nets.provider.as_str(),
        settings.liveportrait_dir.display(),
        loaded.as_secs_f64(),
        (started.elapsed() - loaded).as_secs_f64()
    );
    Ok(())
}

fn load_animator(settings: &Settings) -> Box<dyn animate::Animator> {
    let (animator, fallback) = animate::from_config(settings);
    if let Some(reason) = fallback {
        eprintln!("smileloop: {reason}");
    }
    animator
}

/// Reads and decodes a photo, errors naming the file.
fn read_photo(path: &std::path::Path) -> Result<image::RgbImage, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    capture::photo::decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn animate_one(
    settings: &Settings,
    photo: &std::path::Path,
    preset_id: &str,
    out: &render::OutputPaths,
) -> Result<(), String> {
    let presets = motion::load_dir(&settings.presets_dir).map_err(|e| e.to_string())?;
    let preset = presets
        .iter()
        .find(|p| p.id() == preset_id)
        .ok_or_else(|| format!("unknown preset {preset_id}; try `smileloop presets`"))?;
    let bytes = std::fs::read(photo).map_err(|e| format!("{}: {e}", photo.display()))?;
    let t0 = std::time::Instant::now();
    let image = capture::photo::decode(&bytes).map_err(|e| format!("{}: {e}", photo.display()))?;
    let decoded = t0.elapsed();
    let encoder = encode::detect(settings.encoder).map_err(|e| e.to_string())?;
    let animator = load_animator(settings);
    let job = render::Job {
        photo: &image,
        seed: 0,
        faces: None,
        preset,
        animator: animator.as_ref(),
        encoder,
        watermark_text: &settings.watermark_text,
    };
    let report = render::render(&job, out, &mut |_, _, _| {}, &AtomicBool::new(false))
        .map_err(|e| e.to_string())?;
    let p = report.plan;
    let secs = |d: std::time::Duration| d.as_secs_f64();
    println!(
        "photo       {} ({}x{}), decoded in {:.3} s",
        photo.display(),
        image.width(),
        image.height(),
        secs(decoded)
    );
    println!(
        "backend     {} ; encoder {}",
        report.backend,
        report.encoder.element()
    );
    println!(
        "frames      {} at {}x{} @ {} fps ; preview {}x{}",
        p.frame_count, p.width, p.height, p.fps, report.preview_size.0, report.preview_size.1
    );
    println!("prepared    {:.3} s", secs(report.prepared));
    println!(
        "animate     {:.3} s ({:.1} ms/frame)",
        secs(report.animate_time),
        secs(report.animate_time) * 1000.0 / f64::from(p.frame_count.max(1))
    );
    println!("frames done {:.3} s", secs(report.frames_done));
    println!(
        "full.mp4    {:.3} s  -> {}",
        secs(report.full_ready),
        out.full.display()
    );
    println!(
        "preview.mp4 {:.3} s  -> {}",
        secs(report.preview_ready),
        out.preview.display()
    );
    println!(
        "encode fps  {:.1} (HD frames / time to full.mp4)",
        f64::from(p.frame_count) / secs(report.full_ready)
    );
    Ok(())
}

fn faces(
    settings: &Settings,
    photos: &[PathBuf],
    draw: Option<&std::path::Path>,
) -> Result<(), String> {
    let models = smileloop::face::FaceModels::load(&settings.onnxruntime_lib, &settings.models_dir)
        .map_err(|e| e.to_string())?;
    for path in photos {
        let image = read_photo(path)?;
        let t = std::time::Instant::now();
        let found = models.faces(&image).map_err(|e| e.to_string())?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if let Some(dir) = draw {
            let mut marked = image.clone();
            for f in &found {
                for p in &f.landmarks {
                    let (x, y) = (p[0].round() as i64, p[1].round() as i64);
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (-1, 0), (0, -1)] {
                        let (px, py) = (x + dx, y + dy);
                        if px >= 0
                            && py >= 0
                            && (px as u32) < marked.width()
                            && (py as u32) < marked.height()
                        {
                            marked.put_pixel(px as u32, py as u32, image::Rgb([40, 255, 80]));
                        }
                    }
                }
            }
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let out = dir.join(format!("{name}.faces.png"));
            marked
                .save(&out)
                .map_err(|e| format!("{}: {e}", out.display()))?;
        }
        println!("{}: {} face(s) in {ms:.1} ms", path.display(), found.len());
        for f in &found {
            let [x, y, w, h] = f.bbox;
            let verdict = match smileloop::face::check::face(f, image.width(), image.height()) {
                Ok(()) => "ok".to_string(),
                Err(p) => p.to_string(),
            };
            println!(
                "  box {x:.0},{y:.0} {w:.0}x{h:.0}  score {:.2}  eyes {:.0} px apart  turn {:.2}  {verdict}",
                f.score,
                f.inter_ocular(),
                smileloop::face::check::turn(f)
            );
        }
    }
    Ok(())
}

fn sheet(
    settings: &Settings,
    photos: &[PathBuf],
    output: &std::path::Path,
    cell: u32,
) -> Result<(), String> {
    let animator = load_animator(settings);
    let presets: Vec<_> = motion::load_dir(&settings.presets_dir)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|p| p.supports_backend(animator.name()))
        .collect();
    let mut rows: Vec<Vec<image::RgbImage>> = Vec::new();
    for path in photos {
        let photo = read_photo(path)?;
        let mut row = vec![photo.clone()];
        for preset in &presets {
            let mut anim = animator
                .start(&photo, preset, &animate::Request::default())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let peak = preset.peak_frame();
            let mut frame = None;
            for _ in 0..=peak {
                frame = anim.next_frame().map_err(|e| e.to_string())?.cloned();
            }
            row.push(frame.ok_or("no frames")?);
        }
        rows.push(row);
    }
    let mut scaler = smileloop::geometry::Scaler::default();
    let cells: Vec<Vec<image::RgbImage>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|img| {
                    let w = (img.width() as f32 * cell as f32 / img.height() as f32).round() as u32;
                    scaler.scale(img, w.max(1), cell)
                })
                .collect()
        })
        .collect();
    let width = cells
        .iter()
        .map(|r| r.iter().map(|c| c.width() + 4).sum::<u32>())
        .max()
        .unwrap_or(1);
    let mut sheet = image::RgbImage::from_pixel(
        width,
        (cell + 4) * cells.len() as u32,
        image::Rgb([255, 255, 255]),
    );
    for (j, row) in cells.iter().enumerate() {
        let mut x = 0;
        for c in row {
            image::imageops::replace(
                &mut sheet,
                c,
                i64::from(x),
                i64::from(j as u32 * (cell + 4)),
            );
            x += c.width() + 4;
        }
    }
    sheet
        .save(output)
        .map_err(|e| format!("{}: {e}", output.display()))?;
    println!(
        "columns: photo, {}",
        presets
            .iter()
            .map(|p| p.id())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
