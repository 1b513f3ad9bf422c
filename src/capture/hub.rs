//! One thread owns the camera. It opens it when someone watches the live
//! view or wants a still, publishes live frames to every watcher (latest
//! frame wins, so a slow browser never builds a backlog), takes stills
//! between frames, and reconnects by itself when the camera goes away.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{oneshot, watch};

use super::camera::{Camera, CameraError, Jpeg};

/// How often a missing camera is looked for while it is wanted.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// The camera is released this long after the last watcher left.
const KEEP_OPEN: Duration = Duration::from_secs(30);
/// A guest waits no longer than this for the shutter.
const STILL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// No camera configured: phone upload only.
    Off,
    /// Looking for the camera for the first time.
    Starting,
    /// Delivering frames.
    Live,
    /// Found and working, released while nobody looks.
    Idle,
    /// It was there and went away; looking for it again.
    Reconnecting,
    /// Never found since start.
    Absent,
}

impl CameraState {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Off => "off",
            CameraState::Starting => "starting",
            CameraState::Live => "live",
            CameraState::Idle => "idle",
            CameraState::Reconnecting => "reconnecting",
            CameraState::Absent => "absent",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CameraStatus {
    pub state: CameraState,
    /// Device and mode, in the operator's words.
    pub source: String,
    /// Live frames in the last second.
    pub fps: f32,
    pub frames: u64,
    /// Stills taken since start.
    pub stills: u64,
    /// Times the camera came back after going away.
    pub reconnects: u64,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LiveFrame {
    pub seq: u64,
    pub jpeg: Jpeg,
}

type StillReply = oneshot::Sender<Result<Jpeg, CameraError>>;

pub struct CameraHub {
    frames: watch::Sender<Option<LiveFrame>>,
    status: Arc<Mutex<CameraStatus>>,
    stills: Mutex<Option<mpsc::Sender<StillReply>>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl CameraHub {
    /// A hub without a camera: the kiosk offers phone upload only.
    pub fn off() -> Self {
        let (frames, _) = watch::channel(None);
        Self {
            frames,
            status: Arc::new(Mutex::new(CameraStatus {
                state: CameraState::Off,
                source: "none (phone upload only)".into(),
                fps: 0.0,
                frames: 0,
                stills: 0,
                reconnects: 0,
                error: None,
            })),
            stills: Mutex::new(None),
            stop: Arc::new(AtomicBool::new(false)),
            thread: Mutex::new(None),
        }
    }

    pub fn start(camera: Box<dyn Camera>) -> Self {
        let hub = Self::off();
        let (tx, rx) = mpsc::channel();
        if let Ok(mut status) = hub.status.lock() {
            status.state = CameraState::Starting;
            status.source = camera.describe();
        }
        let mut runner = Runner {
            camera,
            frames: hub.frames.clone(),
            status: Arc::clone(&hub.status),
            stills: rx,
            stop: Arc::clone(&hub.stop),
            open: false,
            opened_once: false,
            last_wanted: Instant::now(),
            seq: 0,
            window: (Instant::now(), 0),
        };
        let thread = std::thread::Builder::new()
            .name("camera".into())
            .spawn(move || runner.run())
            .ok();
        if thread.is_none() {
            hub.set_error(CameraState::Absent, "could not start the camera thread");
        }
        *hub.stills.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        *hub.thread.lock().unwrap_or_else(|p| p.into_inner()) = thread;
        hub
    }

    fn set_error(&self, state: CameraState, message: &str) {
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        s.state = state;
        s.error = Some(message.into());
    }

    pub fn status(&self) -> CameraStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Live frames; holding the receiver keeps the camera streaming.
    pub fn subscribe(&self) -> watch::Receiver<Option<LiveFrame>> {
        self.frames.subscribe()
    }

    /// The newest live frame, if the camera is streaming.
    pub fn latest(&self) -> Option<LiveFrame> {
        (self.state() == CameraState::Live)
            .then(|| self.frames.borrow().clone())
            .flatten()
    }

    /// The state alone, without copying the rest of the status.
    pub fn state(&self) -> CameraState {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).state
    }

    /// A full-resolution still.
    pub async fn still(&self) -> Result<Jpeg, CameraError> {
        let (reply, answer) = oneshot::channel();
        let sent = self
            .stills
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|tx| tx.send(reply).is_ok());
        if sent != Some(true) {
            return Err(CameraError::NotFound("no camera configured".into()));
        }
        match tokio::time::timeout(STILL_TIMEOUT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(CameraError::NotFound("the camera stopped".into())),
            Err(_) => Err(CameraError::Busy(
                "the camera did not answer in time".into(),
            )),
        }
    }

    /// Stops the camera thread and releases the device.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.stills.lock().unwrap_or_else(|p| p.into_inner()).take();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for CameraHub {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Runner {
    camera: Box<dyn Camera>,
    frames: watch::Sender<Option<LiveFrame>>,
    status: Arc<Mutex<CameraStatus>>,
    stills: mpsc::Receiver<StillReply>,
    stop: Arc<AtomicBool>,
    open: bool,
    opened_once: bool,
    last_wanted: Instant,
    seq: u64,
    /// Start of the current one-second window and frames in it.
    window: (Instant, u64),
}

impl Runner {
    fn update(&self, f: impl FnOnce(&mut CameraStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn run(&mut self) {
        while !self.stop.load(Ordering::SeqCst) {
            if let Err(RecvTimeoutError::Disconnected) = self.serve_stills(Duration::ZERO) {
                break;
            }
            let watching = self.frames.receiver_count() > 0;
            if watching {
                self.last_wanted = Instant::now();
            }
            let wanted = self.last_wanted.elapsed() < KEEP_OPEN;
            match (self.open, wanted) {
                (false, true) => {
                    if !self.try_open() {
                        let _ = self.serve_stills(RETRY_EVERY);
                    }
                }
                (true, false) => {
                    self.camera.close();
                    self.open = false;
                    self.update(|s| {
                        s.state = CameraState::Idle;
                        s.fps = 0.0;
                    });
                }
                (true, true) if watching => self.live_frame(),
                _ => {
                    let _ = self.serve_stills(Duration::from_millis(100));
                }
            }
        }
        self.camera.close();
    }

    fn try_open(&mut self) -> bool {
        match self.camera.open() {
            Ok(()) => {
                let back = self.opened_once;
                self.open = true;
                self.opened_once = true;
                let source = self.camera.describe();
                if back {
                    tracing::info!(%source, "camera back");
                }
                self.update(|s| {
                    s.state = CameraState::Live;
                    s.source = source;
                    s.error = None;
                    if back {
                        s.reconnects += 1;
                    }
                });
                true
            }
            Err(e) => {
                let state = if self.opened_once {
                    CameraState::Reconnecting
                } else {
                    CameraState::Absent
                };
                self.update(|s| {
                    if s.error.as_deref() != Some(&e.to_string()) {
                        tracing::warn!("camera: {e}");
                    }
                    s.state = state;
                    s.fps = 0.0;
                    s.error = Some(e.to_string());
                });
                false
            }
        }
    }

    fn lost(&mut self, e: &CameraError) {
        tracing::warn!("camera lost: {e}");
        self.camera.close();
        self.open = false;
        self.frames.send_replace(None);
        self.update(|s| {
            s.state = CameraState::Reconnecting;
            s.fps = 0.0;
            s.error = Some(e.to_string());
        });
    }

    fn live_frame(&mut self) {
        match self.camera.next_frame() {
            Ok(jpeg) => {
                self.seq += 1;
                let seq = self.seq;
                self.frames.send_replace(Some(LiveFrame { seq, jpeg }));
                self.window.1 += 1;
                let elapsed = self.window.0.elapsed();
                if elapsed >= Duration::from_secs(1) {
                    let fps = self.window.1 as f32 / elapsed.as_secs_f32();
                    self.window = (Instant::now(), 0);
                    self.update(|s| {
                        s.fps = fps;
                        s.frames = seq;
                        s.state = CameraState::Live;
                    });
                }
            }
            Err(e) => self.lost(&e),
        }
    }

    /// Answers the stills asked for, waiting up to `wait` for the first.
    fn serve_stills(&mut self, wait: Duration) -> Result<(), RecvTimeoutError> {
        let mut next = if wait.is_zero() {
            self.stills.try_recv().map_err(|e| match e {
                mpsc::TryRecvError::Empty => RecvTimeoutError::Timeout,
                mpsc::TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            })
        } else {
            self.stills.recv_timeout(wait)
        };
        loop {
            match next {
                Ok(reply) => {
                    self.last_wanted = Instant::now();
                    let result = self.take_still();
                    let _ = reply.send(result);
                }
                Err(RecvTimeoutError::Timeout) => return Ok(()),
                Err(e) => return Err(e),
            }
            next = self
                .stills
                .try_recv()
                .map_err(|_| RecvTimeoutError::Timeout);
        }
    }

    fn take_still(&mut self) -> Result<Jpeg, CameraError> {
        if !self.open && !self.try_open() {
            let error = self.status.lock().map(|s| s.error.clone()).ok().flatten();
            return Err(CameraError::NotFound(
                error.unwrap_or_else(|| "camera not found".into()),
            ));
        }
        let shot = self.camera.still();
        if shot.is_ok() {
            self.update(|s| s.stills += 1);
        }
        if let Err(e @ (CameraError::Disconnected(_) | CameraError::NotFound(_))) = &shot {
            self.lost(e);
        }
        shot
    }
}
