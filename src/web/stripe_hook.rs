//! `POST /api/stripe/webhook` on the guest listener: Stripe's signed event
//! for a completed Checkout Session. Verified, recorded and flushed before
//! the 2xx; a retried delivery of the same event answers 2xx and changes
//! nothing, so Stripe stops retrying.

use std::collections::HashMap;

use rocket::data::{Data, ToByteUnit};
use rocket::http::Status as HttpStatus;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::serde::json::Json;
use rocket::{post, State};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::clock::SharedClock;
use crate::jobs::{JobId, JobStore, SeenBy};
use crate::payments::confirm::{PaymentStatus, SessionStatus};
use crate::payments::signature::{self, SignatureError};
use crate::payments::{self, Outcome as PayOutcome, SessionFacts};
use crate::state::Payments;

/// Stripe's events are a few KiB; anything near this is not from Stripe.
pub(super) const MAX_EVENT_KIB: u32 = 256;

pub struct SignatureHeader(Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SignatureHeader {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(SignatureHeader(
            req.headers().get_one("Stripe-Signature").map(str::to_owned),
        ))
    }
}

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: SessionObject,
}

#[derive(Deserialize)]
struct SessionObject {
    id: String,
    client_reference_id: Option<String>,
    #[serde(default)]
    metadata: HashMap<String, String>,
    status: Option<String>,
    payment_status: Option<String>,
    amount_total: Option<i64>,
    currency: Option<String>,
}

#[derive(Serialize)]
pub struct Received {
    received: bool,
    outcome: &'static str,
}

fn received(outcome: &'static str) -> Json<Received> {
    Json(Received {
        received: true,
        outcome,
    })
}

#[post("/api/stripe/webhook", data = "<body>")]
pub async fn webhook(
    body: Data<'_>,
    signature: SignatureHeader,
    store: &State<JobStore>,
    payments: &State<Payments>,
    clock: &State<SharedClock>,
) -> Result<Json<Received>, ApiError> {
    let secret = payments.stripe.webhook_secret().ok_or_else(|| {
        ApiError::new(
            HttpStatus::NotFound,
            "payments_not_configured",
            "This kiosk does not take payments.",
        )
    })?;
    let body = body
        .open(MAX_EVENT_KIB.kibibytes())
        .into_bytes()
        .await
        .map_err(|e| ApiError::new(HttpStatus::BadRequest, "bad_event", e.to_string()))?;
    if !body.is_complete() {
        return Err(ApiError::new(
            HttpStatus::PayloadTooLarge,
            "event_too_large",
            "This is larger than any Stripe event.",
        ));
    }
    let body = body.into_inner();
    signature::verify(
        signature.0.as_deref(),
        &body,
        secret.expose(),
        clock.wall_ms() / 1000,
    )
    .map_err(|e| {
        tracing::warn!("webhook refused: {e}");
        let code = match e {
            SignatureError::TooOld => "signature_too_old",
            SignatureError::InTheFuture => "signature_in_the_future",
            _ => "bad_signature",
        };
        ApiError::new(HttpStatus::BadRequest, code, e.to_string())
    })?;
    let event: Event = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            HttpStatus::BadRequest,
            "bad_event",
            format!("not a Checkout Session event: {e}"),
        )
    })?;
    if !matches!(
        event.kind.as_str(),
        "checkout.session.completed" | "checkout.session.async_payment_succeeded"
    ) {
        return Ok(received("ignored"));
    }
    let s = event.data.object;
    let job_ref = s
        .client_reference_id
        .clone()
        .or_else(|| s.metadata.get("job_id").cloned());
    let id: JobId = job_ref
        .as_deref()
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| {
            ApiError::new(
                HttpStatus::BadRequest,
                "bad_event",
                "The session names no SmileLoop job.",
            )
        })?;
    let facts = SessionFacts {
        id: s.id,
        job_ref,
        status: SessionStatus::parse(s.status.as_deref().unwrap_or_default()),
        payment_status: PaymentStatus::parse(s.payment_status.as_deref().unwrap_or_default()),
        amount_total: s.amount_total,
        currency: s.currency,
    };
    if store.get(id)?.is_none() {
        if !facts.is_paid() {
            tracing::warn!(job = %id, event = %event.id, "event for an unknown job");
            return Ok(received("unknown_job"));
        }
        // Deleted by the guest after paying, or before Stripe's retry:
        // the money is kept, and the 2xx stops the retries.
        payments::record_for_deleted(store, id, &facts, SeenBy::Webhook).await?;
        return Ok(received("recorded_for_deleted_job"));
    }
    let outcome = payments::record(store, id, &facts, SeenBy::Webhook).await?;
    Ok(received(match outcome {
        PayOutcome::Unlocked => "unlocked",
        PayOutcome::AlreadyRecorded => "already_recorded",
        PayOutcome::Flagged(_) | PayOutcome::Foreign(_) => "flagged_for_staff",
        PayOutcome::NotPaid => "not_paid",
    }))
}
