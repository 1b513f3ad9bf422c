//! The service manager's side (systemd `Type=notify`): READY once every
//! listener accepts connections and the store is open, STOPPING on the way
//! out, and WATCHDOG pings only while the render worker's heartbeat is
//! recent and the kiosk listener answers HTTP, so a hung process is
//! restarted. Outside systemd (no `NOTIFY_SOCKET`) every call does nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::jobs::queue::WorkerStatus;

/// The worker loop beats at least every 5 s while idle and every frame
/// while rendering; silence this long means it is stuck.
pub const WORKER_STALL: Duration = Duration::from_secs(45);
const HTTP_TIMEOUT: Duration = Duration::from_secs(3);

pub fn ready(status: &str) {
    let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn stopping() {
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
}

/// Whether the process deserves a watchdog ping.
pub fn healthy(worker_silent_for: Duration, http_ok: bool) -> bool {
    worker_silent_for < WORKER_STALL && http_ok
}

/// Where to reach a listener bound to `address` from this machine.
pub fn loopback_for(address: IpAddr, port: u16) -> SocketAddr {
    let ip = match address {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    SocketAddr::new(ip, port)
}

/// `GET /api/health` answers 200 within a few seconds.
pub async fn http_ok(kiosk: SocketAddr) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(kiosk).await?;
        stream
            .write_all(b"GET /api/health HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(
            head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"),
        )
    };
    matches!(
        tokio::time::timeout(HTTP_TIMEOUT, attempt).await,
        Ok(Ok(true))
    )
}

/// Pings the watchdog four times per `WatchdogSec` while healthy.
pub async fn watchdog(
    worker: Arc<WorkerStatus>,
    kiosk: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let every = Duration::from_micros(usec) / 4;
    tracing::info!(every_ms = every.as_millis() as u64, "systemd watchdog on");
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        let silent = worker.silent_for();
        let http = http_ok(kiosk).await;
        if healthy(silent, http) {
            let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
        } else {
            tracing::warn!(
                worker_silent_s = silent.as_secs(),
                http_ok = http,
                "not pinging the watchdog: systemd restarts the kiosk if this lasts"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_only_when_worker_and_http_are_alive() {
        assert!(healthy(Duration::from_secs(5), true));
        assert!(!healthy(Duration::from_secs(5), false));
        assert!(!healthy(WORKER_STALL, true));
    }

    #[test]
    fn unspecified_addresses_are_reached_on_loopback() {
        assert_eq!(
            loopback_for("0.0.0.0".parse().expect("ip"), 8000),
            "127.0.0.1:8000".parse().expect("addr")
        );
        assert_eq!(
            loopback_for("::".parse().expect("ip"), 8000),
            "[::1]:8000".parse().expect("addr")
        );
        assert_eq!(
            loopback_for("10.1.2.3".parse().expect("ip"), 80),
            "10.1.2.3:80".parse().expect("addr")
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_not_ok() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        assert!(!http_ok(addr).await);
    }
}

/// The file in `data_dir` naming the addresses the listeners really bound
/// (with port 0 the system picks them): written once all three accept
/// connections, removed when the kiosk starts and stops.
pub const LISTENING_FILE: &str = "listening.json";

/// Where the kiosk's three listeners are bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Listening {
    pub kiosk: SocketAddr,
    pub guest: SocketAddr,
    pub admin: SocketAddr,
}

impl Listening {
    /// The line `serve` prints on stdout once it is ready.
    pub fn line(&self) -> String {
        format!(
            "listening kiosk={} guest={} admin={}",
            self.kiosk, self.guest, self.admin
        )
    }

    /// Writes the file whole or not at all (a reader never sees half).
    pub fn write(&self, data_dir: &Path) -> std::io::Result<()> {
        let tmp = data_dir.join(format!("{LISTENING_FILE}.part"));
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, data_dir.join(LISTENING_FILE))
    }

    /// The addresses a running (or killed) kiosk wrote; `None` without a
    /// readable file.
    pub fn read(data_dir: &Path) -> Option<Self> {
        let bytes = std::fs::read(data_dir.join(LISTENING_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn remove(data_dir: &Path) {
        for name in [LISTENING_FILE, &format!("{LISTENING_FILE}.part")] {
            match std::fs::remove_file(data_dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    tracing::warn!("could not remove {name}: {e}");
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod listening_tests {
    use super::*;

    #[test]
    fn the_listening_file_round_trips_and_goes() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(Listening::read(dir.path()), None);
        let l = Listening {
            kiosk: "127.0.0.1:41000".parse().expect("addr"),
            guest: "0.0.0.0:8080".parse().expect("addr"),
            admin: "[::1]:8081".parse().expect("addr"),
        };
        l.write(dir.path()).expect("write");
        assert_eq!(Listening::read(dir.path()), Some(l));
        assert_eq!(
            l.line(),
            "listening kiosk=127.0.0.1:41000 guest=0.0.0.0:8080 admin=[::1]:8081"
        );
        Listening::remove(dir.path());
        assert_eq!(Listening::read(dir.path()), None);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }
}
