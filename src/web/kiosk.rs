//! The kiosk listener's API: uploads, job status, preview, presets, health.
//! Bound to the kiosk itself (loopback by default); never published.

use std::sync::Arc;

use rocket::form::{Errors, Form};
use rocket::fs::TempFile;
use rocket::http::{ContentType, Status as HttpStatus};
use rocket::serde::json::Json;
use rocket::{get, post, routes, FromForm, Route, State};
use serde::Serialize;
use tokio::io::AsyncReadExt;

use super::error::ApiError;
use super::ranged::RangedFile;
use crate::animate::AnimateError;
use crate::capture::photo;
use crate::config::EventMode;
use crate::face::Found;
use crate::jobs::retention::InUseGuard;
use crate::jobs::{job_dir, now_ms, Job, JobId, MalformedId, Price, Status, UnlockReason};
use crate::state::Shared;

pub fn routes() -> Vec<Route> {
    routes![
        create_job,
        check_photo,
        get_job,
        preview,
        poster,
        qr_svg,
        qr_png,
        presets,
        sample,
        health,
        words
    ]
}

/// `GET /i18n.js`: the kiosk screen's words, from the catalogue the phone
/// pages use too.
#[get("/i18n.js")]
fn words() -> (ContentType, String) {
    (
        ContentType::JavaScript,
        format!(
            "\"use strict\";\nwindow.SMILELOOP_I18N = {};\n",
            crate::i18n::CATALOGUE_JSON.trim_end()
        ),
    )
}

#[derive(FromForm)]
pub struct PhotoOnly<'r> {
    photo: TempFile<'r>,
}

#[derive(Serialize)]
pub struct Checked {
    /// How many faces will come alive (0 for a whole-photo animator).
    faces: u32,
}

/// `POST /api/photo-check` (multipart: `photo`): what the review screen
/// tells the guest before a job exists. The faces found are kept a moment,
/// so the job that follows does not look for them again.
#[post("/api/photo-check", data = "<form>")]
async fn check_photo(
    form: Result<Form<PhotoOnly<'_>>, Errors<'_>>,
    app: &State<Arc<Shared>>,
) -> Result<Json<Checked>, ApiError> {
    let form = form.map_err(|e| form_error(&e, app.settings.max_upload_mb))?;
    let bytes = read_upload(&form.photo).await?;
    let (_, _, found) = checked_photo(app, bytes).await?;
    Ok(Json(Checked {
        faces: found.map_or(0, |f| f.animated.len() as u32),
    }))
}

#[derive(FromForm)]
pub struct Upload<'r> {
    photo: TempFile<'r>,
    preset: String,
}

#[derive(Serialize)]
pub struct Created {
    job_id: String,
    token: String,
    status: Status,
    /// How many faces will come alive (0 for a whole-photo animator).
    faces: u32,
}

pub(super) fn form_error(errors: &Errors<'_>, limit_mb: u32) -> ApiError {
    use rocket::form::error::ErrorKind;
    for e in errors.iter() {
        match &e.kind {
            // Other I/O errors here are the client's bytes (bad UTF-8, a
            // cut-off body): a 400 below.
            ErrorKind::Io(io) if crate::jobs::is_disk_full(io) => return ApiError::storage_full(),
            ErrorKind::InvalidLength { .. } => {
                return ApiError::new(
                    HttpStatus::PayloadTooLarge,
                    "upload_too_large",
                    format!(
                        "That photo is larger than {limit_mb} MB. Please choose a smaller one."
                    ),
                );
            }
            ErrorKind::Missing => {
                let field = e.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
                return ApiError::new(
                    HttpStatus::BadRequest,
                    "missing_field",
                    format!("The form field `{field}` is missing."),
                );
            }
            _ => {}
        }
    }
    ApiError::new(
        HttpStatus::BadRequest,
        "bad_form",
        format!("The upload could not be read: {errors}"),
    )
}

