//! A local stand-in for the parts of Stripe's API the kiosk uses, speaking
//! the same shapes: form-encoded `POST /v1/checkout/sessions` (kept for the
//! test to check field by field, answered once per idempotency key),
//! `GET /v1/checkout/sessions/{id}`, and a hosted "checkout page" at
//! `/pay/{id}` that a browser can pay on; any secret key but [`SECRET_KEY`]
//! gets Stripe's 401. Webhook events are signed with
//! Stripe's documented scheme by [`FakeStripe::signed_event`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

pub const SECRET_KEY: &str = "sk_test_smileloop";
pub const WEBHOOK_SECRET: &str = "whsec_smileloop_test";

#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub form: HashMap<String, String>,
    pub idempotency_key: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, Value>,
    by_key: HashMap<String, String>,
    creates: Vec<CreateRequest>,
    /// Session ids asked about (`GET /v1/checkout/sessions/{id}`), in order.
    retrieved: Vec<String>,
    offline: bool,
}

pub struct FakeStripe {
    pub base: String,
    state: Arc<Mutex<State>>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeStripe {
    pub fn start() -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let port = server.server_addr().to_ip().expect("ip").port();
        let base = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(State::default()));
        let thread = {
            let (server, state, base) = (Arc::clone(&server), Arc::clone(&state), base.clone());
            std::thread::spawn(move || {
                for req in server.incoming_requests() {
                    handle(req, &state, &base);
                }
            })
        };
        Self {
            base,
            state,
            server,
            thread: Some(thread),
        }
    }

    /// The session ids the kiosk asked Stripe about, in order.
    pub fn retrieved(&self) -> Vec<String> {
        self.state.lock().expect("lock").retrieved.clone()
    }

    pub fn creates(&self) -> Vec<CreateRequest> {
        self.state.lock().expect("lock").creates.clone()
    }

    pub fn session(&self, id: &str) -> Value {
        self.state.lock().expect("lock").sessions[id].clone()
    }

    /// While offline, every API call answers 503 with Stripe's `api_error`
    /// shape (what Stripe sends during an outage).
    pub fn set_offline(&self, offline: bool) {
        self.state.lock().expect("lock").offline = offline;
    }

    /// Marks a session complete and paid, with `amount` (default: what was
    /// asked), as Stripe does when the guest pays.
    pub fn pay(&self, id: &str, amount: Option<i64>) -> Value {
        let mut st = self.state.lock().expect("lock");
        let s = st.sessions.get_mut(id).expect("session exists");
        s["status"] = json!("complete");
        s["payment_status"] = json!("paid");
        if let Some(a) = amount {
            s["amount_total"] = json!(a);
        }
        s.clone()
    }

    /// A webhook event for `session`, signed at `timestamp` with `secret`.
    pub fn signed_event(
        kind: &str,
        session: &Value,
        secret: &str,
        timestamp: i64,
    ) -> (Vec<u8>, String) {
        let body = serde_json::to_vec(&json!({
            "id": format!("evt_{}", session["id"].as_str().unwrap_or("x")),
            "object": "event",
            "type": kind,
            "created": timestamp,
            "livemode": false,
            "data": {"object": session},
        }))
        .expect("json");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(&body);
        let sig = hex::encode(mac.finalize().into_bytes());
        (body, format!("t={timestamp},v1={sig}"))
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn respond(req: tiny_http::Request, status: u16, body: &Value) {
    let header = tiny_http::Header::from_bytes("Content-Type", "application/json").expect("hdr");
    let res = tiny_http::Response::from_string(body.to_string())
        .with_status_code(status)
        .with_header(header);
    let _ = req.respond(res);
}

fn header(req: &tiny_http::Request, name: &str) -> Option<String> {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.to_string())
}

