//! HTTP: one Rocket instance per audience, each managing the kiosk's
//! parts one by one ([`Shared::manage`]), so a handler takes what it uses.
//!
//! - *kiosk* (`address`:`port`, loopback by default): the kiosk screen and
//!   its API. Never published.
//! - *guest* (`guest_address`:`guest_port`): the guest pages `/g/…`, the
//!   download `/d/…` and the Stripe webhook, the one listener an operator
//!   publishes through a tunnel. Kiosk routes do not exist there.
//! - *admin* (`admin_address`:`admin_port`): the venue staff's pages
//!   `/admin` and `/api/admin/…`, from allowed networks only.

pub mod admin;
mod camera;
pub mod edge;
pub mod error;
mod guest;
mod guest_pages;
mod kiosk;
mod lang;
mod lookup;
mod phone;
mod phone_views;
pub mod printing;
pub mod qr;
pub mod ranged;
mod stripe_hook;
mod upload;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rocket::config::{Config, Ident, LogLevel};
use rocket::data::{ByteUnit, Limits};
use rocket::figment::value::magic::RelativePathBuf;
use rocket::fs::FileServer;
use rocket::{catchers, Build, Rocket};

use crate::state::Shared;

const FORM_LIMIT: ByteUnit = ByteUnit::Kibibyte(32);
const JSON_LIMIT: ByteUnit = ByteUnit::Kibibyte(64);

/// The most of a body the listeners read: an upload is the photo and
/// 64 KiB of other fields; anything else is at most a form, JSON or a
/// Stripe event. The edge passes on no more than this.
pub(crate) fn body_caps(settings: &crate::config::Settings) -> edge::BodyCaps {
    let other = [
        FORM_LIMIT,
        JSON_LIMIT,
        ByteUnit::Kibibyte(u64::from(stripe_hook::MAX_EVENT_KIB)),
    ]
    .into_iter()
    .map(|b| b.as_u64())
    .max()
    .unwrap_or(0);
    edge::BodyCaps {
        multipart: settings.max_upload_bytes() + ByteUnit::Kibibyte(64).as_u64(),
        other,
    }
}

/// A request guard made of managed states: all of them, or a 500 (a
/// listener wired without one is a bug, not the request's fault).
pub(crate) fn from_states<T>(found: Option<T>) -> rocket::request::Outcome<T, ()> {
    match found {
        Some(v) => rocket::request::Outcome::Success(v),
        None => rocket::request::Outcome::Error((rocket::http::Status::InternalServerError, ())),
    }
}

/// A listener's Rocket: on a loopback port of its own, behind its
/// [`edge`], which alone is reachable from outside.
pub(crate) fn config(shared: &Shared) -> Config {
    let caps = body_caps(&shared.settings);
    let mut cfg = Config::release_default();
    cfg.address = IpAddr::V4(Ipv4Addr::LOCALHOST);
    cfg.port = 0;
    // The edge writes the peer's address here and drops what a client
    // sent, so `client_ip` is the peer's.
    cfg.ip_header = Some(edge::PEER_HEADER.into());
    cfg.ident = Ident::try_new("SmileLoop").unwrap_or_default();
    cfg.log_level = LogLevel::Off;
    cfg.cli_colors = false;
    // Uploads land on the data partition, not a read-only root's /tmp.
    cfg.temp_dir = RelativePathBuf::from(shared.settings.data_dir.join("tmp"));
    cfg.limits = Limits::default()
        .limit("file", ByteUnit::from(shared.settings.max_upload_bytes()))
        .limit("data-form", ByteUnit::from(caps.multipart))
        .limit("form", FORM_LIMIT)
        .limit("json", JSON_LIMIT);
    cfg.keep_alive = u32::try_from(edge::KIOSK_KEEP_ALIVE.as_secs()).unwrap_or(u32::MAX);
    // Signals are the app's to handle: it stops the worker and both
    // listeners in order.
    cfg.shutdown.ctrlc = false;
    #[cfg(unix)]
    cfg.shutdown.signals.clear();
    cfg.shutdown.grace = 2;
    cfg.shutdown.mercy = 3;
    cfg
}

pub fn kiosk(shared: Arc<Shared>) -> Rocket<Build> {
    let s = &shared.settings;
    let rocket = rocket::custom(config(&shared))
        .mount("/", kiosk::routes())
        .mount("/", camera::routes())
        .mount("/", phone::kiosk_routes())
        .mount("/", printing::routes())
        .mount("/", FileServer::from(s.ui_dir.clone()).rank(20))
        .mount("/", error::unrouted())
        .register("/", catchers![error::catch_all]);
    shared.manage(rocket)
}

pub fn admin(shared: Arc<Shared>) -> Result<Rocket<Build>, crate::state::StartError> {
    admin::rocket(shared)
}

pub fn guest(shared: Arc<Shared>) -> Rocket<Build> {
    let rocket = rocket::custom(config(&shared))
        .mount("/", guest::routes())
        .mount("/", phone::guest_routes())
        .mount("/", error::unrouted())
        .register("/", catchers![error::catch_all])
        .register("/u", phone::catchers());
    shared.manage(rocket)
}
