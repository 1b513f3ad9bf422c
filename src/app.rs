//! The boot sequence, readable top to bottom: check the data directory,
//! load presets, pick the encoder, open the store, recover from a crash,
//! start the worker and retention, open the three listeners. [`Running::stop`]
//! undoes it in order: the render in progress is queued again, nothing is
//! lost.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocket::fairing::AdHoc;
use rocket::{Build, Rocket};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::admin::tls;
use crate::animate::{self, Animator};
use crate::capture;
use crate::capture::handoff::Handoffs;
use crate::config::{LiveSettings, Settings};
use crate::encode::{self, H264Encoder};
use crate::jobs::intake::Intake;
use crate::jobs::live::LiveRenders;
use crate::jobs::queue::{Admission, WorkerStatus};
use crate::jobs::retention::{self, InUse};
use crate::jobs::worker::{self, Worker};
use crate::jobs::JobStore;
use crate::metrics::Metrics;
use crate::motion::{self, Preset};
use crate::payments::{self, StripeKeys};
use crate::{service, web};

/// How often retention looks for expired jobs.
const RETENTION_EVERY: Duration = Duration::from_secs(300);

pub use crate::state::{Shared, StartError};

pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SMILELOOP_LOG")
        // Rocket's per-request chatter is noise on a kiosk; our own lines
        // (one per job state change) are what an operator reads.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rocket=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colour codes only for a person at a terminal, not in the journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // stdout is for command output (`selftest --json`); the journal
        // reads both.
        .with_writer(std::io::stderr)
        .try_init();
}

/// A started kiosk.
pub struct Running {
    pub kiosk_port: u16,
    pub guest_port: u16,
    pub admin_port: u16,
    pub shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    listeners: Vec<(rocket::Shutdown, JoinHandle<()>)>,
    /// The listeners' edges: stopped before their Rockets.
    edges: Vec<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
}

fn prepare_data_dir(dir: &Path) -> Result<(), StartError> {
    let fail = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::StorageFull {
            StartError::DiskFull {
                path: dir.to_path_buf(),
            }
        } else {
            StartError::DataDir {
                path: dir.to_path_buf(),
                source,
            }
        }
    };
    for sub in ["jobs", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(fail)?;
    }
    // Upload bodies in flight when the process was killed; nothing else
    // is running yet, so everything in there is stale.
    service::Listening::remove(dir);
    let stale = empty_dir(&dir.join("tmp"));
    if stale > 0 {
        tracing::info!(files = stale, "removed upload temp files left by a crash");
    }
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}

/// Removes everything inside `dir`; returns how many entries went.
fn empty_dir(dir: &Path) -> usize {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let gone = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match gone {
            Ok(()) => removed += 1,
            Err(e) => tracing::warn!("could not remove {}: {e}", path.display()),
        }
    }
    removed
}

/// Starts the kiosk: the data folder, presets and encoder are checked
/// first (a bad start says so before anything is changed), then the store
/// is opened, the shared state built, the background tasks and the three
/// listeners started.
pub async fn start(settings: Settings) -> Result<Running, StartError> {
    prepare_data_dir(&settings.data_dir)?;
    let presets = Arc::new(motion::load_dir(&settings.presets_dir)?);
    let encoder = encode::detect(settings.encoder)?;
    let store = open_store(&settings).await?;
    let (shared, admin_tls) = share(settings, store, presets, encoder)?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut running = Running {
        kiosk_port: 0,
        guest_port: 0,
        admin_port: 0,
        tasks: spawn_tasks(&shared, shutdown_rx),
        shared,
        shutdown,
        listeners: vec![],
        edges: vec![],
    };
    if let Err(e) = listen(&mut running, &admin_tls).await {
        running.stop().await;
        return Err(e);
    }
    announce(&mut running);
    Ok(running)
}

/// The job store, without folders that lost their record, and with the
/// renders a crash interrupted queued again.
async fn open_store(settings: &Settings) -> Result<JobStore, StartError> {
    let store = JobStore::open(&settings.data_dir.join("db"))?;
    let orphans = retention::remove_orphans(&store, &settings.data_dir)?;
    if orphans > 0 {
        tracing::info!(orphans, "removed job folders without a record");
    }
    worker::recover(&store, &settings.data_dir).await?;
    Ok(store)
}

