//! Exact-offset resume: where a file continues after an interruption, and when its progress
//! becomes durable.
//!
//! The durable offset is the only offset the engine trusts. It rises only after the data below
//! it is synced (data first, then the journal), and it falls only after the journal says so
//! (journal first, then the truncation), so at every instant `journal offset <= durable file
//! length` holds on disk, whatever the moment of a power loss.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::defect::{Defect, Defects};
use super::error::{TransferError, TransportFailure};
use super::http::{RemoteInfo, Validators};

/// What the journal knows about one file's remote version and durable progress.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct DurableFile {
    /// The remote size the durable bytes belong to; `None` before the first HEAD.
    pub size: Option<u64>,
    #[serde(default)]
    pub validators: Validators,
    /// Bytes `0..offset` of the temporary file are synced and correct.
    pub offset: u64,
    /// The file's remote name changed (SetRemoteName, ReplaceRemotePrefix) since these bytes
    /// were fetched: they carry over to the new source only if its size and Last-Modified
    /// match and its server takes ranges (spec §3.8); an ETag is one server's and proves
    /// nothing about another's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub new_source: bool,
}

/// Why a file starts again from byte 0, as shown in traces.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum RestartReason {
    /// The remote file has a different size than the durable bytes belong to.
    SizeChanged { old: u64, new: u64 },
    /// Last-Modified or ETag differ: a new version of the same size.
    VersionChanged { validator: String },
    /// The server showed the change in the middle of a GET.
    ChangedDuringTransfer { detail: String },
    /// At start-up the temporary file was shorter than the journal: its data cannot be
    /// trusted (a disk that lost synced data, or an engine bug).
    PartFileShort { journal_offset: u64, file_len: u64 },
    /// At start-up the temporary file was missing although the journal had progress.
    PartFileMissing { journal_offset: u64 },
    /// The remote name changed to a server that does not take ranges: it cannot continue
    /// where the old one stopped (spec §3.8).
    NewSourceWithoutRanges,
}

impl std::fmt::Display for RestartReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SizeChanged { old, new } => {
                write!(f, "the remote size changed from {old} to {new}")
            }
            Self::VersionChanged { validator } => write!(f, "the remote {validator} changed"),
            Self::ChangedDuringTransfer { detail } => {
                write!(f, "the remote file changed during the transfer ({detail})")
            }
            Self::PartFileShort { journal_offset, file_len } => {
                write!(
                    f,
                    "the temporary file has {file_len} bytes but the journal vouched for {journal_offset}"
                )
            }
            Self::PartFileMissing { journal_offset } => {
                write!(
                    f,
                    "the temporary file is missing but the journal vouched for {journal_offset} bytes"
                )
            }
            Self::NewSourceWithoutRanges => {
                f.write_str("the new remote name's server does not accept ranges")
            }
        }
    }
}

/// Where a transfer of one file begins.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum ResumeDecision {
    /// Fetch from `offset`: the durable bytes belong to the current remote version.
    Continue { offset: u64 },
    /// Throw the durable bytes away and fetch from 0.
    Restart(RestartReason),
}

/// Compares the journal with a fresh HEAD: same size and no changed validator means the
/// durable bytes are still right (spec §3.4: consistency is size plus time stamp).
pub fn decide_resume(
    durable: &DurableFile,
    remote: &RemoteInfo,
    defects: Defects,
) -> ResumeDecision {
    let Some(old_size) = durable.size else {
        return if durable.offset == 0 {
            ResumeDecision::Continue { offset: 0 }
        } else {
            ResumeDecision::Restart(RestartReason::SizeChanged { old: 0, new: remote.size })
        };
    };
    if old_size != remote.size || durable.offset > remote.size {
        return ResumeDecision::Restart(RestartReason::SizeChanged {
            old: old_size,
            new: remote.size,
        });
    }
    if durable.new_source && !defects.contains(Defect::KeepProgressOnNewSource) {
        return decide_on_new_source(durable, remote);
    }
    if durable.new_source {
        return ResumeDecision::Continue { offset: durable.offset };
    }
    if let Some(validator) = durable.validators.changed_in(&remote.validators) {
        return ResumeDecision::Restart(RestartReason::VersionChanged {
            validator: validator.into(),
        });
    }
    let mut offset = durable.offset;
    if defects.contains(Defect::ResumeOneByteLate) && offset > 0 && offset < remote.size {
        offset += 1;
    }
    ResumeDecision::Continue { offset }
}

