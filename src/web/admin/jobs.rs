//! The jobs page: newest first with poster thumbnails, filters, and the
//! actions staff take in two taps (unlock for cash or comp, re-render,
//! delete now, open the guest page, show the QR again). Every action is
//! recorded in the audit log.

use std::sync::Arc;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as esc};
use rocket::form::{Form, FromForm};
use rocket::http::{ContentType, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::Redirect;
use rocket::{get, post, routes, Route, State};

use super::api::{row, staff_reason};
use super::view::{layout, Html, PageError};
use super::{AtDesk, Staff};
use crate::admin::export::{amount, utc};
use crate::config::Settings;
use crate::jobs::{job_dir, Job, JobId, JobStore, MalformedId, Status as JobStatus, UnlockReason};
use crate::print::Printing;
use crate::state::{Presets, Renderer};
use crate::web::lookup::Missing;
use crate::web::ranged::RangedFile;

pub fn routes() -> Vec<Route> {
    routes![list, poster, qr, unlock, rerender, delete]
}

/// `all`/absent, or one status by its name.
pub fn parse_status(s: Option<&str>) -> Result<Option<JobStatus>, String> {
    match s.filter(|s| !s.is_empty() && *s != "all") {
        None => Ok(None),
        Some(s) => JobStatus::ALL
            .into_iter()
            .find(|st| st.to_string() == s)
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "Unknown status `{}`.",
                    s.chars().take(20).collect::<String>()
                )
            }),
    }
}

/// A `YYYY-MM-DD` date as Unix ms at 00:00 UTC.
pub fn parse_day(s: &str) -> Result<i64, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &format)
        .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
        .map_err(|_| {
            format!(
                "`{}` is not a date (YYYY-MM-DD).",
                s.chars().take(20).collect::<String>()
            )
        })
}

fn id(id: Result<JobId, MalformedId>) -> Result<JobId, PageError> {
    id.map_err(|_| Missing::MalformedId.into())
}

fn load(store: &JobStore, id: Result<JobId, MalformedId>) -> Result<Job, PageError> {
    Ok(crate::web::lookup::job(store, id)?)
}

fn payment_state(j: &Job) -> String {
    let mut s = match (&j.payment, j.unlock) {
        (Some(p), _) => format!(
            "<span class=\"ok\">paid {} {}</span>",
            amount(p.amount_cents, &p.currency),
            esc(&p.currency)
        ),
        (None, Some(UnlockReason::StaffCash)) => "<span class=\"ok\">cash</span>".into(),
        (None, Some(UnlockReason::StaffComp)) => "<span class=\"ok\">comp</span>".into(),
        (None, Some(UnlockReason::Event)) => "free (event)".into(),
        _ => "unpaid".into(),
    };
    if let Some(note) = &j.unlock_note {
        s.push_str(&format!("<br><span class=\"quiet\">{}</span>", esc(note)));
    }
    if let Some(flag) = &j.staff_flag {
        s.push_str(&format!("<br><span class=\"bad\">⚑ {}</span>", esc(flag)));
    }
    s
}

/// What the jobs page offers for one job.
struct Offer<'a> {
    presets: &'a Presets,
    renderer: &'a Renderer,
    printing: &'a Printing,
    /// The guest listener's public address.
    base: &'a str,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Offer<'r> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let r = req.rocket();
        crate::web::from_states((|| {
            Some(Offer {
                presets: r.state()?,
                renderer: r.state()?,
                printing: r.state::<Arc<Printing>>()?,
                base: r.state::<Settings>()?.public_base(),
            })
        })())
    }
}

