//! Idle connections kept for the next transfer of the same owner to the same peer.

use std::time::Duration;

use super::Connection;
use crate::core::request::{POOL_IDLE_MAX, POOL_IDLE_TIMEOUT, connection_reusable};

/// Idle connections, kept for the next transfer of the same owner to the same peer; which
/// one may be taken is `core::request::connection_reusable`'s call.
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
        let index = idle.iter().position(|entry| {
            let owner_ok =
                shared || connection_reusable(&entry.owner, owner, now.saturating_sub(entry.since));
            entry.connection.peer == *peer && owner_ok
        })?;
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
