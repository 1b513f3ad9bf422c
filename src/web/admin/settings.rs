//! The settings page: tonight's event (name, mode, price, animations and
//! their order, watermark, language, idle timeout, retention, admin
//! networks) and the staff password. Saved to sled, applied to the next
//! guest without a restart; every change is in the audit log.

use std::collections::HashMap;
use std::sync::Arc;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as esc};
use ipnet::IpNet;
use rocket::form::{Errors, Form, FromForm};
use rocket::http::Status;
use rocket::response::Redirect;
use rocket::{get, post, routes, Route, State};

use super::view::{layout, Html, PageError};
use super::{Staff, StaffWrite};
use crate::admin::{audit, Admin};
use crate::config::event::{CURRENCIES, LANGUAGES};
use crate::config::{ConfigError, EventMode, EventSettings, LiveSettings};
use crate::print::Printing;
use crate::state::{Payments, Presets};

pub fn routes() -> Vec<Route> {
    routes![page, save, stripe_keys]
}

/// The form as typed; numbers stay text so a typo gets our message.
#[derive(Debug, FromForm)]
pub struct SettingsForm<'r> {
    pub event_name: &'r str,
    pub event_mode: &'r str,
    pub price: &'r str,
    pub currency: &'r str,
    /// Preset id → its place ("1", "2", …) or "off".
    pub position: HashMap<&'r str, &'r str>,
    pub watermark_text: &'r str,
    pub kiosk_language: &'r str,
    pub idle_timeout_s: &'r str,
    pub retention_unpaid_hours: &'r str,
    pub retention_paid_hours: &'r str,
    pub admin_networks: &'r str,
    /// Absent (an older form): unchanged.
    pub screen_hours: Option<&'r str>,
    /// The staff password again: needed only when `admin_networks`
    /// changes.
    pub current_password: Option<&'r str>,
}

fn bad(key: &str, message: impl Into<String>) -> ConfigError {
    crate::config::err(key, message)
}

/// "7.99" → 799 ("800" → 800 for zero-decimal currencies such as JPY).
pub fn parse_price(s: &str, currency: &str) -> Result<u32, ConfigError> {
    crate::money::parse_price(s, currency).map_err(|e| bad("price", e.to_string()))
}

fn number(key: &str, s: &str) -> Result<u32, ConfigError> {
    s.trim().parse().map_err(|_| {
        bad(
            key,
            format!(
                "`{}` is not a whole number",
                s.chars().take(12).collect::<String>()
            ),
        )
    })
}

/// One network per line; a bare address means just that address.
pub fn parse_networks(text: &str) -> Result<Vec<IpNet>, ConfigError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.parse::<IpNet>()
                .or_else(|_| l.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    bad(
                        "admin_networks",
                        format!(
                            "`{}` is not a network like 192.168.1.0/24",
                            l.chars().take(45).collect::<String>()
                        ),
                    )
                })
        })
        .collect()
}

