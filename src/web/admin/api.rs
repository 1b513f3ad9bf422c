//! `/api/admin/…`: the dashboard's figures and the job list as JSON, and
//! the job actions for scripts (`X-CSRF-Token` header).

use std::sync::Arc;

use rocket::request::{FromRequest, Outcome, Request};
use rocket::serde::json::Json;
use rocket::{get, post, routes, Route, State};
use serde::{Deserialize, Serialize};

use super::{AtDesk, Staff};
use crate::admin::stats;
use crate::capture::CameraHub;
use crate::clock::SharedClock;
use crate::config::{LiveSettings, Settings};
use crate::jobs::queue::WorkerStatus;
use crate::jobs::{Job, JobId, JobStore, MalformedId, Status, UnlockReason};
use crate::state::{Payments, Presets, Renderer, Uptime};
use crate::web::error::ApiError;

pub fn routes() -> Vec<Route> {
    routes![dashboard, jobs, unlock, rerender, delete]
}

#[derive(Serialize)]
pub struct Dashboard {
    pub version: &'static str,
    pub uptime_s: u64,
    pub queued: usize,
    pub rendering: Option<RenderingNow>,
    /// The last 24 hours.
    pub last_24h: stats::Figures,
    pub animator: &'static str,
    pub animator_note: Option<String>,
    pub last_ms_per_frame: Option<f64>,
    pub encoder: &'static str,
    pub encoder_hardware: bool,
    pub camera: crate::capture::CameraStatus,
    pub disk: Option<stats::Disk>,
    pub retention_fits: Option<bool>,
    pub thermal: Vec<stats::Thermal>,
    pub payments_configured: bool,
    pub payments_offline: bool,
    pub event_mode: crate::config::EventMode,
}

#[derive(Serialize)]
pub struct RenderingNow {
    pub job: String,
    pub preset: String,
    pub frames_done: u32,
    pub frames_total: u32,
}

const DAY_MS: i64 = 86_400_000;

/// What the dashboard and `/metrics` read of the running kiosk.
pub struct Vitals<'r> {
    pub store: &'r JobStore,
    pub clock: &'r SharedClock,
    pub worker: &'r WorkerStatus,
    pub renderer: &'r Renderer,
    pub payments: &'r Payments,
    pub live: &'r LiveSettings,
    pub settings: &'r Settings,
    pub camera: &'r CameraHub,
    pub started: Uptime,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Vitals<'r> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let r = req.rocket();
        let vitals = || {
            Some(Vitals {
                store: r.state()?,
                clock: r.state()?,
                worker: r.state::<Arc<WorkerStatus>>()?,
                renderer: r.state()?,
                payments: r.state()?,
                live: r.state::<Arc<LiveSettings>>()?,
                settings: r.state()?,
                camera: r.state::<Arc<CameraHub>>()?,
                started: *r.state::<Uptime>()?,
            })
        };
        crate::web::from_states(vitals())
    }
}

pub fn dashboard_data(app: &Vitals<'_>) -> Result<Dashboard, ApiError> {
    let jobs = app.store.all()?;
    let ledger = app.store.ledger()?;
    let now = app.clock.wall_ms();
    let last_24h = stats::figures(&jobs, &ledger, now - DAY_MS);
    let rendering = app.worker.current().and_then(|id| {
        let j = jobs.iter().find(|j| j.id == id)?;
        Some(RenderingNow {
            job: id.to_string(),
            preset: j.preset.to_string(),
            frames_done: j.progress.frames_done,
            frames_total: j.progress.frames_total,
        })
    });
    let event = app.live.get();
    let data_dir = &app.settings.data_dir;
    let disk = stats::disk(data_dir).map(|(free, total)| {
        let per_job = stats::jobs_bytes(&data_dir.join("jobs")) / jobs.len().max(1) as u64;
        stats::Disk {
            free_bytes: free,
            total_bytes: total,
            days_left: stats::days_left(free, per_job, last_24h.photos),
        }
    });
    let window_days =
        f64::from(event.retention_paid_hours.max(event.retention_unpaid_hours)) / 24.0;
    let retention_fits = disk
        .as_ref()
        .and_then(|d| d.days_left)
        .map(|d| d >= window_days);
    Ok(Dashboard {
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: app.started.seconds(),
        queued: app.store.count_with_status(Status::Queued),
        rendering,
        last_24h,
        animator: app.renderer.animator.name(),
        animator_note: app.renderer.status(),
        last_ms_per_frame: app.worker.last_ms_per_frame(),
        encoder: app.renderer.encoder.element(),
        encoder_hardware: app.renderer.encoder.is_hardware(),
        camera: app.camera.status(),
        disk,
        retention_fits,
        thermal: stats::thermal(std::path::Path::new("/sys/class/thermal")),
        payments_configured: app.payments.configured(),
        payments_offline: app.payments.offline(),
        event_mode: event.event_mode,
    })
}

