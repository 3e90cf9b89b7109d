//! The scheduler (spec §2.7): which transfers run, which background job yields the slot
//! (preemption, time slices, a blocking policy), and when the queue's timers fire.

use std::time::Duration;

use super::{Queue, StartTransfer};
use crate::core::defect::Defect;
use crate::core::error::{ErrorContext, JobError, TransferError};
use crate::core::hresult::Hresult;
use crate::core::job::{Job, JobId};
use crate::core::state::{JobState, Trigger};

impl Queue {
    /// The next transfer to run, if any: every FOREGROUND job runs at once; of the background
    /// jobs exactly one runs, the first by (priority, queue position) (spec §2.7), unless the
    /// bandwidth policy blocks them.
    pub fn poll_start(&mut self, now: Duration) -> Option<StartTransfer> {
        if self.network_lost {
            return None;
        }
        let order = self.by_turn();
        // The background slot belongs to the background job that is CONNECTING or
        // TRANSFERRING, also between two of its files, when no transfer task runs for it.
        let background_holder = self.background_holder().map(|job| job.id);
        let blocked = self.background_blocked;
        let pick = order.iter().map(|id| &self.jobs[id]).find(|job| {
            let ready = !job.running && !job.held && job.current_file().is_some();
            let wants = match (job.priority.is_background(), background_holder) {
                (false, _) => job.state == JobState::Queued || job.state.is_active(),
                (true, _) if blocked => false,
                (true, Some(holder)) => job.id == holder,
                (true, None) => job.state == JobState::Queued,
            };
            ready && wants
        })?;
        let id = pick.id;
        if pick.state == JobState::Queued {
            self.transition(id, JobState::Connecting, Trigger::Schedule, None);
        }
        let job = self.jobs.get_mut(&id).expect("picked from the map");
        job.running = true;
        if job.priority.is_background() && job.slice_started.is_none() {
            job.slice_started = Some(now);
        }
        let index = job.current_file().expect("picked jobs have a file left");
        let file = &job.files[index];
        Some(StartTransfer {
            job: id,
            file: index,
            remote_name: file.remote_name.clone(),
            temp_name: file.temp_name.clone(),
            durable: file.durable.clone(),
            access: job.access.clone(),
            ranges: file.ranges.clone(),
            local_name: file.local_name.clone(),
            upload: file.upload.clone().map(|upload| (job.job_type, upload)),
        })
    }

    /// The background job that must give up the slot now, and why: the policy blocks
    /// background transfers, a higher priority waits, or its time slice is over while an
    /// equal priority waits. The caller stops its transfer, then calls [`Queue::handle_yield`].
    pub fn poll_preempt(&self, now: Duration) -> Option<(JobId, Trigger)> {
        let holder = self.background_holder()?;
        if holder.held {
            return None;
        }
        if self.background_blocked {
            return Some((holder.id, Trigger::PolicyBlocked));
        }
        let waiting = |job: &&Job| {
            job.priority.is_background()
                && job.state == JobState::Queued
                && !job.held
                && job.current_file().is_some()
        };
        let best_waiting = self.jobs.values().filter(waiting).map(|job| job.priority).min()?;
        if best_waiting < holder.priority && !self.defects.contains(Defect::NoPreemption) {
            return Some((holder.id, Trigger::Preempt));
        }
        let slice_over = !self.defects.contains(Defect::NoTimeSlice)
            && holder.slice_started.is_some_and(|start| now >= start + self.time_slice);
        (best_waiting == holder.priority && slice_over).then_some((holder.id, Trigger::TimeSlice))
    }

    /// The background job gave up the slot (its transfer stopped): QUEUED again, at the back
    /// of its priority after a time slice, or TRANSIENT_ERROR while the policy blocks.
    pub fn handle_yield(&mut self, id: JobId, trigger: Trigger) {
        let seq = self.next_queue_seq;
        let Some(job) = self.jobs.get_mut(&id) else { return };
        job.slice_started = None;
        if !job.state.is_active() {
            return;
        }
        match trigger {
            Trigger::PolicyBlocked => {
                let error = blocked_by_policy();
                job.error = Some(error.clone());
                self.transition(id, JobState::TransientError, trigger, Some(error));
            }
            Trigger::TimeSlice => {
                job.queue_seq = seq;
                self.next_queue_seq += 1;
                self.transition(id, JobState::Queued, trigger, None);
            }
            _ => self.transition(id, JobState::Queued, trigger, None),
        }
    }

