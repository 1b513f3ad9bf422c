//! The state the listeners and the self-test share, and the ways starting
//! the kiosk can fail. Below `web` and `selftest`, above every domain
//! module; `app` builds it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use rocket::{Build, Rocket};

use crate::animate::Animator;
use crate::capture::handoff::Handoffs;
use crate::capture::CameraHub;
use crate::clock::SharedClock;
use crate::config::{EventMode, LiveSettings, Settings};
use crate::encode::{EncodeError, H264Encoder};
use crate::jobs::intake::Intake;
use crate::jobs::live::LiveRenders;
use crate::jobs::queue::{Admission, WorkerStatus};
use crate::jobs::retention::InUse;
use crate::jobs::{JobStore, StoreError};
use crate::metrics::Metrics;
use crate::motion::{Preset, PresetError};
use crate::payments::checkout::Checkouts;
use crate::payments::lookups::Lookups;
use crate::payments::StripeKeys;
use crate::print::Printing;

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

/// Everything the kiosk runs on, as `app` wires it: the background tasks
/// and the self-test take it whole. The listeners do not: [`Shared::manage`]
/// hands Rocket each part on its own, so a handler's signature names what
/// it uses.
pub struct Shared {
    pub settings: Settings,
    /// Wall and monotonic time for everything the listeners do.
    pub clock: SharedClock,
    pub store: JobStore,
    pub presets: Presets,
    /// Uploads' places in the queue, and the worker's wake-up.
    pub admission: Arc<Admission>,
    /// What the render worker is doing.
    pub worker: Arc<WorkerStatus>,
    pub encoder: H264Encoder,
    pub animator: Arc<dyn Animator>,
    /// Why the configured animator is not the one in use, if it is not.
    pub animator_note: Option<String>,
    pub in_use: Arc<InUse>,
    pub started: Uptime,
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
    pub lookups: Arc<Lookups>,
    /// Photos checked and recorded as jobs, kiosk and phones together.
    pub intake: Arc<Intake>,
    /// The SHA-256 fingerprint of the admin listener's certificate.
    pub admin_fingerprint: String,
    /// The photo printer and its queue.
    pub printing: Arc<Printing>,
}

impl Shared {
    /// Gives `rocket` every part a handler may ask for, each as its own
    /// managed state.
    pub fn manage(&self, rocket: Rocket<Build>) -> Rocket<Build> {
        rocket
            .manage(self.settings.clone())
            .manage(Arc::clone(&self.clock))
            .manage(self.store.clone())
            .manage(self.presets.clone())
            .manage(Arc::clone(&self.admission))
            .manage(Arc::clone(&self.worker))
            .manage(self.renderer())
            .manage(self.payments())
            .manage(Arc::clone(&self.in_use))
            .manage(self.started)
            .manage(Arc::clone(&self.live))
            .manage(Arc::clone(&self.camera))
            .manage(Arc::clone(&self.handoffs))
            .manage(Arc::clone(&self.renders))
            .manage(Arc::clone(&self.metrics))
            .manage(Arc::clone(&self.intake))
            .manage(Arc::clone(&self.printing))
    }

    pub fn renderer(&self) -> Renderer {
        Renderer {
            animator: Arc::clone(&self.animator),
            note: self.animator_note.clone(),
            encoder: self.encoder,
        }
    }

    pub fn payments(&self) -> Payments {
        Payments {
            store: self.store.clone(),
            stripe: Arc::clone(&self.stripe),
            lookups: Arc::clone(&self.lookups),
            live: Arc::clone(&self.live),
            clock: Arc::clone(&self.clock),
            public_base: self.settings.public_base().to_string(),
            expiry_minutes: self.settings.checkout_expiry_minutes,
        }
    }
}

/// When the kiosk started, for uptime.
#[derive(Debug, Clone, Copy)]
pub struct Uptime(pub Instant);

impl Uptime {
    pub fn now() -> Self {
        Self(Instant::now())
    }

    pub fn seconds(&self) -> u64 {
        self.0.elapsed().as_secs()
    }
}

/// The presets found on disk, in the files' order.
#[derive(Clone)]
pub struct Presets(pub Arc<Vec<Preset>>);

impl Presets {
    pub fn all(&self) -> &[Preset] {
        &self.0
    }

    pub fn ids(&self) -> Vec<&str> {
        self.0.iter().map(|p| p.id()).collect()
    }

    pub fn get(&self, id: &str) -> Option<&Preset> {
        self.0.iter().find(|p| p.id() == id)
    }
}

/// The animator and encoder in use.
pub struct Renderer {
    pub animator: Arc<dyn Animator>,
    /// Why the configured animator is not the one in use, if it is not.
    pub note: Option<String>,
    pub encoder: H264Encoder,
}

impl Renderer {
    /// Why the animator is not doing what was configured: it fell back at
    /// start, or its last job fell back.
    pub fn status(&self) -> Option<String> {
        self.animator.note().or_else(|| self.note.clone())
    }
}

/// Guests' payments: Stripe, if set up, and tonight's event mode.
pub struct Payments {
    pub store: JobStore,
    pub stripe: Arc<StripeKeys>,
    pub lookups: Arc<Lookups>,
    pub live: Arc<LiveSettings>,
    pub clock: SharedClock,
    /// The guest listener's public address, for Stripe's return links.
    pub public_base: String,
    pub expiry_minutes: u32,
}

impl Payments {
    /// Whether a guest can pay on the phone right now.
    pub fn configured(&self) -> bool {
        self.stripe.api().is_some() && self.live.get().event_mode == EventMode::Paid
    }

    /// Whether the last Stripe call failed for want of a network.
    pub fn offline(&self) -> bool {
        self.stripe.api().is_some_and(|s| s.is_offline())
    }

    /// Opening and confirming guests' checkouts.
    pub fn checkouts(&self) -> Checkouts<'_> {
        Checkouts {
            store: &self.store,
            stripe: &self.stripe,
            lookups: &self.lookups,
            public_base: &self.public_base,
            expiry_minutes: self.expiry_minutes,
            live: &self.live,
            clock: self.clock.as_ref(),
        }
    }
}
