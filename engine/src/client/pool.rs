//! Idle connections kept for the next transfer of the same owner to the same peer.

use std::time::Duration;

use super::Connection;

/// At most this many idle connections wait for reuse: one background job and a few
/// foreground ones each leave one behind.
const POOL_IDLE_MAX: usize = 4;
/// An idle connection older than this is closed rather than reused: servers close idle
/// connections after a while (IIS after 120 s, Apache after 5 s), and a request sent on a
/// connection the server is closing costs a resend.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Idle connections, kept for the next transfer of the same owner to the same peer. The
/// owner is part of the key: a connection that NTLM or Negotiate authenticated for one user
/// must never carry another user's requests (WinHTTP 5.1's isolation, KB 842773).
#[derive(Default)]
pub(crate) struct Pool {
    idle: std::cell::RefCell<Vec<Idle>>,
}

struct Idle {
    owner: String,
    connection: Connection,
    since: Duration,
}

impl Pool {
    pub(super) fn take(
        &self,
        owner: &str,
        peer: &(String, u16),
        now: Duration,
        shared: bool,
    ) -> Option<Connection> {
        let mut idle = self.idle.borrow_mut();
        idle.retain(|entry| {
            now.saturating_sub(entry.since) < POOL_IDLE_TIMEOUT
                && !entry.connection.sender.is_closed()
        });
        let index = idle
            .iter()
            .position(|entry| entry.connection.peer == *peer && (shared || entry.owner == owner))?;
        Some(idle.remove(index).connection)
    }

    pub(super) fn put(&self, owner: &str, connection: Connection, now: Duration) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() >= POOL_IDLE_MAX {
            idle.remove(0);
        }
        idle.push(Idle { owner: owner.to_owned(), connection, since: now });
    }
}
