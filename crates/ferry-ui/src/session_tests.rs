//! Tests of the session store: expiry, eviction, revocation, CSRF.

use super::*;

fn store(idle: u64, absolute: u64, max: usize) -> SessionStore {
    SessionStore::new(Limits {
        idle,
        absolute,
        max,
    })
}

#[test]
fn a_session_is_found_by_its_id_and_keeps_only_the_tokens_name() {
    let mut s = store(60, 600, 10);
    s.create("id-1", "alice", "csrf-1".into(), 100);
    let found = s.touch("id-1", 110).unwrap();
    assert_eq!(found.token, "alice");
    assert_eq!(found.csrf, "csrf-1");
    assert_eq!(found.last_seen, 110);
    assert!(s.touch("id-2", 110).is_none(), "another id is no session");
    // The map is keyed by the identifier's hash, never the identifier.
    assert!(!format!("{s:?}").contains("id-1"));
}

#[test]
fn idle_sessions_end_and_requests_keep_them_alive() {
    let mut s = store(60, 600, 10);
    s.create("a", "alice", "c".into(), 0);
    assert!(s.alive("a", 59));
    assert!(!s.alive("a", 60), "alive does not restart the idle clock");
    assert!(s.touch("a", 59).is_some());
    assert!(
        s.touch("a", 118).is_some(),
        "the idle clock restarted at 59"
    );
    assert!(s.touch("a", 178).is_none(), "60 s without a request");
    assert!(s.is_empty(), "an expired session is removed");
}

#[test]
fn sessions_end_after_the_absolute_limit_even_when_busy() {
    let mut s = store(60, 100, 10);
    s.create("a", "alice", "c".into(), 0);
    for t in (10..100).step_by(10) {
        assert!(s.touch("a", t).is_some(), "{t}");
    }
    assert!(s.touch("a", 100).is_none());
}

#[test]
fn logout_and_revocation_end_sessions() {
    let mut s = store(60, 600, 10);
    s.create("a", "alice", "c".into(), 0);
    s.create("b", "bob", "c".into(), 0);
    s.create("c", "bob", "c".into(), 0);
    assert!(s.remove("a"));
    assert!(!s.remove("a"));
    s.remove_token("bob");
    assert!(s.touch("b", 1).is_none() && s.touch("c", 1).is_none());
}

#[test]
fn a_full_store_drops_the_least_recently_used_session() {
    let mut s = store(600, 6000, 2);
    s.create("a", "alice", "c".into(), 0);
    s.create("b", "bob", "c".into(), 1);
    s.touch("a", 2);
    s.create("c", "carol", "c".into(), 3);
    assert_eq!(s.len(), 2);
    assert!(
        s.touch("b", 4).is_none(),
        "bob's was the least recently used"
    );
    assert!(s.touch("a", 4).is_some() && s.touch("c", 4).is_some());
}

#[test]
fn random_ids_are_long_and_distinct() {
    let (a, b) = (random_id().unwrap(), random_id().unwrap());
    assert_eq!(a.len(), 43);
    assert_ne!(a, b);
    assert!(
        a.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    );
}
