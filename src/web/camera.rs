//! The camera and the render as the kiosk screen shows them: MJPEG
//! multipart streams (frames go out as the camera made them, no
//! re-encoding), the camera's state with a face hint, and the shutter.

use std::sync::Arc;
use std::time::Duration;

use rocket::http::{ContentType, Header, Status as HttpStatus};
use rocket::response::stream::ByteStream;
use rocket::serde::json::Json;
use rocket::{get, post, routes, Responder, Route, Shutdown, State};
use serde::Serialize;

use super::error::ApiError;
use crate::animate::AnimateError;
use crate::capture::CameraHub;
use crate::capture::CameraStatus;
use crate::jobs::live::LiveRenders;
use crate::jobs::JobStore;
use crate::jobs::{JobId, MalformedId, Status};
use crate::state::Renderer;

/// A render stream with no new frame for this long is over.
const RENDER_STREAM_IDLE: Duration = Duration::from_secs(30);
const BOUNDARY: &str = "smileloopframe";

pub fn routes() -> Vec<Route> {
    routes![live, status, still, render_live]
}

#[derive(Responder)]
pub struct Mjpeg<S> {
    body: ByteStream<S>,
    content_type: ContentType,
    cache: Header<'static>,
}

fn mjpeg<S>(body: ByteStream<S>) -> Mjpeg<S> {
    Mjpeg {
        body,
        content_type: ContentType::new("multipart", "x-mixed-replace")
            .with_params(("boundary", BOUNDARY)),
        cache: Header::new("Cache-Control", "no-store"),
    }
}

/// One part of a `multipart/x-mixed-replace` stream.
fn part(jpeg: &[u8]) -> Vec<u8> {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        jpeg.len()
    );
    let mut out = Vec::with_capacity(head.len() + jpeg.len() + 2);
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(jpeg);
    out.extend_from_slice(b"\r\n");
    out
}

/// `GET /api/camera/live`: the camera's frames while the page watches.
#[get("/api/camera/live")]
fn live(
    camera: &State<Arc<CameraHub>>,
    mut shutdown: Shutdown,
) -> Mjpeg<impl rocket::futures::Stream<Item = Vec<u8>>> {
    let mut rx = camera.subscribe();
    mjpeg(ByteStream! {
        let mut last = 0;
        loop {
            let frame = rx.borrow_and_update().clone();
            if let Some(f) = frame.filter(|f| f.seq != last) {
                last = f.seq;
                yield part(&f.jpeg.bytes);
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { break },
                _ = &mut shutdown => break,
            }
        }
    })
}

#[derive(Serialize)]
struct StatusView {
    #[serde(flatten)]
    camera: CameraStatus,
    /// With `?face=true`: what the guide should say about the newest frame:
    /// `ok`, `no_face`, `face_too_small`, `face_cut_off`, `face_turned`.
    face: Option<&'static str>,
}

/// `GET /api/camera/status[?face=true]`
#[get("/api/camera/status?<face>")]
async fn status(
    face: Option<bool>,
    hub: &State<Arc<CameraHub>>,
    renderer: &State<Renderer>,
) -> Json<StatusView> {
    let camera = hub.status();
    let frame = face.unwrap_or(false).then(|| hub.latest()).flatten();
    let face = match frame {
        Some(frame) => {
            let animator = Arc::clone(&renderer.animator);
            tokio::task::spawn_blocking(move || {
                let image = image::load_from_memory(&frame.jpeg.bytes).ok()?.to_rgb8();
                Some(match animator.check_photo(&image) {
                    Ok(_) => "ok",
                    Err(AnimateError::Photo(p)) => p.code(),
                    Err(_) => return None,
                })
            })
            .await
            .ok()
            .flatten()
        }
        None => None,
    };
    Json(StatusView { camera, face })
}

#[derive(Responder)]
struct Still {
    body: Vec<u8>,
    content_type: ContentType,
    cache: Header<'static>,
}

/// `POST /api/camera/still`: the shutter. Answers the full-resolution
/// JPEG, which the page shows for review and uploads as the guest's photo.
#[post("/api/camera/still")]
async fn still(camera: &State<Arc<CameraHub>>) -> Result<Still, ApiError> {
    let jpeg = camera.still().await?;
    tracing::info!(width = jpeg.width, height = jpeg.height, "still taken");
    Ok(Still {
        body: jpeg.bytes.as_ref().clone(),
        content_type: ContentType::JPEG,
        cache: Header::new("Cache-Control", "no-store"),
    })
}

/// `GET /api/jobs/{id}/live`: the job's frames as the animator makes them,
/// watermarked; ends after the last frame.
#[get("/api/jobs/<id>/live")]
fn render_live(
    id: Result<JobId, MalformedId>,
    store: &State<JobStore>,
    renders: &State<Arc<LiveRenders>>,
    mut shutdown: Shutdown,
) -> Result<Mjpeg<impl rocket::futures::Stream<Item = Vec<u8>>>, ApiError> {
    let job = super::lookup::job(store, id)?;
    let id = job.id;
    if !matches!(job.status, Status::Queued | Status::Rendering) {
        return Err(ApiError::new(
            HttpStatus::Conflict,
            "not_rendering",
            "This photo is not being animated now.",
        ));
    }
    let mut rx = renders.subscribe();
    Ok(mjpeg(ByteStream! {
        let mut sent = None;
        loop {
            let frame = rx.borrow_and_update().clone();
            if let Some(f) = frame.filter(|f| f.job == id && sent != Some(f.index)) {
                sent = Some(f.index);
                yield part(&f.jpeg);
                if f.is_last() {
                    break;
                }
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { break },
                _ = tokio::time::sleep(RENDER_STREAM_IDLE) => break,
                _ = &mut shutdown => break,
            }
        }
    }))
}
