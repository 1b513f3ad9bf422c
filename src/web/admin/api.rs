//! `/api/admin/…`: the dashboard's figures and the job list as JSON, and
//! the job actions for scripts (`X-CSRF-Token` header).

use std::sync::Arc;

use rocket::serde::json::Json;
use rocket::{get, post, routes, Route, State};
use serde::{Deserialize, Serialize};

use super::{Staff, StaffWrite};
use crate::admin::{stats, Admin};
use crate::jobs::{Job, JobId, MalformedId, Status, UnlockReason};
use crate::state::Shared;
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

pub fn dashboard_data(app: &Shared) -> Result<Dashboard, ApiError> {
    let jobs = app.store.all()?;
    let ledger = app.store.ledger()?;
    let now = app.clock.wall_ms();
    let last_24h = stats::figures(&jobs, &ledger, now - DAY_MS);
    let rendering = app.queue.current().and_then(|id| {
        let j = jobs.iter().find(|j| j.id == id)?;
        Some(RenderingNow {
            job: id.to_string(),
            preset: j.preset.clone(),
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
        uptime_s: app.started.elapsed().as_secs(),
        queued: app.store.count_with_status(Status::Queued),
        rendering,
        last_24h,
        animator: app.animator.name(),
        animator_note: app.animator_status(),
        last_ms_per_frame: app.queue.last_ms_per_frame(),
        encoder: app.encoder.element(),
        encoder_hardware: app.encoder.is_hardware(),
        camera: app.camera.status(),
        disk,
        retention_fits,
        thermal: stats::thermal(std::path::Path::new("/sys/class/thermal")),
        payments_configured: app.payments_configured(),
        payments_offline: app.payments_offline(),
        event_mode: event.event_mode,
    })
}

#[get("/api/admin/dashboard")]
fn dashboard(_staff: Staff, app: &State<Arc<Shared>>) -> Result<Json<Dashboard>, ApiError> {
    dashboard_data(app).map(Json)
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

pub fn row(app: &Shared, j: &Job) -> JobRow {
    JobRow {
        id: j.id.to_string(),
        created_at: j.created_at,
        status: j.status,
        preset: j.preset.clone(),
        faces: j.faces,
        price_cents: j.price.as_ref().map(|p| p.cents),
        currency: j.price.as_ref().map(|p| p.currency.clone()),
        paid_cents: j.payment.as_ref().map(|p| p.amount_cents),
        unlock: j.unlock,
        unlock_note: j.unlock_note.clone(),
        staff_flag: j.staff_flag.clone(),
        guest_url: format!("{}/g/{}", app.settings.public_base(), j.token),
    }
}

/// `GET /api/admin/jobs?status=…`, newest first.
#[get("/api/admin/jobs?<status>")]
fn jobs(
    _staff: Staff,
    app: &State<Arc<Shared>>,
    status: Option<&str>,
) -> Result<Json<Vec<JobRow>>, ApiError> {
    let wanted = super::jobs::parse_status(status)
        .map_err(|m| ApiError::new(rocket::http::Status::BadRequest, "bad_status", m))?;
    let all = app.store.all()?;
    Ok(Json(
        all.iter()
            .filter(|j| wanted.is_none_or(|s| j.status == s))
            .map(|j| row(app, j))
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
    staff: StaffWrite,
    app: &State<Arc<Shared>>,
    admin: &State<Arc<Admin>>,
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
    let job = super::desk(app, admin, &staff)
        .unlock(id, reason, &body.note)
        .await?;
    Ok(Json(row(app, &job)))
}

#[derive(Deserialize)]
struct RerenderBody {
    preset: Option<String>,
    backend: Option<String>,
}

#[post("/api/admin/jobs/<id>/rerender", data = "<body>")]
async fn rerender(
    staff: StaffWrite,
    app: &State<Arc<Shared>>,
    admin: &State<Arc<Admin>>,
    id: Result<JobId, MalformedId>,
    body: Json<RerenderBody>,
) -> Result<Json<JobRow>, ApiError> {
    let id = parse_id(id)?;
    let with = crate::admin::Rerender {
        preset: body.preset.as_deref(),
        backend: body.backend.as_deref(),
    };
    let job = super::desk(app, admin, &staff)
        .rerender(id, with, &super::choices(app))
        .await?;
    Ok(Json(row(app, &job)))
}

#[post("/api/admin/jobs/<id>/delete")]
async fn delete(
    staff: StaffWrite,
    app: &State<Arc<Shared>>,
    admin: &State<Arc<Admin>>,
    id: Result<JobId, MalformedId>,
) -> Result<rocket::http::Status, ApiError> {
    super::desk(app, admin, &staff)
        .delete(parse_id(id)?)
        .await?;
    Ok(rocket::http::Status::NoContent)
}