    /// The bandwidth policy's verdict for now: QUEUED background jobs wait in TRANSIENT_ERROR
    /// while it blocks them, and every job it blocked is QUEUED again once it does not.
    pub fn set_background_blocked(&mut self, blocked: bool) {
        self.background_blocked = blocked;
        let changes: Vec<(JobId, bool)> = self
            .jobs
            .values()
            .filter_map(|job| {
                let was_blocked = job.state == JobState::TransientError
                    && job
                        .error
                        .as_ref()
                        .is_some_and(|e| e.error.code == Hresult::BG_E_BLOCKED_BY_POLICY);
                let blocks = blocked && job.priority.is_background();
                if job.state == JobState::Queued && blocks {
                    Some((job.id, true))
                } else if was_blocked && !blocks {
                    Some((job.id, false))
                } else {
                    None
                }
            })
            .collect();
        for (id, block) in changes {
            if block {
                let error = blocked_by_policy();
                self.jobs.get_mut(&id).expect("collected from the map").error = Some(error.clone());
                self.transition(id, JobState::TransientError, Trigger::PolicyBlocked, Some(error));
            } else {
                self.transition(id, JobState::Queued, Trigger::PolicyUnblocked, None);
            }
        }
    }

    /// Job ids in scheduling order: (priority, queue position).
    fn by_turn(&self) -> Vec<JobId> {
        let mut order: Vec<&Job> = self.jobs.values().collect();
        order.sort_by_key(|job| (job.priority, job.queue_seq));
        order.into_iter().map(|job| job.id).collect()
    }

    /// The background job in CONNECTING or TRANSFERRING, first by turn.
    fn background_holder(&self) -> Option<&Job> {
        self.by_turn()
            .into_iter()
            .map(|id| &self.jobs[&id])
            .find(|job| job.priority.is_background() && job.state.is_active())
    }

    /// When `handle_timeout` must run next (or `poll_preempt` may change its answer).
    pub fn poll_timeout(&self) -> Option<Duration> {
        // A time slice matters only while an equal-priority job waits for its turn.
        let slice_end = self.background_holder().and_then(|holder| {
            let rival = self.jobs.values().any(|job| {
                job.id != holder.id
                    && job.priority == holder.priority
                    && job.state == JobState::Queued
            });
            let slices = !self.defects.contains(Defect::NoTimeSlice);
            holder.slice_started.filter(|_| rival && slices).map(|start| start + self.time_slice)
        });
        self.jobs
            .values()
            .filter(|job| job.state == JobState::TransientError)
            .flat_map(|job| [job.retry_at, job.no_progress_deadline])
            .flatten()
            .chain(slice_end)
            .chain(self.next_inactivity_deadline())
            .min()
    }

    /// Fires every timer due at `now`: no-progress deadlines first (ERROR), then retries.
    pub fn handle_timeout(&mut self, now: Duration) {
        let due: Vec<(JobId, JobState)> = self
            .jobs
            .values()
            .filter(|job| job.state == JobState::TransientError)
            .filter_map(|job| {
                if job.no_progress_deadline.is_some_and(|deadline| now >= deadline) {
                    Some((job.id, JobState::Error))
                } else if job.retry_at.is_some_and(|at| now >= at) {
                    Some((job.id, JobState::Queued))
                } else {
                    None
                }
            })
            .collect();
        for (id, to) in due {
            let job = self.jobs.get_mut(&id).expect("collected from the map");
            job.retry_at = None;
            if to == JobState::Error {
                let error = job.error.clone();
                self.transition(id, JobState::Error, Trigger::FatalFailure, error);
            } else {
                self.transition(id, JobState::Queued, Trigger::RetryTimer, None);
            }
        }
    }
}

fn blocked_by_policy() -> JobError {
    let error = TransferError::new(
        Hresult::BG_E_BLOCKED_BY_POLICY,
        ErrorContext::GeneralQueueManager,
        "the bandwidth policy blocks background transfers in this window",
    );
    JobError { error, file: None }
}
