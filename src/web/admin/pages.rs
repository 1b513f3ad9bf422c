//! The dashboard, the audit log, the CSV export and the end-of-event wipe.

use std::sync::Arc;

use html_escape::encode_text as esc;
use rocket::form::{Form, FromForm};
use rocket::http::{ContentType, Header, Status};
use rocket::{get, post, routes, Responder, Route, State};

use super::api::dashboard_data;
use super::jobs::parse_day;
use super::view::{layout, Html, PageError};
use super::{Staff, StaffWrite};
use crate::admin::export::{self, amount, utc};
use crate::admin::{self, Admin, EndScope};
use crate::jobs::now_ms;
use crate::state::Shared;

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

fn card(label: &str, value: &str) -> String {
    format!("<div class=\"card\"><div class=\"quiet\">{label}</div><div class=\"big\">{value}</div></div>")
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[get("/admin")]
fn dashboard(staff: Staff, app: &State<Arc<Shared>>) -> Result<Html, PageError> {
    let d = dashboard_data(app).map_err(|e| PageError::internal(e.message))?;
    let camera = {
        let c = &d.camera;
        let state = serde_json::to_value(c.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let problem = c
            .error
            .as_deref()
            .map(|e| format!(" · {e}"))
            .unwrap_or_default();
        esc(&format!(
            "{state} · {}{problem} · {} reconnects",
            c.source, c.reconnects
        ))
        .into_owned()
    };
    let f = &d.last_24h;
    let revenue = if f.revenue.is_empty() {
        "—".to_string()
    } else {
        f.revenue
            .iter()
            .map(|(c, v)| format!("{} {}", amount(*v, c), esc(c)))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let rendering = d.rendering.as_ref().map_or("idle".to_string(), |r| {
        format!(
            "{} {}/{} frames",
            esc(&r.preset),
            r.frames_done,
            r.frames_total
        )
    });
    let disk = d.disk.as_ref().map_or("unknown".to_string(), |k| {
        let days = k.days_left.map_or(String::new(), |d| {
            format!(" · ≈{d:.0} days at today's pace")
        });
        format!("{} free{days}", gib(k.free_bytes))
    });
    let retention = match d.retention_fits {
        Some(false) => "<p class=\"card bad\">The free disk space does not hold the retention window at today's pace: shorten retention or end the event.</p>",
        _ => "",
    };
    let thermal: String = d
        .thermal
        .iter()
        .map(|t| {
            let class = if t.warning { "bad" } else { "ok" };
            let warn = if t.warning {
                " — near throttling: give the box air"
            } else {
                ""
            };
            format!(
                "<div class=\"{class}\">{}: {:.0} °C{warn}</div>",
                esc(&t.zone),
                t.celsius
            )
        })
        .collect();
    let thermal = if thermal.is_empty() {
        "<div class=\"quiet\">No thermal zones readable on this machine.</div>".to_string()
    } else {
        thermal
    };
    let stripe = match (d.payments_configured, d.payments_offline) {
        (true, true) => "<span class=\"bad\">configured, unreachable</span>",
        (true, false) => "<span class=\"ok\">configured</span>",
        (false, _) if d.event_mode == crate::config::EventMode::Free => "not needed (host-paid)",
        (false, _) => "<span class=\"warn\">not configured (staff unlocks only)</span>",
    };
    let flagged = if f.flagged > 0 {
        format!("<p class=\"card bad\">{} job(s) flagged for staff: see <a href=\"/admin/jobs\">Jobs</a>.</p>", f.flagged)
    } else {
        String::new()
    };
    let ms = d
        .last_ms_per_frame
        .map_or("—".into(), |m| format!("{m:.1} ms/frame"));
    let printer = super::printing::printer_card(
        &app.printing.view(),
        &app.printing.queue().all().map_err(PageError::internal)?,
        &staff.session.csrf,
    );
    let body = format!(
        "<p class=\"quiet\">Refreshes every 10 s. Figures cover the last 24 hours.</p>{flagged}{retention}\
         <div class=\"grid\">{}{}{}{}{}{}{}{}</div>\
         <div class=\"grid\">{}{}{}{}{}</div>{printer}\
         <div class=\"card\"><div class=\"quiet\">Temperatures</div>{thermal}</div>\
         <p class=\"quiet\">Version {} · up {} min · animator note: {}</p>",
        card("Queue", &d.queued.to_string()),
        card("Rendering", &rendering),
        card("Photos", &f.photos.to_string()),
        card("Previews", &f.previews.to_string()),
        card("Paid", &f.paid.to_string()),
        card("Conversion", &format!("{:.0} %", f.conversion * 100.0)),
        card("Revenue", &revenue),
        card("Failed", &f.failed.to_string()),
        card("Animator", &format!("{} · {ms}", d.animator)),
        card("Encoder", &format!("{}{}", d.encoder, if d.encoder_hardware { " (hardware)" } else { " (software)" })),
        card("Camera", &camera),
        card("Disk", &disk),
        card("Stripe", stripe),
        d.version,
        d.uptime_s / 60,
        esc(d.animator_note.as_deref().unwrap_or("none")),
    );
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
fn export_page(staff: Staff) -> Html {
    let now = now_ms();
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
    app: &State<Arc<Shared>>,
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
    let jobs = app.store.all().map_err(PageError::internal)?;
    let ledger = app.store.ledger().map_err(PageError::internal)?;
    let mut printed = std::collections::HashMap::new();
    for r in app.printing.queue().all().map_err(PageError::internal)? {
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
fn end_page(staff: Staff, app: &State<Arc<Shared>>) -> Result<Html, PageError> {
    let jobs = app.store.all().map_err(PageError::internal)?;
    let hours = app.live.get().retention_paid_hours;
    let keep = admin::end_plan(&jobs, EndScope::KeepDownloadWindow, hours, now_ms());
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
    app: &State<Arc<Shared>>,
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
    let hours = app.live.get().retention_paid_hours;
    let report = admin::end_of_event(&app.store, &app.settings.data_dir, scope, hours)
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
