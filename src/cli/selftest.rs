//! `smileloop selftest`: asks the running kiosk for its self-test, or
//! starts one for the test when none runs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Settings;
use crate::{app, selftest, service};

pub(super) fn selftest(settings: Settings, json: bool, photo: Option<PathBuf>) -> ExitCode {
    // The kiosk may run as another user in another folder: send it a full path.
    let photo = photo.map(|p| std::fs::canonicalize(&p).unwrap_or(p));
    let report = rocket::execute(selftest_report(settings, photo));
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("smileloop: {e}"),
        }
    } else {
        print!("{}", report.text());
    }
    if report.ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn selftest_report(settings: Settings, photo: Option<PathBuf>) -> selftest::Report {
    use selftest::{Check, Level, Report};
    // A kiosk started with port 0 says where it listens in its data folder.
    let (kiosk, admin) = match service::Listening::read(&settings.data_dir) {
        Some(l) => (l.kiosk, l.admin),
        None => (
            SocketAddr::new(settings.address, settings.port),
            SocketAddr::new(settings.admin_address, settings.admin_port),
        ),
    };
    let kiosk = service::loopback_for(kiosk.ip(), kiosk.port());
    if kiosk.port() != 0 && service::http_ok(kiosk).await {
        // The running kiosk holds the camera and the store: it runs the checks.
        let admin = service::loopback_for(admin.ip(), admin.port());
        let mut url = format!("https://{admin}/api/selftest");
        if let Some(p) = &photo {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("photo", &p.to_string_lossy())
                .finish();
            url = format!("{url}?{query}");
        }
        let data_dir = settings.data_dir.clone();
        let asked = tokio::task::spawn_blocking(move || {
            // The kiosk's own certificate and no other: a self-test that
            // reaches it has also checked the certificate staff will see.
            let tls = crate::admin::tls::pinned_client(&data_dir).map_err(|e| e.to_string())?;
            let agent = ureq::AgentBuilder::new()
                .tls_config(tls)
                .timeout(std::time::Duration::from_secs(400))
                .build();
            agent
                .get(&url)
                .call()
                .map_err(|e| e.to_string())
                .and_then(|r| r.into_string().map_err(|e| e.to_string()))
                .and_then(|body| serde_json::from_str::<Report>(&body).map_err(|e| e.to_string()))
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        return asked.unwrap_or_else(|e| {
            Report::from_checks(vec![Check::new(
                "kiosk",
                Level::Fail,
                format!("the running kiosk answers on {kiosk} but its self-test on {admin} did not: {e}"),
            )])
        });
    }
    match app::start(settings).await {
        Err(e) => Report::from_checks(vec![Check::new("start", Level::Fail, e.to_string())]),
        Ok(running) => {
            let report = selftest::run(
                std::sync::Arc::clone(&running.shared),
                selftest::Options { photo },
            )
            .await;
            running.stop().await;
            report
        }
    }
}