/// The settings the form asks for, checked field by field; `known` is
/// the presets on disk in their files' order.
pub fn from_form(
    f: &SettingsForm<'_>,
    known: &[&str],
    current: &EventSettings,
) -> Result<EventSettings, ConfigError> {
    let event_mode = match f.event_mode {
        "paid" => EventMode::Paid,
        "free" => EventMode::Free,
        _ => return Err(bad("event_mode", "must be paid or free")),
    };
    let currency = f.currency.trim().to_ascii_lowercase();
    if let Some(unknown) = f.position.keys().find(|k| !known.contains(k)) {
        return Err(bad(
            "presets",
            format!(
                "there is no preset `{}`",
                unknown.chars().take(40).collect::<String>()
            ),
        ));
    }
    let mut placed: Vec<(u32, usize, &str)> = vec![];
    for (order, id) in known.iter().enumerate() {
        match f.position.get(id).map(|p| p.trim()) {
            None | Some("off") | Some("") => {}
            Some(p) => placed.push((number("presets", p)?, order, id)),
        }
    }
    if placed.is_empty() {
        return Err(bad("presets", "enable at least one animation"));
    }
    placed.sort();
    let s = EventSettings {
        event_name: f.event_name.trim().to_string(),
        event_mode,
        price_cents: parse_price(f.price, &currency)?,
        currency,
        presets: placed
            .into_iter()
            .map(|(_, _, id)| id.to_string())
            .collect(),
        watermark_text: f.watermark_text.trim().to_string(),
        kiosk_language: f.kiosk_language.trim().to_string(),
        idle_timeout_s: number("idle_timeout_s", f.idle_timeout_s)?,
        retention_unpaid_hours: number("retention_unpaid_hours", f.retention_unpaid_hours)?,
        retention_paid_hours: number("retention_paid_hours", f.retention_paid_hours)?,
        admin_networks: parse_networks(f.admin_networks)?,
        screen_hours: match f.screen_hours {
            None => current.screen_hours,
            Some(h) => h.parse().map_err(|m| ConfigError {
                key: "screen_hours".into(),
                message: m,
            })?,
        },
    };
    s.validate()?;
    s.validate_presets(known)?;
    Ok(s)
}

fn select(name: &str, options: &[&str], current: &str) -> String {
    let opts: String = options
        .iter()
        .map(|o| {
            let sel = if *o == current { " selected" } else { "" };
            format!("<option{sel}>{}</option>", esc(o))
        })
        .collect();
    format!("<select name=\"{name}\">{opts}</select>")
}

/// Each preset's place on the kiosk's menu, or off.
fn preset_places(presets: &Presets, s: &EventSettings) -> String {
    let n = presets.all().len();
    presets
        .all()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let place = if s.presets.is_empty() {
                Some(i)
            } else {
                s.preset_rank(p.id())
            };
            let current = place.map_or("off".to_string(), |r| (r + 1).to_string());
            let opts: String = std::iter::once("off".to_string())
                .chain((1..=n).map(|i| i.to_string()))
                .map(|o| {
                    let sel = if o == current { " selected" } else { "" };
                    format!("<option{sel}>{o}</option>")
                })
                .collect();
            format!(
                "<label>{} <select name=\"position[{}]\">{opts}</select></label>",
                esc(p.label("en")),
                attr(p.id())
            )
        })
        .collect()
}

/// The staff password, sign-out-everywhere and Stripe key forms.
fn staff_forms(csrf: &str, stripe_live: Option<bool>) -> String {
    let stripe = match stripe_live {
        Some(true) => "live keys set",
        Some(false) => "test keys set",
        None => "no keys",
    };
    format!(
        "<form class=\"card\" method=\"post\" action=\"/admin/password?csrf={csrf}\">\
         <h2>Staff password</h2><p class=\"quiet\">Changing it signs out every device.</p>\
         <label>Current <input type=\"password\" name=\"current\" required autocomplete=\"current-password\"></label>\
         <label>New <input type=\"password\" name=\"password\" required autocomplete=\"new-password\"></label>\
         <label>Again <input type=\"password\" name=\"again\" required autocomplete=\"new-password\"></label>\
         <button>Change password</button></form>\
         <form class=\"card\" method=\"post\" action=\"/admin/logout-all?csrf={csrf}\">\
         <button class=\"danger\">Sign out everywhere</button></form>\
         <form class=\"card\" method=\"post\" action=\"/admin/stripe?csrf={csrf}\">\
         <h2>Stripe keys</h2><p class=\"quiet\">Now: {stripe}. Keys entered here are kept on the kiosk \
         and never shown again.</p>\
         <label>Secret key <input type=\"password\" name=\"secret_key\" required autocomplete=\"off\" \
         placeholder=\"sk_live_…\"></label>\
         <label>Webhook signing secret <input type=\"password\" name=\"webhook_secret\" required \
         autocomplete=\"off\" placeholder=\"whsec_…\"></label>\
         <label>Current staff password <input type=\"password\" name=\"current_password\" required \
         autocomplete=\"current-password\"></label><button>Replace keys</button></form>"
    )
}

