//! Payments: Stripe Checkout on the guest's phone, confirmed two
//! independent ways (a signed webhook, and polling of open sessions for
//! kiosks no webhook can reach). Both feed [`confirm::apply`], so a job is
//! marked paid exactly once whichever path sees the payment first.

pub mod checkout;
pub mod confirm;
pub mod keys;
pub mod lookups;
pub mod poller;
pub mod signature;
pub mod stripe_api;

pub use confirm::{Outcome, SessionFacts};
pub use keys::StripeKeys;
pub use stripe_api::{CreatedSession, NewSession, StripeApi};

#[derive(Debug, Clone, thiserror::Error)]
pub enum PaymentError {
    #[error("payments are not configured on this kiosk")]
    NotConfigured,
    #[error("Stripe cannot be reached: {0}")]
    Offline(String),
    #[error("Stripe refused the request: {0}")]
    Rejected(String),
    #[error("unexpected answer from Stripe: {0}")]
    Unexpected(String),
    #[error("Stripe client configuration: {0}")]
    Config(String),
}

use std::cell::RefCell;

use crate::jobs::{JobId, JobStore, SeenBy, StoreError};

/// Applies a session's facts to its job in one atomic store change and
/// flushes before returning, so a payment is on disk before anyone (Stripe,
/// the guest, the kiosk) hears about it.
fn owns(job: &crate::jobs::Job, facts: &SessionFacts) -> bool {
    job.payment
        .as_ref()
        .is_some_and(|p| p.session_id == facts.id)
        || job.checkout.as_ref().is_some_and(|c| c.owns(&facts.id))
}

/// A paid session for a job that no longer exists (the guest deleted
/// it): the money goes to the ledger, so the takings still show it.
pub async fn record_for_deleted(
    store: &JobStore,
    id: JobId,
    facts: &SessionFacts,
    seen_by: SeenBy,
) -> Result<(), StoreError> {
    store.record_loose_payment(id, &facts.payment(seen_by, store.now_ms()))?;
    store.flush().await?;
    tracing::warn!(job = %id, session = %facts.id, "payment for a deleted job, kept in the ledger");
    Ok(())
}

pub async fn record(
    store: &JobStore,
    id: JobId,
    facts: &SessionFacts,
    seen_by: SeenBy,
) -> Result<Outcome, StoreError> {
    let outcome = RefCell::new(Outcome::NotPaid);
    let now = store.now_ms();
    // Money through a session that is not the job's own lands in the
    // ledger first: a retry after a crash in between writes it again.
    if facts.is_paid() && store.get(id)?.is_some_and(|j| !owns(&j, facts)) {
        store.record_loose_payment(id, &facts.payment(seen_by, now))?;
    }
    let job = store.change(id, |job| {
        *outcome.borrow_mut() = confirm::apply(job, facts, seen_by, now);
        Ok(())
    })?;
    store.flush().await?;
    let outcome = outcome.into_inner();
    match &outcome {
        Outcome::Unlocked => {
            tracing::info!(job = %id, session = %facts.id, via = %seen_by, "paid, unlocked")
        }
        Outcome::Flagged(why) | Outcome::Foreign(why) => {
            tracing::warn!(job = %id, session = %facts.id, status = %job.status, "payment flagged for staff: {why}")
        }
        Outcome::AlreadyRecorded | Outcome::NotPaid => {}
    }
    Ok(outcome)
}
