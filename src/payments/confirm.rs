//! What a completed Checkout Session means for a job: pure decisions,
//! shared by the webhook and the poller so both paths agree, and applied
//! in one atomic store change.

use crate::jobs::{Job, Payment, SeenBy, Status, UnlockReason};

/// The facts of a Checkout Session that matter here, from a webhook event
/// or from the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    pub id: String,
    /// From `client_reference_id`, else `metadata.job_id`.
    pub job_ref: Option<String>,
    pub status: SessionStatus,
    pub payment_status: PaymentStatus,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
}

impl SessionFacts {
    /// The money this session took, as the store records it.
    pub fn payment(&self, seen_by: SeenBy, now_ms: i64) -> Payment {
        Payment {
            session_id: self.id.clone(),
            amount_cents: self.amount_total.unwrap_or(0),
            currency: self.currency.clone().unwrap_or_default().to_lowercase(),
            recorded_at: now_ms,
            seen_by,
        }
    }

    /// Money has been taken (card payments complete paid; delayed methods
    /// complete unpaid and succeed later).
    pub fn is_paid(&self) -> bool {
        self.status == SessionStatus::Complete && self.payment_status == PaymentStatus::Paid
    }
}

/// A Checkout Session's `status`, read once where Stripe's answer or
/// event arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Open,
    Complete,
    Expired,
    /// Absent, or a value Stripe added later: never a payment.
    Other,
}

impl SessionStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "open" => Self::Open,
            "complete" => Self::Complete,
            "expired" => Self::Expired,
            _ => Self::Other,
        }
    }
}

/// A Checkout Session's `payment_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Paid,
    Unpaid,
    NoPaymentRequired,
    /// Absent, or a value Stripe added later: never a payment.
    Other,
}

impl PaymentStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "paid" => Self::Paid,
            "unpaid" => Self::Unpaid,
            "no_payment_required" => Self::NoPaymentRequired,
            _ => Self::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded and unlocked now.
    Unlocked,
    /// This session was already recorded: a retry or the other path.
    AlreadyRecorded,
    /// Recorded, not unlocked: staff must look (message in `staff_flag`).
    Flagged(String),
    /// Paid through a session this kiosk did not open for the job: the
    /// job is flagged and the money goes to the ledger, never unlocking.
    Foreign(String),
    /// Not a payment yet (open, or completed but unpaid): nothing changes.
    NotPaid,
}

