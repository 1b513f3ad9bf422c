//! The real binary as a child process. Every listener binds port 0, so the
//! system picks a free port at bind time and no other process can take it
//! first; the test reads the ports the kiosk really bound from
//! `data_dir/listening.json`. The child's stderr is kept in memory, so a
//! kiosk that does not come up says why.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use smileloop::service::{loopback_for, Listening, LISTENING_FILE};

/// How long a kiosk may take to start (a cold ONNX Runtime load on a busy
/// 2-core machine takes a few seconds).
const START_LIMIT: Duration = Duration::from_secs(90);

/// A child's stderr, line by line, as it arrives.
#[derive(Clone, Default)]
pub struct Log {
    inner: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl Log {
    /// Keeps every line `child` writes to its (piped) stderr.
    pub fn follow(child: &mut Child) -> Self {
        let log = Self::default();
        let stderr = child.stderr.take().expect("stderr piped");
        let writer = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let (lines, changed) = &*writer.inner;
                lines.lock().expect("log lock").push(line);
                changed.notify_all();
            }
        });
        log
    }

    pub fn lines(&self) -> Vec<String> {
        self.inner.0.lock().expect("log lock").clone()
    }

    /// The last `n` lines, one per line, for a failure message.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines();
        let from = lines.len().saturating_sub(n);
        if lines.is_empty() {
            return "(no output on stderr)".into();
        }
        lines[from..].join("\n")
    }

    /// Waits until `n` lines match `pred`; false at the deadline.
    pub fn wait_for(&self, n: usize, limit: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let (lines, changed) = &*self.inner;
        let mut guard = lines.lock().expect("log lock");
        loop {
            if guard.iter().filter(|l| pred(l)).count() >= n {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = changed.wait_timeout(guard, left).expect("log lock").0;
        }
    }
}

/// A running `smileloop serve` and the addresses it bound.
pub struct Kiosk {
    pub child: Child,
    pub kiosk: String,
    pub guest: String,
    pub admin: String,
    pub log: Log,
}

/// A kiosk a failed assertion left running is killed with its test, so
/// it does not serve (and spend CPU on its camera) for the rest of the
/// suite.
impl Drop for Kiosk {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Kiosk {
    /// Starts `cmd` (stderr is piped here) and waits until the kiosk
    /// named in `data/listening.json` answers `/api/health`.
    pub fn start(cmd: Command, data: &Path) -> Self {
        let mut kiosk = Self::spawn(cmd, data);
        kiosk.wait_up(data);
        kiosk
    }

    /// Starts `cmd` without waiting for it; a listening file left by an
    /// earlier (killed) kiosk on `data` is removed first, so only this
    /// one's can be read.
    pub fn spawn(mut cmd: Command, data: &Path) -> Self {
        match std::fs::remove_file(data.join(LISTENING_FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                panic!("stale {LISTENING_FILE}: {e}")
            }
            _ => {}
        }
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {:?}: {e}", cmd.get_program()));
        let log = Log::follow(&mut child);
        Self {
            child,
            kiosk: String::new(),
            guest: String::new(),
            admin: String::new(),
            log,
        }
    }

    /// Waits for the listening file in `data` (as this test sees the
    /// folder) and a healthy kiosk; panics with the exit status and the
    /// log's last lines if it dies or is not up in time.
    pub fn wait_up(&mut self, data: &Path) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                self.fail(&format!("exited with {status} before it came up"));
            }
            if let Some(l) = Listening::read(data) {
                let url = |scheme: &str, a: std::net::SocketAddr| {
                    format!("{scheme}://{}", loopback_for(a.ip(), a.port()))
                };
                (self.kiosk, self.guest, self.admin) = (
                    url("http", l.kiosk),
                    url("http", l.guest),
                    url("https", l.admin),
                );
                if super::agent()
                    .get(&format!("{}/api/health", self.kiosk))
                    .call()
                    .is_ok_and(|r| r.status() == 200)
                {
                    return;
                }
            }
            if start.elapsed() > START_LIMIT {
                let _ = self.child.kill();
                let status = self.child.wait().map(|s| s.to_string());
                self.fail(&format!(
                    "not up after {} s (killed: {status:?})",
                    START_LIMIT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn fail(&self, what: &str) -> ! {
        // Give the reader thread a moment to collect the last lines.
        std::thread::sleep(Duration::from_millis(200));
        panic!(
            "the kiosk (pid {}) {what}; its last log lines:\n{}",
            self.child.id(),
            self.log.tail(40)
        );
    }

    /// SIGTERM, then a clean exit within a minute.
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let exit = self.child.wait().expect("exit");
        if !exit.success() {
            self.fail(&format!("did not stop cleanly on SIGTERM ({exit})"));
        }
    }

    /// SIGKILL, and the child reaped.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
