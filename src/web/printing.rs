//! The kiosk's printing routes: the guest's "Print my card" and the
//! printer's state for the screen.

use std::sync::Arc;

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, post, routes, Route, State};
use serde::Serialize;

use super::error::ApiError;
use crate::jobs::{JobId, MalformedId};
use crate::print::service::PrinterView;
use crate::print::{PrintRecord, PrintState, Printing, Requester};

pub fn routes() -> Vec<Route> {
    routes![print, printer]
}

#[derive(Serialize)]
pub struct Queued {
    pub print: PrintRecord,
    /// `true` when the card waits for the printer (out of paper, …).
    pub held: bool,
    /// What the guest is told.
    pub message: String,
}

impl Queued {
    pub fn of(print: PrintRecord, printing: &Printing) -> Self {
        let held = print.state == PrintState::Held;
        let message = if held {
            format!(
                "{} The printer needs the staff; your card prints when it is back.",
                printing.view().status.sentence()
            )
        } else {
            "Your card is printing.".to_string()
        };
        Self {
            print,
            held,
            message,
        }
    }
}

/// `POST /api/jobs/{id}/print`: `202` with the queued card, `409
/// printer_unavailable` when the printer cannot print and enough cards
/// already wait, `429 print_limit` past the guest's limit.
#[post("/api/jobs/<id>/print")]
fn print(
    id: Result<JobId, MalformedId>,
    printing: &State<Arc<Printing>>,
) -> Result<(Status, Json<Queued>), ApiError> {
    let id = id.map_err(|_| ApiError::malformed_id())?;
    let rec = printing.request(id, Requester::Guest)?;
    Ok((Status::Accepted, Json(Queued::of(rec, printing))))
}

/// `GET /api/printer`: the printer's state for the kiosk screen.
#[get("/api/printer")]
fn printer(printing: &State<Arc<Printing>>) -> Json<PrinterView> {
    Json(printing.view())
}
