//! Configuration, read once at start-up: defaults, then `Rocket.toml`
//! (`[default]` table; another file with `SMILELOOP_CONFIG`), then
//! `SMILELOOP_*` environment variables. Every key is documented in README.
//! Unknown keys and invalid values stop start-up with a message that names
//! the key, so a typo never silently falls back to a default.

pub mod event;
pub mod print;

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use rocket::figment::providers::{Env, Format, Serialized, Toml};
use rocket::figment::Figment;
use serde::{Deserialize, Serialize};

pub use crate::backend::Backend;
pub use event::{EventSettings, LiveSettings};
pub use print::{PrintCopies, PrintLayout, PrintSettings, PrintWhen, PrinterUri};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventMode {
    /// Pay per video (Stripe Checkout).
    Paid,
    /// Host-paid event: every download is free.
    Free,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraKind {
    /// The USB camera when a V4L2 device exists, else the test camera
    /// (`camera_files` if set, else the test pattern).
    Auto,
    /// The USB camera (`camera_device`, or the first one found).
    V4l2,
    /// The test camera serving the first image in `camera_files`.
    Files,
    /// The test camera's moving colour bars.
    Pattern,
    /// No camera: guests upload from their phones.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderPref {
    /// Hardware if the GStreamer registry has it, else software.
    Auto,
    Nvv4l2h264enc,
    X264enc,
    Openh264enc,
}

/// A key or password from the configuration: never printed, not even in
/// debug output or error messages.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Which execution provider to use (`liveportrait_provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// TensorRT, else CUDA, else CPU: the first that loads.
    Auto,
    Tensorrt,
    Cuda,
    Cpu,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Auto => "auto",
            Provider::Tensorrt => "tensorrt",
            Provider::Cuda => "cuda",
            Provider::Cpu => "cpu",
        }
    }

    /// The providers to try, in order.
    pub fn chain(self) -> &'static [Provider] {
        match self {
            Provider::Auto => &[Provider::Tensorrt, Provider::Cuda, Provider::Cpu],
            Provider::Tensorrt => &[Provider::Tensorrt],
            Provider::Cuda => &[Provider::Cuda],
            Provider::Cpu => &[Provider::Cpu],
        }
    }
}

