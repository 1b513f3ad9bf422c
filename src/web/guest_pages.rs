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

use super::lang::PageLang;
use crate::i18n::Lang;
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

/// A phone page: `body` is HTML in `lang`, under the event's name, with
/// links to the other languages below.
pub(super) fn page(status: HttpStatus, lang: Lang, title: &str, event: &str, body: &str) -> Page {
    (
        status,
        RawHtml(format!(
            "<!doctype html><html lang=\"{code}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <meta name=\"robots\" content=\"noindex\"><title>{title} · {event}</title>\
             <style>{STYLE}</style></head><body><h1>{event}</h1>{body}{switch}</body></html>",
            code = lang.code(),
            title = esc(title),
            event = esc(event),
            switch = super::lang::switch(lang),
        )),
    )
}

/// A page that says one thing: catalogue keys for its title and text.
pub(super) fn message(
    app: &Shared,
    lang: Lang,
    status: HttpStatus,
    title: &str,
    text: &str,
) -> Page {
    said(app, lang, status, title, lang.text(text))
}

/// [`message`] with the text already in words.
pub(super) fn said(app: &Shared, lang: Lang, status: HttpStatus, title: &str, text: &str) -> Page {
    page(
        status,
        lang,
        lang.text(title),
        &app.live.get().event_name,
        &format!("<p>{}</p>", esc(text)),
    )
}

fn not_found(app: &Shared, lang: Lang) -> Page {
    message(
        app,
        lang,
        HttpStatus::NotFound,
        "page_not_found",
        "page_not_found_text",
    )
}

fn load(
    app: &Shared,
    lang: Lang,
    token: Result<GuestToken, MalformedId>,
) -> Result<Job, Box<Page>> {
    let token = token.map_err(|_| Box::new(not_found(app, lang)))?;
    match app.store.get_by_token(token) {
        Ok(Some(job)) => Ok(job),
        Ok(None) => Err(Box::new(not_found(app, lang))),
        Err(e) => {
            tracing::error!("guest page: {e}");
            Err(Box::new(message(
                app,
                lang,
                HttpStatus::InternalServerError,
                "page_error",
                "page_error_text",
            )))
        }
    }
}

pub fn price_text(minor: u32, currency: &str) -> String {
    crate::money::price_text(minor, currency)
}

fn delete_link(lang: Lang, job: &Job) -> String {
    format!(
        "<p><a href=\"/g/{}/delete\">{}</a></p>",
        job.token,
        esc(lang.text("page_delete_link"))
    )
}

