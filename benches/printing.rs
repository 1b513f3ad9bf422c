//! `cargo bench --bench printing`: from the guest's tap on "Print my card"
//! to the printer accepting the job (Print-Job answered), and the size of
//! the document, for each format the simulated printer (`ippeveprinter`,
//! 4 × 6 in at 300 dpi) takes; 5 cards each. Figures only.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::time::Duration;

use common::printer::{until, Model, Printer};
use common::*;
use smileloop::config::{Backend, PrintWhen};
use smileloop::print::PrintState;

const CARDS: usize = 5;

fn main() {
    println!("tap → accepted by the printer, and the document, {CARDS} cards per format:");
    for formats in ["image/pwg-raster", "image/urf", "image/jpeg"] {
        let printer = Printer::start(Model {
            formats,
            print_seconds: 0.2,
        });
        let uri = printer.uri();
        let server = Server::start(move |s| {
            s.animator = Backend::Gentle;
            s.printer_uri = uri;
            s.print_when = PrintWhen::OnRequest;
            s.print_limit = 20;
        });
        let (s, created) = upload(
            &server.kiosk,
            &photo("grace_hopper.jpg"),
            "g.jpg",
            "soft_smile",
        );
        assert_eq!(s, 201, "{created}");
        let id = created["job_id"].as_str().expect("id").to_string();
        wait_status(&server.kiosk, &id, "preview_ready");
        let printing = &server.shared().printing;
        until(Duration::from_secs(30), "printer ready", || {
            printing.view().can_print
        });
        let mut ms = Vec::new();
        let mut bytes = 0;
        let mut render = Vec::new();
        for n in 1..=CARDS {
            let (s, body) = raw_post(
                &format!("{}/api/jobs/{id}/print", server.kiosk),
                "application/json",
                vec![],
            );
            assert_eq!(s, 202, "{body}");
            until(Duration::from_secs(60), "printed", || {
                printing
                    .queue()
                    .all()
                    .expect("prints")
                    .iter()
                    .filter(|r| r.state == PrintState::Printed)
                    .count()
                    == n
            });
            let report = printing.last_send().expect("a card was sent");
            ms.push(report.request_to_accepted_ms as f64);
            render.push(report.render_ms as f64);
            bytes = report.bytes;
        }
        ms.sort_by(f64::total_cmp);
        render.sort_by(f64::total_cmp);
        println!(
            "  {formats:<17} median {:>5.0} ms (min {:.0}, max {:.0}; card made and encoded in {:.0} ms median), {:.2} MB",
            ms[ms.len() / 2],
            ms[0],
            ms[ms.len() - 1],
            render[render.len() / 2],
            bytes as f64 / 1e6
        );
    }
}
