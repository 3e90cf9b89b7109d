//! Changing where a file comes from mid-job: `SetRemoteName` and `ReplaceRemotePrefix`
//! (spec §3.8). The durable bytes stay; the next transfer decides whether they carry over
//! (`resume::decide_resume` with `new_source`).

use super::Queue;
use crate::core::error::ApiError;
use crate::core::event::Event;
use crate::core::hresult::Hresult;
use crate::core::http::RemoteUrl;
use crate::core::job::JobId;
use crate::core::state::JobType;

impl Queue {
    /// `IBackgroundCopyFile2::SetRemoteName`: download jobs only (E_NOTIMPL otherwise); the
    /// URL is checked as AddFile checks it (at most 2,200 characters).
    pub fn set_remote_name(&mut self, id: JobId, file: usize, url: &str) -> Result<(), ApiError> {
        RemoteUrl::parse(url)?;
        let job = self.job_mut_not_final(id)?;
        if job.job_type != JobType::Download {
            return Err(ApiError::new(Hresult::E_NOTIMPL, "SetRemoteName is for download jobs"));
        }
        if file >= job.files.len() {
            return Err(ApiError::invalid_arg(format!("{id} has no file {file}")));
        }
        self.rename_remote(id, file, url.to_owned());
        Ok(())
    }

    /// `IBackgroundCopyJob3::ReplaceRemotePrefix`: a case-sensitive literal prefix replaced in
    /// every file's remote name, all or nothing. S_FALSE when no file matched; empty
    /// prefixes are E_INVALIDARG.
    pub fn replace_remote_prefix(
        &mut self,
        id: JobId,
        old_prefix: &str,
        new_prefix: &str,
    ) -> Result<Hresult, ApiError> {
        if old_prefix.is_empty() || new_prefix.is_empty() {
            return Err(ApiError::invalid_arg("ReplaceRemotePrefix needs non-empty prefixes"));
        }
        let job = self.job_mut_not_final(id)?;
        if job.job_type != JobType::Download {
            return Err(ApiError::new(
                Hresult::E_NOTIMPL,
                "ReplaceRemotePrefix is for download jobs",
            ));
        }
        let mut renames = Vec::new();
        for (index, file) in job.files.iter().enumerate() {
            if let Some(rest) = file.remote_name.strip_prefix(old_prefix) {
                let url = format!("{new_prefix}{rest}");
                // Checked before anything changes: one bad result leaves every file as it was.
                RemoteUrl::parse(&url)?;
                renames.push((index, url));
            }
        }
        if renames.is_empty() {
            return Ok(Hresult::S_FALSE);
        }
        for (index, url) in renames {
            self.rename_remote(id, index, url);
        }
        Ok(Hresult::S_OK)
    }