fn handle(mut req: tiny_http::Request, state: &Mutex<State>, base: &str) {
    let mut body = String::new();
    let _ = std::io::Read::read_to_string(req.as_reader(), &mut body);
    let url = req.url().to_string();
    let path = url.split('?').next().unwrap_or("").to_string();
    let method = req.method().as_str().to_string();
    if state.lock().expect("lock").offline && path.starts_with("/v1/") {
        return respond(
            req,
            503,
            &json!({"error": {"type": "api_error", "message": "Service unavailable"}}),
        );
    }
    // Like Stripe, any other secret key is refused before anything else.
    let bearer = header(&req, "Authorization");
    if path.starts_with("/v1/") && bearer.as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
        return respond(
            req,
            401,
            &json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}),
        );
    }
    match (method.as_str(), path.as_str()) {
        ("POST", "/v1/checkout/sessions") => {
            let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
            let key = header(&req, "Idempotency-Key");
            let mut st = state.lock().expect("lock");
            st.creates.push(CreateRequest {
                form: form.clone(),
                idempotency_key: key.clone(),
                authorization: header(&req, "Authorization"),
            });
            if let Some(existing) = key.as_ref().and_then(|k| st.by_key.get(k)).cloned() {
                let s = st.sessions[&existing].clone();
                drop(st);
                return respond(req, 200, &s);
            }
            let id = format!("cs_test_{}", st.sessions.len() + 1);
            let s = session_object(&id, &form, base);
            st.sessions.insert(id.clone(), s.clone());
            if let Some(k) = key {
                st.by_key.insert(k, id);
            }
            drop(st);
            respond(req, 200, &s);
        }
        ("GET", p) if p.starts_with("/v1/checkout/sessions/") => {
            let id = &p["/v1/checkout/sessions/".len()..];
            let s = {
                let mut st = state.lock().expect("lock");
                st.retrieved.push(id.to_string());
                st.sessions.get(id).cloned()
            };
            match s {
                Some(s) => respond(req, 200, &s),
                None => respond(
                    req,
                    404,
                    &json!({"error": {"type": "invalid_request_error", "message": "No such checkout.session"}}),
                ),
            }
        }
        // The hosted page: a form that pays and returns to success_url.
        ("GET", p) if p.starts_with("/pay/") => {
            let id = &p["/pay/".len()..];
            let html = format!(
                "<!doctype html><html><body><h1>Fake Checkout</h1>\
                 <form method=post action=/pay/{id}><button id=pay-now>Pay</button></form></body></html>"
            );
            let h = tiny_http::Header::from_bytes("Content-Type", "text/html").expect("hdr");
            let _ = req.respond(tiny_http::Response::from_string(html).with_header(h));
        }
        ("POST", p) if p.starts_with("/pay/") => {
            let id = p["/pay/".len()..].to_string();
            let mut st = state.lock().expect("lock");
            let Some(s) = st.sessions.get_mut(&id) else {
                drop(st);
                return respond(req, 404, &json!({}));
            };
            s["status"] = json!("complete");
            s["payment_status"] = json!("paid");
            let back = s["success_url"]
                .as_str()
                .unwrap_or("")
                .replace("{CHECKOUT_SESSION_ID}", &id);
            drop(st);
            let h = tiny_http::Header::from_bytes("Location", back).expect("hdr");
            let _ = req.respond(tiny_http::Response::empty(303).with_header(h));
        }
        _ => respond(req, 404, &json!({"error": {"message": "no such route"}})),
    }
}

fn session_object(id: &str, form: &HashMap<String, String>, base: &str) -> Value {
    let f = |k: &str| form.get(k).cloned();
    let amount: i64 = f("line_items[0][price_data][unit_amount]")
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    json!({
        "id": id,
        "object": "checkout.session",
        "created": 1_700_000_000,
        "expires_at": f("expires_at").and_then(|e| e.parse::<i64>().ok()).unwrap_or(0),
        "livemode": false,
        "mode": "payment",
        "status": "open",
        "payment_status": "unpaid",
        "payment_method_types": ["card"],
        "custom_fields": [],
        "custom_text": {"after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null},
        "automatic_tax": {"enabled": false, "liability": null, "status": null, "provider": null},
        "shipping_options": [],
        "amount_total": amount,
        "amount_subtotal": amount,
        "currency": f("line_items[0][price_data][currency]"),
        "client_reference_id": f("client_reference_id"),
        "metadata": {"job_id": f("metadata[job_id]")},
        "success_url": f("success_url"),
        "cancel_url": f("cancel_url"),
        "url": format!("{base}/pay/{id}"),
    })
}

/// Waits up to `limit` for `pred`, polling every 50 ms.
pub fn eventually(limit: Duration, pred: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if pred() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
