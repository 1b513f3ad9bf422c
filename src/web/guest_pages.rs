//! The guest's phone pages at `/g/{token}`: the watermarked loop, the price
//! and a Pay button; after payment (or at a host-paid event) the download;
//! always "Delete my photo and video now". Server-rendered HTML with inline
//! CSS and no scripts or outside resources: a few KiB, fast on 3G, nothing
//! to load from a CDN.

use std::sync::Arc;

use html_escape::encode_text as esc;
use rocket::form::{Form, FromForm};
use rocket::http::Status as HttpStatus;
use rocket::response::content::RawHtml;
use rocket::response::Redirect;
use rocket::{get, post, State};

use crate::jobs::{retention, Checkout, GuestToken, Job, MalformedId, Status};
use crate::payments::{self, NewSession, PaymentError};
use crate::state::Shared;

pub(super) type Page = (HttpStatus, RawHtml<String>);

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;padding:1rem;max-width:32rem;\
margin:auto;background:#111;color:#eee;line-height:1.4}h1{font-size:1.3rem}\
video{width:100%;border-radius:.5rem;background:#000}.btn{display:block;width:100%;\
box-sizing:border-box;padding:1rem;margin:1rem 0;border:0;border-radius:.5rem;font-size:1.2rem;\
text-align:center;text-decoration:none;background:#2b7de9;color:#fff}.danger{background:#a33}\
.quiet{color:#aaa;font-size:.9rem}.ok{color:#6d6}a{color:#8bf}";

pub(super) fn page(status: HttpStatus, title: &str, event: &str, body: &str) -> Page {
    (
        status,
        RawHtml(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <meta name=\"robots\" content=\"noindex\"><title>{title} · {event}</title>\
             <style>{STYLE}</style></head><body><h1>{event}</h1>{body}</body></html>",
            title = esc(title),
            event = esc(event),
        )),
    )
}

pub(super) fn message(app: &Shared, status: HttpStatus, title: &str, text: &str) -> Page {
    page(
        status,
        title,
        &app.live.get().event_name,
        &format!("<p>{}</p>", esc(text)),
    )
}

fn not_found(app: &Shared) -> Page {
    message(
        app,
        HttpStatus::NotFound,
        "Link not found",
        "This link is not valid, or the video was deleted. Please scan the QR code on the kiosk again.",
    )
}

fn load(app: &Shared, token: Result<GuestToken, MalformedId>) -> Result<Job, Box<Page>> {
    let token = token.map_err(|_| Box::new(not_found(app)))?;
    match app.store.get_by_token(token) {
        Ok(Some(job)) => Ok(job),
        Ok(None) => Err(Box::new(not_found(app))),
        Err(e) => {
            tracing::error!("guest page: {e}");
            Err(Box::new(message(
                app,
                HttpStatus::InternalServerError,
                "Error",
                "Something went wrong on the kiosk. Please try again in a moment.",
            )))
        }
    }
}

pub fn price_text(minor: u32, currency: &str) -> String {
    crate::money::price_text(minor, currency)
}

const SAVE_HINT: &str = "<p class=\"quiet\">iPhone: tap Download, then the share button and \
\"Save Video\" to put it in Photos. Android: tap Download; the video appears in Files or \
Gallery under Downloads.</p>";

fn delete_link(job: &Job) -> String {
    format!(
        "<p><a href=\"/g/{}/delete\">Delete my photo and video now</a></p>",
        job.token
    )
}

/// `GET /g/{token}[?session_id=…]`
#[get("/g/<token>?<session_id>")]
pub async fn guest_page(
    token: Result<GuestToken, MalformedId>,
    session_id: Option<&str>,
    app: &State<Arc<Shared>>,
) -> Page {
    let mut job = match load(app, token) {
        Ok(job) => job,
        Err(page) => return *page,
    };
    // Back from Checkout: ask Stripe now rather than wait for the poller.
    if let (Some(sid), Some(api), Some(c)) = (session_id, app.stripe.api(), &job.checkout) {
        // Only about the job's own session, and not on every reload.
        if job.status == Status::PreviewReady
            && c.owns(sid)
            && app.lookups.allow(job.id, std::time::Instant::now())
        {
            if let Ok(facts) = api.session(sid).await {
                if payments::record(&app.store, job.id, &facts, "return")
                    .await
                    .is_ok()
                {
                    job = app.store.get(job.id).ok().flatten().unwrap_or(job);
                }
            }
        }
    }
    let event = app.live.get().event_name.clone();
    let event = &event;
    let video = format!(
        "<video src=\"/g/{t}/preview.mp4\" poster=\"/g/{t}/poster.jpg\" autoplay loop muted \
         playsinline></video>",
        t = job.token
    );
    let body = match job.status {
        Status::Uploaded | Status::Queued | Status::Rendering => {
            "<meta http-equiv=\"refresh\" content=\"3\"><p>Your photo is coming to life… \
             this page updates by itself.</p>"
                .to_string()
        }
        Status::Failed => {
            "<p>We couldn't animate this photo. Please try again at the kiosk.</p>".to_string()
        }
        Status::Expired => {
            return message(
                app,
                HttpStatus::Gone,
                "Deleted",
                "This video has been deleted after the event's retention time.",
            )
        }
        Status::Unlocked => format!(
            "{video}<p class=\"ok\">Your HD video is ready.</p>\
             <a class=\"btn\" id=\"download\" href=\"/d/{t}\" download>Download the HD video</a>\
             {SAVE_HINT}",
            t = job.token
        ),
        Status::PreviewReady => {
            let waiting = session_id.is_some() && job.staff_flag.is_none();
            let pay = match (&job.price, app.stripe.api()) {
                _ if job.staff_flag.is_some() => {
                    "<p>There is a question about your payment; the staff have been told \
                     and will sort it out with you.</p>"
                        .to_string()
                }
                _ if waiting => "<meta http-equiv=\"refresh\" content=\"2\"><p>Confirming your \
                     payment…</p>"
                    .to_string(),
                (Some(price), Some(_)) => format!(
                    "<form method=\"post\" action=\"/g/{t}/pay\"><button class=\"btn\" \
                     id=\"pay\">Pay {p} and download in HD</button></form>\
                     <p class=\"quiet\">Secure payment by Stripe. The HD video has no \
                     watermark.</p>",
                    t = job.token,
                    p = esc(&price_text(price.cents, &price.currency))
                ),
                _ => "<p>Payment on the phone is not available right now. Please ask the \
                      staff at the kiosk to unlock your video.</p>"
                    .to_string(),
            };
            format!("{video}{pay}")
        }
    };
    page(
        HttpStatus::Ok,
        "Your video",
        event,
        &format!("{body}{}", delete_link(&job)),
    )
}

/// `POST /g/{token}/pay`: the job's Checkout Session (reused while open),
/// then off to Stripe.
#[post("/g/<token>/pay")]
pub async fn pay(
    token: Result<GuestToken, MalformedId>,
    app: &State<Arc<Shared>>,
) -> Result<Redirect, Page> {
    let job = load(app, token).map_err(|p| *p)?;
    let back = format!("/g/{}", job.token);
    match job.status {
        Status::PreviewReady if job.staff_flag.is_none() => {}
        Status::Expired => {
            return Err(message(
                app,
                HttpStatus::Gone,
                "Deleted",
                "This video has been deleted after the event's retention time.",
            ))
        }
        // Already unlocked, not ready, flagged: the page says what to do.
        _ => return Ok(Redirect::to(back)),
    }
    let (Some(api), Some(price)) = (app.stripe.api(), &job.price) else {
        return Err(message(
            app,
            HttpStatus::ServiceUnavailable,
            "Ask the staff",
            "Payment on the phone is not available at this event. Please ask the staff at the kiosk.",
        ));
    };
    let now_s = crate::jobs::now_ms() / 1000;
    if let Some(c) = job.checkout.as_ref().filter(|c| c.expires_at > now_s + 60) {
        return Ok(Redirect::to(c.url.clone()));
    }
    let number = job.checkout.as_ref().map_or(1, |c| c.number + 1);
    let base = app.settings.public_base();
    let request = NewSession {
        job_id: job.id,
        price: price.clone(),
        product_name: format!("{} — animated photo (HD video)", app.live.get().event_name),
        success_url: format!("{base}/g/{}?session_id={{CHECKOUT_SESSION_ID}}", job.token),
        cancel_url: format!("{base}/g/{}", job.token),
        expires_at: now_s + i64::from(app.settings.checkout_expiry_minutes) * 60,
        idempotency_key: format!("smileloop-{}-{number}", job.id),
    };
    let created = api.create_session(&request).await.map_err(|e| {
        tracing::warn!(job = %job.id, "checkout not created: {e}");
        let text = match e {
            PaymentError::Offline(_) => {
                "The payment service cannot be reached right now. Please try again in a \
                 minute, or ask the staff at the kiosk."
            }
            _ => "Payment could not be started. Please ask the staff at the kiosk.",
        };
        message(
            app,
            HttpStatus::ServiceUnavailable,
            "Payment unavailable",
            text,
        )
    })?;
    let checkout = Checkout {
        session_id: created.id.clone(),
        url: created.url.clone(),
        expires_at: created.expires_at,
        number,
        earlier: vec![],
    };
    let saved = app.store.update(job.id, |j| {
        j.checkout = Some(match &j.checkout {
            Some(old) => old.replaced_by(checkout.clone()),
            None => checkout.clone(),
        })
    });
    let flushed = match saved {
        Ok(_) => app.store.flush().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = flushed {
        tracing::error!(job = %job.id, "checkout not saved: {e}");
        return Err(message(
            app,
            HttpStatus::InternalServerError,
            "Error",
            "Something went wrong on the kiosk. Please try again.",
        ));
    }
    tracing::info!(job = %job.id, session = %created.id, "checkout opened");
    Ok(Redirect::to(created.url))
}

/// `GET /g/{token}/delete`: the confirmation step.
#[get("/g/<token>/delete")]
pub fn confirm_delete(token: Result<GuestToken, MalformedId>, app: &State<Arc<Shared>>) -> Page {
    let job = match load(app, token) {
        Ok(job) => job,
        Err(page) => return *page,
    };
    let paid = if job.payment.is_some() {
        " You have paid for this video; deleting it cannot be undone and the payment is not refunded."
    } else {
        ""
    };
    page(
        HttpStatus::Ok,
        "Delete",
        &app.live.get().event_name,
        &format!(
            "<p>Delete your photo and video from this kiosk now? This cannot be undone.{paid}</p>\
             <form method=\"post\" action=\"/g/{t}/delete\"><input type=\"hidden\" \
             name=\"confirm\" value=\"yes\"><button class=\"btn danger\" id=\"delete\">Delete \
             now</button></form><p><a href=\"/g/{t}\">Back</a></p>",
            t = job.token
        ),
    )
}

#[derive(FromForm)]
pub struct DeleteForm<'r> {
    confirm: &'r str,
}

/// `POST /g/{token}/delete` with `confirm=yes`: immediate and irreversible.
#[post("/g/<token>/delete", data = "<form>")]
pub async fn delete(
    token: Result<GuestToken, MalformedId>,
    form: Option<Form<DeleteForm<'_>>>,
    app: &State<Arc<Shared>>,
) -> Page {
    let job = match load(app, token) {
        Ok(job) => job,
        Err(page) => return *page,
    };
    if form.as_ref().map(|f| f.confirm) != Some("yes") {
        return message(
            app,
            HttpStatus::BadRequest,
            "Not deleted",
            "Nothing was deleted: please confirm on the delete page.",
        );
    }
    match retention::delete_now(&app.store, &app.settings.data_dir, job.id).await {
        Ok(_) => message(
            app,
            HttpStatus::Ok,
            "Deleted",
            "Your photo and video have been deleted from this kiosk.",
        ),
        Err(crate::jobs::StoreError::IllegalTransition { .. }) => message(
            app,
            HttpStatus::Conflict,
            "Not yet",
            "Your video is being made right now. Please try again in a few seconds.",
        ),
        Err(e) => {
            tracing::error!(job = %job.id, "delete failed: {e}");
            message(
                app,
                HttpStatus::InternalServerError,
                "Error",
                "Something went wrong; nothing was deleted. Please try again.",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_like_prices() {
        assert_eq!(price_text(799, "usd"), "7.99 USD");
        assert_eq!(price_text(1000, "eur"), "10.00 EUR");
        assert_eq!(price_text(500, "jpy"), "500 JPY");
    }
}
