//! "Send a photo from your phone": the kiosk opens a slot and shows its
//! link as a QR code (kiosk listener, `/api/phone-uploads/…`); the guest's
//! phone opens `/u/{code}` on the guest listener and uploads; the photo
//! appears on the kiosk for review. Slots are in memory
//! ([`crate::capture::handoff`]); nothing is stored until the guest taps
//! "Use this photo" on the kiosk.

use std::sync::Arc;

use rocket::form::{Errors, Form};
use rocket::fs::TempFile;
use rocket::http::{ContentType, Status as HttpStatus};
use rocket::request::{self, FromRequest, Request};
use rocket::serde::json::Json;
use rocket::{delete, get, post, routes, FromForm, Route, State};
use serde::Serialize;

use super::error::ApiError;
use super::guest_pages::{message, said, Page};
use super::lang::PageLang;
use super::upload::{form_error, read_upload};
use crate::capture::handoff::{BadCode, HandoffCode, HandoffState, Handoffs, Refused};
use crate::capture::photo;
use crate::config::{LiveSettings, Settings};
use crate::i18n::Lang;
use crate::jobs::intake::Intake;

/// Kiosk-listener routes.
pub fn kiosk_routes() -> Vec<Route> {
    routes![open, state, qr_svg, received_photo, close]
}

/// Guest-listener routes.
pub fn guest_routes() -> Vec<Route> {
    routes![upload_page, upload, refused_upload]
}

fn unknown() -> ApiError {
    ApiError::new(
        HttpStatus::NotFound,
        "upload_link_expired",
        "This upload link has expired. Please start again on the kiosk.",
    )
}

impl<'a> rocket::request::FromParam<'a> for HandoffCode {
    type Error = BadCode;

    fn from_param(param: &'a str) -> Result<Self, BadCode> {
        param.parse()
    }
}

/// A code from a link with its slot's state, or "expired" for a slot that
/// is gone and for a code that never was one.
fn checked(
    handoffs: &Handoffs,
    code: Result<HandoffCode, BadCode>,
) -> Result<(HandoffCode, HandoffState), ApiError> {
    let code = code.map_err(|_| unknown())?;
    let state = handoffs.state(code).ok_or_else(unknown)?;
    Ok((code, state))
}

fn upload_url(settings: &Settings, code: HandoffCode) -> String {
    format!("{}/u/{code}", settings.public_base())
}

#[derive(Serialize)]
struct Opened {
    code: String,
    upload_url: String,
    qr_url: String,
}

/// `POST /api/phone-uploads`: a new slot and the link for its QR code.
#[post("/api/phone-uploads")]
fn open(handoffs: &State<Arc<Handoffs>>, settings: &State<Settings>) -> (HttpStatus, Json<Opened>) {
    let code = handoffs.open();
    (
        HttpStatus::Created,
        Json(Opened {
            upload_url: upload_url(settings, code),
            qr_url: format!("/api/phone-uploads/{code}/qr.svg"),
            code: code.to_string(),
        }),
    )
}

#[derive(Serialize)]
struct StateView {
    state: HandoffState,
}

/// `GET /api/phone-uploads/{code}`: `waiting`, `opened` (a phone has the
/// upload page) or `received`.
#[get("/api/phone-uploads/<code>")]
fn state(
    code: Result<HandoffCode, BadCode>,
    handoffs: &State<Arc<Handoffs>>,
) -> Result<Json<StateView>, ApiError> {
    let (_, state) = checked(handoffs, code)?;
    Ok(Json(StateView { state }))
}

/// `GET /api/phone-uploads/{code}/qr.svg`
#[get("/api/phone-uploads/<code>/qr.svg")]
fn qr_svg(
    code: Result<HandoffCode, BadCode>,
    handoffs: &State<Arc<Handoffs>>,
    settings: &State<Settings>,
) -> Result<(ContentType, String), ApiError> {
    let (code, _) = checked(handoffs, code)?;
    let svg = super::qr::svg(&upload_url(settings, code)).map_err(ApiError::internal)?;
    Ok((ContentType::SVG, svg))
}

