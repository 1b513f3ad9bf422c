//! A real IPP Everywhere printer for the tests: CUPS's `ippeveprinter`
//! on a loopback port, configured as a 4 × 6 in dye-sublimation photo
//! printer, spooling what it is sent. It insists on a D-Bus system bus
//! (for DNS-SD); a private `dbus-daemon` serves as one (no Avahi on it),
//! so nothing is announced on any network.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private bus for one printer, gone with it.
struct Bus {
    address: String,
    child: Child,
}

impl Bus {
    fn start(dir: &Path) -> Self {
        let socket = dir.join("bus");
        let conf = dir.join("bus.conf");
        std::fs::write(
            &conf,
            format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" \
                 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
                 <busconfig><type>system</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>\
                 <policy context=\"default\"><allow send_destination=\"*\"/>\
                 <allow receive_sender=\"*\"/><allow own=\"*\"/><allow user=\"*\"/></policy>\
                 </busconfig>\n",
                socket.display()
            ),
        )
        .expect("bus config");
        let child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .arg("--nofork")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon starts");
        let start = Instant::now();
        while !socket.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the private bus did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Bus {
            address: format!("unix:path={}", socket.display()),
            child,
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the simulated printer behaves.
pub struct Model {
    /// `document-format-supported`.
    pub formats: &'static str,
    /// Seconds the print engine takes per job.
    pub print_seconds: f32,
}

impl Default for Model {
    fn default() -> Self {
        Self {
            formats: "image/jpeg,image/pwg-raster,image/urf",
            print_seconds: 0.5,
        }
    }
}

pub struct Printer {
    child: Option<Child>,
    bus: Bus,
    pub port: u16,
    dir: tempfile::TempDir,
    /// The spool folder of the printer's current life.
    pub spool: PathBuf,
    lives: u32,
}

impl Printer {
    pub fn start(model: Model) -> Self {
        let dir = tempfile::tempdir().expect("printer dir");
        std::fs::write(dir.path().join("photo.conf"), conf(model.formats)).expect("conf");
        std::fs::write(dir.path().join("all-jobs.test"), ALL_JOBS).expect("ipptool test");
        let engine = dir.path().join("engine.sh");
        std::fs::write(
            &engine,
            format!("#!/bin/sh\nsleep {}\nexit 0\n", model.print_seconds),
        )
        .expect("engine");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&engine, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut p = Self {
            child: None,
            bus: Bus::start(dir.path()),
            port: super::unused_port(),
            spool: PathBuf::new(),
            dir,
            lives: 0,
        };
        for _ in 0..5 {
            if p.launch().is_ok() {
                return p;
            }
            p.port = super::unused_port();
        }
        p.restart();
        p
    }

    /// A new life on the same port, with an empty job history. The port
    /// was free a moment ago; should another process take it in between,
    /// starting is tried again.
    pub fn restart(&mut self) {
        self.kill();
        let mut last = String::new();
        for _ in 0..5 {
            match self.launch() {
                Ok(()) => return,
                Err(log) => last = log,
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("ippeveprinter did not start on port {}: {last}", self.port);
    }

    fn launch(&mut self) -> Result<(), String> {
        self.lives += 1;
        self.spool = self.dir.path().join(format!("spool-{}", self.lives));
        std::fs::create_dir_all(&self.spool).expect("spool");
        let log = self.dir.path().join(format!("printer-{}.log", self.lives));
        let mut child = Command::new("ippeveprinter")
            .args([
                "-p",
                &self.port.to_string(),
                // Its loopback listeners only (`-n 127.0.0.1` would also
                // want an IPv6 one it cannot make).
                "-n",
                "localhost",
                "-k",
                "-r",
                "off",
            ])
            .arg("-d")
            .arg(&self.spool)
            .arg("-a")
            .arg(self.dir.path().join("photo.conf"))
            .arg("-c")
            .arg(self.dir.path().join("engine.sh"))
            .arg("SmileLoop Test Photo Printer")
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus.address)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("printer log"))
            .spawn()
            .expect("ippeveprinter starts (cups-ipp-utils)");
        let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status}: {}", log_text()));
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                // Still running a moment later: the listener is its own,
                // not another process's on a port taken in between.
                std::thread::sleep(Duration::from_millis(150));
                if let Ok(None) = child.try_wait() {
                    self.child = Some(child);
                    return Ok(());
                }
                continue;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no listener in 20 s: {}", log_text()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn uri(&self) -> String {
        format!("ipp://127.0.0.1:{}/ipp/print", self.port)
    }

    /// Sets the sheets left in the tray through the printer's own web
    /// form (0: out of paper, which holds its jobs).
    pub fn set_paper(&self, sheets: u32) {
        let url = format!(
            "http://127.0.0.1:{}/media?size0=na_index-4x6_4x6in&type0=photographic&level0={sheets}",
            self.port
        );
        let status = ureq::get(&url).call().map(|r| r.status()).unwrap_or(0);
        assert_eq!(status, 200, "{url}");
    }

    /// Documents the printer received in this life, oldest first.
    pub fn spooled(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.spool)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|f| f.extension().is_some_and(|x| x != "prn"));
        files.sort();
        files
    }

    /// `(job-id, job-state)` of every job of this life, asked with `ipptool`.
    pub fn jobs(&self) -> Vec<(i32, String)> {
        let out = Command::new("ipptool")
            .arg("-tv")
            .arg(self.uri())
            .arg(self.dir.path().join("all-jobs.test"))
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus.address)
            .output()
            .expect("ipptool");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut jobs = vec![];
        let mut id = None;
        for line in text.lines().map(str::trim) {
            if let Some(v) = line.strip_prefix("job-id (integer) = ") {
                id = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("job-state (enum) = ") {
                if let Some(i) = id.take() {
                    jobs.push((i, v.to_string()));
                }
            }
        }
        jobs
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `pred` holds, up to `limit`.
pub fn until(limit: Duration, what: &str, mut pred: impl FnMut() -> bool) {
    let start = Instant::now();
    while !pred() {
        assert!(start.elapsed() < limit, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

const ALL_JOBS: &str = r#"{
  NAME "All jobs"
  OPERATION Get-Jobs
  GROUP operation-attributes-tag
  ATTR charset attributes-charset utf-8
  ATTR language attributes-natural-language en
  ATTR uri printer-uri $uri
  ATTR keyword which-jobs all
  ATTR keyword requested-attributes job-id,job-state,job-name
  STATUS successful-ok
}
"#;

fn conf(formats: &str) -> String {
    format!(
        r#"ATTR mimeMediaType document-format-supported {formats}
ATTR keyword media-supported na_index-4x6_4x6in,na_5x7_5x7in
ATTR keyword media-default na_index-4x6_4x6in
ATTR keyword media-ready na_index-4x6_4x6in
ATTR keyword media-source-supported main
ATTR keyword media-type-supported photographic
ATTR collection media-col-database {{
  MEMBER collection media-size {{ MEMBER integer x-dimension 10160 MEMBER integer y-dimension 15240 }}
  MEMBER keyword media-size-name na_index-4x6_4x6in
  MEMBER integer media-top-margin 0 MEMBER integer media-bottom-margin 0
  MEMBER integer media-left-margin 0 MEMBER integer media-right-margin 0
}},{{
  MEMBER collection media-size {{ MEMBER integer x-dimension 12700 MEMBER integer y-dimension 17780 }}
  MEMBER keyword media-size-name na_5x7_5x7in
  MEMBER integer media-top-margin 0 MEMBER integer media-bottom-margin 0
  MEMBER integer media-left-margin 0 MEMBER integer media-right-margin 0
}}
ATTR collection media-col-ready {{
  MEMBER collection media-size {{ MEMBER integer x-dimension 10160 MEMBER integer y-dimension 15240 }}
  MEMBER keyword media-size-name na_index-4x6_4x6in
  MEMBER keyword media-source main
  MEMBER keyword media-type photographic
  MEMBER integer media-top-margin 0 MEMBER integer media-bottom-margin 0
  MEMBER integer media-left-margin 0 MEMBER integer media-right-margin 0
}}
ATTR octetString printer-input-tray "type=sheetFeedAutoRemovableTray;mediafeed=15240;mediaxfeed=10160;maxcapacity=50;level=50;status=0;name=main;"
ATTR keyword pwg-raster-document-type-supported srgb_8,sgray_8
ATTR resolution pwg-raster-document-resolution-supported 300dpi
ATTR resolution printer-resolution-supported 300dpi
ATTR resolution printer-resolution-default 300dpi
ATTR keyword urf-supported V1.4,CP1,W8,SRGB24,RS300
ATTR octetString printer-supply "index=1;class=supplyThatIsConsumed;type=ribbonWax;unit=percent;maxcapacity=100;level=60;colorantname=multi-color;"
ATTR text printer-supply-description "Dye-sublimation ribbon"
"#
    )
}