/// After a change of remote name (spec §3.8): the same size (checked by the caller) and the
/// same Last-Modified on a server that takes ranges continue at the durable offset; anything
/// else restarts. A Last-Modified missing on either side cannot show the versions match.
fn decide_on_new_source(durable: &DurableFile, remote: &RemoteInfo) -> ResumeDecision {
    if durable.offset == 0 {
        return ResumeDecision::Continue { offset: 0 };
    }
    let (old, new) = (&durable.validators.last_modified, &remote.validators.last_modified);
    if old.is_none() || old != new {
        return ResumeDecision::Restart(RestartReason::VersionChanged {
            validator: "Last-Modified".into(),
        });
    }
    if !remote.accepts_ranges {
        return ResumeDecision::Restart(RestartReason::NewSourceWithoutRanges);
    }
    ResumeDecision::Continue { offset: durable.offset }
}

/// Restarts from byte 0 allowed within one transfer. A server whose file changes at every
/// request would otherwise keep a transfer in a loop; past this the retry timer paces it.
pub const RESTARTS_PER_TRANSFER_MAX: u32 = 3;

/// Whether a transfer may restart its file for the `restarts`-th time after the remote file
/// changed under it; past the limit it ends with a transient error.
pub fn restart_after_change(restarts: u32) -> Result<(), TransferError> {
    if restarts > RESTARTS_PER_TRANSFER_MAX {
        return Err(TransportFailure::Malformed
            .into_error(format!("the remote file changed {restarts} times during one transfer")));
    }
    Ok(())
}

/// What recovery does with a temporary file whose journal offset is `journal_offset`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Recovery {
    /// Cut the file to the journal offset (dropping unvouched bytes) and continue from there.
    TruncateTo(u64),
    /// The file cannot back the journal: restart it from 0.
    Restart(RestartReason),
}

/// Never trust a file's length: only the journal says how much of it is right. A shorter file
/// means synced data was lost, so nothing in it is trusted.
pub fn recover_part_file(journal_offset: u64, file_len: Option<u64>) -> Recovery {
    match file_len {
        None if journal_offset > 0 => {
            Recovery::Restart(RestartReason::PartFileMissing { journal_offset })
        }
        None => Recovery::TruncateTo(0),
        Some(len) if len < journal_offset => {
            Recovery::Restart(RestartReason::PartFileShort { journal_offset, file_len: len })
        }
        Some(_) => Recovery::TruncateTo(journal_offset),
    }
}

/// When received bytes are made durable: after `bytes` new bytes or `interval` of time,
/// whichever comes first, and always when a transfer stops.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct CheckpointPolicy {
    pub bytes: u64,
    pub interval: Duration,
}

impl CheckpointPolicy {
    /// One MiB bounds what a power loss costs on a fast link to one MiB of refetching.
    pub const BYTES_DEFAULT: u64 = 1 << 20;
    /// Two seconds bounds it on a slow link (2 s of a 56 kbit/s modem is 14 KB).
    pub const INTERVAL_DEFAULT: Duration = Duration::from_secs(2);

    pub fn is_due(&self, bytes_since: u64, elapsed_since: Duration) -> bool {
        bytes_since >= self.bytes || (bytes_since > 0 && elapsed_since >= self.interval)
    }
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self { bytes: Self::BYTES_DEFAULT, interval: Self::INTERVAL_DEFAULT }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(size: u64, etag: &str) -> RemoteInfo {
        RemoteInfo {
            size,
            validators: Validators { last_modified: None, etag: Some(etag.into()) },
            accepts_ranges: true,
        }
    }

    fn durable(size: u64, etag: &str, offset: u64) -> DurableFile {
        DurableFile {
            size: Some(size),
            validators: remote(size, etag).validators,
            offset,
            new_source: false,
        }
    }

