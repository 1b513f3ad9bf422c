//! The Stripe keys in force and the client built from them. The config
//! file gives the first keys; staff may enter new ones on the admin page
//! while the kiosk runs. Entered keys are kept in the store (tree
//! `settings`, key `stripe`), win over the file across restarts, and are
//! never shown again: pages only learn whether keys are set and whether
//! they are test or live keys.

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use super::{PaymentError, StripeApi};
use crate::config::{stripe_key_ok, Secret};

const KEY: &str = "stripe";

#[derive(Serialize, Deserialize)]
struct Stored {
    secret_key: Secret,
    webhook_secret: Secret,
}

struct InForce {
    api: Arc<StripeApi>,
    webhook_secret: Secret,
    live: bool,
}

pub struct StripeKeys {
    tree: sled::Tree,
    api_base: String,
    current: RwLock<Option<InForce>>,
}

fn build(api_base: &str, secret_key: &Secret, webhook: &Secret) -> Result<InForce, PaymentError> {
    Ok(InForce {
        api: Arc::new(StripeApi::new(secret_key.expose(), api_base)?),
        webhook_secret: webhook.clone(),
        live: secret_key.expose().contains("_live_"),
    })
}

/// Checks a pair of keys as staff typed them.
pub fn check(secret_key: &str, webhook_secret: &str) -> Result<(), PaymentError> {
    if !stripe_key_ok(secret_key, &["sk_", "rk_"]) {
        return Err(PaymentError::Config(
            "the secret key must be a Stripe secret key (sk_… or rk_…)".into(),
        ));
    }
    if !stripe_key_ok(webhook_secret, &["whsec_"]) {
        return Err(PaymentError::Config(
            "the webhook secret must be a signing secret (whsec_…)".into(),
        ));
    }
    Ok(())
}

impl StripeKeys {
    /// Stored keys, else the file's (both or none).
    pub fn open(
        tree: sled::Tree,
        api_base: &str,
        file_keys: Option<(&Secret, &Secret)>,
    ) -> Result<Self, PaymentError> {
        let stored: Option<Stored> = tree
            .get(KEY)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|s: &Stored| check(s.secret_key.expose(), s.webhook_secret.expose()).is_ok());
        let current = match (&stored, file_keys) {
            (Some(s), _) => Some(build(api_base, &s.secret_key, &s.webhook_secret)?),
            (None, Some((k, w))) => Some(build(api_base, k, w)?),
            (None, None) => None,
        };
        Ok(Self {
            tree,
            api_base: api_base.to_string(),
            current: RwLock::new(current),
        })
    }

    pub fn api(&self) -> Option<Arc<StripeApi>> {
        let c = self.current.read().ok()?;
        c.as_ref().map(|k| Arc::clone(&k.api))
    }

    pub fn webhook_secret(&self) -> Option<Secret> {
        let c = self.current.read().ok()?;
        c.as_ref().map(|k| k.webhook_secret.clone())
    }

    /// `None` without keys; else whether they are live (not test) keys.
    pub fn live(&self) -> Option<bool> {
        let c = self.current.read().ok()?;
        c.as_ref().map(|k| k.live)
    }

    /// Checks, stores durably, then uses the new keys.
    pub async fn replace(
        &self,
        secret_key: &str,
        webhook_secret: &str,
    ) -> Result<(), PaymentError> {
        check(secret_key, webhook_secret)?;
        let stored = Stored {
            secret_key: Secret::new(secret_key),
            webhook_secret: Secret::new(webhook_secret),
        };
        let in_force = build(&self.api_base, &stored.secret_key, &stored.webhook_secret)?;
        let bytes = serde_json::to_vec(&stored).map_err(|e| PaymentError::Config(e.to_string()))?;
        let store_err = |e: sled::Error| PaymentError::Config(format!("saving the keys: {e}"));
        self.tree.insert(KEY, bytes).map_err(store_err)?;
        self.tree.flush_async().await.map_err(store_err)?;
        if let Ok(mut c) = self.current.write() {
            *c = Some(in_force);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entered_keys_replace_the_files_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("sled");
        let tree = || db.open_tree("settings").expect("tree");
        let base = "http://127.0.0.1:9";
        let keys = StripeKeys::open(tree(), base, None).expect("open");
        assert!(keys.api().is_none() && keys.webhook_secret().is_none());
        assert!(keys.replace("pk_live_x", "whsec_x").await.is_err());
        assert!(keys.replace("sk_test_x", "sk_test_y").await.is_err());
        assert!(keys.api().is_none(), "a refused pair changes nothing");
        keys.replace("sk_live_abc", "whsec_def")
            .await
            .expect("replace");
        assert_eq!(keys.live(), Some(true));
        assert_eq!(
            keys.webhook_secret()
                .map(|s| s.expose().to_string())
                .as_deref(),
            Some("whsec_def")
        );
        let (k, w) = (Secret::new("sk_test_file"), Secret::new("whsec_file"));
        let reopened = StripeKeys::open(tree(), base, Some((&k, &w))).expect("open");
        assert_eq!(
            reopened.live(),
            Some(true),
            "entered keys win over the file"
        );
    }
}
