//! Debian's Chromium, headless, driven over the DevTools protocol with a
//! plain WebSocket: enough to open pages, run script in them (clicks,
//! reads) and wait for a condition, as a guest's phone would.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

pub struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

fn chromium() -> String {
    for path in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if std::path::Path::new(path).exists() {
            return path.to_string();
        }
    }
    panic!("Chromium is missing: run `bash .ci/test`, whose setup installs Debian's chromium");
}

impl Browser {
    /// A phone-sized headless Chromium (390 × 844 CSS px, touch, mobile).
    pub fn phone() -> Self {
        let mut b = Self::launch();
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": true}),
        );
        b.call(
            "Emulation.setTouchEmulationEnabled",
            json!({"enabled": true}),
        );
        b
    }

    pub fn launch() -> Self {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new(chromium())
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--no-first-run",
                "--no-default-browser-check",
                "--mute-audio",
                "--remote-debugging-port=0",
                // Each kiosk makes its own certificate for the staff page.
                "--ignore-certificate-errors",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let browser_ws = loop {
            let line = lines
                .next()
                .expect("chromium printed its DevTools address")
                .expect("stderr line");
            if let Some(rest) = line.split("DevTools listening on ").nth(1) {
                break rest.trim().to_string();
            }
        };
        // Keep draining stderr so Chromium never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let port = browser_ws
            .trim_start_matches("ws://127.0.0.1:")
            .split('/')
            .next()
            .expect("port")
            .to_string();
        let list = ureq::get(&format!("http://127.0.0.1:{port}/json/list"))
            .call()
            .expect("target list")
            .into_string()
            .expect("body");
        let list: Value = serde_json::from_str(&list).expect("json");
        let page_ws = list
            .as_array()
            .and_then(|targets| targets.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_string();
        let (ws, _) = tungstenite::connect(page_ws).expect("DevTools socket");
        let mut b = Self {
            child,
            ws,
            next_id: 0,
            _profile: profile,
        };
        b.call("Page.enable", json!({}));
        b.call("Runtime.enable", json!({}));
        b
    }

    /// Sends one DevTools command and returns its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        match self.try_call(method, params) {
            Ok(v) => v,
            Err(e) => panic!("{method}: {e}"),
        }
    }

    /// Like [`Browser::call`], with DevTools' error as the `Err`.
    pub fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params});
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("send to Chromium");
        loop {
            let reply = self.ws.read().expect("read from Chromium");
            let Message::Text(text) = reply else { continue };
            let v: Value = serde_json::from_str(text.as_str()).expect("DevTools JSON");
            if v["id"] == id {
                return match v.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(v["result"].clone()),
                };
            }
        }
    }

    pub fn goto(&mut self, url: &str) {
        self.open(url);
        self.wait_for(
            &format!(
                "document.readyState === 'complete' && location.href.startsWith({})",
                json!(url.split('?').next().unwrap_or(url))
            ),
            Duration::from_secs(20),
        );
    }

    /// Opens `url` without waiting for it to finish loading: a page that
    /// shows a live stream (a render in progress) is loading while it runs.
    pub fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
    }

    /// A screen of `width` × `height` CSS pixels (the kiosk's touchscreen).
    pub fn screen(width: u32, height: u32) -> Self {
        let mut b = Self::launch();
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        b
    }

    /// Chooses `path` in the file input matching `selector` (as a guest
    /// picking a photo would; `change` fires).
    pub fn set_file(&mut self, selector: &str, path: &std::path::Path) {
        // Chromium reads the file later by path; a path with `..` in it
        // reports a size but fails to read.
        let path = path.canonicalize().expect("file exists");
        let root = self.call("DOM.getDocument", json!({}))["root"]["nodeId"].clone();
        let node = self.call(
            "DOM.querySelector",
            json!({"nodeId": root, "selector": selector}),
        )["nodeId"]
            .clone();
        self.call(
            "DOM.setFileInputFiles",
            json!({"nodeId": node, "files": [path.display().to_string()]}),
        );
    }

    /// Saves a PNG of the page under `target/screenshots/NAME.png`, for
    /// people to look at after a run.
    pub fn screenshot(&mut self, name: &str) -> std::path::PathBuf {
        use base64::Engine;
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshots dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Downloads land in `dir` instead of being refused.
    pub fn downloads_to(&mut self, dir: &std::path::Path) {
        self.call(
            "Page.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": dir.display().to_string()}),
        );
    }

    /// Evaluates `js` in the page; returns its value.
    pub fn eval(&mut self, js: &str) -> Value {
        let r = self.try_call(
            "Runtime.evaluate",
            json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
        );
        // A script that submits a form can lose its answer to the page's
        // navigation: it ran, and the caller waits for the next page.
        let r = match r {
            Ok(r) => r,
            Err(e) if navigated(&e) => return Value::Null,
            Err(e) => panic!("{js}: {e}"),
        };
        assert!(r.get("exceptionDetails").is_none(), "{js}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits until `condition` (script) is truthy, or panics with the page.
    pub fn wait_for(&mut self, condition: &str, limit: Duration) {
        let start = Instant::now();
        loop {
            let ok = self.try_call(
                "Runtime.evaluate",
                json!({"expression": format!("!!({condition})"), "returnByValue": true}),
            );
            match ok {
                Ok(ok) if ok["result"]["value"] == true => return,
                // Mid-navigation: ask again on the next page.
                Err(e) if !navigated(&e) => panic!("{condition}: {e}"),
                _ => {}
            }
            if start.elapsed() > limit {
                let html = self.eval("document.documentElement.outerHTML");
                let href = self.eval("location.href");
                let stacks = super::hang::thread_stacks();
                panic!("timed out waiting for {condition} at {href}: {html}\n{stacks}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// DevTools' answer when the page went away under a running script.
fn navigated(error: &Value) -> bool {
    let m = error["message"].as_str().unwrap_or_default();
    m.contains("navigated or closed") || m.contains("Cannot find context")
}
