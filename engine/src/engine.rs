//! The engine: the public API (BITS's `IBackgroundCopyManager` and `IBackgroundCopyJob`
//! calls), start-up and recovery, and the driver loop that runs transfers when the queue says
//! so. IO and no decisions: every branch on protocol or policy is in `crate::core`.
//!
//! Single-threaded: the engine lives on a current-thread runtime inside a `LocalSet` (as each
//! turmoil host does), shares its state through `Rc`, and spawns transfers with
//! `spawn_local`. No borrow of the queue is ever held across an `.await`.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::config::EngineConfig;
use crate::core::defect::Defect;
use crate::core::error::{ApiError, ErrorContext, JobError, TransferError};
use crate::core::event::{Event, EventSink};
use crate::core::hresult::Hresult;
use crate::core::http::RemoteInfo;
use crate::core::job::{JobId, JobProgress, OWNER_DEFAULT};
use crate::core::queue::{Queue, StartTransfer};
use crate::core::ranges::FileRange;
use crate::core::resume::{Recovery, RestartReason, recover_part_file};
use crate::core::state::{JobState, Priority};
use crate::core::throttle::{Limit, job_limit};
use crate::env::{Env, FileIo, OpenMode, parent_dir};
use crate::store::{StartError, Store};
use crate::transfer::{self, Outcome};

mod access;
mod remote;
mod users;

pub use self::users::{Caller, Session};
mod lifecycle;
mod uploads;

pub use self::lifecycle::NotifyCallback;

/// A handle to a running engine; clones share it.
pub struct Engine<E: Env> {
    inner: Rc<Inner<E>>,
}

impl<E: Env> Clone for Engine<E> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

/// A job as the API shows it (`GetState`, `GetProgress`, `GetError`, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct JobInfo {
    pub id: JobId,
    pub name: String,
    /// The user who created the job (spec §2.10).
    pub owner: String,
    pub state: JobState,
    pub priority: Priority,
    pub progress: JobProgress,
    pub error: Option<JobError>,
    pub files: Vec<FileInfo>,
}

#[derive(Clone, Debug, Eq, PartialEq)]
pub struct FileInfo {
    pub remote_name: String,
    pub local_name: String,
    pub transferred: bool,
    /// `IBackgroundCopyFile2::GetFileRanges`: empty for a whole file.
    pub ranges: Vec<FileRange>,
}

pub(crate) struct Inner<E: Env> {
    pub(crate) env: E,
    pub(crate) config: EngineConfig,
    store: Store,
    queue: RefCell<Queue>,
    sink: Rc<dyn EventSink>,
    /// Wakes the driver when the queue may have something to start or a new deadline.
    wake: Notify,
    transfers: RefCell<BTreeMap<JobId, RunningTransfer>>,
    started_at: Duration,
    /// Serialises commits (see [`Inner::commit`]).
    commit_lock: tokio::sync::Mutex<()>,
    /// Idle connections for the next transfer of the same owner.
    pub(crate) pool: crate::client::Pool,
    /// Wakes API calls waiting for a transfer that another call is stopping.
    transfer_ended: Notify,
    /// What this process remembers of each upload between attempts.
    upload_hints: RefCell<BTreeMap<JobId, crate::upload::UploadHint>>,
    /// The program's notification callback (`SetNotifyInterface`); never persisted.
    callback: RefCell<Option<Rc<dyn NotifyCallback>>>,
}

struct RunningTransfer {
    stop: Rc<StopSignal>,
    task: JoinHandle<()>,
}

/// Asks a transfer to stop at its next await, checkpointing what it has.
#[derive(Default)]
pub(crate) struct StopSignal {
    requested: Cell<bool>,
    notify: Notify,
}

impl StopSignal {
    fn request(&self) {
        self.requested.set(true);
        self.notify.notify_waiters();
    }

    /// Resolves once a stop is requested.
    pub(crate) async fn requested(&self) {
        while !self.requested.get() {
            self.notify.notified().await;
        }
    }
}

