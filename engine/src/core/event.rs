//! What the engine reports: the event stream behind traces, progress displays and the
//! simulator's oracles. One variant per observable fact, in the order it happened.

use serde::Serialize;

use super::auth::AuthScheme;
use super::error::JobError;
use super::hresult::Hresult;
use super::job::{JobId, JobProgress};
use super::notify::Notification;
use super::ranges::FileRange;
use super::resume::RestartReason;
use super::state::{JobState, Trigger};
use super::upload::Packet;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Start-up (which is also recovery) finished with `jobs` jobs in the queue.
    Started {
        jobs: usize,
    },
    /// A job came back from the journal at start-up in `state`.
    Restored {
        job: JobId,
        state: JobState,
    },
    /// At start-up, a temporary file was checked against the journal: `file_len` is its
    /// length on disk before truncation (`None`: missing).
    PartFileChecked {
        job: JobId,
        file: usize,
        journal_offset: u64,
        file_len: Option<u64>,
    },
    JobCreated {
        job: JobId,
        name: String,
        /// The user who owns the job.
        owner: String,
    },
    FileAdded {
        job: JobId,
        file: usize,
        remote_name: String,
        local_name: String,
        /// `AddFileWithRanges`: the ranges, in local order (absent for a whole file).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        ranges: Vec<FileRange>,
    },
    /// SetRemoteName or ReplaceRemotePrefix gave the file a new remote name; its next
    /// transfer keeps the durable bytes only if the new source has the same version.
    RemoteNameChanged {
        job: JobId,
        file: usize,
        remote_name: String,
    },
    StateChanged {
        job: JobId,
        from: JobState,
        to: JobState,
        trigger: Trigger,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<JobError>,
    },
    /// A TCP connection is being opened.
    Connecting {
        job: JobId,
        file: usize,
        host: String,
        port: u16,
    },
    /// The TCP connection is open (`probe`: the background controller's second connection).
    Connected {
        job: JobId,
        file: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        local_port: Option<u16>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        probe: bool,
    },
    /// The job's reading rate changed by more than a step (background controller, policy or
    /// cap): `None` is no limit.
    RateSet {
        job: JobId,
        rate_bps: Option<u64>,
    },
    /// An HTTP request is sent. `range` is the `Range` header exactly as sent.
    Request {
        job: JobId,
        file: usize,
        method: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        range: Option<String>,
        /// The connection it went on (which job's requests share a connection).
        #[serde(skip_serializing_if = "Option::is_none")]
        local_port: Option<u16>,
        /// The schemes of the credential headers it carried (never their values).
        #[serde(skip_serializing_if = "Option::is_none")]
        proxy_authorization: Option<AuthScheme>,
        #[serde(skip_serializing_if = "Option::is_none")]
        authorization: Option<AuthScheme>,
    },
    /// A redirect was followed: requests for the file go to `location` from now on.
    Redirected {
        job: JobId,
        file: usize,
        status: u16,
        location: String,
    },
    /// An HTTP response head arrived.
    Response {
        job: JobId,
        file: usize,
        status: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        content_length: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        content_range: Option<String>,
    },
    /// The file's durable progress is thrown away and it starts again from byte 0.
    FileRestarted {
        job: JobId,
        file: usize,
        #[serde(flatten)]
        reason: RestartReason,
    },
    /// Bytes `0..offset` of the file are synced and the journal says so.
    Checkpoint {
        job: JobId,
        file: usize,
        offset: u64,
    },
    /// A GET body ended (completely or not) after `received` bytes written from `start`.
    BodyEnded {
        job: JobId,
        file: usize,
        start: u64,
        received: u64,
    },
    FileTransferred {
        job: JobId,
        file: usize,
    },
    Progress {
        job: JobId,
        progress: JobProgress,
    },
    /// An upload packet is sent (`range`: the fragment's Content-Range).
    UploadPacket {
        job: JobId,
        file: usize,
        packet: Packet,
        #[serde(skip_serializing_if = "Option::is_none")]
        session: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        range: Option<String>,
    },
    /// An upload packet's Ack arrived (`received`: its BITS-Received-Content-Range).
    UploadAck {
        job: JobId,
        file: usize,
        packet: Packet,
        status: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        received: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error_code: Option<Hresult>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reply_url: Option<String>,
    },
    /// The journal holds the upload's session (`None`: forgotten, the upload starts over).
    UploadSession {
        job: JobId,
        file: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        session: Option<String>,
    },
    /// The journal says the server acknowledged bytes `0..offset` of the upload.
    UploadAcknowledged {
        job: JobId,
        file: usize,
        offset: u64,
    },
    /// Upload-reply: the reply (`len` bytes) is synced in its temporary file.
    ReplyReceived {
        job: JobId,
        file: usize,
        len: u64,
    },
    /// The program's notification callback was called: `result` is what it returned (S_OK
    /// acknowledges; a JobTransferred or JobError that was not acknowledged is delivered
    /// again later).
    Notified {
        job: JobId,
        notification: Notification,
        result: Hresult,
    },
    /// Complete finished: the files are in place (`result` is S_OK or BG_S_PARTIAL_COMPLETE).
    Completed {
        job: JobId,
        result: Hresult,
    },
}

/// Receives the engine's events as they happen (BITS's `IBackgroundCopyCallback`, widened to
/// every event). Called synchronously: keep it quick.
pub trait EventSink {
    fn on_event(&self, event: &Event);
}
