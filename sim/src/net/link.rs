//! One direction of a shaped link: a bottleneck with a bit rate, a FIFO queue of bounded size
//! in bytes, a one-way propagation delay with seeded jitter, and an MSS. Every stream that
//! crosses it in this direction shares it, on whichever host writes.
//!
//! The model is a serialising router queue (turmoil.md §4): an admitted segment departs
//! when the bytes ahead of it have been clocked out at the rate, and arrives one propagation
//! delay later. A writer whose segment does not fit in the queue waits, and waiting writers
//! are served first come, first served, so flows share the link fairly instead of the task
//! polled first each tick taking everything. Its queue is the ground truth the oracles read:
//! who was in it, for how long, and what departed when.

use std::collections::VecDeque;
use std::task::Waker;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::stats::LinkStats;

/// A connection through the network, numbered in the order the simulation opened them.
pub type ConnId = u32;

/// The settings of one direction.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkSpec {
    /// Bits per second; at least 1.
    pub rate_bps: u64,
    /// One-way propagation delay.
    pub latency: Duration,
    /// Each segment's delay is `latency` plus a uniform draw in `0..=jitter` (never
    /// reordering a stream).
    pub jitter: Duration,
    /// The bottleneck's buffer: bytes waiting to be clocked out.
    pub queue_bytes: u64,
    /// Largest segment, in bytes.
    pub mss: usize,
}

/// What admission decided for one segment.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Admission {
    /// Queued: the segment reaches the far end at `arrives`.
    Admitted { arrives: Duration },
    /// The queue is full (or others wait first). Try again at `retry_at`, or when woken.
    Wait { retry_at: Option<Duration> },
}

/// One direction of a link, shared by every stream crossing it.
#[derive(Debug)]
pub struct Link {
    pub name: String,
    spec: LinkSpec,
    /// When the last admitted bit leaves the bottleneck.
    busy_until: Duration,
    /// Segments not yet clocked out: `(departs, conn, bytes)`, in departure order.
    queued: VecDeque<(Duration, ConnId, u32)>,
    /// Writers waiting for room, first come first served: `(ticket, waker)`.
    waiters: VecDeque<(u64, Option<Waker>)>,
    next_ticket: u64,
    rng: ChaCha8Rng,
    pub stats: LinkStats,
}

impl Link {
    pub fn new(name: String, spec: LinkSpec, seed: u64) -> Self {
        assert!(spec.rate_bps > 0 && spec.mss > 0, "validated: a link has a rate and an MSS");
        let stats = LinkStats::new(spec.rate_bps);
        Self {
            name,
            spec,
            busy_until: Duration::ZERO,
            queued: VecDeque::new(),
            waiters: VecDeque::new(),
            next_ticket: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            stats,
        }
    }

    pub fn spec(&self) -> &LinkSpec {
        &self.spec
    }

    /// A new rate from `now` on. Bytes already queued keep their departure times.
    pub fn set_rate(&mut self, now: Duration, rate_bps: u64) {
        self.spec.rate_bps = rate_bps.max(1);
        self.stats.rate_changed(now, self.spec.rate_bps);
    }

    pub fn set_latency(&mut self, latency: Duration) {
        self.spec.latency = latency;
    }

    /// Bytes waiting in the queue at `now`.
    pub fn backlog(&mut self, now: Duration) -> u64 {
        self.forget_departed(now);
        self.queued.iter().map(|(_, _, bytes)| u64::from(*bytes)).sum()
    }

    /// How long a byte admitted at `now` waits before it starts to be clocked out.
    pub fn queue_delay(&self, now: Duration) -> Duration {
        self.busy_until.saturating_sub(now)
    }

    /// Nothing queued, not even bytes still clocking out.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Bytes of each connection waiting in the queue at `now`.
    pub fn backlog_by_conn(&mut self, now: Duration) -> Vec<(ConnId, u64)> {
        self.forget_departed(now);
        let mut by_conn: Vec<(ConnId, u64)> = Vec::new();
        for (_, conn, bytes) in &self.queued {
            match by_conn.iter_mut().find(|(id, _)| id == conn) {
                Some((_, total)) => *total += u64::from(*bytes),
                None => by_conn.push((*conn, u64::from(*bytes))),
            }
        }
        by_conn.sort_unstable();
        by_conn
    }

