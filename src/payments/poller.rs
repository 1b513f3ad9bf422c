//! Polling of open Checkout Sessions: the confirmation path that needs no
//! inbound connection (a kiosk behind a venue's NAT), and the one that
//! reconciles payments made while the kiosk was offline or restarting.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{record, Outcome, StripeApi};
use crate::jobs::{JobId, JobStore, SeenBy, Status, StoreError};

/// Sessions are still asked about this long after they expire: a payment
/// completed at the last second is reported a little later.
const AFTER_EXPIRY_S: i64 = 3600;

/// Jobs waiting for a payment whose session may still complete.
pub fn open_sessions(store: &JobStore, now_s: i64) -> Result<Vec<(JobId, String)>, StoreError> {
    let mut out = Vec::new();
    for id in store.ids_with_status(Status::PreviewReady)? {
        let Some(job) = store.get(id)? else { continue };
        if job.payment.is_some() {
            continue;
        }
        if let Some(c) = &job.checkout {
            if c.expires_at + AFTER_EXPIRY_S >= now_s {
                out.push((id, c.session_id.clone()));
            }
        }
    }
    Ok(out)
}

/// One pass over the open sessions. Returns the jobs unlocked.
pub async fn reconcile(store: &JobStore, api: &StripeApi) -> Result<Vec<JobId>, StoreError> {
    let mut unlocked = Vec::new();
    for (id, session) in open_sessions(store, store.now_ms() / 1000)? {
        match api.session(&session).await {
            Ok(facts) => {
                if record(store, id, &facts, SeenBy::Poll).await? == Outcome::Unlocked {
                    unlocked.push(id);
                }
            }
            // Offline: the next pass tries again; nothing is lost.
            Err(e) => tracing::debug!(job = %id, "session check failed: {e}"),
        }
    }
    Ok(unlocked)
}

/// Runs [`reconcile`] every `every` until shutdown.
pub async fn run(
    store: JobStore,
    keys: Arc<super::StripeKeys>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        // Keys may arrive or change while the kiosk runs.
        if let Some(api) = keys.api() {
            if let Err(e) = reconcile(&store, &api).await {
                tracing::error!("payment poll failed: {e}");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}
