//! The dashboard, the audit log, the CSV export and the end-of-event wipe.

use std::sync::Arc;

use html_escape::encode_text as esc;
use rocket::form::{Form, FromForm};
use rocket::http::{ContentType, Header, Status};
use rocket::{get, post, routes, Responder, Route, State};

use super::api::{dashboard_data, Vitals};
use super::jobs::parse_day;
use super::view::{layout, Html, PageError};
use super::{Staff, StaffWrite};
use crate::admin::export::{self, utc};
use crate::admin::{self, Admin, EndScope};
use crate::clock::SharedClock;
use crate::config::{LiveSettings, Settings};
use crate::jobs::JobStore;
use crate::print::Printing;

pub fn routes() -> Vec<Route> {
    let mut r = routes![
        dashboard,
        audit,
        export_page,
        export_csv,
        end_page,
        end_event
    ];
    r.extend(super::jobs::routes());
    r.extend(super::settings::routes());
    r
}

#[get("/admin")]
fn dashboard(
    staff: Staff,
    vitals: Vitals<'_>,
    printing: &State<Arc<Printing>>,
) -> Result<Html, PageError> {
    let d = dashboard_data(&vitals).map_err(PageError)?;
    let printer = super::printing::printer_card(
        &printing.view(),
        &printing.queue().all().map_err(PageError::internal)?,
        &staff.session.csrf,
    );
    let body = super::dashboard_view::body(&d, &printer);
    let (status, (ct, html)) = layout(Status::Ok, "Dashboard", Some(&staff.session.csrf), &body);
    // A self-refreshing page needs no script.
    let html = html.replacen(
        "<head>",
        "<head><meta http-equiv=\"refresh\" content=\"10\">",
        1,
    );
    Ok((status, (ct, html)))
}

#[get("/admin/audit")]
fn audit(staff: Staff, admin: &State<Arc<Admin>>) -> Result<Html, PageError> {
    let rows: String = admin
        .audit
        .newest(500)
        .map_err(PageError::internal)?
        .iter()
        .map(|e| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                utc(e.at_ms),
                esc(&e.peer),
                esc(&e.action),
                esc(&e.detail)
            )
        })
        .collect();
    let body = format!(
        "<p class=\"quiet\">The newest 500 staff actions. Times are UTC.</p><table><tr><th>Time</th>\
         <th>Address</th><th>Action</th><th>What changed</th></tr>{rows}</table>"
    );
    Ok(layout(
        Status::Ok,
        "Audit log",
        Some(&staff.session.csrf),
        &body,
    ))
}

fn day(ms: i64) -> String {
    utc(ms).chars().take(10).collect()
}

#[get("/admin/export")]
fn export_page(staff: Staff, clock: &State<SharedClock>) -> Html {
    let now = clock.wall_ms();
    let body = format!(
        "<form class=\"card\" method=\"get\" action=\"/admin/export.csv\">\
         <p>Jobs and payments as CSV (no photos): time, job, animation, status, amount, currency, \
         unlock reason.</p><label>From <input type=\"date\" name=\"from\" value=\"{}\" required></label>\
         <label>To (inclusive) <input type=\"date\" name=\"to\" value=\"{}\" required></label>\
         <button>Download CSV</button></form>",
        day(now - 7 * 86_400_000),
        day(now)
    );
    layout(Status::Ok, "Export", Some(&staff.session.csrf), &body)
}

#[derive(Responder)]
struct Csv {
    body: (ContentType, String),
    disposition: Header<'static>,
}