/// `GET /g/{token}[?session_id=…]`
#[get("/g/<token>?<session_id>")]
pub async fn guest_page(
    token: Result<GuestToken, MalformedId>,
    session_id: Option<&str>,
    lang: PageLang,
    app: &State<Arc<Shared>>,
) -> Page {
    let lang = lang.0;
    let mut job = match load(app, lang, token) {
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
    let words = |key: &str| esc(lang.text(key)).into_owned();
    let body = match job.status {
        Status::Uploaded | Status::Queued | Status::Rendering => format!(
            "<meta http-equiv=\"refresh\" content=\"3\"><p>{}</p>",
            words("page_coming")
        ),
        Status::Failed => format!("<p>{}</p>", words("page_failed")),
        Status::Expired => {
            return message(
                app,
                lang,
                HttpStatus::Gone,
                "page_deleted",
                "page_expired_text",
            )
        }
        Status::Unlocked => format!(
            "{video}<p class=\"ok\">{ready}</p>\
             <a class=\"btn\" id=\"download\" href=\"/d/{t}\" download>{download}</a>\
             <p class=\"quiet\">{hint}</p>",
            t = job.token,
            ready = words("page_ready"),
            download = words("page_download"),
            hint = words("page_save_hint"),
        ),
        Status::PreviewReady => {
            let waiting = session_id.is_some() && job.staff_flag.is_none();
            let pay = match (&job.price, app.stripe.api()) {
                _ if job.staff_flag.is_some() => format!("<p>{}</p>", words("page_flagged")),
                _ if waiting => format!(
                    "<meta http-equiv=\"refresh\" content=\"2\"><p>{}</p>",
                    words("page_confirming")
                ),
                (Some(price), Some(_)) => format!(
                    "<form method=\"post\" action=\"/g/{t}/pay\"><button class=\"btn\" \
                     id=\"pay\">{button}</button></form><p class=\"quiet\">{note}</p>",
                    t = job.token,
                    button = esc(&lang.fill(
                        "page_pay",
                        &[("price", &price_text(price.cents, &price.currency))]
                    )),
                    note = words("page_pay_note"),
                ),
                _ => format!("<p>{}</p>", words("page_pay_missing")),
            };
            format!("{video}{pay}")
        }
    };
    page(
        HttpStatus::Ok,
        lang,
        lang.text("page_your_video"),
        event,
        &format!("{body}{}", delete_link(lang, &job)),
    )
}

/// `POST /g/{token}/pay`: the job's Checkout Session (reused while open),
/// then off to Stripe.
#[post("/g/<token>/pay")]
pub async fn pay(
    token: Result<GuestToken, MalformedId>,
    lang: PageLang,
    app: &State<Arc<Shared>>,
) -> Result<Redirect, Page> {
    let lang = lang.0;
    let job = load(app, lang, token).map_err(|p| *p)?;
    let back = format!("/g/{}", job.token);
    match job.status {
        Status::PreviewReady if job.staff_flag.is_none() => {}
        Status::Expired => {
            return Err(message(
                app,
                lang,
                HttpStatus::Gone,
                "page_deleted",
                "page_expired_text",
            ))
        }
        // Already unlocked, not ready, flagged: the page says what to do.
        _ => return Ok(Redirect::to(back)),
    }
    let (Some(api), Some(price)) = (app.stripe.api(), &job.price) else {
        return Err(message(
            app,
            lang,
            HttpStatus::ServiceUnavailable,
            "page_ask_staff",
            "page_no_payments",
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
            PaymentError::Offline(_) => "page_payment_offline",
            _ => "page_payment_failed",
        };
        message(
            app,
            lang,
            HttpStatus::ServiceUnavailable,
            "page_payment_unavailable",
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
            lang,
            HttpStatus::InternalServerError,
            "page_error",
            "page_error_text",
        ));
    }
    tracing::info!(job = %job.id, session = %created.id, "checkout opened");
    Ok(Redirect::to(created.url))
}

/// `GET /g/{token}/delete`: the confirmation step.
#[get("/g/<token>/delete")]
pub fn confirm_delete(
    token: Result<GuestToken, MalformedId>,
    lang: PageLang,
    app: &State<Arc<Shared>>,
) -> Page {
    let lang = lang.0;
    let job = match load(app, lang, token) {
        Ok(job) => job,
        Err(page) => return *page,
    };
    let words = |key: &str| esc(lang.text(key)).into_owned();
    let paid = if job.payment.is_some() {
        format!(" {}", words("page_delete_paid"))
    } else {
        String::new()
    };
    page(
        HttpStatus::Ok,
        lang,
        lang.text("page_delete"),
        &app.live.get().event_name,
        &format!(
            "<p>{question}{paid}</p>\
             <form method=\"post\" action=\"/g/{t}/delete\"><input type=\"hidden\" \
             name=\"confirm\" value=\"yes\"><button class=\"btn danger\" id=\"delete\">{now}\
             </button></form><p><a href=\"/g/{t}\">{back}</a></p>",
            t = job.token,
            question = words("page_delete_question"),
            now = words("page_delete_now"),
            back = words("back"),
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
    lang: PageLang,
    app: &State<Arc<Shared>>,
) -> Page {
    let lang = lang.0;
    let job = match load(app, lang, token) {
        Ok(job) => job,
        Err(page) => return *page,
    };
    if form.as_ref().map(|f| f.confirm) != Some("yes") {
        return message(
            app,
            lang,
            HttpStatus::BadRequest,
            "page_not_deleted",
            "page_confirm_first",
        );
    }
    match retention::delete_now(&app.store, &app.settings.data_dir, job.id).await {
        Ok(_) => message(
            app,
            lang,
            HttpStatus::Ok,
            "page_deleted",
            "page_deleted_text",
        ),
        Err(crate::jobs::StoreError::IllegalTransition { .. }) => message(
            app,
            lang,
            HttpStatus::Conflict,
            "page_not_yet",
            "page_being_made",
        ),
        Err(e) => {
            tracing::error!(job = %job.id, "delete failed: {e}");
            message(
                app,
                lang,
                HttpStatus::InternalServerError,
                "page_error",
                "page_delete_error",
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