/// `POST /api/jobs` (multipart: `photo`, `preset`).
#[post("/api/jobs", data = "<form>")]
async fn create_job(
    form: Result<Form<Upload<'_>>, Errors<'_>>,
    app: &State<Arc<Shared>>,
) -> Result<(HttpStatus, Json<Created>), ApiError> {
    let form = form.map_err(|e| form_error(&e, app.settings.max_upload_mb))?;
    let event = app.live.get();
    let preset = app
        .preset(&form.preset)
        .filter(|p| event.preset_rank(p.id()).is_some())
        .ok_or_else(|| {
            ApiError::new(
                HttpStatus::UnprocessableEntity,
                "unknown_preset",
                format!(
                    "There is no animation called `{}`.",
                    form.preset.chars().take(40).collect::<String>()
                ),
            )
        })?;
    if crate::jobs::free_bytes(&app.settings.data_dir)
        .is_some_and(|f| f < crate::jobs::MIN_FREE_BYTES)
    {
        return Err(ApiError::storage_full());
    }
    // Held until the job is recorded as queued (dropped at the end).
    let _place = app
        .queue
        .reserve(
            || app.store.count_with_status(Status::Queued),
            app.settings.queue_limit as usize,
        )
        .ok_or_else(|| {
            ApiError::new(
                HttpStatus::ServiceUnavailable,
                "queue_full",
                "The kiosk is busy with other guests' photos. Please try again in a minute.",
            )
        })?;
    let bytes = read_upload(&form.photo).await?;
    let (info, bytes, found) = checked_photo(app, bytes).await?;

    let source = format!("source.{}", info.extension());
    let mut job = Job::new(preset.id(), &source, now_ms());
    let faces_json = found
        .as_ref()
        .filter(|f| !f.animated.is_empty())
        .and_then(|f| serde_json::to_vec(f).ok());
    if faces_json.is_some() {
        job.files.faces = Some(FACES_FILE.to_string());
    }
    job.faces = found.as_ref().map(|f| f.animated.len() as u32);
    job.price = (event.event_mode == EventMode::Paid).then(|| Price {
        cents: event.price_cents,
        currency: event.currency.clone(),
    });
    let dir = job_dir(&app.settings.data_dir, job.id);
    let written = match &faces_json {
        Some(faces) => write_durably(&dir, FACES_FILE, faces).await,
        None => Ok(()),
    };
    written
        .and(write_durably(&dir, &source, &bytes).await)
        .map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            ApiError::io("saving upload", &e)
        })?;
    let recorded = app
        .store
        .insert_new(&job)
        .and_then(|()| app.store.transition(job.id, Status::Queued, |_| {}));
    if let Err(e) = recorded {
        let _ = app.store.delete(job.id);
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e.into());
    }
    app.store.flush().await?;
    tracing::info!(job = %job.id, preset = preset.id(), bytes = bytes.len(), faces = job.faces.unwrap_or(0), "queued");
    app.metrics.photo_accepted(job.faces.unwrap_or(0));
    app.queue.wake();
    Ok((
        HttpStatus::Created,
        Json(Created {
            job_id: job.id.to_string(),
            token: job.token.to_string(),
            status: Status::Queued,
            faces: job.faces.unwrap_or(0),
        }),
    ))
}

/// The bytes of an uploaded file field.
pub(super) async fn read_upload(file: &TempFile<'_>) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    let mut reader = file.open().await.map_err(ApiError::internal)?;
    reader
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| ApiError::io("reading upload", &e))?;
    Ok(bytes)
}

/// How long a photo waits for a turn at decoding before `503 busy`.
const INTAKE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The file in a job's folder that holds the faces found at upload.
pub const FACES_FILE: &str = "faces.json";