/// `GET /admin/export.csv?from=YYYY-MM-DD&to=YYYY-MM-DD` (to inclusive).
#[get("/admin/export.csv?<from>&<to>")]
async fn export_csv(
    staff: Staff,
    store: &State<JobStore>,
    printing: &State<Arc<Printing>>,
    admin: &State<Arc<Admin>>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Csv, PageError> {
    let bad = |m: String| PageError::new(Status::BadRequest, m);
    let (Some(from), Some(to)) = (from, to) else {
        return Err(bad("Choose the first and last day to export.".into()));
    };
    let (from_ms, to_ms) = (
        parse_day(from).map_err(bad)?,
        parse_day(to).map_err(bad)? + 86_400_000,
    );
    if to_ms <= from_ms {
        return Err(PageError::new(
            Status::BadRequest,
            "The end date is before the start date.",
        ));
    }
    let jobs = store.all().map_err(PageError::internal)?;
    let ledger = store.ledger().map_err(PageError::internal)?;
    let mut printed = std::collections::HashMap::new();
    for r in printing.queue().all().map_err(PageError::internal)? {
        if r.state == crate::print::PrintState::Printed {
            *printed.entry(r.job).or_insert(0) += r.copies;
        }
    }
    let text =
        export::csv(&jobs, &ledger, &printed, from_ms, to_ms).map_err(PageError::internal)?;
    let _ = admin
        .audit
        .record(staff.peer, "export", format!("CSV {from} to {to}"))
        .await;
    Ok(Csv {
        body: (ContentType::CSV, text),
        disposition: Header::new(
            "Content-Disposition",
            format!(
                "attachment; filename=\"smileloop-{}-{}.csv\"",
                day(from_ms),
                day(to_ms - 1)
            ),
        ),
    })
}

#[get("/admin/end-event")]
fn end_page(
    staff: Staff,
    store: &State<JobStore>,
    live: &State<Arc<LiveSettings>>,
    clock: &State<SharedClock>,
) -> Result<Html, PageError> {
    let jobs = store.all().map_err(PageError::internal)?;
    let hours = live.get().retention_paid_hours;
    let keep = admin::end_plan(&jobs, EndScope::KeepDownloadWindow, hours, clock.wall_ms());
    let body = format!(
        "<form class=\"card\" method=\"post\" action=\"/admin/end-event?csrf={csrf}\">\
         <p>This deletes guests' photos and videos from the kiosk. It cannot be undone. \
         Payments stay in the books (Export).</p>\
         <label><input type=\"radio\" name=\"scope\" value=\"keep\" checked> Everything except \
         unlocked videos still in their {hours}-hour download window ({} to delete, {} kept)</label>\
         <label><input type=\"radio\" name=\"scope\" value=\"all\"> Everything ({} to delete)</label>\
         <label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required> I understand</label>\
         <button class=\"danger\">Wipe guest photos and videos</button></form>",
        keep.removed.len(),
        keep.kept.len(),
        keep.removed.len() + keep.kept.len(),
        csrf = staff.session.csrf,
    );
    Ok(layout(
        Status::Ok,
        "End of event",
        Some(&staff.session.csrf),
        &body,
    ))
}

#[derive(FromForm)]
struct EndForm<'r> {
    scope: &'r str,
    confirm: Option<&'r str>,
}

#[post("/admin/end-event", data = "<form>")]
async fn end_event(
    staff: StaffWrite,
    store: &State<JobStore>,
    settings: &State<Settings>,
    live: &State<Arc<LiveSettings>>,
    admin: &State<Arc<Admin>>,
    form: Form<EndForm<'_>>,
) -> Result<Html, PageError> {
    let scope = match form.scope {
        "all" => EndScope::All,
        "keep" => EndScope::KeepDownloadWindow,
        _ => {
            return Err(PageError::new(
                Status::UnprocessableEntity,
                "Choose what to wipe.",
            ))
        }
    };
    if form.confirm != Some("yes") {
        return Err(PageError::new(
            Status::UnprocessableEntity,
            "Tick “I understand” to wipe: it cannot be undone. Nothing was deleted.",
        ));
    }
    let hours = live.get().retention_paid_hours;
    let report = admin::end_of_event(store, &settings.data_dir, scope, hours)
        .await
        .map_err(PageError::internal)?;
    let summary = format!(
        "{} job(s) deleted, {} kept in their download window, {} rendering left alone",
        report.removed.len(),
        report.kept.len(),
        report.busy.len()
    );
    let _ = admin
        .audit
        .record(staff.0.peer, "end_event", format!("{scope:?}: {summary}"))
        .await;
    let ids: String = report
        .removed
        .iter()
        .map(|id| format!("<li>{id}</li>"))
        .collect();
    let body = format!(
        "<div class=\"card\"><p class=\"ok\" id=\"summary\">{summary}.</p><ul>{ids}</ul></div>"
    );
    Ok(layout(
        Status::Ok,
        "Event ended",
        Some(&staff.0.session.csrf),
        &body,
    ))
}
