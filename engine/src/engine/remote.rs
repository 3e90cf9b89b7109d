//! The API calls that change where a job's files come from: `SetRemoteName` and
//! `ReplaceRemotePrefix` (spec §3.8). A transfer of a renamed file that is running stops
//! (keeping what it received) and starts again on the new source; the job keeps its state.

use crate::core::error::ApiError;
use crate::core::hresult::Hresult;
use crate::core::job::JobId;
use crate::env::Env;

use super::Engine;

impl<E: Env> Engine<E> {
    /// `IBackgroundCopyFile2::SetRemoteName` for file `file` of `job`. BITS keeps the change
    /// in memory until Resume; here it is durable when the call returns.
    pub async fn set_remote_name(
        &self,
        job: JobId,
        file: usize,
        url: &str,
    ) -> Result<(), ApiError> {
        let running_this_file = self.runs_file(job, |index| index == file);
        self.change_sources(job, running_this_file, |queue| {
            queue.set_remote_name(job, file, url).map(|()| Hresult::S_OK)
        })
        .await
        .map(drop)
    }

    /// `IBackgroundCopyJob3::ReplaceRemotePrefix`: S_OK, or S_FALSE when no file matched.
    pub async fn replace_remote_prefix(
        &self,
        job: JobId,
        old_prefix: &str,
        new_prefix: &str,
    ) -> Result<Hresult, ApiError> {
        let running = self.runs_file(job, |_| true);
        self.change_sources(job, running, |queue| {
            queue.replace_remote_prefix(job, old_prefix, new_prefix)
        })
        .await
    }

    /// Whether a transfer runs for `job` on a file that `matches`.
    fn runs_file(&self, job: JobId, matches: impl Fn(usize) -> bool) -> bool {
        let queue = self.inner.queue.borrow();
        let Some(record) = queue.job(job) else { return false };
        record.running && record.current_file().is_some_and(matches)
    }

    /// Applies a change of remote names, first stopping the running transfer it affects.
    async fn change_sources(
        &self,
        job: JobId,
        stop_first: bool,
        change: impl FnOnce(&mut crate::core::queue::Queue) -> Result<Hresult, ApiError>,
    ) -> Result<Hresult, ApiError> {
        if stop_first {
            self.stop_transfer(job).await?;
        }
        let changed = change(&mut self.inner.queue.borrow_mut());
        if stop_first {
            // The job goes on as it was; the driver starts its transfer again.
            self.inner.queue.borrow_mut().release(job);
            self.inner.wake.notify_one();
        }
        let result = changed?;
        self.inner.commit_api().await?;
        Ok(result)
    }
}
