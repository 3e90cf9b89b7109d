//! Oracles: the properties every run must have, judged from the trace alone. Wherever
//! possible an oracle trusts what the servers saw on the wire and what the client program
//! read back from disk, not what the engine says about itself; where it must use the engine's
//! own events (checkpoints), a second oracle checks them against the disk (durable-prefix).
//!
//! Each oracle has a test below that feeds it a broken trace and watches it fire.

use std::collections::BTreeMap;
use std::fmt;

use bitsim_engine::{Event, Hresult, JobId, JobState};

use self::files::FileMap;
use self::ranges::RequestedRanges;
use crate::book::JobBook;
use crate::content::ContentKey;
use crate::scenario::{ENGINE_HOST, Scenario};
use crate::trace::{SimEvent, TraceEntry, TraceEvent};
use crate::traffic::{JobTimeline, Traffic};
use crate::world::RunOutcome;

mod api;
pub mod bandwidth;
mod files;
mod notifications;
mod outcome;
mod ranges;
pub mod schedule;
pub mod security;
mod upload;

#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub enum Oracle {
    /// Every completed file holds exactly the bytes of one version of the remote file.
    Integrity,
    /// Every GET starts exactly at the file's durable offset of that moment.
    ExactOffset,
    /// No request ever asks for a byte at or past the end of the file.
    RangeWithinEof,
    /// Every state change is one the BITS transition table allows, from the state the job
    /// was really in.
    LegalTransitions,
    /// Every job the engine knew before a restart comes back after it, in the state it was
    /// in (a running transfer comes back QUEUED), and no other job appears.
    JobsSurviveRestart,
    /// At every recovery the temporary file holds at least the bytes the journal vouches for.
    DurablePrefix,
    /// Every job ends as the scenario expects, with the expected error code.
    ExpectedOutcome,
    /// Every job settles before the scenario's deadline.
    Deadline,
    /// No host's software failed and no API call of the client program was refused.
    HostsHealthy,
    /// Background bytes over the bottleneck stay within the policy's limit (and each job's
    /// cap) in every window of at least a second, plus a documented burst.
    ThrottleBound,
    /// Background transfers yield to other traffic and use an idle link, within the
    /// scenario's declared bounds.
    BackgroundYield,
    /// One background job at a time, higher priorities first, foreground jobs at once.
    PriorityOrder,
    /// Equal-priority background jobs take turns: none waits past its turn.
    NoStarvation,
    /// Credentials reach only the hosts and targets they were set for.
    CredentialScope,
    /// Basic credentials cross plain HTTP only with `danger_allow_basic_auth_over_http`.
    BasicOverHttp,
    /// A connection authenticated for one owner's job never serves another owner's job.
    ConnectionIsolation,
    /// No password appears in the trace, in any encoding.
    SecretsHidden,
    /// With `[liveness]`: once the chaos phase is healed, every job reaches its expected end
    /// within the liveness bound.
    Liveness,
    /// Every scripted API call returned what the scenario says it must.
    ApiResults,
    /// No user but an administrator acts on or sees another user's job.
    OwnerIsolation,
    /// Every completed upload is on its server exactly as the source: the server moved it
    /// into place, and wrote every byte once, in order, with no gap.
    UploadIntegrity,
    /// Every upload-reply job's reply file holds exactly what the server application made.
    ReplyIntegrity,
    /// JobTransferred and JobError reach the program at least once, only for TRANSFERRED
    /// and ERROR, as its notify flags ask; no JobModification for a change into either.
    Notifications,
}

