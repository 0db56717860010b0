//! Bearer tokens: `base64url(claims JSON) . base64url(HMAC-SHA256)`, signed
//! with a key kept in the registry's directory (created 0600 on first start).
//! Clients treat them as opaque; only this registry verifies them.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};

/// One granted scope: `repository:<name>:<actions>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account (empty for anonymous).
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    pub access: Vec<Grant>,
}

/// Signs and verifies tokens.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<redacted>)")
    }
}

impl Signer {
    /// Loads the key at `path`, creating a random one if absent.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        match std::fs::read(path) {
            Ok(key) if key.len() >= 32 => return Ok(Self { key }),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(path, e)),
        }
        let mut key = Vec::with_capacity(32);
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        super::minted::write_private(path, &key)?;
        Ok(Self { key })
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.key).expect("hmac takes any key length")
    }

    /// A signed token for `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        let payload = B64.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        format!("{payload}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    /// The claims of a valid, unexpired token.
    pub fn verify(&self, token: &str, now: u64) -> Option<Claims> {
        let (payload, sig) = token.split_once('.')?;
        let sig = B64.decode(sig).ok()?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig).ok()?;
        let claims: Claims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        (claims.exp > now).then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_tampering_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let s = Signer::load_or_create(&dir.path().join("k")).unwrap();
        let claims = Claims {
            sub: "alice".into(),
            exp: 100,
            access: vec![Grant {
                kind: "repository".into(),
                name: "a/b".into(),
                actions: vec!["pull".into()],
            }],
        };
        let t = s.sign(&claims);
        assert_eq!(s.verify(&t, 50), Some(claims));
        assert_eq!(s.verify(&t, 100), None);
        let mut forged = t.clone();
        forged.insert(3, 'x');
        assert_eq!(s.verify(&forged, 50), None);
        // The key persists.
        let again = Signer::load_or_create(&dir.path().join("k")).unwrap();
        assert!(again.verify(&t, 50).is_some());
    }
}