/// Checks a photo before anything is promised: its header, a full decode
/// (proves the file is whole) and the animator's face check, so that the
/// guest hears at once when it cannot be animated. Returns the faces found
/// (none when the check could not run: the worker finds them).
pub(super) async fn checked_photo(
    app: &Shared,
    bytes: Vec<u8>,
) -> Result<(photo::PhotoInfo, Vec<u8>, Option<Found>), ApiError> {
    let info = photo::inspect(&bytes)?;
    // A flood of uploads (phones on the Wi-Fi) waits its turn briefly,
    // then hears that the kiosk is busy: decodes never pile up in memory.
    let turn = tokio::time::timeout(INTAKE_WAIT, Arc::clone(&app.intake).acquire_owned())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| {
            ApiError::new(
                HttpStatus::ServiceUnavailable,
                "busy",
                "The kiosk is checking other photos right now. Please try again in a moment.",
            )
        })?;
    let animator = Arc::clone(&app.animator);
    let recent = Arc::clone(&app.recent_faces);
    let (bytes, found) =
        tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, Option<Found>), ApiError> {
            let _turn = turn;
            // These very bytes were decoded and checked a moment ago.
            if let Some(found) = recent.get(&bytes) {
                return Ok((bytes, Some(found)));
            }
            let image = photo::decode(&bytes)?;
            match animator.check_photo(&image) {
                Err(AnimateError::Photo(problem)) => Err(problem.into()),
                // An inference hiccup is the worker's to retry, not the guest's fault.
                Err(e) => {
                    tracing::warn!("photo check skipped: {e}");
                    Ok((bytes, None))
                }
                Ok(found) => {
                    recent.put(&bytes, found.clone());
                    Ok((bytes, Some(found)))
                }
            }
        })
        .await
        .map_err(ApiError::internal)??;
    Ok((info, bytes, found))
}

async fn write_durably(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    tokio::fs::create_dir_all(dir).await?;
    let mut f = tokio::fs::File::create(dir.join(name)).await?;
    f.write_all(bytes).await?;
    f.sync_all().await?;
    // The folder's entry for the file too, or a power cut can lose it.
    tokio::fs::File::open(dir).await?.sync_all().await
}

#[derive(Serialize)]
pub struct JobView {
    id: String,
    status: Status,
    preset: String,
    frames_done: u32,
    frames_total: u32,
    /// While queued: how many renders come before this one (1 = next).
    queue_position: Option<usize>,
    error: Option<String>,
    created_at: i64,
    preview_url: Option<String>,
    poster_url: Option<String>,
    guest_url: String,
    download_url: Option<String>,
    /// Absent in free event mode.
    price_cents: Option<u32>,
    currency: Option<String>,
    /// Digits after the decimal point in `currency` (0 for JPY): the
    /// price is `price_cents / 10^price_decimals`.
    price_decimals: Option<u32>,
    /// How many faces come alive (absent: not known yet).
    faces: Option<u32>,
    /// Why the download is open: `paid`, `event`, `staff_cash`, `staff_comp`.
    unlock: Option<UnlockReason>,
    /// Whether the guest can pay on the phone (else: ask staff).
    payments_configured: bool,
    /// Stripe could not be reached at the last try.
    payments_offline: bool,
    /// The animator backend that made the video (absent until it is made).
    backend: Option<String>,
}

fn load(app: &Shared, id: Result<JobId, MalformedId>) -> Result<Job, ApiError> {
    let id = id.map_err(|_| ApiError::malformed_id())?;
    app.store.get(id)?.ok_or_else(ApiError::job_not_found)
}

/// `GET /api/jobs/{id}`
#[get("/api/jobs/<id>")]
fn get_job(
    id: Result<JobId, MalformedId>,
    app: &State<Arc<Shared>>,
) -> Result<Json<JobView>, ApiError> {
    let job = load(app, id)?;
    let has_preview = matches!(job.status, Status::PreviewReady | Status::Unlocked);
    let base = app.settings.public_base();
    Ok(Json(JobView {
        id: job.id.to_string(),
        status: job.status,
        preset: job.preset.clone(),
        frames_done: job.progress.frames_done,
        frames_total: job.progress.frames_total,
        queue_position: queue_position(app, &job),
        error: job.error.clone(),
        created_at: job.created_at,
        preview_url: has_preview.then(|| format!("/api/jobs/{}/preview.mp4", job.id)),
        poster_url: has_preview.then(|| format!("/api/jobs/{}/poster.jpg", job.id)),
        guest_url: guest_url(app, &job),
        download_url: (job.status == Status::Unlocked).then(|| format!("{base}/d/{}", job.token)),
        price_cents: job.price.as_ref().map(|p| p.cents),
        currency: job.price.as_ref().map(|p| p.currency.clone()),
        price_decimals: job
            .price
            .as_ref()
            .map(|p| crate::money::decimals(&p.currency)),
        faces: job.faces,
        unlock: job.unlock,
        payments_configured: app.payments_configured(),
        payments_offline: app.payments_offline(),
        backend: job.backend.clone(),
    }))
}

