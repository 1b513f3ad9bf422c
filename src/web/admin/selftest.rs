//! `GET /api/selftest`: the self-test run inside the kiosk, which holds the
//! camera and the store. `smileloop selftest` calls it when a kiosk is
//! already running. It renders and encodes, so only the box itself
//! (loopback) may start it.

use std::sync::Arc;

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, routes, Route, State};

use super::{AdminPeer, SelfTestKit};
use crate::selftest::{self, Options, Report};
use crate::web::error::ApiError;

pub fn routes() -> Vec<Route> {
    routes![run]
}

#[get("/api/selftest?<photo>")]
async fn run(
    peer: AdminPeer,
    photo: Option<String>,
    kit: &State<SelfTestKit>,
) -> Result<Json<Report>, ApiError> {
    if !peer.0.is_loopback() {
        return Err(ApiError::new(
            Status::Forbidden,
            "loopback_only",
            "The self-test runs from the kiosk itself: `smileloop selftest`.",
        ));
    }
    let options = Options {
        photo: photo.filter(|p| !p.is_empty()).map(Into::into),
    };
    Ok(Json(selftest::run(Arc::clone(&kit.0), options).await))
}
