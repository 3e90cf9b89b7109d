//! The queue's side of upload jobs (spec §2.1, §2.3, §8): one file per job, the session and
//! acknowledged offset in the journal, Complete only once TRANSFERRED.

use super::{CompletePlan, Queue};
use crate::core::error::ApiError;
use crate::core::event::Event;
use crate::core::hresult::Hresult;
use crate::core::job::{Job, JobId};
use crate::core::state::{JobState, JobType};
use crate::core::upload::{UploadFile, reply_name_default};

/// The upload state of a file added to `job`: `None` for a download job; an upload job takes
/// exactly one file (a second is BG_E_TOO_MANY_FILES, spec §2.1).
pub(super) fn file_for(job: &Job, local_name: &str) -> Result<Option<UploadFile>, ApiError> {
    if !job.job_type.is_upload() {
        return Ok(None);
    }
    if !job.files.is_empty() {
        return Err(ApiError::new(
            Hresult::BG_E_TOO_MANY_FILES,
            format!("{} is an upload job: it takes exactly one file", job.id),
        ));
    }
    let reply_name = (job.job_type == JobType::UploadReply).then(|| reply_name_default(local_name));
    Ok(Some(UploadFile { reply_name, ..UploadFile::default() }))
}

/// Complete of an upload job: only when TRANSFERRED (spec §2.3); the reply of an
/// upload-reply job moves into place, the source is never touched.
pub(super) fn complete_plan(job: &Job) -> Result<CompletePlan, ApiError> {
    if job.state != JobState::Transferred {
        return Err(ApiError::invalid_state(format!(
            "{} is an upload job in {}: Complete needs TRANSFERRED",
            job.id, job.state
        )));
    }
    assert!(!job.running, "complete while a transfer of {} runs", job.id);
    let renames = job
        .files
        .iter()
        .filter_map(|file| {
            let reply = file.upload.as_ref()?.reply_name.clone()?;
            (job.job_type == JobType::UploadReply).then(|| (file.temp_name.clone(), reply))
        })
        .collect();
    Ok(CompletePlan { renames, deletions: Vec::new() })
}

impl Queue {
    /// The upload state of a file, for an upload job.
    fn upload_mut(&mut self, id: JobId, file: usize) -> &mut UploadFile {
        self.file_mut(id, file).upload.get_or_insert_with(UploadFile::default)
    }

    /// `SetReplyFileName` (upload-reply jobs only, once the file is added).
    pub fn set_reply_name(&mut self, id: JobId, reply_name: &str) -> Result<(), ApiError> {
        if !reply_name.starts_with('/') || reply_name.ends_with('/') {
            return Err(ApiError::invalid_arg(format!(
                "reply name `{reply_name}` must be the full path of a file"
            )));
        }
        let job = self.job_mut_not_final(id)?;
        if job.job_type != JobType::UploadReply {
            return Err(ApiError::invalid_state(format!("{id} is not an upload-reply job")));
        }
        if job.files.is_empty() {
            return Err(ApiError::invalid_state(format!("{id} has no file yet")));
        }
        for (index, file) in job.files.iter_mut().enumerate() {
            if let Some(upload) = &mut file.upload {
                upload.reply_name = Some(reply_name.to_owned());
                file.temp_name = crate::core::job::JobFile::temp_name_for(reply_name, id, index);
            }
        }
        self.dirty = true;
        Ok(())
    }

    /// The server gave a session (`Some`), or forgot it (`None`: the next transfer creates
    /// one and starts from byte 0). Durable before the next packet goes.
    pub fn handle_upload_session(&mut self, id: JobId, file: usize, session: Option<String>) {
        let forgotten = session.is_none();
        self.upload_mut(id, file).session_id = session.clone();
        if forgotten {
            let record = self.file_mut(id, file);
            record.durable.offset = 0;
            if let Some(upload) = &mut record.upload {
                upload.reply_url = None;
            }
        }
        self.record(Event::UploadSession { job: id, file, session });
    }

    /// The source's length, known when the transfer opens it.
    pub fn handle_upload_size(&mut self, id: JobId, file: usize, size: u64) {
        let record = self.file_mut(id, file);
        if record.durable.size != Some(size) {
            record.durable.size = Some(size);
            self.dirty = true;
        }
    }

    /// The server acknowledged bytes `0..offset` (its BITS-Received-Content-Range), and with
    /// the last fragment of an upload-reply the reply's URL.
    pub fn handle_upload_acknowledged(
        &mut self,
        id: JobId,
        file: usize,
        offset: u64,
        reply_url: Option<String>,
    ) {
        let record = self.file_mut(id, file);
        let progressed = offset > record.durable.offset;
        record.durable.offset = offset;
        if reply_url.is_some() {
            self.upload_mut(id, file).reply_url = reply_url;
        }
        let job = self.jobs.get_mut(&id).expect("file_mut found the job");
        if progressed {
            job.no_progress_deadline = None;
        }
        let progress = job.progress();
        self.record(Event::UploadAcknowledged { job: id, file, offset });
        self.record(Event::Progress { job: id, progress });
    }

    /// Upload-reply: the whole reply is synced in the temporary file.
    pub fn handle_reply_received(&mut self, id: JobId, file: usize, len: u64) {
        self.upload_mut(id, file).reply_len = Some(len);
        self.record(Event::ReplyReceived { job: id, file, len });
    }
}

#[cfg(test)]
mod tests;