fn actions(app: &Offer<'_>, j: &Job, csrf: &str) -> String {
    let id = j.id;
    let mut out = String::new();
    if j.status == JobStatus::PreviewReady {
        out.push_str(&format!(
            "<form class=\"inline\" method=\"post\" action=\"/admin/jobs/{id}/unlock?csrf={csrf}\">\
             <select name=\"reason\"><option value=\"cash\">Cash</option>\
             <option value=\"comp\">Comp</option></select>\
             <input name=\"note\" placeholder=\"Reason\" required maxlength=\"200\">\
             <button>Unlock</button></form>"
        ));
    }
    if matches!(j.status, JobStatus::PreviewReady | JobStatus::Failed) {
        let options: String = app
            .presets
            .all()
            .iter()
            .map(|p| {
                let sel = if *p.key() == j.preset {
                    " selected"
                } else {
                    ""
                };
                format!(
                    "<option value=\"{}\"{sel}>{}</option>",
                    attr(p.id()),
                    esc(p.label("en"))
                )
            })
            .collect();
        let animator = app.renderer.animator.as_ref();
        let current = j.backend_request.unwrap_or(animator.backend());
        let backends: String = crate::animate::available(animator)
            .iter()
            .map(|b| {
                let sel = if *b == current { " selected" } else { "" };
                format!("<option{sel}>{b}</option>")
            })
            .collect();
        out.push_str(&format!(
            "<form class=\"inline\" method=\"post\" action=\"/admin/jobs/{id}/rerender?csrf={csrf}\">\
             <select name=\"preset\">{options}</select><select name=\"backend\">{backends}</select>\
             <button>Re-render</button></form>"
        ));
    }
    out.push_str(&super::printing::print_form(app.printing, j, csrf));
    if j.status != JobStatus::Rendering {
        out.push_str(&format!(
            "<form class=\"inline\" method=\"post\" action=\"/admin/jobs/{id}/delete?csrf={csrf}\">\
             <label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required> sure</label>\
             <button class=\"danger\">Delete now</button></form>"
        ));
    }
    let r = row(app.base, j);
    out.push_str(&format!(
        "<div><a href=\"{}\" target=\"_blank\" rel=\"noopener\">Guest page</a> · \
         <a href=\"/admin/jobs/{id}/qr.svg\" target=\"_blank\">QR</a></div>",
        attr(&r.guest_url)
    ));
    out
}

/// `GET /admin/jobs?status=…&from=YYYY-MM-DD&to=YYYY-MM-DD` (to inclusive).
#[get("/admin/jobs?<status>&<from>&<to>&<done>")]
fn list(
    staff: Staff,
    store: &State<JobStore>,
    offer: Offer<'_>,
    status: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    done: Option<&str>,
) -> Result<Html, PageError> {
    let bad = |m: String| PageError::new(Status::BadRequest, m);
    let wanted = parse_status(status).map_err(bad)?;
    let from_ms = from
        .filter(|s| !s.is_empty())
        .map(parse_day)
        .transpose()
        .map_err(bad)?;
    let to_ms = to
        .filter(|s| !s.is_empty())
        .map(parse_day)
        .transpose()
        .map_err(bad)?;
    let jobs = store.all().map_err(PageError::internal)?;
    let csrf = &staff.session.csrf;
    let shown: Vec<&Job> = jobs
        .iter()
        .filter(|j| wanted.is_none_or(|s| j.status == s))
        .filter(|j| from_ms.is_none_or(|f| j.created_at >= f))
        .filter(|j| to_ms.is_none_or(|t| j.created_at < t + 86_400_000))
        .take(300)
        .collect();
    let rows: String = shown
        .iter()
        .map(|j| {
            let thumb = if j.files.poster.is_some() {
                format!("<img class=\"thumb\" loading=\"lazy\" alt=\"\" src=\"/admin/jobs/{}/poster.jpg\">", j.id)
            } else {
                String::new()
            };
            let price = j.price.as_ref().map_or("free".into(), |p| {
                format!("{} {}", amount(p.cents.into(), &p.currency), esc(&p.currency))
            });
            format!(
                "<tr id=\"job-{id}\"><td>{thumb}</td><td>{time}<br><span class=\"quiet\">{id}</span></td>\
                 <td class=\"status\">{status}</td><td>{preset}</td><td class=\"faces\">{faces}</td><td>{price}</td><td>{pay}</td><td>{act}</td></tr>",
                id = j.id,
                time = utc(j.created_at),
                status = j.status,
                preset = esc(j.preset.as_str()),
                faces = j.faces.map_or(String::new(), |n| n.to_string()),
                pay = payment_state(j),
                act = actions(&offer, j, csrf),
            )
        })
        .collect();
    let options: String = std::iter::once("all".to_string())
        .chain(JobStatus::ALL.iter().map(|s| s.to_string()))
        .map(|s| {
            let sel = if Some(s.as_str()) == status {
                " selected"
            } else {
                ""
            };
            format!("<option{sel}>{s}</option>")
        })
        .collect();
    let notice = done
        .map(|d| format!("<p class=\"card ok\">{}</p>", esc(d)))
        .unwrap_or_default();
    let body = format!(
        "{notice}<form class=\"card\" method=\"get\" action=\"/admin/jobs\">\
         <label class=\"inline\">Status <select name=\"status\">{options}</select></label>\
         <label class=\"inline\">From <input type=\"date\" name=\"from\" value=\"{f}\"></label>\
         <label class=\"inline\">To <input type=\"date\" name=\"to\" value=\"{t}\"></label>\
         <button>Filter</button></form>\
         <p class=\"quiet\">{n} shown (newest first). Times are UTC.</p>\
         <div class=\"scroll\"><table><tr><th></th><th>Created</th><th>Status</th><th>Animation</th>\
         <th>Faces</th><th>Price</th><th>Payment</th><th>Actions</th></tr>{rows}</table></div>",
        f = attr(from.unwrap_or("")),
        t = attr(to.unwrap_or("")),
        n = shown.len(),
    );
    Ok(layout(Status::Ok, "Jobs", Some(csrf), &body))
}

