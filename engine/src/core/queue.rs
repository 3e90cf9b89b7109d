//! The job queue: every job, the scheduler that picks which ones transfer, the retry timers,
//! and the state machine that the API and the transfers drive.
//!
//! Sans-IO in the manner of quinn-proto. Inputs are `handle_*` (transfer outcomes, timers) and
//! API commands (`create_job`, `resume`, ...); outputs are `poll_start` (which transfer to run
//! next), `poll_preempt` (which background job must yield the slot, then `handle_yield`),
//! `poll_timeout` (when to call `handle_timeout`) and `take_events`. Time is the engine's
//! monotonic time, passed in. The caller persists a snapshot (`to_journal`) whenever
//! `take_dirty` says the durable state changed, *before* it publishes the events taken with it.
//!
//! The scheduler lives in `schedule.rs`, persistence in `persist.rs`; network loss, the job
//! inactivity timeout and notifications in `lifecycle.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::auth::credentials::Credential;
use super::auth::{AuthScheme, AuthTarget};
use super::defect::Defect;
use super::error::{ApiError, JobError, TransferError};
use super::event::Event;
use super::hresult::Hresult;
use super::http::{RemoteInfo, RemoteUrl};
use super::job::{
    DISPLAY_NAME_LEN_MAX, JOB_INACTIVITY_TIMEOUT_DEFAULT, Job, JobAccess, JobFile, JobId,
    NO_PROGRESS_TIMEOUT_DEFAULT, RETRY_DELAY_DEFAULT, RETRY_DELAY_MIN,
};
use super::notify::{Notifier, NotifyFlags};
use super::proxy::ProxySettings;
use super::ranges::{FileRange, validate_ranges};
use super::resume::{DurableFile, RestartReason};
use super::retry::{Verdict, decide_failure};
use super::state::{JobState, JobType, Priority, Trigger, is_legal_transition};

/// What the caller must run: a transfer of one file of one job.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct StartTransfer {
    pub job: JobId,
    pub file: usize,
    pub remote_name: String,
    pub temp_name: String,
    pub durable: DurableFile,
    pub access: JobAccess,
    /// The file's ranges; empty = the whole file.
    pub ranges: Vec<FileRange>,
    /// The file's local name (for an upload: the source).
    pub local_name: String,
    /// Upload jobs: the type and the session and reply state the journal holds.
    pub upload: Option<(JobType, super::upload::UploadFile)>,
}

/// The file work of a Complete call: rename these, then delete those.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CompletePlan {
    /// `(temporary, destination)` for every transferred file.
    pub renames: Vec<(String, String)>,
    /// Temporary files of files that were not transferred.
    pub deletions: Vec<String>,
}

impl CompletePlan {
    /// S_OK, or BG_S_PARTIAL_COMPLETE when some files were not transferred.
    pub fn result(&self) -> Hresult {
        if self.deletions.is_empty() { Hresult::S_OK } else { Hresult::BG_S_PARTIAL_COMPLETE }
    }
}

/// A temporary file to check at start-up.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PartFile {
    pub job: JobId,
    pub file: usize,
    pub temp_name: String,
    pub journal_offset: u64,
}

/// How long a background job keeps the background slot while an equal-priority job waits.
/// BITS does not publish its time slice (spec §2.7); five minutes keeps the cost of a switch
/// (a reconnect and a HEAD, a few round trips) under 1 % even on a satellite link, and lets
/// jobs of equal priority visibly take turns within an hour. Scenarios choose their own.
pub const TIME_SLICE_DEFAULT: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
pub struct Queue {
    time_slice: Duration,
    defects: super::defect::Defects,
    /// The bandwidth policy's limit is 0 now: background jobs wait in TRANSIENT_ERROR.
    background_blocked: bool,
    jobs: BTreeMap<JobId, Job>,
    next_job_id: u64,
    next_queue_seq: u64,
    events: Vec<Event>,
    dirty: bool,
    /// The machine has no network: nothing transfers, jobs wait in TRANSIENT_ERROR.
    network_lost: bool,
    /// How long a job may go without activity before the service cancels it.
    inactivity_timeout: Duration,
    /// Jobs with activity (progress, a call by the owner) since the last
    /// [`Queue::stamp_activity`].
    touched: BTreeSet<JobId>,
    notifier: Notifier,
}

impl Queue {
    pub fn new() -> Self {
        Self {
            next_job_id: 1,
            time_slice: TIME_SLICE_DEFAULT,
            inactivity_timeout: JOB_INACTIVITY_TIMEOUT_DEFAULT,
            ..Self::default()
        }
    }