fn queue_position(app: &Shared, job: &Job) -> Option<usize> {
    if job.status != Status::Queued {
        return None;
    }
    let ahead = app
        .store
        .ids_with_status(Status::Queued)
        .ok()?
        .iter()
        .position(|id| *id == job.id)?;
    Some(ahead + usize::from(app.queue.current().is_some()) + 1)
}

/// Opens one of a finished job's files, held against retention while sent.
pub async fn open_output(
    app: &Shared,
    job: &Job,
    name: Option<&String>,
    content_type: ContentType,
) -> Result<RangedFile<InUseGuard>, ApiError> {
    let not_ready = || {
        ApiError::new(
            HttpStatus::Conflict,
            "not_ready",
            "The video is not ready yet.",
        )
    };
    if !matches!(job.status, Status::PreviewReady | Status::Unlocked) {
        return Err(if job.status == Status::Expired {
            ApiError::new(
                HttpStatus::Gone,
                "expired",
                "This video has been deleted after the event's retention time.",
            )
        } else {
            not_ready()
        });
    }
    let name = name.ok_or_else(not_ready)?;
    let guard = app.in_use.begin(job.id);
    let path = job_dir(&app.settings.data_dir, job.id).join(name);
    let file = RangedFile::open(&path, content_type)
        .await
        .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
    Ok(file.keeping(guard))
}

/// `GET /api/jobs/{id}/preview.mp4` (range requests supported)
#[get("/api/jobs/<id>/preview.mp4")]
async fn preview(
    id: Result<JobId, MalformedId>,
    app: &State<Arc<Shared>>,
) -> Result<RangedFile<InUseGuard>, ApiError> {
    let job = load(app, id)?;
    open_output(
        app,
        &job,
        job.files.preview.as_ref(),
        ContentType::new("video", "mp4"),
    )
    .await
}

/// `GET /api/jobs/{id}/poster.jpg`
#[get("/api/jobs/<id>/poster.jpg")]
async fn poster(
    id: Result<JobId, MalformedId>,
    app: &State<Arc<Shared>>,
) -> Result<RangedFile<InUseGuard>, ApiError> {
    let job = load(app, id)?;
    open_output(app, &job, job.files.poster.as_ref(), ContentType::JPEG).await
}

/// The guest URL for a job: the token, never the job id.
fn guest_url(app: &Shared, job: &Job) -> String {
    format!("{}/g/{}", app.settings.public_base(), job.token)
}

/// `GET /api/jobs/{id}/qr.svg`: the guest link for the kiosk screen.
#[get("/api/jobs/<id>/qr.svg")]
fn qr_svg(
    id: Result<JobId, MalformedId>,
    app: &State<Arc<Shared>>,
) -> Result<(ContentType, String), ApiError> {
    let job = load(app, id)?;
    let svg = super::qr::svg(&guest_url(app, &job)).map_err(ApiError::internal)?;
    Ok((ContentType::SVG, svg))
}

/// `GET /api/jobs/{id}/qr.png`: the same link, for print.
#[get("/api/jobs/<id>/qr.png")]
fn qr_png(
    id: Result<JobId, MalformedId>,
    app: &State<Arc<Shared>>,
) -> Result<(ContentType, Vec<u8>), ApiError> {
    let job = load(app, id)?;
    let png = super::qr::png(&guest_url(app, &job)).map_err(ApiError::internal)?;
    Ok((ContentType::PNG, png))
}

#[derive(Serialize)]
pub struct PresetView {
    id: String,
    label: std::collections::BTreeMap<String, String>,
    duration_s: f32,
    fps: u32,
    frames: u32,
    /// A sample loop of this animation (`smileloop samples`), if rendered.
    sample_url: Option<String>,
    sample_poster_url: Option<String>,
}

