//! Print requests in the store (tree `prints`), so a restart loses none
//! and finds the ones already at the printer: each carries the printer's
//! job id once it has one, and a name unique to it that the printer's job
//! list is searched by when that id is not known (yet, or any more).

use serde::{Deserialize, Serialize};

use crate::jobs::{JobId, StoreError};

/// Who asked for a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requester {
    /// The guest's "Print my card": counts towards `print_limit`.
    Guest,
    Staff,
    /// `print_when` printed it by itself.
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrintState {
    /// Next to send.
    Waiting,
    /// Kept until the printer can print (out of paper, stopped, away).
    Held,
    /// Being sent: after a crash here the printer's job list says
    /// whether it arrived.
    Sending,
    /// At the printer (`ipp_job`), not yet printed.
    Sent,
    Printed,
    Failed,
    Canceled,
}

impl PrintState {
    /// Not yet printed, failed or canceled.
    pub fn open(self) -> bool {
        matches!(
            self,
            Self::Waiting | Self::Held | Self::Sending | Self::Sent
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrintRecord {
    pub id: u64,
    pub job: JobId,
    pub copies: u32,
    pub by: Requester,
    pub state: PrintState,
    /// The printer's job id once it took the card.
    pub ipp_job: Option<i32>,
    /// The document format sent, and its size.
    pub format: Option<String>,
    pub bytes: Option<u64>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub printed_at: Option<i64>,
    /// Sent again after the printer forgot it (it restarted mid-job).
    pub resent: u32,
    /// What happened, in words for staff.
    pub note: Option<String>,
}

impl PrintRecord {
    /// The `job-name` it has at the printer: unique, found again by it.
    pub fn ipp_name(&self) -> String {
        format!("smileloop-{}-{:x}", self.job, self.id)
    }
}

#[derive(Clone)]
pub struct PrintQueue {
    tree: sled::Tree,
}

impl PrintQueue {
    pub fn new(tree: sled::Tree) -> Self {
        Self { tree }
    }

    pub fn put(&self, rec: &PrintRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(rec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.tree.insert(rec.id.to_be_bytes(), bytes)?;
        self.tree.flush()?;
        Ok(())
    }

    pub fn get(&self, id: u64) -> Result<Option<PrintRecord>, StoreError> {
        match self.tree.get(id.to_be_bytes())? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Every record, oldest first. A record that does not decode is
    /// skipped (and logged), never a reason to stop printing the rest.
    pub fn all(&self) -> Result<Vec<PrintRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (k, v) = item?;
            match decode(&v) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(key = ?k, "print record skipped: {e}"),
            }
        }
        Ok(out)
    }

    pub fn for_job(&self, job: JobId) -> Result<Vec<PrintRecord>, StoreError> {
        Ok(self.all()?.into_iter().filter(|r| r.job == job).collect())
    }

    /// Records of deleted jobs go with them.
    pub fn remove_job(&self, job: JobId) -> Result<usize, StoreError> {
        let mine = self.for_job(job)?;
        for r in &mine {
            self.tree.remove(r.id.to_be_bytes())?;
        }
        Ok(mine.len())
    }
}

fn decode(v: &[u8]) -> Result<PrintRecord, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Guest requests that count towards the limit: every one not canceled.
pub fn guest_prints(records: &[PrintRecord]) -> usize {
    records
        .iter()
        .filter(|r| r.by == Requester::Guest && r.state != PrintState::Canceled)
        .count()
}

/// Cards kept until the printer can print again.
pub fn held(records: &[PrintRecord]) -> usize {
    records
        .iter()
        .filter(|r| matches!(r.state, PrintState::Held | PrintState::Waiting))
        .count()
}

/// Printed cards per UTC day (`YYYY-MM-DD`), for the CSV and metrics.
pub fn printed_per_day(records: &[PrintRecord]) -> std::collections::BTreeMap<String, u32> {
    let mut days = std::collections::BTreeMap::new();
    for r in records {
        let Some(at) = r.printed_at else { continue };
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp(at / 1000) else {
            continue;
        };
        let d = t.date();
        *days
            .entry(format!(
                "{:04}-{:02}-{:02}",
                d.year(),
                d.month() as u8,
                d.day()
            ))
            .or_insert(0) += r.copies;
    }
    days
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: u64, by: Requester, state: PrintState) -> PrintRecord {
        PrintRecord {
            id,
            job: JobId::from_bytes(&[1, 2, 3, 4, 5, 6, 7, 8]).expect("id"),
            copies: 1,
            by,
            state,
            ipp_job: None,
            format: None,
            bytes: None,
            created_at: 0,
            updated_at: 0,
            printed_at: None,
            resent: 0,
            note: None,
        }
    }

    #[test]
    fn records_survive_a_reopen_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = crate::jobs::open_db(dir.path()).expect("sled");
            let q = PrintQueue::new(db.open_tree("prints").expect("tree"));
            for id in [3, 1, 2] {
                q.put(&rec(id, Requester::Guest, PrintState::Held))
                    .expect("put");
            }
        }
        // Retries while the dropped store's flusher still holds the lock.
        let db = crate::jobs::open_db(dir.path()).expect("sled");
        let q = PrintQueue::new(db.open_tree("prints").expect("tree"));
        let ids: Vec<u64> = q.all().expect("all").iter().map(|r| r.id).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(
            q.get(2).expect("get").map(|r| r.state),
            Some(PrintState::Held)
        );
    }

    #[test]
    fn the_limit_counts_a_guests_requests_and_the_hold_what_waits() {
        let all = [
            rec(1, Requester::Guest, PrintState::Printed),
            rec(2, Requester::Guest, PrintState::Canceled),
            rec(3, Requester::Staff, PrintState::Held),
            rec(4, Requester::Guest, PrintState::Waiting),
        ];
        assert_eq!(guest_prints(&all), 2);
        assert_eq!(held(&all), 2);
    }

    #[test]
    fn printed_cards_are_counted_per_day_with_their_copies() {
        let mut a = rec(1, Requester::Guest, PrintState::Printed);
        a.printed_at = Some(1_764_547_200_000); // 2025-12-01
        a.copies = 2;
        let mut b = a.clone();
        b.printed_at = Some(1_764_547_200_000 + 86_400_000);
        b.copies = 1;
        let days = printed_per_day(&[a, b, rec(3, Requester::Auto, PrintState::Sent)]);
        assert_eq!(days.get("2025-12-01"), Some(&2));
        assert_eq!(days.get("2025-12-02"), Some(&1));
    }
}
