//! Staff sign-in: one staff password (argon2id, a PHC string in sled),
//! sessions as random tokens of which only the SHA-256 is stored (a copy
//! of the database does not log anyone in), a CSRF token per session. Wrong
//! passwords are counted in `throttle`.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How long a staff session lasts, from sign-in.
pub const SESSION_MS: i64 = 12 * 3_600_000;
pub const MIN_PASSWORD: usize = 8;
pub const MAX_PASSWORD: usize = 128;

const PASSWORD_KEY: &str = "password";
const SESSION_PREFIX: &str = "session/";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the password must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")]
    PasswordLength,
    #[error("the two passwords do not match")]
    Mismatch,
    #[error("no staff password is set yet")]
    NoPassword,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("staff store: {0}")]
    Db(#[from] sled::Error),
    #[error("staff store record is corrupt: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub created_ms: i64,
    pub expires_ms: i64,
    /// Sent back with every state-changing request.
    pub csrf: String,
}

impl Session {
    pub fn csrf_matches(&self, given: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(given.as_bytes()))
    }
}

/// A fresh random token, 256 bits as hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // No safe fallback exists for a session secret.
    getrandom::fill(&mut bytes).expect("OS random source");
    hex::encode(bytes)
}

fn session_key(token: &str) -> Vec<u8> {
    let mut key = SESSION_PREFIX.as_bytes().to_vec();
    key.extend_from_slice(&Sha256::digest(token.as_bytes()));
    key
}

thread_local! {
    /// Argon2's work memory for password checks, kept by each thread that
    /// checks: allocating ~19 MiB per check and freeing it fragments the
    /// heap until the process holds hundreds of MiB.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The most work memory a stored hash may ask for (64 MiB).
const MAX_BLOCKS: usize = 64 * 1024;

/// Checks `password` against a PHC `hash`, as argon2's own verifier does
/// but in this thread's reused work memory.
fn verify_in_place(password: &[u8], hash: &PasswordHash<'_>) -> Result<bool, AuthError> {
    let corrupt = |e: &dyn std::fmt::Display| AuthError::Corrupt(e.to_string());
    let algorithm = argon2::Algorithm::try_from(hash.algorithm).map_err(|e| corrupt(&e))?;
    let version = match hash.version {
        Some(v) => argon2::Version::try_from(v).map_err(|e| corrupt(&e))?,
        None => argon2::Version::default(),
    };
    let params = argon2::Params::try_from(hash).map_err(|e| corrupt(&e))?;
    let mut salt = [0u8; 64];
    let salt = hash
        .salt
        .ok_or_else(|| corrupt(&"no salt"))?
        .decode_b64(&mut salt)
        .map_err(|e| corrupt(&e))?;
    let expected = hash.hash.ok_or_else(|| corrupt(&"no hash"))?;
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return Err(corrupt(&"the hash asks for too much memory"));
    }
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    BLOCKS
        .with_borrow_mut(|memory| {
            if memory.len() < blocks {
                memory.resize(blocks, argon2::Block::default());
            }
            argon.hash_password_into_with_memory(password, salt, &mut out, &mut memory[..blocks])
        })
        .map_err(|e| corrupt(&e))?;
    Ok(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
}

pub fn check_new_password(password: &str, again: &str) -> Result<(), AuthError> {
    let len = password.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&len) {
        return Err(AuthError::PasswordLength);
    }
    if password != again {
        return Err(AuthError::Mismatch);
    }
    Ok(())
}

/// The staff password and sessions, in the `staff` tree.
#[derive(Clone)]
pub struct StaffAuth {
    tree: sled::Tree,
}

impl StaffAuth {
    pub fn new(tree: sled::Tree) -> Self {
        Self { tree }
    }

    pub fn has_password(&self) -> Result<bool, AuthError> {
        Ok(self.tree.contains_key(PASSWORD_KEY)?)
    }

