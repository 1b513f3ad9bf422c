//! `smileloop selftest`: is this box ready for guests? Each check answers
//! in an operator's words, with a fix where there is one. The same checks
//! run inside the kiosk (`GET /api/selftest` on the admin listener, from
//! the box itself) so they can look at the camera and the store the
//! running kiosk holds; when no kiosk runs, the command starts one for
//! the duration of the test.

pub mod checks;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::state::Shared;

pub use checks::{clock_verdict, disk_verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    /// Works, but not as it should at an event (a fallback, a test camera).
    Warn,
    /// Not ready for guests.
    Fail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub level: Level,
    /// One sentence: what was found, and the fix when it is not OK.
    pub message: String,
    /// The check's figure, when it measures one (fps, ms/frame, bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

impl Check {
    pub fn new(name: &str, level: Level, message: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            level,
            message: message.into(),
            value: None,
            unit: None,
        }
    }

    pub fn with_value(mut self, value: f64, unit: &str) -> Self {
        self.value = Some(value);
        self.unit = Some(unit.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// True when no check failed: the only case `selftest` exits 0.
    pub ready: bool,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn from_checks(checks: Vec<Check>) -> Self {
        Report {
            ready: checks.iter().all(|c| c.level != Level::Fail),
            checks,
        }
    }

    /// The report for a terminal.
    pub fn text(&self) -> String {
        let mut out = String::from("SmileLoop self-test\n");
        for c in &self.checks {
            let tag = match c.level {
                Level::Ok => "ok  ",
                Level::Warn => "WARN",
                Level::Fail => "FAIL",
            };
            out.push_str(&format!("  {tag}  {:<11} {}\n", c.name, c.message));
        }
        let failed = self
            .checks
            .iter()
            .filter(|c| c.level == Level::Fail)
            .count();
        if failed == 0 {
            out.push_str("Ready for guests.\n");
        } else {
            out.push_str(&format!(
                "NOT READY: {failed} problem{} to fix (above).\n",
                if failed == 1 { "" } else { "s" }
            ));
        }
        out
    }
}

/// What the operator may pass in.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A portrait to time the animator with (else a preset sample's poster).
    pub photo: Option<std::path::PathBuf>,
}

/// Runs every check against a started kiosk. Never panics or hangs: each
/// check has its own time limit.
pub async fn run(app: Arc<Shared>, options: Options) -> Report {
    let limit = |d: u64| Duration::from_secs(d);
    let camera = checks::camera(&app);
    let encoder = checks::encoder(Arc::clone(&app));
    let checks = vec![
        timed("camera", limit(15), camera).await,
        timed(
            "animator",
            limit(180),
            checks::animator(Arc::clone(&app), options.photo),
        )
        .await,
        timed("encoder", limit(60), encoder).await,
        checks::disk(&app),
        checks::admin_https(&app),
        timed("printer", limit(30), checks::printer(&app)).await,
        timed("clock", limit(10), checks::clock()).await,
        timed("stripe", limit(20), checks::stripe(&app)).await,
        timed("public_url", limit(15), checks::public_url(&app)).await,
    ];
    let report = Report::from_checks(checks);
    for c in &report.checks {
        tracing::info!(check = %c.name, level = ?c.level, "selftest: {}", c.message);
    }
    report
}

async fn timed(
    name: &str,
    limit: Duration,
    check: impl std::future::Future<Output = Check>,
) -> Check {
    match tokio::time::timeout(limit, check).await {
        Ok(c) => c,
        Err(_) => Check::new(
            name,
            Level::Fail,
            format!("no answer within {} s", limit.as_secs()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_without_failures_and_the_text_says_so() {
        let ok = Check::new("camera", Level::Ok, "USB camera: 30 fps").with_value(30.0, "fps");
        let warn = Check::new("animator", Level::Warn, "fallback in use");
        let fail = Check::new("clock", Level::Fail, "not synchronised");
        let r = Report::from_checks(vec![ok.clone(), warn.clone()]);
        assert!(r.ready);
        assert!(r.text().ends_with("Ready for guests.\n"), "{}", r.text());
        let r = Report::from_checks(vec![ok, warn, fail]);
        assert!(!r.ready);
        let text = r.text();
        assert!(text.contains("FAIL  clock"), "{text}");
        assert!(text.contains("NOT READY: 1 problem "), "{text}");
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["ready"], false);
        assert_eq!(json["checks"][0]["value"], 30.0);
        assert_eq!(json["checks"][2]["level"], "fail");
        assert!(json["checks"][1].get("value").is_none());
    }
}