    /// Gives a file its new remote name. A transferred file keeps its bytes and is never
    /// fetched again; any other file's durable bytes must prove themselves on the new source.
    fn rename_remote(&mut self, id: JobId, file: usize, url: String) {
        let record = self.file_mut(id, file);
        if record.remote_name == url {
            return;
        }
        record.remote_name.clone_from(&url);
        if !record.transferred {
            record.durable.new_source = true;
        }
        self.record(Event::RemoteNameChanged { job: id, file, remote_name: url });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::http::REMOTE_NAME_LEN_MAX;

    fn job_with_files(names: &[&str]) -> (Queue, JobId) {
        let mut queue = Queue::new();
        let id = queue.create_job("user", "job", JobType::Download).unwrap();
        for (index, name) in names.iter().enumerate() {
            queue.add_file(id, name, &format!("/d/{index}.bin")).unwrap();
        }
        (queue, id)
    }

    #[test]
    fn set_remote_name_marks_progress_as_unproven() {
        let (mut queue, id) = job_with_files(&["http://origin/a.bin"]);
        queue.file_mut(id, 0).durable.offset = 40;
        queue.set_remote_name(id, 0, "http://mirror/a.bin").unwrap();
        let file = &queue.job(id).unwrap().files[0];
        assert_eq!(file.remote_name, "http://mirror/a.bin");
        assert!(file.durable.new_source);
        assert_eq!(file.durable.offset, 40, "the bytes stay until the new source is seen");
        assert!(queue.take_events().iter().any(|event| matches!(
            event,
            Event::RemoteNameChanged { file: 0, remote_name, .. } if remote_name == "http://mirror/a.bin"
        )));
    }

    #[test]
    fn set_remote_name_checks_the_url() {
        let (mut queue, id) = job_with_files(&["http://origin/a.bin"]);
        let long = format!("http://mirror/{}", "a".repeat(REMOTE_NAME_LEN_MAX));
        for bad in ["ftp://mirror/a.bin", "mirror/a.bin", long.as_str()] {
            let error = queue.set_remote_name(id, 0, bad).unwrap_err();
            assert_eq!(error.code, Hresult::E_INVALIDARG, "{bad}");
        }
        assert_eq!(
            queue.set_remote_name(id, 1, "http://m/a").unwrap_err().code,
            Hresult::E_INVALIDARG
        );
        assert_eq!(queue.job(id).unwrap().files[0].remote_name, "http://origin/a.bin");
    }

    #[test]
    fn a_transferred_file_is_never_fetched_again() {
        let (mut queue, id) = job_with_files(&["http://origin/a.bin"]);
        queue.file_mut(id, 0).transferred = true;
        queue.set_remote_name(id, 0, "http://mirror/a.bin").unwrap();
        assert!(!queue.job(id).unwrap().files[0].durable.new_source);
        assert!(queue.job(id).unwrap().files[0].transferred);
    }

    #[test]
    fn replace_remote_prefix_is_literal_case_sensitive_and_all_or_nothing() {
        let (mut queue, id) =
            job_with_files(&["http://origin/a.bin", "http://Origin/b.bin", "http://origin/c.bin"]);
        assert_eq!(
            queue.replace_remote_prefix(id, "http://origin/", "http://mirror/pub/"),
            Ok(Hresult::S_OK)
        );
        let names: Vec<&str> =
            queue.job(id).unwrap().files.iter().map(|f| f.remote_name.as_str()).collect();
        assert_eq!(
            names,
            ["http://mirror/pub/a.bin", "http://Origin/b.bin", "http://mirror/pub/c.bin"]
        );
        assert_eq!(
            queue.replace_remote_prefix(id, "http://none/", "http://x/"),
            Ok(Hresult::S_FALSE)
        );
        assert_eq!(
            queue.replace_remote_prefix(id, "", "http://x/").unwrap_err().code,
            Hresult::E_INVALIDARG
        );
        let error = queue.replace_remote_prefix(id, "http://", "ftp://").unwrap_err();
        assert_eq!(error.code, Hresult::E_INVALIDARG);
        assert_eq!(queue.job(id).unwrap().files[1].remote_name, "http://Origin/b.bin");
    }

    #[test]
    fn final_jobs_refuse_changes() {
        let (mut queue, id) = job_with_files(&["http://origin/a.bin"]);
        queue.cancel(id).unwrap();
        assert!(queue.set_remote_name(id, 0, "http://mirror/a.bin").is_err());
    }
}

#[cfg(test)]
mod persistence_tests {
    use std::time::Duration;

    use super::*;
    use crate::core::journal::Journal;

    #[test]
    fn a_new_remote_name_and_its_unproven_progress_survive_a_restart() {
        let mut queue = Queue::new();
        let id = queue.create_job("alice", "job", JobType::Download).unwrap();
        queue.add_file(id, "http://origin/a.bin", "/d/a.bin").unwrap();
        queue.file_mut(id, 0).durable.offset = 40;
        queue.set_remote_name(id, 0, "http://mirror/a.bin").unwrap();
        let unix = Duration::from_secs(1_700_000_000);
        let journal = Journal::decode(&queue.to_journal(Duration::ZERO, unix).encode()).unwrap();
        let restored = Queue::restore(journal, Duration::ZERO, unix, None);
        let job = restored.job(id).unwrap();
        assert_eq!(job.access.owner, "alice");
        assert_eq!(job.files[0].remote_name, "http://mirror/a.bin");
        assert!(job.files[0].durable.new_source, "the new source must still prove the bytes");
        assert_eq!(job.files[0].durable.offset, 40);
    }
}
