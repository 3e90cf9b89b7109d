//! The durable form of the queue and its byte encoding.
//!
//! One file holds the whole queue (as BITS keeps one `qmgr` file). It is replaced atomically
//! (temp file, sync, rename, sync the directory; see `crate::store`), so a reader sees either
//! the old or the new queue. The header line carries a checksum anyway: a journal that does
//! not verify is reported, never silently discarded, because it may be the only record of a
//! user's jobs.
//!
//! Times are stored as wall-clock milliseconds: monotonic time does not survive a restart,
//! and BITS re-reads the clock exactly then (spec §2.3, "only a service restart re-reads the
//! clock").

use serde::{Deserialize, Serialize};

use super::error::JobError;
use super::job::{JobFile, JobId};
use super::notify::NotifyFlags;
use super::proxy::ProxySettings;
use super::state::{JobState, JobType, Priority};

/// The format version written in the header; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// The first word of every journal, so a stray file is recognised as not ours.
const MAGIC: &str = "bitsim-journal";

/// A journal decodes to at most this many bytes of body: far beyond any real queue (BITS
/// degrades past ~100 jobs, spec §2.5), small enough that a corrupt length cannot exhaust
/// memory.
pub const BODY_LEN_MAX: usize = 64 << 20;

#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    pub next_job_id: u64,
    pub next_queue_seq: u64,
    pub jobs: Vec<JournalJob>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JournalJob {
    pub id: JobId,
    pub name: String,
    pub job_type: JobType,
    pub priority: Priority,
    /// Never an active state: CONNECTING and TRANSFERRING are stored as QUEUED.
    pub state: JobState,
    pub files: Vec<JobFile>,
    pub retry_delay_ms: u64,
    pub no_progress_timeout_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<JobError>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub retry_at_unix_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub no_progress_deadline_unix_ms: Option<u64>,
    pub queue_seq: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rate_limit_bps: Option<u64>,
    /// Journals written before owners existed hold the default owner's jobs.
    #[serde(default = "owner_default")]
    pub owner: String,
    #[serde(skip_serializing_if = "is_default", default)]
    pub proxy: ProxySettings,
    /// `SetCredentials`, sealed with the machine's key (`core::auth::seal`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credentials: Option<String>,
    /// `SetNotifyFlags` (spec §9: notify flags are persisted with the job).
    #[serde(skip_serializing_if = "is_default", default)]
    pub notify_flags: NotifyFlags,
    /// When the service cancels the job for inactivity.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub inactivity_deadline_unix_ms: Option<u64>,
}

fn owner_default() -> String {
    super::job::OWNER_DEFAULT.to_owned()
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Why a journal could not be read back.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum JournalError {
    #[error("not a bitsim journal (the header line is missing or malformed)")]
    NotAJournal,
    #[error("journal format {found} is not supported (this engine reads format {FORMAT_VERSION})")]
    UnsupportedVersion { found: u32 },
    #[error(
        "journal body is {found} bytes but the header says {declared}: the file is truncated or corrupt"
    )]
    LengthMismatch { declared: usize, found: usize },
    #[error("journal checksum mismatch: the file is corrupt")]
    ChecksumMismatch,
    #[error("journal body does not decode: {0}")]
    Body(String),
}

impl Journal {
    /// `bitsim-journal <version> <body length> <fnv64 of body>\n<json body>\n`
    pub fn encode(&self) -> Vec<u8> {
        let body = serde_json::to_vec(self).expect("journal types always serialize");
        let mut bytes =
            format!("{MAGIC} {FORMAT_VERSION} {} {:016x}\n", body.len(), fnv64(&body)).into_bytes();
        bytes.extend_from_slice(&body);
        bytes.push(b'\n');
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, JournalError> {
        let newline = bytes.iter().position(|&b| b == b'\n').ok_or(JournalError::NotAJournal)?;
        let header =
            std::str::from_utf8(&bytes[..newline]).map_err(|_| JournalError::NotAJournal)?;
        let fields: Vec<&str> = header.split(' ').collect();
        let [magic, version, length, checksum] = fields[..] else {
            return Err(JournalError::NotAJournal);
        };
        if magic != MAGIC {
            return Err(JournalError::NotAJournal);
        }
        let version: u32 = version.parse().map_err(|_| JournalError::NotAJournal)?;
        if version != FORMAT_VERSION {
            return Err(JournalError::UnsupportedVersion { found: version });
        }
        let declared: usize = length.parse().map_err(|_| JournalError::NotAJournal)?;
        let checksum = u64::from_str_radix(checksum, 16).map_err(|_| JournalError::NotAJournal)?;
        let rest = &bytes[newline + 1..];
        let body = rest.strip_suffix(b"\n").unwrap_or(rest);
        if declared > BODY_LEN_MAX || body.len() != declared {
            return Err(JournalError::LengthMismatch { declared, found: body.len() });
        }
        if fnv64(body) != checksum {
            return Err(JournalError::ChecksumMismatch);
        }
        serde_json::from_slice(body).map_err(|error| JournalError::Body(error.to_string()))
    }
}

/// FNV-1a, 64 bit: tiny, stable across platforms and versions, and enough to detect a torn or
/// corrupt journal (it is not a defence against a malicious one).
pub fn fnv64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ranges::FileRange;
    use crate::core::resume::DurableFile;

