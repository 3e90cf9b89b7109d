//! Notifications (spec §2.9): which of a job's events its program hears of through the
//! callback it registers (BITS's `IBackgroundCopyCallback`), and the at-least-once delivery of
//! JobTransferred and JobError.
//!
//! Sans-IO: the queue tells the [`Notifier`] what happened to each job; the engine asks it
//! what to deliver ([`Notifier::poll_delivery`]), calls the program, and reports the answer
//! ([`Notifier::handle_result`]).
//!
//! - JobTransferred is owed from the moment a job enters TRANSFERRED, JobError from the moment
//!   it enters ERROR (never TRANSIENT_ERROR), while its flags ask for it. It stays owed until
//!   the callback returns S_OK or the job leaves that state: a failed call is repeated after
//!   [`NOTIFY_RETRY_INTERVAL`], and a callback registered after the event still gets it.
//! - JobModification is owed for progress, a file added, a property change and a state change,
//!   but not for a change into ERROR or TRANSFERRED. Several modifications before the next
//!   delivery coalesce into one and a failed one is not repeated: BITS says they "may be
//!   dropped under load".
//! - Nothing of this is persisted: the callback pointer does not survive a restart in BITS
//!   either, and what is owed follows from the job's state (the queue recomputes it at
//!   start-up), so a JobTransferred acknowledged just before a restart is delivered again
//!   after it (at least once, not exactly once).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::hresult::Hresult;
use super::job::JobId;
use super::state::JobState;

/// How long a JobTransferred or JobError whose callback failed waits before it is delivered
/// again. BITS calls again "later (arbitrary interval)" (spec §2.9) without saying when; one
/// minute spares a program that is busy or still starting a tight loop of failing calls, yet
/// is short beside the 600 s MinimumRetryDelay default, so a job does not sit TRANSFERRED
/// long after its program could take it.
pub const NOTIFY_RETRY_INTERVAL: Duration = Duration::from_secs(60);

/// `SetNotifyFlags` values (spec §2.9), as BITS numbers them.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(transparent)]
pub struct NotifyFlags(u32);

impl NotifyFlags {
    /// `BG_NOTIFY_JOB_TRANSFERRED`.
    pub const JOB_TRANSFERRED: u32 = 0x1;
    /// `BG_NOTIFY_JOB_ERROR`.
    pub const JOB_ERROR: u32 = 0x2;
    /// `BG_NOTIFY_DISABLE`: no notifications at all, whatever else is set.
    pub const DISABLE: u32 = 0x4;
    /// `BG_NOTIFY_JOB_MODIFICATION`.
    pub const JOB_MODIFICATION: u32 = 0x8;
    /// The flags BITS 2.0 knows. `BG_NOTIFY_FILE_TRANSFERRED` (0x10) is 3.0+ and
    /// `BG_NOTIFY_FILE_RANGES_TRANSFERRED` (0x20) 10.x, so here they are invalid like any other
    /// unknown bit.
    const KNOWN: u32 =
        Self::JOB_TRANSFERRED | Self::JOB_ERROR | Self::DISABLE | Self::JOB_MODIFICATION;

    /// A new job's flags: JobTransferred and JobError. BITS does not document its default
    /// (spec §2.9, UNCONFIRMED); this is the value everyone assumes, and the one that makes
    /// a program that registers a callback hear of the two events it must act on.
    pub const DEFAULT: Self = Self(Self::JOB_TRANSFERRED | Self::JOB_ERROR);

