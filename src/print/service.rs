//! Printing as the kiosk runs it: guests' and staff's requests checked
//! and queued, and one task that asks the printer how it is, sends the
//! next card when it can print, and follows each card at the printer until
//! it is printed. One card is at the printer at a time, so paper running
//! out never leaves a pile of jobs there that nobody sees.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use image::RgbImage;
use serde::Serialize;
use tokio::sync::{watch, Notify};

use super::card::{self, CardText};
use super::ipp::{Capabilities, Ipp, IppError, JobProgress, Ticket};
use super::queue::{self, PrintQueue, PrintRecord, PrintState, Requester};
use super::raster::{self, Colour};
use super::status::{PrinterState, PrinterStatus};
use crate::config::{EventMode, LiveSettings, PrintCopies, PrintSettings, PrintWhen, PrinterUri};
use crate::jobs::{Job, JobId, JobStore, Status, StoreError};

/// Cards kept while the printer cannot print; past this a guest is told
/// to ask the staff instead of joining a pile.
pub const MAX_HELD: usize = 3;
/// How often the printer is asked while cards are on their way, and while
/// none are.
const BUSY_EVERY: Duration = Duration::from_secs(1);
const IDLE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum PrintRequestError {
    #[error("printing is off at this event")]
    Off,
    #[error("there is no such job (it may have been deleted)")]
    NoJob,
    #[error("the card can print once the video is ready (it is {0})")]
    NotReady(Status),
    #[error("this video's card has been printed {0} times already, the most a guest may print")]
    Limit(u32),
    #[error("{0} The printer needs the staff.")]
    Unavailable(String),
    #[error("there is no such print")]
    NoPrint,
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// How a card goes to the printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pwg { dpi: u32, colour: Colour },
    Urf { dpi: u32, colour: Colour },
    Jpeg,
}

impl Format {
    pub fn mime(self) -> &'static str {
        match self {
            Self::Pwg { .. } => "image/pwg-raster",
            Self::Urf { .. } => "image/urf",
            Self::Jpeg => "image/jpeg",
        }
    }

    /// The card as a document in this format.
    pub fn encode(self, sheet: &RgbImage) -> Result<Vec<u8>, String> {
        let at = |dpi: u32| {
            if dpi == card::DPI {
                sheet.clone()
            } else {
                let (w, h) = sheet.dimensions();
                image::imageops::resize(
                    sheet,
                    w * dpi / card::DPI,
                    h * dpi / card::DPI,
                    image::imageops::FilterType::CatmullRom,
                )
            }
        };
        Ok(match self {
            Self::Pwg { dpi, colour } => raster::pwg(&at(dpi), dpi, colour),
            Self::Urf { dpi, colour } => raster::urf(&at(dpi), dpi, colour),
            Self::Jpeg => {
                let mut out = Vec::new();
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
                    .encode_image(sheet)
                    .map_err(|e| e.to_string())?;
                out
            }
        })
    }
}

