//! The real render worker, store and encoder, in-process, with an animator
//! backend that panics in the middle of one job: that job fails in the
//! guest's words, no half-written file is left, and the next guests' jobs
//! render as if nothing happened.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::now_ms;
use image::RgbImage;
use smileloop::animate::{AnimateError, Animation, Animator, FramePlan, Gentle, Request};
use smileloop::backend::Backend;
use smileloop::config::{EventMode, LiveSettings};
use smileloop::jobs::live::LiveRenders;
use smileloop::jobs::queue::{Admission, WorkerStatus};
use smileloop::jobs::worker::Worker;
use smileloop::jobs::{job_dir, Job, JobStore, Status};
use smileloop::metrics::Metrics;
use smileloop::motion::Preset;

use crate::common::*;

/// Gentle, except that the first job it starts panics at frame 10, as a
/// backend with a bug (or a driver fault) would.
struct PanicsOnce {
    inner: Gentle,
    started: AtomicU32,
}

struct Animated {
    inner: Box<dyn Animation>,
    panic_at: Option<u32>,
    frame: u32,
}

impl Animation for Animated {
    fn plan(&self) -> FramePlan {
        self.inner.plan()
    }

    fn next_frame(&mut self) -> Result<Option<&RgbImage>, AnimateError> {
        self.frame += 1;
        if self.panic_at == Some(self.frame) {
            panic!("backend fault in frame {}", self.frame);
        }
        self.inner.next_frame()
    }
}

impl Animator for PanicsOnce {
    fn backend(&self) -> smileloop::backend::Backend {
        smileloop::backend::Backend::Gentle
    }

    fn start(
        &self,
        photo: &RgbImage,
        preset: &Preset,
        request: &Request<'_>,
    ) -> Result<Box<dyn Animation>, AnimateError> {
        let first = self.started.fetch_add(1, Ordering::SeqCst) == 0;
        Ok(Box::new(Animated {
            inner: self.inner.start(photo, preset, request)?,
            panic_at: first.then_some(10),
            frame: 0,
        }))
    }
}

/// Queues a job created `order` milliseconds after now: jobs made in one
/// loop can share a millisecond, and jobs created in the same millisecond
/// have no order between them (the queue breaks the tie by id).
fn queue_job(store: &JobStore, data: &std::path::Path, photo: &[u8], order: i64) -> Job {
    let job = Job::new(
        "soft_smile".parse().expect("preset id"),
        "source.jpg",
        now_ms() + order,
    );
    let dir = job_dir(data, job.id);
    std::fs::create_dir_all(&dir).expect("job dir");
    std::fs::write(dir.join("source.jpg"), photo).expect("source");
    store.insert_new(&job).expect("insert");
    store
        .transition(job.id, Status::Queued, |_| {})
        .expect("queued");
    job
}

/// The real worker over a fresh store in `data`, with `animator` as the
/// kiosk's backend, in free mode (finished jobs unlock).
fn worker_with(data: &std::path::Path, animator: Arc<dyn Animator>) -> (JobStore, Arc<Worker>) {
    let settings = settings(data);
    let store = JobStore::open(&data.join("db")).expect("store");
    let presets = Arc::new(smileloop::motion::load_dir(&settings.presets_dir).expect("presets"));
    let known: Vec<&str> = presets.iter().map(|p| p.id()).collect();
    let mut event = settings.event();
    event.event_mode = EventMode::Free;
    let live = Arc::new(LiveSettings::open(
        store.tree("settings").expect("tree"),
        event,
        &known,
    ));
    let encoder =
        smileloop::encode::detect(smileloop::config::EncoderPref::Auto).expect("an encoder");
    let worker = Arc::new(Worker {
        store: store.clone(),
        admission: Arc::new(Admission::default()),
        status: Arc::new(WorkerStatus::default()),
        presets: Arc::clone(&presets),
        animator,
        encoder,
        data_dir: data.to_path_buf(),
        live,
        renders: Arc::new(LiveRenders::default()),
        metrics: Arc::new(Metrics::new().expect("metrics")),
    });
    (store, worker)
}

