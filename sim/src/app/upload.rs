//! What the client program does for upload jobs: writes the source (deterministic content
//! from the seed) durably before it creates the job, reads an upload-reply job's reply back
//! after Complete, and remembers durably which uploads it completed so that a reboot does
//! not send them again.

use std::os::unix::fs::FileExt;

use turmoil::fs::shim::std::fs as simfs;

use bitsim_engine::JobId;

use super::App;
use crate::content::{ContentKey, Fnv64};
use crate::scenario::{ENGINE_HOST, Job};
use crate::trace::SimEvent;

/// The program's own record that it completed an upload: the job's source name plus this.
const DONE_SUFFIX: &str = ".done";

/// The source's size when the scenario gives none.
const SOURCE_SIZE_DEFAULT: u64 = 64 << 10;

impl App {
    /// Whether the program already completed this upload job (before a reboot).
    pub(super) fn upload_done(spec: &Job) -> bool {
        spec.files.first().is_some_and(|file| simfs::exists(format!("{}{DONE_SUFFIX}", file.local)))
    }

    /// Writes the upload's source durably: content, length, directory entry.
    pub(super) fn write_source(&self, spec: &Job) -> std::io::Result<()> {
        let Some(file) = spec.files.first() else { return Ok(()) };
        let size = file.size.map_or(SOURCE_SIZE_DEFAULT, |size| size.0);
        let key = ContentKey::new(self.seed, ENGINE_HOST, &file.local, 0, size);
        let mut bytes = vec![0; size as usize];
        key.fill(0, &mut bytes);
        let handle = simfs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&file.local)?;
        handle.write_all_at(&bytes, 0)?;
        handle.sync_all()?;
        simfs::sync_dir(bitsim_engine::env::parent_dir(&file.local))?;
        let mut hasher = Fnv64::default();
        hasher.write(&bytes);
        self.recorder.record(
            ENGINE_HOST,
            SimEvent::UploadSourceWritten {
                local: file.local.clone(),
                len: size,
                hash: format!("{:016x}", hasher.finish()),
            },
        );
        Ok(())
    }

    /// After Complete: reads the reply back (upload-reply) and records the upload as done.
    pub(super) fn finish_upload(&self, job: JobId, spec: &Job, reply: Option<String>) {
        if let Some(reply) = reply {
            match simfs::read(&reply) {
                Ok(bytes) => {
                    let mut hasher = Fnv64::default();
                    hasher.write(&bytes);
                    self.recorder.record(
                        ENGINE_HOST,
                        SimEvent::ReplyVerified {
                            job,
                            local: reply,
                            len: bytes.len() as u64,
                            hash: format!("{:016x}", hasher.finish()),
                        },
                    );
                }
                Err(error) => self.failed("read back", Some(job), &format!("{reply}: {error}")),
            }
        }
        let Some(file) = spec.files.first() else { return };
        let marker = format!("{}{DONE_SUFFIX}", file.local);
        let written = simfs::write(&marker, b"done")
            .and_then(|()| simfs::sync_dir(bitsim_engine::env::parent_dir(&marker)));
        if let Err(error) = written {
            self.failed("write marker", Some(job), &format!("{marker}: {error}"));
        }
    }
}
