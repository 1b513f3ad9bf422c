//! The front door of every listener. Rocket 0.5 accepts every connection
//! it is offered and waits on a half-sent request for ever, so each public
//! address is served here instead, by hyper, with bounds Rocket lacks:
//!
//! - at most `max` open connections per listener (a permit is taken
//!   *before* `accept`, so a flood waits in the kernel's backlog and costs
//!   this process no file descriptors);
//! - at most `per_peer` of them from one address (a tunnel on this box
//!   connects from 127.0.0.1 for every guest, so that one is exempt and
//!   shares only `max`);
//! - a deadline for a request's headers, which also ends an idle
//!   keep-alive connection, and for each stretch of silence in a body
//!   and for the whole body.
//!
//! Requests then go to that listener's Rocket on a loopback port of its
//! own, with the peer's address in `X-Real-IP` (whatever the client sent
//! there is dropped), where `Request::client_ip` reads it.
//!
//! A listener given a TLS acceptor (the admin one) speaks HTTPS; a client
//! that speaks plain HTTP to it is told so in plain HTTP, and sent to the
//! `https://` address when it asked to read a page.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

mod body;

pub use body::BodyCaps;
use body::{Capped, Deadlines, Failure};

/// The header the edge writes the peer's address into.
pub const PEER_HEADER: &str = "X-Real-IP";

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ProxyBody = BoxBody<Bytes, BoxError>;

/// How long shutdown waits for requests in flight before it cuts them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Refused connections read out at once, for how long and how much.
const LINGERING: usize = 32;
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;
/// How long a body held at its cap waits for the kiosk's answer.
const ANSWER_WAIT: Duration = Duration::from_secs(10);
/// How long a connection to the kiosk is kept for the next request; the
/// kiosk keeps it longer (`KIOSK_KEEP_ALIVE`), so the edge never sends a
/// request down a connection the kiosk is just closing.
const POOL_IDLE: Duration = Duration::from_secs(30);
pub const KIOSK_KEEP_ALIVE: Duration = Duration::from_secs(60);
/// After a failed `accept` (out of descriptors, say), wait before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// One listener's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at once.
    pub max: usize,
    /// Open connections from one address; `None` for no cap of its own.
    pub per_peer: Option<usize>,
    /// From the first byte awaited to the end of a request's headers,
    /// idle keep-alive included.
    pub headers: Duration,
    /// The longest silence inside a request body.
    pub body_idle: Duration,
    /// The longest a whole request body may take.
    pub body_total: Duration,
    /// The most of a body passed on to the kiosk, which reads no more.
    pub bodies: BodyCaps,
}

/// Connections per address, and the guard that gives one back.
#[derive(Default)]
struct Peers(Mutex<HashMap<IpAddr, usize>>);

struct PeerSlot {
    peers: Arc<Peers>,
    ip: IpAddr,
}

impl Peers {
    /// A slot for `ip`, or `None` when it already holds `cap`.
    fn enter(self: &Arc<Self>, ip: IpAddr, cap: Option<usize>) -> Option<PeerSlot> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if cap.is_some_and(|cap| *n >= cap) {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            peers: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut map = self.peers.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Whether a peer is this box's own loopback address, where a tunnel's
/// connections come from.
fn is_local_tunnel(ip: IpAddr) -> bool {
    ip == IpAddr::V4(Ipv4Addr::LOCALHOST) || ip == IpAddr::V6(Ipv6Addr::LOCALHOST)
}

/// Serves `listener` until `shutdown` turns true, passing requests to
/// `backend`.
pub async fn serve(
    listener: TcpListener,
    backend: SocketAddr,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let open = Arc::new(Semaphore::new(limits.max));
    let peers = Arc::new(Peers::default());
    let lingering = Arc::new(Semaphore::new(LINGERING));
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, ProxyBody> = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .build(connector);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&open).acquire_owned() => p.ok(),
            _ = shutdown.wait_for(|s| *s) => None,
        };
        let Some(permit) = permit else { break };
        let accepted = tokio::select! {
            a = listener.accept() => Some(a),
            _ = shutdown.wait_for(|s| *s) => None,
        };
        let Some(accepted) = accepted else { break };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let cap = if is_local_tunnel(peer.ip()) {
            None
        } else {
            limits.per_peer
        };
        let Some(slot) = peers.enter(peer.ip(), cap) else {
            refuse(stream, &lingering);
            continue;
        };
        let (client, shutdown, tls) = (client.clone(), shutdown.clone(), tls.clone());
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let to = Backend {
                addr: backend,
                peer: peer.ip(),
                client,
                limits,
            };
            match tls {
                None => connection(stream, to, shutdown).await,
                Some(tls) => secure(stream, tls, to, shutdown).await,
            }
            drop((slot, permit));
        });
    }
    // Every connection ends (each is told to, and given SHUTDOWN_GRACE),
    // then the pool of loopback connections goes with the last client:
    // Rocket, stopped after this, then has no open connection to wait for.
    let all = u32::try_from(limits.max).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(
        SHUTDOWN_GRACE + Duration::from_secs(1),
        open.acquire_many(all),
    )
    .await;
    drop(client);
}

