//! The client program on the engine's host: what a real BITS client does with the API. It
//! creates the scenario's jobs (once: after a reboot it adopts the jobs the engine restored),
//! registers its notification callback, completes each job when JobTransferred tells it the
//! job is TRANSFERRED (or, for a job whose flags ask for no JobTransferred, when it sees the
//! state), and reads the completed files back so the oracles can check every byte.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use bitsim_engine::{
    ApiError, Engine, Event, EventSink, Hresult, JobError, JobId, JobInfo, JobState, Notification,
    NotifyCallback, NotifyFlags,
};
use tokio::sync::Notify;
use turmoil::fs::shim::std::fs as simfs;

use crate::content::Fnv64;
use crate::env::{DiskLedger, TurmoilEnv};
use crate::net::shaped::sim_now;
use crate::scenario::{ENGINE_HOST, Job, Scenario};
use crate::trace::{Recorder, SimEvent};

mod upload;

/// Records every engine event in the trace, tells the disk ledger which files are which,
/// and wakes the program on state changes.
pub struct SimSink {
    pub recorder: Recorder,
    pub wake: Rc<Notify>,
    pub ledger: Rc<RefCell<DiskLedger>>,
}

impl EventSink for SimSink {
    fn on_event(&self, event: &Event) {
        self.recorder.record(ENGINE_HOST, event.clone());
        match event {
            Event::StateChanged { .. } => self.wake.notify_one(),
            Event::FileAdded { job, file, local_name, .. } => {
                self.ledger.borrow_mut().file_added(*job, *file, local_name)
            }
            Event::FileRestarted { job, file, .. } => {
                self.ledger.borrow_mut().file_restarted(*job, *file)
            }
            _ => {}
        }
    }
}

mod script;

/// Runs the program forever. `first_boot`: the engine's host has not restarted yet; `seed`:
/// the run's, for the content of upload sources.
pub async fn run(
    engine: Engine<TurmoilEnv>,
    scenario: Rc<Scenario>,
    recorder: Recorder,
    wake: Rc<Notify>,
    first_boot: bool,
    seed: u64,
) {
    let jobs: Rc<[Job]> = scenario.jobs.iter().map(|job| job.get_ref().clone()).collect();
    let callback = Rc::new(Callback::new(wake.clone()));
    let app = Rc::new(App { engine, recorder, seed, callback: callback.clone() });
    app.prepare_directories(&jobs);
    let now = sim_now();
    script::schedule(&app.engine, &scenario, &app.recorder, now, first_boot);
    let (due, later): (Vec<Job>, Vec<Job>) =
        jobs.iter().cloned().partition(|job| job.start_at.is_none_or(|at| at.0 <= now));
    app.reconcile(&due).await;
    // Registered once the program knows its jobs: what the engine owes from before (a job
    // that became TRANSFERRED while the program was not running) is delivered now.
    app.engine.set_notify_interface(Some(callback.clone()));
    for job in later {
        let app = app.clone();
        tokio::task::spawn_local(async move {
            let at = job.start_at.map(|at| at.0).unwrap_or_default();
            crate::clock::sleep_until(at).await;
            app.reconcile(std::slice::from_ref(&job)).await;
        });
    }
    loop {
        let acknowledged = std::mem::take(&mut *callback.transferred.borrow_mut());
        for info in app.engine.jobs() {
            let told = app.engine.notify_flags(info.id).is_ok_and(|bits| {
                NotifyFlags::new(bits).is_ok_and(|flags| flags.wants(Notification::JobTransferred))
            });
            if info.state == JobState::Transferred && (!told || acknowledged.contains(&info.id)) {
                app.complete(&info, &jobs).await;
            }
        }
        wake.notified().await;
    }
}

/// The program's `IBackgroundCopyCallback`. It acknowledges JobTransferred (and hands the job
/// to the program's loop to Complete) and JobError, except that the first
/// `callback_fails_first` calls about a job fail with E_FAIL, as a program that is busy does.
struct Callback {
    /// Calls still to fail, by job.
    failures: RefCell<BTreeMap<JobId, u32>>,
    /// Jobs whose JobTransferred was acknowledged and that the loop has not completed yet.
    transferred: RefCell<BTreeSet<JobId>>,
    wake: Rc<Notify>,
}

impl Callback {
    fn new(wake: Rc<Notify>) -> Self {
        Self { failures: RefCell::default(), transferred: RefCell::default(), wake }
    }

    /// The program learns of its job `id`, whose calls fail `count` times first.
    fn expect(&self, id: JobId, count: u32) {
        self.failures.borrow_mut().entry(id).or_insert(count);
    }

    fn fail_first(&self, job: JobId) -> Result<(), Hresult> {
        match self.failures.borrow_mut().get_mut(&job) {
            Some(left) if *left > 0 => {
                *left -= 1;
                Err(Hresult::E_FAIL)
            }
            _ => Ok(()),
        }
    }
}

impl NotifyCallback for Callback {
    fn job_transferred(&self, job: JobId) -> Result<(), Hresult> {
        self.fail_first(job)?;
        self.transferred.borrow_mut().insert(job);
        self.wake.notify_one();
        Ok(())
    }

    fn job_error(&self, job: JobId, _error: &JobError) -> Result<(), Hresult> {
        self.fail_first(job)
    }

    fn job_modification(&self, _job: JobId) -> Result<(), Hresult> {
        Ok(())
    }
}

struct App {
    engine: Engine<TurmoilEnv>,
    recorder: Recorder,
    seed: u64,
    callback: Rc<Callback>,
}

