//! How admin pages look: one layout, one error page, one catcher. Plain
//! server-rendered HTML with inline CSS and no scripts, readable on a
//! staff member's phone.

use html_escape::encode_text as esc;
use rocket::http::{ContentType, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};

use super::Refusal;
use crate::web::error::ApiError;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f4f4f6;color:#222;\
line-height:1.4}header{background:#222;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;\
gap:.8rem;align-items:center}header a{color:#fff;text-decoration:none}header b{margin-right:1rem}\
main{padding:1rem;max-width:70rem;margin:auto}.card{background:#fff;border-radius:.5rem;\
padding:1rem;margin:.6rem 0;box-shadow:0 1px 2px #0002}.grid{display:grid;gap:.6rem;\
grid-template-columns:repeat(auto-fill,minmax(9.5rem,1fr))}.scroll{overflow-x:auto}.big{font-size:1.6rem;font-weight:bold}\
table{border-collapse:collapse;width:100%;background:#fff}td,th{padding:.4rem;border-bottom:1px \
solid #ddd;text-align:left;vertical-align:top}img.thumb{width:72px;border-radius:.3rem}\
.warn{color:#a40}.bad{color:#b00}.ok{color:#080}.quiet{color:#777;font-size:.9rem}\
button,.btn{padding:.45rem .8rem;border:0;border-radius:.35rem;background:#2b7de9;color:#fff;\
font-size:1rem;cursor:pointer;text-decoration:none;display:inline-block}.danger{background:#b33}\
form.inline{display:inline-flex;gap:.3rem;flex-wrap:wrap;margin:.15rem 0}input,select,textarea\
{font-size:1rem;padding:.3rem}label{display:block;margin:.5rem 0}";

pub type Html = (Status, (ContentType, String));

/// A page with the staff navigation; `csrf` signs the sign-out form.
pub fn layout(status: Status, title: &str, csrf: Option<&str>, body: &str) -> Html {
    let nav = match csrf {
        Some(t) => format!(
            "<a href=\"/admin\">Dashboard</a><a href=\"/admin/jobs\">Jobs</a>\
             <a href=\"/admin/settings\">Settings</a><a href=\"/admin/export\">Export</a>\
             <a href=\"/admin/audit\">Audit log</a><a href=\"/admin/end-event\">End of event</a>\
             <form class=\"inline\" method=\"post\" action=\"/admin/logout?csrf={t}\">\
             <button>Sign out</button></form>"
        ),
        None => String::new(),
    };
    (
        status,
        (
            ContentType::HTML,
            format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
                 <meta name=\"robots\" content=\"noindex\"><title>{title} · SmileLoop staff</title>\
                 <style>{STYLE}</style></head><body><header><b>SmileLoop staff</b>{nav}</header>\
                 <main><h1>{title}</h1>{body}</main></body></html>",
                title = esc(title),
            ),
        ),
    )
}

/// A refusal or failure shown as a staff page: the same [`ApiError`] the
/// admin API answers with (one mapping per domain error, in
/// `web::error`), rendered as HTML with a way back.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl PageError {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Self(ApiError::new(status, "refused", message))
    }

    pub fn internal(what: impl std::fmt::Display) -> Self {
        Self(ApiError::internal(what))
    }
}

impl<E> From<E> for PageError
where
    ApiError: From<E>,
{
    fn from(e: E) -> Self {
        Self(ApiError::from(e))
    }
}

impl<'r> Responder<'r, 'static> for PageError {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let body = format!(
            "<div class=\"card\"><p class=\"bad\">{}</p><p><a href=\"/admin\">Back to the \
             dashboard</a></p></div>",
            esc(&self.0.message)
        );
        let status = self.0.status;
        let mut res =
            Response::build_from(layout(status, "Not done", None, &body).respond_to(req)?);
        res.status(status);
        res.ok()
    }
}

/// Every refusal on the admin listener: the network first (403 for
/// everything from outside the allowed networks, even unknown paths),
/// then sign-in and CSRF, in JSON for `/api/admin`, as a page otherwise.
#[rocket::catch(default)]
pub fn catch_all(status: Status, req: &Request<'_>) -> Result<Html, ApiError> {
    let why = if super::peer_allowed(req).is_none() {
        Refusal::Network
    } else {
        *req.local_cache(|| Refusal::None)
    };
    let (status, code, message) = match why {
        Refusal::Network => (
            Status::Forbidden,
            "network",
            "The staff pages can only be opened from the venue's own network.",
        ),
        Refusal::SignIn if status == Status::Unauthorized => {
            (status, "sign_in", "Please sign in with the staff password.")
        }
        Refusal::Csrf => (
            Status::Forbidden,
            "csrf",
            "This form has expired. Go back, reload the page and try again.",
        ),
        _ => match status.code {
            404 => (status, "not_found", "Nothing here."),
            413 => (status, "too_large", "That request is too large."),
            400 | 422 => (status, "bad_request", "The form could not be read."),
            c if c >= 500 => (status, "internal", "Something went wrong on the kiosk."),
            _ => (status, "refused", "The request was refused."),
        },
    };
    if req.uri().path().starts_with("/api/") {
        return Err(ApiError::new(status, code, message));
    }
    let link = if code == "sign_in" {
        "<p><a class=\"btn\" href=\"/admin/login\">Sign in</a></p>"
    } else {
        "<p><a href=\"/admin\">Back to the dashboard</a></p>"
    };
    let body = format!("<div class=\"card\"><p>{}</p>{link}</div>", esc(message));
    Ok(layout(status, "Staff", None, &body))
}