/// Applies `session` to `job` (changing it only where the outcome says).
/// `seen_by` names the path that saw it.
pub fn apply(job: &mut Job, session: &SessionFacts, seen_by: SeenBy, now_ms: i64) -> Outcome {
    if !session.is_paid() {
        return Outcome::NotPaid;
    }
    if let Some(existing) = &job.payment {
        if existing.session_id == session.id {
            return Outcome::AlreadyRecorded;
        }
    }
    if !job.checkout.as_ref().is_some_and(|c| c.owns(&session.id)) {
        let flag = format!(
            "paid {} {} through Checkout Session {}, which this kiosk did not open for \
             this job: check it in Stripe",
            session.amount_total.unwrap_or(0),
            session.currency.clone().unwrap_or_default().to_lowercase(),
            session.id
        );
        job.staff_flag = Some(flag.clone());
        return Outcome::Foreign(flag);
    }
    if let Some(existing) = &job.payment {
        let flag = format!(
            "paid twice (sessions {} and {}): refund one",
            existing.session_id, session.id
        );
        job.staff_flag = Some(flag.clone());
        return Outcome::Flagged(flag);
    }
    let payment = session.payment(seen_by, now_ms);
    let (amount, currency) = (payment.amount_cents, payment.currency.clone());
    job.payment = Some(payment);
    let price_matches = job
        .price
        .as_ref()
        .is_some_and(|p| i64::from(p.cents) == amount && p.currency == currency);
    let flag = if !price_matches {
        let price = job.price.as_ref().map_or("no price".to_string(), |p| {
            format!("{} {}", p.cents, p.currency)
        });
        format!("paid {amount} {currency} but the price was {price}")
    } else if job.status == Status::PreviewReady {
        job.status = Status::Unlocked;
        job.unlock = Some(UnlockReason::Paid);
        job.unlocked_at = Some(now_ms);
        return Outcome::Unlocked;
    } else if job.status == Status::Unlocked {
        "paid, but staff had already unlocked it: refund?".to_string()
    } else {
        format!("paid while the job was {}: check and refund", job.status)
    };
    job.staff_flag = Some(flag.clone());
    Outcome::Flagged(flag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{Checkout, Price};

    fn job(status: Status) -> Job {
        let mut j = Job::new("soft_smile".parse().expect("preset id"), "source.jpg", 0);
        j.status = status;
        j.price = Some(Price {
            cents: 799,
            currency: "usd".into(),
        });
        let first = Checkout {
            session_id: "cs_1".into(),
            url: "https://checkout.stripe.com/c/cs_1".into(),
            expires_at: 0,
            number: 1,
            earlier: vec![],
        };
        j.checkout = Some(first.replaced_by(Checkout {
            session_id: "cs_2".into(),
            url: "https://checkout.stripe.com/c/cs_2".into(),
            expires_at: 0,
            number: 2,
            earlier: vec![],
        }));
        j
    }

    fn paid(id: &str, amount: i64, currency: &str) -> SessionFacts {
        SessionFacts {
            id: id.into(),
            job_ref: None,
            status: SessionStatus::Complete,
            payment_status: PaymentStatus::Paid,
            amount_total: Some(amount),
            currency: Some(currency.into()),
        }
    }

    #[test]
    fn a_matching_payment_unlocks_once() {
        let mut j = job(Status::PreviewReady);
        let s = paid("cs_1", 799, "USD");
        assert_eq!(apply(&mut j, &s, SeenBy::Webhook, 5), Outcome::Unlocked);
        assert_eq!(j.status, Status::Unlocked);
        assert_eq!(j.unlock, Some(UnlockReason::Paid));
        let before = j.clone();
        assert_eq!(apply(&mut j, &s, SeenBy::Poll, 9), Outcome::AlreadyRecorded);
        assert_eq!(j, before, "a second delivery changes nothing");
    }

    #[test]
    fn mismatches_are_recorded_and_flagged_never_unlocked() {
        for s in [paid("cs_1", 500, "usd"), paid("cs_1", 799, "eur")] {
            let mut j = job(Status::PreviewReady);
            assert!(matches!(
                apply(&mut j, &s, SeenBy::Webhook, 5),
                Outcome::Flagged(_)
            ));
            assert_eq!(j.status, Status::PreviewReady);
            assert!(j.payment.is_some(), "the money is on record");
            assert!(j.staff_flag.is_some());
        }
        let mut j = job(Status::PreviewReady);
        apply(&mut j, &paid("cs_1", 799, "usd"), SeenBy::Webhook, 5);
        let second = apply(&mut j, &paid("cs_2", 799, "usd"), SeenBy::Webhook, 6);
        assert!(matches!(second, Outcome::Flagged(ref f) if f.contains("twice")));
        assert_eq!(
            j.payment.as_ref().map(|p| p.session_id.as_str()),
            Some("cs_1")
        );
    }

    #[test]
    fn a_session_the_kiosk_did_not_open_for_the_job_never_unlocks_it() {
        let mut j = job(Status::PreviewReady);
        let out = apply(&mut j, &paid("cs_other", 799, "usd"), SeenBy::Webhook, 5);
        assert!(matches!(out, Outcome::Foreign(ref f) if f.contains("cs_other")));
        assert_eq!(j.status, Status::PreviewReady);
        assert_eq!(j.payment, None, "the money goes to the ledger, not the job");
        assert!(j.staff_flag.is_some());
        let mut bare = job(Status::PreviewReady);
        bare.checkout = None;
        let out = apply(&mut bare, &paid("cs_1", 799, "usd"), SeenBy::Webhook, 5);
        assert!(
            matches!(out, Outcome::Foreign(_)),
            "no session opened at all"
        );
        // The replaced session is still the job's own.
        let mut j = job(Status::PreviewReady);
        assert_eq!(
            apply(&mut j, &paid("cs_1", 799, "usd"), SeenBy::Poll, 5),
            Outcome::Unlocked
        );
    }

    #[test]
    fn a_job_remembers_a_bounded_number_of_its_sessions() {
        let mut c = Checkout {
            session_id: "cs_0".into(),
            url: String::new(),
            expires_at: 0,
            number: 0,
            earlier: vec![],
        };
        for n in 1..20 {
            c = c.replaced_by(Checkout {
                session_id: format!("cs_{n}"),
                ..c.clone()
            });
        }
        assert!(c.owns("cs_19") && c.owns("cs_11"));
        assert!(!c.owns("cs_10"));
        assert_eq!(c.earlier.len(), crate::jobs::EARLIER_SESSIONS);
    }

    #[test]
    fn unpaid_or_open_sessions_change_nothing() {
        let mut j = job(Status::PreviewReady);
        let before = j.clone();
        let mut s = paid("cs_1", 799, "usd");
        s.payment_status = PaymentStatus::Unpaid;
        assert_eq!(apply(&mut j, &s, SeenBy::Webhook, 5), Outcome::NotPaid);
        s.status = SessionStatus::Open;
        s.payment_status = PaymentStatus::Paid;
        assert_eq!(apply(&mut j, &s, SeenBy::Poll, 5), Outcome::NotPaid);
        s.status = SessionStatus::parse("complete");
        s.payment_status = PaymentStatus::parse("no_payment_required");
        assert_eq!(apply(&mut j, &s, SeenBy::Poll, 5), Outcome::NotPaid);
        s.payment_status = PaymentStatus::parse("Paid");
        assert_eq!(s.payment_status, PaymentStatus::Other, "exact words only");
        assert_eq!(j, before);
    }

    #[test]
    fn payment_for_an_expired_or_staff_unlocked_job_is_flagged() {
        for status in [Status::Expired, Status::Unlocked, Status::Failed] {
            let mut j = job(status);
            let out = apply(&mut j, &paid("cs_1", 799, "usd"), SeenBy::Poll, 5);
            assert!(matches!(out, Outcome::Flagged(_)), "{status}");
            assert_eq!(j.status, status);
        }
    }
}