#[get("/admin/jobs/<id>/poster.jpg")]
async fn poster(
    _staff: Staff,
    store: &State<JobStore>,
    settings: &State<Settings>,
    id: Result<JobId, MalformedId>,
) -> Result<RangedFile, PageError> {
    let job = load(store, id)?;
    let name = job
        .files
        .poster
        .ok_or_else(|| PageError::new(Status::NotFound, "No poster yet."))?;
    RangedFile::open(
        &job_dir(&settings.data_dir, job.id).join(name),
        ContentType::JPEG,
    )
    .await
    .map_err(|_| PageError::new(Status::NotFound, "No poster."))
}

#[get("/admin/jobs/<id>/qr.svg")]
fn qr(
    _staff: Staff,
    store: &State<JobStore>,
    settings: &State<Settings>,
    id: Result<JobId, MalformedId>,
) -> Result<(ContentType, String), PageError> {
    let job = load(store, id)?;
    let url = row(settings.public_base(), &job).guest_url;
    Ok((
        ContentType::SVG,
        crate::web::qr::svg(&url).map_err(PageError::internal)?,
    ))
}

#[derive(FromForm)]
struct UnlockForm<'r> {
    reason: &'r str,
    note: &'r str,
}

fn back(message: &str) -> Redirect {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("done", message)
        .finish();
    Redirect::to(format!("/admin/jobs?{q}"))
}

#[post("/admin/jobs/<id>/unlock", data = "<form>")]
async fn unlock(
    desk: AtDesk<'_>,
    id: Result<JobId, MalformedId>,
    form: Form<UnlockForm<'_>>,
) -> Result<Redirect, PageError> {
    let job_id = self::id(id)?;
    let reason = staff_reason(form.reason).ok_or_else(|| {
        PageError::new(
            Status::UnprocessableEntity,
            "The reason must be cash or comp.",
        )
    })?;
    desk.0.unlock(job_id, reason, form.note).await?;
    Ok(back(&format!("Job {job_id} unlocked.")))
}

#[derive(FromForm)]
struct RerenderForm<'r> {
    preset: Option<&'r str>,
    backend: Option<&'r str>,
}

#[post("/admin/jobs/<id>/rerender", data = "<form>")]
async fn rerender(
    desk: AtDesk<'_>,
    presets: &State<Presets>,
    renderer: &State<Renderer>,
    id: Result<JobId, MalformedId>,
    form: Form<RerenderForm<'_>>,
) -> Result<Redirect, PageError> {
    let job_id = self::id(id)?;
    let with = crate::admin::Rerender {
        preset: form.preset,
        backend: form.backend,
    };
    desk.0
        .rerender(job_id, with, &super::choices(presets, renderer))
        .await?;
    Ok(back(&format!("Job {job_id} is queued to render again.")))
}

#[derive(FromForm)]
struct DeleteForm<'r> {
    confirm: Option<&'r str>,
}

#[post("/admin/jobs/<id>/delete", data = "<form>")]
async fn delete(
    desk: AtDesk<'_>,
    id: Result<JobId, MalformedId>,
    form: Form<DeleteForm<'_>>,
) -> Result<Redirect, PageError> {
    let job_id = self::id(id)?;
    if form.confirm != Some("yes") {
        return Err(PageError::new(
            Status::UnprocessableEntity,
            "Tick “sure” to delete: deleting cannot be undone.",
        ));
    }
    desk.0.delete(job_id).await?;
    Ok(back(&format!("Job {job_id} and its files are deleted.")))
}
