//! The one place where domain errors become HTTP answers: a status, a
//! machine code and a message a person can act on, as JSON.

use rocket::http::Status;
use rocket::request::Request;
use rocket::response::{self, Responder};
use rocket::serde::json::Json;
use serde::Serialize;

use crate::capture::photo::PhotoError;
use crate::jobs::intake::IntakeError;
use crate::jobs::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: Status,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: Status, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn malformed_id() -> Self {
        Self::new(
            Status::BadRequest,
            "malformed_id",
            "That job id is not valid.",
        )
    }

    pub fn job_not_found() -> Self {
        Self::new(
            Status::NotFound,
            "job_not_found",
            "There is no such job (it may have expired).",
        )
    }

    pub fn link_not_found() -> Self {
        Self::new(
            Status::NotFound,
            "link_not_found",
            "This link is not valid. Please scan the QR code on the kiosk again.",
        )
    }

    pub fn storage_full() -> Self {
        tracing::warn!("refused: the data disk is full");
        Self::new(
            Status::InsufficientStorage,
            "storage_full",
            "The kiosk's storage is full, so it can't take new photos right now. Please ask the staff.",
        )
    }

    /// An I/O failure while keeping a guest's data.
    pub fn io(what: &str, e: &std::io::Error) -> Self {
        if crate::jobs::is_disk_full(e) {
            Self::storage_full()
        } else {
            Self::internal(format!("{what}: {e}"))
        }
    }

    pub fn internal(what: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {what}");
        Self::new(
            Status::InternalServerError,
            "internal",
            "Something went wrong on the kiosk. Please try again or ask the staff.",
        )
    }
}

impl<'r> Responder<'r, 'static> for ApiError {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        };
        let mut res = Json(body).respond_to(req)?;
        res.set_status(self.status);
        Ok(res)
    }
}

impl From<PhotoError> for ApiError {
    fn from(e: PhotoError) -> Self {
        let (status, code) = match &e {
            PhotoError::Empty => (Status::BadRequest, "empty_upload"),
            PhotoError::NotAnImage => (Status::UnsupportedMediaType, "not_an_image"),
            PhotoError::Corrupt(_) => (Status::UnprocessableEntity, "corrupt_image"),
            PhotoError::TooLarge { .. } => (Status::PayloadTooLarge, "image_too_large"),
            PhotoError::TooSmall { .. } => (Status::UnprocessableEntity, "image_too_small"),
            PhotoError::Shape { .. } => (Status::UnprocessableEntity, "image_shape"),
        };
        Self::new(status, code, e.to_string())
    }
}

impl From<crate::face::PhotoProblem> for ApiError {
    fn from(p: crate::face::PhotoProblem) -> Self {
        Self::new(Status::UnprocessableEntity, p.code(), p.to_string())
    }
}

impl From<crate::capture::CameraError> for ApiError {
    fn from(e: crate::capture::CameraError) -> Self {
        use crate::capture::CameraError;
        tracing::warn!("camera: {e}");
        match e {
            CameraError::Busy(_) => Self::new(
                Status::ServiceUnavailable,
                "camera_busy",
                "The camera is busy. Please try again in a moment.",
            ),
            _ => Self::new(
                Status::ServiceUnavailable,
                "camera_unavailable",
                "The camera isn't working right now. You can send your photo from your phone instead.",
            ),
        }
    }
}

impl From<crate::print::PrintRequestError> for ApiError {
    fn from(e: crate::print::PrintRequestError) -> Self {
        use crate::print::PrintRequestError as E;
        let message = e.to_string();
        match e {
            E::Off => Self::new(Status::Conflict, "printing_off", message),
            E::NoJob => Self::job_not_found(),
            E::NoPrint => Self::new(Status::NotFound, "print_not_found", message),
            E::NotReady(_) => Self::new(Status::Conflict, "job_not_ready", message),
            E::Limit(_) => Self::new(Status::TooManyRequests, "print_limit", message),
            E::Unavailable(_) => Self::new(Status::Conflict, "printer_unavailable", message),
            E::Store(e) => e.into(),
        }
    }
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        let message = e.to_string();
        match e {
            IntakeError::UnknownPreset(_) => {
                Self::new(Status::UnprocessableEntity, "unknown_preset", message)
            }
            IntakeError::StorageFull => Self::storage_full(),
            IntakeError::QueueFull => Self::new(Status::ServiceUnavailable, "queue_full", message),
            IntakeError::Busy => Self::new(Status::ServiceUnavailable, "busy", message),
            IntakeError::Photo(e) => e.into(),
            IntakeError::Problem(p) => p.into(),
            IntakeError::Io { what, source } => Self::io(what, &source),
            IntakeError::Store(e) => e.into(),
            IntakeError::Internal(e) => Self::internal(e),
        }
    }
}