impl<E: Env> Engine<E> {
    /// Starts the engine, which is also recovery: start-up after a clean shutdown, a crash or
    /// a power loss is one code path. Reads the journal, cuts every temporary file back to the
    /// offset the journal vouches for, and re-queues the jobs that were transferring.
    /// Call [`Engine::run`] to start transferring.
    pub async fn start(
        env: E,
        config: EngineConfig,
        sink: Rc<dyn EventSink>,
    ) -> Result<Self, StartError> {
        let store = Store::open(&env, &config.state_dir).await?;
        let journal = store.load(&env).await?;
        let mut queue = match journal {
            Some(journal) => Queue::restore(
                journal,
                Duration::ZERO,
                env.unix_time(),
                config.credential_key.as_ref(),
            ),
            None => Queue::new(),
        };
        queue.set_time_slice(config.time_slice);
        queue.set_defects(config.defects);
        queue.set_inactivity_timeout(Duration::ZERO, config.job_inactivity_timeout);
        let started_at = env.now();
        let inner = Rc::new(Inner {
            env,
            config,
            store,
            queue: RefCell::new(queue),
            sink,
            wake: Notify::new(),
            transfers: RefCell::new(BTreeMap::new()),
            started_at,
            commit_lock: tokio::sync::Mutex::new(()),
            pool: crate::client::Pool::default(),
            transfer_ended: Notify::new(),
            upload_hints: RefCell::new(BTreeMap::new()),
            callback: RefCell::new(None),
        });
        let io_error = |action, path: &str| {
            let path = path.to_owned();
            move |source| StartError::Io { action, path, source }
        };
        inner.commit().await.map_err(io_error("write the journal in", &inner.config.state_dir))?;
        let part_files = inner.queue.borrow().part_files();
        for part in part_files {
            let file_len = inner
                .env
                .file_len(&part.temp_name)
                .await
                .map_err(io_error("inspect", &part.temp_name))?;
            inner
                .publish(Event::PartFileChecked {
                    job: part.job,
                    file: part.file,
                    journal_offset: part.journal_offset,
                    file_len,
                })
                .await;
            let target = match recover_part_file(part.journal_offset, file_len) {
                Recovery::TruncateTo(offset) => offset,
                Recovery::Restart(reason) => {
                    // The journal forgets the progress before the file loses its bytes.
                    inner.queue.borrow_mut().handle_restart(part.job, part.file, reason, None);
                    inner
                        .commit()
                        .await
                        .map_err(io_error("write the journal in", &inner.config.state_dir))?;
                    0
                }
            };
            if file_len.is_some_and(|len| len != target) {
                let file = inner
                    .env
                    .open(&part.temp_name, OpenMode::Existing)
                    .await
                    .map_err(io_error("open", &part.temp_name))?;
                file.set_len(target).await.map_err(io_error("truncate", &part.temp_name))?;
                file.sync_all().await.map_err(io_error("sync", &part.temp_name))?;
            }
        }
        let jobs = inner.queue.borrow().jobs().count();
        inner.publish(Event::Started { jobs }).await;
        Ok(Self { inner })
    }