    /// Takes a place in the line of writers, to be woken when it is this writer's turn; the
    /// ticket is the caller's until it [`leave`](Link::leave)s.
    pub fn join(&mut self, waker: &Waker) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.waiters.push_back((ticket, Some(waker.clone())));
        ticket
    }

    /// Leaves the line (admitted, or gone) and wakes the next writer in it.
    pub fn leave(&mut self, ticket: u64) {
        let was_first = self.waiters.front().is_some_and(|(first, _)| *first == ticket);
        self.waiters.retain(|(waiting, _)| *waiting != ticket);
        if was_first && let Some((_, Some(waker))) = self.waiters.front_mut() {
            waker.wake_by_ref();
        }
    }

    /// Tries to queue `bytes` of connection `conn` at `now`. A writer holding `ticket` is
    /// admitted only when it is first in line; a writer without one only when nobody waits.
    pub fn admit(
        &mut self,
        now: Duration,
        conn: ConnId,
        bytes: usize,
        ticket: Option<u64>,
        waker: &Waker,
    ) -> Admission {
        let first = self.waiters.front().map(|(first, _)| *first);
        if first.is_some() && first != ticket {
            if let Some(entry) = self.waiters.iter_mut().find(|(t, _)| Some(*t) == ticket) {
                entry.1 = Some(waker.clone());
            }
            return Admission::Wait { retry_at: None };
        }
        let backlog = self.backlog(now);
        // An empty queue always takes one segment, whatever its size: otherwise a queue
        // smaller than the MSS would never pass anything.
        if backlog > 0 && backlog + bytes as u64 > self.spec.queue_bytes {
            if let Some(front) = self.waiters.front_mut() {
                front.1 = Some(waker.clone());
            }
            return Admission::Wait { retry_at: Some(self.room_at(bytes as u64)) };
        }
        let start = self.busy_until.max(now);
        let departs = start + serialisation(bytes as u64, self.spec.rate_bps);
        self.busy_until = departs;
        self.queued.push_back((departs, conn, bytes as u32));
        self.stats.delivered(departs, conn, bytes as u64);
        let jitter = if self.spec.jitter.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.rng.random_range(0..=self.spec.jitter.as_nanos() as u64))
        };
        Admission::Admitted { arrives: departs + self.spec.latency + jitter }
    }

    /// The earliest time at which `bytes` more fit in the queue.
    fn room_at(&self, bytes: u64) -> Duration {
        let mut waiting: u64 = self.queued.iter().map(|(_, _, b)| u64::from(*b)).sum();
        for (departs, _, b) in &self.queued {
            waiting -= u64::from(*b);
            if waiting == 0 || waiting + bytes <= self.spec.queue_bytes {
                return *departs;
            }
        }
        self.busy_until
    }

    fn forget_departed(&mut self, now: Duration) {
        while self.queued.front().is_some_and(|(departs, _, _)| *departs <= now) {
            self.queued.pop_front();
        }
    }
}

/// How long `bytes` take to clock out at `rate_bps`.
pub fn serialisation(bytes: u64, rate_bps: u64) -> Duration {
    Duration::from_nanos((u128::from(bytes) * 8 * 1_000_000_000 / u128::from(rate_bps)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(rate_bps: u64, queue_bytes: u64) -> Link {
        let spec = LinkSpec {
            rate_bps,
            latency: Duration::from_millis(20),
            jitter: Duration::ZERO,
            queue_bytes,
            mss: 1000,
        };
        Link::new("test".into(), spec, 7)
    }

    #[test]
    fn segments_depart_one_after_another_at_the_rate() {
        let mut link = link(8_000, 10_000); // 1000 bytes per second
        let waker = Waker::noop();
        let first = link.admit(Duration::ZERO, 0, 1000, None, waker);
        let second = link.admit(Duration::ZERO, 1, 500, None, waker);
        assert_eq!(first, Admission::Admitted { arrives: Duration::from_millis(1020) });
        assert_eq!(second, Admission::Admitted { arrives: Duration::from_millis(1520) });
        assert_eq!(link.backlog_by_conn(Duration::from_millis(999)), vec![(0, 1000), (1, 500)]);
        assert_eq!(link.backlog(Duration::from_millis(1000)), 500);
        assert_eq!(link.queue_delay(Duration::from_millis(1000)), Duration::from_millis(500));
    }

    #[test]
    fn a_full_queue_makes_writers_wait_until_there_is_room() {
        let mut link = link(8_000, 2000);
        let waker = Waker::noop();
        for _ in 0..2 {
            assert!(matches!(
                link.admit(Duration::ZERO, 0, 1000, None, waker),
                Admission::Admitted { .. }
            ));
        }
        assert_eq!(
            link.admit(Duration::ZERO, 0, 1000, None, waker),
            Admission::Wait { retry_at: Some(Duration::from_secs(1)) }
        );
    }

    #[test]
    fn waiting_writers_are_served_in_order() {
        let mut link = link(8_000, 1000);
        let waker = Waker::noop();
        link.admit(Duration::ZERO, 0, 1000, None, waker);
        let (a, b) = (link.join(waker), link.join(waker));
        let later = Duration::from_secs(1);
        assert!(matches!(link.admit(later, 2, 1000, Some(b), waker), Admission::Wait { .. }));
        assert!(matches!(link.admit(later, 3, 1000, None, waker), Admission::Wait { .. }));
        assert!(matches!(link.admit(later, 1, 1000, Some(a), waker), Admission::Admitted { .. }));
        link.leave(a);
        let again = Duration::from_secs(2);
        assert!(matches!(link.admit(again, 2, 1000, Some(b), waker), Admission::Admitted { .. }));
    }

    #[test]
    fn serialisation_is_exact_in_nanoseconds() {
        assert_eq!(serialisation(1460, 56_000), Duration::from_nanos(208_571_428));
        assert_eq!(serialisation(1460, 100_000_000), Duration::from_nanos(116_800));
    }
}