impl Oracle {
    pub const ALL: [Self; 23] = [
        Self::Integrity,
        Self::ExactOffset,
        Self::RangeWithinEof,
        Self::LegalTransitions,
        Self::JobsSurviveRestart,
        Self::DurablePrefix,
        Self::ExpectedOutcome,
        Self::Deadline,
        Self::HostsHealthy,
        Self::ThrottleBound,
        Self::BackgroundYield,
        Self::PriorityOrder,
        Self::NoStarvation,
        Self::CredentialScope,
        Self::BasicOverHttp,
        Self::ConnectionIsolation,
        Self::SecretsHidden,
        Self::Liveness,
        Self::ApiResults,
        Self::OwnerIsolation,
        Self::UploadIntegrity,
        Self::ReplyIntegrity,
        Self::Notifications,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Integrity => "integrity",
            Self::ExactOffset => "exact-offset",
            Self::RangeWithinEof => "range-within-eof",
            Self::LegalTransitions => "legal-transitions",
            Self::JobsSurviveRestart => "jobs-survive-restart",
            Self::DurablePrefix => "durable-prefix",
            Self::ExpectedOutcome => "expected-outcome",
            Self::Deadline => "deadline",
            Self::HostsHealthy => "hosts-healthy",
            Self::ThrottleBound => "throttle-bound",
            Self::BackgroundYield => "background-yield",
            Self::PriorityOrder => "priority-order",
            Self::NoStarvation => "no-starvation",
            Self::CredentialScope => "credential-scope",
            Self::BasicOverHttp => "basic-over-http",
            Self::ConnectionIsolation => "connection-isolation",
            Self::SecretsHidden => "secrets-hidden",
            Self::Liveness => "liveness",
            Self::ApiResults => "api-results",
            Self::OwnerIsolation => "owner-isolation",
            Self::UploadIntegrity => "upload-integrity",
            Self::ReplyIntegrity => "reply-integrity",
            Self::Notifications => "notifications",
        }
    }
}

impl fmt::Display for Oracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One broken property, with where and how.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Violation {
    pub oracle: Oracle,
    /// Simulated time of the offending event, when there is one.
    pub t_us: Option<u64>,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.t_us {
            Some(t) => write!(f, "{} at {:.3}s: {}", self.oracle, t as f64 / 1e6, self.detail),
            None => write!(f, "{}: {}", self.oracle, self.detail),
        }
    }
}

/// Judges a run; no violations means every oracle held.
pub fn check(scenario: &Scenario, seed: u64, outcome: &RunOutcome) -> Vec<Violation> {
    let entries = &outcome.trace.entries;
    let book = JobBook::from_entries(entries);
    let files = FileMap::new(entries);
    let requested = RequestedRanges::new(scenario, &book);
    let mut violations = Vec::new();
    integrity(scenario, seed, entries, &book, (&files, &requested), &mut violations);
    upload::upload_integrity(scenario, entries, &book, &mut violations);
    upload::reply_integrity(scenario, entries, &book, &mut violations);
    exact_offset(entries, (&files, &requested), &mut violations);
    range_within_eof(entries, &mut violations);
    legal_transitions(entries, &mut violations);
    jobs_survive_restart(entries, &mut violations);
    durable_prefix(entries, &mut violations);
    outcome::expected_outcome(scenario, &book, &mut violations);
    outcome::deadline(scenario, &book, outcome, &mut violations);
    outcome::liveness(scenario, outcome, &mut violations);
    hosts_healthy(entries, outcome, &mut violations);
    notifications::notifications(scenario, entries, outcome.end, &mut violations);
    security::credential_scope(entries, &mut violations);
    security::basic_over_http(scenario, entries, &mut violations);
    security::connection_isolation(entries, &mut violations);
    security::secrets_hidden(scenario, &outcome.trace, &mut violations);
    api::api_results(scenario, entries, &mut violations);
    api::owner_isolation(entries, &mut violations);
    let jobs = JobTimeline::from_trace(scenario, entries);
    schedule::priority_order(&jobs, &mut violations);
    schedule::no_starvation(scenario, &jobs, &mut violations);
    if let Some(traffic) = Traffic::analyse(scenario, outcome) {
        bandwidth::throttle_bound(scenario, &traffic, &mut violations);
        bandwidth::background_yield(scenario, &traffic, &mut violations);
    }
    violations.sort_by_key(|violation| violation.oracle);
    violations
}

/// What a completed file must hold: one version of the file at one URL.
#[derive(Clone)]
struct ServedVersion {
    version: u32,
    size: u64,
    url: (String, String),
}

fn violation(oracle: Oracle, entry: &TraceEntry, detail: String) -> Violation {
    Violation { oracle, t_us: Some(entry.t_us), detail }
}