/// Answers a peer over its cap. Closing a socket with the peer's request
/// unread would reset it before the answer arrives, so the rest is read
/// and dropped for a moment, by a bounded number of such tasks.
fn refuse(stream: TcpStream, lingering: &Arc<Semaphore>) {
    let _ = stream.try_write(
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\
          content-length: 35\r\nconnection: close\r\n\r\ntoo many connections from this peer",
    );
    let Ok(permit) = Arc::clone(lingering).try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = stream;
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 4096];
        let drain = async {
            let mut left = LINGER_BYTES;
            while left > 0 {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => left = left.saturating_sub(n),
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, drain).await;
        drop(permit);
    });
}

/// Where a connection's requests go, and for whom.
#[derive(Clone)]
struct Backend {
    addr: SocketAddr,
    peer: IpAddr,
    client: Client<HttpConnector, ProxyBody>,
    limits: Limits,
}

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// A connection to a TLS listener: a handshake within the header
/// deadline, then HTTP inside it; plain HTTP gets its answer instead.
async fn secure(stream: TcpStream, tls: TlsAcceptor, to: Backend, shutdown: watch::Receiver<bool>) {
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(to.limits.headers, stream.peek(&mut first)).await;
    if !matches!(peeked, Ok(Ok(1))) {
        return;
    }
    if first[0] != TLS_HANDSHAKE {
        return plain_http(stream, to.limits, shutdown).await;
    }
    match tokio::time::timeout(to.limits.headers, tls.accept(stream)).await {
        Ok(Ok(stream)) => connection(stream, to, shutdown).await,
        Ok(Err(e)) => tracing::debug!("TLS handshake from {} failed: {e}", to.peer),
        Err(_) => tracing::debug!("TLS handshake from {} timed out", to.peer),
    }
}

async fn connection<S>(stream: S, to: Backend, mut shutdown: watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let limits = to.limits;
    let service = hyper::service::service_fn(move |req| {
        let to = to.clone();
        async move { Ok::<_, Infallible>(forward(&to, req).await) }
    });
    serve_http(stream, service, limits, &mut shutdown).await;
}

/// One HTTP/1.1 connection with the header deadline, ended gracefully at
/// shutdown.
async fn serve_http<S, F>(
    stream: S,
    service: F,
    limits: Limits,
    shutdown: &mut watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: hyper::service::Service<
        Request<Incoming>,
        Response = Response<ProxyBody>,
        Error = Infallible,
    >,
    F::Future: Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.headers)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let stopping = tokio::select! {
        _ = conn.as_mut() => false,
        _ = shutdown.wait_for(|s| *s) => true,
    };
    if stopping {
        conn.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
    }
}

/// Plain HTTP on the TLS listener: each request is answered, never
/// passed on, and the connection closed.
async fn plain_http(stream: TcpStream, limits: Limits, mut shutdown: watch::Receiver<bool>) {
    let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
        Ok::<_, Infallible>(https_only(req.method(), req.headers(), req.uri()))
    });
    serve_http(stream, service, limits, &mut shutdown).await;
}

const HTTPS_ONLY: &str = "This is the SmileLoop staff page, and it speaks HTTPS only: \
    open it with https:// in front of the address.\n";

/// The answer to a plain-HTTP request on the TLS listener: a page read
/// (GET, HEAD) is sent to its `https://` address, anything else refused;
/// both say why in words.
fn https_only(method: &http::Method, headers: &HeaderMap, uri: &Uri) -> Response<ProxyBody> {
    let target = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok())
        .and_then(|host| {
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            Uri::builder()
                .scheme("https")
                .authority(host)
                .path_and_query(path)
                .build()
                .ok()
        })
        .filter(|_| method == http::Method::GET || method == http::Method::HEAD);
    let mut resp = plain(StatusCode::BAD_REQUEST, HTTPS_ONLY);
    if let Some(Ok(location)) = target.map(|t| HeaderValue::from_str(&t.to_string())) {
        *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
        resp.headers_mut().insert(header::LOCATION, location);
    }
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Hop-by-hop headers, which belong to one connection and are not passed on.
const HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