#[get("/admin/settings?<saved>")]
fn page(
    staff: Staff,
    live: &State<Arc<LiveSettings>>,
    presets: &State<Presets>,
    payments: &State<Payments>,
    printing: &State<Arc<Printing>>,
    saved: Option<bool>,
) -> Html {
    let s = live.get();
    let csrf = &staff.session.csrf;
    let price = crate::admin::export::amount(s.price_cents.into(), &s.currency);
    let places = preset_places(presets, &s);
    let networks: String = s.admin_networks.iter().map(|n| format!("{n}\n")).collect();
    let mode = |m: &str| {
        if (m == "paid") == (s.event_mode == EventMode::Paid) {
            " selected"
        } else {
            ""
        }
    };
    let saved = if saved == Some(true) {
        "<p class=\"card ok\">Saved. The next guest gets the new settings.</p>"
    } else {
        ""
    };
    let body = format!(
        "{saved}<form class=\"card\" method=\"post\" action=\"/admin/settings?csrf={csrf}\">\
         <label>Event name <input name=\"event_name\" value=\"{name}\" required maxlength=\"80\"></label>\
         <label>Mode <select name=\"event_mode\"><option value=\"paid\"{paid}>Pay per video</option>\
         <option value=\"free\"{free}>Host-paid (downloads free)</option></select></label>\
         <label>Price <input name=\"price\" value=\"{price}\" inputmode=\"decimal\" size=\"8\"> {currency}</label>\
         <fieldset><legend>Animations (place on the kiosk, or off)</legend>{places}</fieldset>\
         <label>Watermark <input name=\"watermark_text\" value=\"{wm}\" required maxlength=\"40\"></label>\
         <label>Kiosk language {lang}</label>\
         <label>Idle timeout (seconds) <input name=\"idle_timeout_s\" value=\"{idle}\" size=\"6\"></label>\
         <label>Screen on during (HH:MM-HH:MM, empty for always) <input name=\"screen_hours\" value=\"{hours}\" size=\"12\" placeholder=\"16:00-02:00\"></label>\
         <label>Keep unpaid videos (hours) <input name=\"retention_unpaid_hours\" value=\"{ru}\" size=\"6\"></label>\
         <label>Keep paid videos (hours) <input name=\"retention_paid_hours\" value=\"{rp}\" size=\"6\"></label>\
         <label>Networks allowed to open these pages (one per line)<br>\
         <textarea name=\"admin_networks\" rows=\"6\" cols=\"30\">{networks}</textarea></label>\
         <label>Current staff password (only to change the networks) <input type=\"password\" \
         name=\"current_password\" autocomplete=\"current-password\"></label>\
         <button>Save</button></form>",
        name = attr(&s.event_name),
        paid = mode("paid"),
        free = mode("free"),
        currency = select("currency", &CURRENCIES, &s.currency),
        wm = attr(&s.watermark_text),
        lang = select("kiosk_language", &LANGUAGES, &s.kiosk_language),
        idle = s.idle_timeout_s,
        hours = s.screen_hours,
        ru = s.retention_unpaid_hours,
        rp = s.retention_paid_hours,
        networks = esc(&networks),
    );
    let body = body
        + &staff_forms(csrf, payments.stripe.live())
        + &super::printing::settings_form(&printing.settings(), csrf);
    layout(Status::Ok, "Settings", Some(csrf), &body)
}