    /// Runs transfers and timers forever. Spawn it (with `spawn_local`) or await it.
    pub async fn run(&self) {
        let inner = &self.inner;
        loop {
            inner.apply_bandwidth_policy();
            self.apply_network().await;
            self.cancel_inactive_jobs().await;
            loop {
                let preempt = inner.queue.borrow().poll_preempt(inner.now());
                let Some((job, trigger)) = preempt else { break };
                self.yield_slot(job, trigger).await;
            }
            let now = inner.now();
            let starts: Vec<StartTransfer> =
                std::iter::from_fn(|| inner.queue.borrow_mut().poll_start(now)).collect();
            for start in starts {
                self.spawn_transfer(start);
            }
            inner.deliver_notifications();
            // A journal that cannot be written stays dirty; the next commit tries again.
            let _ = inner.commit().await;
            let deadline = [inner.queue.borrow().poll_timeout(), inner.notification_deadline()]
                .into_iter()
                .flatten()
                .min();
            let network = inner.env.network_available();
            let policy_check = inner.until_policy_check();
            let timer = async {
                match deadline {
                    Some(deadline) => inner.env.sleep_until(inner.started_at + deadline).await,
                    None => std::future::pending().await,
                }
            };
            let policy_timer = async {
                match policy_check {
                    Some(wait) => inner.env.sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = inner.wake.notified() => {}
                () = inner.env.network_change(network) => {}
                () = timer => inner.queue.borrow_mut().handle_timeout(inner.now()),
                () = policy_timer => {}
            }
        }
    }

    /// Stops a background job's transfer so another takes the slot (or none, under a
    /// blocking policy), then lets the queue move it.
    async fn yield_slot(&self, job: JobId, trigger: crate::core::state::Trigger) {
        let running = self.inner.transfers.borrow_mut().remove(&job);
        if let Some(running) = running {
            running.stop.request();
            // A transfer that panicked has nothing left to clean up.
            let _ = running.task.await;
        }
        self.inner.queue.borrow_mut().handle_yield(job, trigger);
        let _ = self.inner.commit().await;
    }

    // ----- API -------------------------------------------------------------------------------

    /// `CreateJob`: a new download job of the default owner, SUSPENDED until
    /// [`Engine::resume`].
    pub async fn create_job(&self, name: &str) -> Result<JobId, ApiError> {
        self.create_job_for(OWNER_DEFAULT, name).await
    }

    /// `AddFile`.
    pub async fn add_file(
        &self,
        job: JobId,
        remote_name: &str,
        local_name: &str,
    ) -> Result<(), ApiError> {
        self.inner.queue.borrow_mut().add_file(job, remote_name, local_name)?;
        self.inner.commit_api().await
    }

    /// `AddFileWithRanges` (BITS 2.0, spec §3.7): the local file will hold `ranges` of the
    /// remote file, concatenated in the order given. Download jobs only (E_NOTIMPL); no
    /// ranges is E_INVALIDARG; a range at BG_LENGTH_TO_EOF or of zero length is
    /// BG_E_INVALID_RANGE; duplicates and overlaps are BG_E_OVERLAPPING_RANGES. Whether the
    /// ranges lie inside the remote file is known only after Resume: a range past its end
    /// puts the job in ERROR with BG_E_INVALID_RANGE.
    pub async fn add_file_with_ranges(
        &self,
        job: JobId,
        remote_name: &str,
        local_name: &str,
        ranges: &[FileRange],
    ) -> Result<(), ApiError> {
        if ranges.is_empty() {
            return Err(ApiError::invalid_arg("AddFileWithRanges needs at least one range"));
        }
        self.inner.queue.borrow_mut().add_file_with_ranges(job, remote_name, local_name, ranges)?;
        self.inner.commit_api().await
    }

    /// `Resume`.
    pub async fn resume(&self, job: JobId) -> Result<(), ApiError> {
        self.check_upload_source(job).await?;
        self.inner.queue.borrow_mut().resume(job)?;
        self.inner.commit_api().await?;
        Ok(())
    }

    /// `Suspend`: stops the job's transfer (keeping what it received) and parks the job.
    pub async fn suspend(&self, job: JobId) -> Result<(), ApiError> {
        self.stop_transfer(job).await?;
        self.inner.queue.borrow_mut().suspend(job)?;
        self.inner.commit_api().await
    }

    /// `Cancel`: the job leaves the queue and its temporary files are deleted.
    pub async fn cancel(&self, job: JobId) -> Result<(), ApiError> {
        self.stop_transfer(job).await?;
        let open_session = self.open_upload_session(job);
        let temps = self.inner.queue.borrow_mut().cancel(job)?;
        self.delete_temporaries(&temps).await?;
        if let Some(cancelled) = open_session {
            // The server drops the partial upload; the caller need not wait for it.
            let inner = self.inner.clone();
            tokio::task::spawn_local(crate::upload::cancel_session(inner, cancelled));
        }
        Ok(())
    }

    /// An upload job's session on its server, if it has one.
    fn open_upload_session(&self, job: JobId) -> Option<crate::upload::CancelledUpload> {
        let queue = self.inner.queue.borrow();
        let record = queue.job(job)?;
        let file = record.files.first()?;
        let session = file.upload.as_ref()?.session_id.clone()?;
        Some(crate::upload::CancelledUpload {
            job,
            remote_name: file.remote_name.clone(),
            access: record.access.clone(),
            session,
        })
    }

    /// Deletes a cancelled job's temporary files, durably. The cancel is durable first; a
    /// power loss before the deletions leaves orphaned temporary files, never a job that
    /// comes back.
    async fn delete_temporaries(&self, temps: &[String]) -> Result<(), ApiError> {
        self.inner.commit_api().await?;
        let mut dirs = BTreeSet::new();
        for temp in temps {
            self.inner
                .env
                .remove_file(temp)
                .await
                .map_err(|error| local_api_error("delete", temp, &error))?;
            dirs.insert(parent_dir(temp).to_owned());
        }
        for dir in dirs {
            self.inner
                .env
                .sync_dir(&dir)
                .await
                .map_err(|error| local_api_error("sync", &dir, &error))?;
        }
        Ok(())
    }

    /// `Complete`: renames every transferred file into place and ends the job. Returns S_OK,
    /// or BG_S_PARTIAL_COMPLETE when files were not transferred (their temporary files are
    /// deleted). If a rename fails the job keeps its state, as in BITS.
    pub async fn complete(&self, job: JobId) -> Result<Hresult, ApiError> {
        self.stop_transfer(job).await?;
        let moved = self.move_into_place(job).await;
        if moved.is_err() {
            // The job continues as it was; its transfer may start again.
            self.inner.queue.borrow_mut().release(job);
            self.inner.wake.notify_one();
        }
        let plan = moved?;
        let env = &self.inner.env;
        let result = plan.result();
        self.inner.queue.borrow_mut().finish_complete(job, result);
        self.inner.commit_api().await?;
        for temp in &plan.deletions {
            env.remove_file(temp).await.map_err(|error| local_api_error("delete", temp, &error))?;
        }
        Ok(result)
    }

    /// Renames the transferred files of a stopped job into place, durably.
    async fn move_into_place(
        &self,
        job: JobId,
    ) -> Result<crate::core::queue::CompletePlan, ApiError> {
        let plan = self.inner.queue.borrow().complete_plan(job)?;
        let env = &self.inner.env;
        let mut dirs = BTreeSet::new();
        for (temp, local) in &plan.renames {
            if let Err(error) = env.rename(temp, local).await {
                // An earlier Complete cut short by a power loss may already have moved it.
                let moved = error.kind() == std::io::ErrorKind::NotFound
                    && env.file_len(local).await.ok().flatten().is_some();
                if !moved {
                    return Err(local_api_error("rename into place", local, &error));
                }
            }
            dirs.insert(parent_dir(local).to_owned());
        }
        for dir in &dirs {
            env.sync_dir(dir).await.map_err(|error| local_api_error("sync", dir, &error))?;
        }
        Ok(plan)
    }

    /// The job's own bandwidth cap in bits per second (`None`: none), whatever its priority.
    pub async fn set_rate_limit(&self, job: JobId, rate_bps: Option<u64>) -> Result<(), ApiError> {
        self.inner.queue.borrow_mut().set_rate_limit(job, rate_bps)?;
        self.inner.commit_api().await
    }

    pub async fn set_priority(&self, job: JobId, priority: Priority) -> Result<(), ApiError> {
        self.inner.queue.borrow_mut().set_priority(job, priority)?;
        self.inner.commit_api().await?;
        Ok(())
    }

    /// `SetMinimumRetryDelay` (raised to at least five seconds).
    pub async fn set_minimum_retry_delay(
        &self,
        job: JobId,
        delay: Duration,
    ) -> Result<(), ApiError> {
        self.inner.queue.borrow_mut().set_minimum_retry_delay(job, delay)?;
        self.inner.commit_api().await
    }

    /// `SetNoProgressTimeout` (0 means: never retry).
    pub async fn set_no_progress_timeout(
        &self,
        job: JobId,
        timeout: Duration,
    ) -> Result<(), ApiError> {
        self.inner.queue.borrow_mut().set_no_progress_timeout(job, timeout)?;
        self.inner.commit_api().await?;
        Ok(())
    }

    pub fn job(&self, job: JobId) -> Option<JobInfo> {
        self.inner.queue.borrow().job(job).map(|job| JobInfo {
            id: job.id,
            name: job.name.clone(),
            owner: job.access.owner.clone(),
            state: job.state,
            priority: job.priority,
            progress: job.progress(),
            error: job.error.clone(),
            files: job
                .files
                .iter()
                .map(|file| FileInfo {
                    remote_name: file.remote_name.clone(),
                    local_name: file.local_name.clone(),
                    transferred: file.transferred,
                    ranges: file.ranges.clone(),
                })
                .collect(),
        })
    }

    /// `EnumJobs`: every job in the queue, by id.
    pub fn jobs(&self) -> Vec<JobInfo> {
        let ids: Vec<JobId> = self.inner.queue.borrow().jobs().map(|job| job.id).collect();
        ids.into_iter().filter_map(|id| self.job(id)).collect()
    }

    // ----- transfers ---------------------------------------------------------------------------

    fn spawn_transfer(&self, start: StartTransfer) {
        let stop = Rc::new(StopSignal::default());
        let (inner, task_stop) = (self.inner.clone(), stop.clone());
        let job = start.job;
        let task = tokio::task::spawn_local(async move {
            let file = start.file;
            let outcome = if start.upload.is_some() {
                crate::upload::run(&inner, start, &task_stop).await
            } else {
                transfer::run(&inner, start, &task_stop).await
            };
            inner.finish_transfer(job, file, outcome).await;
        });
        self.inner.transfers.borrow_mut().insert(job, RunningTransfer { stop, task });
    }

    /// Holds the job (so the driver does not start it again), stops its transfer if one
    /// runs, and waits until the transfer has checkpointed and ended.
    async fn stop_transfer(&self, job: JobId) -> Result<(), ApiError> {
        self.inner.queue.borrow_mut().hold(job)?;
        let running = self.inner.transfers.borrow_mut().remove(&job);
        if let Some(running) = running {
            running.stop.request();
            // A transfer that panicked has nothing left to clean up.
            let _ = running.task.await;
        }
        // Another call (a Cancel and a Suspend at once) may be stopping it: wait for the end.
        while self.inner.queue.borrow().job(job).is_some_and(|record| record.running) {
            self.inner.transfer_ended.notified().await;
        }
        Ok(())
    }
}

impl<E: Env> Inner<E> {
    /// Monotonic time since start-up.
    pub(crate) fn now(&self) -> Duration {
        self.env.now().saturating_sub(self.started_at)
    }