/// `GET /api/phone-uploads/{code}/photo`: the photo the phone sent.
#[get("/api/phone-uploads/<code>/photo")]
fn received_photo(
    code: Result<HandoffCode, BadCode>,
    handoffs: &State<Arc<Handoffs>>,
) -> Result<(ContentType, Vec<u8>), ApiError> {
    let (code, _) = checked(handoffs, code)?;
    let bytes = handoffs.photo(code).ok_or_else(|| {
        ApiError::new(
            HttpStatus::Conflict,
            "not_yet",
            "No photo has arrived from the phone yet.",
        )
    })?;
    let content_type = match photo::inspect(&bytes).map(|i| i.extension()) {
        Ok("png") => ContentType::PNG,
        Ok("webp") => ContentType::new("image", "webp"),
        _ => ContentType::JPEG,
    };
    Ok((content_type, bytes.as_ref().clone()))
}

/// `DELETE /api/phone-uploads/{code}`: the kiosk is done with the slot.
#[delete("/api/phone-uploads/<code>")]
fn close(code: Result<HandoffCode, BadCode>, handoffs: &State<Arc<Handoffs>>) -> HttpStatus {
    if let Ok(code) = code {
        handoffs.close(code);
    }
    HttpStatus::NoContent
}

fn expired_page(live: &LiveSettings, lang: Lang) -> Page {
    let text = lang.fill(
        "page_link_expired_text",
        &[("button", lang.text("use_phone"))],
    );
    said(live, lang, HttpStatus::NotFound, "page_link_expired", &text)
}

/// What went wrong with an upload, in the page's language: the kiosk
/// screen's words for the error's code (English keeps the server's own,
/// more exact, words).
fn problem_text(max_upload_mb: u32, lang: Lang, e: &ApiError) -> String {
    let known = !lang.text(e.code).is_empty();
    match lang {
        Lang::En => e.message.clone(),
        _ if known => lang.fill(e.code, &[("mb", &max_upload_mb.to_string())]),
        _ => lang.text("generic").to_string(),
    }
}

fn form_page(
    live: &LiveSettings,
    lang: Lang,
    code: HandoffCode,
    status: HttpStatus,
    problem: Option<&str>,
) -> Page {
    let event = live.get().event_name.clone();
    super::phone_views::upload_form(lang, &event, &code.to_string(), status, problem)
}

/// `GET /u/{code}`: the phone's upload form.
#[get("/u/<code>")]
fn upload_page(
    code: Result<HandoffCode, BadCode>,
    lang: PageLang,
    handoffs: &State<Arc<Handoffs>>,
    live: &State<Arc<LiveSettings>>,
) -> Page {
    let lang = lang.0;
    match checked(handoffs, code) {
        Ok((code, _)) => {
            handoffs.page_opened(code);
            form_page(live, lang, code, HttpStatus::Ok, None)
        }
        Err(_) => expired_page(live, lang),
    }
}

#[derive(FromForm)]
struct PhoneUpload<'r> {
    photo: TempFile<'r>,
}

/// An upload into a live slot, admitted before its body is read (a
/// request guard runs before the data guard): for an unknown code or a
/// slot already receiving, the body is never stored or decoded, only read
/// past ([`refused_upload`]).
pub struct Receiving {
    handoffs: Arc<Handoffs>,
    code: HandoffCode,
}