fn integrity(
    scenario: &Scenario,
    seed: u64,
    entries: &[TraceEntry],
    book: &JobBook,
    (files, requested): (&FileMap, &RequestedRanges),
    out: &mut Vec<Violation>,
) {
    // The version each URL last served with a body (or its size, for HEAD), and when.
    let mut served: BTreeMap<(String, String), (u32, u64, usize)> = BTreeMap::new();
    let mut expected: BTreeMap<(JobId, usize), ServedVersion> = BTreeMap::new();
    for (index, entry) in entries.iter().enumerate() {
        match &entry.event {
            TraceEvent::Sim(SimEvent::Served {
                path, version, size, status: 200 | 206, ..
            }) => {
                served.insert((entry.host.clone(), path.clone()), (*version, *size, index));
            }
            TraceEvent::Engine(Event::Completed { job, .. }) => {
                for &(file_job, file) in files.by_file.keys() {
                    // The URL that served it last: its remote name or where a redirect led.
                    let last = files
                        .urls_of((file_job, file))
                        .filter_map(|url| Some((url, served.get(url)?)))
                        .max_by_key(|(_, (_, _, at))| *at);
                    if file_job == *job
                        && let Some((url, &(version, size, _))) = last
                    {
                        expected.insert(
                            (file_job, file),
                            ServedVersion { version, size, url: url.clone() },
                        );
                    }
                }
            }
            TraceEvent::Sim(SimEvent::FileVerified { job, file, local, len, hash }) => {
                let Some(ServedVersion { version, size, url }) =
                    expected.get(&(*job, *file)).cloned()
                else {
                    out.push(violation(
                        Oracle::Integrity,
                        entry,
                        format!(
                            "{job} file{file}: {local} was completed but no server ever served it"
                        ),
                    ));
                    continue;
                };
                let (host, path) = scenario.content_source(&url.0, &url.1);
                let key = ContentKey::new(seed, &host, &path, version, size);
                let Some(ranged) = requested.of((*job, *file)) else {
                    let want = format!("{:016x}", key.hash(size));
                    if *len != size || *hash != want {
                        out.push(violation(Oracle::Integrity, entry, format!(
                            "{job} file{file}: {local} has {len} bytes hashing to {hash}; version {version} of http://{}{} has {size} bytes hashing to {want}",
                            url.0, url.1
                        )));
                    }
                    continue;
                };
                // A ranged file holds exactly the requested ranges, in the order given.
                let (url, read) =
                    (format!("http://{}{}", url.0, url.1), (local.as_str(), *len, hash.as_str()));
                if let Some(detail) =
                    ranges::check_ranged_file(ranged, (key, version, size, &url), read)
                {
                    out.push(violation(
                        Oracle::Integrity,
                        entry,
                        format!("{job} file{file}: {detail}"),
                    ));
                }
            }
            _ => {}
        }
    }
    for spec in scenario.jobs.iter().map(|job| job.get_ref()) {
        if let Some((id, record)) = book.job(&spec.name)
            && record.state == Some(JobState::Acknowledged)
            && record.completed == Some(Hresult::S_OK)
            && !spec.job_type.is_upload()
            && record.verified_files < spec.files.len()
        {
            out.push(Violation {
                oracle: Oracle::Integrity,
                t_us: None,
                detail: format!(
                    "{id}: only {} of {} files could be read back after Complete",
                    record.verified_files,
                    spec.files.len()
                ),
            });
        }
    }
}

