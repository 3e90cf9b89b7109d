//! The upload oracles, judged on what the upload server recorded (spec §8.3, §8.6):
//! `upload-integrity` (the file the server moved into place equals the client's source, and
//! the server wrote every byte exactly once, in order) and `reply-integrity` (an
//! upload-reply job's reply file equals what the server application served).

use std::collections::BTreeMap;

use bitsim_engine::core::http::RemoteUrl;
use bitsim_engine::{Event, JobId, JobState, JobType};

use super::{Oracle, Violation, violation};
use crate::book::JobBook;
use crate::scenario::Scenario;
use crate::trace::{SimEvent, TraceEntry, TraceEvent};

/// What the server committed at a URL: length, hash, writes.
type Committed = (u64, String, Vec<[u64; 2]>);

pub(super) fn upload_integrity(
    scenario: &Scenario,
    entries: &[TraceEntry],
    book: &JobBook,
    out: &mut Vec<Violation>,
) {
    let mut sources: BTreeMap<String, (u64, String)> = BTreeMap::new();
    // Upload job -> (host, path, source).
    let mut uploads: BTreeMap<JobId, (String, String, String)> = BTreeMap::new();
    let mut committed: BTreeMap<(String, String), Committed> = BTreeMap::new();
    for entry in entries {
        match &entry.event {
            TraceEvent::Sim(SimEvent::UploadSourceWritten { local, len, hash }) => {
                sources.insert(local.clone(), (*len, hash.clone()));
            }
            TraceEvent::Engine(Event::FileAdded { job, remote_name, local_name, .. })
                if sources.contains_key(local_name) =>
            {
                if let Ok(url) = RemoteUrl::parse(remote_name) {
                    uploads.insert(*job, (url.host, url.path_and_query, local_name.clone()));
                }
            }
            TraceEvent::Sim(SimEvent::UploadCommitted { path, len, hash, writes, .. }) => {
                check_writes(entry, path, *len, writes, out);
                let key = (entry.host.clone(), path.clone());
                committed.insert(key, (*len, hash.clone(), writes.clone()));
            }
            TraceEvent::Engine(Event::Completed { job, .. }) => {
                let Some((host, path, local)) = uploads.get(job) else { continue };
                let want = &sources[local];
                match committed.get(&(host.clone(), path.clone())) {
                    None => out.push(violation(Oracle::UploadIntegrity, entry, format!(
                        "{job}: completed, but server `{host}` never moved an upload into place at {path}"
                    ))),
                    Some((len, hash, _)) if (*len, hash) != (want.0, &want.1) => {
                        out.push(violation(Oracle::UploadIntegrity, entry, format!(
                            "{job}: {host}{path} holds {len} bytes hashing to {hash}; the source {local} has {} bytes hashing to {}",
                            want.0, want.1
                        )));
                    }
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }
    for spec in scenario.jobs.iter().map(|job| job.get_ref()) {
        if !spec.job_type.is_upload() {
            continue;
        }
        if let Some((id, record)) = book.job(&spec.name)
            && record.state == Some(JobState::Acknowledged)
            && record.completed.is_none()
        {
            out.push(Violation {
                oracle: Oracle::UploadIntegrity,
                t_us: None,
                detail: format!("{id}: ACKNOWLEDGED without Complete"),
            });
        }
    }
}

/// The server's writes must tile `0..len` in order: no gap, no byte written twice.
fn check_writes(
    entry: &TraceEntry,
    path: &str,
    len: u64,
    writes: &[[u64; 2]],
    out: &mut Vec<Violation>,
) {
    let mut expected = 0;
    for &[first, end] in writes {
        if first != expected || end <= first {
            let what = if first < expected { "wrote again" } else { "left a gap before" };
            out.push(violation(
                Oracle::UploadIntegrity,
                entry,
                format!(
                    "{path}: the server {what} bytes {first}..{end} (it had written 0..{expected})"
                ),
            ));
            return;
        }
        expected = end;
    }
    if expected != len {
        out.push(violation(
            Oracle::UploadIntegrity,
            entry,
            format!("{path}: the server wrote 0..{expected} of a {len}-byte upload"),
        ));
    }
}

pub(super) fn reply_integrity(
    scenario: &Scenario,
    entries: &[TraceEntry],
    book: &JobBook,
    out: &mut Vec<Violation>,
) {
    // (host, upload path) -> the last reply its server application made.
    let mut replies: BTreeMap<(String, String), (u64, String)> = BTreeMap::new();
    let mut paths: BTreeMap<JobId, (String, String)> = BTreeMap::new();
    let mut verified: BTreeMap<JobId, usize> = BTreeMap::new();
    for entry in entries {
        match &entry.event {
            TraceEvent::Engine(Event::FileAdded { job, remote_name, .. }) => {
                if let Ok(url) = RemoteUrl::parse(remote_name) {
                    paths.insert(*job, (url.host, url.path_and_query));
                }
            }
            TraceEvent::Sim(SimEvent::ReplyReady { path, len, hash, .. }) => {
                replies.insert((entry.host.clone(), path.clone()), (*len, hash.clone()));
            }
            TraceEvent::Sim(SimEvent::ReplyVerified { job, local, len, hash }) => {
                *verified.entry(*job).or_default() += 1;
                let served = paths.get(job).and_then(|url| replies.get(url));
                match served {
                    None => out.push(violation(
                        Oracle::ReplyIntegrity,
                        entry,
                        format!(
                            "{job}: reply {local} was read back but no server application made one"
                        ),
                    )),
                    Some((want_len, want_hash)) if (want_len, want_hash) != (len, hash) => {
                        out.push(violation(Oracle::ReplyIntegrity, entry, format!(
                            "{job}: reply {local} has {len} bytes hashing to {hash}; the server made {want_len} bytes hashing to {want_hash}"
                        )));
                    }
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }
    for spec in scenario.jobs.iter().map(|job| job.get_ref()) {
        if spec.job_type != JobType::UploadReply {
            continue;
        }
        if let Some((id, record)) = book.job(&spec.name)
            && record.completed.is_some()
            && !verified.contains_key(&id)
        {
            out.push(Violation {
                oracle: Oracle::ReplyIntegrity,
                t_us: None,
                detail: format!("{id}: completed, but its reply could not be read back"),
            });
        }
    }
}

#[cfg(test)]
mod tests;
