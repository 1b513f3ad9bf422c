//! Stripe's webhook signature scheme: the `Stripe-Signature` header carries
//! `t=<unix seconds>` and one or more `v1=<hex HMAC-SHA256>` over
//! `"{t}.{raw body}"`, keyed with the endpoint's signing secret. Several
//! `v1` values appear while a secret is being rolled. An event older than
//! the tolerance is refused, so a captured request cannot be replayed.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's default tolerance: five minutes.
pub const TOLERANCE_S: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    #[error("no v1 signature matches this body")]
    Mismatch,
    #[error("the signature's timestamp is older than the tolerance")]
    TooOld,
    /// Stamped further ahead than the tolerance: a clock this far off,
    /// or a request prepared to be replayed later.
    #[error("the signature's timestamp is further in the future than the tolerance")]
    InTheFuture,
}

struct Header<'a> {
    timestamp: i64,
    v1: Vec<&'a str>,
}

fn parse(header: &str) -> Result<Header<'_>, SignatureError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" if timestamp.is_none() => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "t" => return Err(SignatureError::Malformed),
            "v1" => v1.push(value),
            // v0 (test-mode legacy) and future schemes are ignored.
            _ => {}
        }
    }
    match (timestamp, v1.is_empty()) {
        (Some(timestamp), false) => Ok(Header { timestamp, v1 }),
        _ => Err(SignatureError::Malformed),
    }
}

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// Checks `header` against `payload` at `now_s`; returns the signed
/// timestamp. Comparison is constant-time per candidate signature.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secret: &str,
    now_s: i64,
) -> Result<i64, SignatureError> {
    let header = parse(header.ok_or(SignatureError::Missing)?)?;
    let expected = mac(secret, header.timestamp, payload);
    let matches = header.v1.iter().any(|sig| {
        hex::decode(sig).is_ok_and(|bytes| expected.clone().verify_slice(&bytes).is_ok())
    });
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    // Checked after the MAC, as Stripe's libraries do: the timestamp is
    // only meaningful once it is known to be signed.
    if now_s - header.timestamp > TOLERANCE_S {
        return Err(SignatureError::TooOld);
    }
    if header.timestamp - now_s > TOLERANCE_S {
        return Err(SignatureError::InTheFuture);
    }
    Ok(header.timestamp)
}

/// The header Stripe would send for `payload` at `timestamp`; used by the
/// kiosk's own tests and by `smileloop` tooling that replays events.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let sig = mac(secret, timestamp, payload).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;

    #[test]
    fn a_timestamp_beyond_the_tolerance_either_way_is_refused() {
        let now = 1_700_000_000;
        let at = |t: i64| verify(Some(&sign(BODY, SECRET, t)), BODY, SECRET, now);
        assert_eq!(at(now + TOLERANCE_S), Ok(now + TOLERANCE_S));
        assert_eq!(at(now + TOLERANCE_S + 1), Err(SignatureError::InTheFuture));
        assert_eq!(at(now - TOLERANCE_S - 1), Err(SignatureError::TooOld));
    }

    #[test]
    fn a_fresh_correct_signature_passes() {
        let h = sign(BODY, SECRET, 1_700_000_000);
        assert_eq!(
            verify(Some(&h), BODY, SECRET, 1_700_000_010),
            Ok(1_700_000_000)
        );
    }

    #[test]
    fn known_vector_matches_an_independent_hmac() {
        // HMAC-SHA256("whsec_test_secret", "1700000000.{BODY}") from
        // Python's hmac module.
        let h = sign(BODY, SECRET, 1_700_000_000);
        assert_eq!(
            h,
            "t=1700000000,v1=a13d4b1f9003bc2fb6c06224e878b6056185eaa50d40e1e7dc05517f8af41d7b"
        );
    }

    #[test]
    fn wrong_secret_tampered_body_and_replays_are_refused() {
        let h = sign(BODY, SECRET, 1_700_000_000);
        let now = 1_700_000_001;
        assert_eq!(
            verify(Some(&h), BODY, "whsec_other", now),
            Err(SignatureError::Mismatch)
        );
        let tampered = br#"{"id":"evt_1","type":"checkout.session.completeD"}"#;
        assert_eq!(
            verify(Some(&h), tampered, SECRET, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&h), BODY, SECRET, 1_700_000_000 + TOLERANCE_S + 1),
            Err(SignatureError::TooOld)
        );
        assert_eq!(
            verify(None, BODY, SECRET, now),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn several_v1_values_any_may_match_and_junk_is_malformed() {
        let good = sign(BODY, SECRET, 1_700_000_000);
        let sig = good.split("v1=").nth(1).expect("v1");
        let rolled = format!("t=1700000000,v1={},v0=abc,v1={sig}", "00".repeat(32));
        assert!(verify(Some(&rolled), BODY, SECRET, 1_700_000_000).is_ok());
        for junk in [
            "",
            "t=1700000000",
            "v1=abcd",
            "t=soon,v1=abcd",
            "t=1,t=2,v1=ab",
            "garbage",
        ] {
            assert_eq!(
                verify(Some(junk), BODY, SECRET, 1_700_000_000),
                Err(SignatureError::Malformed),
                "{junk:?}"
            );
        }
        let not_hex = "t=1700000000,v1=zz";
        assert_eq!(
            verify(Some(not_hex), BODY, SECRET, 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
    }
}
