//! What happens to jobs besides transfers and API calls: the machine loses and regains its
//! network (spec §2.3), the job inactivity timeout cancels abandoned jobs (spec §2.4), and the
//! notifications their programs are owed (spec §2.9, `core::notify`).

use std::time::Duration;

use super::Queue;
use crate::core::error::{ApiError, ErrorContext, JobError, TransferError};
use crate::core::event::Event;
use crate::core::hresult::Hresult;
use crate::core::job::JobId;
use crate::core::notify::{Delivery, NotifyFlags};
use crate::core::state::{JobState, Trigger};

impl Queue {
    // ----- network ---------------------------------------------------------------------------

    /// Whether the machine has a network now. Call it before `poll_start`, with no transfer
    /// running (the caller stops them first when the network goes).
    ///
    /// While it is lost, every job that wants to transfer (QUEUED, CONNECTING, TRANSFERRING)
    /// waits in TRANSIENT_ERROR with BG_E_NETWORK_DISCONNECTED and no retry timer: BITS waits
    /// for the network, not for MinimumRetryDelay (spec §2.3, special retry rules). Jobs
    /// already in TRANSIENT_ERROR lose their retry timer too. The NoProgressTimeout clock
    /// keeps running (a network loss is a transient error, and only progress stops that
    /// clock), and with NoProgressTimeout 0 ("no retries") the job goes to ERROR at once.
    /// When the network returns, every job in TRANSIENT_ERROR, whatever its error, is QUEUED.
    pub fn set_network_available(&mut self, now: Duration, available: bool) {
        let was_lost = std::mem::replace(&mut self.network_lost, !available);
        if available {
            if was_lost {
                self.network_restored();
            }
            return;
        }
        let ids: Vec<JobId> = self.jobs.keys().copied().collect();
        for id in ids {
            let job = self.jobs.get_mut(&id).expect("collected from the map");
            match job.state {
                JobState::Queued | JobState::Connecting | JobState::Transferring => {
                    assert!(!job.running, "network loss while a transfer of {id} runs");
                    let error = network_disconnected();
                    job.error = Some(error.clone());
                    job.retry_at = None;
                    job.slice_started = None;
                    if job.no_progress_timeout.is_zero() {
                        self.transition(id, JobState::Error, Trigger::FatalFailure, Some(error));
                    } else {
                        job.no_progress_deadline.get_or_insert(now + job.no_progress_timeout);
                        self.transition(
                            id,
                            JobState::TransientError,
                            Trigger::NetworkLost,
                            Some(error),
                        );
                    }
                }
                JobState::TransientError if job.retry_at.is_some() => {
                    job.retry_at = None;
                    self.dirty = true;
                }
                _ => {}
            }
        }
    }

    /// The network is lost (transfers must not start).
    pub fn network_lost(&self) -> bool {
        self.network_lost
    }

    fn network_restored(&mut self) {
        let waiting: Vec<JobId> = self
            .jobs
            .values()
            .filter(|job| job.state == JobState::TransientError)
            .map(|job| job.id)
            .collect();
        for id in waiting {
            self.jobs.get_mut(&id).expect("collected from the map").retry_at = None;
            self.transition(id, JobState::Queued, Trigger::NetworkRestored, None);
        }
    }

    // ----- job inactivity timeout --------------------------------------------------------------

    /// The job inactivity timeout, from `now` on: deadlines later than `now + timeout` (a
    /// journal written under a longer timeout) are brought forward, and jobs without one get
    /// one.
    pub fn set_inactivity_timeout(&mut self, now: Duration, timeout: Duration) {
        self.inactivity_timeout = timeout;
        let latest = now.saturating_add(timeout);
        for job in self.jobs.values_mut() {
            let deadline = job.inactivity_deadline.map_or(latest, |at| at.min(latest));
            job.inactivity_deadline = Some(deadline);
        }
    }

