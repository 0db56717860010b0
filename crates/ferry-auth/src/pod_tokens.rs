//! Pods' service-account tokens in the region's token store: the embedded
//! runtime creates one when a pod starts (its `serviceAccountName`, its
//! uid) and revokes it when the pod is gone. They are ordinary API tokens —
//! hashed at rest, listed by `ferry token list` without their secret — whose
//! [`Identity`](ferry_api::Identity) carries the ServiceAccount, so the
//! middleware authorises them by RBAC rules ([`crate::service_accounts`])
//! instead of by role. The secret is returned once, to be written into the
//! pod's token file; it is never logged.
//!
//! Like Kubernetes' bound service-account tokens they expire (an hour by
//! default, [`POD_TOKEN_TTL`]) and are rotated while the pod runs: once a
//! fifth of the newest token's life is left ([`TokenStore::pod_token_due`])
//! a new one is issued and written over the pod's file; the old one stays
//! valid until it expires, so a client holding it is not cut off mid-call.

use ferry_api::{Role, ServiceAccountRef};

use crate::Error;
use crate::store::{TokenRecord, TokenStore, generate, hash};

/// The name of pod `uid`'s token (`pod-<uid>`: a uid is 36 characters of
/// `[0-9a-f-]`, so the name is a valid token name).
pub fn pod_token_name(uid: &str) -> String {
    format!("pod-{uid}")
}

/// A pod token's lifetime in seconds (Kubernetes' bound tokens: an hour).
pub const POD_TOKEN_TTL: u64 = 3600;

impl TokenStore {
    /// Creates the token of pod `pod_uid` acting as `account`, valid for
    /// `ttl` seconds, replacing any the pod had; returns its secret. The
    /// record's role is viewer and its namespace the account's (what
    /// `ferry token list` shows); what it may do is decided by RBAC.
    pub fn create_pod_token(
        &self,
        account: &ServiceAccountRef,
        pod_uid: &str,
        now: u64,
        ttl: u64,
    ) -> Result<String, Error> {
        self.revoke_pod_tokens(pod_uid)?;
        self.add_pod_token(account, pod_uid, pod_token_name(pod_uid), now, ttl)
    }

    /// Issues pod `pod_uid` a further token valid for `ttl` seconds and
    /// drops its expired ones; the tokens it still holds stay valid until
    /// they expire. Returns the new secret.
    pub fn rotate_pod_token(
        &self,
        account: &ServiceAccountRef,
        pod_uid: &str,
        now: u64,
        ttl: u64,
    ) -> Result<String, Error> {
        self.remove_where(|r| {
            r.pod.as_deref() == Some(pod_uid) && r.expires.is_some_and(|e| now >= e)
        })?;
        let name = format!("{}-{now}", pod_token_name(pod_uid));
        self.add_pod_token(account, pod_uid, name, now, ttl)
    }

    fn add_pod_token(
        &self,
        account: &ServiceAccountRef,
        pod_uid: &str,
        name: String,
        now: u64,
        ttl: u64,
    ) -> Result<String, Error> {
        if !crate::store::valid_name(&name) {
            return Err(Error::BadName(name));
        }
        let secret = generate()?;
        let record = TokenRecord {
            name,
            role: Role::Viewer,
            namespaces: vec![account.namespace.clone()],
            apps: vec![],
            created: now,
            expires: Some(now.saturating_add(ttl.max(1))),
            service_account: Some(account.clone()),
            pod: Some(pod_uid.to_string()),
            sha256: hex::encode(hash(&secret)),
        };
        let mut state = self.write();
        self.insert(&mut state, record)?;
        Ok(secret)
    }

    /// Whether pod `pod_uid` holds a token still valid at `now`.
    pub fn pod_token_valid(&self, pod_uid: &str, now: u64) -> bool {
        self.newest_pod_expiry(pod_uid)
            .is_some_and(|e| e == u64::MAX || now < e)
    }

    /// Whether pod `pod_uid`'s newest token (of lifetime `ttl`) has a fifth
    /// of its life or less left at `now`, so a new one is due.
    pub fn pod_token_due(&self, pod_uid: &str, now: u64, ttl: u64) -> bool {
        self.newest_pod_expiry(pod_uid)
            .is_some_and(|e| e != u64::MAX && e.saturating_sub(now).saturating_mul(5) <= ttl)
    }

    /// The expiry of the pod's newest token (`u64::MAX`: one never expires).
    fn newest_pod_expiry(&self, pod_uid: &str) -> Option<u64> {
        self.read()
            .records
            .iter()
            .filter(|r| r.pod.as_deref() == Some(pod_uid))
            .map(|r| r.expires.unwrap_or(u64::MAX))
            .max()
    }

