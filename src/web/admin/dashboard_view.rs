//! The dashboard's HTML: the figures of [`Dashboard`] in cards, one small
//! function per card that needs words. The handler in `pages` only fetches
//! the figures and wraps this in the staff layout.

use html_escape::encode_text as esc;

use super::api::Dashboard;
use crate::admin::export::amount;
use crate::config::EventMode;

fn card(label: &str, value: &str) -> String {
    format!("<div class=\"card\"><div class=\"quiet\">{label}</div><div class=\"big\">{value}</div></div>")
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// The page's body; `printer` is the printer's card, rendered by
/// `printing`.
pub fn body(d: &Dashboard, printer: &str) -> String {
    let f = &d.last_24h;
    let ms = d
        .last_ms_per_frame
        .map_or("—".into(), |m| format!("{m:.1} ms/frame"));
    let encoder = match d.encoder_hardware {
        true => format!("{} (hardware)", d.encoder),
        false => format!("{} (software)", d.encoder),
    };
    format!(
        "<p class=\"quiet\">Refreshes every 10 s. Figures cover the last 24 hours.</p>{}{}\
         <div class=\"grid\">{}{}{}{}{}{}{}{}</div>\
         <div class=\"grid\">{}{}{}{}{}</div>{printer}\
         <div class=\"card\"><div class=\"quiet\">Temperatures</div>{}</div>\
         <p class=\"quiet\">Version {} · up {} min · animator note: {}</p>",
        flagged(d),
        retention_warning(d),
        card("Queue", &d.queued.to_string()),
        card("Rendering", &rendering(d)),
        card("Photos", &f.photos.to_string()),
        card("Previews", &f.previews.to_string()),
        card("Paid", &f.paid.to_string()),
        card("Conversion", &format!("{:.0} %", f.conversion * 100.0)),
        card("Revenue", &revenue(d)),
        card("Failed", &f.failed.to_string()),
        card("Animator", &format!("{} · {ms}", d.animator)),
        card("Encoder", &encoder),
        card("Camera", &camera(d)),
        card("Disk", &disk(d)),
        card("Stripe", stripe(d)),
        thermal(d),
        d.version,
        d.uptime_s / 60,
        esc(d.animator_note.as_deref().unwrap_or("none")),
    )
}

fn camera(d: &Dashboard) -> String {
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
    let text = format!(
        "{state} · {}{problem} · {} reconnects",
        c.source, c.reconnects
    );
    esc(&text).into_owned()
}

fn revenue(d: &Dashboard) -> String {
    let revenue = &d.last_24h.revenue;
    if revenue.is_empty() {
        return "—".to_string();
    }
    revenue
        .iter()
        .map(|(c, v)| format!("{} {}", amount(*v, c), esc(c)))
        .collect::<Vec<_>>()
        .join(" + ")
}

fn rendering(d: &Dashboard) -> String {
    d.rendering.as_ref().map_or("idle".to_string(), |r| {
        format!(
            "{} {}/{} frames",
            esc(&r.preset),
            r.frames_done,
            r.frames_total
        )
    })
}

fn disk(d: &Dashboard) -> String {
    d.disk.as_ref().map_or("unknown".to_string(), |k| {
        let days = k.days_left.map_or(String::new(), |d| {
            format!(" · ≈{d:.0} days at today's pace")
        });
        format!("{} free{days}", gib(k.free_bytes))
    })
}

fn retention_warning(d: &Dashboard) -> &'static str {
    match d.retention_fits {
        Some(false) => "<p class=\"card bad\">The free disk space does not hold the retention window at today's pace: shorten retention or end the event.</p>",
        _ => "",
    }
}

fn thermal(d: &Dashboard) -> String {
    if d.thermal.is_empty() {
        return "<div class=\"quiet\">No thermal zones readable on this machine.</div>".to_string();
    }
    d.thermal
        .iter()
        .map(|t| {
            let (class, warn) = match t.warning {
                true => ("bad", " — near throttling: give the box air"),
                false => ("ok", ""),
            };
            format!(
                "<div class=\"{class}\">{}: {:.0} °C{warn}</div>",
                esc(&t.zone),
                t.celsius
            )
        })
        .collect()
}

fn stripe(d: &Dashboard) -> &'static str {
    match (d.payments_configured, d.payments_offline) {
        (true, true) => "<span class=\"bad\">configured, unreachable</span>",
        (true, false) => "<span class=\"ok\">configured</span>",
        (false, _) if d.event_mode == EventMode::Free => "not needed (host-paid)",
        (false, _) => "<span class=\"warn\">not configured (staff unlocks only)</span>",
    }
}

fn flagged(d: &Dashboard) -> String {
    match d.last_24h.flagged {
        0 => String::new(),
        n => format!(
            "<p class=\"card bad\">{n} job(s) flagged for staff: see <a href=\"/admin/jobs\">Jobs</a>.</p>"
        ),
    }
}
