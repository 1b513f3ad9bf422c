//! The job record, its typed identifiers and the pure state machine.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A job's id: 64 random bits as 16 lowercase hex characters. Local to the
/// kiosk; guests never see it (they get a [`GuestToken`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId([u8; 8]);

/// A guest's capability: 128 random bits as 32 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GuestToken([u8; 16]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed identifier")]
pub struct MalformedId;

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS random source failing means the machine is broken; there is
    // no safe fallback for a capability token.
    getrandom::fill(&mut bytes).expect("OS random source");
    bytes
}

fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], MalformedId> {
    if s.len() != N * 2
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(MalformedId);
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|_| MalformedId)?;
    Ok(out)
}

macro_rules! hex_id {
    ($t:ident, $n:expr) => {
        impl $t {
            pub fn generate() -> Self {
                Self(random::<$n>())
            }
            pub fn as_bytes(&self) -> &[u8; $n] {
                &self.0
            }
            pub fn from_bytes(b: &[u8]) -> Result<Self, MalformedId> {
                b.try_into().map(Self).map_err(|_| MalformedId)
            }
        }
        impl std::str::FromStr for $t {
            type Err = MalformedId;
            fn from_str(s: &str) -> Result<Self, MalformedId> {
                parse_hex::<$n>(s).map(Self)
            }
        }
        impl TryFrom<String> for $t {
            type Error = MalformedId;
            fn try_from(s: String) -> Result<Self, MalformedId> {
                s.parse()
            }
        }
        impl From<$t> for String {
            fn from(id: $t) -> String {
                hex::encode(id.0)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
        impl<'a> rocket::request::FromParam<'a> for $t {
            type Error = MalformedId;
            fn from_param(param: &'a str) -> Result<Self, MalformedId> {
                param.parse()
            }
        }
    };
}
hex_id!(JobId, 8);
hex_id!(GuestToken, 16);

impl fmt::Debug for GuestToken {
    // Tokens are secrets: keep them out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GuestToken(…)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Uploaded,
    Queued,
    Rendering,
    PreviewReady,
    Unlocked,
    Failed,
    Expired,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Uploaded,
        Status::Queued,
        Status::Rendering,
        Status::PreviewReady,
        Status::Unlocked,
        Status::Failed,
        Status::Expired,
    ];

    /// The state machine. Re-rendering (ready/failed → queued) and crash
    /// recovery (rendering → queued) are the only ways back.
    pub fn can_become(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Uploaded, Queued | Failed | Expired)
                | (Queued, Rendering | Failed | Expired)
                | (Rendering, PreviewReady | Failed | Queued)
                | (PreviewReady, Unlocked | Queued | Expired)
                | (Unlocked, Expired)
                | (Failed, Queued | Expired)
        )
    }

    /// One byte for the status index key. Written out, never the enum's
    /// position: these bytes are on disk, and reordering or inserting a
    /// variant must not make stored index keys name another state.
    pub fn code(self) -> u8 {
        match self {
            Status::Uploaded => 0,
            Status::Queued => 1,
            Status::Rendering => 2,
            Status::PreviewReady => 3,
            Status::Unlocked => 4,
            Status::Failed => 5,
            Status::Expired => 6,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Uploaded => "uploaded",
            Status::Queued => "queued",
            Status::Rendering => "rendering",
            Status::PreviewReady => "preview_ready",
            Status::Unlocked => "unlocked",
            Status::Failed => "failed",
            Status::Expired => "expired",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a clean download is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnlockReason {
    /// Paid through Stripe.
    Paid,
    /// Host-paid event: downloads are free for everyone.
    Event,
    /// Staff took cash.
    StaffCash,
    /// Staff gave it away.
    StaffComp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub frames_done: u32,
    pub frames_total: u32,
}

/// File names inside the job's directory (never paths from outside).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFiles {
    pub source: String,
    pub full: Option<String>,
    pub preview: Option<String>,
    pub poster: Option<String>,
    /// The faces the upload check found (`face::Found` as JSON), so that
    /// the render does not detect them again. Absent: detect at render.
    #[serde(default)]
    pub faces: Option<String>,
}

/// What a job costs, fixed when it is created (settings may change during
/// the evening; a guest pays what the kiosk showed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    pub cents: u32,
    /// ISO 4217, lower case, as Stripe writes it.
    pub currency: String,
}

/// The job's Stripe Checkout Session, reused while it is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    pub session_id: String,
    pub url: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// How many sessions this job has had (the idempotency key's suffix).
    pub number: u32,
    /// The job's earlier sessions, newest last: one replaced a minute
    /// before it expired may still be paid by a guest on its page.
    #[serde(default)]
    pub earlier: Vec<String>,
}

/// How many replaced sessions a job remembers as its own.
pub const EARLIER_SESSIONS: usize = 8;

impl Checkout {
    /// Whether `session_id` is one this kiosk opened for the job.
    pub fn owns(&self, session_id: &str) -> bool {
        self.session_id == session_id || self.earlier.iter().any(|s| s == session_id)
    }

    /// The session that replaces this one, remembering this one.
    pub fn replaced_by(&self, next: Checkout) -> Checkout {
        let mut earlier = self.earlier.clone();
        earlier.push(self.session_id.clone());
        let skip = earlier.len().saturating_sub(EARLIER_SESSIONS);
        Checkout {
            earlier: earlier.split_off(skip),
            ..next
        }
    }
}