/// `GET /api/presets`, in display order.
#[get("/api/presets")]
fn presets(app: &State<Arc<Shared>>) -> Json<Vec<PresetView>> {
    let event = app.live.get();
    let mut enabled: Vec<_> = app
        .presets
        .iter()
        .filter(|p| p.supports_backend(app.animator.name()))
        .filter_map(|p| event.preset_rank(p.id()).map(|rank| (rank, p)))
        .collect();
    enabled.sort_by_key(|(rank, _)| *rank);
    let samples = crate::render::samples_dir(&app.settings.data_dir);
    let has = |id: &str, ext: &str| samples.join(format!("{id}.{ext}")).is_file();
    Json(
        enabled
            .into_iter()
            .map(|(_, p)| PresetView {
                id: p.id().to_string(),
                label: p.file.label.clone(),
                duration_s: p.file.duration_s,
                fps: p.fps(),
                frames: p.frame_count(),
                sample_url: has(p.id(), "mp4")
                    .then(|| format!("/api/presets/{}/sample.mp4", p.id())),
                sample_poster_url: has(p.id(), "jpg")
                    .then(|| format!("/api/presets/{}/sample.jpg", p.id())),
            })
            .collect(),
    )
}

/// `GET /api/presets/{id}/sample.mp4` or `.jpg`: the preset's sample loop.
#[get("/api/presets/<id>/<file>")]
async fn sample(id: &str, file: &str, app: &State<Arc<Shared>>) -> Result<RangedFile, ApiError> {
    let missing = || {
        ApiError::new(
            HttpStatus::NotFound,
            "no_sample",
            "This animation has no sample.",
        )
    };
    // Only known preset ids reach the file system.
    let preset = app.preset(id).ok_or_else(missing)?;
    let content_type = match file {
        "sample.mp4" => ContentType::new("video", "mp4"),
        "sample.jpg" => ContentType::JPEG,
        _ => return Err(missing()),
    };
    let ext = if file.ends_with("mp4") { "mp4" } else { "jpg" };
    let path =
        crate::render::samples_dir(&app.settings.data_dir).join(format!("{}.{ext}", preset.id()));
    RangedFile::open(&path, content_type)
        .await
        .map_err(|_| missing())
}

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
    version: &'static str,
    uptime_s: u64,
    animator: &'static str,
    animator_note: Option<String>,
    encoder: &'static str,
    encoder_hardware: bool,
    queued: usize,
    queue_limit: u32,
    rendering: Option<String>,
    event_mode: crate::config::EventMode,
    event_name: String,
    language: String,
    idle_timeout_s: u32,
    /// When the screen stays lit: minutes after midnight (local), start
    /// and end; null for always.
    screen_hours: Option<[u16; 2]>,
    /// Hours an unpaid guest's photo is kept (told to the guest).
    retention_unpaid_hours: u32,
    /// The largest photo taken, in MB (the screen's words for a refusal).
    max_upload_mb: u32,
    payments_configured: bool,
    payments_offline: bool,
}

/// `GET /api/health`
#[get("/api/health")]
fn health(app: &State<Arc<Shared>>) -> Json<Health> {
    let event = app.live.get();
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: app.started.elapsed().as_secs(),
        animator: app.animator.name(),
        animator_note: app.animator_status(),
        encoder: app.encoder.element(),
        encoder_hardware: app.encoder.is_hardware(),
        queued: app.store.count_with_status(Status::Queued),
        queue_limit: app.settings.queue_limit,
        rendering: app.queue.current().map(|id| id.to_string()),
        event_mode: event.event_mode,
        event_name: event.event_name.clone(),
        language: event.kiosk_language.clone(),
        idle_timeout_s: event.idle_timeout_s,
        // Checked at start-up, so a bad value cannot reach here.
        screen_hours: crate::config::parse_screen_hours(&event.screen_hours)
            .ok()
            .flatten(),
        retention_unpaid_hours: event.retention_unpaid_hours,
        max_upload_mb: app.settings.max_upload_mb,
        payments_configured: app.payments_configured(),
        payments_offline: app.payments_offline(),
    })
}
