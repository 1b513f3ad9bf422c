//! Signing in and out: the login form (a growing wait after wrong
//! passwords), the first-boot setup screen (only from the kiosk itself,
//! only while no password is set), sign-out, sign-out everywhere and the
//! password change.

use std::sync::Arc;

use html_escape::encode_double_quoted_attribute as attr;
use rocket::form::{Form, FromForm};
use rocket::http::{Cookie, CookieJar, SameSite, Status};
use rocket::response::Redirect;
use rocket::{get, post, routes, Either, Route, State};

use super::view::{layout, Html, PageError};
use super::{AdminPeer, StaffWrite, COOKIE};
use crate::admin::auth::{self, AuthError, SESSION_MS};
use crate::admin::throttle::Refused;
use crate::admin::Admin;

/// Double-submit token for the login form (there is no session yet).
const LOGIN_COOKIE: &str = "smileloop_login";

pub fn routes() -> Vec<Route> {
    routes![login_page, login, setup_page, setup, logout, logout_all, password]
}

/// A fresh double-submit token for a form shown before sign-in: set as a
/// cookie and echoed in the form.
fn form_token(jar: &CookieJar<'_>) -> String {
    let token = auth::random_token();
    jar.add(
        Cookie::build((LOGIN_COOKIE, token.clone()))
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Strict)
            .path("/admin"),
    );
    token
}

fn login_form(jar: &CookieJar<'_>, status: Status, note: &str) -> Html {
    let token = form_token(jar);
    let body = format!(
        "<div class=\"card\">{note}<form method=\"post\" action=\"/admin/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{t}\">\
         <label>Staff password <input type=\"password\" name=\"password\" \
         autocomplete=\"current-password\" required autofocus></label>\
         <button>Sign in</button></form></div>",
        t = attr(&token),
    );
    layout(status, "Sign in", None, &body)
}

#[get("/admin/login")]
fn login_page(
    _peer: AdminPeer,
    admin: &State<Arc<Admin>>,
    jar: &CookieJar<'_>,
) -> Either<Html, Redirect> {
    if !admin.auth.has_password().unwrap_or(true) {
        return Either::Right(Redirect::to("/admin/setup"));
    }
    Either::Left(login_form(jar, Status::Ok, ""))
}

#[derive(FromForm)]
struct LoginForm<'r> {
    password: &'r str,
    csrf: &'r str,
}

fn start_session(admin: &Admin, jar: &CookieJar<'_>) -> Result<(), PageError> {
    let (token, _) = admin
        .auth
        .open_session(admin.clock.wall_ms())
        .map_err(PageError::internal)?;
    jar.add(
        Cookie::build((COOKIE, token))
            // The admin listener speaks HTTPS only (its edge); Rocket
            // behind it sees plain HTTP, so this is said, not inferred.
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Strict)
            .path("/")
            .max_age(rocket::time::Duration::milliseconds(SESSION_MS)),
    );
    jar.remove(Cookie::build(LOGIN_COOKIE).path("/admin"));
    Ok(())
}

#[post("/admin/login", data = "<form>")]
async fn login(
    peer: AdminPeer,
    admin: &State<Arc<Admin>>,
    jar: &CookieJar<'_>,
    form: Option<Form<LoginForm<'_>>>,
) -> Result<Redirect, Result<Html, PageError>> {
    let AdminPeer(ip) = peer;
    let expected = jar.get(LOGIN_COOKIE).map(|c| c.value().to_string());
    let Some(form) = form.filter(|f| expected.as_deref() == Some(f.csrf)) else {
        return Err(Ok(login_form(
            jar,
            Status::Forbidden,
            "<p class=\"bad\">The sign-in form expired. Please try again.</p>",
        )));
    };
    let refused = |why: Refused| {
        login_form(
            jar,
            Status::TooManyRequests,
            &format!("<p class=\"bad\">{why}</p>"),
        )
    };
    let attempt = match admin.throttle.admit(ip, admin.clock.wall_ms()) {
        Ok(a) => a,
        Err(why) => return Err(Ok(refused(why))),
    };
    let password = form.password.to_string();
    let auth = admin.auth.clone();
    let ok = match admin.throttle.check(move || auth.verify(&password)).await {
        Ok(ok) => ok,
        Err(why) => return Err(Ok(refused(why))),
    };
    match ok {
        Ok(true) => {
            attempt.succeeded();
            start_session(admin, jar).map_err(Err)?;
            let _ = admin.audit.record(ip, "login", "signed in").await;
            Ok(Redirect::to("/admin"))
        }
        Ok(false) => {
            let n = attempt.failed(admin.clock.wall_ms());
            let _ = admin
                .audit
                .record(ip, "login_failed", format!("wrong password ({n} in a row)"))
                .await;
            Err(Ok(login_form(
                jar,
                Status::Unauthorized,
                "<p class=\"bad\">Wrong password.</p>",
            )))
        }
        Err(AuthError::NoPassword) => Ok(Redirect::to("/admin/setup")),
        Err(e) => Err(Err(PageError::internal(e))),
    }
}

/// First boot only, and only from the kiosk itself: the staff at the box
/// choose the password on its own screen.
fn setup_allowed(peer: &AdminPeer, admin: &Admin) -> Result<(), PageError> {
    if !peer.0.is_loopback() {
        return Err(PageError::new(
            Status::Forbidden,
            "The first staff password is set on the kiosk's own screen (or with \
             `smileloop admin set-password`), not from another device.",
        ));
    }
    match admin.auth.has_password() {
        Ok(false) => Ok(()),
        Ok(true) => Err(PageError::new(
            Status::Conflict,
            "A staff password is already set. Sign in to change it.",
        )),
        Err(e) => Err(PageError::internal(e)),
    }
}

