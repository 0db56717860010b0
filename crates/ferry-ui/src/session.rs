//! The server-side session store (pure: the caller passes the time and the
//! random identifiers, so expiry is tested without waiting).
//!
//! A session is created when a token is accepted at `/ui/login`. The browser
//! holds only the session's identifier, in an HttpOnly cookie; the store
//! keeps the SHA-256 of that identifier (so a dump of the map holds nothing
//! a browser could present), the name of the token it stands for (never the
//! token) and the session's CSRF token. A session ends at logout, after
//! [`Limits::idle`] without a request, after [`Limits::absolute`] in any
//! case, and when the store is full the least recently used one goes.

use std::collections::HashMap;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::Error;

/// How long sessions live and how many there may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Seconds without a request after which a session ends.
    pub idle: u64,
    /// Seconds after login after which a session ends in any case.
    pub absolute: u64,
    /// Sessions kept at most (the least recently used goes first).
    pub max: usize,
}

impl Default for Limits {
    /// One hour idle, twelve hours in all, 10,000 sessions.
    fn default() -> Self {
        Limits {
            idle: 3600,
            absolute: 12 * 3600,
            max: 10_000,
        }
    }
}

/// One logged-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The name of the token the session was opened with.
    pub token: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds of the last request.
    pub last_seen: u64,
}

/// Every open session, by the hash of its identifier.
#[derive(Debug, Default)]
pub struct SessionStore {
    sessions: HashMap<[u8; 32], Session>,
    limits: Limits,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// 256 random bits from the operating system, URL-safe base64 (43 chars).
pub fn random_id() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl SessionStore {
    /// An empty store with `limits`.
    pub fn new(limits: Limits) -> Self {
        SessionStore {
            sessions: HashMap::new(),
            limits,
        }
    }

    /// The store's limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Opens session `id` (random, from [`random_id`]) for the token called
    /// `token`, with CSRF token `csrf`, at `now`.
    pub fn create(&mut self, id: &str, token: &str, csrf: String, now: u64) -> Session {
        self.prune(now);
        if self.sessions.len() >= self.limits.max {
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.sessions.remove(&k);
            }
        }
        let session = Session {
            token: token.to_string(),
            csrf,
            created: now,
            last_seen: now,
        };
        self.sessions.insert(key(id), session.clone());
        session
    }

    /// The live session `id` at `now` (its idle clock restarts), or `None`
    /// when there is none or it expired (then it is removed).
    pub fn touch(&mut self, id: &str, now: u64) -> Option<Session> {
        let k = key(id);
        let limits = self.limits;
        let s = self.sessions.get_mut(&k)?;
        if expired_with(limits, s, now) {
            self.sessions.remove(&k);
            return None;
        }
        s.last_seen = now;
        Some(s.clone())
    }

    /// Whether session `id` is live at `now`, without restarting its idle
    /// clock (an open live stream does not keep a session alive).
    pub fn alive(&self, id: &str, now: u64) -> bool {
        self.sessions
            .get(&key(id))
            .is_some_and(|s| !self.expired(s, now))
    }

    /// Ends session `id` (logout); whether there was one.
    pub fn remove(&mut self, id: &str) -> bool {
        self.sessions.remove(&key(id)).is_some()
    }

    /// Ends every session of the token called `token` (it was revoked).
    pub fn remove_token(&mut self, token: &str) {
        self.sessions.retain(|_, s| s.token != token);
    }

    /// Removes every expired session.
    pub fn prune(&mut self, now: u64) {
        let limits = self.limits;
        self.sessions.retain(|_, s| !expired_with(limits, s, now));
    }

    /// Open sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    fn expired(&self, s: &Session, now: u64) -> bool {
        expired_with(self.limits, s, now)
    }
}

fn expired_with(limits: Limits, s: &Session, now: u64) -> bool {
    now >= s.last_seen.saturating_add(limits.idle)
        || now >= s.created.saturating_add(limits.absolute)
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
