//! Staff's printing actions: reprint a job's card, cancel a print, the
//! print list. Each writes its audit entry.

use std::sync::Arc;

use html_escape::encode_text as esc;
use rocket::form::{Form, FromForm};
use rocket::http::Status;
use rocket::response::Redirect;
use rocket::serde::json::Json;
use rocket::{get, post, routes, Route, State};

use super::view::PageError;
use super::{Staff, StaffWrite};
use crate::admin::Admin;
use crate::config::{ConfigError, PrintSettings};
use crate::print::service::PrinterView;
use crate::print::{PrintRecord, PrinterState, Printing, Requester};
use crate::web::error::ApiError;
use crate::web::printing::Queued;

pub fn routes() -> Vec<Route> {
    routes![
        print,
        cancel,
        prints,
        print_page,
        cancel_page,
        save_settings
    ]
}

/// The printer settings as the form sends them.
#[derive(Debug, FromForm)]
struct PrinterForm<'r> {
    printer_uri: &'r str,
    print_when: &'r str,
    print_layout: &'r str,
    print_copies: &'r str,
    print_limit: &'r str,
}

/// One choice as the config file writes it (`on_request`, `4x6`).
fn choice<T: serde::de::DeserializeOwned>(key: &str, v: &str) -> Result<T, ConfigError> {
    serde_json::from_value(serde_json::Value::String(v.trim().into()))
        .map_err(|_| crate::config::err(key, format!("`{}` is not one of the choices", v.trim())))
}

/// A form's text as the config file would write it, checked the same way.
fn parse(form: &PrinterForm<'_>) -> Result<PrintSettings, ConfigError> {
    let settings = PrintSettings {
        printer_uri: form.printer_uri.trim().into(),
        print_when: choice("print_when", form.print_when)?,
        print_layout: choice("print_layout", form.print_layout)?,
        print_copies: choice("print_copies", form.print_copies)?,
        print_limit: form
            .print_limit
            .trim()
            .parse()
            .map_err(|_| crate::config::err("print_limit", "must be a whole number"))?,
    };
    settings.validate()?;
    Ok(settings)
}

/// `POST /admin/printer`: the settings page's printer form.
#[post("/admin/printer", data = "<form>")]
async fn save_settings(
    staff: StaffWrite,
    printing: &State<Arc<Printing>>,
    admin: &State<Arc<Admin>>,
    form: Form<PrinterForm<'_>>,
) -> Result<Redirect, PageError> {
    let unsaved = |e: String| {
        PageError::new(
            Status::UnprocessableEntity,
            format!("Not saved: {e}. The printer settings in use are unchanged."),
        )
    };
    let new = parse(&form).map_err(|e| unsaved(e.to_string()))?;
    let summary = format!(
        "printer {} · {:?} · {:?} · {:?} · limit {}",
        if new.printer_uri.is_empty() {
            "none"
        } else {
            &new.printer_uri
        },
        new.print_when,
        new.print_layout,
        new.print_copies,
        new.print_limit
    );
    printing.save(new).map_err(|e| unsaved(e.to_string()))?;
    let _ = admin.audit.record(staff.0.peer, "printer", summary).await;
    Ok(Redirect::to("/admin/settings?saved=true"))
}