    pub fn set_time_slice(&mut self, time_slice: Duration) {
        self.time_slice = time_slice;
    }

    /// Deliberate scheduling bugs (testing only; empty without the `defects` feature).
    pub fn set_defects(&mut self, defects: super::defect::Defects) {
        self.defects = defects;
    }

    // ----- queries ---------------------------------------------------------------------------

    pub fn job(&self, id: JobId) -> Option<&Job> {
        self.jobs.get(&id)
    }

    /// Every job in the queue, by id.
    pub fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.jobs.values()
    }

    // ----- API commands ----------------------------------------------------------------------

    /// `CreateJob`: a new job starts SUSPENDED with the BITS defaults.
    pub fn create_job(
        &mut self,
        owner: &str,
        name: &str,
        job_type: JobType,
    ) -> Result<JobId, ApiError> {
        if name.chars().count() > DISPLAY_NAME_LEN_MAX {
            return Err(ApiError::invalid_arg(format!(
                "display name has more than {DISPLAY_NAME_LEN_MAX} characters"
            )));
        }
        let id = JobId(self.next_job_id);
        self.next_job_id += 1;
        let job = Job {
            id,
            name: name.to_owned(),
            job_type,
            priority: Priority::default(),
            state: JobState::Suspended,
            files: Vec::new(),
            retry_delay: RETRY_DELAY_DEFAULT,
            no_progress_timeout: NO_PROGRESS_TIMEOUT_DEFAULT,
            error: None,
            retry_at: None,
            no_progress_deadline: None,
            queue_seq: self.take_queue_seq(),
            running: false,
            held: false,
            rate_limit_bps: None,
            slice_started: None,
            access: JobAccess { owner: owner.to_owned(), ..JobAccess::default() },
            sealed_credentials: None,
            notify_flags: NotifyFlags::DEFAULT,
            inactivity_deadline: None,
        };
        self.jobs.insert(id, job);
        self.touched.insert(id);
        self.record(Event::JobCreated { job: id, name: name.to_owned(), owner: owner.to_owned() });
        Ok(id)
    }

    /// `AddFile`: appends a file; returns its index in the job.
    pub fn add_file(
        &mut self,
        id: JobId,
        remote_name: &str,
        local_name: &str,
    ) -> Result<usize, ApiError> {
        self.add_file_with_ranges(id, remote_name, local_name, &[])
    }

    /// `AddFileWithRanges` (spec §3.7), or `AddFile` when `ranges` is empty: appends a file
    /// whose local copy holds the given ranges of the remote file, in the given order.
    pub fn add_file_with_ranges(
        &mut self,
        id: JobId,
        remote_name: &str,
        local_name: &str,
        ranges: &[FileRange],
    ) -> Result<usize, ApiError> {
        if !ranges.is_empty() {
            let job = self.jobs.get(&id).ok_or_else(|| not_found(id, self.next_job_id))?;
            if job.job_type != JobType::Download {
                return Err(ApiError::new(
                    Hresult::E_NOTIMPL,
                    format!("{id} is not a download job; only downloads take ranges"),
                ));
            }
            validate_ranges(ranges)?;
        }
        RemoteUrl::parse(remote_name)?;
        if !local_name.starts_with('/') || local_name.ends_with('/') {
            return Err(ApiError::invalid_arg(format!(
                "local name `{local_name}` must be the full path of a file"
            )));
        }
        let job = self.job_mut_not_final(id)?;
        let upload = upload::file_for(job, local_name)?;
        if job.files.iter().any(|file| file.local_name == local_name) {
            return Err(ApiError::invalid_arg(format!(
                "{id} already has a file with local name `{local_name}`"
            )));
        }
        let index = job.files.len();
        job.files.push(JobFile {
            remote_name: remote_name.to_owned(),
            local_name: local_name.to_owned(),
            temp_name: JobFile::temp_name_for(
                upload
                    .as_ref()
                    .and_then(|upload| upload.reply_name.as_deref())
                    .unwrap_or(local_name),
                id,
                index,
            ),
            durable: DurableFile::default(),
            transferred: false,
            ranges: ranges.to_vec(),
            upload,
        });
        self.record(Event::FileAdded {
            job: id,
            file: index,
            remote_name: remote_name.to_owned(),
            local_name: local_name.to_owned(),
            ranges: ranges.to_vec(),
        });
        Ok(index)
    }

    /// `Resume`: SUSPENDED, ERROR and TRANSIENT_ERROR jobs (and TRANSFERRED jobs with new
    /// files) go to the back of the queue; jobs that already want to transfer are unchanged.
    pub fn resume(&mut self, id: JobId) -> Result<(), ApiError> {
        let seq = self.next_queue_seq;
        let job = self.job_mut_not_final(id)?;
        if job.files.is_empty() {
            return Err(ApiError::new(Hresult::BG_E_EMPTY, format!("{id} has no files")));
        }
        let wakes = match job.state {
            JobState::Suspended | JobState::Error | JobState::TransientError => true,
            JobState::Transferred => job.current_file().is_some(),
            _ => false,
        };
        if !wakes {
            return Ok(());
        }
        job.retry_at = None;
        job.no_progress_deadline = None;
        job.queue_seq = seq;
        self.next_queue_seq += 1;
        self.transition(id, JobState::Queued, Trigger::Resume, None);
        Ok(())
    }

    /// Checks that a call on a job is allowed (it exists and is not final).
    pub fn check_not_final(&self, id: JobId) -> Result<JobState, ApiError> {
        let job = self.jobs.get(&id).ok_or_else(|| not_found(id, self.next_job_id))?;
        if job.state.is_final() {
            return Err(ApiError::invalid_state(format!("{id} is {}", job.state)));
        }
        Ok(job.state)
    }

    /// Holds the job for an API call that must stop its transfer first (Suspend, Cancel,
    /// Complete): the scheduler does not start it again until the call ends or [`release`]s
    /// it.
    ///
    /// [`release`]: Queue::release
    pub fn hold(&mut self, id: JobId) -> Result<(), ApiError> {
        self.job_mut_not_final(id)?.held = true;
        Ok(())
    }

    /// Ends a hold whose API call failed: the job continues as it was.
    pub fn release(&mut self, id: JobId) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.held = false;
        }
    }

    /// `Suspend`, once no transfer runs for the job.
    pub fn suspend(&mut self, id: JobId) -> Result<(), ApiError> {
        let job = self.job_mut_not_final(id)?;
        assert!(!job.running, "suspend while a transfer of {id} runs");
        job.held = false;
        if job.state == JobState::Suspended {
            return Ok(());
        }
        job.retry_at = None;
        self.transition(id, JobState::Suspended, Trigger::Suspend, None);
        Ok(())
    }

    /// `Cancel`, once no transfer runs: the job leaves the queue. Returns the temporary files
    /// to delete (after the caller has persisted the queue).
    pub fn cancel(&mut self, id: JobId) -> Result<Vec<String>, ApiError> {
        self.cancel_for(id, Trigger::Cancel)
    }

    /// Cancels a job on the owner's behalf (`Cancel`) or the service's (inactivity).
    fn cancel_for(&mut self, id: JobId, trigger: Trigger) -> Result<Vec<String>, ApiError> {
        let job = self.job_mut_not_final(id)?;
        assert!(!job.running, "cancel while a transfer of {id} runs");
        let temps = job.files.iter().map(|file| file.temp_name.clone()).collect();
        self.transition(id, JobState::Cancelled, trigger, None);
        self.jobs.remove(&id);
        Ok(temps)
    }

    /// The file work of `Complete`, once no transfer runs.
    pub fn complete_plan(&self, id: JobId) -> Result<CompletePlan, ApiError> {
        self.check_not_final(id)?;
        let job = &self.jobs[&id];
        if job.job_type.is_upload() {
            return upload::complete_plan(job);
        }
        assert!(!job.running, "complete while a transfer of {id} runs");
        let (done, undone): (Vec<&JobFile>, Vec<&JobFile>) =
            job.files.iter().partition(|file| file.transferred);
        Ok(CompletePlan {
            renames: done.iter().map(|f| (f.temp_name.clone(), f.local_name.clone())).collect(),
            deletions: undone.iter().map(|f| f.temp_name.clone()).collect(),
        })
    }

    /// `Complete` succeeded: the files are in place, the job leaves the queue.
    pub fn finish_complete(&mut self, id: JobId, result: Hresult) {
        self.transition(id, JobState::Acknowledged, Trigger::Complete, None);
        self.jobs.remove(&id);
        self.record(Event::Completed { job: id, result });
    }

    /// The job's own bandwidth cap (`None`: none).
    pub fn set_rate_limit(&mut self, id: JobId, rate_bps: Option<u64>) -> Result<(), ApiError> {
        if rate_bps == Some(0) {
            return Err(ApiError::invalid_arg("a job's rate limit must be positive"));
        }
        self.job_mut_not_final(id)?.rate_limit_bps = rate_bps;
        self.dirty = true;
        Ok(())
    }

    pub fn set_credentials(
        &mut self,
        id: JobId,
        target: AuthTarget,
        scheme: AuthScheme,
        credential: Credential,
    ) -> Result<(), ApiError> {
        self.job_mut_not_final(id)?.access.credentials.set(target, scheme, credential)
    }

    /// Keeps the sealed form of the job's credentials for the journal.
    pub fn set_sealed_credentials(&mut self, id: JobId, sealed: Option<String>) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.sealed_credentials = sealed;
            self.dirty = true;
        }
    }

    pub fn remove_credentials(
        &mut self,
        id: JobId,
        target: AuthTarget,
        scheme: AuthScheme,
    ) -> Result<(), ApiError> {
        self.job_mut_not_final(id)?.access.credentials.remove(target, scheme);
        Ok(())
    }

    pub fn set_proxy_settings(
        &mut self,
        id: JobId,
        settings: ProxySettings,
    ) -> Result<(), ApiError> {
        settings.check()?;
        self.job_mut_not_final(id)?.access.proxy = settings;
        self.dirty = true;
        Ok(())
    }

    pub fn set_priority(&mut self, id: JobId, priority: Priority) -> Result<(), ApiError> {
        self.job_mut_not_final(id)?.priority = priority;
        self.dirty = true;
        Ok(())
    }

    /// `SetMinimumRetryDelay`; values under five seconds are raised to five, as BITS does.
    pub fn set_minimum_retry_delay(&mut self, id: JobId, delay: Duration) -> Result<(), ApiError> {
        self.job_mut_not_final(id)?.retry_delay = delay.max(RETRY_DELAY_MIN);
        self.dirty = true;
        Ok(())
    }

    /// `SetNoProgressTimeout`; a running no-progress clock keeps its start.
    pub fn set_no_progress_timeout(
        &mut self,
        id: JobId,
        timeout: Duration,
    ) -> Result<(), ApiError> {
        let job = self.job_mut_not_final(id)?;
        if let Some(deadline) = job.no_progress_deadline {
            job.no_progress_deadline =
                Some(deadline.saturating_sub(job.no_progress_timeout) + timeout);
        }
        job.no_progress_timeout = timeout;
        self.dirty = true;
        Ok(())
    }

    // ----- transfer outcomes -------------------------------------------------------------------

    /// The server answered: CONNECTING becomes TRANSFERRING.
    pub fn handle_connected(&mut self, id: JobId) {
        if self.jobs.get(&id).is_some_and(|job| job.state == JobState::Connecting) {
            self.transition(id, JobState::Transferring, Trigger::Connect, None);
            self.jobs.get_mut(&id).expect("just transitioned").error = None;
        }
    }

    /// HEAD told us the size and version of a file whose durable bytes are still valid.
    pub fn handle_remote_info(&mut self, id: JobId, file: usize, remote: &RemoteInfo) {
        let durable = &mut self.file_mut(id, file).durable;
        if durable.size != Some(remote.size)
            || durable.validators != remote.validators
            || durable.new_source
        {
            durable.size = Some(remote.size);
            durable.validators = remote.validators.clone();
            durable.new_source = false;
            self.dirty = true;
        }
    }

    /// The file's durable bytes are void: it starts again from 0 (as `remote`, if known).
    /// The caller truncates the temporary file only after persisting this.
    pub fn handle_restart(
        &mut self,
        id: JobId,
        file: usize,
        reason: RestartReason,
        remote: Option<&RemoteInfo>,
    ) {
        let record = self.file_mut(id, file);
        record.durable = DurableFile {
            size: remote.map(|remote| remote.size),
            validators: remote.map(|remote| remote.validators.clone()).unwrap_or_default(),
            ..DurableFile::default()
        };
        record.transferred = false;
        self.record(Event::FileRestarted { job: id, file, reason });
    }

    /// Bytes `0..offset` of the file are synced; the caller persists before publishing.
    pub fn handle_checkpoint(&mut self, id: JobId, file: usize, offset: u64) {
        let record = self.file_mut(id, file);
        let progressed = offset > record.durable.offset;
        record.durable.offset = offset;
        let job = self.jobs.get_mut(&id).expect("file_mut found the job");
        if progressed {
            job.no_progress_deadline = None;
            self.touched.insert(id);
        }
        let progress = job.progress();
        self.record(Event::Checkpoint { job: id, file, offset });
        self.record(Event::Progress { job: id, progress });
    }

    /// Every byte of the file is durable. The last file makes the job TRANSFERRED.
    pub fn handle_file_transferred(&mut self, id: JobId, file: usize) {
        self.file_mut(id, file).transferred = true;
        let job = self.jobs.get_mut(&id).expect("file_mut found the job");
        job.running = false;
        let done = job.current_file().is_none();
        self.record(Event::FileTransferred { job: id, file });
        if done {
            self.transition(id, JobState::Transferred, Trigger::AllFilesTransferred, None);
        }
    }

    /// The transfer failed: TRANSIENT_ERROR with a retry timer, or ERROR.
    pub fn handle_failure(&mut self, now: Duration, id: JobId, file: usize, error: TransferError) {
        let job = self.jobs.get_mut(&id).expect("failures come from running jobs");
        job.running = false;
        let verdict = decide_failure(
            now,
            &error,
            job.retry_delay,
            job.no_progress_timeout,
            job.no_progress_deadline,
        );
        let error = JobError { error, file: Some(file) };
        job.error = Some(error.clone());
        match verdict {
            Verdict::RetryAt { retry_at, no_progress_deadline } => {
                job.retry_at = Some(retry_at);
                job.no_progress_deadline = Some(no_progress_deadline);
                self.transition(
                    id,
                    JobState::TransientError,
                    Trigger::TransientFailure,
                    Some(error),
                );
            }
            Verdict::GiveUp => {
                job.retry_at = None;
                self.transition(id, JobState::Error, Trigger::FatalFailure, Some(error));
            }
        }
    }

    /// The transfer stopped because the caller asked it to; the state is the caller's to change.
    pub fn handle_stopped(&mut self, id: JobId) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.running = false;
        }
    }

    // ----- persistence -------------------------------------------------------------------------

    /// True once after every change that must reach the journal.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Records an event that changes nothing durable, to be published in order with the rest.
    pub fn note(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Marks the queue as changed again, after a journal write failed.
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// The events recorded since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    // ----- internals ---------------------------------------------------------------------------

    fn transition(&mut self, id: JobId, to: JobState, trigger: Trigger, error: Option<JobError>) {
        let job = self.jobs.get_mut(&id).expect("transitions are for existing jobs");
        let from = job.state;
        assert!(
            is_legal_transition(from, to, trigger),
            "{id}: illegal {from} -> {to} on {trigger:?}"
        );
        job.state = to;
        if !matches!(trigger, Trigger::Schedule | Trigger::Connect) {
            self.dirty = true;
        }
        let flags = job.notify_flags;
        let heard_as = match to {
            JobState::TransientError if self.defects.contains(Defect::JobErrorOnTransient) => {
                JobState::Error
            }
            other => other,
        };
        self.notifier.handle_state(id, heard_as, flags);
        if !matches!(to, JobState::Error | JobState::Transferred) && !to.is_final() {
            self.notifier.handle_modified(id, flags);
        }
        self.events.push(Event::StateChanged { job: id, from, to, trigger, error });
    }

    fn record(&mut self, event: Event) {
        self.dirty = true;
        self.events.push(event);
    }

    fn take_queue_seq(&mut self) -> u64 {
        self.next_queue_seq += 1;
        self.next_queue_seq - 1
    }

    /// The job a call by its owner changes; the call is activity (it resets the inactivity
    /// timeout) and, if it succeeds, a modification.
    fn job_mut_not_final(&mut self, id: JobId) -> Result<&mut Job, ApiError> {
        let issued = self.next_job_id;
        let job = self.jobs.get_mut(&id).ok_or_else(|| not_found(id, issued))?;
        if job.state.is_final() {
            return Err(ApiError::invalid_state(format!("{id} is {}", job.state)));
        }
        self.touched.insert(id);
        Ok(job)
    }

    fn file_mut(&mut self, id: JobId, file: usize) -> &mut JobFile {
        &mut self.jobs.get_mut(&id).expect("outcomes come from existing jobs").files[file]
    }
}

/// The error for a job that is not in the queue. Ids are never reused, so an id the queue
/// issued belongs to a job that reached ACKNOWLEDGED or CANCELLED and left: BITS answers
/// every call on such a job with BG_E_INVALID_STATE (spec §2.3). Any other id is unknown.
fn not_found(id: JobId, next_job_id: u64) -> ApiError {
    if (1..next_job_id).contains(&id.0) {
        return ApiError::invalid_state(format!("{id} is final (ACKNOWLEDGED or CANCELLED)"));
    }
    ApiError::new(Hresult::BG_E_NOT_FOUND, format!("{id} is not in the queue"))
}

mod lifecycle;
#[cfg(test)]
mod lifecycle_tests;
mod persist;
mod remote;
mod schedule;
#[cfg(test)]
mod tests;
mod upload;
