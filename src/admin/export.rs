//! The jobs-and-payments CSV for the venue's books: one row per job
//! created in the range, plus one per payment of a job deleted since (the
//! ledger). RFC 4180 quoting by the `csv` crate; no guest images, no
//! tokens.

use crate::jobs::{Job, JobId, Payment};

pub const HEADER: [&str; 10] = [
    "time_utc",
    "job",
    "preset",
    "status",
    "amount",
    "currency",
    "unlock",
    "unlock_note",
    "payment_session",
    "cards_printed",
];

/// Unix milliseconds as RFC 3339 UTC, second precision.
pub fn utc(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// An amount in minor units as a decimal ("7.99", "800" for JPY).
pub fn amount(minor: i64, currency: &str) -> String {
    crate::money::format_minor(minor, currency)
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a
/// tab or carriage return before one) is prefixed with `'`, which shows it
/// as the text it is (OWASP's advice on CSV injection). Staff notes are
/// typed by staff, but a note pasted from anywhere must stay text.
pub fn inert(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// Jobs created in `[from_ms, to_ms)` and ledger payments recorded in it;
/// `printed` is each job's printed card copies.
pub fn csv(
    jobs: &[Job],
    ledger: &[(JobId, Payment)],
    printed: &std::collections::HashMap<JobId, u32>,
    from_ms: i64,
    to_ms: i64,
) -> Result<String, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(vec![]);
    w.write_record(HEADER)?;
    let in_range = |t: i64| t >= from_ms && t < to_ms;
    let mut rows: Vec<(i64, [String; 10])> = vec![];
    for j in jobs.iter().filter(|j| in_range(j.created_at)) {
        let (amount_s, currency, session) = match (&j.payment, &j.price) {
            (Some(p), _) => (
                amount(p.amount_cents, &p.currency),
                p.currency.clone(),
                p.session_id.clone(),
            ),
            _ => (String::new(), String::new(), String::new()),
        };
        let unlock = j
            .unlock
            .map(|u| serde_json::to_value(u).ok())
            .and_then(|v| v.and_then(|v| v.as_str().map(str::to_string)))
            .unwrap_or_default();
        rows.push((
            j.created_at,
            [
                utc(j.created_at),
                j.id.to_string(),
                j.preset.to_string(),
                j.status.to_string(),
                amount_s,
                currency,
                unlock,
                j.unlock_note.clone().unwrap_or_default(),
                session,
                printed.get(&j.id).copied().unwrap_or(0).to_string(),
            ],
        ));
    }
    for (id, p) in ledger.iter().filter(|(_, p)| in_range(p.recorded_at)) {
        // A ledger entry of a job still here is money through a session
        // the kiosk did not open for it (the job is flagged for staff).
        let status = if jobs.iter().any(|j| j.id == *id) {
            "foreign_session"
        } else {
            "deleted"
        };
        rows.push((
            p.recorded_at,
            [
                utc(p.recorded_at),
                id.to_string(),
                String::new(),
                status.into(),
                amount(p.amount_cents, &p.currency),
                p.currency.clone(),
                "paid".into(),
                String::new(),
                p.session_id.clone(),
                String::new(),
            ],
        ));
    }
    rows.sort_by_key(|(t, _)| *t);
    for (_, row) in rows {
        w.write_record(row.map(inert))?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{Status, UnlockReason};

    #[test]
    fn amounts_and_times_read_like_money_and_dates() {
        assert_eq!(amount(799, "usd"), "7.99");
        assert_eq!(amount(5, "eur"), "0.05");
        assert_eq!(amount(800, "jpy"), "800");
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_764_000_000_123), "2025-11-24T16:00:00Z");
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_made_inert() {
        for bad in ["=1+1", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(inert(bad.into()), format!("'{bad}"));
        }
        assert_eq!(inert("cash at the bar".into()), "cash at the bar");
        assert_eq!(inert("7.99".into()), "7.99");
        let mut job = Job::new(
            "soft_smile".parse().expect("preset id"),
            "source.jpg",
            1_000,
        );
        job.unlock_note = Some("=HYPERLINK(\"http://x\")".into());
        let out = csv(&[job], &[], &Default::default(), 0, 2_000).expect("csv");
        let mut r = csv::Reader::from_reader(out.as_bytes());
        let row = r.records().next().expect("row").expect("parse");
        assert_eq!(&row[7], "'=HYPERLINK(\"http://x\")");
    }

    #[test]
    fn notes_with_commas_quotes_and_newlines_are_quoted() {
        let mut job = Job::new(
            "soft_smile".parse().expect("preset id"),
            "source.jpg",
            1_000,
        );
        job.status = Status::Unlocked;
        job.unlock = Some(UnlockReason::StaffCash);
        job.unlock_note = Some("paid \"8\", at the bar\nthanks".into());
        let out = csv(
            std::slice::from_ref(&job),
            &[],
            &Default::default(),
            0,
            2_000,
        )
        .expect("csv");
        let mut r = csv::Reader::from_reader(out.as_bytes());
        let rows: Vec<csv::StringRecord> = r.records().collect::<Result<_, _>>().expect("parse");
        assert_eq!(rows.len(), 1);
        assert_eq!(&rows[0][6], "staff_cash");
        assert_eq!(&rows[0][7], "paid \"8\", at the bar\nthanks");
        assert!(out.contains("\"paid \"\"8\"\", at the bar"));
        assert!(out.ends_with("\r\n"));
        let none = csv(&[job], &[], &Default::default(), 2_000, 3_000).expect("csv");
        assert_eq!(none.lines().count(), 1, "only the header: {none}");
    }
}
