//! The service manager's side (systemd `Type=notify`): READY once every
//! listener accepts connections and the store is open, STOPPING on the way
//! out, and WATCHDOG pings only while the render worker's heartbeat is
//! recent and the kiosk listener answers HTTP, so a hung process is
//! restarted. Outside systemd (no `NOTIFY_SOCKET`) every call does nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::jobs::worker::Queue;

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
pub async fn watchdog(queue: Arc<Queue>, kiosk: SocketAddr, mut shutdown: watch::Receiver<bool>) {
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
        let silent = queue.silent_for();
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