    /// Sets the password (argon2id, a fresh salt) and signs every session
    /// out. Slow by design: call it off the async threads.
    pub fn set_password(&self, password: &str) -> Result<(), AuthError> {
        let len = password.chars().count();
        if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&len) {
            return Err(AuthError::PasswordLength);
        }
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| AuthError::Hash(e.to_string()))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| AuthError::Hash(e.to_string()))?
            .to_string();
        self.tree.insert(PASSWORD_KEY, hash.as_bytes())?;
        self.close_all()?;
        self.tree.flush()?;
        Ok(())
    }

    /// Whether `password` is the staff password. Slow by design: the
    /// login throttle runs it on a checker thread.
    pub fn verify(&self, password: &str) -> Result<bool, AuthError> {
        let stored = self.tree.get(PASSWORD_KEY)?.ok_or(AuthError::NoPassword)?;
        let text = std::str::from_utf8(&stored).map_err(|e| AuthError::Corrupt(e.to_string()))?;
        let hash = PasswordHash::new(text).map_err(|e| AuthError::Corrupt(e.to_string()))?;
        if password.len() > MAX_PASSWORD * 4 {
            return Ok(false);
        }
        verify_in_place(password.as_bytes(), &hash)
    }

    /// A new session; the token goes into the cookie and nowhere else.
    pub fn open_session(&self, now_ms: i64) -> Result<(String, Session), AuthError> {
        let token = random_token();
        let session = Session {
            created_ms: now_ms,
            expires_ms: now_ms + SESSION_MS,
            csrf: random_token(),
        };
        let bytes = serde_json::to_vec(&session).map_err(|e| AuthError::Corrupt(e.to_string()))?;
        self.prune(now_ms)?;
        self.tree.insert(session_key(&token), bytes)?;
        self.tree.flush()?;
        Ok((token, session))
    }

    /// Removes expired sessions, so a season of sign-ins leaves no trail.
    fn prune(&self, now_ms: i64) -> Result<(), AuthError> {
        for kv in self.tree.scan_prefix(SESSION_PREFIX) {
            let (k, v) = kv?;
            let expired =
                serde_json::from_slice::<Session>(&v).map_or(true, |s| now_ms >= s.expires_ms);
            if expired {
                self.tree.remove(k)?;
            }
        }
        Ok(())
    }

    /// The live session for `token`; an expired one is removed.
    pub fn session(&self, token: &str, now_ms: i64) -> Result<Option<Session>, AuthError> {
        if token.len() != 64 {
            return Ok(None);
        }
        let key = session_key(token);
        let Some(bytes) = self.tree.get(&key)? else {
            return Ok(None);
        };
        let session: Session =
            serde_json::from_slice(&bytes).map_err(|e| AuthError::Corrupt(e.to_string()))?;
        // A clock that jumped back must not stretch a session either.
        if now_ms >= session.expires_ms || now_ms + SESSION_MS < session.created_ms {
            self.tree.remove(&key)?;
            return Ok(None);
        }
        Ok(Some(session))
    }

    pub fn close_session(&self, token: &str) -> Result<(), AuthError> {
        self.tree.remove(session_key(token))?;
        self.tree.flush()?;
        Ok(())
    }

    /// Signs out every device; returns how many sessions there were.
    pub fn close_all(&self) -> Result<usize, AuthError> {
        let keys: Vec<_> = self
            .tree
            .scan_prefix(SESSION_PREFIX)
            .keys()
            .collect::<Result<_, _>>()?;
        for k in &keys {
            self.tree.remove(k)?;
        }
        self.tree.flush()?;
        Ok(keys.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> (tempfile::TempDir, StaffAuth) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("sled");
        (dir, StaffAuth::new(db.open_tree("staff").expect("tree")))
    }

    #[test]
    fn password_is_stored_as_argon2id_and_checked() {
        let (_dir, auth) = auth();
        assert!(!auth.has_password().expect("read"));
        assert!(matches!(auth.verify("x"), Err(AuthError::NoPassword)));
        assert!(matches!(
            auth.set_password("short"),
            Err(AuthError::PasswordLength)
        ));
        auth.set_password("correct horse").expect("set");
        let stored = auth.tree.get(PASSWORD_KEY).expect("get").expect("some");
        assert!(stored.starts_with(b"$argon2id$"));
        assert!(!stored.windows(7).any(|w| w == b"correct"));
        assert!(auth.verify("correct horse").expect("verify"));
        assert!(!auth.verify("correct horsE").expect("verify"));
    }

    #[test]
    fn sessions_expire_and_a_new_password_signs_everyone_out() {
        let (_dir, auth) = auth();
        auth.set_password("correct horse").expect("set");
        let (a, sa) = auth.open_session(1_000).expect("open");
        let (b, _) = auth.open_session(1_000).expect("open");
        assert_eq!(auth.session(&a, 2_000).expect("get"), Some(sa.clone()));
        assert!(sa.csrf_matches(&sa.csrf) && !sa.csrf_matches("nope"));
        assert_eq!(auth.session(&a, 1_000 + SESSION_MS).expect("get"), None);
        assert_eq!(auth.session(&a, 2_000).expect("get"), None, "removed");
        assert_eq!(auth.session("zz", 2_000).expect("get"), None);
        assert!(auth.session(&b, 2_000).expect("get").is_some());
        let (c, _) = auth.open_session(2_000 + SESSION_MS).expect("open");
        assert_eq!(
            auth.session(&b, 2_000).expect("get"),
            None,
            "pruned when c signed in"
        );
        assert!(auth.session(&c, 3_000 + SESSION_MS).expect("get").is_some());
        auth.set_password("another one").expect("set");
        assert_eq!(auth.session(&b, 2_000).expect("get"), None);
    }
}
