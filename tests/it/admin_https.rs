//! The admin listener's HTTPS through the real server: the certificate
//! the box made for itself, read independently by `openssl`; a client
//! that trusts that certificate alone; plain HTTP told where to go; the
//! session cookie kept to HTTPS; the same certificate after a restart.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

fn cert_path(data: &std::path::Path) -> std::path::PathBuf {
    data.join("tls").join(smileloop::admin::tls::CERT_FILE)
}

/// The SHA-256 fingerprint as `openssl x509` reads it from the file.
fn openssl_fingerprint(cert: &std::path::Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .rsplit('=')
        .next()
        .expect("a fingerprint")
        .to_string()
}

/// One raw plain-HTTP exchange, the whole answer.
fn plain(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer)
        .expect("an answer, not a hang");
    answer
}

#[test]
fn the_staff_page_speaks_https_with_a_certificate_made_once_on_the_box() {
    let server = Server::start(|_| {});
    let port: u16 = server
        .admin
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let cert = cert_path(server.dir.path());
    let fingerprint = server.shared().admin_fingerprint.clone();
    assert_eq!(openssl_fingerprint(&cert), fingerprint);

    // A client that trusts this certificate alone reaches the page by
    // its IP address name, and gets cookies kept to HTTPS.
    let pinned = ureq::AgentBuilder::new()
        .tls_config(smileloop::admin::tls::pinned_client(server.dir.path()).expect("pinned"))
        .timeout(Duration::from_secs(30))
        .build();
    let page = pinned
        .get(&format!("https://127.0.0.1:{port}/admin/setup"))
        .call()
        .expect("the pinned certificate is accepted");
    assert_eq!(page.status(), 200);
    let cookies = page.all("Set-Cookie");
    assert!(!cookies.is_empty());
    for c in cookies {
        assert!(c.contains("Secure"), "{c}");
        assert!(c.contains("HttpOnly"), "{c}");
    }
    // A client that trusts the usual public CAs does not.
    let public = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let refused = public
        .get(&format!("https://127.0.0.1:{port}/admin/setup"))
        .call();
    assert!(
        matches!(refused, Err(ureq::Error::Transport(_))),
        "{refused:?}"
    );

    // Plain HTTP gets an answer in words: a page is sent to its https://
    // address, a form post refused; neither reaches the admin pages.
    let get = plain(
        port,
        &format!("GET /admin/login?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"),
    );
    assert!(get.starts_with("HTTP/1.1 308"), "{get}");
    assert!(
        get.to_ascii_lowercase().contains(&format!(
            "location: https://127.0.0.1:{port}/admin/login?x=1"
        )),
        "{get}"
    );
    assert!(get.contains("HTTPS only"), "{get}");
    let post = plain(
        port,
        "POST /admin/login HTTP/1.1\r\nHost: kiosk\r\nContent-Length: 11\r\n\r\npassword=x&",
    );
    assert!(post.starts_with("HTTP/1.1 400"), "{post}");
    assert!(post.contains("HTTPS only"), "{post}");

    // Metrics stay scrapeable over HTTPS.
    let (status, body) = get_text(&format!("{}/metrics", server.admin));
    assert_eq!(status, 200, "{body}");

    // A restart serves the same certificate: staff compare it once.
    let dir = server.stop();
    let s = settings(dir.path());
    let again = Server::start_with(dir, s);
    assert_eq!(again.shared().admin_fingerprint, fingerprint);
    assert_eq!(
        openssl_fingerprint(&cert_path(again.dir.path())),
        fingerprint
    );
}

fn get_text(url: &str) -> (u16, String) {
    let (s, b) = get(url);
    (s, String::from_utf8_lossy(&b).into_owned())
}
