//! Fleet metrics for `GET /metrics` (Prometheus text format). Two kinds:
//! what the worker records as renders finish (counters and histograms kept
//! for the life of the process), and a [`Snapshot`] read at scrape time
//! from the store, the camera and the system, so nothing is counted twice
//! and a restart loses no business figures (those live in the store).

use std::collections::BTreeMap;

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The content type of Prometheus' text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Render durations worth telling apart: a 4 s clip on a Jetson takes a
/// few seconds, on a slow CPU tens of seconds.
const RENDER_BUCKETS: [f64; 10] = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0, 40.0, 90.0];

/// Metrics the worker records.
pub struct Metrics {
    registry: Registry,
    renders: IntCounterVec,
    render_seconds: HistogramVec,
    ms_per_frame: GaugeVec,
    encode_fps: GaugeVec,
    faces: prometheus::Histogram,
}

/// Faces per accepted photo: portraits, couples, groups.
const FACE_BUCKETS: [f64; 7] = [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 12.0];

/// How a render ended, for `smileloop_renders_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    /// Interrupted by a shutdown and queued again.
    Requeued,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Requeued => "requeued",
        }
    }
}

/// What a finished render measured.
#[derive(Debug, Clone, Copy)]
pub struct RenderFigures<'a> {
    pub backend: &'a str,
    pub encoder: &'a str,
    /// From the start of the render to the preview on disk.
    pub seconds: f64,
    pub ms_per_frame: f64,
    pub encode_fps: f64,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let renders = IntCounterVec::new(
            Opts::new("smileloop_renders_total", "Renders by backend and outcome."),
            &["backend", "outcome"],
        )?;
        let render_seconds = HistogramVec::new(
            HistogramOpts::new(
                "smileloop_render_duration_seconds",
                "Time from the start of a render to the preview on disk.",
            )
            .buckets(RENDER_BUCKETS.to_vec()),
            &["backend"],
        )?;
        let ms_per_frame = GaugeVec::new(
            Opts::new(
                "smileloop_animate_ms_per_frame",
                "Animator time per frame in the last finished render.",
            ),
            &["backend"],
        )?;
        let encode_fps = GaugeVec::new(
            Opts::new(
                "smileloop_encode_fps",
                "HD frames per second through the encoder in the last render \
                 (first frame to finished file).",
            ),
            &["encoder"],
        )?;
        let faces = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "smileloop_faces_per_photo",
                "Faces that come alive per accepted photo (0: a whole-photo animator).",
            )
            .buckets(FACE_BUCKETS.to_vec()),
        )?;
        let registry = Registry::new();
        registry.register(Box::new(faces.clone()))?;
        registry.register(Box::new(renders.clone()))?;
        registry.register(Box::new(render_seconds.clone()))?;
        registry.register(Box::new(ms_per_frame.clone()))?;
        registry.register(Box::new(encode_fps.clone()))?;
        Ok(Metrics {
            registry,
            renders,
            render_seconds,
            ms_per_frame,
            encode_fps,
            faces,
        })
    }

    /// An accepted photo with `count` faces to animate.
    pub fn photo_accepted(&self, count: u32) {
        self.faces.observe(f64::from(count));
    }

    pub fn render_finished(&self, f: RenderFigures<'_>) {
        self.renders
            .with_label_values(&[f.backend, Outcome::Ok.as_str()])
            .inc();
        self.render_seconds
            .with_label_values(&[f.backend])
            .observe(f.seconds);
        self.ms_per_frame
            .with_label_values(&[f.backend])
            .set(f.ms_per_frame);
        if f.encode_fps.is_finite() {
            self.encode_fps
                .with_label_values(&[f.encoder])
                .set(f.encode_fps);
        }
    }

    pub fn render_ended(&self, backend: &str, outcome: Outcome) {
        self.renders
            .with_label_values(&[backend, outcome.as_str()])
            .inc();
    }

    /// The whole exposition: recorded metrics plus the snapshot.
    pub fn encode(&self, snap: &Snapshot) -> Result<String, prometheus::Error> {
        let mut families = self.registry.gather();
        families.extend(snap.registry()?.gather());
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::new();
        TextEncoder::new().encode(&families, &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// Figures read at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub version: String,
    pub backend: String,
    pub encoder: String,
    pub encoder_hardware: bool,
    pub uptime_s: f64,
    /// Every job state, zero included, so a dashboard's series never gaps.
    pub jobs_by_state: Vec<(&'static str, u64)>,
    pub queue_length: u64,
    /// Per currency: payments recorded and their sum in minor units, jobs
    /// deleted since included (from the ledger).
    pub payments: BTreeMap<String, (u64, u64)>,
    pub camera_state: String,
    pub camera_reconnects: u64,
    pub camera_frames: u64,
    pub temperatures: Vec<(String, f64)>,
    pub disk_free_bytes: Option<u64>,
    pub disk_total_bytes: Option<u64>,
    /// Card copies printed, from the store (per day: Prometheus's
    /// `increase(…[1d])`).
    pub cards_printed: u64,
    /// The printer's state, when one is set up, its supplies in percent,
    /// and the cards waiting for it.
    pub printer_state: Option<String>,
    pub printer_supplies: Vec<(String, f64)>,
    pub cards_waiting: u64,
}

impl Snapshot {
    fn registry(&self) -> Result<Registry, prometheus::Error> {
        let r = Registry::new();
        self.register_kiosk(&r)?;
        self.register_payments(&r)?;
        self.register_camera(&r)?;
        self.register_printer(&r)?;
        self.register_disk(&r)?;
        Ok(r)
    }

    /// The build, uptime, jobs by state and the queue.
    fn register_kiosk(&self, r: &Registry) -> Result<(), prometheus::Error> {
        let info = IntGaugeVec::new(
            Opts::new("smileloop_info", "The running build, backend and encoder."),
            &["version", "backend", "encoder", "hardware_encoder"],
        )?;
        info.with_label_values(&[
            self.version.as_str(),
            self.backend.as_str(),
            self.encoder.as_str(),
            if self.encoder_hardware {
                "true"
            } else {
                "false"
            },
        ])
        .set(1);
        r.register(Box::new(info))?;
        gauge(r, "smileloop_uptime_seconds", "Seconds since start.")?.set(self.uptime_s);
        let jobs = IntGaugeVec::new(
            Opts::new("smileloop_jobs", "Jobs in the store by state."),
            &["state"],
        )?;
        for (state, n) in &self.jobs_by_state {
            jobs.with_label_values(&[*state]).set(clamp(*n));
        }
        r.register(Box::new(jobs))?;
        gauge(
            r,
            "smileloop_queue_length",
            "Jobs waiting for the renderer.",
        )?
        .set(self.queue_length as f64);
        Ok(())
    }

    /// Payments and revenue by currency.
    fn register_payments(&self, r: &Registry) -> Result<(), prometheus::Error> {
        let payments = IntCounterVec::new(
            Opts::new(
                "smileloop_payments_total",
                "Payments recorded, by currency.",
            ),
            &["currency"],
        )?;
        let revenue = IntCounterVec::new(
            Opts::new(
                "smileloop_revenue_minor_units_total",
                "Revenue in the currency's minor units (cents), by currency.",
            ),
            &["currency"],
        )?;
        for (currency, (count, minor)) in &self.payments {
            payments
                .with_label_values(&[currency.as_str()])
                .inc_by(*count);
            revenue
                .with_label_values(&[currency.as_str()])
                .inc_by(*minor);
        }
        r.register(Box::new(payments))?;
        r.register(Box::new(revenue))?;
        Ok(())
    }

    /// The camera's state and counters, and the board's temperatures.
    fn register_camera(&self, r: &Registry) -> Result<(), prometheus::Error> {
        let camera = IntGaugeVec::new(
            Opts::new(
                "smileloop_camera_state",
                "The camera's state (1 for the current one).",
            ),
            &["state"],
        )?;
        camera
            .with_label_values(&[self.camera_state.as_str()])
            .set(1);
        r.register(Box::new(camera))?;
        counter(
            r,
            "smileloop_camera_reconnects_total",
            "Times the camera came back after going away.",
        )?
        .inc_by(self.camera_reconnects);
        counter(
            r,
            "smileloop_camera_frames_total",
            "Live frames delivered by the camera.",
        )?
        .inc_by(self.camera_frames);
        let temps = GaugeVec::new(
            Opts::new(
                "smileloop_temperature_celsius",
                "Thermal zone temperatures.",
            ),
            &["zone"],
        )?;
        for (zone, c) in &self.temperatures {
            temps.with_label_values(&[zone.as_str()]).set(*c);
        }
        r.register(Box::new(temps))?;
        Ok(())
    }

    /// Cards printed, and the printer's state and supplies when there is one.
    fn register_printer(&self, r: &Registry) -> Result<(), prometheus::Error> {
        counter(
            r,
            "smileloop_cards_printed_total",
            "Card copies printed (kept in the store across restarts).",
        )?
        .inc_by(self.cards_printed);
        if let Some(state) = &self.printer_state {
            let printer = IntGaugeVec::new(
                Opts::new(
                    "smileloop_printer_state",
                    "The printer's state (1 for the current one).",
                ),
                &["state"],
            )?;
            printer.with_label_values(&[state.as_str()]).set(1);
            r.register(Box::new(printer))?;
            let supplies = GaugeVec::new(
                Opts::new(
                    "smileloop_printer_supply_percent",
                    "Ink, ribbon or paper left, as the printer reports it.",
                ),
                &["supply"],
            )?;
            for (name, level) in &self.printer_supplies {
                supplies.with_label_values(&[name.as_str()]).set(*level);
            }
            r.register(Box::new(supplies))?;
            gauge(
                r,
                "smileloop_cards_waiting",
                "Cards waiting for the printer.",
            )?
            .set(self.cards_waiting as f64);
        }
        Ok(())
    }

    /// The data disk's free and total space.
    fn register_disk(&self, r: &Registry) -> Result<(), prometheus::Error> {
        if let Some(free) = self.disk_free_bytes {
            gauge(
                r,
                "smileloop_disk_free_bytes",
                "Free space where the data lives.",
            )?
            .set(free as f64);
        }
        if let Some(total) = self.disk_total_bytes {
            gauge(
                r,
                "smileloop_disk_total_bytes",
                "Size of the file system where the data lives.",
            )?
            .set(total as f64);
        }
        Ok(())
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn gauge(r: &Registry, name: &str, help: &str) -> Result<prometheus::Gauge, prometheus::Error> {
    let g = prometheus::Gauge::new(name, help)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
) -> Result<prometheus::IntCounter, prometheus::Error> {
    let c = prometheus::IntCounter::new(name, help)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> prometheus_parse::Scrape {
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parse")
    }

    fn value(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
        let s = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .unwrap_or_else(|| panic!("{name} {label:?} missing"));
        match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{name} is not a single value"),
        }
    }

    #[test]
    fn renders_and_snapshot_come_out_as_prometheus_text() {
        let m = Metrics::new().expect("metrics");
        for seconds in [2.5, 3.5, 30.0] {
            m.render_finished(RenderFigures {
                backend: "meshwarp",
                encoder: "x264enc",
                seconds,
                ms_per_frame: 12.5,
                encode_fps: 48.0,
            });
        }
        m.render_ended("meshwarp", Outcome::Failed);
        let mut payments = BTreeMap::new();
        payments.insert("usd".to_string(), (3, 2397));
        payments.insert("eur".to_string(), (1, 950));
        let snap = Snapshot {
            version: "0.1.0".into(),
            backend: "meshwarp".into(),
            encoder: "x264enc".into(),
            jobs_by_state: vec![("queued", 2), ("failed", 0)],
            queue_length: 2,
            payments,
            camera_state: "live".into(),
            camera_reconnects: 4,
            temperatures: vec![("cpu-thermal".into(), 51.5)],
            disk_free_bytes: Some(1 << 30),
            ..Snapshot::default()
        };
        let text = m.encode(&snap).expect("encode");
        let scrape = parse(&text);
        let renders_ok = value(&scrape, "smileloop_renders_total", Some(("outcome", "ok")));
        assert_eq!(renders_ok, 3.0);
        assert_eq!(
            value(
                &scrape,
                "smileloop_renders_total",
                Some(("outcome", "failed"))
            ),
            1.0
        );
        let hist = scrape
            .samples
            .iter()
            .find(|s| s.metric == "smileloop_render_duration_seconds")
            .expect("histogram");
        match &hist.value {
            prometheus_parse::Value::Histogram(buckets) => {
                let le4 = buckets.iter().find(|b| b.less_than == 4.0).expect("le 4");
                assert_eq!(le4.count, 2.0, "2.5 s and 3.5 s fall under 4 s");
            }
            other => panic!("not a histogram: {other:?}"),
        }
        assert_eq!(
            value(&scrape, "smileloop_jobs", Some(("state", "queued"))),
            2.0
        );
        assert_eq!(
            value(&scrape, "smileloop_jobs", Some(("state", "failed"))),
            0.0
        );
        assert_eq!(
            value(
                &scrape,
                "smileloop_revenue_minor_units_total",
                Some(("currency", "usd"))
            ),
            2397.0
        );
        assert_eq!(
            value(
                &scrape,
                "smileloop_payments_total",
                Some(("currency", "eur"))
            ),
            1.0
        );
        assert_eq!(
            value(&scrape, "smileloop_camera_reconnects_total", None),
            4.0
        );
        assert_eq!(
            value(
                &scrape,
                "smileloop_temperature_celsius",
                Some(("zone", "cpu-thermal"))
            ),
            51.5
        );
        assert_eq!(
            value(
                &scrape,
                "smileloop_encode_fps",
                Some(("encoder", "x264enc"))
            ),
            48.0
        );
        assert!(text.contains("# TYPE smileloop_renders_total counter"));
        assert!(
            !text.contains("smileloop_disk_total_bytes"),
            "unknown figures are left out, not reported as zero"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new().expect("metrics");
        let snap = Snapshot {
            temperatures: vec![("odd\"zone\nname".into(), 40.0)],
            camera_state: "off".into(),
            ..Snapshot::default()
        };
        let text = m.encode(&snap).expect("encode");
        assert!(text.contains(r#"zone="odd\"zone\nname""#), "{text}");
    }
    #[test]
    fn the_printer_shows_only_when_one_is_set_up() {
        let m = Metrics::new().expect("metrics");
        let none = m.encode(&Snapshot::default()).expect("encode");
        assert!(none.contains("smileloop_cards_printed_total 0"), "{none}");
        assert!(!none.contains("smileloop_printer_state"), "{none}");
        let snap = Snapshot {
            cards_printed: 12,
            printer_state: Some("out_of_paper".into()),
            printer_supplies: vec![("ribbon".into(), 40.0)],
            cards_waiting: 2,
            ..Snapshot::default()
        };
        let text = m.encode(&snap).expect("encode");
        for line in [
            "smileloop_cards_printed_total 12",
            r#"smileloop_printer_state{state="out_of_paper"} 1"#,
            r#"smileloop_printer_supply_percent{supply="ribbon"} 40"#,
            "smileloop_cards_waiting 2",
        ] {
            assert!(text.contains(line), "{line}: {text}");
        }
    }
}