#[get("/admin/setup")]
fn setup_page(
    peer: AdminPeer,
    admin: &State<Arc<Admin>>,
    jar: &CookieJar<'_>,
) -> Result<Html, PageError> {
    setup_allowed(&peer, admin)?;
    let token = form_token(jar);
    let body = format!(
        "<div class=\"card\"><p>Welcome. Choose the staff password for this kiosk \
         ({min}+ characters). Staff sign in with it from their phones.</p>\
         <form method=\"post\" action=\"/admin/setup\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{t}\">\
         <label>New password <input type=\"password\" name=\"password\" required \
         autocomplete=\"new-password\"></label><label>Again <input type=\"password\" \
         name=\"again\" required autocomplete=\"new-password\"></label>\
         <button>Set password</button></form></div>",
        min = auth::MIN_PASSWORD,
        t = attr(&token),
    );
    Ok(layout(Status::Ok, "Set up", None, &body))
}

#[derive(FromForm)]
struct NewPassword<'r> {
    password: &'r str,
    again: &'r str,
    csrf: &'r str,
}

#[post("/admin/setup", data = "<form>")]
async fn setup(
    peer: AdminPeer,
    admin: &State<Arc<Admin>>,
    jar: &CookieJar<'_>,
    form: Option<Form<NewPassword<'_>>>,
) -> Result<Redirect, PageError> {
    setup_allowed(&peer, admin)?;
    let expected = jar.get(LOGIN_COOKIE).map(|c| c.value().to_string());
    let form = form
        .filter(|f| expected.as_deref() == Some(f.csrf))
        .ok_or_else(|| PageError::new(Status::Forbidden, "The form expired. Please try again."))?;
    set_password(admin, form.password, form.again).await?;
    start_session(admin, jar)?;
    let _ = admin
        .audit
        .record(peer.0, "password", "first staff password set")
        .await;
    Ok(Redirect::to("/admin"))
}

async fn set_password(admin: &Admin, password: &str, again: &str) -> Result<(), PageError> {
    auth::check_new_password(password, again).map_err(|e| {
        PageError::new(
            Status::UnprocessableEntity,
            crate::web::error::capitalise(&e.to_string()),
        )
    })?;
    let auth = admin.auth.clone();
    let password = password.to_string();
    tokio::task::spawn_blocking(move || auth.set_password(&password))
        .await
        .map_err(PageError::internal)?
        .map_err(PageError::internal)
}

#[post("/admin/logout")]
async fn logout(
    staff: StaffWrite,
    admin: &State<Arc<Admin>>,
    jar: &CookieJar<'_>,
) -> Result<Redirect, PageError> {
    admin
        .auth
        .close_session(&staff.0.token)
        .map_err(PageError::internal)?;
    jar.remove(Cookie::build(COOKIE).path("/"));
    let _ = admin
        .audit
        .record(staff.0.peer, "logout", "signed out")
        .await;
    Ok(Redirect::to("/admin/login"))
}

#[post("/admin/logout-all")]
async fn logout_all(
    staff: StaffWrite,
    admin: &State<Arc<Admin>>,
    jar: &CookieJar<'_>,
) -> Result<Redirect, PageError> {
    let n = admin.auth.close_all().map_err(PageError::internal)?;
    jar.remove(Cookie::build(COOKIE).path("/"));
    let _ = admin
        .audit
        .record(
            staff.0.peer,
            "logout_all",
            format!("signed out everywhere ({n} sessions)"),
        )
        .await;
    Ok(Redirect::to("/admin/login"))
}

/// The staff password typed again, for a change that could lock staff out
/// or hand the takings to someone else (the password, the Stripe keys,
/// the allowed networks): a session left open on a phone is not enough.
/// Checked through the login throttle, so it cannot be guessed faster
/// than a sign-in can.
pub(super) async fn confirm_password(
    admin: &Admin,
    peer: std::net::IpAddr,
    given: &str,
) -> Result<(), PageError> {
    let too_many = |why: Refused| {
        PageError::new(
            Status::TooManyRequests,
            format!("{why} Nothing was changed."),
        )
    };
    let attempt = admin
        .throttle
        .admit(peer, admin.clock.wall_ms())
        .map_err(too_many)?;
    let auth = admin.auth.clone();
    let given = given.to_string();
    let right = admin
        .throttle
        .check(move || auth.verify(&given))
        .await
        .map_err(too_many)?
        .map_err(PageError::internal)?;
    if !right {
        let n = attempt.failed(admin.clock.wall_ms());
        let _ = admin
            .audit
            .record(
                peer,
                "password_refused",
                format!("wrong current password ({n} in a row)"),
            )
            .await;
        return Err(PageError::new(
            Status::Forbidden,
            "The current password is wrong; nothing was changed.",
        ));
    }
    attempt.succeeded();
    Ok(())
}

#[derive(FromForm)]
struct ChangePassword<'r> {
    current: &'r str,
    password: &'r str,
    again: &'r str,
}

/// A new password signs every device out, this one too.
#[post("/admin/password", data = "<form>")]
async fn password(
    staff: StaffWrite,
    admin: &State<Arc<Admin>>,
    jar: &CookieJar<'_>,
    form: Form<ChangePassword<'_>>,
) -> Result<Redirect, PageError> {
    confirm_password(admin, staff.0.peer, form.current).await?;
    set_password(admin, form.password, form.again).await?;
    jar.remove(Cookie::build(COOKIE).path("/"));
    let _ = admin
        .audit
        .record(
            staff.0.peer,
            "password",
            "staff password changed; everyone signed out",
        )
        .await;
    Ok(Redirect::to("/admin/login"))
}
