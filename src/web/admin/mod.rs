//! The admin listener (`admin_address`:`admin_port`): `/admin` pages and
//! `/api/admin/…` for venue staff. Nothing here exists on the kiosk or
//! guest listeners.
//!
//! Access, in the order Rocket checks it: [`AdminPeer`] (the TCP peer is
//! in `admin_networks`; forwarded headers are never read), then [`Staff`]
//! (a live session cookie), then for every state change [`StaffWrite`]
//! (the session's CSRF token in `X-CSRF-Token` or the `csrf` query
//! parameter of the form's action). Every route takes one of them; a test
//! walks the route table to prove it.

mod api;
mod dashboard_view;
mod jobs;
mod login;
mod metrics;
mod pages;
mod printing;
mod selftest;
mod settings;
mod view;

use std::net::IpAddr;
use std::sync::Arc;

use rocket::fairing::AdHoc;
use rocket::http::{Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{catchers, Build, Rocket, Route};

use crate::admin::auth::Session;
use crate::admin::Admin;
use crate::config::{LiveSettings, Settings};
use crate::jobs::queue::Admission;
use crate::jobs::JobStore;
use crate::state::{Presets, Renderer, Shared, StartError};

pub const COOKIE: &str = "smileloop_staff";

/// Routes anyone on an allowed network may use: sign-in itself, and the
/// read-only metrics a fleet's Prometheus scrapes; the self-test answers
/// the box itself only.
pub const OPEN_ROUTES: [&str; 6] = [
    "GET /metrics",
    "GET /api/selftest",
    "GET /admin/login",
    "POST /admin/login",
    "GET /admin/setup",
    "POST /admin/setup",
];

pub fn routes() -> Vec<Route> {
    let mut r = login::routes();
    r.extend(pages::routes());
    r.extend(api::routes());
    r.extend(metrics::routes());
    r.extend(selftest::routes());
    r.extend(printing::routes());
    r
}

pub fn rocket(shared: Arc<Shared>) -> Result<Rocket<Build>, StartError> {
    // The peer's address comes from the edge (`client_ip`); a proxy's
    // header never reaches here.
    let cfg = super::config(&shared);
    let admin = Arc::new(Admin::open(&shared.store)?);
    let rocket = rocket::custom(cfg)
        .mount("/", routes())
        .register("/", catchers![view::catch_all])
        .attach(AdHoc::on_response("admin headers", |_, res| {
            Box::pin(async move {
                res.set_header(Header::new("Cache-Control", "no-store"));
                res.set_header(Header::new("Referrer-Policy", "no-referrer"));
                res.set_header(Header::new("X-Frame-Options", "DENY"));
                res.set_header(Header::new("X-Content-Type-Options", "nosniff"));
                res.set_header(Header::new(
                    "Content-Security-Policy",
                    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; \
                     form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                ));
            })
        }))
        .manage(admin);
    // The self-test checks the whole kiosk: its route alone takes it all.
    Ok(shared
        .manage(rocket)
        .manage(SelfTestKit(Arc::clone(&shared))))
}

/// Why a request was refused, for the catcher's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    None,
    Network,
    SignIn,
    Csrf,
}

fn refuse<T>(req: &Request<'_>, why: Refusal, status: Status) -> Outcome<T, Refusal> {
    req.local_cache(|| why);
    Outcome::Error((status, why))
}

/// Everything, for the self-test (see [`rocket`]).
pub struct SelfTestKit(pub Arc<Shared>);

fn state<'r>(req: &'r Request<'_>) -> Option<(&'r Arc<LiveSettings>, &'r Arc<Admin>)> {
    Some((
        req.rocket().state::<Arc<LiveSettings>>()?,
        req.rocket().state::<Arc<Admin>>()?,
    ))
}

/// A request from an allowed network.
pub struct AdminPeer(pub IpAddr);

fn peer_allowed(req: &Request<'_>) -> Option<IpAddr> {
    let (live, _) = state(req)?;
    let ip = req.client_ip()?;
    live.get().admin_allowed(ip).then_some(ip)
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AdminPeer {
    type Error = Refusal;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Refusal> {
        match peer_allowed(req) {
            Some(ip) => Outcome::Success(AdminPeer(ip)),
            None => refuse(req, Refusal::Network, Status::Forbidden),
        }
    }
}

/// A signed-in staff member on an allowed network.
pub struct Staff {
    pub peer: IpAddr,
    pub token: String,
    pub session: Session,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Staff {
    type Error = Refusal;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Refusal> {
        let AdminPeer(peer) = rocket::outcome::try_outcome!(req.guard::<AdminPeer>().await);
        let Some((_, admin)) = state(req) else {
            return refuse(req, Refusal::SignIn, Status::InternalServerError);
        };
        let token = req.cookies().get(COOKIE).map(|c| c.value().to_string());
        let session = token
            .as_deref()
            .map(|t| admin.auth.session(t, admin.clock.wall_ms()));
        match (token, session) {
            (Some(token), Some(Ok(Some(session)))) => Outcome::Success(Staff {
                peer,
                token,
                session,
            }),
            (_, Some(Err(e))) => {
                tracing::error!("staff session lookup: {e}");
                refuse(req, Refusal::SignIn, Status::InternalServerError)
            }
            _ => refuse(req, Refusal::SignIn, Status::Unauthorized),
        }
    }
}

/// A signed-in staff member making a change, with the session's CSRF
/// token.
pub struct StaffWrite(pub Staff);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for StaffWrite {
    type Error = Refusal;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Refusal> {
        let staff = rocket::outcome::try_outcome!(req.guard::<Staff>().await);
        let given = req
            .headers()
            .get_one("X-CSRF-Token")
            .map(str::to_string)
            .or_else(|| req.query_value::<String>("csrf").and_then(Result::ok));
        match given {
            Some(t) if staff.session.csrf_matches(&t) => Outcome::Success(StaffWrite(staff)),
            _ => refuse(req, Refusal::Csrf, Status::Forbidden),
        }
    }
}

/// A signed-in staff member's change, at the staff desk: the actions
/// write their audit entry themselves.
pub struct AtDesk<'r>(pub crate::admin::Desk<'r>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AtDesk<'r> {
    type Error = Refusal;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Refusal> {
        let StaffWrite(staff) = rocket::outcome::try_outcome!(req.guard::<StaffWrite>().await);
        let r = req.rocket();
        let desk = || {
            Some(crate::admin::Desk {
                store: r.state::<JobStore>()?,
                admission: r.state::<Arc<Admission>>()?,
                data_dir: &r.state::<Settings>()?.data_dir,
                audit: &r.state::<Arc<Admin>>()?.audit,
                peer: staff.peer,
            })
        };
        match desk() {
            Some(d) => Outcome::Success(AtDesk(d)),
            None => refuse(req, Refusal::None, Status::InternalServerError),
        }
    }
}

/// What a re-render on this kiosk may choose from.
fn choices<'a>(presets: &'a Presets, renderer: &'a Renderer) -> crate::admin::actions::Choices<'a> {
    crate::admin::actions::Choices {
        presets: presets.ids(),
        backends: crate::animate::available(renderer.animator.as_ref()),
        default_backend: renderer.animator.backend(),
    }
}
