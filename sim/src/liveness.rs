//! The liveness bound: once the chaos phase of a `[liveness]` scenario ends and every fault is
//! healed, how long the jobs may take to reach their ends (TigerBeetle VOPR's second phase;
//! `../shared/design/peers.md` §A2 and recommendation 6).
//!
//! The bound is a sum of parts, each an upper estimate of one thing a job still has to do or
//! wait for, computed from the scenario and from what the trace says at the heal:
//!
//! - **transfer**: every open job's remaining bytes at its rate, summed over the jobs;
//! - **timers**: noticing connections that died silently during the chaos phase (by the
//!   engine's timeouts), then the longest retry delay of an open job;
//! - **round trips**: connect, HEAD, GET and authentication legs per remaining file, per job
//!   and per time-slice switch, at the path's worst round trip;
//! - **waits**: jobs the client creates later, cross traffic still to come, a policy that
//!   blocks background transfers for part of the day;
//! - **slack**: a fixed margin.
//!
//! Everything here is a pure function of the scenario and the trace, so the step loop (which
//! must not stop before the bound) and the oracle (which judges it) compute the same bound.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use bitsim_engine::Event;
use bitsim_engine::config::{
    CONNECT_TIMEOUT_DEFAULT, RECEIVE_TIMEOUT_DEFAULT, SEND_TIMEOUT_DEFAULT,
};
use bitsim_engine::core::http::RemoteUrl;
use bitsim_engine::core::job::{RETRY_DELAY_DEFAULT, RETRY_DELAY_MIN};
use bitsim_engine::core::queue::TIME_SLICE_DEFAULT;
use bitsim_engine::core::request::REDIRECTS_MAX;

use crate::book::JobBook;
use crate::scenario::{Job, Limit, Scenario, Server, ServerFile};
use crate::trace::{TraceEntry, TraceEvent};

pub mod path;

use self::path::Path;

/// The rate assumed where no `[[links]]` shapes the path. turmoil has no bandwidth of its own
/// (messages only wait out their latency): unshaped, 20 MiB took 0.075 s in the foreground
/// and 1.45 s in the background (about 115 Mbit/s; seed 1, 5..40 ms latency). 10 Mbit/s
/// keeps the bound finite and conservative by an order of magnitude.
pub const UNSHAPED_RATE_BPS: u64 = 10_000_000;

/// The least share of its path a background job uses alone. The delay-based controller keeps
/// its queueing delay under 60 ms, which on dial-up and ISDN, where one segment takes longer
/// than that to clock out, leaves it 40 % and 36 % of the line (README, profile table);
/// elsewhere it uses over 90 %. A transfer that survived the chaos phase may also still be
/// creeping back up from a rate a slowed link gave it.
pub const BACKGROUND_SHARE: f64 = 0.3;

/// Round trips of one file's attempt: connect, HEAD, GET, two legs of NTLM to a proxy and two
/// to the server, a redirect, and spares for Digest's stale nonces and the background
/// controller's probe connection.
pub const ROUND_TRIPS_PER_ATTEMPT: u32 = 10;

/// For what the parts do not model: the client program's Complete and read-back, the
/// controller's first probes, a last checkpoint interval, a power-on's recovery.
pub const SLACK: Duration = Duration::from_secs(5);

/// What the trace says of one scenario job when the chaos phase ends.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum JobProgress {
    /// At its end: ERROR or CANCELLED, or ACKNOWLEDGED with every file read back.
    Settled,
    /// Still to go. `durable[i]` is how many bytes of file `i` are durable (`u64::MAX` once
    /// the file is transferred); missing entries are 0.
    Open { durable: Vec<u64> },
}

