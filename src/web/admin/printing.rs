//! Staff's printing actions: reprint a job's card, cancel a print, the
//! print list. Each writes its audit entry.

use std::sync::Arc;

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, post, routes, Route, State};

use super::{Staff, StaffWrite};
use crate::admin::Admin;
use crate::print::{PrintRecord, Printing, Requester};
use crate::web::error::ApiError;
use crate::web::printing::Queued;

pub fn routes() -> Vec<Route> {
    routes![print, cancel, prints]
}

/// `POST /api/admin/jobs/{id}/print`: a card for the job, whatever the
/// guest limit (a staff reprint).
#[post("/api/admin/jobs/<id>/print")]
async fn print(
    staff: StaffWrite,
    printing: &State<Arc<Printing>>,
    admin: &State<Arc<Admin>>,
    id: &str,
) -> Result<(Status, Json<Queued>), ApiError> {
    let id = id.parse().map_err(|_| ApiError::malformed_id())?;
    let rec = printing.request(id, Requester::Staff)?;
    let _ = admin
        .audit
        .record(
            staff.0.peer,
            "print",
            format!("job {id}: card {} queued", rec.id),
        )
        .await;
    Ok((Status::Accepted, Json(Queued::of(rec, printing))))
}

/// `POST /api/admin/prints/{print}/cancel`
#[post("/api/admin/prints/<print>/cancel")]
async fn cancel(
    staff: StaffWrite,
    printing: &State<Arc<Printing>>,
    admin: &State<Arc<Admin>>,
    print: u64,
) -> Result<Json<PrintRecord>, ApiError> {
    let rec = printing.cancel(print).await?;
    let _ = admin
        .audit
        .record(
            staff.0.peer,
            "print_cancel",
            format!("job {}: card {print} canceled", rec.job),
        )
        .await;
    Ok(Json(rec))
}

/// `GET /api/admin/prints`: every print, newest first.
#[get("/api/admin/prints")]
fn prints(
    _staff: Staff,
    printing: &State<Arc<Printing>>,
) -> Result<Json<Vec<PrintRecord>>, ApiError> {
    let mut all = printing.queue().all()?;
    all.reverse();
    Ok(Json(all))
}
