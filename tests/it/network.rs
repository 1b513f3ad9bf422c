//! A hostile venue network against the real binary on loopback: floods of
//! half-sent requests on the guest and admin ports, one peer holding too
//! many connections, slow headers, a burst of wrong staff passwords from
//! one address and from many. Other loopback addresses (127.0.0.2, …)
//! stand in for other phones on the Wi-Fi. Counts and waits are bounded.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::kiosk::Kiosk;
use crate::common::net::*;
use crate::common::staff::Staff;
use crate::common::*;

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
        let from_other = exchange_secure(other, admin, get.to_vec())
            .await
            .expect("other");
        assert!(
            status_of(&from_other) < 500,
            "another phone is served: {from_other}"
        );
        drop(held);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again = exchange_secure(phone, admin, get.to_vec())
            .await
            .expect("again");
        assert!(
            status_of(&again) < 500,
            "the phone is served once it lets go: {again}"
        );
    });
    life.terminate();
}

#[test]
fn a_login_burst_gets_five_checks_memory_stays_flat_and_a_restart_forgets_nothing() {
    raise_own_nofile();
    let data = tempfile::tempdir().expect("tempdir");
    let life = start(data.path(), &[]);
    Staff::setup(&life.admin);
    let request = wrong_login_for(&life.admin);
    let admin = socket(&life.admin);
    let pid = life.child.id();
    let before = rss_kib(pid);

    let statuses = |from: Vec<IpAddr>| -> Vec<u16> {
        runtime().block_on(async {
            let tasks: Vec<_> = from
                .into_iter()
                .map(|ip| tokio::spawn(exchange_secure(ip, admin, request.clone())))
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                // A reset is a refusal too: past a peer's cap the edge
                // answers the first refused connections in plain HTTP (a
                // corrupt handshake to TLS) and resets the rest.
                out.push(match t.await.expect("task") {
                    Ok(answer) => status_of(&answer),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::InvalidData
                        ) =>
                    {
                        RESET
                    }
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
    let request = wrong_login_for(&life.admin);
    let rt = runtime();
    let sixth = rt
        .block_on(exchange_secure(phone, socket(&life.admin), request.clone()))
        .expect("answer");
    assert_eq!(status_of(&sixth), 401, "{sixth}");
    let seventh = rt
        .block_on(exchange_secure(phone, socket(&life.admin), request))
        .expect("answer");
    assert_eq!(status_of(&seventh), 429, "{seventh}");
    assert!(seventh.contains("Too many wrong passwords"), "{seventh}");
    life.terminate();
}

#[test]
fn a_flood_of_large_photos_from_phones_is_decoded_a_few_at_a_time() {
    let data = tempfile::tempdir().expect("tempdir");
    let life = start(data.path(), &[("SMILELOOP_CAMERA", "none")]);
    let big = big_png();
    let links = phone_links(&life.kiosk, 8);
    let pid = life.child.id();
    let before = rss_kib(pid);
    let kiosk = life.kiosk.clone();
    let (statuses, peak) = peak_rss_during(pid, || {
        // Three uploads into each of the eight links at once.
        let sends = upload_flood(&life.guest, &links, 3, &big);
        // The kiosk screen keeps answering meanwhile.
        for _ in 0..5 {
            assert_eq!(
                status_within(&kiosk, "/api/health", Duration::from_secs(1)),
                Some(200),
                "the kiosk's health during the flood"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        sends
            .into_iter()
            .map(|t| t.join().expect("upload thread"))
            .collect::<Vec<u16>>()
    });
    let delivered = statuses.iter().filter(|s| **s == 200).count();
    assert!(delivered >= 1, "some photos arrive: {statuses:?}");
    assert!(
        statuses.iter().all(|s| [200, 409, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&409),
        "a slot takes one upload at a time: {statuses:?}"
    );
    // Two decodes of 108 MB (and their copies) at a time, not 24.
    let grown_mib = peak.saturating_sub(before) / 1024;
    assert!(grown_mib < 800, "RSS grew {grown_mib} MiB during the flood");
    life.terminate();
}
