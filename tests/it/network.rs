//! A hostile venue network against the real binary on loopback: floods of
//! half-sent requests on the guest and admin ports, one peer holding too
//! many connections, slow headers, a burst of wrong staff passwords from
//! one address and from many. Other loopback addresses (127.0.0.2, …)
//! stand in for other phones on the Wi-Fi. Counts and waits are bounded.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::kiosk::Kiosk;
use crate::common::staff::{self, Staff};
use crate::common::*;

/// Lets this test hold more sockets than a default soft limit allows.
fn raise_own_nofile() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    let _ = setrlimit(Resource::Nofile, limit);
}

/// `cmd` run with `nofile` open files at most, soft and hard: the limit
/// systemd gives a unit that sets none.
fn under_prlimit(cmd: &Command, nofile: u32) -> Command {
    let mut wrapped = Command::new("prlimit");
    wrapped
        .arg(format!("--nofile={nofile}:{nofile}"))
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdout(std::process::Stdio::null());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    wrapped
}

fn socket(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// One request on a fresh connection; the status, or `None` if no answer
/// came within `limit`.
fn status_within(url: &str, path: &str, limit: Duration) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&socket(url), limit).ok()?;
    s.set_read_timeout(Some(limit)).ok()?;
    s.set_write_timeout(Some(limit)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: kiosk\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A connection from `from` (another loopback address) to `to`.
async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from, 0))?;
    tokio::time::timeout(Duration::from_secs(5), sock.connect(to))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect"))?
}

/// Sends `request` from `from` and reads the whole answer (the request
/// says `Connection: close`).
async fn exchange(from: IpAddr, to: SocketAddr, request: Vec<u8>) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = connect_from(from, to).await?;
    s.write_all(&request).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut answer))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "answer"))??;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn status_of(answer: &str) -> u16 {
    answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn start(data: &Path, env: &[(&str, &str)]) -> Kiosk {
    let mut cmd = kiosk_command(data);
    cmd.env("SMILELOOP_ANIMATOR", "gentle")
        .envs(env.iter().copied());
    Kiosk::start(under_prlimit(&cmd, 1024), data)
}

#[test]
fn floods_on_the_guest_and_admin_ports_never_reach_the_kiosk_screen() {
    raise_own_nofile();
    let data = tempfile::tempdir().expect("tempdir");
    let life = start(data.path(), &[("SMILELOOP_HEADER_TIMEOUT_S", "2")]);
    let (guest, admin) = (socket(&life.guest), socket(&life.admin));
    let health = |when: &str| {
        assert_eq!(
            status_within(&life.kiosk, "/api/health", Duration::from_secs(1)),
            Some(200),
            "the kiosk's health answers within 1 s {when}"
        );
    };
    health("before");

    // 1,100 half-sent requests on the guest port (more than the 1,024
    // descriptors the kiosk may open) and 300 on the admin port.
    let mut flood = Vec::new();
    for (to, count) in [(guest, 1100), (admin, 300)] {
        for i in 0..count {
            if let Ok(mut s) = TcpStream::connect_timeout(&to, Duration::from_millis(500)) {
                let _ = s.write_all(b"GET /api/he");
                flood.push(s);
            }
            if i % 100 == 0 {
                health("during the flood");
            }
        }
    }
    assert!(flood.len() > 1000, "{} connections opened", flood.len());
    for _ in 0..5 {
        health("with the flood open");
    }

    // Slow headers are cut off: the first connection is closed by the
    // kiosk (header_timeout_s = 2), not left open.
    let first = &mut flood[0];
    first
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    let cut = match first.read(&mut byte) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(cut, "a half-sent request is closed by the kiosk");
    drop(flood);

    // Everything recovers: both ports answer again once the flood is gone.
    let deadline = Instant::now() + Duration::from_secs(60);
    for (url, path) in [(&life.guest, "/api/ping"), (&life.admin, "/admin/login")] {
        while status_within(url, path, Duration::from_secs(2)).is_none_or(|s| s >= 500) {
            assert!(Instant::now() < deadline, "{url}{path} did not recover");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    health("after");
    life.terminate();
}

#[test]
fn one_peer_gets_its_share_of_connections_and_no_more() {
    let data = tempfile::tempdir().expect("tempdir");
    let life = start(data.path(), &[("SMILELOOP_MAX_CONNECTIONS_PER_PEER", "4")]);
    let admin = socket(&life.admin);
    let phone: IpAddr = "127.0.0.2".parse().expect("ip");
    let other: IpAddr = "127.0.0.3".parse().expect("ip");
    runtime().block_on(async {
        use tokio::io::AsyncReadExt;
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(connect_from(phone, admin).await.expect("connect"));
        }
        // Accepted connections are served in turn; give the edge a moment
        // to count all four before the fifth arrives.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut fifth = connect_from(phone, admin).await.expect("connect");
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), fifth.read_to_end(&mut answer))
            .await
            .expect("refused at once")
            .expect("read");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("too many connections"), "{answer}");

        let get = b"GET /admin/login HTTP/1.1\r\nHost: kiosk\r\nConnection: close\r\n\r\n";
        let from_other = exchange(other, admin, get.to_vec()).await.expect("other");
        assert!(
            status_of(&from_other) < 500,
            "another phone is served: {from_other}"
        );
        drop(held);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again = exchange(phone, admin, get.to_vec()).await.expect("again");
        assert!(
            status_of(&again) < 500,
            "the phone is served once it lets go: {again}"
        );
    });
    life.terminate();
}