/// A setting's value as the config file writes it (`on_request`, `4x6`).
fn keyword(v: impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The settings page's printer card.
pub fn settings_form(s: &PrintSettings, csrf: &str) -> String {
    let choice = |name: &str, options: &[(&str, &str)], current: &str| {
        let opts: String = options
            .iter()
            .map(|(value, label)| {
                let sel = if *value == current { " selected" } else { "" };
                format!("<option value=\"{value}\"{sel}>{label}</option>")
            })
            .collect();
        format!("<select name=\"{name}\">{opts}</select>")
    };
    format!(
        "<form class=\"card\" method=\"post\" action=\"/admin/printer?csrf={csrf}\">\
         <h2>Printer</h2>\
         <label>Printer address <input name=\"printer_uri\" value=\"{uri}\" \
         placeholder=\"ipp://printer.local:631/ipp/print\"></label>\
         <label>Print a card {when}</label><label>Card {layout}</label>\
         <label>Copies {copies}</label>\
         <label>Cards a guest may print per video <input name=\"print_limit\" value=\"{limit}\" \
         inputmode=\"numeric\"></label><button>Save printer</button></form>",
        uri = html_escape::encode_double_quoted_attribute(&s.printer_uri),
        when = choice(
            "print_when",
            &[
                ("off", "never"),
                ("on_request", "when the guest taps Print my card"),
                ("after_unlock", "by itself once the video is unlocked"),
                ("always", "by itself once the preview is ready"),
            ],
            &keyword(s.print_when),
        ),
        layout = choice(
            "print_layout",
            &[
                ("4x6", "4 × 6 in portrait"),
                ("6x4", "6 × 4 in landscape"),
                ("2x6", "two 2 × 6 in strips")
            ],
            &keyword(s.print_layout),
        ),
        copies = choice(
            "print_copies",
            &[("1", "one"), ("per_face", "one per face in the photo")],
            &keyword(s.print_copies),
        ),
        limit = s.print_limit,
    )
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

/// The jobs page's "Print card" button, when a printer is set up and the
/// job's loop is ready.
pub fn print_form(printing: &Printing, job: &crate::jobs::Job, csrf: &str) -> String {
    if !printing.configured() || !crate::print::service::printable(job.status) {
        return String::new();
    }
    format!(
        "<form class=\"inline\" method=\"post\" action=\"/admin/jobs/{}/print?csrf={csrf}\">\
         <button>Print card</button></form>",
        job.id
    )
}

/// `POST /admin/jobs/{id}/print` from the jobs page.
#[post("/admin/jobs/<id>/print")]
async fn print_page(
    staff: StaffWrite,
    printing: &State<Arc<Printing>>,
    admin: &State<Arc<Admin>>,
    id: &str,
) -> Result<Redirect, PageError> {
    let id = id
        .parse()
        .map_err(|_| PageError::new(Status::BadRequest, "That job id is not valid."))?;
    let rec = printing
        .request(id, Requester::Staff)
        .map_err(PageError::from)?;
    let _ = admin
        .audit
        .record(
            staff.0.peer,
            "print",
            format!("job {id}: card {} queued", rec.id),
        )
        .await;
    Ok(Redirect::to("/admin"))
}

/// `POST /admin/prints/{print}/cancel` from the dashboard.
#[post("/admin/prints/<print>/cancel")]
async fn cancel_page(
    staff: StaffWrite,
    printing: &State<Arc<Printing>>,
    admin: &State<Arc<Admin>>,
    print: u64,
) -> Result<Redirect, PageError> {
    let rec = printing.cancel(print).await.map_err(PageError::from)?;
    let _ = admin
        .audit
        .record(
            staff.0.peer,
            "print_cancel",
            format!("job {}: card {print} canceled", rec.job),
        )
        .await;
    Ok(Redirect::to("/admin"))
}

/// The dashboard's printer card: its state, supplies, the cards waiting
/// and the last ones, with cancel and reprint.
pub fn printer_card(view: &PrinterView, prints: &[PrintRecord], csrf: &str) -> String {
    if view.state == PrinterState::NotConfigured {
        return "<div class=\"card\" id=\"printer\"><div class=\"quiet\">Printer</div>\
                <div>No printer set up (printer_uri).</div></div>"
            .into();
    }
    let class = match view.state {
        PrinterState::Ready | PrinterState::Printing => "ok",
        PrinterState::SupplyLow => "warn",
        _ => "bad",
    };
    let supplies: String = view
        .status
        .markers
        .iter()
        .map(|m| {
            let level = m.level.map_or("level unknown".into(), |l| format!("{l} %"));
            let low = if m.level.is_some_and(|l| l <= 10) {
                " class=\"warn\""
            } else {
                ""
            };
            format!("<div{low}>{}: {level}</div>", esc(&m.name))
        })
        .collect();
    let rows: String = prints
        .iter()
        .rev()
        .take(8)
        .map(|r| {
            let action = if r.state.open() {
                format!(
                    "<form class=\"inline\" method=\"post\" action=\"/admin/prints/{}/cancel?csrf={csrf}\">\
                     <button class=\"danger\">Cancel</button></form>",
                    r.id
                )
            } else {
                format!(
                    "<form class=\"inline\" method=\"post\" action=\"/admin/jobs/{}/print?csrf={csrf}\">\
                     <button>Reprint</button></form>",
                    r.job
                )
            };
            let state = serde_json::to_value(r.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            format!(
                "<tr><td>{}</td><td>{}</td><td>{state}</td><td>{}</td><td>{}</td><td>{action}</td></tr>",
                crate::admin::export::utc(r.created_at),
                r.job,
                r.copies,
                esc(r.note.as_deref().unwrap_or("")),
            )
        })
        .collect();
    let table = if rows.is_empty() {
        "<div class=\"quiet\">No cards printed yet.</div>".to_string()
    } else {
        format!(
            "<div style=\"overflow-x:auto\"><table><tr><th>Asked</th><th>Job</th><th>State</th>\
             <th>Copies</th><th>Note</th><th></th></tr>{rows}</table></div>"
        )
    };
    format!(
        "<div class=\"card\" id=\"printer\"><div class=\"quiet\">Printer</div>\
         <div class=\"big {class}\">{}</div><div>{}</div>{supplies}\
         <div class=\"quiet\">{} card(s) waiting for the printer</div>{table}</div>",
        esc(view.state.words()),
        esc(&view.message),
        view.held,
    )
}