impl From<crate::admin::ActionError> for ApiError {
    fn from(e: crate::admin::ActionError) -> Self {
        use crate::admin::ActionError as E;
        use crate::jobs::staff::StaffError;
        let (status, code) = match &e {
            E::NotFound => (Status::NotFound, "job_not_found"),
            E::Rendering => (Status::Conflict, "rendering"),
            E::NotRerenderable(_) => (Status::Conflict, "not_rerenderable"),
            E::UnknownPreset(_) => (Status::UnprocessableEntity, "unknown_preset"),
            E::UnknownBackend(_) => (Status::UnprocessableEntity, "unknown_backend"),
            E::Staff(StaffError::NotUnlockable(_)) => (Status::Conflict, "not_unlockable"),
            E::Staff(_) => (Status::UnprocessableEntity, "refused"),
            E::Store(_) => return Self::internal(e),
        };
        Self::new(status, code, capitalise(&e.to_string()))
    }
}

/// `s` with its first letter in capitals: domain errors read as clauses
/// ("there is no such job"), answers as sentences.
pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

impl From<super::lookup::Missing> for ApiError {
    fn from(e: super::lookup::Missing) -> Self {
        use super::lookup::Missing;
        match e {
            Missing::MalformedId => Self::malformed_id(),
            Missing::NoJob => Self::job_not_found(),
            Missing::NoLink => Self::link_not_found(),
            Missing::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => Self::job_not_found(),
            StoreError::Db(sled::Error::Io(e)) => Self::io("job store", &e),
            StoreError::IllegalTransition { from, .. } => Self::new(
                Status::Conflict,
                "wrong_state",
                format!("That cannot be done while the job is {from}."),
            ),
            other => Self::internal(other),
        }
    }
}

/// JSON answers for requests no route took (unknown paths, limits hit
/// before a handler ran, panics).
#[rocket::catch(default)]
pub fn catch_all(status: Status, _req: &Request<'_>) -> ApiError {
    let (code, message) = match status.code {
        404 => ("not_found", "Nothing here."),
        413 => ("too_large", "That upload is too large."),
        400 | 422 => ("bad_request", "The request could not be understood."),
        _ if status.code >= 500 => ("internal", "Something went wrong on the kiosk."),
        _ => ("error", "The request was refused."),
    };
    ApiError::new(status, code, message)
}

/// Reads and drops a request body (up to the form limit): a listener that
/// answers without reading a body closes the connection with data unread,
/// which resets it, and the edge in front may then lose the answer.
pub async fn drain(data: rocket::Data<'_>, limits: &rocket::data::Limits) {
    let limit = limits
        .get("data-form")
        .unwrap_or(rocket::data::ByteUnit::Mebibyte(20));
    let _ = data.open(limit).stream_to(tokio::io::sink()).await;
}

/// Requests with a body that no route takes: the body is drained, then
/// the 404 catcher answers.
pub fn unrouted() -> Vec<rocket::Route> {
    rocket::routes![unrouted_post, unrouted_put, unrouted_patch, unrouted_delete]
}

#[rocket::post("/<_..>", data = "<data>", rank = 100)]
async fn unrouted_post(data: rocket::Data<'_>, limits: &rocket::data::Limits) -> Status {
    drain(data, limits).await;
    Status::NotFound
}

#[rocket::put("/<_..>", data = "<data>", rank = 100)]
async fn unrouted_put(data: rocket::Data<'_>, limits: &rocket::data::Limits) -> Status {
    drain(data, limits).await;
    Status::NotFound
}

#[rocket::patch("/<_..>", data = "<data>", rank = 100)]
async fn unrouted_patch(data: rocket::Data<'_>, limits: &rocket::data::Limits) -> Status {
    drain(data, limits).await;
    Status::NotFound
}

#[rocket::delete("/<_..>", data = "<data>", rank = 100)]
async fn unrouted_delete(data: rocket::Data<'_>, limits: &rocket::data::Limits) -> Status {
    drain(data, limits).await;
    Status::NotFound
}