/// Money Stripe reports as taken for this job. Recorded before anything is
/// answered; never removed while the job exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub session_id: String,
    pub amount_cents: i64,
    pub currency: String,
    /// Unix milliseconds.
    pub recorded_at: i64,
    /// Which path saw it first.
    pub seen_by: SeenBy,
}

/// The path by which the kiosk learnt of a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeenBy {
    /// Stripe's `checkout.session.completed` event.
    Webhook,
    /// The poller asking Stripe about open sessions.
    Poll,
    /// The guest's return from Checkout, which asks Stripe.
    Return,
}

impl SeenBy {
    pub fn as_str(self) -> &'static str {
        match self {
            SeenBy::Webhook => "webhook",
            SeenBy::Poll => "poll",
            SeenBy::Return => "return",
        }
    }
}

impl fmt::Display for SeenBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub token: GuestToken,
    pub preset: crate::motion::PresetId,
    pub status: Status,
    pub progress: Progress,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    pub files: JobFiles,
    /// Why it failed, in words a guest can read.
    pub error: Option<String>,
    pub unlock: Option<UnlockReason>,
    pub unlock_note: Option<String>,
    pub unlocked_at: Option<i64>,
    pub download_count: u32,
    /// Renders started, to stop a photo that crashes the process from looping.
    pub attempts: u32,
    pub backend: Option<crate::backend::Backend>,
    pub encoder: Option<String>,
    // Added after schema 1's first records: absent means none.
    #[serde(default)]
    pub price: Option<Price>,
    #[serde(default)]
    pub checkout: Option<Checkout>,
    #[serde(default)]
    pub payment: Option<Payment>,
    /// Something staff must look at (a payment that does not match).
    #[serde(default)]
    pub staff_flag: Option<String>,
    /// The animator backend staff asked for on a re-render, or `gentle`
    /// after renders that kept being interrupted (none: the kiosk's own).
    #[serde(default)]
    pub backend_request: Option<crate::backend::Backend>,
    /// How many faces come alive (absent: not known, or a whole-photo
    /// animator).
    #[serde(default)]
    pub faces: Option<u32>,
}

impl Job {
    pub fn new(preset: crate::motion::PresetId, source_file: &str, now_ms: i64) -> Self {
        Self {
            id: JobId::generate(),
            token: GuestToken::generate(),
            preset,
            status: Status::Uploaded,
            progress: Progress::default(),
            created_at: now_ms,
            updated_at: now_ms,
            finished_at: None,
            files: JobFiles {
                source: source_file.to_string(),
                ..JobFiles::default()
            },
            error: None,
            unlock: None,
            unlock_note: None,
            unlocked_at: None,
            download_count: 0,
            attempts: 0,
            backend: None,
            encoder: None,
            price: None,
            checkout: None,
            payment: None,
            staff_flag: None,
            backend_request: None,
            faces: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn every_transition_is_either_legal_or_rejected() {
        let legal = [
            (Uploaded, Queued),
            (Uploaded, Failed),
            (Uploaded, Expired),
            (Queued, Rendering),
            (Queued, Failed),
            (Queued, Expired),
            (Rendering, PreviewReady),
            (Rendering, Failed),
            (Rendering, Queued),
            (PreviewReady, Unlocked),
            (PreviewReady, Queued),
            (PreviewReady, Expired),
            (Unlocked, Expired),
            (Failed, Queued),
            (Failed, Expired),
        ];
        for from in Status::ALL {
            for to in Status::ALL {
                assert_eq!(
                    from.can_become(to),
                    legal.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        // The ones that matter most for money and privacy:
        assert!(
            !Queued.can_become(Unlocked),
            "unlock before a preview exists"
        );
        assert!(
            !Rendering.can_become(Expired),
            "retention must not take a render"
        );
        assert!(!Expired.can_become(Queued), "expired files are gone");
        assert!(
            !Unlocked.can_become(Queued),
            "a paid video is not re-rendered away"
        );
    }

    #[test]
    fn status_codes_are_the_bytes_on_disk() {
        // The codes stores written by earlier versions hold: fixed, not
        // derived from the order of the variants.
        let codes: Vec<u8> = Status::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn ids_parse_strictly() {
        let id = JobId::generate();
        assert_eq!(id.to_string().parse::<JobId>(), Ok(id));
        for bad in [
            "",
            "../etc/passwd",
            "ABCDEF0123456789",
            "0123456789abcdef0",
            "0123456789abcdeg",
            "0123456789abcde\u{e9}",
        ] {
            assert_eq!(bad.parse::<JobId>(), Err(MalformedId), "{bad:?}");
        }
        let token = GuestToken::generate();
        assert_eq!(token.to_string().len(), 32);
        assert_eq!(token.to_string().parse::<GuestToken>(), Ok(token));
        assert!(!format!("{token:?}").contains(&token.to_string()));
        assert_ne!(GuestToken::generate(), GuestToken::generate());
    }

    #[test]
    fn job_round_trips_through_json() {
        let job = Job::new(
            "soft_smile".parse().expect("preset id"),
            "source.jpg",
            1_700_000_000_000,
        );
        let text = serde_json::to_string(&job).expect("encode");
        assert!(text.contains("\"status\":\"uploaded\""));
        let back: Job = serde_json::from_str(&text).expect("decode");
        assert_eq!(back, job);
    }
}
