//! Raw network helpers for tests and benches that attack the real binary:
//! requests on fresh sockets with deadlines, connections from other
//! loopback addresses (127.0.0.2, … stand in for phones on the Wi-Fi),
//! and the process's resident memory.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

/// Lets this test hold more sockets than a default soft limit allows.
pub fn raise_own_nofile() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    let _ = setrlimit(Resource::Nofile, limit);
}

/// `cmd` run with `nofile` open files at most, soft and hard: the limit
/// systemd gives a unit that sets none.
pub fn under_prlimit(cmd: &Command, nofile: u32) -> Command {
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

pub fn socket(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
        .parse()
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// One request on a fresh connection; the status, or `None` if no answer
/// came within `limit`.
pub fn status_within(url: &str, path: &str, limit: Duration) -> Option<u16> {
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

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A connection from `from` (another loopback address) to `to`.
pub async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from, 0))?;
    tokio::time::timeout(Duration::from_secs(5), sock.connect(to))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect"))?
}

/// Sends `request` from `from` and reads the whole answer (the request
/// says `Connection: close`).
pub async fn exchange(from: IpAddr, to: SocketAddr, request: Vec<u8>) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = connect_from(from, to).await?;
    s.write_all(&request).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut answer))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "answer"))??;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// [`exchange`] over TLS, for the admin listener. A connection the edge
/// refuses (past a peer's cap) gets a plain-HTTP 503, which a TLS client
/// reads as a corrupt handshake: `InvalidData`.
pub async fn exchange_secure(
    from: IpAddr,
    to: SocketAddr,
    request: Vec<u8>,
) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = connect_from(from, to).await?;
    let mut s = tokio::time::timeout(Duration::from_secs(30), super::tls::connect(tcp))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "handshake"))??;
    s.write_all(&request).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut answer))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "answer"))??;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

pub fn status_of(answer: &str) -> u16 {
    answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Stands for a connection reset in a list of statuses.
pub const RESET: u16 = 0;

pub fn wrong_login(token: &str, cookie: &str) -> Vec<u8> {
    let body = format!("password=not-the-password&csrf={token}");
    format!(
        "POST /admin/login HTTP/1.1\r\nHost: kiosk\r\nConnection: close\r\n\
         Cookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The highest RSS seen while `work` runs, sampled every 20 ms.
pub fn peak_rss_during<T>(pid: u32, work: impl FnOnce() -> T) -> (T, u64) {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let out = work();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    (out, sampler.join().expect("sampler"))
}

/// A wrong-password sign-in as raw bytes, carrying the token and cookie
/// of `admin`'s login form.
pub fn wrong_login_for(admin: &str) -> Vec<u8> {
    use super::staff;
    let (s, html, cookies) = staff::send(staff::agent().get(&format!("{admin}/admin/login")), None);
    assert_eq!(s, 200, "{html}");
    let token = staff::find_after(&html, "name=\"csrf\" value=\"").expect("form token");
    wrong_login(token, &cookies.join("; "))
}

/// 36 megapixels of one colour: a small PNG that decodes to 108 MB.
pub fn big_png() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(6000, 6000, image::Rgb([200, 180, 160]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

/// Opens `n` phone-upload links on `kiosk`; their codes.
pub fn phone_links(kiosk: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let (s, v, _) = super::call(
                super::agent().post(&format!("{kiosk}/api/phone-uploads")),
                None,
            );
            assert_eq!(s, 201, "{}", String::from_utf8_lossy(&v));
            let v: serde_json::Value = serde_json::from_slice(&v).expect("json");
            v["code"].as_str().expect("code").to_string()
        })
        .collect()
}

/// Starts `per_link` uploads of `png` into each of `links` at once, each
/// with a different byte after the image's end: the same pixels, but the
/// recent-photo cache answers for none, so every one is decoded. Each
/// thread returns its answer's status.
pub fn upload_flood(
    guest: &str,
    links: &[String],
    per_link: usize,
    png: &[u8],
) -> Vec<std::thread::JoinHandle<u16>> {
    links
        .iter()
        .flat_map(|code| std::iter::repeat_n(code.clone(), per_link))
        .enumerate()
        .map(|(n, code)| {
            let mut bytes = png.to_vec();
            bytes.extend_from_slice(&n.to_le_bytes());
            let (ct, body) = super::multipart(&[("photo", Some("big.png"), &bytes)]);
            let url = format!("{guest}/u/{code}");
            std::thread::spawn(move || {
                super::call(super::agent().post(&url), Some((ct.as_str(), body))).0
            })
        })
        .collect()
}