/// The liveness bound and its parts.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Bound {
    /// Bytes the open jobs still have to move.
    pub bytes: u64,
    /// The slowest rate an open job may have, in bits per second (0 without open jobs).
    pub rate_bps: u64,
    /// Every open job's bytes at its own rate, summed.
    pub transfer: Duration,
    /// Timeouts to notice dead connections, then the longest retry delay.
    pub timers: Duration,
    pub round_trip_count: u32,
    /// `round_trip_count` round trips on the slowest path.
    pub round_trips: Duration,
    /// Later job creations, cross traffic still to run, a blocking policy.
    pub waits: Duration,
    pub slack: Duration,
}

impl Bound {
    pub fn total(&self) -> Duration {
        [self.timers, self.round_trips, self.waits, self.slack]
            .into_iter()
            .fold(self.transfer, Duration::saturating_add)
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |span: Duration| format!("{:.3}s", span.as_secs_f64());
        write!(
            f,
            "{} = transfer {} ({} bytes, slowest {} bit/s) + timers {} + {} round trips {} + waits {} + slack {}",
            secs(self.total()),
            secs(self.transfer),
            self.bytes,
            self.rate_bps,
            secs(self.timers),
            self.round_trip_count,
            secs(self.round_trips),
            secs(self.waits),
            secs(self.slack)
        )
    }
}

/// Each scenario job's progress (in scenario order) from the trace up to the heal.
pub fn progress(scenario: &Scenario, entries: &[TraceEntry]) -> Vec<JobProgress> {
    let book = JobBook::from_entries(entries);
    let mut durable: BTreeMap<(bitsim_engine::JobId, usize), u64> = BTreeMap::new();
    for entry in entries {
        match &entry.event {
            TraceEvent::Engine(Event::Checkpoint { job, file, offset }) => {
                durable.insert((*job, *file), *offset);
            }
            TraceEvent::Engine(Event::FileRestarted { job, file, .. }) => {
                durable.insert((*job, *file), 0);
            }
            TraceEvent::Engine(Event::FileTransferred { job, file }) => {
                durable.insert((*job, *file), u64::MAX);
            }
            _ => {}
        }
    }
    let jobs = scenario.jobs.iter().map(|job| job.get_ref());
    jobs.map(|spec| {
        if book.is_settled(spec) {
            return JobProgress::Settled;
        }
        let id = book.job(&spec.name).map(|(id, _)| id);
        let of_file = |file| id.and_then(|id| durable.get(&(id, file)).copied()).unwrap_or(0);
        JobProgress::Open { durable: (0..spec.files.len()).map(of_file).collect() }
    })
    .collect()
}

/// Every job open with nothing durable: the largest bound the run can get.
pub fn nothing_done(scenario: &Scenario) -> Vec<JobProgress> {
    scenario.jobs.iter().map(|_| JobProgress::Open { durable: Vec::new() }).collect()
}

/// How long the run may have to go on: to the deadline, or to the end of the largest bound.
pub fn run_length_max(scenario: &Scenario) -> Duration {
    let deadline = scenario.deadline.0;
    scenario.liveness_after().map_or(deadline, |after| {
        deadline.max(after.saturating_add(bound(scenario, after, &nothing_done(scenario)).total()))
    })
}