    /// Tells the queue whether the bandwidth policy blocks background jobs right now.
    fn apply_bandwidth_policy(&self) {
        if let Some(policy) = &self.config.bandwidth_policy {
            let blocked = policy.limit_at(self.env.unix_time()) == Limit::Blocked;
            self.queue.borrow_mut().set_background_blocked(blocked);
        }
    }

    /// How long until the policy must be looked at again (`None`: there is no policy).
    fn until_policy_check(&self) -> Option<Duration> {
        Some(self.config.bandwidth_policy.as_ref()?.until_check(self.env.unix_time()))
    }

    /// The limits on `job`'s reading rate apart from the background controller: its own cap
    /// and, for a background job, the policy's limit now.
    pub(crate) fn rate_limit(&self, job: JobId) -> (Limit, bool) {
        let queue = self.queue.borrow();
        let Some(job) = queue.job(job) else { return (Limit::Unlimited, false) };
        let background = job.priority.is_background();
        let ignore_policy = self.config.defects.contains(Defect::IgnoreBandwidthPolicy);
        let policy = self.config.bandwidth_policy.as_ref().filter(|_| !ignore_policy);
        let unix = self.env.unix_time();
        (job_limit(job.rate_limit_bps, background, policy, unix), background)
    }

    /// Publishes an event that changes no durable state (a request sent, a connection
    /// opened), in order with every other event.
    pub(crate) async fn publish(&self, event: Event) {
        self.queue.borrow_mut().note(event);
        // A journal that cannot be written stays dirty; the next commit tries again.
        let _ = self.commit().await;
    }

