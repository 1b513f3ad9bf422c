//! The kiosk listener's API: uploads, job status, preview, presets, health.
//! Bound to the kiosk itself (loopback by default); never published.

use std::sync::Arc;

use rocket::form::{Errors, Form};
use rocket::fs::TempFile;
use rocket::http::{ContentType, Status as HttpStatus};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::serde::json::Json;
use rocket::{get, post, routes, FromForm, Route, State};
use serde::Serialize;

use super::error::ApiError;
use super::ranged::RangedFile;
use super::upload::{form_error, read_upload};
use crate::config::{LiveSettings, Settings};
use crate::jobs::intake::Intake;
use crate::jobs::queue::WorkerStatus;
use crate::jobs::retention::{InUse, InUseGuard};
use crate::jobs::{job_dir, Job, JobId, JobStore, MalformedId, Status, UnlockReason};
use crate::motion::{BadPresetId, PresetId};
use crate::state::{Payments, Presets, Renderer, Uptime};

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
    settings: &State<Settings>,
    intake: &State<Arc<Intake>>,
) -> Result<Json<Checked>, ApiError> {
    let form = form.map_err(|e| form_error(&e, settings.max_upload_mb))?;
    let bytes = read_upload(&form.photo).await?;
    let checked = intake.check(bytes).await?;
    Ok(Json(Checked {
        faces: checked.faces(),
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

/// `POST /api/jobs` (multipart: `photo`, `preset`).
#[post("/api/jobs", data = "<form>")]
async fn create_job(
    form: Result<Form<Upload<'_>>, Errors<'_>>,
    settings: &State<Settings>,
    intake: &State<Arc<Intake>>,
) -> Result<(HttpStatus, Json<Created>), ApiError> {
    let form = form.map_err(|e| form_error(&e, settings.max_upload_mb))?;
    let bytes = read_upload(&form.photo).await?;
    let job = intake.create(&form.preset, bytes).await?;
    Ok((
        HttpStatus::Created,
        Json(Created {
            job_id: job.id.to_string(),
            token: job.token.to_string(),
            status: job.status,
            faces: job.faces.unwrap_or(0),
        }),
    ))
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
    backend: Option<crate::backend::Backend>,
}

fn load(store: &JobStore, id: Result<JobId, MalformedId>) -> Result<Job, ApiError> {
    Ok(super::lookup::job(store, id)?)
}

/// `GET /api/jobs/{id}`
#[get("/api/jobs/<id>")]
fn get_job(
    id: Result<JobId, MalformedId>,
    store: &State<JobStore>,
    settings: &State<Settings>,
    worker: &State<Arc<WorkerStatus>>,
    payments: &State<Payments>,
) -> Result<Json<JobView>, ApiError> {
    let job = load(store, id)?;
    let has_preview = matches!(job.status, Status::PreviewReady | Status::Unlocked);
    let base = settings.public_base();
    Ok(Json(JobView {
        id: job.id.to_string(),
        status: job.status,
        preset: job.preset.to_string(),
        frames_done: job.progress.frames_done,
        frames_total: job.progress.frames_total,
        queue_position: queue_position(store, worker, &job),
        error: job.error.clone(),
        created_at: job.created_at,
        preview_url: has_preview.then(|| format!("/api/jobs/{}/preview.mp4", job.id)),
        poster_url: has_preview.then(|| format!("/api/jobs/{}/poster.jpg", job.id)),
        guest_url: guest_url(base, &job),
        download_url: (job.status == Status::Unlocked).then(|| format!("{base}/d/{}", job.token)),
        price_cents: job.price.as_ref().map(|p| p.cents),
        currency: job.price.as_ref().map(|p| p.currency.clone()),
        price_decimals: job
            .price
            .as_ref()
            .map(|p| crate::money::decimals(&p.currency)),
        faces: job.faces,
        unlock: job.unlock,
        payments_configured: payments.configured(),
        payments_offline: payments.offline(),
        backend: job.backend,
    }))
}

fn queue_position(store: &JobStore, worker: &WorkerStatus, job: &Job) -> Option<usize> {
    if job.status != Status::Queued {
        return None;
    }
    let ahead = store
        .ids_with_status(Status::Queued)
        .ok()?
        .iter()
        .position(|id| *id == job.id)?;
    Some(ahead + usize::from(worker.current().is_some()) + 1)
}

/// Finished jobs' files, each held against retention while it is sent.
pub struct Outputs<'r> {
    in_use: &'r Arc<InUse>,
    settings: &'r Settings,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Outputs<'r> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let r = req.rocket();
        super::from_states((|| {
            Some(Outputs {
                in_use: r.state::<Arc<InUse>>()?,
                settings: r.state()?,
            })
        })())
    }
}

impl Outputs<'_> {
    /// Opens `job`'s file `name`: 409 while it is not made yet, 410 once
    /// retention deleted it.
    pub async fn open(
        &self,
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
        let guard = self.in_use.begin(job.id);
        let path = job_dir(&self.settings.data_dir, job.id).join(name);
        let file = RangedFile::open(&path, content_type)
            .await
            .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
        Ok(file.keeping(guard))
    }
}

/// `GET /api/jobs/{id}/preview.mp4` (range requests supported)
#[get("/api/jobs/<id>/preview.mp4")]
async fn preview(
    id: Result<JobId, MalformedId>,
    store: &State<JobStore>,
    outputs: Outputs<'_>,
) -> Result<RangedFile<InUseGuard>, ApiError> {
    let job = load(store, id)?;
    let mp4 = ContentType::new("video", "mp4");
    outputs.open(&job, job.files.preview.as_ref(), mp4).await
}

/// `GET /api/jobs/{id}/poster.jpg`
#[get("/api/jobs/<id>/poster.jpg")]
async fn poster(
    id: Result<JobId, MalformedId>,
    store: &State<JobStore>,
    outputs: Outputs<'_>,
) -> Result<RangedFile<InUseGuard>, ApiError> {
    let job = load(store, id)?;
    outputs
        .open(&job, job.files.poster.as_ref(), ContentType::JPEG)
        .await
}

/// The guest URL for a job: the token, never the job id. `base`: the
/// guest listener's public address.
fn guest_url(base: &str, job: &Job) -> String {
    format!("{base}/g/{}", job.token)
}

/// `GET /api/jobs/{id}/qr.svg`: the guest link for the kiosk screen.
#[get("/api/jobs/<id>/qr.svg")]
fn qr_svg(
    id: Result<JobId, MalformedId>,
    store: &State<JobStore>,
    settings: &State<Settings>,
) -> Result<(ContentType, String), ApiError> {
    let job = load(store, id)?;
    let svg =
        super::qr::svg(&guest_url(settings.public_base(), &job)).map_err(ApiError::internal)?;
    Ok((ContentType::SVG, svg))
}

/// `GET /api/jobs/{id}/qr.png`: the same link, for print.
#[get("/api/jobs/<id>/qr.png")]
fn qr_png(
    id: Result<JobId, MalformedId>,
    store: &State<JobStore>,
    settings: &State<Settings>,
) -> Result<(ContentType, Vec<u8>), ApiError> {
    let job = load(store, id)?;
    let png =
        super::qr::png(&guest_url(settings.public_base(), &job)).map_err(ApiError::internal)?;
    Ok((ContentType::PNG, png))
}

impl<'a> rocket::request::FromParam<'a> for PresetId {
    type Error = BadPresetId;

    fn from_param(param: &'a str) -> Result<Self, BadPresetId> {
        param.parse()
    }
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
fn presets(
    live: &State<Arc<LiveSettings>>,
    presets: &State<Presets>,
    renderer: &State<Renderer>,
    settings: &State<Settings>,
) -> Json<Vec<PresetView>> {
    let event = live.get();
    let mut enabled: Vec<_> = presets
        .all()
        .iter()
        .filter(|p| p.supports_backend(renderer.animator.backend()))
        .filter_map(|p| event.preset_rank(p.id()).map(|rank| (rank, p)))
        .collect();
    enabled.sort_by_key(|(rank, _)| *rank);
    let samples = crate::render::samples_dir(&settings.data_dir);
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
async fn sample(
    id: Result<PresetId, BadPresetId>,
    file: &str,
    presets: &State<Presets>,
    settings: &State<Settings>,
) -> Result<RangedFile, ApiError> {
    let missing = || {
        ApiError::new(
            HttpStatus::NotFound,
            "no_sample",
            "This animation has no sample.",
        )
    };
    // Only known preset ids reach the file system.
    let id = id.map_err(|_| missing())?;
    let preset = presets.get(id.as_str()).ok_or_else(missing)?;
    let content_type = match file {
        "sample.mp4" => ContentType::new("video", "mp4"),
        "sample.jpg" => ContentType::JPEG,
        _ => return Err(missing()),
    };
    let ext = if file.ends_with("mp4") { "mp4" } else { "jpg" };
    let path =
        crate::render::samples_dir(&settings.data_dir).join(format!("{}.{ext}", preset.id()));
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
fn health(
    live: &State<Arc<LiveSettings>>,
    started: &State<Uptime>,
    renderer: &State<Renderer>,
    store: &State<JobStore>,
    settings: &State<Settings>,
    worker: &State<Arc<WorkerStatus>>,
    payments: &State<Payments>,
) -> Json<Health> {
    let event = live.get();
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: started.seconds(),
        animator: renderer.animator.name(),
        animator_note: renderer.status(),
        encoder: renderer.encoder.element(),
        encoder_hardware: renderer.encoder.is_hardware(),
        queued: store.count_with_status(Status::Queued),
        queue_limit: settings.queue_limit,
        rendering: worker.current().map(|id| id.to_string()),
        event_mode: event.event_mode,
        event_name: event.event_name.clone(),
        language: event.kiosk_language.clone(),
        idle_timeout_s: event.idle_timeout_s,
        screen_hours: event.screen_hours.window(),
        retention_unpaid_hours: event.retention_unpaid_hours,
        max_upload_mb: settings.max_upload_mb,
        payments_configured: payments.configured(),
        payments_offline: payments.offline(),
    })
}
