//! The two Stripe calls the kiosk makes, through `async-stripe`: create a
//! Checkout Session for a job, and read one back. Each call has a hard
//! time limit, so venue Wi-Fi that drops packets cannot hang a guest's
//! page.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    ProductData, RetrieveCheckoutSession,
};
use stripe_checkout::{CheckoutSession, CheckoutSessionMode};

use super::confirm::{PaymentStatus, SessionFacts, SessionStatus};
use super::PaymentError;
use crate::jobs::{JobId, Price};

/// A Stripe call that has not answered by then is treated as offline.
const CALL_LIMIT: Duration = Duration::from_secs(10);

pub struct StripeApi {
    client: Client,
    /// Whether the last call failed for want of a network: the kiosk
    /// screen then tells guests to ask staff instead of showing a QR that
    /// leads to an error.
    offline: AtomicBool,
}

/// Everything a new Checkout Session needs.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub job_id: JobId,
    pub price: Price,
    pub product_name: String,
    pub success_url: String,
    pub cancel_url: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// Same key, same session: a retried request cannot create a second.
    pub idempotency_key: String,
}

/// A created session: where to send the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedSession {
    pub id: String,
    pub url: String,
    pub expires_at: i64,
}

impl StripeApi {
    pub fn new(secret_key: &str, api_base: &str) -> Result<Self, PaymentError> {
        let client = ClientBuilder::new(secret_key)
            .url(api_base.trim_end_matches('/'))
            .build()
            .map_err(|e| PaymentError::Config(e.to_string()))?;
        Ok(Self {
            client,
            offline: AtomicBool::new(false),
        })
    }

    /// The last call could not reach Stripe.
    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Relaxed)
    }

    fn note<T>(&self, r: Result<T, PaymentError>) -> Result<T, PaymentError> {
        let offline = matches!(r, Err(PaymentError::Offline(_)));
        if self.offline.swap(offline, Ordering::Relaxed) != offline {
            if offline {
                tracing::warn!("Stripe cannot be reached; guests are sent to staff");
            } else {
                tracing::info!("Stripe is reachable again");
            }
        }
        r
    }

    pub async fn create_session(&self, s: &NewSession) -> Result<CreatedSession, PaymentError> {
        let currency = s
            .price
            .currency
            .parse::<stripe_types::Currency>()
            .map_err(|_| PaymentError::Config(format!("currency {}", s.price.currency)))?;
        let mut price_data = CreateCheckoutSessionLineItemsPriceData::new(currency);
        price_data.unit_amount = Some(i64::from(s.price.cents));
        price_data.product_data = Some(ProductData {
            description: None,
            images: None,
            metadata: None,
            name: s.product_name.clone(),
            tax_code: None,
            tax_details: None,
            unit_label: None,
        });
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price_data = Some(price_data);
        item.quantity = Some(1);
        let metadata = HashMap::from([("job_id".to_string(), s.job_id.to_string())]);
        let key = IdempotencyKey::new(&s.idempotency_key)
            .map_err(|e| PaymentError::Config(format!("idempotency key: {e}")))?;
        let request = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Payment)
            .line_items(vec![item])
            .client_reference_id(s.job_id.to_string())
            .metadata(metadata)
            .expires_at(s.expires_at)
            .success_url(&s.success_url)
            .cancel_url(&s.cancel_url)
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key));
        let session = self.note(limit(request.send(&self.client)).await)?;
        let url = session
            .url
            .clone()
            .ok_or_else(|| PaymentError::Unexpected("the new session has no URL".into()))?;
        Ok(CreatedSession {
            id: session.id.to_string(),
            url,
            expires_at: session.expires_at,
        })
    }

    /// A read-only call that proves the secret key works: reading a
    /// session that cannot exist answers 404 to a valid key and 401 to a
    /// bad one, and changes nothing in the account.
    pub async fn check_key(&self) -> Result<(), PaymentError> {
        let request = RetrieveCheckoutSession::new("cs_smileloop_key_check");
        let call = request.send(&self.client);
        let answer = match tokio::time::timeout(CALL_LIMIT, call).await {
            Err(_) => Err(PaymentError::Offline("no answer within 10 s".into())),
            Ok(Ok(_)) | Ok(Err(StripeError::Stripe(_, 404))) => Ok(()),
            Ok(Err(StripeError::Stripe(err, status @ (401 | 403)))) => Err(PaymentError::Rejected(
                format!("{status}: {}", err.message.unwrap_or_default()),
            )),
            Ok(Err(e)) => Err(e.into()),
        };
        self.note(answer)
    }

    pub async fn session(&self, id: &str) -> Result<SessionFacts, PaymentError> {
        let session =
            self.note(limit(RetrieveCheckoutSession::new(id).send(&self.client)).await)?;
        Ok(facts(&session))
    }
}

async fn limit<T>(
    call: impl std::future::Future<Output = Result<T, StripeError>>,
) -> Result<T, PaymentError> {
    match tokio::time::timeout(CALL_LIMIT, call).await {
        Err(_) => Err(PaymentError::Offline("no answer within 10 s".into())),
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(v)) => Ok(v),
    }
}

fn facts(s: &CheckoutSession) -> SessionFacts {
    SessionFacts {
        id: s.id.to_string(),
        job_ref: s
            .client_reference_id
            .clone()
            .or_else(|| s.metadata.as_ref().and_then(|m| m.get("job_id").cloned())),
        status: s
            .status
            .as_ref()
            .map_or(SessionStatus::Open, |st| SessionStatus::parse(st.as_str())),
        payment_status: PaymentStatus::parse(s.payment_status.as_str()),
        amount_total: s.amount_total,
        currency: s.currency.as_ref().map(|c| c.to_string()),
    }
}

impl From<StripeError> for PaymentError {
    fn from(e: StripeError) -> Self {
        match e {
            StripeError::ClientError(m) => PaymentError::Offline(m),
            StripeError::Timeout => PaymentError::Offline("timeout".into()),
            // A 5xx is Stripe (or the venue's proxy) being unavailable.
            StripeError::Stripe(err, status) if status >= 500 => {
                PaymentError::Offline(format!("{status}: {}", err.message.unwrap_or_default()))
            }
            StripeError::Stripe(err, status) => {
                PaymentError::Rejected(format!("{status}: {}", err.message.unwrap_or_default()))
            }
            StripeError::JSONDeserialize(m) => PaymentError::Unexpected(m),
            StripeError::ConfigError(m) => PaymentError::Config(m),
        }
    }
}
