//! Token store tests: hashing, expiry, revocation, persistence and modes.

use std::os::unix::fs::PermissionsExt;

use super::*;

fn new(name: &str, role: Role) -> NewToken {
    NewToken {
        name: name.into(),
        role,
        namespaces: vec![],
        apps: vec![],
        ttl: None,
    }
}

#[test]
fn a_created_token_authenticates_and_only_its_hash_is_stored() {
    let tmp = ferry_test_support::temp_dir();
    let store = TokenStore::open(tmp.path()).unwrap();
    let (secret, record) = store.create(new("ci", Role::Deployer), 100).unwrap();
    assert!(secret.starts_with("ferry_") && secret.len() > 40);
    assert_eq!(record.role, Role::Deployer);
    let id = store.verify(&secret, 101).expect("token verifies");
    assert_eq!((id.name.as_str(), id.role), ("ci", Role::Deployer));
    assert!(store.verify("ferry_wrong", 101).is_none());
    let text = std::fs::read_to_string(tmp.path().join("tokens.json")).unwrap();
    assert!(!text.contains(&secret), "the secret itself is never stored");
    assert!(text.contains(&hex::encode(hash(&secret))));
    let mode = std::fs::metadata(tmp.path().join("tokens.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn tokens_survive_reopening_and_revocation_is_immediate_and_durable() {
    let tmp = ferry_test_support::temp_dir();
    let store = TokenStore::open(tmp.path()).unwrap();
    let (a, _) = store.create(new("a", Role::Viewer), 0).unwrap();
    let (b, _) = store.create(new("b", Role::Admin), 0).unwrap();
    let again = TokenStore::open(tmp.path()).unwrap();
    assert_eq!(again.verify(&a, 1).unwrap().role, Role::Viewer);
    again.revoke("a").unwrap();
    assert!(again.verify(&a, 1).is_none());
    assert!(again.verify(&b, 1).is_some());
    let third = TokenStore::open(tmp.path()).unwrap();
    assert!(third.verify(&a, 1).is_none());
    assert_eq!(third.list().len(), 1);
    assert!(matches!(third.revoke("a"), Err(Error::NotFound(_))));
}

#[test]
fn expired_tokens_are_refused() {
    let tmp = ferry_test_support::temp_dir();
    let store = TokenStore::open(tmp.path()).unwrap();
    let mut t = new("short", Role::Viewer);
    t.ttl = Some(60);
    let (secret, record) = store.create(t, 1_000).unwrap();
    assert_eq!(record.expires, Some(1_060));
    assert!(store.verify(&secret, 1_059).is_some());
    assert!(store.verify(&secret, 1_060).is_none());
}

#[test]
fn names_are_unique_dns_labels() {
    let tmp = ferry_test_support::temp_dir();
    let store = TokenStore::open(tmp.path()).unwrap();
    store.create(new("ci", Role::Viewer), 0).unwrap();
    assert!(matches!(
        store.create(new("ci", Role::Admin), 0),
        Err(Error::Exists(_))
    ));
    for bad in ["", "Ci", "-x", "x-", "a/b", &"x".repeat(64)] {
        assert!(
            matches!(
                store.create(new(bad, Role::Viewer), 0),
                Err(Error::BadName(_))
            ),
            "{bad:?} must be refused"
        );
    }
    assert_eq!(store.unused_name("ci"), "ci-2");
    assert_eq!(store.unused_name("admin"), "admin");
}

#[test]
fn scope_is_carried_into_the_identity() {
    let tmp = ferry_test_support::temp_dir();
    let store = TokenStore::open(tmp.path()).unwrap();
    let mut t = new("team", Role::Deployer);
    t.namespaces = vec!["team-a".into()];
    t.apps = vec!["shop".into()];
    let (secret, _) = store.create(t, 0).unwrap();
    let id = store.verify(&secret, 0).unwrap();
    assert_eq!(id.namespaces, vec!["team-a".to_string()]);
    assert_eq!(id.apps, vec!["shop".to_string()]);
}

#[test]
fn a_corrupt_store_is_an_error_not_an_empty_store() {
    let tmp = ferry_test_support::temp_dir();
    std::fs::write(tmp.path().join("tokens.json"), b"{not json").unwrap();
    assert!(matches!(
        TokenStore::open(tmp.path()),
        Err(Error::Corrupt(_))
    ));
}