/// The best format `caps` takes: raster first (the printer prints those
/// pixels as they are), then JPEG; PostScript and PDF are not sent.
pub fn choose_format(caps: &Capabilities) -> Option<Format> {
    let takes = |m: &str| caps.formats.iter().any(|f| f == m);
    let near = |dpis: &[u32]| {
        if dpis.contains(&card::DPI) {
            Some(card::DPI)
        } else {
            dpis.iter()
                .copied()
                .filter(|d| (150..=600).contains(d))
                .max()
        }
    };
    if takes("image/pwg-raster") {
        let colour = if caps.pwg_types.iter().any(|t| t == "srgb_8") {
            Some(Colour::Srgb8)
        } else if caps.pwg_types.iter().any(|t| t == "sgray_8") {
            Some(Colour::Sgray8)
        } else {
            None
        };
        if let (Some(colour), Some(dpi)) = (colour, near(&caps.pwg_resolutions)) {
            return Some(Format::Pwg { dpi, colour });
        }
    }
    if takes("image/urf") {
        let dpis: Vec<u32> = caps
            .urf
            .iter()
            .filter_map(|k| k.strip_prefix("RS"))
            .flat_map(|r| {
                r.split('-')
                    .filter_map(|d| d.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect();
        let colour = if caps.urf.iter().any(|k| k == "SRGB24") {
            Some(Colour::Srgb8)
        } else if caps.urf.iter().any(|k| k == "W8") {
            Some(Colour::Sgray8)
        } else {
            None
        };
        if let (Some(colour), Some(dpi)) = (colour, near(&dpis)) {
            return Some(Format::Urf { dpi, colour });
        }
    }
    takes("image/jpeg").then_some(Format::Jpeg)
}

/// A card shows the finished loop: a job prints once its preview is
/// ready, and until it expires.
pub fn printable(status: Status) -> bool {
    matches!(status, Status::PreviewReady | Status::Unlocked)
}

/// Where staff's printer settings are kept in the `settings` tree.
const SAVED_KEY: &str = "print";

fn client(settings: &PrintSettings) -> Option<Arc<Ipp>> {
    PrinterUri::parse(&settings.printer_uri)
        .ok()
        .map(|u| Arc::new(Ipp::new(u)))
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error(transparent)]
    Invalid(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the kiosk screen and the dashboard show of printing.
#[derive(Debug, Clone, Serialize)]
pub struct PrinterView {
    /// The guest's button is shown.
    pub enabled: bool,
    pub print_when: PrintWhen,
    pub state: PrinterState,
    pub can_print: bool,
    /// The state in one sentence.
    pub message: String,
    pub status: PrinterStatus,
    /// Cards waiting for the printer.
    pub held: usize,
    /// Unix milliseconds of the last check.
    pub checked_at: i64,
}

/// The last card sent: how long from the request to the printer taking
/// it, in what format, how big.
#[derive(Debug, Clone, Serialize)]
pub struct SendReport {
    pub format: &'static str,
    pub bytes: usize,
    pub request_to_accepted_ms: i64,
    pub render_ms: u128,
}

struct Seen {
    status: PrinterStatus,
    at: i64,
}

pub struct Printing {
    /// As staff last saved them (tree `settings`, key `print`), else the
    /// config file's.
    settings: RwLock<PrintSettings>,
    ipp: RwLock<Option<Arc<Ipp>>>,
    saved: sled::Tree,
    queue: PrintQueue,
    store: JobStore,
    live: Arc<LiveSettings>,
    data_dir: PathBuf,
    public_base: String,
    seen: RwLock<Seen>,
    /// Checking a request and adding it is one step.
    adding: Mutex<()>,
    wake: Notify,
    last_send: Mutex<Option<SendReport>>,
}

impl Printing {
    pub fn new(
        settings: PrintSettings,
        store: JobStore,
        live: Arc<LiveSettings>,
        data_dir: PathBuf,
        public_base: String,
    ) -> Result<Self, StoreError> {
        let saved = store.tree("settings")?;
        let settings = match saved.get(SAVED_KEY)? {
            Some(v) => match serde_json::from_slice::<PrintSettings>(&v) {
                Ok(s) if s.validate().is_ok() => s,
                _ => {
                    tracing::warn!(
                        "the saved printer settings are unreadable; using the config file's"
                    );
                    settings
                }
            },
            None => settings,
        };
        let ipp = client(&settings);
        let first = if ipp.is_some() {
            PrinterStatus::without(PrinterState::Unreachable, "not asked yet")
        } else {
            PrinterStatus::without(PrinterState::NotConfigured, "no printer_uri")
        };
        Ok(Self {
            queue: PrintQueue::new(store.tree("prints")?),
            settings: RwLock::new(settings),
            ipp: RwLock::new(ipp),
            saved,
            store,
            live,
            data_dir,
            public_base,
            seen: RwLock::new(Seen {
                status: first,
                at: 0,
            }),
            adding: Mutex::new(()),
            wake: Notify::new(),
            last_send: Mutex::new(None),
        })
    }

    /// Whether a printer is set up at all (staff may print with
    /// `print_when = "off"`).
    pub fn configured(&self) -> bool {
        self.ipp().is_some()
    }

    pub fn settings(&self) -> PrintSettings {
        match self.settings.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn ipp(&self) -> Option<Arc<Ipp>> {
        match self.ipp.read() {
            Ok(i) => i.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Staff's new printer settings: checked, kept in the store, in force
    /// for the next card. Cards already queued stay queued.
    pub fn save(&self, new: PrintSettings) -> Result<(), SaveError> {
        new.validate()?;
        let bytes = serde_json::to_vec(&new).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.saved
            .insert(SAVED_KEY, bytes)
            .map_err(StoreError::from)?;
        self.saved.flush().map_err(StoreError::from)?;
        let ipp = client(&new);
        if let Ok(mut i) = self.ipp.write() {
            *i = ipp;
        }
        if let Ok(mut s) = self.settings.write() {
            *s = new;
        }
        if let Ok(mut seen) = self.seen.write() {
            seen.status = PrinterStatus::without(PrinterState::Unreachable, "not asked yet");
            seen.at = 0;
        }
        self.wake.notify_one();
        Ok(())
    }

    pub fn queue(&self) -> &PrintQueue {
        &self.queue
    }

    pub fn last_send(&self) -> Option<SendReport> {
        self.last_send.lock().ok().and_then(|s| s.clone())
    }

    fn status(&self) -> PrinterStatus {
        match self.seen.read() {
            Ok(s) => s.status.clone(),
            Err(p) => p.into_inner().status.clone(),
        }
    }

    pub fn view(&self) -> PrinterView {
        let (mut status, at) = match self.seen.read() {
            Ok(s) => (s.status.clone(), s.at),
            Err(p) => {
                let s = p.into_inner();
                (s.status.clone(), s.at)
            }
        };
        let held = self.queue.all().map(|a| queue::held(&a)).unwrap_or(0);
        let settings = self.settings();
        if !self.configured() {
            status = PrinterStatus::without(PrinterState::NotConfigured, "no printer_uri");
        }
        PrinterView {
            enabled: settings.enabled(),
            print_when: settings.print_when,
            state: status.state,
            can_print: status.state.can_print(),
            message: status.sentence(),
            status,
            held,
            checked_at: at,
        }
    }

    /// Queues a card for `job`: `Held` when the printer cannot print now
    /// (a few at most), `Waiting` when it can.
    pub fn request(&self, job: JobId, by: Requester) -> Result<PrintRecord, PrintRequestError> {
        let guest = by != Requester::Staff;
        let settings = self.settings();
        if !self.configured() || (guest && settings.print_when == PrintWhen::Off) {
            return Err(PrintRequestError::Off);
        }
        let _one = self.adding.lock().unwrap_or_else(|p| p.into_inner());
        let found = self.store.get(job)?.ok_or(PrintRequestError::NoJob)?;
        if !printable(found.status) {
            return Err(PrintRequestError::NotReady(found.status));
        }
        let mine = self.queue.for_job(job)?;
        if by == Requester::Guest && queue::guest_prints(&mine) >= settings.print_limit as usize {
            return Err(PrintRequestError::Limit(settings.print_limit));
        }
        let status = self.status();
        let state = if status.state.can_print() {
            PrintState::Waiting
        } else if queue::held(&self.queue.all()?) >= MAX_HELD {
            return Err(PrintRequestError::Unavailable(status.sentence()));
        } else {
            PrintState::Held
        };
        let now = self.store.now_ms();
        let rec = PrintRecord {
            id: self.store.generate_id()?,
            job,
            copies: match settings.print_copies {
                PrintCopies::One => 1,
                PrintCopies::PerFace => found.faces.unwrap_or(1).clamp(1, 12),
            },
            by,
            state,
            ipp_job: None,
            format: None,
            bytes: None,
            created_at: now,
            updated_at: now,
            printed_at: None,
            resent: 0,
            note: (state == PrintState::Held).then(|| status.sentence()),
        };
        self.queue.put(&rec)?;
        tracing::info!(job = %job, print = rec.id, state = ?rec.state, by = ?by, "print requested");
        self.wake.notify_one();
        Ok(rec)
    }

    /// Staff cancel a print; one at the printer is canceled there too.
    pub async fn cancel(&self, id: u64) -> Result<PrintRecord, PrintRequestError> {
        let mut rec = self.queue.get(id)?.ok_or(PrintRequestError::NoPrint)?;
        if !rec.state.open() {
            return Ok(rec);
        }
        if let (Some(ipp), Some(ipp_job)) = (self.ipp(), rec.ipp_job) {
            let asked = tokio::task::spawn_blocking(move || ipp.cancel(ipp_job)).await;
            if let Ok(Err(e)) = asked {
                rec.note = Some(format!("canceled here; the printer said: {e}"));
            }
        }
        self.set(&mut rec, PrintState::Canceled, None)?;
        Ok(rec)
    }

    fn set(
        &self,
        rec: &mut PrintRecord,
        state: PrintState,
        note: Option<String>,
    ) -> Result<(), StoreError> {
        if rec.state != state {
            tracing::info!(job = %rec.job, print = rec.id, from = ?rec.state, to = ?state, "print {state:?}");
        }
        rec.state = state;
        rec.updated_at = self.store.now_ms();
        if note.is_some() {
            rec.note = note;
        }
        if state == PrintState::Printed {
            rec.printed_at = Some(rec.updated_at);
        }
        self.queue.put(rec)
    }

    /// Runs until `shutdown`: asks the printer, moves the queue on.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!("printing: {e}");
            }
            let busy = self
                .queue
                .all()
                .map(|a| a.iter().any(|r| r.state.open()))
                .unwrap_or(false);
            let wait = if busy { BUSY_EVERY } else { IDLE_EVERY };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Ipp) -> Result<T, IppError> + Send + 'static,
    ) -> Result<T, IppError> {
        let Some(ipp) = self.ipp() else {
            return Err(IppError::Request("no printer_uri".into()));
        };
        tokio::task::spawn_blocking(move || f(&ipp))
            .await
            .unwrap_or_else(|e| Err(IppError::Request(e.to_string())))
    }

    /// Asks the printer now (the self-test).
    pub async fn ask(&self) -> Result<(PrinterStatus, Capabilities), IppError> {
        self.blocking(|ipp| ipp.status()).await
    }

    pub fn printer_uri(&self) -> Option<String> {
        self.ipp().map(|i| i.uri().ipp.clone())
    }

    /// One round: the printer's state, the cards at it, the next card.
    pub async fn tick(&self) -> Result<(), StoreError> {
        if !self.configured() {
            return Ok(());
        }
        let (mut status, caps) = match self.blocking(|ipp| ipp.status()).await {
            Ok((s, c)) => (s, Some(c)),
            Err(e) => (PrinterStatus::without(e.state(), e.to_string()), None),
        };
        if let Some(c) = &caps {
            if choose_format(c).is_none() {
                status.state = PrinterState::NoFormat;
                status.message = format!("it takes {}", c.formats.join(", "));
            }
        }
        if let Ok(mut seen) = self.seen.write() {
            *seen = Seen {
                status: status.clone(),
                at: self.store.now_ms(),
            };
        }
        self.queue_automatic()?;
        let mut at_printer = false;
        for mut rec in self.queue.all()? {
            match rec.state {
                PrintState::Sending => {
                    let name = rec.ipp_name();
                    match self.blocking(move |ipp| ipp.find(&name)).await {
                        Ok(Some(id)) => {
                            rec.ipp_job = Some(id);
                            self.set(&mut rec, PrintState::Sent, None)?;
                            at_printer = true;
                        }
                        Ok(None) => self.set(&mut rec, PrintState::Waiting, None)?,
                        Err(_) => at_printer = true,
                    }
                }
                PrintState::Sent => at_printer |= self.follow(&mut rec).await?,
                _ => {}
            }
        }
        if at_printer {
            return Ok(());
        }
        let mut next = self
            .queue
            .all()?
            .into_iter()
            .filter(|r| matches!(r.state, PrintState::Waiting | PrintState::Held));
        match (status.state.can_print(), caps) {
            (true, Some(caps)) => {
                if let Some(mut rec) = next.next() {
                    self.send(&mut rec, &caps).await?;
                }
            }
            _ => {
                for mut rec in next.filter(|r| r.state == PrintState::Waiting) {
                    self.set(&mut rec, PrintState::Held, Some(status.sentence()))?;
                }
            }
        }
        Ok(())
    }

    /// `print_when = after_unlock / always`: a card for each job that has
    /// reached that point and has none of its own yet.
    fn queue_automatic(&self) -> Result<(), StoreError> {
        let wanted: &[Status] = match self.settings().print_when {
            PrintWhen::AfterUnlock => &[Status::Unlocked],
            PrintWhen::Always => &[Status::PreviewReady, Status::Unlocked],
            _ => return Ok(()),
        };
        let since = self.store.now_ms() - 6 * 3600 * 1000;
        let printed: std::collections::HashSet<JobId> = self
            .queue
            .all()?
            .iter()
            .filter(|r| r.by == Requester::Auto)
            .map(|r| r.job)
            .collect();
        for job in self.store.all()? {
            // Only tonight's: turning printing on never prints the archive.
            if wanted.contains(&job.status) && job.updated_at >= since && !printed.contains(&job.id)
            {
                match self.request(job.id, Requester::Auto) {
                    Ok(_) | Err(PrintRequestError::Unavailable(_)) => {}
                    Err(PrintRequestError::Store(e)) => return Err(e),
                    Err(e) => tracing::debug!(job = %job.id, "no automatic card: {e}"),
                }
            }
        }
        Ok(())
    }

    /// Asks the printer about a card it has; whether it is still there.
    async fn follow(&self, rec: &mut PrintRecord) -> Result<bool, StoreError> {
        let Some(id) = rec.ipp_job else {
            self.set(rec, PrintState::Waiting, None)?;
            return Ok(false);
        };
        let name = rec.ipp_name();
        let asked = self.blocking(move |ipp| ipp.job(id, &name)).await;
        match asked {
            Ok(Some(JobProgress::Completed)) => {
                self.set(rec, PrintState::Printed, Some("printed".into()))?;
                Ok(false)
            }
            Ok(Some(JobProgress::Ended)) => {
                self.set(
                    rec,
                    PrintState::Failed,
                    Some("canceled at the printer".into()),
                )?;
                Ok(false)
            }
            Ok(Some(JobProgress::Going | JobProgress::Stopped)) => Ok(true),
            Ok(None) => {
                // The printer forgot the card: it restarted before
                // printing it. Found under its name after all, it is kept;
                // else it is sent once more, and only once.
                let name = rec.ipp_name();
                match self.blocking(move |ipp| ipp.find(&name)).await {
                    Ok(Some(other)) => {
                        rec.ipp_job = Some(other);
                        self.queue.put(rec)?;
                        Ok(true)
                    }
                    Ok(None) if rec.resent == 0 => {
                        rec.resent += 1;
                        rec.ipp_job = None;
                        let note = "the printer lost the card before printing it (it restarted); sent again";
                        self.set(rec, PrintState::Waiting, Some(note.into()))?;
                        Ok(false)
                    }
                    Ok(None) => {
                        let note = "the printer lost the card twice; reprint it when the printer is steady";
                        self.set(rec, PrintState::Failed, Some(note.into()))?;
                        Ok(false)
                    }
                    Err(_) => Ok(true),
                }
            }
            // Away for now: asked again next round.
            Err(_) => Ok(true),
        }
    }

    async fn send(&self, rec: &mut PrintRecord, caps: &Capabilities) -> Result<(), StoreError> {
        let Some(format) = choose_format(caps) else {
            return Ok(());
        };
        if !caps.media_supported.is_empty()
            && !caps.media_supported.iter().any(|m| m == card::MEDIA)
        {
            let note = format!(
                "the printer offers no 4 × 6 in paper ({}); it has {}",
                card::MEDIA,
                caps.media_supported.join(", ")
            );
            return self.set(rec, PrintState::Failed, Some(note));
        }
        let job = match self.store.get(rec.job)? {
            Some(j) => j,
            None => {
                return self.set(
                    rec,
                    PrintState::Canceled,
                    Some("the job was deleted".into()),
                )
            }
        };
        let started = Instant::now();
        let sheet = match self.render(job).await {
            Ok(s) => s,
            Err(e) => {
                return self.set(
                    rec,
                    PrintState::Failed,
                    Some(format!("the card could not be made: {e}")),
                )
            }
        };
        let document = match tokio::task::spawn_blocking(move || format.encode(&sheet)).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => return self.set(rec, PrintState::Failed, Some(e)),
            Err(e) => return self.set(rec, PrintState::Failed, Some(e.to_string())),
        };
        let render_ms = started.elapsed().as_millis();
        let (name, copies, borderless) = (
            rec.ipp_name(),
            rec.copies,
            caps.borderless.iter().any(|m| m == card::MEDIA),
        );
        let ticket = move |name: &str| Ticket {
            name: name.to_string(),
            format: format.mime(),
            media: card::MEDIA,
            borderless,
            copies,
        };
        let check_name = name.clone();
        match self
            .blocking(move |ipp| ipp.validate(&ticket(&check_name)))
            .await
        {
            Ok(()) => {}
            Err(e @ IppError::Refused { .. }) => {
                return self.set(rec, PrintState::Failed, Some(e.to_string()));
            }
            Err(e) => return self.set(rec, PrintState::Held, Some(e.to_string())),
        }
        rec.format = Some(format.mime().into());
        rec.bytes = Some(document.len() as u64);
        self.set(rec, PrintState::Sending, None)?;
        let bytes = document.len();
        match self
            .blocking(move |ipp| ipp.print(&ticket(&name), &document))
            .await
        {
            Ok(id) => {
                rec.ipp_job = Some(id);
                self.set(rec, PrintState::Sent, None)?;
                let report = SendReport {
                    format: format.mime(),
                    bytes,
                    request_to_accepted_ms: self.store.now_ms() - rec.created_at,
                    render_ms,
                };
                tracing::info!(job = %rec.job, print = rec.id, ipp_job = id, format = report.format, bytes, "card at the printer");
                if let Ok(mut last) = self.last_send.lock() {
                    *last = Some(report);
                }
                Ok(())
            }
            Err(e @ IppError::Refused { .. }) => {
                self.set(rec, PrintState::Failed, Some(e.to_string()))
            }
            // It may have arrived: the next round looks for it by name.
            Err(_) => Ok(()),
        }
    }

    /// The card for `job`: its clean still (the watermarked poster for a
    /// job rendered before stills were kept), watermarked unless paid for
    /// or free.
    async fn render(&self, job: Job) -> Result<RgbImage, String> {
        let event = self.live.get();
        let dir = crate::jobs::job_dir(&self.data_dir, job.id);
        let still = dir.join(crate::render::STILL_FILE);
        let source = if still.exists() {
            still
        } else {
            dir.join(
                job.files
                    .poster
                    .clone()
                    .ok_or("the job has no poster frame")?,
            )
        };
        let unlocked = job.status == Status::Unlocked || event.event_mode == EventMode::Free;
        let watermark = (!unlocked).then(|| event.watermark_text.clone());
        let url = format!("{}/g/{}", self.public_base, job.token);
        let language = event.kiosk_language.clone();
        let name = event.event_name.clone();
        let layout = self.settings().print_layout;
        let created = time::OffsetDateTime::from_unix_timestamp(job.created_at / 1000)
            .map_err(|e| e.to_string())?;
        tokio::task::spawn_blocking(move || {
            let photo = image::open(&source)
                .map_err(|e| format!("{}: {e}", source.display()))?
                .to_rgb8();
            let date = card::date_words(created.date(), &language);
            let text = CardText {
                event_name: &name,
                date: &date,
                scan_line: card::scan_line(&language),
                guest_url: &url,
            };
            card::render(&photo, &text, layout, watermark.as_deref()).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(formats: &[&str]) -> Capabilities {
        Capabilities {
            formats: formats.iter().map(|f| f.to_string()).collect(),
            pwg_resolutions: vec![300, 600],
            pwg_types: vec!["black_1".into(), "sgray_8".into(), "srgb_8".into()],
            urf: vec!["RS300-600".into(), "SRGB24".into(), "W8".into()],
            ..Capabilities::default()
        }
    }

    #[test]
    fn raster_comes_first_then_jpeg_and_never_what_the_kiosk_cannot_write() {
        let srgb = Format::Pwg {
            dpi: 300,
            colour: Colour::Srgb8,
        };
        assert_eq!(
            choose_format(&caps(&["image/jpeg", "image/pwg-raster"])),
            Some(srgb)
        );
        assert_eq!(
            choose_format(&caps(&["image/urf", "image/jpeg"])),
            Some(Format::Urf {
                dpi: 300,
                colour: Colour::Srgb8
            })
        );
        assert_eq!(choose_format(&caps(&["image/jpeg"])), Some(Format::Jpeg));
        assert_eq!(
            choose_format(&caps(&["application/pdf", "application/postscript"])),
            None
        );
        let mut grey = caps(&["image/pwg-raster"]);
        grey.pwg_types = vec!["sgray_8".into()];
        grey.pwg_resolutions = vec![600];
        assert_eq!(
            choose_format(&grey),
            Some(Format::Pwg {
                dpi: 600,
                colour: Colour::Sgray8
            })
        );
        // A raster printer whose pixels the kiosk cannot write, without JPEG.
        let mut mono = caps(&["image/pwg-raster"]);
        mono.pwg_types = vec!["black_1".into()];
        assert_eq!(choose_format(&mono), None);
    }

    #[test]
    fn only_a_finished_loop_prints() {
        let ok: Vec<Status> = Status::ALL.into_iter().filter(|s| printable(*s)).collect();
        assert_eq!(ok, [Status::PreviewReady, Status::Unlocked]);
    }

    #[test]
    fn a_card_at_another_resolution_is_scaled_to_it() {
        let sheet = RgbImage::from_pixel(120, 180, image::Rgb([200, 10, 10]));
        let doc = Format::Pwg {
            dpi: 600,
            colour: Colour::Srgb8,
        }
        .encode(&sheet)
        .expect("pwg");
        let be = |at: usize| u32::from_be_bytes(doc[4 + at..8 + at].try_into().expect("4"));
        assert_eq!((be(372), be(376)), (240, 360));
        let jpeg = Format::Jpeg.encode(&sheet).expect("jpeg");
        assert_eq!(
            image::load_from_memory(&jpeg).expect("decodes").width(),
            120
        );
    }
}
