//! The subcommands that render or look at photos: `animate`, `sheet`,
//! `samples`, `faces`, `presets` and `prepare-engines`.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use crate::config::Settings;
use crate::{animate, capture, encode, motion, render};

/// `smileloop presets`: one line per preset.
pub(super) fn presets(settings: &Settings) -> Result<(), String> {
    let presets = motion::load_dir(&settings.presets_dir).map_err(|e| e.to_string())?;
    for p in presets {
        println!(
            "{:<16} {:>4.1} s  {} fps  {}",
            p.id(),
            p.file.duration_s,
            p.fps(),
            p.label("en")
        );
    }
    Ok(())
}

/// Where `animate` writes: OUTPUT, and beside it the preview and poster
/// unless named.
pub(super) fn outputs(
    output: PathBuf,
    preview: Option<PathBuf>,
    poster: Option<PathBuf>,
) -> render::OutputPaths {
    let with_suffix = |suffix: &str| {
        let mut p = output.clone().into_os_string();
        p.push(suffix);
        PathBuf::from(p)
    };
    render::OutputPaths {
        preview: preview.unwrap_or_else(|| with_suffix(".preview.mp4")),
        poster: poster.unwrap_or_else(|| with_suffix(".poster.jpg")),
        still: None,
        full: output,
    }
}

/// Renders every preset's sample loop into `data_dir/samples`.
pub(super) fn samples(settings: &Settings, photo: &std::path::Path) -> Result<(), String> {
    let presets = motion::load_dir(&settings.presets_dir).map_err(|e| e.to_string())?;
    let image = read_photo(photo)?;
    let encoder = encode::detect(settings.encoder).map_err(|e| e.to_string())?;
    let animator = load_animator(settings);
    let dir = render::samples_dir(&settings.data_dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for preset in presets
        .iter()
        .filter(|p| p.supports_backend(animator.backend()))
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

pub(super) fn prepare_engines(settings: &Settings) -> Result<(), String> {
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

/// The configured animator; a fallback is reported on stderr.
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

pub(super) fn animate_one(
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

pub(super) fn faces(
    settings: &Settings,
    photos: &[PathBuf],
    draw: Option<&std::path::Path>,
) -> Result<(), String> {
    let models = crate::face::FaceModels::load(&settings.onnxruntime_lib, &settings.models_dir)
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
            let verdict = match crate::face::check::face(f, image.width(), image.height()) {
                Ok(()) => "ok".to_string(),
                Err(p) => p.to_string(),
            };
            println!(
                "  box {x:.0},{y:.0} {w:.0}x{h:.0}  score {:.2}  eyes {:.0} px apart  turn {:.2}  {verdict}",
                f.score,
                f.inter_ocular(),
                crate::face::check::turn(f)
            );
        }
    }
    Ok(())
}

pub(super) fn sheet(
    settings: &Settings,
    photos: &[PathBuf],
    output: &std::path::Path,
    cell: u32,
) -> Result<(), String> {
    let animator = load_animator(settings);
    let presets: Vec<_> = motion::load_dir(&settings.presets_dir)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|p| p.supports_backend(animator.backend()))
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
    lay_out(&rows, cell)
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

/// The sheet: one row per photo, every picture scaled to `cell` high, 4 px
/// of white between them.
fn lay_out(rows: &[Vec<image::RgbImage>], cell: u32) -> image::RgbImage {
    let mut scaler = crate::geometry::Scaler::default();
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
}