impl Drop for Receiving {
    fn drop(&mut self) {
        self.handoffs.end(self.code);
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Receiving {
    type Error = Refused;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Refused> {
        let handoffs = req.rocket().state::<Arc<Handoffs>>();
        let code = req.param::<HandoffCode>(1).and_then(Result::ok);
        let (Some(handoffs), Some(code)) = (handoffs, code) else {
            return request::Outcome::Forward(HttpStatus::NotFound);
        };
        match handoffs.begin(code) {
            Ok(()) => request::Outcome::Success(Receiving {
                handoffs: Arc::clone(handoffs),
                code,
            }),
            // To `refused_upload`, which drains the body before answering.
            Err(Refused::Busy) => request::Outcome::Forward(HttpStatus::Conflict),
            Err(Refused::Unknown) => request::Outcome::Forward(HttpStatus::NotFound),
        }
    }
}

/// Pages for uploads refused before a handler ran (`/u/…` only).
pub fn catchers() -> Vec<rocket::Catcher> {
    rocket::catchers![upload_refused]
}

#[rocket::catch(default)]
fn upload_refused(status: HttpStatus, req: &Request<'_>) -> Option<Page> {
    let live = req.rocket().state::<Arc<LiveSettings>>()?;
    let max_upload_mb = req.rocket().state::<Settings>()?.max_upload_mb;
    let lang = super::lang::pick(req);
    Some(match status.code {
        409 => message(
            live,
            lang,
            HttpStatus::Conflict,
            "page_one_moment",
            "page_on_its_way",
        ),
        404 => expired_page(live, lang),
        413 => {
            let mb = max_upload_mb.to_string();
            let text = lang.fill("upload_too_large", &[("mb", &mb)]);
            said(
                live,
                lang,
                HttpStatus::PayloadTooLarge,
                "page_too_large",
                &text,
            )
        }
        _ => message(live, lang, status, "page_error", "page_not_sent"),
    })
}

/// `POST /u/{code}` refused by [`Receiving`]: the body is read and dropped
/// (closing on unread data resets the connection, and the phone would
/// lose this answer), then the page says why.
#[post("/u/<code>", data = "<data>", rank = 2)]
async fn refused_upload(
    code: Result<HandoffCode, BadCode>,
    data: rocket::Data<'_>,
    limits: &rocket::data::Limits,
    lang: PageLang,
    handoffs: &State<Arc<Handoffs>>,
    live: &State<Arc<LiveSettings>>,
) -> Page {
    let lang = lang.0;
    super::error::drain(data, limits).await;
    if checked(handoffs, code).is_ok() {
        return message(
            live,
            lang,
            HttpStatus::Conflict,
            "page_one_moment",
            "page_on_its_way",
        );
    }
    expired_page(live, lang)
}

/// What an upload from a phone touches.
pub struct PhoneDesk<'r> {
    handoffs: &'r Handoffs,
    intake: &'r Intake,
    live: &'r LiveSettings,
    max_upload_mb: u32,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for PhoneDesk<'r> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, ()> {
        let r = req.rocket();
        super::from_states((|| {
            Some(PhoneDesk {
                handoffs: r.state::<Arc<Handoffs>>()?,
                intake: r.state::<Arc<Intake>>()?,
                live: r.state::<Arc<LiveSettings>>()?,
                max_upload_mb: r.state::<Settings>()?.max_upload_mb,
            })
        })())
    }
}

/// `POST /u/{code}`: the photo from the phone, checked like any upload.
#[post("/u/<code>", data = "<form>")]
async fn upload(
    code: HandoffCode,
    _receiving: Receiving,
    form: Result<Form<PhoneUpload<'_>>, Errors<'_>>,
    lang: PageLang,
    app: PhoneDesk<'_>,
) -> Page {
    let (lang, live) = (lang.0, app.live);
    let result = async {
        let form = form.map_err(|e| form_error(&e, app.max_upload_mb))?;
        let bytes = read_upload(&form.photo).await?;
        Ok::<_, ApiError>(app.intake.check(bytes).await?)
    }
    .await;
    match result {
        Ok(checked) => {
            let faces = checked.faces();
            if !app.handoffs.deliver(code, checked.bytes) {
                return expired_page(live, lang);
            }
            tracing::info!(faces, "photo received from a phone");
            let text = match faces {
                0 | 1 => lang.text("page_sent_one").to_string(),
                n => lang.fill("page_sent_many", &[("n", &n.to_string())]),
            };
            said(live, lang, HttpStatus::Ok, "page_photo_sent", &text)
        }
        Err(e) => {
            let problem = problem_text(app.max_upload_mb, lang, &e);
            form_page(live, lang, code, e.status, Some(&problem))
        }
    }
}