    fn dated(size: u64, last_modified: &str, etag: &str) -> RemoteInfo {
        let mut remote = remote(size, etag);
        remote.validators.last_modified = Some(last_modified.into());
        remote
    }

    #[test]
    fn a_new_source_continues_on_the_same_size_and_date_whatever_its_etag() {
        let old = dated(100, "Mon", "a");
        let moved = DurableFile {
            new_source: true,
            ..DurableFile { validators: old.validators, ..durable(100, "a", 40) }
        };
        let mirror = dated(100, "Mon", "b");
        assert_eq!(
            decide_resume(&moved, &mirror, Defects::default()),
            ResumeDecision::Continue { offset: 40 }
        );
        let newer = dated(100, "Tue", "a");
        assert!(matches!(
            decide_resume(&moved, &newer, Defects::default()),
            ResumeDecision::Restart(RestartReason::VersionChanged { .. })
        ));
        let bigger = dated(101, "Mon", "a");
        assert!(matches!(
            decide_resume(&moved, &bigger, Defects::default()),
            ResumeDecision::Restart(RestartReason::SizeChanged { .. })
        ));
        let no_ranges = RemoteInfo { accepts_ranges: false, ..dated(100, "Mon", "a") };
        assert_eq!(
            decide_resume(&moved, &no_ranges, Defects::default()),
            ResumeDecision::Restart(RestartReason::NewSourceWithoutRanges)
        );
        let undated = remote(100, "a");
        assert!(matches!(
            decide_resume(&moved, &undated, Defects::default()),
            ResumeDecision::Restart(RestartReason::VersionChanged { .. })
        ));
    }

    #[test]
    fn same_version_continues_at_the_durable_offset() {
        let decision = decide_resume(&durable(100, "a", 40), &remote(100, "a"), Defects::default());
        assert_eq!(decision, ResumeDecision::Continue { offset: 40 });
    }

    #[test]
    fn a_new_size_or_version_restarts() {
        let grown = decide_resume(&durable(100, "a", 40), &remote(120, "a"), Defects::default());
        assert_eq!(
            grown,
            ResumeDecision::Restart(RestartReason::SizeChanged { old: 100, new: 120 })
        );
        let edited = decide_resume(&durable(100, "a", 40), &remote(100, "b"), Defects::default());
        assert!(matches!(edited, ResumeDecision::Restart(RestartReason::VersionChanged { .. })));
    }

    #[test]
    fn a_first_transfer_starts_at_zero() {
        let fresh = DurableFile::default();
        assert_eq!(
            decide_resume(&fresh, &remote(5, "a"), Defects::default()),
            ResumeDecision::Continue { offset: 0 }
        );
    }

    #[test]
    fn recovery_trusts_the_journal_not_the_file_length() {
        assert_eq!(recover_part_file(40, Some(90)), Recovery::TruncateTo(40));
        assert_eq!(recover_part_file(40, Some(40)), Recovery::TruncateTo(40));
        assert_eq!(recover_part_file(0, None), Recovery::TruncateTo(0));
        assert!(matches!(
            recover_part_file(40, Some(39)),
            Recovery::Restart(RestartReason::PartFileShort { .. })
        ));
        assert!(matches!(
            recover_part_file(40, None),
            Recovery::Restart(RestartReason::PartFileMissing { .. })
        ));
    }

    #[test]
    fn a_file_that_keeps_changing_ends_the_transfer_with_a_transient_error() {
        for restart in 1..=RESTARTS_PER_TRANSFER_MAX {
            assert_eq!(restart_after_change(restart), Ok(()));
        }
        let error = restart_after_change(RESTARTS_PER_TRANSFER_MAX + 1).unwrap_err();
        assert!(error.is_transient());
    }

    #[test]
    fn checkpoints_are_due_by_bytes_or_by_time() {
        let policy = CheckpointPolicy { bytes: 1000, interval: Duration::from_secs(2) };
        assert!(!policy.is_due(999, Duration::from_secs(1)));
        assert!(policy.is_due(1000, Duration::ZERO));
        assert!(policy.is_due(1, Duration::from_secs(2)));
        assert!(!policy.is_due(0, Duration::from_secs(60)));
    }
}