    fn sample() -> Journal {
        Journal {
            next_job_id: 3,
            next_queue_seq: 7,
            jobs: vec![JournalJob {
                id: JobId(2),
                name: "update \"x\"\nwith newline".into(),
                job_type: JobType::Download,
                priority: Priority::Normal,
                state: JobState::Queued,
                files: vec![
                    JobFile {
                        remote_name: "http://origin/a.bin".into(),
                        local_name: "/downloads/a.bin".into(),
                        temp_name: "/downloads/BIT2_0.tmp".into(),
                        durable: DurableFile {
                            size: Some(10),
                            offset: 4,
                            ..DurableFile::default()
                        },
                        transferred: false,
                        ranges: Vec::new(),
                        upload: None,
                    },
                    JobFile {
                        remote_name: "http://origin/b.bin".into(),
                        local_name: "/downloads/b.bin".into(),
                        temp_name: "/downloads/BIT2_1.tmp".into(),
                        durable: DurableFile::default(),
                        transferred: false,
                        ranges: vec![FileRange::new(900, 100), FileRange::to_eof(2000)],
                        upload: None,
                    },
                ],
                retry_delay_ms: 600_000,
                no_progress_timeout_ms: 1_209_600_000,
                error: None,
                retry_at_unix_ms: None,
                no_progress_deadline_unix_ms: Some(5),
                queue_seq: 6,
                rate_limit_bps: None,
                owner: "alice".into(),
                proxy: ProxySettings::default(),
                credentials: None,
                notify_flags: NotifyFlags::new(0x9).unwrap(),
                inactivity_deadline_unix_ms: Some(7),
            }],
        }
    }

    #[test]
    fn journals_round_trip() {
        let journal = sample();
        assert_eq!(Journal::decode(&journal.encode()), Ok(journal));
    }

    #[test]
    fn whole_files_keep_the_format_without_ranges() {
        // Journals written before ranges existed have no `ranges` key; they still load.
        let text = String::from_utf8(sample().encode()).unwrap();
        assert_eq!(text.matches("\"ranges\"").count(), 1, "only the ranged file has ranges");
        let old: JobFile = serde_json::from_str(
            r#"{"remote_name":"http://o/a","local_name":"/d/a","temp_name":"/d/BIT1_0.tmp","durable":{"offset":0},"transferred":false}"#,
        )
        .unwrap();
        assert!(old.ranges.is_empty());
    }

    #[test]
    fn every_truncation_is_detected() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() - 1 {
            assert!(Journal::decode(&bytes[..cut]).is_err(), "cut at {cut} decoded");
        }
    }

    #[test]
    fn every_flipped_bit_in_the_body_is_detected() {
        let bytes = sample().encode();
        let body_start = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        for index in body_start..bytes.len() - 1 {
            let mut corrupt = bytes.clone();
            corrupt[index] ^= 0x04;
            assert!(Journal::decode(&corrupt).is_err(), "flip at {index} decoded");
        }
    }

    #[test]
    fn foreign_files_and_versions_are_named() {
        assert_eq!(Journal::decode(b"hello\n{}"), Err(JournalError::NotAJournal));
        assert_eq!(
            Journal::decode(b"bitsim-journal 9 2 0\n{}\n"),
            Err(JournalError::UnsupportedVersion { found: 9 })
        );
    }
}