/// The largest `max_faces` a kiosk may be configured with.
pub const MAX_FACES_LIMIT: u32 = 12;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub address: IpAddr,
    pub port: u16,
    pub guest_address: IpAddr,
    pub guest_port: u16,
    /// The staff's admin listener.
    pub admin_address: IpAddr,
    pub admin_port: u16,
    /// Who may reach the admin listener (CIDR list), judged by the peer
    /// address; staff can change it on the admin page.
    pub admin_networks: Vec<IpNet>,
    pub data_dir: PathBuf,
    pub presets_dir: PathBuf,
    pub ui_dir: PathBuf,
    pub models_dir: PathBuf,
    pub onnxruntime_lib: PathBuf,
    pub public_base_url: String,
    pub event_name: String,
    pub event_mode: EventMode,
    pub price_cents: u32,
    pub currency: String,
    pub watermark_text: String,
    /// Enabled presets in the kiosk's order; empty means all.
    pub presets: Vec<String>,
    pub kiosk_language: String,
    pub idle_timeout_s: u32,
    pub retention_unpaid_hours: u32,
    pub retention_paid_hours: u32,
    pub queue_limit: u32,
    pub max_upload_mb: u32,
    pub animator: Backend,
    /// Most faces of one photo that come alive (largest first), 1 to
    /// [`MAX_FACES_LIMIT`].
    pub max_faces: u32,
    /// Where `engines/fetch` put LivePortrait's ONNX files.
    pub liveportrait_dir: PathBuf,
    /// `auto` (TensorRT, else CUDA, else CPU), `tensorrt`, `cuda` or `cpu`.
    pub liveportrait_provider: Provider,
    pub encoder: EncoderPref,
    pub camera: CameraKind,
    /// e.g. `/dev/video0`; unset picks the first capture device.
    pub camera_device: Option<PathBuf>,
    /// The folder the `files` test camera serves from.
    pub camera_files: Option<PathBuf>,
    /// The test camera's live-view rate.
    pub camera_fps: u32,
    /// When the kiosk screen stays lit, `HH:MM-HH:MM` in the box's local
    /// time (may pass midnight); outside it the page goes black until
    /// touched. Empty: always lit.
    pub screen_hours: ScreenHours,
    /// `sk_…` or restricted `rk_…` key; without it (and the webhook
    /// secret) paid mode offers only the staff unlock.
    pub stripe_secret_key: Option<Secret>,
    /// The webhook endpoint's signing secret, `whsec_…`.
    pub stripe_webhook_secret: Option<Secret>,
    /// Where the Stripe API lives (tests point it at a local server).
    pub stripe_api_base: String,
    /// How long a guest's Checkout page stays valid (Stripe: 30-1440).
    pub checkout_expiry_minutes: u32,
    /// How often open Checkout Sessions are asked about, for kiosks that
    /// no webhook can reach (behind a venue's NAT).
    pub stripe_poll_ms: u32,
    /// Open connections the guest listener holds at once.
    pub guest_max_connections: u32,
    /// Open connections the admin listener holds at once.
    pub admin_max_connections: u32,
    /// Open connections the kiosk listener holds at once; guest and admin
    /// connections never take these.
    pub kiosk_max_connections: u32,
    /// Open connections one address may hold on the guest or admin
    /// listener (the box's own 127.0.0.1, where a tunnel connects from,
    /// is exempt).
    pub max_connections_per_peer: u32,
    /// Seconds a client has to send a request's headers; an idle
    /// keep-alive connection closes after as long.
    pub header_timeout_s: u32,
    /// Seconds a whole request body (an upload) may take.
    pub body_timeout_s: u32,
    /// The photo printer (see [`PrintSettings`]); empty: none.
    pub printer_uri: String,
    pub print_when: PrintWhen,
    pub print_layout: PrintLayout,
    pub print_copies: PrintCopies,
    pub print_limit: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            address: IpAddr::from([127, 0, 0, 1]),
            port: 8000,
            guest_address: IpAddr::from([0, 0, 0, 0]),
            guest_port: 8080,
            admin_address: IpAddr::from([0, 0, 0, 0]),
            admin_port: 8081,
            admin_networks: event::default_admin_networks(),
            data_dir: PathBuf::from("data"),
            presets_dir: PathBuf::from("presets"),
            ui_dir: PathBuf::from("kiosk-ui"),
            models_dir: PathBuf::from("models"),
            onnxruntime_lib: PathBuf::from("models/libonnxruntime.so"),
            public_base_url: "http://localhost:8080".into(),
            event_name: "SmileLoop".into(),
            event_mode: EventMode::Paid,
            price_cents: 799,
            currency: "usd".into(),
            watermark_text: "SmileLoop preview".into(),
            presets: vec![],
            kiosk_language: "en".into(),
            idle_timeout_s: 60,
            retention_unpaid_hours: 24,
            retention_paid_hours: 72,
            queue_limit: 20,
            max_upload_mb: 20,
            animator: Backend::Meshwarp,
            max_faces: 6,
            liveportrait_dir: PathBuf::from("models/liveportrait"),
            liveportrait_provider: Provider::Auto,
            encoder: EncoderPref::Auto,
            camera: CameraKind::Auto,
            camera_device: None,
            camera_files: None,
            camera_fps: 30,
            screen_hours: ScreenHours::default(),
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_api_base: "https://api.stripe.com".into(),
            checkout_expiry_minutes: 30,
            stripe_poll_ms: 1000,
            guest_max_connections: 256,
            admin_max_connections: 64,
            kiosk_max_connections: 64,
            max_connections_per_peer: 16,
            header_timeout_s: 10,
            body_timeout_s: 300,
            printer_uri: String::new(),
            print_when: PrintWhen::Off,
            print_layout: PrintLayout::Portrait4x6,
            print_copies: PrintCopies::One,
            print_limit: 2,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration key `{key}`: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

