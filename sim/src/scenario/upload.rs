//! The scenario format of upload servers (`[[servers]] uploads = { ... }`) and upload jobs
//! (`[[jobs]] type = "upload"`), with their checks.

use std::ops::Range;

use bitsim_engine::JobType;
use bitsim_engine::core::http::RemoteUrl;
use bitsim_engine::core::upload::FRAGMENT_SIZE_MIN;
use serde::{Deserialize, Serialize};

use super::units::{Size, Span};
use super::{Located, Scenario, at};

/// A reply larger than this is not something a server application sends back to a
/// background client (BITS keeps at most 1 MB of reply in memory, spec §8.6); it bounds the
/// simulator's memory too.
pub const REPLY_SIZE_MAX: u64 = 16 << 20;

/// The server application's reply when the scenario names no size.
pub const REPLY_SIZE_DEFAULT: u64 = 4 << 10;

/// The client program writes an upload's source in one piece and the server keeps it in
/// memory: 256 MiB is far beyond any scenario's need and bounds both.
pub const SOURCE_SIZE_MAX: u64 = 256 << 20;

/// A BITS upload virtual directory on a server (spec §8.2, §8.3, §8.5), and how it
/// misbehaves.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UploadSettings {
    /// URL path prefix that takes uploads (`BITS_POST`); the upload goes to the request's path.
    pub path: String,
    /// Upload-reply: the server application answers each completed upload with a reply
    /// derived from the uploaded bytes, served by GET at the `BITS-Reply-URL`.
    #[serde(default)]
    pub reply: bool,
    /// The reply's size (default 4 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_size: Option<Size>,
    /// Fragments longer than this get 413 (the client must shrink them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fragment: Option<Size>,
    /// Sessions idle this long are forgotten (IIS `BITSSessionTimeout`, default 14 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_timeout: Option<Span>,
    /// At each of these times every session that exists is forgotten (a cleanup task, a
    /// server rebuilt from scratch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expire_at: Vec<Span>,
    /// The server application takes this long before it acknowledges the final fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_reply: Option<Span>,
}

impl UploadSettings {
    /// Whether `path` is inside the upload directory.
    pub fn takes(&self, path: &str) -> bool {
        let prefix = self.path.trim_end_matches('/');
        path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
    }

    fn check(&self, span: Range<usize>) -> Result<(), Located> {
        if !self.path.starts_with('/') {
            return Err(at(
                span,
                format!("servers.uploads.path: `{}` must start with /", self.path),
            ));
        }
        if self.max_fragment.is_some_and(|size| size.0 < FRAGMENT_SIZE_MIN) {
            return Err(at(
                span,
                format!(
                    "servers.uploads.max_fragment: must be at least {FRAGMENT_SIZE_MIN} bytes, the smallest fragment a client sends (spec §8.4)"
                ),
            ));
        }
        if self.reply_size.is_some_and(|size| size.0 > REPLY_SIZE_MAX) {
            return Err(at(
                span,
                format!("servers.uploads.reply_size: must be at most {REPLY_SIZE_MAX} bytes"),
            ));
        }
        if (self.reply_size.is_some() || self.slow_reply.is_some()) && !self.reply {
            return Err(at(span, "servers.uploads.reply_size, slow_reply: only with reply = true"));
        }
        if self.session_timeout.is_some_and(|timeout| timeout.0.is_zero()) {
            return Err(at(span, "servers.uploads.session_timeout: must be positive"));
        }
        if self.expire_at.windows(2).any(|pair| pair[0].0 > pair[1].0) {
            return Err(at(span, "servers.uploads.expire_at: times must be in order"));
        }
        Ok(())
    }
}

impl Scenario {
    pub(super) fn validate_uploads(&self) -> Result<(), Located> {
        for server in &self.servers {
            if let Some(uploads) = &server.get_ref().uploads {
                uploads.check(server.span())?;
            }
        }
        for job in &self.jobs {
            let (span, job) = (job.span(), job.get_ref());
            if !job.job_type.is_upload() {
                if job.reply.is_some() {
                    return Err(at(span, "jobs.reply: only for type = \"upload-reply\""));
                }
                if job.files.iter().any(|file| file.size.is_some()) {
                    return Err(at(
                        span,
                        "jobs.files.size: only for upload jobs (the source's size)",
                    ));
                }
                continue;
            }
            if job.files.iter().any(|file| file.size.is_some_and(|size| size.0 > SOURCE_SIZE_MAX)) {
                return Err(at(
                    span,
                    format!(
                        "jobs.files.size: an upload source may have at most {SOURCE_SIZE_MAX} bytes"
                    ),
                ));
            }
            if job.files.len() != 1 {
                return Err(at(
                    span,
                    format!("jobs.files: upload job `{}` takes exactly one file", job.name),
                ));
            }
            if job.reply.is_some() && job.job_type != JobType::UploadReply {
                return Err(at(span, "jobs.reply: only for type = \"upload-reply\""));
            }
            if job.reply.as_ref().is_some_and(|reply| !reply.starts_with('/')) {
                return Err(at(span, "jobs.reply: must be an absolute file path"));
            }
            let file = &job.files[0];
            let url = RemoteUrl::parse(file.remote.get_ref())
                .map_err(|error| at(file.remote.span(), error.message))?;
            let uploads = self.server(&url.host).and_then(|server| server.uploads.as_ref());
            let fits = uploads.filter(|uploads| uploads.takes(&url.path_and_query));
            match fits {
                None => {
                    return Err(at(
                        file.remote.span(),
                        format!(
                            "jobs.files.remote: `{}` is not inside an upload directory (servers.uploads.path) of `{}`",
                            url.path_and_query, url.host
                        ),
                    ));
                }
                Some(uploads) if job.job_type == JobType::UploadReply && !uploads.reply => {
                    return Err(at(
                        file.remote.span(),
                        "jobs.type: upload-reply needs a server with uploads.reply = true",
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}