/// Runs `worker` until every one of `jobs` has failed or unlocked;
/// returns their records in the same order.
fn run_until_finished(store: &JobStore, worker: &Arc<Worker>, jobs: &[Job]) -> Vec<Job> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let task = runtime.spawn(Arc::clone(worker).run(stop_rx));
    worker.admission.wake();
    let deadline = Instant::now() + Duration::from_secs(120);
    let finished = |s: Status| matches!(s, Status::Failed | Status::Unlocked);
    let statuses = loop {
        let statuses: Vec<Job> = jobs
            .iter()
            .map(|j| store.get(j.id).expect("get").expect("job kept"))
            .collect();
        if statuses.iter().all(|j| finished(j.status)) {
            break statuses;
        }
        assert!(
            Instant::now() < deadline,
            "jobs stuck: {:?}",
            statuses.iter().map(|j| j.status).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = stop.send(true);
    runtime
        .block_on(task)
        .expect("the worker loop itself never panics");
    statuses
}

#[test]
fn a_panicking_backend_fails_one_job_and_the_next_guests_are_served() {
    let data = tempfile::tempdir().expect("tempdir");
    let (store, worker) = worker_with(
        data.path(),
        Arc::new(PanicsOnce {
            inner: Gentle,
            started: AtomicU32::new(0),
        }),
    );

    let photo = photo("grace_hopper.jpg");
    let jobs: Vec<Job> = (0..3i64)
        .map(|i| queue_job(&store, data.path(), &photo, i))
        .collect();
    let statuses = run_until_finished(&store, &worker, &jobs);

    // The oldest job met the panic; the worker renders in creation order.
    let order: Vec<Status> = statuses.iter().map(|j| j.status).collect();
    assert_eq!(
        order,
        [Status::Failed, Status::Unlocked, Status::Unlocked],
        "{statuses:?}"
    );
    let failed = &statuses[0];
    let message = failed.error.as_deref().unwrap_or_default();
    assert!(message.contains("couldn't animate"), "{message}");
    assert!(
        !message.contains("panic"),
        "guests never see internals: {message}"
    );
    assert!(failed.files.full.is_none() && failed.files.preview.is_none());
    let left: Vec<String> = files_under(&job_dir(data.path(), failed.id))
        .into_iter()
        .filter(|f| !f.ends_with("source.jpg"))
        .collect();
    assert!(left.is_empty(), "half-written files left: {left:?}");

    for job in &statuses[1..] {
        let dir = job_dir(data.path(), job.id);
        for file in ["full.mp4", "preview.mp4"] {
            let bytes = std::fs::read(dir.join(file)).expect(file);
            let facts = inspect_mp4(&bytes);
            assert_eq!(facts.samples, 100, "{file} of {}", job.id);
        }
    }
    // The worker still answers after the fault.
    assert!(worker.status.current().is_none());
    assert!(worker.status.last_ms_per_frame().is_some());
}

/// A backend that brings the process down on every photo, as a driver
/// fault or a poison photo would; here it panics, and the test plays the
/// crashes by leaving the job `rendering` with its attempts used up.
struct AlwaysFails;

impl Animator for AlwaysFails {
    fn backend(&self) -> smileloop::backend::Backend {
        smileloop::backend::Backend::Meshwarp
    }

    fn start(
        &self,
        _photo: &RgbImage,
        _preset: &Preset,
        _request: &Request<'_>,
    ) -> Result<Box<dyn Animation>, AnimateError> {
        panic!("this photo takes the backend down");
    }
}

#[test]
fn a_photo_that_keeps_interrupting_renders_ends_as_a_gentle_video() {
    use smileloop::jobs::worker::{recover, MAX_ATTEMPTS};
    let data = tempfile::tempdir().expect("tempdir");
    let (store, worker) = worker_with(data.path(), Arc::new(AlwaysFails));
    let photo = photo("grace_hopper.jpg");
    // Three lives ended during this job's render (the third attempt is
    // the one that was running).
    let poison = queue_job(&store, data.path(), &photo, 0);
    store
        .transition(poison.id, Status::Rendering, |j| j.attempts = MAX_ATTEMPTS)
        .expect("rendering");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime
        .block_on(recover(&store, data.path()))
        .expect("recover");
    let queued = store.get(poison.id).expect("get").expect("job");
    assert_eq!(queued.status, Status::Queued, "one more try, with gentle");
    assert_eq!(queued.backend_request, Some(Backend::Gentle));
    drop(runtime);

    let done = run_until_finished(&store, &worker, std::slice::from_ref(&poison));
    assert_eq!(done[0].status, Status::Unlocked, "{:?}", done[0].error);
    assert_eq!(done[0].backend, Some(Backend::Gentle), "the job says so");
    let dir = job_dir(data.path(), poison.id);
    let facts = inspect_mp4(&std::fs::read(dir.join("full.mp4")).expect("full.mp4"));
    assert_eq!(facts.samples, 100);

    // Interrupted with gentle too: then it fails, in the guest's words.
    let again = queue_job(&store, data.path(), &photo, 1);
    store
        .transition(again.id, Status::Rendering, |j| {
            j.attempts = MAX_ATTEMPTS + 1;
            j.backend_request = Some(Backend::Gentle);
        })
        .expect("rendering");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime
        .block_on(recover(&store, data.path()))
        .expect("recover");
    let failed = store.get(again.id).expect("get").expect("job");
    assert_eq!(failed.status, Status::Failed);
    assert!(failed.error.is_some_and(|e| e.contains("couldn't animate")));
}
