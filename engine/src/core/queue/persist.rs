//! The queue's durable form: to and from the journal, and the temporary files that recovery
//! checks at start-up.

use std::time::Duration;

use super::{PartFile, Queue, TIME_SLICE_DEFAULT};
use crate::core::auth::credentials::CredentialStore;
use crate::core::auth::seal::{MachineKey, unseal};
use crate::core::event::Event;
use crate::core::job::{JOB_INACTIVITY_TIMEOUT_DEFAULT, Job, JobAccess};
use crate::core::journal::{Journal, JournalJob};

impl Queue {
    /// The durable form of the queue. Monotonic deadlines become wall-clock times.
    pub fn to_journal(&self, now: Duration, unix_now: Duration) -> Journal {
        let to_unix = |at: Option<Duration>| at.map(|at| millis(unix_now + at.saturating_sub(now)));
        Journal {
            next_job_id: self.next_job_id,
            next_queue_seq: self.next_queue_seq,
            jobs: self
                .jobs
                .values()
                .map(|job| JournalJob {
                    id: job.id,
                    name: job.name.clone(),
                    job_type: job.job_type,
                    priority: job.priority,
                    state: job.state.restored(),
                    files: job.files.clone(),
                    retry_delay_ms: millis(job.retry_delay),
                    no_progress_timeout_ms: millis(job.no_progress_timeout),
                    error: job.error.clone(),
                    retry_at_unix_ms: to_unix(job.retry_at),
                    no_progress_deadline_unix_ms: to_unix(job.no_progress_deadline),
                    queue_seq: job.queue_seq,
                    rate_limit_bps: job.rate_limit_bps,
                    owner: job.access.owner.clone(),
                    proxy: job.access.proxy.clone(),
                    credentials: job.sealed_credentials.clone(),
                    notify_flags: job.notify_flags,
                    inactivity_deadline_unix_ms: to_unix(job.inactivity_deadline),
                })
                .collect(),
        }
    }

    /// Rebuilds the queue at start-up. Deadlines in the past fire at the first
    /// `handle_timeout`; a wall clock that went backwards cannot stretch a deadline beyond
    /// its full length.
    /// Credentials come back only with the key they were sealed with; without it the job
    /// has none (its next challenge fails as if none had been set).
    pub fn restore(
        journal: Journal,
        now: Duration,
        unix_now: Duration,
        key: Option<&MachineKey>,
    ) -> Self {
        let mut queue = Self {
            time_slice: TIME_SLICE_DEFAULT,
            inactivity_timeout: JOB_INACTIVITY_TIMEOUT_DEFAULT,
            next_job_id: journal.next_job_id.max(1),
            next_queue_seq: journal.next_queue_seq,
            ..Self::default()
        };
        for stored in journal.jobs {
            let retry_delay = Duration::from_millis(stored.retry_delay_ms);
            let no_progress_timeout = Duration::from_millis(stored.no_progress_timeout_ms);
            let from_unix = |at: Option<u64>, longest: Duration| {
                at.map(|at| now + Duration::from_millis(at).saturating_sub(unix_now).min(longest))
            };
            let job = Job {
                id: stored.id,
                name: stored.name,
                job_type: stored.job_type,
                priority: stored.priority,
                state: stored.state.restored(),
                files: stored.files,
                retry_delay,
                no_progress_timeout,
                error: stored.error,
                retry_at: from_unix(stored.retry_at_unix_ms, retry_delay),
                no_progress_deadline: from_unix(
                    stored.no_progress_deadline_unix_ms,
                    no_progress_timeout,
                ),
                queue_seq: stored.queue_seq,
                running: false,
                held: false,
                rate_limit_bps: stored.rate_limit_bps,
                slice_started: None,
                access: JobAccess {
                    owner: stored.owner,
                    credentials: match (key, &stored.credentials) {
                        (Some(key), Some(sealed)) => unseal(key, sealed).unwrap_or_default(),
                        _ => CredentialStore::default(),
                    },
                    proxy: stored.proxy,
                },
                sealed_credentials: stored.credentials,
                notify_flags: stored.notify_flags,
                // `set_inactivity_timeout` caps it at the configured timeout.
                inactivity_deadline: from_unix(stored.inactivity_deadline_unix_ms, Duration::MAX),
            };
            queue.events.push(Event::Restored { job: job.id, state: job.state });
            queue.next_job_id = queue.next_job_id.max(job.id.0 + 1);
            queue.next_queue_seq = queue.next_queue_seq.max(job.queue_seq + 1);
            queue.jobs.insert(job.id, job);
        }
        queue.recompute_notifications();
        queue
    }

    /// The temporary files that recovery must check: every file with durable progress that
    /// is not transferred yet.
    pub fn part_files(&self) -> Vec<PartFile> {
        self.jobs
            .values()
            .flat_map(|job| {
                // An upload's source is never written and its reply is fetched whole.
                job.files
                    .iter()
                    .enumerate()
                    .filter(|(_, file)| !file.transferred && file.upload.is_none())
                    .map(|(index, file)| PartFile {
                        job: job.id,
                        file: index,
                        temp_name: file.temp_name.clone(),
                        journal_offset: file.durable.offset,
                    })
            })
            .collect()
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