#[get("/api/admin/dashboard")]
fn dashboard(_staff: Staff, vitals: Vitals<'_>) -> Result<Json<Dashboard>, ApiError> {
    dashboard_data(&vitals).map(Json)
}

#[derive(Serialize)]
pub struct JobRow {
    pub id: String,
    pub created_at: i64,
    pub status: Status,
    pub preset: String,
    /// Faces that come alive (absent: not known, or a whole-photo animator).
    pub faces: Option<u32>,
    pub price_cents: Option<u32>,
    pub currency: Option<String>,
    pub paid_cents: Option<i64>,
    pub unlock: Option<UnlockReason>,
    pub unlock_note: Option<String>,
    pub staff_flag: Option<String>,
    pub guest_url: String,
}

/// `base`: the guest listener's public address.
pub fn row(base: &str, j: &Job) -> JobRow {
    JobRow {
        id: j.id.to_string(),
        created_at: j.created_at,
        status: j.status,
        preset: j.preset.to_string(),
        faces: j.faces,
        price_cents: j.price.as_ref().map(|p| p.cents),
        currency: j.price.as_ref().map(|p| p.currency.clone()),
        paid_cents: j.payment.as_ref().map(|p| p.amount_cents),
        unlock: j.unlock,
        unlock_note: j.unlock_note.clone(),
        staff_flag: j.staff_flag.clone(),
        guest_url: format!("{base}/g/{}", j.token),
    }
}

/// `GET /api/admin/jobs?status=…`, newest first.
#[get("/api/admin/jobs?<status>")]
fn jobs(
    _staff: Staff,
    store: &State<JobStore>,
    settings: &State<Settings>,
    status: Option<&str>,
) -> Result<Json<Vec<JobRow>>, ApiError> {
    let wanted = super::jobs::parse_status(status)
        .map_err(|m| ApiError::new(rocket::http::Status::BadRequest, "bad_status", m))?;
    let all = store.all()?;
    Ok(Json(
        all.iter()
            .filter(|j| wanted.is_none_or(|s| j.status == s))
            .map(|j| row(settings.public_base(), j))
            .collect(),
    ))
}

fn parse_id(id: Result<JobId, MalformedId>) -> Result<JobId, ApiError> {
    id.map_err(|_| ApiError::malformed_id())
}

#[derive(Deserialize)]
struct UnlockBody {
    /// `cash` or `comp`.
    reason: String,
    note: String,
}

pub fn staff_reason(s: &str) -> Option<UnlockReason> {
    match s {
        "cash" => Some(UnlockReason::StaffCash),
        "comp" => Some(UnlockReason::StaffComp),
        _ => None,
    }
}

#[post("/api/admin/jobs/<id>/unlock", data = "<body>")]
async fn unlock(
    desk: AtDesk<'_>,
    settings: &State<Settings>,
    id: Result<JobId, MalformedId>,
    body: Json<UnlockBody>,
) -> Result<Json<JobRow>, ApiError> {
    let id = parse_id(id)?;
    let reason = staff_reason(&body.reason).ok_or_else(|| {
        ApiError::new(
            rocket::http::Status::UnprocessableEntity,
            "bad_reason",
            "The reason must be `cash` or `comp`.",
        )
    })?;
    let job = desk.0.unlock(id, reason, &body.note).await?;
    Ok(Json(row(settings.public_base(), &job)))
}

#[derive(Deserialize)]
struct RerenderBody {
    preset: Option<String>,
    backend: Option<String>,
}

#[post("/api/admin/jobs/<id>/rerender", data = "<body>")]
async fn rerender(
    desk: AtDesk<'_>,
    settings: &State<Settings>,
    presets: &State<Presets>,
    renderer: &State<Renderer>,
    id: Result<JobId, MalformedId>,
    body: Json<RerenderBody>,
) -> Result<Json<JobRow>, ApiError> {
    let id = parse_id(id)?;
    let with = crate::admin::Rerender {
        preset: body.preset.as_deref(),
        backend: body.backend.as_deref(),
    };
    let job = desk
        .0
        .rerender(id, with, &super::choices(presets, renderer))
        .await?;
    Ok(Json(row(settings.public_base(), &job)))
}

#[post("/api/admin/jobs/<id>/delete")]
async fn delete(
    desk: AtDesk<'_>,
    id: Result<JobId, MalformedId>,
) -> Result<rocket::http::Status, ApiError> {
    desk.0.delete(parse_id(id)?).await?;
    Ok(rocket::http::Status::NoContent)
}