/// Tonight's event settings: what staff saved over the file's defaults,
/// which must name presets that exist.
fn open_live(
    settings: &Settings,
    store: &JobStore,
    presets: &[Preset],
) -> Result<Arc<LiveSettings>, StartError> {
    let known: Vec<&str> = presets.iter().map(|p| p.id()).collect();
    let defaults = settings.event();
    defaults
        .validate_presets(&known)
        .map_err(StartError::Config)?;
    Ok(Arc::new(LiveSettings::open(
        store.tree("settings")?,
        defaults,
        &known,
    )))
}

/// The Stripe keys staff saved, else the file's.
fn open_stripe(settings: &Settings, store: &JobStore) -> Result<Arc<StripeKeys>, StartError> {
    let file_keys = settings
        .stripe_secret_key
        .as_ref()
        .zip(settings.stripe_webhook_secret.as_ref());
    let keys = StripeKeys::open(
        store.tree("settings")?,
        &settings.stripe_api_base,
        file_keys,
    )
    .map_err(|e| StartError::Payments(e.to_string()))?;
    Ok(Arc::new(keys))
}

/// The state the listeners and tasks share, and the admin listener's
/// HTTPS.
fn share(
    settings: Settings,
    store: JobStore,
    presets: Arc<Vec<Preset>>,
    encoder: H264Encoder,
) -> Result<(Arc<Shared>, TlsAcceptor), StartError> {
    let (animator, fallback) = animate::from_config(&settings);
    if let Some(reason) = &fallback {
        tracing::warn!("{reason}");
    }
    let animator: Arc<dyn Animator> = Arc::from(animator);
    let live = open_live(&settings, &store, &presets)?;
    let names = tls::names(tls::host_name().as_deref(), settings.admin_address);
    let admin_cert = tls::load_or_create(&settings.data_dir, &names)?;
    let printing = Arc::new(crate::print::Printing::new(
        settings.print(),
        store.clone(),
        Arc::clone(&live),
        settings.data_dir.clone(),
        settings.public_base().to_string(),
    )?);
    let admission = Arc::new(Admission::default());
    let metrics = Arc::new(Metrics::new().map_err(|e| StartError::Metrics(e.to_string()))?);
    let intake = Intake::new(
        store.clone(),
        Arc::clone(&admission),
        Arc::clone(&animator),
        Arc::clone(&presets),
        Arc::clone(&live),
        Arc::clone(&metrics),
        settings.data_dir.clone(),
        settings.queue_limit as usize,
    );
    let shared = Shared {
        clock: Arc::clone(store.clock()),
        admin_fingerprint: admin_cert.fingerprint(),
        printing,
        stripe: open_stripe(&settings, &store)?,
        store,
        presets: crate::state::Presets(presets),
        admission,
        worker: Arc::new(WorkerStatus::default()),
        encoder,
        animator,
        animator_note: fallback,
        in_use: Arc::new(InUse::default()),
        started: crate::state::Uptime::now(),
        live,
        camera: Arc::new(capture::start(&settings)),
        handoffs: Arc::new(Handoffs::default()),
        renders: Arc::new(LiveRenders::default()),
        lookups: Arc::default(),
        intake: Arc::new(intake),
        metrics,
        settings,
    };
    Ok((Arc::new(shared), admin_cert.acceptor()?))
}

/// The background tasks: the render worker, the Stripe poller, the print
/// queue and retention, all stopped by `shutdown`.
fn spawn_tasks(shared: &Shared, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let s = &shared.settings;
    let worker = Arc::new(Worker {
        store: shared.store.clone(),
        admission: Arc::clone(&shared.admission),
        status: Arc::clone(&shared.worker),
        presets: Arc::clone(&shared.presets.0),
        animator: Arc::clone(&shared.animator),
        encoder: shared.encoder,
        data_dir: s.data_dir.clone(),
        live: Arc::clone(&shared.live),
        renders: Arc::clone(&shared.renders),
        metrics: Arc::clone(&shared.metrics),
    });
    vec![
        tokio::spawn(payments::poller::run(
            shared.store.clone(),
            Arc::clone(&shared.stripe),
            Duration::from_millis(s.stripe_poll_ms.into()),
            shutdown.clone(),
        )),
        tokio::spawn(Arc::clone(&shared.printing).run(shutdown.clone())),
        tokio::spawn(worker.run(shutdown.clone())),
        tokio::spawn(retention::run(
            shared.store.clone(),
            s.data_dir.clone(),
            Arc::clone(&shared.live),
            Arc::clone(&shared.in_use),
            RETENTION_EVERY,
            shutdown,
        )),
    ]
}

