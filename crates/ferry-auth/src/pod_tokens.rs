//! Pods' service-account tokens in the region's token store: the embedded
//! runtime creates one when a pod starts (its `serviceAccountName`, its
//! uid) and revokes it when the pod is gone. They are ordinary API tokens —
//! hashed at rest, listed by `ferry token list` without their secret — whose
//! [`Identity`](ferry_api::Identity) carries the ServiceAccount, so the
//! middleware authorises them by RBAC rules ([`crate::service_accounts`])
//! instead of by role. The secret is returned once, to be written into the
//! pod's token file; it is never logged.

use ferry_api::{Role, ServiceAccountRef};

use crate::Error;
use crate::store::{TokenRecord, TokenStore, generate, hash};

/// The name of pod `uid`'s token (`pod-<uid>`: a uid is 36 characters of
/// `[0-9a-f-]`, so the name is a valid token name).
pub fn pod_token_name(uid: &str) -> String {
    format!("pod-{uid}")
}

impl TokenStore {
    /// Creates the token of pod `pod_uid` acting as `account`, replacing
    /// any the pod had; returns its secret. The record's role is viewer and
    /// its namespace the account's (what `ferry token list` shows); what it
    /// may do is decided by RBAC.
    pub fn create_pod_token(
        &self,
        account: &ServiceAccountRef,
        pod_uid: &str,
        now: u64,
    ) -> Result<String, Error> {
        let name = pod_token_name(pod_uid);
        if !crate::store::valid_name(&name) {
            return Err(Error::BadName(name));
        }
        self.revoke_pod_tokens(pod_uid)?;
        let secret = generate()?;
        let record = TokenRecord {
            name,
            role: Role::Viewer,
            namespaces: vec![account.namespace.clone()],
            apps: vec![],
            created: now,
            expires: None,
            service_account: Some(account.clone()),
            pod: Some(pod_uid.to_string()),
            sha256: hex::encode(hash(&secret)),
        };
        let mut state = self.write();
        self.insert(&mut state, record)?;
        Ok(secret)
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

    /// The uids of the pods holding a token.
    pub fn pod_token_uids(&self) -> Vec<String> {
        self.read()
            .records
            .iter()
            .filter_map(|r| r.pod.clone())
            .collect()
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
        let secret = store.create_pod_token(&sa(), uid, 100).unwrap();
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
        let second = store.create_pod_token(&sa(), uid, 103).unwrap();
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
        let g = store.create_pod_token(&sa(), gone, 1).unwrap();
        let l = store.create_pod_token(&sa(), live, 1).unwrap();
        let revoked = store.revoke_pod_tokens_except(&|u| u == live).unwrap();
        assert_eq!(revoked, vec![gone.to_string()]);
        assert!(store.verify(&g, 2).is_none() && store.verify(&l, 2).is_some());
    }
}
