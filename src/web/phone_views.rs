//! The HTML of the guest's phone pages, apart from the handlers that
//! choose them (`guest_pages`, `phone`). Server-rendered with inline CSS
//! and no scripts or outside resources: a few KiB, fast on 3G, nothing to
//! load from a CDN. Every word comes from the catalogue, in the page's
//! language.

use html_escape::{encode_double_quoted_attribute as attr, encode_text as esc};
use rocket::http::Status as HttpStatus;
use rocket::response::content::RawHtml;

use crate::i18n::Lang;
use crate::jobs::{Job, Status};

pub type Page = (HttpStatus, RawHtml<String>);

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;padding:1rem;max-width:32rem;\
margin:auto;background:#111;color:#eee;line-height:1.4}h1{font-size:1.3rem}\
video{width:100%;border-radius:.5rem;background:#000}.btn{display:block;width:100%;\
box-sizing:border-box;padding:1rem;margin:1rem 0;border:0;border-radius:.5rem;font-size:1.2rem;\
text-align:center;text-decoration:none;background:#2b7de9;color:#fff}.danger{background:#a33}\
.quiet{color:#aaa;font-size:.9rem}.ok{color:#6d6}a{color:#8bf}";

/// A phone page: `body` is HTML in `lang`, under the event's name, with
/// links to the other languages below.
pub fn page(status: HttpStatus, lang: Lang, title: &str, event: &str, body: &str) -> Page {
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

/// A page that says one thing, already in words.
pub fn saying(status: HttpStatus, lang: Lang, event: &str, title: &str, text: &str) -> Page {
    page(
        status,
        lang,
        lang.text(title),
        event,
        &format!("<p>{}</p>", esc(text)),
    )
}

/// What the guest page offers a video that is ready but not unlocked.
pub enum Offer {
    /// The payment is in question: staff sort it out.
    Flagged,
    /// Back from Checkout, the payment not yet seen.
    Confirming,
    /// The Pay button, with the price in words.
    Pay(String),
    /// No payment on the phone: ask the staff.
    Unavailable,
}

fn words(lang: Lang, key: &str) -> String {
    esc(lang.text(key)).into_owned()
}

/// `/g/{token}`: the loop and what comes next, by the job's state; `410`
/// once retention has deleted it.
pub fn video(lang: Lang, event: &str, job: &Job, offer: &Offer) -> Page {
    if job.status == Status::Expired {
        let text = lang.text("page_expired_text");
        return saying(HttpStatus::Gone, lang, event, "page_deleted", text);
    }
    let t = &job.token;
    let video = format!(
        "<video src=\"/g/{t}/preview.mp4\" poster=\"/g/{t}/poster.jpg\" autoplay loop muted \
         playsinline></video>"
    );
    let body = match job.status {
        Status::Uploaded | Status::Queued | Status::Rendering => format!(
            "<meta http-equiv=\"refresh\" content=\"3\"><p>{}</p>",
            words(lang, "page_coming")
        ),
        // Expired is answered above.
        Status::Failed | Status::Expired => format!("<p>{}</p>", words(lang, "page_failed")),
        Status::Unlocked => format!(
            "{video}<p class=\"ok\">{ready}</p>\
             <a class=\"btn\" id=\"download\" href=\"/d/{t}\" download>{download}</a>\
             <p class=\"quiet\">{hint}</p>",
            ready = words(lang, "page_ready"),
            download = words(lang, "page_download"),
            hint = words(lang, "page_save_hint"),
        ),
        Status::PreviewReady => {
            let pay = match offer {
                Offer::Flagged => format!("<p>{}</p>", words(lang, "page_flagged")),
                Offer::Confirming => format!(
                    "<meta http-equiv=\"refresh\" content=\"2\"><p>{}</p>",
                    words(lang, "page_confirming")
                ),
                Offer::Pay(price) => format!(
                    "<form method=\"post\" action=\"/g/{t}/pay\"><button class=\"btn\" \
                     id=\"pay\">{button}</button></form><p class=\"quiet\">{note}</p>",
                    button = esc(&lang.fill("page_pay", &[("price", price)])),
                    note = words(lang, "page_pay_note"),
                ),
                Offer::Unavailable => format!("<p>{}</p>", words(lang, "page_pay_missing")),
            };
            format!("{video}{pay}")
        }
    };
    page(
        HttpStatus::Ok,
        lang,
        lang.text("page_your_video"),
        event,
        &format!("{body}{}", delete_link(lang, job)),
    )
}

fn delete_link(lang: Lang, job: &Job) -> String {
    format!(
        "<p><a href=\"/g/{}/delete\">{}</a></p>",
        job.token,
        words(lang, "page_delete_link")
    )
}

/// `/g/{token}/delete`: the confirmation step.
pub fn confirm_delete(lang: Lang, event: &str, job: &Job) -> Page {
    let paid = if job.payment.is_some() {
        format!(" {}", words(lang, "page_delete_paid"))
    } else {
        String::new()
    };
    page(
        HttpStatus::Ok,
        lang,
        lang.text("page_delete"),
        event,
        &format!(
            "<p>{question}{paid}</p>\
             <form method=\"post\" action=\"/g/{t}/delete\"><input type=\"hidden\" \
             name=\"confirm\" value=\"yes\"><button class=\"btn danger\" id=\"delete\">{now}\
             </button></form><p><a href=\"/g/{t}\">{back}</a></p>",
            t = job.token,
            question = words(lang, "page_delete_question"),
            now = words(lang, "page_delete_now"),
            back = words(lang, "back"),
        ),
    )
}

/// `/u/{code}`: the phone's upload form, with what went wrong last time.
pub fn upload_form(
    lang: Lang,
    event: &str,
    code: &str,
    status: HttpStatus,
    problem: Option<&str>,
) -> Page {
    let problem = problem
        .map(|p| format!("<p class=\"ok\" style=\"color:#f98\">{}</p>", esc(p)))
        .unwrap_or_default();
    let body = format!(
        "<p>{choose}</p>{problem}\
         <form method=\"post\" action=\"/u/{code}\" enctype=\"multipart/form-data\">\
         <input type=\"file\" name=\"photo\" accept=\"image/jpeg,image/png,image/webp\" required \
         style=\"font-size:1.1rem;margin:1rem 0\">\
         <button class=\"btn\" type=\"submit\">{send}</button></form>\
         <p class=\"quiet\">{note}</p>",
        code = attr(code),
        choose = words(lang, "page_choose"),
        send = words(lang, "page_send"),
        note = words(lang, "page_send_note"),
    );
    page(status, lang, lang.text("page_send_photo"), event, &body)
}
