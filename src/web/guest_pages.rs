//! The guest's phone pages at `/g/{token}`: the watermarked loop, the price
//! and a Pay button; after payment (or at a host-paid event) the download;
//! always "Delete my photo and video now". The handlers decide; the HTML
//! is in `phone_views`.

use std::sync::Arc;

use rocket::form::{Form, FromForm};
use rocket::http::Status as HttpStatus;
use rocket::response::Redirect;
use rocket::{get, post, State};

use super::lang::PageLang;
use super::lookup::Missing;
pub(super) use super::phone_views::Page;
use super::phone_views::{self as views, Offer};
use crate::config::{LiveSettings, Settings};
use crate::i18n::Lang;
use crate::jobs::JobStore;
use crate::jobs::{retention, GuestToken, Job, MalformedId};
use crate::payments::checkout::{CheckoutError, Next};
use crate::payments::PaymentError;
use crate::state::Payments;

/// A page that says one thing: catalogue keys for its title and text.
pub(super) fn message(
    live: &LiveSettings,
    lang: Lang,
    status: HttpStatus,
    title: &str,
    text: &str,
) -> Page {
    said(live, lang, status, title, lang.text(text))
}

/// [`message`] with the text already in words.
pub(super) fn said(
    live: &LiveSettings,
    lang: Lang,
    status: HttpStatus,
    title: &str,
    text: &str,
) -> Page {
    views::saying(status, lang, &live.get().event_name, title, text)
}

fn not_found(live: &LiveSettings, lang: Lang) -> Page {
    message(
        live,
        lang,
        HttpStatus::NotFound,
        "page_not_found",
        "page_not_found_text",
    )
}

fn load(
    store: &JobStore,
    live: &LiveSettings,
    lang: Lang,
    token: Result<GuestToken, MalformedId>,
) -> Result<Job, Box<Page>> {
    match super::lookup::guest(store, token) {
        Ok(job) => Ok(job),
        Err(Missing::Store(e)) => {
            tracing::error!("guest page: {e}");
            Err(Box::new(message(
                live,
                lang,
                HttpStatus::InternalServerError,
                "page_error",
                "page_error_text",
            )))
        }
        Err(_) => Err(Box::new(not_found(live, lang))),
    }
}

pub fn price_text(minor: u32, currency: &str) -> String {
    crate::money::price_text(minor, currency)
}

/// `GET /g/{token}[?session_id=…]`
#[get("/g/<token>?<session_id>")]
pub async fn guest_page(
    token: Result<GuestToken, MalformedId>,
    session_id: Option<&str>,
    lang: PageLang,
    store: &State<JobStore>,
    live: &State<Arc<LiveSettings>>,
    payments: &State<Payments>,
) -> Page {
    let lang = lang.0;
    let mut job = match load(store, live, lang, token) {
        Ok(job) => job,
        Err(page) => return *page,
    };
    if let Some(sid) = session_id {
        job = payments.checkouts().returned(job, sid).await;
    }
    let offer = match (&job.price, payments.stripe.api()) {
        _ if job.staff_flag.is_some() => Offer::Flagged,
        _ if session_id.is_some() => Offer::Confirming,
        (Some(price), Some(_)) => Offer::Pay(price_text(price.cents, &price.currency)),
        _ => Offer::Unavailable,
    };
    views::video(lang, &live.get().event_name, &job, &offer)
}

/// `POST /g/{token}/pay`: the job's Checkout Session (reused while open),
/// then off to Stripe.
#[post("/g/<token>/pay")]
pub async fn pay(
    token: Result<GuestToken, MalformedId>,
    lang: PageLang,
    store: &State<JobStore>,
    live: &State<Arc<LiveSettings>>,
    payments: &State<Payments>,
) -> Result<Redirect, Page> {
    let lang = lang.0;
    let job = load(store, live, lang, token).map_err(|p| *p)?;
    match payments.checkouts().open(&job).await {
        Ok(Next::Stripe(url)) => Ok(Redirect::to(url)),
        Ok(Next::Back) => Ok(Redirect::to(format!("/g/{}", job.token))),
        Err(e) => Err(checkout_refused(live, lang, &job, e)),
    }
}

/// The page for a checkout that could not be opened.
fn checkout_refused(live: &LiveSettings, lang: Lang, job: &Job, e: CheckoutError) -> Page {
    let (status, title, text) = match &e {
        CheckoutError::Expired => (HttpStatus::Gone, "page_deleted", "page_expired_text"),
        CheckoutError::NoPayments => (
            HttpStatus::ServiceUnavailable,
            "page_ask_staff",
            "page_no_payments",
        ),
        CheckoutError::Stripe(PaymentError::Offline(_)) => (
            HttpStatus::ServiceUnavailable,
            "page_payment_unavailable",
            "page_payment_offline",
        ),
        CheckoutError::Stripe(_) => (
            HttpStatus::ServiceUnavailable,
            "page_payment_unavailable",
            "page_payment_failed",
        ),
        CheckoutError::Store(_) => (
            HttpStatus::InternalServerError,
            "page_error",
            "page_error_text",
        ),
    };
    match e {
        CheckoutError::Stripe(_) => tracing::warn!(job = %job.id, "{e}"),
        CheckoutError::Store(_) => tracing::error!(job = %job.id, "{e}"),
        _ => {}
    }
    message(live, lang, status, title, text)
}

/// `GET /g/{token}/delete`: the confirmation step.
#[get("/g/<token>/delete")]
pub fn confirm_delete(
    token: Result<GuestToken, MalformedId>,
    lang: PageLang,
    store: &State<JobStore>,
    live: &State<Arc<LiveSettings>>,
) -> Page {
    let lang = lang.0;
    let job = match load(store, live, lang, token) {
        Ok(job) => job,
        Err(page) => return *page,
    };
    views::confirm_delete(lang, &live.get().event_name, &job)
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
    store: &State<JobStore>,
    live: &State<Arc<LiveSettings>>,
    settings: &State<Settings>,
) -> Page {
    let lang = lang.0;
    let job = match load(store, live, lang, token) {
        Ok(job) => job,
        Err(page) => return *page,
    };
    if form.as_ref().map(|f| f.confirm) != Some("yes") {
        return message(
            live,
            lang,
            HttpStatus::BadRequest,
            "page_not_deleted",
            "page_confirm_first",
        );
    }
    match retention::delete_now(store, &settings.data_dir, job.id).await {
        Ok(_) => message(
            live,
            lang,
            HttpStatus::Ok,
            "page_deleted",
            "page_deleted_text",
        ),
        Err(crate::jobs::StoreError::IllegalTransition { .. }) => message(
            live,
            lang,
            HttpStatus::Conflict,
            "page_not_yet",
            "page_being_made",
        ),
        Err(e) => {
            tracing::error!(job = %job.id, "delete failed: {e}");
            message(
                live,
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