    /// Persists the queue if it changed, then publishes the events recorded with the change:
    /// nobody hears of a change that a power loss could still undo. Commits run one at a
    /// time, each publishing what it took, so the event stream keeps the order of events
    /// even when disk writes really wait.
    pub(crate) async fn commit(&self) -> std::io::Result<()> {
        let _one_at_a_time = self.commit_lock.lock().await;
        let (journal, events) = {
            let mut queue = self.queue.borrow_mut();
            queue.stamp_activity(self.now());
            let journal =
                queue.take_dirty().then(|| queue.to_journal(self.now(), self.env.unix_time()));
            (journal, queue.take_events())
        };
        let saved = match journal {
            Some(journal) => self.store.save(&self.env, &journal.encode()).await,
            None => Ok(()),
        };
        if saved.is_err() {
            // Try again at the next commit; the state in memory is still the truth.
            self.queue.borrow_mut().mark_dirty();
        }
        for event in &events {
            self.sink.on_event(event);
        }
        saved
    }

    /// Commits an API call's change and wakes the driver: any call may free the background
    /// slot (Suspend, Cancel, Complete), add work (Resume, AddFile) or move a timer.
    async fn commit_api(&self) -> Result<(), ApiError> {
        let committed = self.commit().await.map_err(|error| {
            ApiError::new(Hresult::GEN_FAILURE, format!("cannot write the job journal: {error}"))
        });
        self.wake.notify_one();
        committed
    }