    /// Stamps the activity since the last call (progress, calls by the owner) with `now`:
    /// each such job's inactivity deadline moves to `now` plus the timeout, and its program
    /// is owed a JobModification. The caller calls it before every commit.
    pub fn stamp_activity(&mut self, now: Duration) {
        for id in std::mem::take(&mut self.touched) {
            let Some(job) = self.jobs.get_mut(&id) else { continue };
            job.inactivity_deadline = Some(now.saturating_add(self.inactivity_timeout));
            let flags = job.notify_flags;
            self.notifier.handle_modified(id, flags);
        }
    }

    /// A job whose inactivity deadline has passed, which the caller must stop and then
    /// [`Queue::cancel_inactive`].
    pub fn poll_inactive(&self, now: Duration) -> Option<JobId> {
        self.jobs
            .values()
            .find(|job| !job.held && job.inactivity_deadline.is_some_and(|at| now >= at))
            .map(|job| job.id)
    }

    /// The service cancels an inactive job, once no transfer runs: it leaves the queue as
    /// CANCELLED. Returns the temporary files to delete (after the caller has persisted).
    pub fn cancel_inactive(&mut self, id: JobId) -> Result<Vec<String>, ApiError> {
        self.cancel_for(id, Trigger::InactivityTimeout)
    }

    /// The earliest inactivity deadline.
    pub(super) fn next_inactivity_deadline(&self) -> Option<Duration> {
        self.jobs.values().filter_map(|job| job.inactivity_deadline).min()
    }

    // ----- notifications -----------------------------------------------------------------------

    /// `SetNotifyFlags`: an unknown bit is E_NOTIMPL. A job already in TRANSFERRED or ERROR
    /// owes its notification from now on if the new flags ask for it.
    pub fn set_notify_flags(&mut self, id: JobId, bits: u32) -> Result<(), ApiError> {
        let flags = NotifyFlags::new(bits)?;
        let job = self.job_mut_not_final(id)?;
        job.notify_flags = flags;
        let state = job.state;
        self.notifier.handle_state(id, state, flags);
        self.dirty = true;
        Ok(())
    }

    /// The job's notify flags.
    pub fn notify_flags(&self, id: JobId) -> Result<NotifyFlags, ApiError> {
        self.check_not_final(id)?;
        Ok(self.jobs[&id].notify_flags)
    }

    /// The next notification to deliver at `now`, while a callback is registered.
    pub fn poll_notification(&mut self, now: Duration) -> Option<Delivery> {
        self.notifier.poll_delivery(now)
    }

    /// The callback answered `delivery` with `result`; the event goes into the stream.
    pub fn handle_notification_result(
        &mut self,
        now: Duration,
        delivery: Delivery,
        result: Hresult,
    ) {
        self.notifier.handle_result(delivery, result == Hresult::S_OK, now);
        let Delivery { job, notification } = delivery;
        self.events.push(Event::Notified { job, notification, result });
    }

    /// When an owed notification is due again (only while a callback is registered).
    pub fn poll_notification_timeout(&self) -> Option<Duration> {
        self.notifier.poll_timeout()
    }

    /// No callback is registered: modifications until now go unheard (BITS may drop them).
    pub fn drop_modifications(&mut self) {
        self.notifier.drop_modifications();
    }

    /// Recomputes what each job is owed from its state, at start-up: the callback does not
    /// survive a restart, and neither does the record of what it acknowledged.
    pub(super) fn recompute_notifications(&mut self) {
        for job in self.jobs.values() {
            self.notifier.handle_state(job.id, job.state, job.notify_flags);
        }
        self.notifier.drop_modifications();
    }
}

fn network_disconnected() -> JobError {
    let error = TransferError::new(
        Hresult::BG_E_NETWORK_DISCONNECTED,
        ErrorContext::GeneralTransport,
        "the machine has no network; waiting for it to return",
    );
    JobError { error, file: None }
}