#[post("/admin/settings", data = "<form>")]
async fn save(
    staff: StaffWrite,
    live: &State<Arc<LiveSettings>>,
    presets: &State<Presets>,
    admin: &State<Arc<Admin>>,
    form: Result<Form<SettingsForm<'_>>, Errors<'_>>,
) -> Result<Redirect, PageError> {
    let form = form.map_err(|e| {
        let fields: Vec<String> = e
            .iter()
            .filter_map(|e| e.name.as_ref().map(|n| n.to_string()))
            .collect();
        PageError::new(
            Status::UnprocessableEntity,
            format!("The form is incomplete ({}).", fields.join(", ")),
        )
    })?;
    let known = presets.ids();
    let new = from_form(&form, &known, &live.get()).map_err(|e| {
        PageError::new(
            Status::UnprocessableEntity,
            format!(
                "Not saved: {}. Nothing was changed.",
                e.to_string().replace("configuration key ", "")
            ),
        )
    })?;
    if !new.admin_allowed(staff.0.peer) {
        return Err(PageError::new(
            Status::UnprocessableEntity,
            format!("Not saved: the allowed networks would lock out this device ({}). Nothing was changed.", staff.0.peer),
        ));
    }
    let old = live.get();
    if new.admin_networks != old.admin_networks {
        let given = form.current_password.unwrap_or_default();
        if given.is_empty() {
            return Err(PageError::new(
                Status::Forbidden,
                "Not saved: changing the allowed networks needs the current staff password. \
                 Nothing was changed.",
            ));
        }
        super::login::confirm_password(admin, staff.0.peer, given).await?;
    }
    let diff = audit::diff(
        &serde_json::to_value(&*old).unwrap_or_default(),
        &serde_json::to_value(&new).unwrap_or_default(),
    );
    live.save(new, &known).await.map_err(PageError::internal)?;
    if !diff.is_empty() {
        let _ = admin.audit.record(staff.0.peer, "settings", diff).await;
    }
    Ok(Redirect::to("/admin/settings?saved=true"))
}

#[derive(FromForm)]
struct KeysForm<'r> {
    secret_key: &'r str,
    webhook_secret: &'r str,
    current_password: &'r str,
}

/// New Stripe keys, used from the next call on; the audit log records
/// that they changed, never what they are.
#[post("/admin/stripe", data = "<form>")]
async fn stripe_keys(
    staff: StaffWrite,
    payments: &State<Payments>,
    admin: &State<Arc<Admin>>,
    form: Form<KeysForm<'_>>,
) -> Result<Redirect, PageError> {
    super::login::confirm_password(admin, staff.0.peer, form.current_password).await?;
    payments
        .stripe
        .replace(form.secret_key.trim(), form.webhook_secret.trim())
        .await
        .map_err(|e| {
            PageError::new(
                Status::UnprocessableEntity,
                format!("Not saved: {e}. The keys in use are unchanged."),
            )
        })?;
    let kind = if payments.stripe.live() == Some(true) {
        "live"
    } else {
        "test"
    };
    let _ = admin
        .audit
        .record(
            staff.0.peer,
            "stripe_keys",
            format!("Stripe keys replaced ({kind} keys)"),
        )
        .await;
    Ok(Redirect::to("/admin/settings?saved=true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_like_a_person_types_them() {
        assert_eq!(parse_price("7.99", "usd").ok(), Some(799));
        assert_eq!(parse_price(" $12.5 ", "usd").ok(), Some(1250));
        assert_eq!(parse_price("8", "eur").ok(), Some(800));
        assert_eq!(parse_price("800", "jpy").ok(), Some(800));
        for bad in ["-1", "7.999", "abc", "", "1.2.3", "9999999"] {
            assert!(parse_price(bad, "usd").is_err(), "{bad}");
        }
        assert!(parse_price("-5", "usd")
            .expect_err("neg")
            .message
            .contains("negative"));
    }

    #[test]
    fn networks_one_per_line() {
        let n = parse_networks("192.168.1.0/24\n\n 10.0.0.7 \n::1").expect("parse");
        assert_eq!(n.len(), 3);
        assert_eq!(n[1].to_string(), "10.0.0.7/32");
        assert!(parse_networks("192.168.1.0/33").is_err());
    }
}
