//! The guest listener: only what a guest's phone needs, reached through a
//! tunnel or reverse proxy. Every route takes a 128-bit guest token, never
//! a job id, so nothing here can be enumerated.

use rocket::http::{ContentType, Header, Status as HttpStatus};
use rocket::request::Request;
use rocket::response::{self, Responder};
use rocket::{get, routes, Route, State};

use super::error::ApiError;
use super::kiosk::Outputs;
use super::ranged::RangedFile;
use crate::jobs::retention::InUseGuard;
use crate::jobs::{GuestToken, JobStore, MalformedId, Status};

pub fn routes() -> Vec<Route> {
    routes![
        download,
        preview,
        poster,
        super::guest_pages::guest_page,
        super::guest_pages::pay,
        super::guest_pages::confirm_delete,
        super::guest_pages::delete,
        super::stripe_hook::webhook,
        ping,
    ]
}

/// `GET /api/ping`: proves an address reaches this kiosk's guest listener
/// (`smileloop selftest` checks `public_base_url` with it). Says nothing
/// about the kiosk.
#[get("/api/ping")]
fn ping() -> rocket::serde::json::Json<serde_json::Value> {
    rocket::serde::json::Json(serde_json::json!({"service": "smileloop", "listener": "guest"}))
}

fn by_token(
    store: &JobStore,
    token: Result<GuestToken, MalformedId>,
) -> Result<crate::jobs::Job, ApiError> {
    Ok(super::lookup::guest(store, token)?)
}

/// `GET /g/{token}/preview.mp4`: the watermarked loop for the guest page.
#[get("/g/<token>/preview.mp4")]
async fn preview(
    token: Result<GuestToken, MalformedId>,
    store: &State<JobStore>,
    outputs: Outputs<'_>,
) -> Result<RangedFile<InUseGuard>, ApiError> {
    let job = by_token(store, token)?;
    let mp4 = ContentType::new("video", "mp4");
    outputs.open(&job, job.files.preview.as_ref(), mp4).await
}

/// `GET /g/{token}/poster.jpg`
#[get("/g/<token>/poster.jpg")]
async fn poster(
    token: Result<GuestToken, MalformedId>,
    store: &State<JobStore>,
    outputs: Outputs<'_>,
) -> Result<RangedFile<InUseGuard>, ApiError> {
    let job = by_token(store, token)?;
    outputs
        .open(&job, job.files.poster.as_ref(), ContentType::JPEG)
        .await
}

/// The HD file, only once unlocked.
pub struct Download(RangedFile<InUseGuard>);

impl<'r> Responder<'r, 'static> for Download {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let mut res = self.0.respond_to(req)?;
        // Not for search engines or shared caches: it is someone's face.
        res.set_header(Header::new("X-Robots-Tag", "noindex"));
        Ok(res)
    }
}

/// `GET /d/{token}`: the clean HD MP4 as an attachment (range requests
/// supported, so a phone can resume on venue Wi-Fi).
#[get("/d/<token>")]
async fn download(
    token: Result<GuestToken, MalformedId>,
    store: &State<JobStore>,
    outputs: Outputs<'_>,
    req_range: RangeHeader,
) -> Result<Download, ApiError> {
    let job = by_token(store, token)?;
    match job.status {
        Status::Unlocked => {}
        Status::Expired => {}
        Status::PreviewReady => {
            return Err(ApiError::new(
                HttpStatus::Forbidden,
                "not_unlocked",
                "This video has not been unlocked yet. Pay on the guest page to download it.",
            ))
        }
        _ => {
            return Err(ApiError::new(
                HttpStatus::Conflict,
                "not_ready",
                "The video is not ready yet.",
            ))
        }
    }
    let mp4 = ContentType::new("video", "mp4");
    let mut file = outputs.open(&job, job.files.full.as_ref(), mp4).await?;
    file.download_name = Some(format!("smileloop-{}.mp4", job.preset));
    // Count downloads, not the dozens of range requests a player makes.
    if req_range.starts_at_zero {
        store.update(job.id, |j| j.download_count += 1)?;
        tracing::info!(job = %job.id, "download started");
    }
    Ok(Download(file))
}

/// Whether the request's `Range` (if any) starts at byte 0.
pub struct RangeHeader {
    starts_at_zero: bool,
}

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for RangeHeader {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Self, Self::Error> {
        let starts_at_zero = match req.headers().get_one("Range") {
            None => true,
            Some(r) => r.trim_start_matches("bytes=").starts_with("0-"),
        };
        rocket::request::Outcome::Success(RangeHeader { starts_at_zero })
    }
}