/// Each listener's name, public address and bounds, the connection caps
/// shrunk to fit the open-file limit.
fn front_doors(s: &Settings) -> [(&'static str, SocketAddr, web::edge::Limits); 3] {
    let caps = web::edge::fit_caps(
        [
            s.kiosk_max_connections as usize,
            s.guest_max_connections as usize,
            s.admin_max_connections as usize,
        ],
        web::edge::raise_nofile(),
    );
    if caps[1] < s.guest_max_connections as usize || caps[2] < s.admin_max_connections as usize {
        tracing::warn!(
            guest = caps[1],
            admin = caps[2],
            "the open-file limit is low: connection caps shrunk to fit (raise LimitNOFILE)"
        );
    }
    let per_peer = Some(s.max_connections_per_peer as usize);
    let limits = |max: usize, per_peer: Option<usize>| web::edge::Limits {
        max,
        per_peer,
        headers: Duration::from_secs(u64::from(s.header_timeout_s)),
        body_idle: BODY_IDLE.min(Duration::from_secs(u64::from(s.body_timeout_s))),
        body_total: Duration::from_secs(u64::from(s.body_timeout_s)),
        bodies: web::body_caps(s),
    };
    [
        (
            "kiosk",
            SocketAddr::new(s.address, s.port),
            limits(caps[0], None),
        ),
        (
            "guest",
            SocketAddr::new(s.guest_address, s.guest_port),
            limits(caps[1], per_peer),
        ),
        (
            "admin",
            SocketAddr::new(s.admin_address, s.admin_port),
            limits(caps[2], per_peer),
        ),
    ]
}

/// Starts the three listeners behind their edges, noting their ports.
async fn listen(running: &mut Running, admin_tls: &TlsAcceptor) -> Result<(), StartError> {
    let shared = Arc::clone(&running.shared);
    let mut ports = [0u16; 3];
    for (i, (which, addr, limits)) in front_doors(&shared.settings).into_iter().enumerate() {
        let (rocket, tls) = match which {
            "kiosk" => (web::kiosk(Arc::clone(&shared)), None),
            "guest" => (web::guest(Arc::clone(&shared)), None),
            _ => (web::admin(Arc::clone(&shared))?, Some(admin_tls.clone())),
        };
        let edge = Edge {
            limits,
            tls,
            shutdown: running.shutdown.subscribe(),
        };
        let l = launch(which, addr, rocket, edge).await?;
        ports[i] = l.port;
        running.listeners.push((l.rocket, l.task));
        running.edges.push(l.edge);
    }
    [running.kiosk_port, running.guest_port, running.admin_port] = ports;
    Ok(())
}

/// Tells the service manager and the log that the kiosk is ready, and
/// starts the watchdog's pings.
fn announce(running: &mut Running) {
    let shared = Arc::clone(&running.shared);
    let s = &shared.settings;
    if let Err(e) = running.listening().write(&s.data_dir) {
        tracing::warn!("could not write {}: {e}", service::LISTENING_FILE);
    }
    running.tasks.push(tokio::spawn(service::watchdog(
        Arc::clone(&shared.worker),
        service::loopback_for(s.address, running.kiosk_port),
        running.shutdown.subscribe(),
    )));
    service::ready(&format!(
        "kiosk on port {}, guest {}, admin {}",
        running.kiosk_port, running.guest_port, running.admin_port
    ));
    tracing::info!(
        kiosk = %format!("{}:{}", s.address, running.kiosk_port),
        guest = %format!("{}:{}", s.guest_address, running.guest_port),
        admin = %format!("https://{}:{}", s.admin_address, running.admin_port),
        admin_certificate_sha256 = %shared.admin_fingerprint,
        "SmileLoop is ready"
    );
}

/// A request body may be silent this long (capped by `body_timeout_s`).
const BODY_IDLE: Duration = Duration::from_secs(20);

/// One started listener: its public port, its Rocket and its edge.
struct Launched {
    port: u16,
    rocket: rocket::Shutdown,
    task: JoinHandle<()>,
    edge: JoinHandle<()>,
}

/// How a listener's edge serves: its bounds, HTTPS or not, and when to stop.
struct Edge {
    limits: web::edge::Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: watch::Receiver<bool>,
}

/// Binds `addr` for the edge, starts `rocket` behind it on loopback;
/// returns once both accept connections.
async fn launch(
    which: &'static str,
    addr: SocketAddr,
    rocket: Rocket<Build>,
    edge: Edge,
) -> Result<Launched, StartError> {
    let fail = |message: String| StartError::Listen {
        which,
        addr: addr.to_string(),
        message,
    };
    let front = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let port = front.local_addr().map_err(|e| fail(e.to_string()))?.port();
    let (tx, rx) = oneshot::channel::<u16>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let rocket = rocket.attach(AdHoc::on_liftoff("ready", move |r| {
        let tx = Arc::clone(&tx);
        Box::pin(async move {
            if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                let _ = tx.send(r.config().port);
            }
        })
    }));
    let ignited = rocket
        .ignite()
        .await
        .map_err(|e| fail(format!("{:?}", e.kind())))?;
    let handle = ignited.shutdown();
    let (err_tx, err_rx) = oneshot::channel::<String>();
    let task = tokio::spawn(async move {
        if let Err(e) = ignited.launch().await {
            let _ = err_tx.send(format!("{:?}", e.kind()));
        }
    });
    let inner = tokio::select! {
        port = rx => port.map_err(|_| fail("stopped before it started".into()))?,
        message = err_rx => return Err(fail(message.unwrap_or_else(|_| "stopped before it started".into()))),
    };
    let backend = SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), inner);
    let edge = tokio::spawn(web::edge::serve(
        front,
        backend,
        edge.limits,
        edge.tls,
        edge.shutdown,
    ));
    Ok(Launched {
        port,
        rocket: handle,
        task,
        edge,
    })
}