fn strip_hop(headers: &mut HeaderMap) {
    // Headers the Connection header names are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for name in named.iter().chain(HOP.iter()) {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}

async fn forward(to: &Backend, req: Request<Incoming>) -> Response<ProxyBody> {
    let Backend {
        addr: backend,
        peer,
        ref client,
        limits,
    } = *to;
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    parts.uri = match Uri::builder()
        .scheme("http")
        .authority(backend.to_string())
        .path_and_query(path)
        .build()
    {
        Ok(uri) => uri,
        Err(_) => return plain(StatusCode::BAD_REQUEST, "bad request target"),
    };
    parts.version = Version::HTTP_11;
    strip_hop(&mut parts.headers);
    parts.headers.remove(PEER_HEADER);
    if let Ok(v) = HeaderValue::from_str(&peer.to_string()) {
        parts.headers.insert(PEER_HEADER, v);
    }
    let cap = limits.bodies.for_type(
        parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    let body = Deadlines::new(body, limits.body_idle, limits.body_total);
    let body = Capped::new(body, cap, ANSWER_WAIT).boxed();
    match client.request(Request::from_parts(parts, body)).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            strip_hop(&mut parts.headers);
            Response::from_parts(parts, body.map_err(BoxError::from).boxed())
        }
        Err(e) => {
            tracing::debug!("forwarding to {backend} failed: {e}");
            match body::failure(&e) {
                Failure::Slow => plain(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body came too slowly",
                ),
                Failure::TooLarge => plain(StatusCode::PAYLOAD_TOO_LARGE, "that is too large"),
                Failure::Refused => {
                    plain(StatusCode::BAD_REQUEST, "the kiosk refused this request")
                }
                Failure::Other => plain(StatusCode::BAD_GATEWAY, "the kiosk could not answer"),
            }
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<ProxyBody> {
    let mut resp = Response::new(
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Descriptors one proxied connection holds: the client's socket and
/// both ends of the loopback hop to Rocket.
const FDS_PER_CONNECTION: u64 = 3;
/// Descriptors kept for everything else: the store, rendered files,
/// GStreamer, the camera, the models.
const FDS_RESERVED: u64 = 256;

/// Raises the soft open-file limit to the hard one (systemd's default
/// soft limit of 1,024 is far below what a hard limit allows) and returns
/// the limit in force.
pub fn raise_nofile() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    if limit.current.is_some() && limit.current != limit.maximum {
        limit.current = limit.maximum;
        if setrlimit(Resource::Nofile, limit).is_ok() {
            return limit.current.unwrap_or(u64::MAX);
        }
    }
    soft
}

/// The connection caps `[kiosk, guest, admin]` that fit `nofile`
/// descriptors: the kiosk's as asked (the screen and the watchdog need
/// them), guest and admin shrunk in proportion when the rest would not
/// fit, never below 8 each.
pub fn fit_caps(want: [usize; 3], nofile: u64) -> [usize; 3] {
    let [kiosk, guest, admin] = want;
    let per = FDS_PER_CONNECTION as usize;
    let room = (nofile.saturating_sub(FDS_RESERVED) as usize) / per;
    let room = room.saturating_sub(kiosk);
    if guest + admin <= room {
        return want;
    }
    let scale = |n: usize| (n * room / (guest + admin)).max(8);
    [kiosk, scale(guest), scale(admin)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_shrink_to_the_descriptors_there_are_but_the_kiosk_keeps_its_own() {
        assert_eq!(fit_caps([64, 256, 64], 65_536), [64, 256, 64]);
        let [k, g, a] = fit_caps([64, 256, 64], 1024);
        assert_eq!(k, 64);
        assert!(g > a && g >= 8 && a >= 8, "{g} {a}");
        assert!((k + g + a) as u64 * FDS_PER_CONNECTION + FDS_RESERVED <= 1024);
        assert_eq!(fit_caps([64, 256, 64], 100), [64, 8, 8]);
    }

    #[test]
    fn a_peer_gets_its_cap_and_no_more_and_slots_come_back() {
        let peers = Arc::new(Peers::default());
        let ip: IpAddr = "10.0.0.7".parse().expect("ip");
        let held: Vec<_> = (0..3).map(|_| peers.enter(ip, Some(3))).collect();
        assert!(held.iter().all(Option::is_some));
        assert!(peers.enter(ip, Some(3)).is_none());
        let other: IpAddr = "10.0.0.8".parse().expect("ip");
        assert!(peers.enter(other, Some(3)).is_some(), "caps are per peer");
        drop(held);
        assert!(peers.enter(ip, Some(3)).is_some());
        assert!(peers.0.lock().expect("lock").len() <= 1, "empty entries go");
    }

    #[test]
    fn only_this_box_itself_is_a_tunnel() {
        assert!(is_local_tunnel("127.0.0.1".parse().expect("ip")));
        assert!(is_local_tunnel("::1".parse().expect("ip")));
        assert!(!is_local_tunnel("127.0.0.2".parse().expect("ip")));
        assert!(!is_local_tunnel("192.168.1.20".parse().expect("ip")));
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("close, x-hop"));
        h.insert("x-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::HOST, HeaderValue::from_static("kiosk"));
        strip_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key(header::HOST));
    }
}
