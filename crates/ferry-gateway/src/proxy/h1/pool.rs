//! Idle keep-alive connections, one [`Slot`] per upstream endpoint and
//! port. The Service snapshot holds each endpoint's slot next to its
//! authority, so a request reaches its idle connections without a lookup;
//! [`Pool`] only hands out slots (the same one for an authority as long as
//! a snapshot holds it). A slot lends the most recently used connection
//! first, caps how many it keeps and closes those idle too long.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ferry_core::sync::MutexExt;
use http::uri::Authority;
use tokio::net::TcpStream;

use super::Conn;

/// Read buffers bigger than this (grown by a large body) are not pooled.
const KEEP_BUF: usize = 64 * 1024;

/// Hands out the slot of each upstream authority.
#[derive(Debug)]
pub struct Pool {
    slots: Mutex<HashMap<Authority, Weak<Slot>>>,
    max_idle: usize,
    idle_timeout: Duration,
}

impl Pool {
    /// Slots keep at most `max_idle` connections each, for `idle_timeout`.
    pub fn new(max_idle: usize, idle_timeout: Duration) -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            max_idle,
            idle_timeout,
        }
    }

    /// The slot of `authority` (called when a Service snapshot is resolved;
    /// slots no snapshot holds any more are forgotten, their connections
    /// closed).
    pub fn slot(&self, authority: &Authority) -> Arc<Slot> {
        let mut slots = self.slots.lock_or_recover();
        if let Some(slot) = slots.get(authority).and_then(Weak::upgrade) {
            return slot;
        }
        slots.retain(|_, s| s.strong_count() > 0);
        let slot = Arc::new(Slot {
            authority: authority.clone(),
            idle: Mutex::new(Idle {
                conns: Vec::new(),
                last_sweep: Instant::now(),
            }),
            max_idle: self.max_idle,
            idle_timeout: self.idle_timeout,
        });
        slots.insert(authority.clone(), Arc::downgrade(&slot));
        slot
    }
}

/// The idle connections to one endpoint's port.
#[derive(Debug)]
pub struct Slot {
    pub authority: Authority,
    idle: Mutex<Idle>,
    max_idle: usize,
    idle_timeout: Duration,
}

#[derive(Debug)]
struct Idle {
    conns: Vec<(Conn, Instant)>,
    last_sweep: Instant,
}

impl Slot {
    /// A live idle connection, if there is one: not idle too long, and not
    /// closed by the server meanwhile (a race with a close is left to the
    /// exchange's retry).
    pub(super) fn checkout(&self) -> Option<Conn> {
        let mut idle = self.idle.lock_or_recover();
        while let Some((conn, since)) = idle.conns.pop() {
            if since.elapsed() < self.idle_timeout && !closed(&conn.stream) {
                return Some(conn);
            }
        }
        None
    }

    /// Pools `conn` when the exchange left it clean and reusable.
    pub(super) fn release(&self, conn: Conn, keep_alive: bool) {
        if keep_alive && conn.buf.is_empty() {
            self.checkin(conn);
        }
    }

    /// Returns a connection whose exchange is complete (its read buffer is
    /// kept: once the last response's bytes are dropped, it is reused
    /// without allocating).
    fn checkin(&self, mut conn: Conn) {
        if conn.buf.capacity() > KEEP_BUF {
            conn.buf = BytesMut::new();
        }
        let now = Instant::now();
        let mut idle = self.idle.lock_or_recover();
        if now.duration_since(idle.last_sweep) > self.idle_timeout / 4 {
            idle.last_sweep = now;
            let timeout = self.idle_timeout;
            idle.conns
                .retain(|(_, since)| now.duration_since(*since) < timeout);
        }
        if idle.conns.len() < self.max_idle {
            idle.conns.push((conn, now));
        }
    }

    /// Idle connections held.
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle.lock_or_recover().conns.len()
    }
}

/// Whether an idle connection was closed by its server (or sent something
/// unasked, which breaks it just as well). The reactor's readiness says
/// so without a system call unless the socket is flagged readable.
fn closed(stream: &TcpStream) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    match stream.poll_read_ready(&mut cx) {
        Poll::Pending => false,
        Poll::Ready(Err(_)) => true,
        Poll::Ready(Ok(())) => {
            let mut probe = [0u8; 1];
            !matches!(stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
        }
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
