//! Tonight's event settings: what venue staff change on the admin page
//! while the kiosk runs. The config file gives their first values; once
//! staff save them they live in sled (tree `settings`) and win over the
//! file, across restarts. Readers take a snapshot per job or request, so a
//! change applies to the next guest without a restart.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{err, ConfigError, EventMode};

/// Currencies Stripe Checkout accepts that a venue is likely to use.
/// Amounts are in each one's minor units (`money::decimals`: none for
/// JPY, KRW and CLP).
pub const CURRENCIES: [&str; 18] = [
    "usd", "eur", "gbp", "chf", "cad", "aud", "nzd", "sek", "nok", "dkk", "pln", "czk", "jpy",
    "krw", "clp", "mxn", "brl", "sgd",
];

/// Languages the kiosk and the presets' labels speak.
pub use crate::i18n::LANGUAGES;

/// Loopback and the private ranges a venue network uses.
pub fn default_admin_networks() -> Vec<IpNet> {
    [
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
        "fe80::/10",
    ]
    .iter()
    .filter_map(|n| n.parse().ok())
    .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    pub event_name: String,
    pub event_mode: EventMode,
    pub price_cents: u32,
    pub currency: String,
    /// Enabled presets in the kiosk's order; empty means all of them.
    pub presets: Vec<String>,
    pub watermark_text: String,
    pub kiosk_language: String,
    /// Seconds without a touch before the kiosk returns to its start screen.
    pub idle_timeout_s: u32,
    pub retention_unpaid_hours: u32,
    pub retention_paid_hours: u32,
    /// Who may open the admin listener, judged by the peer address.
    pub admin_networks: Vec<IpNet>,
    /// When the kiosk screen stays lit, `HH:MM-HH:MM` local time; empty
    /// for always (see `Settings::screen_hours`).
    pub screen_hours: super::ScreenHours,
}