fn exact_offset(
    entries: &[TraceEntry],
    (files, requested): (&FileMap, &RequestedRanges),
    out: &mut Vec<Violation>,
) {
    let mut durable: BTreeMap<(JobId, usize), u64> = BTreeMap::new();
    // The size each URL's last HEAD reported: a ranged file's offsets map through the size the
    // engine knew, which may be an older version's when the file changed after the HEAD.
    let mut head_size: BTreeMap<(String, String), u64> = BTreeMap::new();
    for entry in entries {
        match &entry.event {
            TraceEvent::Engine(Event::Checkpoint { job, file, offset }) => {
                durable.insert((*job, *file), *offset);
            }
            TraceEvent::Engine(Event::FileRestarted { job, file, .. }) => {
                durable.insert((*job, *file), 0);
            }
            TraceEvent::Sim(SimEvent::Served { method, path, size, status: 200, .. })
                if method == "HEAD" =>
            {
                head_size.insert((entry.host.clone(), path.clone()), *size);
            }
            TraceEvent::Sim(SimEvent::Served { method, path, range, start, size, .. })
                if method == "GET" =>
            {
                let url = (entry.host.clone(), path.clone());
                let Some(&(job, file)) = files.by_url.get(&url) else {
                    continue;
                };
                let offset = durable.get(&(job, file)).copied().unwrap_or(0);
                let Some(start) = start else {
                    out.push(violation(
                        Oracle::ExactOffset,
                        entry,
                        format!(
                            "{job} file{file}: GET {path} with unusable Range `{}`",
                            range.as_deref().unwrap_or_default()
                        ),
                    ));
                    continue;
                };
                let Some(ranged) = requested.of((job, file)) else {
                    if *start != offset {
                        out.push(violation(Oracle::ExactOffset, entry, format!(
                            "{job} file{file}: GET {path} from byte {start}, but the durable offset was {offset}"
                        )));
                    }
                    continue;
                };
                // A ranged file's durable offset is local: the GET must start at the remote
                // byte that local offset holds.
                let sizes = [Some(*size), head_size.get(&url).copied()];
                if let Some(detail) = ranges::check_ranged_get(ranged, sizes, offset, *start) {
                    out.push(violation(
                        Oracle::ExactOffset,
                        entry,
                        format!("{job} file{file}: GET {path} {detail}"),
                    ));
                }
            }
            _ => {}
        }
    }
}

fn range_within_eof(entries: &[TraceEntry], out: &mut Vec<Violation>) {
    for entry in entries {
        if let TraceEvent::Sim(SimEvent::Served {
            method,
            path,
            size,
            range: Some(range),
            past_eof: true,
            ..
        }) = &entry.event
        {
            out.push(violation(Oracle::RangeWithinEof, entry, format!(
                "{method} {path} asked for `Range: {range}` of a {size}-byte file (KB 842309 known issue 1)"
            )));
        }
    }
}

/// The BITS transition table (spec §2.3), written out again here on purpose: an oracle that
/// called the engine's own table could not catch a mistake in it.
fn allowed(from: JobState, to: JobState) -> bool {
    use JobState::*;
    match (from, to) {
        (Acknowledged | Cancelled, _) => false,
        (_, Cancelled | Acknowledged) => true,
        (Suspended, Suspended) => false,
        (_, Suspended) => true,
        // Resume; from TRANSIENT_ERROR also the retry timer, the policy's window ending and
        // the network returning.
        (Suspended | Error | TransientError | Transferred, Queued) => true,
        // A time slice ends, a higher priority preempts (also while connecting), or the
        // owner logs off.
        (Connecting | Transferring, Queued) => true,
        (Queued, Connecting) | (Connecting, Transferring) | (Transferring, Transferred) => true,
        // A transfer fails, the policy blocks background jobs, or the network is lost.
        (Queued | Connecting | Transferring, TransientError) => true,
        (Queued | Connecting | Transferring | TransientError, Error) => true,
        _ => false,
    }
}

fn legal_transitions(entries: &[TraceEntry], out: &mut Vec<Violation>) {
    let mut states: BTreeMap<JobId, JobState> = BTreeMap::new();
    for entry in entries {
        match &entry.event {
            TraceEvent::Engine(Event::JobCreated { job, .. }) => {
                states.insert(*job, JobState::Suspended);
            }
            TraceEvent::Engine(Event::Restored { job, state }) => {
                states.insert(*job, *state);
            }
            TraceEvent::Engine(Event::StateChanged { job, from, to, .. }) => {
                match states.get(job) {
                    None => out.push(violation(
                        Oracle::LegalTransitions,
                        entry,
                        format!("{job} changed state before it was created"),
                    )),
                    Some(known) if known != from => out.push(violation(
                        Oracle::LegalTransitions,
                        entry,
                        format!("{job} reported {from} -> {to} but was {known}"),
                    )),
                    Some(_) if !allowed(*from, *to) => out.push(violation(
                        Oracle::LegalTransitions,
                        entry,
                        format!("{job} {from} -> {to} is not in the BITS transition table"),
                    )),
                    Some(_) => {}
                }
                states.insert(*job, *to);
            }
            _ => {}
        }
    }
}

