//! The language of a guest's phone page: `?lang=` (kept in a cookie from
//! then on, so forms and the next page stay in it), else that cookie, else
//! the phone's `Accept-Language`, else the kiosk screen's language.

use std::convert::Infallible;
use std::sync::Arc;

use rocket::http::{Cookie, SameSite};
use rocket::request::{self, FromRequest, Request};
use rocket::time::Duration;

use crate::config::LiveSettings;
use crate::i18n::{self, Lang};

const COOKIE: &str = "lang";

/// The page's language, for a handler to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLang(pub Lang);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for PageLang {
    type Error = Infallible;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Infallible> {
        request::Outcome::Success(PageLang(pick(req)))
    }
}

/// The language for this request (and, when `?lang=` chose one, the
/// cookie that keeps it).
pub fn pick(req: &Request<'_>) -> Lang {
    let asked = req
        .query_value::<&str>("lang")
        .and_then(Result::ok)
        .and_then(Lang::parse);
    if let Some(lang) = asked {
        req.cookies().add(
            Cookie::build((COOKIE, lang.code()))
                .path("/")
                .same_site(SameSite::Lax)
                .http_only(true)
                .max_age(Duration::days(30)),
        );
        return lang;
    }
    let kept = req
        .cookies()
        .get(COOKIE)
        .and_then(|c| Lang::parse(c.value()));
    let phone = || {
        req.headers()
            .get_one("Accept-Language")
            .and_then(i18n::negotiate)
    };
    let kiosk = || {
        req.rocket()
            .state::<Arc<LiveSettings>>()
            .and_then(|live| Lang::parse(&live.get().kiosk_language))
    };
    kept.or_else(phone).or_else(kiosk).unwrap_or(Lang::En)
}

/// Links to the page in the other languages (the current one unlinked).
pub fn switch(current: Lang) -> String {
    let links: Vec<String> = Lang::ALL
        .iter()
        .map(|&l| {
            if l == current {
                format!("<b>{}</b>", l.name())
            } else {
                format!(
                    "<a href=\"?lang={c}\" hreflang=\"{c}\" lang=\"{c}\">{n}</a>",
                    c = l.code(),
                    n = l.name()
                )
            }
        })
        .collect();
    format!(
        "<p class=\"quiet\" id=\"languages\">{}: {}</p>",
        current.text("page_language"),
        links.join(" · ")
    )
}