/// Stands for a connection reset in a list of statuses.
const RESET: u16 = 0;

fn wrong_login(token: &str, cookie: &str) -> Vec<u8> {
    let body = format!("password=not-the-password&csrf={token}");
    format!(
        "POST /admin/login HTTP/1.1\r\nHost: kiosk\r\nConnection: close\r\n\
         Cookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn a_login_burst_gets_five_checks_memory_stays_flat_and_a_restart_forgets_nothing() {
    raise_own_nofile();
    let data = tempfile::tempdir().expect("tempdir");
    let life = start(data.path(), &[]);
    Staff::setup(&life.admin);
    let (s, html, cookies) = staff::send(
        staff::agent().get(&format!("{}/admin/login", life.admin)),
        None,
    );
    assert_eq!(s, 200, "{html}");
    let token = staff::find_after(&html, "name=\"csrf\" value=\"").expect("token");
    let request = wrong_login(token, &cookies.join("; "));
    let admin = socket(&life.admin);
    let pid = life.child.id();
    let before = rss_kib(pid);

    let statuses = |from: Vec<IpAddr>| -> Vec<u16> {
        runtime().block_on(async {
            let tasks: Vec<_> = from
                .into_iter()
                .map(|ip| tokio::spawn(exchange(ip, admin, request.clone())))
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                // A reset is a refusal too: past a peer's cap the edge
                // answers the first refused connections and resets the rest.
                out.push(match t.await.expect("task") {
                    Ok(answer) => status_of(&answer),
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => RESET,
                    Err(e) => panic!("no answer: {e}"),
                });
            }
            out
        })
    };
    // 200 at once from one phone: five are checked; the rest are refused,
    // by the throttle (429) or past the phone's connections (503).
    let phone: IpAddr = "127.0.0.2".parse().expect("ip");
    let one = statuses(vec![phone; 200]);
    let checked = one.iter().filter(|s| **s == 401).count();
    assert_eq!(checked, 5, "passwords checked for one address");
    assert!(
        one.iter().all(|s| [401, 429, 503, RESET].contains(s)),
        "{one:?}"
    );

    // 300 at once from 300 phones: a few at a time, a bounded number a
    // minute, the rest refused at once.
    let many: Vec<IpAddr> = (0..300u32)
        .map(|i| IpAddr::from([127, 1, (i / 250) as u8, (i % 250 + 1) as u8]))
        .collect();
    let spread = statuses(many);
    let checked = spread.iter().filter(|s| **s == 401).count();
    assert!(checked <= 60, "{checked} checks in a minute");
    assert!(spread.iter().all(|s| *s == 401 || *s == 429), "{spread:?}");
    let grown_mib = rss_kib(pid).saturating_sub(before) / 1024;
    // Two checkers' work memory (2 × 19 MiB) and change; 55 checks on the
    // blocking pool grew it by 480 MiB.
    assert!(grown_mib < 100, "RSS grew {grown_mib} MiB under the bursts");

    // The counts are in the store: after a restart the phone's sixth
    // wrong password (its wait of 1 s is over) earns a wait of 2 s at
    // once; a throttle that forgot would check the next one too.
    life.terminate();
    std::thread::sleep(Duration::from_millis(1100));
    let life = start(data.path(), &[]);
    let (s, html, cookies) = staff::send(
        staff::agent().get(&format!("{}/admin/login", life.admin)),
        None,
    );
    assert_eq!(s, 200, "{html}");
    let token = staff::find_after(&html, "name=\"csrf\" value=\"").expect("token");
    let request = wrong_login(token, &cookies.join("; "));
    let rt = runtime();
    let sixth = rt
        .block_on(exchange(phone, socket(&life.admin), request.clone()))
        .expect("answer");
    assert_eq!(status_of(&sixth), 401, "{sixth}");
    let seventh = rt
        .block_on(exchange(phone, socket(&life.admin), request))
        .expect("answer");
    assert_eq!(status_of(&seventh), 429, "{seventh}");
    assert!(seventh.contains("Too many wrong passwords"), "{seventh}");
    life.terminate();
}