    /// Revokes the tokens of pod `pod_uid`; how many there were.
    pub fn revoke_pod_tokens(&self, pod_uid: &str) -> Result<usize, Error> {
        let removed = self.remove_where(|r| r.pod.as_deref() == Some(pod_uid))?;
        Ok(removed.len())
    }

    /// Revokes the pod tokens whose pod is not among `live` (pods deleted
    /// while ferry was down); the uids revoked.
    pub fn revoke_pod_tokens_except(
        &self,
        live: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<String>, Error> {
        let removed = self.remove_where(|r| r.pod.as_deref().is_some_and(|p| !live(p)))?;
        Ok(removed.into_iter().filter_map(|r| r.pod).collect())
    }

    /// The uids of the pods holding a token (once each).
    pub fn pod_token_uids(&self) -> Vec<String> {
        let uids: std::collections::BTreeSet<String> = self
            .read()
            .records
            .iter()
            .filter_map(|r| r.pod.clone())
            .collect();
        uids.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa() -> ServiceAccountRef {
        ServiceAccountRef {
            namespace: "team".into(),
            name: "reader".into(),
        }
    }

    #[test]
    fn a_pod_token_authenticates_as_its_service_account_until_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let uid = "0b6f3c1e-2a4d-4c59-9f1e-0123456789ab";
        let secret = store
            .create_pod_token(&sa(), uid, 100, POD_TOKEN_TTL)
            .unwrap();
        let who = store.verify(&secret, 101).unwrap();
        assert_eq!(who.service_account, Some(sa()));
        assert_eq!(who.name, format!("pod-{uid}"));
        assert_eq!(who.namespaces, vec!["team".to_string()]);
        // Persisted: a reopened store knows it, without the secret in the file.
        let again = TokenStore::open(dir.path()).unwrap();
        assert!(again.verify(&secret, 102).is_some());
        let file = std::fs::read_to_string(dir.path().join("tokens.json")).unwrap();
        assert!(!file.contains(&secret) && file.contains("serviceAccount"));
        // A second start of the same pod replaces its token.
        let second = store
            .create_pod_token(&sa(), uid, 103, POD_TOKEN_TTL)
            .unwrap();
        assert!(store.verify(&secret, 104).is_none());
        assert_eq!(store.pod_token_uids(), vec![uid.to_string()]);
        assert_eq!(store.revoke_pod_tokens(uid).unwrap(), 1);
        assert!(store.verify(&second, 105).is_none());
        assert_eq!(store.revoke_pod_tokens(uid).unwrap(), 0);
    }

    #[test]
    fn tokens_of_pods_that_are_gone_are_revoked_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let (gone, live) = ("aaaa", "bbbb");
        let g = store
            .create_pod_token(&sa(), gone, 1, POD_TOKEN_TTL)
            .unwrap();
        let l = store
            .create_pod_token(&sa(), live, 1, POD_TOKEN_TTL)
            .unwrap();
        let revoked = store.revoke_pod_tokens_except(&|u| u == live).unwrap();
        assert_eq!(revoked, vec![gone.to_string()]);
        assert!(store.verify(&g, 2).is_none() && store.verify(&l, 2).is_some());
    }

    #[test]
    fn pod_tokens_expire_and_rotation_keeps_the_old_one_until_it_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path()).unwrap();
        let uid = "0b6f3c1e-2a4d-4c59-9f1e-0123456789ab";
        let first = store.create_pod_token(&sa(), uid, 1_000, 100).unwrap();
        assert!(store.verify(&first, 1_099).is_some());
        assert!(store.verify(&first, 1_100).is_none(), "expired");
        // Due once a fifth of its life is left.
        assert!(!store.pod_token_due(uid, 1_079, 100));
        assert!(store.pod_token_due(uid, 1_080, 100));
        let second = store.rotate_pod_token(&sa(), uid, 1_080, 100).unwrap();
        assert!(
            !store.pod_token_due(uid, 1_081, 100),
            "the new one is fresh"
        );
        // Both valid until the first expires; then only the second.
        assert!(store.verify(&first, 1_090).is_some());
        assert!(store.verify(&second, 1_090).is_some());
        assert!(store.verify(&first, 1_100).is_none());
        assert!(store.pod_token_valid(uid, 1_179) && !store.pod_token_valid(uid, 1_180));
        // The next rotation drops the expired record; one uid, then none.
        store.rotate_pod_token(&sa(), uid, 1_160, 100).unwrap();
        let names: Vec<String> = store
            .read()
            .records
            .iter()
            .map(|r| r.name.clone())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(!names.contains(&pod_token_name(uid)), "{names:?}");
        assert_eq!(store.pod_token_uids(), vec![uid.to_string()]);
        assert_eq!(store.revoke_pod_tokens(uid).unwrap(), 2);
        assert!(!store.pod_token_valid(uid, 1_161));
    }
}