impl EventSettings {
    /// Checks every field; the error names the field, in words staff read.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name_len = self.event_name.trim().chars().count();
        if name_len == 0 || name_len > 80 || self.event_name.chars().any(char::is_control) {
            return Err(err("event_name", "must be 1-80 characters"));
        }
        if !(50..=100_000).contains(&self.price_cents) {
            return Err(err(
                "price_cents",
                "must be between 50 and 100000 (Stripe's minimum is 50)",
            ));
        }
        if !CURRENCIES.contains(&self.currency.as_str()) {
            return Err(err(
                "currency",
                format!("must be one of {}", CURRENCIES.join(", ")),
            ));
        }
        let wm_len = self.watermark_text.trim().chars().count();
        if wm_len == 0 || wm_len > 40 || self.watermark_text.chars().any(char::is_control) {
            return Err(err("watermark_text", "must be 1-40 characters"));
        }
        if !LANGUAGES.contains(&self.kiosk_language.as_str()) {
            return Err(err(
                "kiosk_language",
                format!("must be one of {}", LANGUAGES.join(", ")),
            ));
        }
        if !(15..=3600).contains(&self.idle_timeout_s) {
            return Err(err("idle_timeout_s", "must be between 15 and 3600 seconds"));
        }
        for (key, hours) in [
            ("retention_unpaid_hours", self.retention_unpaid_hours),
            ("retention_paid_hours", self.retention_paid_hours),
        ] {
            if !(1..=24 * 365).contains(&hours) {
                return Err(err(key, "must be between 1 and 8760 hours"));
            }
        }
        if self.admin_networks.is_empty() || self.admin_networks.len() > 32 {
            return Err(err("admin_networks", "must list 1-32 networks"));
        }
        let mut seen = std::collections::HashSet::new();
        if self.presets.len() > 64 || !self.presets.iter().all(|p| seen.insert(p)) {
            return Err(err("presets", "each preset may be listed once"));
        }
        Ok(())
    }

    /// Checks the preset list against the presets on disk.
    pub fn validate_presets(&self, known: &[&str]) -> Result<(), ConfigError> {
        match self.presets.iter().find(|p| !known.contains(&p.as_str())) {
            Some(p) => Err(err(
                "presets",
                format!(
                    "there is no preset `{}` (known: {})",
                    p.chars().take(40).collect::<String>(),
                    known.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    pub fn admin_allowed(&self, peer: IpAddr) -> bool {
        // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.admin_networks.iter().any(|n| n.contains(&peer))
    }

    /// The index of `id` in the kiosk's order, or `None` when disabled.
    pub fn preset_rank(&self, id: &str) -> Option<usize> {
        if self.presets.is_empty() {
            return Some(0);
        }
        self.presets.iter().position(|p| p == id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error("settings store: {0}")]
    Db(#[from] sled::Error),
}

/// The event settings in force, persisted in sled.
pub struct LiveSettings {
    tree: sled::Tree,
    current: RwLock<Arc<EventSettings>>,
    /// Held over a save's write, flush and swap.
    saving: tokio::sync::Mutex<()>,
}

const KEY: &str = "event";

impl LiveSettings {
    /// Loads what staff saved, over `defaults` from the config file. Saved
    /// values that no longer validate (a preset removed since) are dropped
    /// with a warning, never a refusal to start.
    pub fn open(tree: sled::Tree, defaults: EventSettings, known_presets: &[&str]) -> Self {
        let stored = tree.get(KEY).ok().flatten();
        let merged = stored.and_then(|bytes| {
            let saved: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
            let mut value = serde_json::to_value(&defaults).ok()?;
            if let (Some(base), Some(saved)) = (value.as_object_mut(), saved.as_object()) {
                for (k, v) in saved {
                    if base.contains_key(k) {
                        base.insert(k.clone(), v.clone());
                    }
                }
            }
            serde_json::from_value::<EventSettings>(value).ok()
        });
        let current = match merged {
            Some(s) if s.validate().and(s.validate_presets(known_presets)).is_ok() => s,
            Some(_) => {
                tracing::warn!("saved event settings are no longer valid; using the config file's");
                defaults
            }
            None => defaults,
        };
        Self {
            tree,
            current: RwLock::new(Arc::new(current)),
            saving: tokio::sync::Mutex::new(()),
        }
    }

    pub fn get(&self) -> Arc<EventSettings> {
        match self.current.read() {
            Ok(c) => Arc::clone(&c),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Validates, stores durably, then applies. Two saves at once take
    /// turns over the write, the flush and the swap, so what runs is
    /// always what is stored.
    pub async fn save(&self, new: EventSettings, known_presets: &[&str]) -> Result<(), LiveError> {
        new.validate()?;
        new.validate_presets(known_presets)?;
        let bytes = serde_json::to_vec(&new)
            .map_err(|e| LiveError::Invalid(err("(settings)", e.to_string())))?;
        let _turn = self.saving.lock().await;
        self.tree.insert(KEY, bytes)?;
        self.tree.flush_async().await?;
        match self.current.write() {
            Ok(mut c) => *c = Arc::new(new),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(new),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> EventSettings {
        crate::config::Settings::default().event()
    }

    #[test]
    fn zero_decimal_currencies_are_offered_and_three_decimal_ones_refused() {
        for c in ["jpy", "krw", "clp"] {
            assert!(CURRENCIES.contains(&c), "{c}");
            assert_eq!(crate::money::decimals(c), 0, "{c}");
        }
        for c in crate::money::THREE_DECIMAL {
            let mut s = sample();
            s.currency = c.into();
            assert!(s.validate().is_err(), "{c} is refused");
        }
    }

    #[test]
    fn admin_networks_judge_the_peer() {
        let s = sample();
        for ok in [
            "127.0.0.1",
            "192.168.1.20",
            "10.9.8.7",
            "::1",
            "::ffff:192.168.0.5",
        ] {
            assert!(s.admin_allowed(ok.parse().expect("ip")), "{ok}");
        }
        for no in ["8.8.8.8", "172.32.0.1", "2001:db8::1", "::ffff:1.2.3.4"] {
            assert!(!s.admin_allowed(no.parse().expect("ip")), "{no}");
        }
    }

    #[test]
    fn bad_values_name_their_field() {
        type Change = Box<dyn Fn(&mut EventSettings)>;
        let cases: Vec<(&str, Change)> = vec![
            ("event_name", Box::new(|s| s.event_name = "  ".into())),
            ("price_cents", Box::new(|s| s.price_cents = 0)),
            ("currency", Box::new(|s| s.currency = "xyz".into())),
            (
                "watermark_text",
                Box::new(|s| s.watermark_text = String::new()),
            ),
            (
                "kiosk_language",
                Box::new(|s| s.kiosk_language = "tlh".into()),
            ),
            ("idle_timeout_s", Box::new(|s| s.idle_timeout_s = 1)),
            (
                "retention_paid_hours",
                Box::new(|s| s.retention_paid_hours = 0),
            ),
            ("admin_networks", Box::new(|s| s.admin_networks.clear())),
            (
                "presets",
                Box::new(|s| s.presets = vec!["a".into(), "a".into()]),
            ),
        ];
        for (field, change) in cases {
            let mut s = sample();
            change(&mut s);
            let e = s.validate().expect_err(field);
            assert_eq!(e.key, field);
        }
        let mut s = sample();
        s.presets = vec!["soft_smile".into(), "moonwalk".into()];
        let e = s.validate_presets(&["soft_smile"]).expect_err("unknown");
        assert!(e.message.contains("moonwalk"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn saves_at_once_leave_what_runs_equal_to_what_is_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("sled");
        let known = ["soft_smile"];
        let live = Arc::new(LiveSettings::open(
            db.open_tree("settings").expect("tree"),
            sample(),
            &known,
        ));
        let saves: Vec<_> = (0..32u32)
            .map(|i| {
                let live = Arc::clone(&live);
                tokio::spawn(async move {
                    let mut s = (*live.get()).clone();
                    s.price_cents = 1000 + i;
                    live.save(s, &["soft_smile"]).await.expect("save");
                })
            })
            .collect();
        for s in saves {
            s.await.expect("task");
        }
        let running = live.get().price_cents;
        drop(live);
        let stored = LiveSettings::open(db.open_tree("settings").expect("tree"), sample(), &known);
        assert_eq!(stored.get().price_cents, running);
    }

    #[tokio::test]
    async fn saved_settings_win_over_the_file_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("sled");
        let known = ["soft_smile", "smile_wink"];
        let live = LiveSettings::open(db.open_tree("settings").expect("tree"), sample(), &known);
        let mut s = (*live.get()).clone();
        s.price_cents = 1299;
        s.presets = vec!["smile_wink".into()];
        live.save(s, &known).await.expect("save");
        let mut bad = (*live.get()).clone();
        bad.currency = "doubloons".into();
        assert!(live.save(bad, &known).await.is_err());
        assert_eq!(
            live.get().price_cents,
            1299,
            "a refused save changes nothing"
        );
        drop(live);
        let live = LiveSettings::open(db.open_tree("settings").expect("tree"), sample(), &known);
        assert_eq!(live.get().price_cents, 1299);
        assert_eq!(live.get().preset_rank("smile_wink"), Some(0));
        assert_eq!(live.get().preset_rank("soft_smile"), None);
        // A preset removed from disk since: the file's settings are used.
        let live = LiveSettings::open(db.open_tree("settings").expect("tree"), sample(), &["x"]);
        assert_eq!(live.get().price_cents, sample().price_cents);
    }
}