    /// Checkpoint and other mid-transfer commits; a journal that cannot be written stops the
    /// transfer with an error blamed on the engine.
    async fn commit_transfer(&self) -> Result<(), TransferError> {
        self.commit().await.map_err(|error| {
            TransferError::new(
                Hresult::GEN_FAILURE,
                ErrorContext::GeneralQueueManager,
                format!("cannot write the job journal: {error}"),
            )
        })
    }

    pub(crate) async fn connected(&self, job: JobId) -> Result<(), TransferError> {
        self.queue.borrow_mut().handle_connected(job);
        self.commit_transfer().await
    }

    pub(crate) async fn remote_info(
        &self,
        job: JobId,
        file: usize,
        remote: &RemoteInfo,
    ) -> Result<(), TransferError> {
        self.queue.borrow_mut().handle_remote_info(job, file, remote);
        self.commit_transfer().await
    }

    /// Forgets the file's progress durably; only then may the caller truncate the file.
    pub(crate) async fn restart(
        &self,
        job: JobId,
        file: usize,
        reason: RestartReason,
        remote: Option<&RemoteInfo>,
    ) -> Result<(), TransferError> {
        self.queue.borrow_mut().handle_restart(job, file, reason, remote);
        self.commit_transfer().await
    }

    /// Records bytes `0..offset` as durable; the caller synced them first.
    pub(crate) async fn checkpoint(
        &self,
        job: JobId,
        file: usize,
        offset: u64,
    ) -> Result<(), TransferError> {
        self.queue.borrow_mut().handle_checkpoint(job, file, offset);
        self.commit_transfer().await
    }

    async fn finish_transfer(&self, job: JobId, file: usize, outcome: Outcome) {
        {
            let mut queue = self.queue.borrow_mut();
            match outcome {
                Outcome::Transferred => queue.handle_file_transferred(job, file),
                Outcome::Failed(error) => queue.handle_failure(self.now(), job, file, error),
                Outcome::Stopped => queue.handle_stopped(job),
            }
        }
        // No new transfer of this job can be in the map yet: the driver starts one only after
        // the queue saw this one end, just above, with no await in between.
        self.transfers.borrow_mut().remove(&job);
        self.transfer_ended.notify_waiters();
        // A journal that cannot be written stays dirty; the next commit tries again.
        let _ = self.commit().await;
        self.wake.notify_one();
    }
}

fn local_api_error(action: &str, path: &str, error: &std::io::Error) -> ApiError {
    let transfer = TransferError::local_io(&format!("{action} `{path}`"), error);
    ApiError::new(transfer.code, transfer.detail)
}
