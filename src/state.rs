//! The state the listeners and the self-test share, and the ways starting
//! the kiosk can fail. Below `web` and `selftest`, above every domain
//! module; `app` builds it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::animate::Animator;
use crate::capture::handoff::Handoffs;
use crate::capture::CameraHub;
use crate::clock::SharedClock;
use crate::config::{EventMode, LiveSettings, Settings};
use crate::encode::{EncodeError, H264Encoder};
use crate::jobs::live::LiveRenders;
use crate::jobs::retention::InUse;
use crate::jobs::worker::Queue;
use crate::jobs::{JobStore, StoreError};
use crate::metrics::Metrics;
use crate::motion::{Preset, PresetError};
use crate::payments::checkout::Checkouts;
use crate::payments::StripeKeys;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "data_dir {path}: {source} (create it, or set SMILELOOP_DATA_DIR to a writable folder)"
    )]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "data_dir {path}: the disk is full; free space there (old jobs, logs) or shorten retention"
    )]
    DiskFull { path: PathBuf },
    #[error("{0} (check presets_dir / SMILELOOP_PRESETS_DIR)")]
    Presets(#[from] PresetError),
    #[error(transparent)]
    Encoder(#[from] EncodeError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Config(crate::config::ConfigError),
    #[error("metrics: {0}")]
    Metrics(String),
    #[error("payments: {0}")]
    Payments(String),
    #[error("the admin listener's HTTPS: {0}")]
    Tls(#[from] crate::admin::tls::TlsError),
    #[error("the {which} listener could not start on {addr}: {message}")]
    Listen {
        which: &'static str,
        addr: String,
        message: String,
    },
}

/// State every listener and task shares.
pub struct Shared {
    pub settings: Settings,
    /// Wall and monotonic time for everything the listeners do.
    pub clock: SharedClock,
    pub store: JobStore,
    pub presets: Arc<Vec<Preset>>,
    pub queue: Arc<Queue>,
    pub encoder: H264Encoder,
    pub animator: Arc<dyn Animator>,
    /// Why the configured animator is not the one in use, if it is not.
    pub animator_note: Option<String>,
    pub in_use: Arc<InUse>,
    pub started: Instant,
    /// The Stripe keys and client, when both secrets are set.
    pub stripe: Arc<StripeKeys>,
    /// Tonight's event settings, changed by staff while the kiosk runs.
    pub live: Arc<LiveSettings>,
    pub camera: Arc<CameraHub>,
    /// Photos on their way from a guest's phone to the kiosk screen.
    pub handoffs: Arc<Handoffs>,
    /// The render in progress, frame by frame, for the kiosk screen.
    pub renders: Arc<LiveRenders>,
    pub metrics: Arc<Metrics>,
    /// Guests' returns from Checkout that asked Stripe, per job.
    pub lookups: Arc<crate::payments::lookups::Lookups>,
    /// Photos checked and recorded as jobs, kiosk and phones together.
    pub intake: Arc<crate::jobs::intake::Intake>,
    /// The SHA-256 fingerprint of the admin listener's certificate.
    pub admin_fingerprint: String,
    /// The photo printer and its queue.
    pub printing: Arc<crate::print::Printing>,
}

impl Shared {
    /// Why the animator is not doing what was configured: it fell back at
    /// start, or its last job fell back.
    pub fn animator_status(&self) -> Option<String> {
        self.animator.note().or_else(|| self.animator_note.clone())
    }

    /// Whether a guest can pay on the phone right now.
    pub fn payments_configured(&self) -> bool {
        self.stripe.api().is_some() && self.live.get().event_mode == EventMode::Paid
    }

    /// Whether the last Stripe call failed for want of a network.
    pub fn payments_offline(&self) -> bool {
        self.stripe.api().is_some_and(|s| s.is_offline())
    }

    /// Preset ids found on disk, in the files' order.
    pub fn preset_ids(&self) -> Vec<&str> {
        self.presets.iter().map(|p| p.id()).collect()
    }

    /// Opening and confirming guests' checkouts.
    pub fn checkouts(&self) -> Checkouts<'_> {
        Checkouts {
            store: &self.store,
            stripe: &self.stripe,
            lookups: &self.lookups,
            public_base: self.settings.public_base(),
            expiry_minutes: self.settings.checkout_expiry_minutes,
            live: &self.live,
            clock: self.clock.as_ref(),
        }
    }

    pub fn preset(&self, id: &str) -> Option<&Preset> {
        self.presets.iter().find(|p| p.id() == id)
    }
}