pub(crate) fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

/// Whether `k` looks like a Stripe key with one of `prefixes`.
pub fn stripe_key_ok(k: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| k.starts_with(p))
        && k.len() > 8
        && k.len() <= 256
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A config file the operator named must be there and readable: starting
/// on defaults instead would silently ignore every setting in it.
pub fn check_config_file(path: &std::path::Path) -> Result<(), ConfigError> {
    match std::fs::read(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(err(
            "SMILELOOP_CONFIG",
            format!(
                "{} does not exist: create it (README, Configuration) or unset SMILELOOP_CONFIG",
                path.display()
            ),
        )),
        Err(e) => Err(err(
            "SMILELOOP_CONFIG",
            format!("{} cannot be read: {e}", path.display()),
        )),
    }
}

/// When the kiosk screen stays lit, checked once where it is read (the
/// file, the settings form, the store): written `HH:MM-HH:MM` in the box's
/// local time, which may pass midnight, or empty for always.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScreenHours(Option<[u16; 2]>);

impl ScreenHours {
    /// Minutes after midnight, start and end; `None`: always lit.
    pub fn window(&self) -> Option<[u16; 2]> {
        self.0
    }
}

impl std::str::FromStr for ScreenHours {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_screen_hours(s).map(Self)
    }
}

impl TryFrom<String> for ScreenHours {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<ScreenHours> for String {
    fn from(h: ScreenHours) -> String {
        h.to_string()
    }
}

impl std::fmt::Display for ScreenHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        match self.0 {
            Some([from, until]) => write!(f, "{}-{}", hm(from), hm(until)),
            None => Ok(()),
        }
    }
}

/// `HH:MM-HH:MM` as minutes after midnight, start and end; `None` for an
/// empty value (always lit). The window may pass midnight (`16:00-02:00`).
pub fn parse_screen_hours(text: &str) -> Result<Option<[u16; 2]>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let minutes = |hm: &str| -> Option<u16> {
        let (h, m) = hm.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60 && hm.trim().len() == 5).then_some(h * 60 + m)
    };
    let bad = || {
        format!(
            "{text:?} is not HH:MM-HH:MM (e.g. \"16:00-02:00\"), or leave it empty for always on"
        )
    };
    let (from, until) = text.split_once('-').ok_or_else(bad)?;
    let (from, until) = (
        minutes(from).ok_or_else(bad)?,
        minutes(until).ok_or_else(bad)?,
    );
    if from == until {
        return Err(format!(
            "{text:?} starts and ends at the same minute; leave it empty for always on"
        ));
    }
    Ok(Some([from, until]))
}

/// A parser's multi-line message (TOML shows the line with a caret) as
/// one log line: where, then what.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.as_slice() {
        [] => String::new(),
        [only] => (*only).to_string(),
        [first, .., last] => format!("{first}: {last}"),
    }
}

