//! A guest's checkout: open the job's Checkout Session, or reuse the one
//! still open, and ask Stripe about it when the guest comes back from it.
//! The guest page's handlers only call these and show the outcome.

use super::lookups::Lookups;
use super::{NewSession, PaymentError, StripeKeys};
use crate::clock::Clock;
use crate::config::LiveSettings;
use crate::jobs::{Checkout, Job, JobStore, SeenBy, Status, StoreError};

/// A session this close to its end is not handed out again: the guest
/// would reach Stripe's page as it expires.
const REUSE_MARGIN_S: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("the job's photo and video have been deleted")]
    Expired,
    #[error("payments are not set up on this kiosk, or the job has no price")]
    NoPayments,
    #[error("checkout not created: {0}")]
    Stripe(PaymentError),
    #[error("checkout not saved: {0}")]
    Store(#[from] StoreError),
}

/// Where the guest goes next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// To Stripe's page for the session.
    Stripe(String),
    /// Nothing to pay now (already unlocked, not ready yet, flagged for
    /// staff): back to the guest page, which says what to do.
    Back,
}

/// What a checkout needs from the kiosk.
pub struct Checkouts<'a> {
    pub store: &'a JobStore,
    pub stripe: &'a StripeKeys,
    pub lookups: &'a Lookups,
    /// The guest listener's public address, for Stripe's return links.
    pub public_base: &'a str,
    pub expiry_minutes: u32,
    /// Tonight's event, whose name Stripe's page shows.
    pub live: &'a LiveSettings,
    pub clock: &'a dyn Clock,
}

impl Checkouts<'_> {
    /// The job's open session if it has a minute left, else a new one
    /// (its number in the idempotency key, so a retried create is the
    /// same session), saved on the job before the guest is sent there.
    pub async fn open(&self, job: &Job) -> Result<Next, CheckoutError> {
        let now_s = self.clock.wall_ms() / 1000;
        match job.status {
            Status::PreviewReady if job.staff_flag.is_none() => {}
            Status::Expired => return Err(CheckoutError::Expired),
            _ => return Ok(Next::Back),
        }
        let (Some(api), Some(price)) = (self.stripe.api(), &job.price) else {
            return Err(CheckoutError::NoPayments);
        };
        let open = job.checkout.as_ref();
        if let Some(c) = open.filter(|c| c.expires_at > now_s + REUSE_MARGIN_S) {
            return Ok(Next::Stripe(c.url.clone()));
        }
        let number = open.map_or(1, |c| c.number + 1);
        let (base, token) = (self.public_base, job.token);
        let request = NewSession {
            job_id: job.id,
            price: price.clone(),
            product_name: format!("{} — animated photo (HD video)", self.live.get().event_name),
            success_url: format!("{base}/g/{token}?session_id={{CHECKOUT_SESSION_ID}}"),
            cancel_url: format!("{base}/g/{token}"),
            expires_at: now_s + i64::from(self.expiry_minutes) * 60,
            idempotency_key: format!("smileloop-{}-{number}", job.id),
        };
        let created = api
            .create_session(&request)
            .await
            .map_err(CheckoutError::Stripe)?;
        let checkout = Checkout {
            session_id: created.id.clone(),
            url: created.url.clone(),
            expires_at: created.expires_at,
            number,
            earlier: vec![],
        };
        self.store.update(job.id, |j| {
            j.checkout = Some(match &j.checkout {
                Some(old) => old.replaced_by(checkout.clone()),
                None => checkout.clone(),
            })
        })?;
        self.store.flush().await?;
        tracing::info!(job = %job.id, session = %created.id, "checkout opened");
        Ok(Next::Stripe(created.url))
    }

    /// Back from Checkout with `session_id`: asks Stripe now rather than
    /// wait for the poller, only about the job's own session and not on
    /// every reload. Returns the job as it stands afterwards.
    pub async fn returned(&self, job: Job, session_id: &str) -> Job {
        let (Some(api), Some(c)) = (self.stripe.api(), &job.checkout) else {
            return job;
        };
        if job.status != Status::PreviewReady
            || !c.owns(session_id)
            || !self.lookups.allow(job.id, self.clock.monotonic())
        {
            return job;
        }
        let Ok(facts) = api.session(session_id).await else {
            return job;
        };
        if super::record(self.store, job.id, &facts, SeenBy::Return)
            .await
            .is_err()
        {
            return job;
        }
        self.store.get(job.id).ok().flatten().unwrap_or(job)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::SimClock;
    use crate::config::Secret;
    use crate::jobs::Price;

    #[tokio::test]
    async fn an_open_session_is_reused_until_a_minute_before_it_expires() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = SimClock::at(1_700_000_000_000);
        let store = JobStore::open_with_clock(&dir.path().join("db"), clock.clone()).expect("open");
        // Nothing listens on the discard port: a new session cannot be
        // created, and the refusal says that one was asked for.
        let (key, hook) = (
            Secret::new("sk_test_checkout"),
            Secret::new("whsec_checkout"),
        );
        let stripe = StripeKeys::open(
            store.tree("settings").expect("tree"),
            "http://127.0.0.1:9",
            Some((&key, &hook)),
        )
        .expect("keys");
        let live = LiveSettings::open(
            store.tree("event").expect("tree"),
            crate::config::Settings::default().event(),
            &["soft_smile"],
        );
        let lookups = Lookups::default();
        let checkouts = Checkouts {
            store: &store,
            stripe: &stripe,
            lookups: &lookups,
            public_base: "http://127.0.0.1:8080",
            expiry_minutes: 30,
            live: &live,
            clock: clock.as_ref(),
        };
        let mut job = Job::new(
            "soft_smile".parse().expect("preset id"),
            "source.jpg",
            clock.wall_ms(),
        );
        job.price = Some(Price {
            cents: 799,
            currency: "usd".into(),
        });
        store.insert_new(&job).expect("insert");
        for s in [Status::Queued, Status::Rendering, Status::PreviewReady] {
            store.transition(job.id, s, |_| {}).expect("walk");
        }
        let url = "https://checkout.stripe.com/c/pay/cs_test_open";
        let job = store
            .update(job.id, |j| {
                j.checkout = Some(Checkout {
                    session_id: "cs_test_open".into(),
                    url: url.into(),
                    expires_at: clock.wall_ms() / 1000 + 30 * 60,
                    number: 1,
                    earlier: vec![],
                })
            })
            .expect("checkout");

        let next = checkouts.open(&job).await.expect("reused");
        assert_eq!(next, Next::Stripe(url.into()));
        clock.advance(Duration::from_secs(28 * 60));
        let next = checkouts.open(&job).await.expect("still reused");
        assert_eq!(next, Next::Stripe(url.into()), "two minutes left");
        clock.advance(Duration::from_secs(61));
        assert!(
            matches!(
                checkouts.open(&job).await,
                Err(CheckoutError::Stripe(PaymentError::Offline(_)))
            ),
            "59 s left: a new session is asked for"
        );
        assert_eq!(
            store.get(job.id).expect("get").and_then(|j| j.checkout),
            job.checkout,
            "the open session stays on the job"
        );
    }
}