fn jobs_survive_restart(entries: &[TraceEntry], out: &mut Vec<Violation>) {
    let mut live: BTreeMap<JobId, JobState> = BTreeMap::new();
    // Jobs expected back after the engine's latest boot, and those seen back so far.
    let mut awaited: Option<(BTreeMap<JobId, JobState>, &TraceEntry)> = None;
    let finish = |awaited: &mut Option<(BTreeMap<JobId, JobState>, &TraceEntry)>,
                  out: &mut Vec<Violation>| {
        if let Some((missing, boot)) = awaited.take() {
            for (job, state) in missing {
                out.push(violation(
                    Oracle::JobsSurviveRestart,
                    boot,
                    format!("{job} was {state} before this boot and did not come back"),
                ));
            }
        }
    };
    for entry in entries {
        match &entry.event {
            TraceEvent::Sim(SimEvent::Booted { .. }) if entry.host == ENGINE_HOST => {
                finish(&mut awaited, out);
                awaited = Some((live.clone(), entry));
            }
            TraceEvent::Engine(Event::Started { .. }) => finish(&mut awaited, out),
            TraceEvent::Engine(Event::Restored { job, state }) => {
                let before = awaited.as_mut().and_then(|(waiting, _)| waiting.remove(job));
                let back = before.map(|before| match before {
                    JobState::Connecting | JobState::Transferring => JobState::Queued,
                    other => other,
                });
                if back != Some(*state) {
                    let was =
                        before.map_or_else(|| "unknown".to_owned(), |state| state.to_string());
                    out.push(violation(
                        Oracle::JobsSurviveRestart,
                        entry,
                        format!("{job} came back {state} but was {was}"),
                    ));
                }
                live.insert(*job, *state);
            }
            TraceEvent::Engine(Event::JobCreated { job, .. }) => {
                live.insert(*job, JobState::Suspended);
            }
            TraceEvent::Engine(Event::StateChanged { job, to, .. }) => {
                if to.is_final() {
                    live.remove(job);
                } else {
                    live.insert(*job, *to);
                }
            }
            _ => {}
        }
    }
}

fn durable_prefix(entries: &[TraceEntry], out: &mut Vec<Violation>) {
    for entry in entries {
        if let TraceEvent::Engine(Event::PartFileChecked { job, file, journal_offset, file_len }) =
            &entry.event
            && file_len.unwrap_or(0) < *journal_offset
        {
            let len =
                file_len.map_or_else(|| "missing".to_owned(), |len| format!("{len} bytes long"));
            out.push(violation(Oracle::DurablePrefix, entry, format!(
                "{job} file{file}: the journal vouched for {journal_offset} bytes but after the restart the file is {len}"
            )));
        }
    }
}

fn hosts_healthy(entries: &[TraceEntry], outcome: &RunOutcome, out: &mut Vec<Violation>) {
    for entry in entries {
        match &entry.event {
            TraceEvent::Sim(SimEvent::HostFailed { error }) => {
                out.push(violation(
                    Oracle::HostsHealthy,
                    entry,
                    format!("{} failed: {error}", entry.host),
                ));
            }
            TraceEvent::Sim(SimEvent::AppCallFailed { call, job, error }) => {
                let job = job.map_or(String::new(), |job| format!("({job})"));
                out.push(violation(
                    Oracle::HostsHealthy,
                    entry,
                    format!("the client's {call}{job} was refused: {error}"),
                ));
            }
            _ => {}
        }
    }
    if outcome.host_error.is_some()
        && !entries
            .iter()
            .any(|entry| matches!(entry.event, TraceEvent::Sim(SimEvent::HostFailed { .. })))
    {
        out.push(Violation {
            oracle: Oracle::HostsHealthy,
            t_us: None,
            detail: "a host failed".to_owned(),
        });
    }
}

#[cfg(test)]
mod tests;