impl Settings {
    /// Defaults < `Rocket.toml` (or `$SMILELOOP_CONFIG`) < `SMILELOOP_*`.
    pub fn figment() -> Figment {
        let file = std::env::var("SMILELOOP_CONFIG").unwrap_or_else(|_| "Rocket.toml".into());
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(file).nested())
            .merge(
                Env::prefixed("SMILELOOP_")
                    .ignore(&["config", "log"])
                    .global(),
            )
            .select("default")
    }

    pub fn load() -> Result<Self, ConfigError> {
        if let Some(path) = std::env::var_os("SMILELOOP_CONFIG") {
            check_config_file(std::path::Path::new(&path))?;
        }
        Self::from_figment(&Self::figment())
    }

    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let settings: Settings = figment.extract().map_err(|e| {
            let key = e.path.join(".");
            let mut message = one_line(&e.kind.to_string());
            if let Some(source) = &e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                message = format!("{message} (from {source})");
            }
            ConfigError {
                key: if key.is_empty() { "(file)".into() } else { key },
                message,
            }
        })?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        // Port 0 lets the system pick a free port for that listener; the
        // ports really bound are written to `data_dir/listening.json`.
        let overlap = self.address == self.guest_address
            || self.address.is_unspecified()
            || self.guest_address.is_unspecified();
        if self.port != 0 && self.port == self.guest_port && overlap {
            return Err(err("guest_port", "the guest listener needs its own port"));
        }
        let clash = |addr: IpAddr, port: u16| {
            port != 0
                && port == self.admin_port
                && (addr == self.admin_address
                    || addr.is_unspecified()
                    || self.admin_address.is_unspecified())
        };
        if clash(self.address, self.port) || clash(self.guest_address, self.guest_port) {
            return Err(err("admin_port", "the admin listener needs its own port"));
        }
        let url = url::Url::parse(&self.public_base_url)
            .map_err(|e| err("public_base_url", format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https")
            || url.host_str().is_none()
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(err(
                "public_base_url",
                "must be an http(s) URL without query or fragment",
            ));
        }
        self.event().validate()?;
        if !(1..=1000).contains(&self.queue_limit) {
            return Err(err("queue_limit", "must be between 1 and 1000"));
        }
        if !(1..=100).contains(&self.max_upload_mb) {
            return Err(err("max_upload_mb", "must be between 1 and 100"));
        }
        if !(1..=MAX_FACES_LIMIT).contains(&self.max_faces) {
            return Err(err("max_faces", "must be between 1 and 12"));
        }
        if !(1..=60).contains(&self.camera_fps) {
            return Err(err("camera_fps", "must be between 1 and 60"));
        }
        self.validate_connections()?;
        self.print().validate()?;
        if self.camera == CameraKind::Files && self.camera_files.is_none() {
            return Err(err(
                "camera_files",
                "the files camera needs a folder of photos",
            ));
        }
        self.validate_stripe()
    }

    fn validate_stripe(&self) -> Result<(), ConfigError> {
        let key_ok = |k: &Option<Secret>, prefixes: &[&str]| {
            k.as_ref()
                .is_none_or(|k| stripe_key_ok(k.expose(), prefixes))
        };
        if !key_ok(&self.stripe_secret_key, &["sk_", "rk_"]) {
            return Err(err(
                "stripe_secret_key",
                "must be a Stripe secret key (sk_… or rk_…)",
            ));
        }
        if !key_ok(&self.stripe_webhook_secret, &["whsec_"]) {
            return Err(err(
                "stripe_webhook_secret",
                "must be a webhook signing secret (whsec_…)",
            ));
        }
        let api = url::Url::parse(&self.stripe_api_base)
            .map_err(|e| err("stripe_api_base", format!("not a URL: {e}")))?;
        if !matches!(api.scheme(), "http" | "https") || api.host_str().is_none() {
            return Err(err("stripe_api_base", "must be an http(s) URL"));
        }
        if !(30..=1440).contains(&self.checkout_expiry_minutes) {
            return Err(err(
                "checkout_expiry_minutes",
                "must be between 30 and 1440 (Stripe's limits)",
            ));
        }
        if !(200..=60_000).contains(&self.stripe_poll_ms) {
            return Err(err("stripe_poll_ms", "must be between 200 and 60000"));
        }
        Ok(())
    }

    fn validate_connections(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("guest_max_connections", self.guest_max_connections),
            ("admin_max_connections", self.admin_max_connections),
            ("kiosk_max_connections", self.kiosk_max_connections),
        ] {
            if !(8..=20_000).contains(&value) {
                return Err(err(key, "must be between 8 and 20000"));
            }
        }
        if !(1..=1000).contains(&self.max_connections_per_peer) {
            return Err(err(
                "max_connections_per_peer",
                "must be between 1 and 1000",
            ));
        }
        if !(1..=300).contains(&self.header_timeout_s) {
            return Err(err("header_timeout_s", "must be between 1 and 300"));
        }
        if !(10..=3600).contains(&self.body_timeout_s) {
            return Err(err("body_timeout_s", "must be between 10 and 3600"));
        }
        Ok(())
    }

    /// The printing keys together.
    pub fn print(&self) -> PrintSettings {
        PrintSettings {
            printer_uri: self.printer_uri.trim().to_string(),
            print_when: self.print_when,
            print_layout: self.print_layout,
            print_copies: self.print_copies,
            print_limit: self.print_limit,
        }
    }

    /// The event settings as the config file gives them.
    pub fn event(&self) -> EventSettings {
        EventSettings {
            event_name: self.event_name.clone(),
            event_mode: self.event_mode,
            price_cents: self.price_cents,
            currency: self.currency.clone(),
            presets: self.presets.clone(),
            watermark_text: self.watermark_text.clone(),
            kiosk_language: self.kiosk_language.clone(),
            idle_timeout_s: self.idle_timeout_s,
            retention_unpaid_hours: self.retention_unpaid_hours,
            retention_paid_hours: self.retention_paid_hours,
            admin_networks: self.admin_networks.clone(),
            screen_hours: self.screen_hours,
        }
    }

    pub fn max_upload_bytes(&self) -> u64 {
        u64::from(self.max_upload_mb) * 1024 * 1024
    }

    /// Whether both Stripe secrets are set (paid mode then takes payments
    /// on the phone; the mode itself can change while the kiosk runs).
    pub fn stripe_keys_set(&self) -> bool {
        self.stripe_secret_key.is_some() && self.stripe_webhook_secret.is_some()
    }

    /// The guest URL base without a trailing slash.
    pub fn public_base(&self) -> &str {
        self.public_base_url.trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_hours_are_a_window_that_may_pass_midnight() {
        assert_eq!(parse_screen_hours(""), Ok(None));
        assert_eq!(parse_screen_hours("16:00-02:00"), Ok(Some([960, 120])));
        assert_eq!(parse_screen_hours(" 09:30 - 17:45 "), Ok(Some([570, 1065])));
        for bad in [
            "16-02",
            "24:00-02:00",
            "16:60-02:00",
            "16:00",
            "9:00-17:00",
            "10:00-10:00",
        ] {
            assert!(parse_screen_hours(bad).is_err(), "{bad}");
        }
        let e = with(&[("screen_hours", "\"late\"")]).expect_err("bad hours");
        assert_eq!(e.key, "screen_hours");
        assert!(e.message.contains("HH:MM-HH:MM"), "{e}");
        let read: ScreenHours = " 09:30 - 17:45 ".parse().expect("hours");
        assert_eq!(read.to_string(), "09:30-17:45", "written back the same way");
        assert_eq!(ScreenHours::default().to_string(), "");
        let json = serde_json::to_string(&read).expect("json");
        assert_eq!(serde_json::from_str::<ScreenHours>(&json).ok(), Some(read));
        assert!(serde_json::from_str::<ScreenHours>("\"25:00-26:00\"").is_err());
    }

    #[test]
    fn parser_messages_become_one_line() {
        let toml = "TOML parse error at line 3, column 27\n  |\n3 | x = \"a\n  |     ^\ninvalid basic string\n";
        assert_eq!(
            one_line(toml),
            "TOML parse error at line 3, column 27: invalid basic string"
        );
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn camera_settings_are_checked() {
        assert!(with(&[("camera_fps", "0")]).is_err());
        assert!(with(&[("camera_fps", "61")]).is_err());
        assert!(with(&[("camera_fps", "30")]).is_ok());
        let files = with(&[("camera", "\"files\"")]).expect_err("files need a folder");
        assert_eq!(files.key, "camera_files");
    }

    #[test]
    fn connection_bounds_are_checked() {
        for (key, bad) in [
            ("guest_max_connections", "0"),
            ("admin_max_connections", "20001"),
            ("kiosk_max_connections", "7"),
            ("max_connections_per_peer", "0"),
            ("header_timeout_s", "0"),
            ("body_timeout_s", "5"),
        ] {
            assert_eq!(with(&[(key, bad)]).expect_err(key).key, key);
        }
        assert!(with(&[("header_timeout_s", "2"), ("guest_max_connections", "8")]).is_ok());
    }

    #[test]
    fn a_named_config_file_must_exist_and_be_readable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = check_config_file(&dir.path().join("none.toml")).expect_err("missing");
        assert!(missing.message.contains("does not exist"), "{missing}");
        let folder = check_config_file(dir.path()).expect_err("a folder");
        assert!(folder.message.contains("cannot be read"), "{folder}");
        let file = dir.path().join("ok.toml");
        std::fs::write(&file, "[default]\n").expect("write");
        assert_eq!(check_config_file(&file), Ok(()));
    }

    fn with(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut f = Figment::from(Serialized::defaults(Settings::default()));
        for (k, v) in pairs {
            f = f.merge(Toml::string(&format!("{k} = {v}")));
        }
        Settings::from_figment(&f)
    }

    #[test]
    fn defaults_are_valid() {
        let s = with(&[]).expect("defaults");
        assert_eq!(s.port, 8000);
        assert_eq!(s.guest_port, 8080);
        assert_eq!(s.event_mode, EventMode::Paid);
        assert_eq!(s.max_upload_bytes(), 20 * 1024 * 1024);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: [(&str, &str, &str); 20] = [
            ("admin_port", "8080", "admin_port"),
            ("admin_networks", "[\"not-a-net\"]", "admin_networks"),
            ("kiosk_language", "\"xx\"", "kiosk_language"),
            ("stripe_secret_key", "\"pk_live_abc\"", "stripe_secret_key"),
            (
                "stripe_webhook_secret",
                "\"sk_test_x\"",
                "stripe_webhook_secret",
            ),
            ("stripe_api_base", "\"file:///etc\"", "stripe_api_base"),
            ("checkout_expiry_minutes", "5", "checkout_expiry_minutes"),
            ("stripe_poll_ms", "10", "stripe_poll_ms"),
            ("port", "-1", "port"),
            ("port", "\"eighty\"", "port"),
            ("guest_port", "8000", "guest_port"),
            ("public_base_url", "\"ftp://x\"", "public_base_url"),
            ("public_base_url", "\"not a url\"", "public_base_url"),
            ("event_mode", "\"sometimes\"", "event_mode"),
            ("price_cents", "-5", "price_cents"),
            ("price_cents", "10", "price_cents"),
            ("currency", "\"doubloons\"", "currency"),
            ("retention_unpaid_hours", "0", "retention_unpaid_hours"),
            ("queue_limit", "0", "queue_limit"),
            ("colour", "\"blue\"", "colour"),
        ];
        for (key, value, named) in cases {
            let e = with(&[(key, value)]).expect_err(key);
            assert!(
                e.to_string().contains(named),
                "{key}={value}: {e} should name {named}"
            );
        }
    }

    #[test]
    fn port_zero_lets_the_system_pick_for_every_listener() {
        let s = with(&[("port", "0"), ("guest_port", "0"), ("admin_port", "0")]).expect("valid");
        assert_eq!((s.port, s.guest_port, s.admin_port), (0, 0, 0));
        let e = with(&[("port", "8000"), ("admin_port", "8000")]).expect_err("clash");
        assert!(e.to_string().contains("admin_port"), "{e}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = with(&[
            ("stripe_secret_key", "\"sk_test_topsecret\""),
            ("stripe_webhook_secret", "\"whsec_alsosecret\""),
        ])
        .expect("valid");
        let shown = format!("{s:?}");
        assert!(!shown.contains("topsecret") && !shown.contains("alsosecret"));
        assert!(s.stripe_keys_set());
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API, not ours
    fn env_overrides_file_and_names_unknown_keys() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "Rocket.toml",
                "[default]\nport = 9000\nevent_mode = \"free\"\n",
            )?;
            jail.set_env("SMILELOOP_PORT", "9100");
            jail.set_env("SMILELOOP_CURRENCY", "eur");
            let s = Settings::load().expect("load");
            assert_eq!(
                (s.port, s.event_mode, s.currency.as_str()),
                (9100, EventMode::Free, "eur")
            );
            jail.set_env("SMILELOOP_PROT", "1");
            let e = Settings::load().expect_err("typo");
            assert!(e.to_string().contains("prot"), "{e}");
            Ok(())
        });
    }
}