/// The bound for jobs in `progress` (scenario order) when the chaos phase ends at `after`.
///
/// Summing each open job's bytes at its own rate bounds the last finish however the jobs
/// share: background jobs transfer one at a time, and jobs that transfer together share the
/// bottleneck so that at every moment the fractions of their own rates they get add up to at
/// least one (a job held by its own cap gets all of its rate; jobs below their caps fill the
/// link, which is at least as fast as each of their rates). Each remaining file costs one
/// attempt's round trips, each job one more (its retry), each time-slice switch one more.
pub fn bound(scenario: &Scenario, after: Duration, progress: &[JobProgress]) -> Bound {
    let open: Vec<(&Job, &[u64])> = scenario
        .jobs
        .iter()
        .map(|job| job.get_ref())
        .zip(progress)
        .filter_map(|(job, progress)| match progress {
            JobProgress::Settled => None,
            JobProgress::Open { durable } => Some((job, durable.as_slice())),
        })
        .collect();
    if open.is_empty() {
        return Bound { slack: SLACK, ..Bound::default() };
    }
    let mut bound = Bound { rate_bps: u64::MAX, slack: SLACK, ..Bound::default() };
    let mut files_left = 0;
    let mut round_trip_max = Duration::ZERO;
    for (job, durable) in &open {
        let path = Path::of(scenario, job);
        let bytes = bytes_left(scenario, job, durable, after);
        let rate_bps = path.rate_bps.max(1);
        bound.bytes += bytes;
        bound.rate_bps = bound.rate_bps.min(rate_bps);
        let transfer = Duration::try_from_secs_f64(bytes as f64 * 8.0 / rate_bps as f64);
        bound.transfer = bound.transfer.saturating_add(transfer.unwrap_or(Duration::MAX));
        round_trip_max = round_trip_max.max(path.round_trip);
        files_left += (0..job.files.len())
            .filter(|file| durable.get(*file).is_none_or(|done| *done != u64::MAX))
            .count() as u32;
    }
    bound.timers = timers(scenario, &open);
    let attempts = files_left.saturating_add(open.len() as u32).saturating_add(slice_switches(
        scenario,
        &open,
        bound.transfer,
    ));
    bound.round_trip_count = attempts.saturating_mul(ROUND_TRIPS_PER_ATTEMPT);
    bound.round_trips = round_trip_max.checked_mul(bound.round_trip_count).unwrap_or(Duration::MAX);
    bound.waits = waits(scenario, after, &open);
    bound
}

/// A silently dead connection is noticed only by a timeout, and the heal may find two in a
/// row: the attempt in progress (connecting, sending or waiting for data: the longest of the
/// three timeouts), then a request on an idle pooled connection that died with it (sending or
/// waiting, no connect), which the engine sends again on a fresh one. Then the longest retry
/// delay of an open job, which may have started just before.
fn timers(scenario: &Scenario, open: &[(&Job, &[u64])]) -> Duration {
    let engine = &scenario.engine;
    let connect = engine.connect_timeout.map_or(CONNECT_TIMEOUT_DEFAULT, |span| span.0);
    let send = engine.send_timeout.map_or(SEND_TIMEOUT_DEFAULT, |span| span.0);
    let receive = engine.receive_timeout.map_or(RECEIVE_TIMEOUT_DEFAULT, |span| span.0);
    let in_progress = connect.max(send).max(receive);
    let reused = send.max(receive);
    let retry_delay_max = open
        .iter()
        .map(|(job, _)| {
            job.retry_delay.map_or(RETRY_DELAY_DEFAULT, |span| span.0).max(RETRY_DELAY_MIN)
        })
        .max()
        .unwrap_or_default();
    in_progress + reused + retry_delay_max
}

/// Equal-priority background jobs take turns of one time slice; each turn costs the next job
/// a new connection and a HEAD. At most one switch per slice of the whole transfer, plus one
/// per job.
fn slice_switches(scenario: &Scenario, open: &[(&Job, &[u64])], transfer: Duration) -> u32 {
    let mut per_priority: BTreeMap<u8, u32> = BTreeMap::new();
    for (job, _) in open.iter().filter(|(job, _)| job.priority.is_background()) {
        *per_priority.entry(job.priority as u8).or_default() += 1;
    }
    if per_priority.values().all(|count| *count < 2) {
        return 0;
    }
    let slice = scenario.engine.time_slice.map_or(TIME_SLICE_DEFAULT, |span| span.0);
    let slices = (transfer.as_secs_f64() / slice.as_secs_f64().max(1e-3)).ceil() as u32;
    slices.saturating_add(open.len() as u32)
}

