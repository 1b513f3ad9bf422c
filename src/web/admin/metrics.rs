//! `GET /metrics` for a fleet's Prometheus: allowed networks only, no
//! sign-in (a scraper has no session), read-only.

use std::collections::BTreeMap;
use std::sync::Arc;

use rocket::http::{ContentType, Status as HttpStatus};
use rocket::{get, routes, Route, State};

use super::api::Vitals;
use super::AdminPeer;
use crate::admin::stats;
use crate::jobs::Status;
use crate::metrics::{Metrics, Snapshot, CONTENT_TYPE};
use crate::print::Printing;
use crate::web::error::ApiError;

pub fn routes() -> Vec<Route> {
    routes![metrics]
}

#[get("/metrics")]
fn metrics(
    _peer: AdminPeer,
    vitals: Vitals<'_>,
    printing: &State<Arc<Printing>>,
    metrics: &State<Arc<Metrics>>,
) -> Result<(ContentType, String), ApiError> {
    let text = metrics
        .encode(&snapshot(&vitals, printing)?)
        .map_err(|e| ApiError::new(HttpStatus::InternalServerError, "metrics", e.to_string()))?;
    let content_type = ContentType::parse_flexible(CONTENT_TYPE).unwrap_or(ContentType::Plain);
    Ok((content_type, text))
}

fn snapshot(app: &Vitals<'_>, printing: &Printing) -> Result<Snapshot, ApiError> {
    let mut payments: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut add = |currency: &str, minor: i64| {
        let e = payments.entry(currency.to_string()).or_default();
        e.0 += 1;
        e.1 += u64::try_from(minor).unwrap_or(0);
    };
    for job in app.store.all()? {
        if let Some(p) = &job.payment {
            add(&p.currency, p.amount_cents);
        }
    }
    for (_, p) in app.store.ledger()? {
        add(&p.currency, p.amount_cents);
    }
    let camera = app.camera.status();
    let disk = stats::disk(&app.settings.data_dir);
    let prints = printing.queue().all()?;
    let printer = printing.view();
    Ok(Snapshot {
        version: env!("CARGO_PKG_VERSION").into(),
        backend: app.renderer.animator.name().into(),
        encoder: app.renderer.encoder.element().into(),
        encoder_hardware: app.renderer.encoder.is_hardware(),
        uptime_s: app.started.0.elapsed().as_secs_f64(),
        jobs_by_state: Status::ALL
            .iter()
            .map(|s| (s.as_str(), app.store.count_with_status(*s) as u64))
            .collect(),
        queue_length: app.store.count_with_status(Status::Queued) as u64,
        payments,
        camera_state: camera.state.as_str().into(),
        camera_reconnects: camera.reconnects,
        camera_frames: camera.frames,
        temperatures: stats::thermal(std::path::Path::new("/sys/class/thermal"))
            .into_iter()
            .map(|t| (t.zone, t.celsius))
            .collect(),
        disk_free_bytes: disk.map(|d| d.0),
        disk_total_bytes: disk.map(|d| d.1),
        cards_printed: crate::print::queue::printed_per_day(&prints)
            .values()
            .map(|n| u64::from(*n))
            .sum(),
        printer_state: printing.configured().then(|| {
            serde_json::to_value(printer.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        }),
        printer_supplies: printer
            .status
            .markers
            .iter()
            .filter_map(|m| Some((m.name.clone(), f64::from(m.level?))))
            .collect(),
        cards_waiting: printer.held as u64,
    })
}