impl Running {
    /// The addresses the three listeners really bound.
    pub fn listening(&self) -> service::Listening {
        let s = &self.shared.settings;
        service::Listening {
            kiosk: SocketAddr::new(s.address, self.kiosk_port),
            guest: SocketAddr::new(s.guest_address, self.guest_port),
            admin: SocketAddr::new(s.admin_address, self.admin_port),
        }
    }

    /// Stops listeners and tasks; a render in progress is queued again.
    pub async fn stop(self) {
        service::stopping();
        service::Listening::remove(&self.shared.settings.data_dir);
        let _ = self.shutdown.send(true);
        for edge in self.edges {
            let _ = edge.await;
        }
        for (handle, _) in &self.listeners {
            handle.clone().notify();
        }
        for (_, task) in self.listeners {
            let _ = task.await;
        }
        for task in self.tasks {
            let _ = task.await;
        }
        let camera = Arc::clone(&self.shared.camera);
        let _ = tokio::task::spawn_blocking(move || camera.stop()).await;
        if let Err(e) = self.shared.store.flush().await {
            tracing::error!("final flush failed: {e}");
        }
        tracing::info!("SmileLoop stopped");
    }
}

/// `smileloop serve`: runs until SIGTERM or Ctrl-C; a second signal exits
/// at once.
pub fn serve(settings: Settings) -> Result<(), String> {
    rocket::execute(async move {
        // Listening before the kiosk says it is ready: a supervisor's (or
        // a test's) SIGTERM the moment it is ready must stop it cleanly,
        // not kill it with the signal's default action.
        let mut signals = Signals::listen();
        let running = start(settings).await.map_err(|e| e.to_string())?;
        // For whoever started us with port 0 (a test, a supervisor).
        println!("{}", running.listening().line());
        signals.next().await;
        tracing::info!("stopping (a second signal exits at once)");
        tokio::spawn(async move {
            signals.next().await;
            std::process::exit(130);
        });
        running.stop().await;
        Ok(())
    })
}

/// SIGTERM and SIGINT, caught from the moment this is made.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Self {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            if self.term.is_some() || self.int.is_some() {
                tokio::select! {
                    _ = recv(&mut self.term) => {}
                    _ = recv(&mut self.int) => {}
                }
                return;
            }
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
