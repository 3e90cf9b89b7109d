//! The API calls of upload jobs (`CreateJob` with a type, `SetReplyFileName`) and the
//! upload transfer's durable steps: each changes the queue, then commits before the next
//! packet goes.

use crate::core::error::{ApiError, TransferError};
use crate::core::hresult::Hresult;
use crate::core::job::JobId;
use crate::core::state::JobType;
use crate::env::Env;
use crate::upload::UploadHint;

use super::{Engine, Inner};

impl<E: Env> Engine<E> {
    /// `CreateJob` of a given type (`BG_JOB_TYPE`) by `owner`; SUSPENDED until Resume.
    pub async fn create_job_of_type(
        &self,
        owner: &str,
        name: &str,
        job_type: JobType,
    ) -> Result<JobId, ApiError> {
        let id = self.inner.queue.borrow_mut().create_job(owner, name, job_type)?;
        self.inner.commit_api().await?;
        Ok(id)
    }

    /// `SetReplyFileName`: where an upload-reply job's reply appears after Complete.
    pub async fn set_reply_file_name(&self, job: JobId, reply_name: &str) -> Result<(), ApiError> {
        self.inner.queue.borrow_mut().set_reply_name(job, reply_name)?;
        self.inner.commit_api().await
    }

    /// `GetReplyFileName`: `None` for a job that is not upload-reply.
    pub fn reply_file_name(&self, job: JobId) -> Option<String> {
        let queue = self.inner.queue.borrow();
        let file = queue.job(job)?.files.first()?;
        file.upload.as_ref()?.reply_name.clone()
    }

    /// The job's type, while it is in the queue.
    pub fn job_type(&self, job: JobId) -> Option<JobType> {
        self.inner.queue.borrow().job(job).map(|job| job.job_type)
    }

    /// An upload's source must exist when the job is resumed (spec §2.1: the local file is
    /// the source).
    pub(super) async fn check_upload_source(&self, job: JobId) -> Result<(), ApiError> {
        let source = {
            let queue = self.inner.queue.borrow();
            let Some(record) = queue.job(job) else { return Ok(()) };
            if !record.job_type.is_upload() {
                return Ok(());
            }
            let Some(file) = record.files.first() else { return Ok(()) };
            file.local_name.clone()
        };
        match self.inner.env.file_len(&source).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(ApiError::new(
                Hresult::PATH_NOT_FOUND,
                format!("the upload's source `{source}` does not exist"),
            )),
            Err(error) => Err(super::local_api_error("inspect", &source, &error)),
        }
    }
}

impl<E: Env> Inner<E> {
    pub(crate) fn upload_hint(&self, job: JobId) -> Option<UploadHint> {
        self.upload_hints.borrow().get(&job).copied()
    }

    pub(crate) fn set_upload_hint(&self, job: JobId, hint: UploadHint) {
        self.upload_hints.borrow_mut().insert(job, hint);
    }

    /// The source's length; it goes to the journal with the next commit.
    pub(crate) fn upload_size(&self, job: JobId, file: usize, size: u64) {
        self.queue.borrow_mut().handle_upload_size(job, file, size);
    }

    pub(crate) async fn upload_session(
        &self,
        job: JobId,
        file: usize,
        session: Option<String>,
    ) -> Result<(), TransferError> {
        self.queue.borrow_mut().handle_upload_session(job, file, session);
        self.commit_transfer().await
    }

    pub(crate) async fn upload_acknowledged(
        &self,
        job: JobId,
        file: usize,
        offset: u64,
        reply_url: Option<String>,
    ) -> Result<(), TransferError> {
        self.queue.borrow_mut().handle_upload_acknowledged(job, file, offset, reply_url);
        self.commit_transfer().await
    }

    pub(crate) async fn reply_received(
        &self,
        job: JobId,
        file: usize,
        len: u64,
    ) -> Result<(), TransferError> {
        self.queue.borrow_mut().handle_reply_received(job, file, len);
        self.commit_transfer().await
    }
}
