//! Who may do what (spec §2.10): every job belongs to the user who created it; a user sees
//! and changes only its own jobs, an administrator every job. [`Session`] is the API as one
//! caller sees it, each call checked before it reaches the queue, as BITS checks the COM
//! caller's token. The `Engine` methods themselves are the service's own view, unchecked.

use std::time::Duration;

use crate::core::error::ApiError;
use crate::core::hresult::Hresult;
use crate::core::job::JobId;
use crate::core::state::Priority;
use crate::env::Env;

use super::{Engine, JobInfo};

/// The user behind an API call.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Caller {
    pub user: String,
    /// A member of the Administrators group (elevated): may act on every user's jobs.
    pub admin: bool,
}

impl Caller {
    pub fn user(name: &str) -> Self {
        Self { user: name.to_owned(), admin: false }
    }

    pub fn admin(name: &str) -> Self {
        Self { user: name.to_owned(), admin: true }
    }
}

/// The API as `caller` sees it.
pub struct Session<E: Env> {
    engine: Engine<E>,
    caller: Caller,
}

impl<E: Env> Engine<E> {
    /// The API for calls made by `caller`.
    pub fn session(&self, caller: Caller) -> Session<E> {
        Session { engine: self.clone(), caller }
    }
}

impl<E: Env> Session<E> {
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// `CreateJob`: the caller owns the new job.
    pub async fn create_job(&self, name: &str) -> Result<JobId, ApiError> {
        self.engine.create_job_for(&self.caller.user, name).await
    }

    /// `EnumJobs(0)`: the caller's own jobs; `EnumJobs(BG_JOB_ENUM_ALL_USERS)`: everyone's,
    /// for administrators only (E_ACCESSDENIED otherwise).
    pub fn enum_jobs(&self, all_users: bool) -> Result<Vec<JobInfo>, ApiError> {
        if all_users && !self.caller.admin {
            return Err(ApiError::new(
                Hresult::ACCESS_DENIED,
                format!("{} is not an administrator: no BG_JOB_ENUM_ALL_USERS", self.caller.user),
            ));
        }
        let jobs = self.engine.jobs();
        let everyone = all_users || self.ignores_owners();
        Ok(jobs.into_iter().filter(|job| everyone || job.owner == self.caller.user).collect())
    }

    /// `GetJob`.
    pub fn job(&self, job: JobId) -> Result<JobInfo, ApiError> {
        self.check(job)?;
        self.engine.job(job).ok_or_else(|| not_found(job))
    }

    /// `CreateJob` of a type (`BG_JOB_TYPE`): the caller owns the new job.
    pub async fn create_job_of_type(
        &self,
        name: &str,
        job_type: crate::core::state::JobType,
    ) -> Result<JobId, ApiError> {
        self.engine.create_job_of_type(&self.caller.user, name, job_type).await
    }

    pub async fn add_file_with_ranges(
        &self,
        job: JobId,
        remote: &str,
        local: &str,
        ranges: &[crate::core::ranges::FileRange],
    ) -> Result<(), ApiError> {
        self.check(job)?;
        self.engine.add_file_with_ranges(job, remote, local, ranges).await
    }

    /// `SetReplyFileName` of an upload-reply job.
    pub async fn set_reply_file_name(&self, job: JobId, reply_name: &str) -> Result<(), ApiError> {
        self.check(job)?;
        self.engine.set_reply_file_name(job, reply_name).await
    }

    pub async fn add_file(&self, job: JobId, remote: &str, local: &str) -> Result<(), ApiError> {
        self.check(job)?;
        self.engine.add_file(job, remote, local).await
    }

    pub async fn resume(&self, job: JobId) -> Result<(), ApiError> {
        self.check(job)?;
        self.engine.resume(job).await
    }

    pub async fn suspend(&self, job: JobId) -> Result<(), ApiError> {
        self.check(job)?;
        self.engine.suspend(job).await
    }

    pub async fn cancel(&self, job: JobId) -> Result<(), ApiError> {
        self.check(job)?;
        self.engine.cancel(job).await
    }

    pub async fn complete(&self, job: JobId) -> Result<Hresult, ApiError> {
        self.check(job)?;
        self.engine.complete(job).await
    }

    pub async fn set_priority(&self, job: JobId, priority: Priority) -> Result<(), ApiError> {
        self.check(job)?;
        self.engine.set_priority(job, priority).await
    }

    /// `SetNotifyFlags` (an unknown bit is E_NOTIMPL).
    pub async fn set_notify_flags(&self, job: JobId, flags: u32) -> Result<(), ApiError> {
        self.check(job)?;
        self.engine.set_notify_flags(job, flags).await
    }

    pub async fn set_minimum_retry_delay(
        &self,
        job: JobId,
        delay: Duration,
    ) -> Result<(), ApiError> {
        self.check(job)?;
        self.engine.set_minimum_retry_delay(job, delay).await
    }

    pub async fn set_remote_name(
        &self,
        job: JobId,
        file: usize,
        url: &str,
    ) -> Result<(), ApiError> {
        self.check(job)?;
        self.engine.set_remote_name(job, file, url).await
    }

    pub async fn replace_remote_prefix(
        &self,
        job: JobId,
        old_prefix: &str,
        new_prefix: &str,
    ) -> Result<Hresult, ApiError> {
        self.check(job)?;
        self.engine.replace_remote_prefix(job, old_prefix, new_prefix).await
    }

    /// Only the owner or an administrator may act on a job (spec §2.10: E_ACCESSDENIED).
    fn check(&self, job: JobId) -> Result<(), ApiError> {
        let owner = self.engine.inner.queue.borrow().job(job).map(|job| job.access.owner.clone());
        match owner {
            None => Err(not_found(job)),
            Some(owner) if owner == self.caller.user || self.caller.admin => Ok(()),
            Some(_) if self.ignores_owners() => Ok(()),
            Some(_) => Err(ApiError::new(
                Hresult::ACCESS_DENIED,
                format!("{job} belongs to another user than {}", self.caller.user),
            )),
        }
    }
}

impl<E: Env> Session<E> {
    /// The `no-owner-check` defect (testing only).
    fn ignores_owners(&self) -> bool {
        self.engine.inner.config.defects.contains(crate::core::defect::Defect::NoOwnerCheck)
    }
}

fn not_found(job: JobId) -> ApiError {
    ApiError::new(Hresult::BG_E_NOT_FOUND, format!("{job} is not in the queue"))
}