/// What the jobs wait for besides the network: the client creating them, the user's own
/// traffic (background jobs yield to it, foreground ones share with it: counted as if no job
/// moved while it runs), and a policy of 0 that holds background jobs for part of the day.
fn waits(scenario: &Scenario, after: Duration, open: &[(&Job, &[u64])]) -> Duration {
    let start_wait = open
        .iter()
        .filter_map(|(job, _)| job.start_at.map(|at| at.0.saturating_sub(after)))
        .max()
        .unwrap_or_default();
    let cross: Duration = scenario
        .cross_traffic
        .iter()
        .map(|cross| cross.get_ref())
        .map(|cross| (cross.at.0 + cross.duration.0).saturating_sub(cross.at.0.max(after)))
        .sum();
    let background = open.iter().any(|(job, _)| job.priority.is_background());
    let blocked = scenario.engine.throttle.as_ref().filter(|_| background).map_or(
        Duration::ZERO,
        |throttle| {
            let window_hours =
                (u64::from(throttle.to_hour) + 24 - u64::from(throttle.from_hour)) % 24;
            let hours = match (throttle.in_window, throttle.outside) {
                (Limit::Blocked, Limit::Blocked) => 24,
                (Limit::Blocked, _) => window_hours,
                (_, Limit::Blocked) => 24 - window_hours,
                _ => 0,
            };
            Duration::from_secs(hours * 3600)
        },
    );
    start_wait + cross + blocked
}

/// The bytes `job` still has to move. A file whose content never changes needs what is not
/// durable yet: nothing durable is lost after the heal (no power loss comes), and the engine
/// resumes at the exact durable byte (oracle `exact-offset`). A file that changes may restart
/// from byte 0 for the version current at the heal and for every later one, whatever was
/// durable of an earlier version.
fn bytes_left(scenario: &Scenario, job: &Job, durable: &[u64], after: Duration) -> u64 {
    let file_left = |(index, file): (usize, &crate::scenario::JobFile)| {
        let durable = durable.get(index).copied().unwrap_or(0);
        let served = follow(scenario, file.remote.get_ref()).file;
        match served {
            _ if durable == u64::MAX => 0,
            None => 0,
            Some(served) if served.changes.is_empty() => served.size.0.saturating_sub(durable),
            Some(served) => {
                let (mut size, mut at_heal, mut later) = (served.size.0, served.size.0, 0);
                for change in &served.changes {
                    size = change.size.map_or(size, |new| new.0);
                    if change.at.0 <= after {
                        at_heal = size;
                    } else {
                        later += size;
                    }
                }
                at_heal + later
            }
        }
    };
    job.files.iter().enumerate().map(file_left).sum()
}

/// Where a remote name leads: the servers on the way (itself first) and the file served at
/// the end, following the scenario's redirects as the engine does.
pub(crate) struct Followed<'a> {
    pub servers: Vec<&'a Server>,
    pub file: Option<&'a ServerFile>,
}

pub(crate) fn follow<'a>(scenario: &'a Scenario, remote: &str) -> Followed<'a> {
    let mut followed = Followed { servers: Vec::new(), file: None };
    let Ok(mut url) = RemoteUrl::parse(remote) else { return followed };
    for _ in 0..=REDIRECTS_MAX {
        let Some(server) = scenario.server(&url.host) else { break };
        if !followed.servers.iter().any(|known| known.name == server.name) {
            followed.servers.push(server);
        }
        // Servers answer a redirect before looking for a file (`origin`).
        let redirect = server.redirects.iter().find(|r| r.path == url.path_and_query);
        let next = match redirect {
            None => {
                followed.file = server.files.iter().find(|file| file.path == url.path_and_query);
                break;
            }
            Some(redirect) if redirect.to.starts_with('/') => {
                Ok(RemoteUrl { path_and_query: redirect.to.clone(), ..url.clone() })
            }
            Some(redirect) => RemoteUrl::parse(&redirect.to),
        };
        match next {
            Ok(next) => url = next,
            Err(_) => break,
        }
    }
    followed
}

#[cfg(test)]
mod tests;