impl App {
    /// BITS needs the destination directories to exist; the program makes them durably.
    fn prepare_directories(&self, jobs: &[Job]) {
        let dirs: BTreeSet<&str> = jobs
            .iter()
            .flat_map(|job| {
                job.files.iter().map(|file| file.local.as_str()).chain(job.reply.as_deref())
            })
            .map(bitsim_engine::env::parent_dir)
            .collect();
        for dir in dirs {
            let mut ancestor = String::new();
            let result = simfs::create_dir_all(dir).and_then(|()| {
                for part in dir.split('/').filter(|part| !part.is_empty()) {
                    simfs::sync_dir(if ancestor.is_empty() { "/" } else { &ancestor })?;
                    ancestor = format!("{ancestor}/{part}");
                }
                Ok(())
            });
            if let Err(error) = result {
                self.failed("create_dir", None, &error.to_string());
            }
        }
    }

    /// Creates the jobs the engine does not have yet and finishes setting up those it has
    /// (a power loss may have cut the set-up short).
    async fn reconcile(&self, jobs: &[Job]) {
        let existing: BTreeMap<String, JobInfo> =
            self.engine.jobs().into_iter().rev().map(|info| (info.name.clone(), info)).collect();
        for spec in jobs {
            let (id, files_known, state) = match existing.get(&spec.name) {
                Some(info) => (info.id, info.files.len(), info.state),
                None if spec.job_type.is_upload() && Self::upload_done(spec) => continue,
                None if !spec.job_type.is_upload()
                    && spec.files.iter().all(|file| simfs::exists(&file.local)) =>
                {
                    continue;
                }
                None if spec.job_type.is_upload()
                    && let Err(error) = self.write_source(spec) =>
                {
                    self.failed("write source", None, &error.to_string());
                    continue;
                }
                None => match self
                    .engine
                    .create_job_of_type(spec.owner(), &spec.name, spec.job_type)
                    .await
                {
                    Ok(id) => (id, 0, JobState::Suspended),
                    Err(error) => {
                        self.failed("create_job", None, &error.to_string());
                        continue;
                    }
                },
            };
            self.callback.expect(id, spec.callback_fails_first);
            if let Err(error) = self.set_up(id, spec, files_known, state).await {
                self.failed("set_up", Some(id), &error.to_string());
            }
        }
    }

    async fn set_up(
        &self,
        id: JobId,
        spec: &Job,
        files_known: usize,
        state: JobState,
    ) -> Result<(), ApiError> {
        if state.is_final() {
            return Ok(());
        }
        self.engine.set_priority(id, spec.priority).await?;
        if let Some(delay) = spec.retry_delay {
            self.engine.set_minimum_retry_delay(id, delay.0).await?;
        }
        if let Some(rate) = spec.rate_limit {
            self.engine.set_rate_limit(id, Some(rate.bits_per_sec)).await?;
        }
        if let Some(timeout) = spec.no_progress_timeout {
            self.engine.set_no_progress_timeout(id, timeout.0).await?;
        }
        if let Some(proxy) = &spec.proxy {
            self.engine.set_proxy_settings(id, proxy.to_engine()).await?;
        }
        if let Some(flags) = spec.notify_flags {
            self.engine.set_notify_flags(id, flags).await?;
        }
        // SetCredentials once, before the first file, as BITS programs do: the engine keeps
        // them (sealed) across restarts, so a job adopted after a reboot is not given them
        // again. A refused call is recorded and the program carries on, as one that logs the
        // error would: the transfer then shows what the missing credentials cost.
        let credentials = if files_known == 0 { spec.credentials.as_slice() } else { &[] };
        for credential in credentials {
            let (target, scheme) = (credential.target, credential.scheme);
            let set = self.engine.set_credentials(id, target, scheme, credential.to_engine());
            if let Err(error) = set.await {
                self.failed("set_credentials", Some(id), &error.to_string());
            }
        }
        for file in spec.files.iter().skip(files_known) {
            let (remote, local) = (file.remote.get_ref(), &file.local);
            match &file.ranges {
                Some(ranges) => {
                    self.engine.add_file_with_ranges(id, remote, local, &ranges.0).await?
                }
                None => self.engine.add_file(id, remote, local).await?,
            }
            if let Some(reply) = &spec.reply {
                self.engine.set_reply_file_name(id, reply).await?;
            }
        }
        if state == JobState::Suspended {
            self.engine.resume(id).await?;
        }
        Ok(())
    }

    /// Completes a transferred job and reads its files back.
    async fn complete(&self, info: &JobInfo, jobs: &[Job]) {
        let reply = self.engine.reply_file_name(info.id);
        if let Err(error) = self.engine.complete(info.id).await {
            self.failed("complete", Some(info.id), &error.to_string());
            return;
        }
        let Some(spec) = jobs.iter().find(|job| job.name == info.name) else { return };
        if spec.job_type.is_upload() {
            self.finish_upload(info.id, spec, reply);
            return;
        }
        for (index, file) in spec.files.iter().enumerate() {
            match simfs::read(&file.local) {
                Ok(bytes) => {
                    let mut hasher = Fnv64::default();
                    hasher.write(&bytes);
                    self.recorder.record(
                        ENGINE_HOST,
                        SimEvent::FileVerified {
                            job: info.id,
                            file: index,
                            local: file.local.clone(),
                            len: bytes.len() as u64,
                            hash: format!("{:016x}", hasher.finish()),
                        },
                    );
                }
                Err(error) => {
                    self.failed("read back", Some(info.id), &format!("{}: {error}", file.local))
                }
            }
        }
    }

    fn failed(&self, call: &str, job: Option<JobId>, error: &str) {
        self.recorder.record(
            ENGINE_HOST,
            SimEvent::AppCallFailed { call: call.to_owned(), job, error: error.to_owned() },
        );
    }
}
