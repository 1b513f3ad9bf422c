//! `cargo bench --bench payments`: how soon the kiosk screen (real
//! Chromium on the kiosk page) shows "Paid" after a payment, over 50
//! payments per path: from the signed webhook's arrival, and from the
//! moment the local Stripe stand-in marks the session paid with no webhook
//! (the poller's path, `stripe_poll_ms` = 1000). Figures only.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::time::Duration;

use common::browser::Browser;
use common::stripe::{FakeStripe, SECRET_KEY, WEBHOOK_SECRET};
use common::Server;
use smileloop::clock::{Clock, SystemClock};
use smileloop::config::{EventMode, Secret};
use smileloop::jobs::{Job, Price, Status};

fn now_ms() -> i64 {
    SystemClock.wall_ms()
}

const PAYMENTS: usize = 50;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A job waiting for payment, as the worker leaves it (the screen needs no
/// video to show the QR and the payment state).
fn waiting_job(server: &Server) -> Job {
    let store = &server.shared().store;
    let mut job = Job::new(
        "soft_smile".parse().expect("preset id"),
        "source.jpg",
        now_ms(),
    );
    job.price = Some(Price {
        cents: 799,
        currency: "usd".into(),
    });
    store.insert_new(&job).expect("insert");
    for s in [Status::Queued, Status::Rendering, Status::PreviewReady] {
        store.transition(job.id, s, |_| {}).expect("advance");
    }
    job
}

fn run(webhook: bool) -> Vec<f64> {
    let stripe = FakeStripe::start();
    let server = Server::start(|s| {
        s.event_mode = EventMode::Paid;
        s.stripe_secret_key = Some(Secret::new(SECRET_KEY));
        s.stripe_webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
        s.stripe_api_base = stripe.base.clone();
        s.stripe_poll_ms = if webhook { 60_000 } else { 1000 };
    });
    let mut kiosk = Browser::screen(1280, 800);
    let no_redirects = ureq::AgentBuilder::new().redirects(0).build();
    let mut latencies = Vec::new();
    for n in 0..PAYMENTS {
        let job = waiting_job(&server);
        kiosk.goto(&format!("{}/?n={n}#job={}", server.kiosk, job.id));
        kiosk.wait_for(
            "!document.querySelector('#qr').hidden",
            Duration::from_secs(10),
        );
        // The page notes the moment "Paid" appears, on the same clock.
        kiosk.eval(
            "window.__paidAt = 0; new MutationObserver(() => { \
             if (!__paidAt && !document.querySelector('#paid-text').hidden) __paidAt = Date.now(); \
             }).observe(document.body, {subtree: true, attributes: true, childList: true});",
        );
        let res = no_redirects
            .post(&format!("{}/g/{}/pay", server.guest, job.token))
            .call()
            .expect("pay");
        let session = res
            .header("Location")
            .and_then(|l| l.rsplit('/').next())
            .expect("session")
            .to_string();
        let paid = stripe.pay(&session, None);
        let sent_ms = now_ms();
        if webhook {
            let (body, sig) = FakeStripe::signed_event(
                "checkout.session.completed",
                &paid,
                WEBHOOK_SECRET,
                sent_ms / 1000,
            );
            ureq::post(&format!("{}/api/stripe/webhook", server.guest))
                .set("Stripe-Signature", &sig)
                .set("Content-Type", "application/json")
                .send_bytes(&body)
                .expect("webhook accepted");
        }
        kiosk.wait_for("window.__paidAt > 0", Duration::from_secs(20));
        let at = kiosk.eval("window.__paidAt").as_f64().expect("time");
        latencies.push((at - sent_ms as f64) / 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}

fn main() {
    println!("{PAYMENTS} payments per path; seconds until the kiosk page shows Paid");
    println!("{:<10} {:>8} {:>8} {:>8}", "path", "median", "p99", "max");
    for (name, webhook) in [("webhook", true), ("poll", false)] {
        let l = run(webhook);
        println!(
            "{:<10} {:>8.2} {:>8.2} {:>8.2}",
            name,
            percentile(&l, 0.5),
            percentile(&l, 0.99),
            l[l.len() - 1]
        );
    }
}