    /// `SetNotifyFlags`'s check: an unknown bit is E_NOTIMPL, as in BITS.
    pub fn new(bits: u32) -> Result<Self, ApiError> {
        if bits & !Self::KNOWN != 0 {
            return Err(ApiError::new(
                Hresult::E_NOTIMPL,
                format!("notify flags {bits:#x} include bits BITS 2.0 does not know"),
            ));
        }
        Ok(Self(bits))
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether the job's program is to hear of `notification`.
    pub const fn wants(self, notification: Notification) -> bool {
        let bit = match notification {
            Notification::JobTransferred => Self::JOB_TRANSFERRED,
            Notification::JobError => Self::JOB_ERROR,
            Notification::JobModification => Self::JOB_MODIFICATION,
        };
        self.0 & Self::DISABLE == 0 && self.0 & bit != 0
    }
}

impl Default for NotifyFlags {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The three methods of `IBackgroundCopyCallback`.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notification {
    JobTransferred,
    JobError,
    JobModification,
}

impl Notification {
    /// The BITS method name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::JobTransferred => "JobTransferred",
            Self::JobError => "JobError",
            Self::JobModification => "JobModification",
        }
    }

    /// The notification a job entering `state` is owed, if its flags ask for it.
    pub fn on_entering(state: JobState, flags: NotifyFlags) -> Option<Self> {
        let notification = match state {
            JobState::Transferred => Self::JobTransferred,
            JobState::Error => Self::JobError,
            _ => return None,
        };
        flags.wants(notification).then_some(notification)
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One call the engine must make now.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Delivery {
    pub job: JobId,
    pub notification: Notification,
}

/// A JobTransferred or JobError not yet acknowledged.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
struct Owed {
    notification: Notification,
    /// When to call (again); zero: at once.
    next_attempt: Duration,
}

#[derive(Clone, Debug, Default)]
pub struct Notifier {
    owed: BTreeMap<JobId, Owed>,
    modified: BTreeSet<JobId>,
}

impl Notifier {
    /// The job is now in `state` with `flags`: it owes what entering the state calls for,
    /// and no longer what it owed for a state it has left. A notification still owed for the
    /// same state keeps its schedule.
    pub fn handle_state(&mut self, job: JobId, state: JobState, flags: NotifyFlags) {
        match Notification::on_entering(state, flags) {
            Some(notification) => {
                let keep =
                    self.owed.get(&job).is_some_and(|owed| owed.notification == notification);
                if !keep {
                    self.owed.insert(job, Owed { notification, next_attempt: Duration::ZERO });
                }
            }
            None => {
                self.owed.remove(&job);
            }
        }
        if state.is_final() || !flags.wants(Notification::JobModification) {
            self.modified.remove(&job);
        }
    }

    /// Something about the job changed that its program may want to hear of.
    pub fn handle_modified(&mut self, job: JobId, flags: NotifyFlags) {
        if flags.wants(Notification::JobModification) {
            self.modified.insert(job);
        }
    }

    /// Forgets the modifications nobody could be told of (no callback is registered).
    pub fn drop_modifications(&mut self) {
        self.modified.clear();
    }

    /// The next call to make at `now`: owed JobTransferred and JobError first (by job), then
    /// modifications. The caller must report the answer with [`Notifier::handle_result`].
    pub fn poll_delivery(&mut self, now: Duration) -> Option<Delivery> {
        let due = self.owed.iter().find(|(_, owed)| owed.next_attempt <= now);
        if let Some((&job, owed)) = due {
            return Some(Delivery { job, notification: owed.notification });
        }
        let job = self.modified.pop_first()?;
        Some(Delivery { job, notification: Notification::JobModification })
    }

    /// The callback answered `delivery` at `now`: S_OK acknowledges it; anything else leaves
    /// a JobTransferred or JobError owed until [`NOTIFY_RETRY_INTERVAL`] has passed.
    pub fn handle_result(&mut self, delivery: Delivery, acknowledged: bool, now: Duration) {
        let Some(owed) = self.owed.get_mut(&delivery.job) else { return };
        if owed.notification != delivery.notification {
            return;
        }
        if acknowledged {
            self.owed.remove(&delivery.job);
        } else {
            owed.next_attempt = now + NOTIFY_RETRY_INTERVAL;
        }
    }

    /// When the next owed notification is due (only meaningful while a callback is
    /// registered: without one nothing is delivered).
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.owed.values().map(|owed| owed.next_attempt).min()
    }

    /// Whether the job owes `notification` now (for tests and the API).
    pub fn owes(&self, job: JobId, notification: Notification) -> bool {
        self.owed.get(&job).is_some_and(|owed| owed.notification == notification)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: JobId = JobId(1);

    #[test]
    fn flags_are_checked_and_disable_overrides() {
        assert_eq!(NotifyFlags::new(0x10).unwrap_err().code, Hresult::E_NOTIMPL);
        assert_eq!(NotifyFlags::new(0x100).unwrap_err().code, Hresult::E_NOTIMPL);
        let all = NotifyFlags::new(0xB).unwrap();
        assert!(all.wants(Notification::JobModification));
        let disabled = NotifyFlags::new(0xF).unwrap();
        for notification in
            [Notification::JobTransferred, Notification::JobError, Notification::JobModification]
        {
            assert!(!disabled.wants(notification));
        }
        assert_eq!(NotifyFlags::default().bits(), 0x3);
    }

    #[test]
    fn only_transferred_and_error_are_owed_never_transient_error() {
        let mut notifier = Notifier::default();
        notifier.handle_state(JOB, JobState::TransientError, NotifyFlags::DEFAULT);
        assert_eq!(notifier.poll_delivery(Duration::ZERO), None);
        notifier.handle_state(JOB, JobState::Error, NotifyFlags::DEFAULT);
        let delivery = notifier.poll_delivery(Duration::ZERO).unwrap();
        assert_eq!(delivery.notification, Notification::JobError);
    }

    #[test]
    fn a_failed_call_is_repeated_after_the_interval_until_acknowledged() {
        let mut notifier = Notifier::default();
        notifier.handle_state(JOB, JobState::Transferred, NotifyFlags::DEFAULT);
        let now = Duration::from_secs(10);
        let delivery = notifier.poll_delivery(now).unwrap();
        notifier.handle_result(delivery, false, now);
        assert_eq!(notifier.poll_delivery(now), None);
        assert_eq!(notifier.poll_timeout(), Some(now + NOTIFY_RETRY_INTERVAL));
        let later = now + NOTIFY_RETRY_INTERVAL;
        let again = notifier.poll_delivery(later).unwrap();
        assert_eq!(again, delivery);
        notifier.handle_result(again, true, later);
        assert_eq!(notifier.poll_delivery(later + NOTIFY_RETRY_INTERVAL), None);
        assert_eq!(notifier.poll_timeout(), None);
    }

    #[test]
    fn leaving_the_state_cancels_what_was_owed() {
        let mut notifier = Notifier::default();
        notifier.handle_state(JOB, JobState::Transferred, NotifyFlags::DEFAULT);
        notifier.handle_state(JOB, JobState::Acknowledged, NotifyFlags::DEFAULT);
        assert_eq!(notifier.poll_delivery(Duration::MAX), None);
        notifier.handle_state(JOB, JobState::Error, NotifyFlags::DEFAULT);
        notifier.handle_state(JOB, JobState::Queued, NotifyFlags::DEFAULT);
        assert!(!notifier.owes(JOB, Notification::JobError));
    }

    #[test]
    fn flags_decide_and_modifications_coalesce() {
        let mut notifier = Notifier::default();
        let transferred_only = NotifyFlags::new(NotifyFlags::JOB_TRANSFERRED).unwrap();
        notifier.handle_state(JOB, JobState::Error, transferred_only);
        notifier.handle_modified(JOB, transferred_only);
        assert_eq!(notifier.poll_delivery(Duration::ZERO), None);
        let modifications = NotifyFlags::new(NotifyFlags::JOB_MODIFICATION).unwrap();
        notifier.handle_modified(JOB, modifications);
        notifier.handle_modified(JOB, modifications);
        let delivery = notifier.poll_delivery(Duration::ZERO).unwrap();
        assert_eq!(delivery.notification, Notification::JobModification);
        notifier.handle_result(delivery, false, Duration::ZERO);
        assert_eq!(notifier.poll_delivery(Duration::MAX), None, "modifications are not repeated");
    }
}
