//! One job: its files, properties, state, error and timers, with the BITS defaults and limits.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::auth::credentials::CredentialStore;
use super::error::JobError;
use super::proxy::ProxySettings;
use super::ranges::{FileRange, bytes_total};
use super::resume::DurableFile;
use super::state::{JobState, JobType, Priority};

/// A job's identity. Sequential, never reused, persisted: deterministic where BITS uses GUIDs.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job{}", self.0)
    }
}

/// `BG_SIZE_UNKNOWN`: the job's total is not known until every file's size is.
pub const SIZE_UNKNOWN: u64 = u64::MAX;

/// A display name may be at most this long (spec §2.1: 256 characters).
pub const DISPLAY_NAME_LEN_MAX: usize = 256;

/// MinimumRetryDelay default (spec §2.4): ten minutes.
pub const RETRY_DELAY_DEFAULT: Duration = Duration::from_secs(600);
/// MinimumRetryDelay floor (spec §2.4): smaller values are silently raised to five seconds.
pub const RETRY_DELAY_MIN: Duration = Duration::from_secs(5);
/// NoProgressTimeout default (spec §2.4): fourteen days.
pub const NO_PROGRESS_TIMEOUT_DEFAULT: Duration = Duration::from_secs(14 * 24 * 3600);

/// JobInactivityTimeout policy default (spec §2.4): ninety days without activity (progress or
/// a change by the job's owner), and the service cancels the job.
pub const JOB_INACTIVITY_TIMEOUT_DEFAULT: Duration = Duration::from_secs(90 * 24 * 3600);

/// The owner a job has when the program names none.
pub const OWNER_DEFAULT: &str = "user";

/// Who a job belongs to and how it reaches its servers: the owner (whose logon credentials
/// answer NTLM and Negotiate when the policy allows, and whose authenticated connections
/// the job may share), the credentials set with `SetCredentials`, and `SetProxySettings`.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct JobAccess {
    pub owner: String,
    pub credentials: CredentialStore,
    pub proxy: ProxySettings,
}

/// One file of a job.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct JobFile {
    pub remote_name: String,
    /// Where the file appears after Complete.
    pub local_name: String,
    /// The temporary file beside `local_name` that receives the bytes until Complete.
    pub temp_name: String,
    pub durable: DurableFile,
    /// Every byte is durable in the temporary file (upload: the server has every byte and
    /// the session is closed, after the reply is on disk for upload-reply).
    pub transferred: bool,
    /// `AddFileWithRanges`: the remote bytes wanted, in local order; empty = the whole file.
    /// `durable.offset` is then an offset in the local file (the ranges concatenated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<FileRange>,
    /// Upload jobs only: the session and the reply. For them `local_name` is the source,
    /// `remote_name` the upload URL, `durable.offset` what the server acknowledged, and
    /// `temp_name` the reply's temporary file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<super::upload::UploadFile>,
}

impl JobFile {
    /// The temporary file BITS would create: `BIT*.tmp` in the destination's directory
    /// (spec §3.5), named from the job and file so recovery finds it again.
    pub fn temp_name_for(local_name: &str, job: JobId, index: usize) -> String {
        let dir = match local_name.rfind('/') {
            Some(slash) => &local_name[..=slash],
            None => "",
        };
        format!("{dir}BIT{:X}_{index:X}.tmp", job.0)
    }
}

/// `BG_JOB_PROGRESS`. Bytes count what is durable, so progress never goes backwards across a
/// power loss except when a file restarts.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct JobProgress {
    /// [`SIZE_UNKNOWN`] until the size of every file is known.
    pub bytes_total: u64,
    pub bytes_transferred: u64,
    pub files_total: u32,
    pub files_transferred: u32,
}

/// A job as the queue holds it.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: JobId,
    pub name: String,
    pub job_type: JobType,
    pub priority: Priority,
    pub state: JobState,
    pub files: Vec<JobFile>,
    pub retry_delay: Duration,
    pub no_progress_timeout: Duration,
    /// The last error, kept in ERROR and TRANSIENT_ERROR.
    pub error: Option<JobError>,
    /// When TRANSIENT_ERROR turns back into QUEUED (monotonic engine time).
    pub retry_at: Option<Duration>,
    /// When a job without progress gives up and goes to ERROR. Armed at the first transient
    /// error, cleared by any durable progress (spec §2.4).
    pub no_progress_deadline: Option<Duration>,
    /// Position in the queue among jobs of the same priority: lower runs first.
    pub queue_seq: u64,
    /// A transfer task is running for this job.
    pub running: bool,
    /// An API call (Suspend, Cancel, Complete) is stopping the job: the scheduler must not
    /// start it again in the meantime.
    pub held: bool,
    /// The job's own bandwidth cap in bits per second, whatever its priority.
    pub rate_limit_bps: Option<u64>,
    /// When the job's current turn in the background slot began (monotonic engine time).
    pub slice_started: Option<Duration>,
    pub access: JobAccess,
    /// The credentials as the journal keeps them: sealed with the machine's key.
    pub sealed_credentials: Option<String>,
    /// `SetNotifyFlags`: which notifications the job's program hears of.
    pub notify_flags: super::notify::NotifyFlags,
    /// When the service cancels the job for inactivity (monotonic engine time): the last
    /// activity plus the job inactivity timeout.
    pub inactivity_deadline: Option<Duration>,
}

impl Job {
    /// The first file that is not transferred yet.
    pub fn current_file(&self) -> Option<usize> {
        self.files.iter().position(|file| !file.transferred)
    }

    pub fn progress(&self) -> JobProgress {
        // With ranges, a file's total is its ranges' bytes, not its size (spec §2.6).
        let sizes: Option<u64> =
            self.files.iter().map(|file| bytes_total(&file.ranges, file.durable.size)).sum();
        JobProgress {
            bytes_total: sizes.unwrap_or(SIZE_UNKNOWN),
            bytes_transferred: self.files.iter().map(|file| file.durable.offset).sum(),
            files_total: self.files.len() as u32,
            files_transferred: self.files.iter().filter(|file| file.transferred).count() as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_sit_beside_the_destination() {
        assert_eq!(
            JobFile::temp_name_for("/downloads/a.bin", JobId(26), 1),
            "/downloads/BIT1A_1.tmp"
        );
        assert_eq!(JobFile::temp_name_for("a.bin", JobId(1), 0), "BIT1_0.tmp");
    }
}
