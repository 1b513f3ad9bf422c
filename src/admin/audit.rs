//! The audit log: every staff action with its time, the address it came
//! from and what changed. Append-only in the `audit` tree, keyed by time
//! so the newest read first.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Unix milliseconds.
    pub at_ms: i64,
    pub peer: String,
    /// A short verb: `login`, `unlock`, `settings`, …
    pub action: String,
    /// What changed, in words.
    pub detail: String,
}

#[derive(Clone)]
pub struct Audit {
    tree: sled::Tree,
    /// Orders entries recorded in the same millisecond.
    seq: std::sync::Arc<std::sync::atomic::AtomicU64>,
    clock: SharedClock,
}

impl Audit {
    pub fn new(tree: sled::Tree, clock: SharedClock) -> Self {
        Self {
            tree,
            seq: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
            clock,
        }
    }

    /// Records one action, flushed before it returns.
    pub async fn record(
        &self,
        peer: IpAddr,
        action: &str,
        detail: impl Into<String>,
    ) -> Result<(), sled::Error> {
        let entry = Entry {
            at_ms: self.clock.wall_ms(),
            peer: peer.to_string(),
            action: action.to_string(),
            detail: detail.into(),
        };
        let mut key = ((entry.at_ms as u64) ^ (1 << 63)).to_be_bytes().to_vec();
        // Two actions in the same millisecond keep both entries, in order.
        let tie = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        key.extend_from_slice(&tie.to_be_bytes());
        let value = serde_json::to_vec(&entry).unwrap_or_default();
        self.tree.insert(key, value)?;
        self.tree.flush_async().await?;
        tracing::info!(peer = %entry.peer, action = %entry.action, "staff: {}", entry.detail);
        Ok(())
    }

    /// The newest `limit` entries, newest first.
    pub fn newest(&self, limit: usize) -> Result<Vec<Entry>, sled::Error> {
        let mut out = Vec::with_capacity(limit.min(1000));
        for kv in self.tree.iter().rev() {
            if out.len() >= limit {
                break;
            }
            let (_, v) = kv?;
            if let Ok(e) = serde_json::from_slice(&v) {
                out.push(e);
            }
        }
        Ok(out)
    }
}

/// "field: old → new" for each field that differs between two JSON
/// objects (the settings form's audit line).
pub fn diff(old: &serde_json::Value, new: &serde_json::Value) -> String {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return String::new();
    };
    new.iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| {
            let was = old.get(k).map_or("∅".to_string(), |o| o.to_string());
            format!("{k}: {was} → {v}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_read_back_newest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("sled");
        let audit = Audit::new(db.open_tree("audit").expect("tree"), crate::clock::system());
        let ip: IpAddr = "10.0.0.2".parse().expect("ip");
        for i in 0..3 {
            audit
                .record(ip, "unlock", format!("job {i}"))
                .await
                .expect("record");
        }
        let got = audit.newest(2).expect("read");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].detail, "job 2");
        assert_eq!(got[1].detail, "job 1");
        assert_eq!(got[0].peer, "10.0.0.2");
    }

    #[test]
    fn diff_names_changed_fields_only() {
        let old = serde_json::json!({"price_cents": 799, "currency": "usd"});
        let new = serde_json::json!({"price_cents": 999, "currency": "usd"});
        assert_eq!(diff(&old, &new), "price_cents: 799 → 999");
    }
}
