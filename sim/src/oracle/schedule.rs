//! The scheduling oracles, judged on the job states the trace records (spec §2.7):
//!
//! - priority-order: at most one background job is CONNECTING or TRANSFERRING at a time; no
//!   background job transfers while a higher-priority one has waited QUEUED for longer than
//!   [`GRACE`]; no FOREGROUND job waits QUEUED longer than that (they all run at once).
//! - no-starvation: a QUEUED background job that nothing of higher priority holds back gets
//!   its turn within one time slice per other job of its priority, plus [`TURN_SLACK`].

use std::collections::BTreeSet;
use std::time::Duration;

use bitsim_engine::{JobId, JobState, Priority};

use super::{Oracle, Violation};
use crate::scenario::Scenario;
use crate::traffic::JobTimeline;

/// How long the scheduler may take to act on a change (stop one transfer, start another).
pub const GRACE: Duration = Duration::from_secs(1);
/// A turn also costs a reconnect, a HEAD and a stop with a checkpoint.
pub const TURN_SLACK: Duration = Duration::from_secs(10);

/// A stretch of time `[from, to)` in microseconds and every job's state during it.
type Piece = (u64, u64, Vec<(JobId, Priority, JobState)>);

/// The states of every job over the pieces of time between state changes.
fn pieces(jobs: &JobTimeline) -> Vec<Piece> {
    let times: BTreeSet<u64> = jobs.states.values().flatten().map(|(t, _)| *t).collect();
    let times: Vec<u64> = times.into_iter().collect();
    times
        .windows(2)
        .filter(|pair| pair[1] > pair[0])
        .map(|pair| {
            let states = jobs
                .priorities
                .iter()
                .filter_map(|(job, priority)| {
                    Some((*job, *priority, jobs.state_at(*job, pair[0])?))
                })
                .collect();
            (pair[0], pair[1], states)
        })
        .collect()
}

pub(super) fn priority_order(jobs: &JobTimeline, out: &mut Vec<Violation>) {
    let grace = GRACE.as_micros() as u64;
    // When each job started waiting behind a lower priority, or waiting at all (foreground).
    let mut waiting_since: std::collections::BTreeMap<JobId, u64> = Default::default();
    for (from, to, states) in pieces(jobs) {
        let active: Vec<&(JobId, Priority, JobState)> = states
            .iter()
            .filter(|(_, priority, state)| priority.is_background() && state.is_active())
            .collect();
        if active.len() > 1 {
            let names: Vec<String> = active.iter().map(|(job, _, _)| job.to_string()).collect();
            out.push(Violation {
                oracle: Oracle::PriorityOrder,
                t_us: Some(from),
                detail: format!(
                    "{} background jobs transfer at once: {}",
                    names.len(),
                    names.join(", ")
                ),
            });
            return;
        }
        let holder = active.first().map(|(_, priority, _)| *priority);
        for (job, priority, state) in &states {
            let held_back = *state == JobState::Queued
                && match priority.is_background() {
                    false => true,
                    true => holder.is_some_and(|holder| *priority < holder),
                };
            if !held_back {
                waiting_since.remove(job);
                continue;
            }
            let since = *waiting_since.entry(*job).or_insert(from);
            if to - since > grace {
                let detail = if priority.is_background() {
                    format!(
                        "{job} ({priority:?}) waited QUEUED behind a lower priority for over {GRACE:?}"
                    )
                } else {
                    format!("FOREGROUND {job} waited QUEUED for over {GRACE:?}")
                };
                out.push(Violation {
                    oracle: Oracle::PriorityOrder,
                    t_us: Some(since + grace),
                    detail,
                });
                return;
            }
        }
    }
}

pub(super) fn no_starvation(scenario: &Scenario, jobs: &JobTimeline, out: &mut Vec<Violation>) {
    let slice =
        scenario.engine.time_slice.map_or(bitsim_engine::core::queue::TIME_SLICE_DEFAULT, |s| s.0);
    let mut starving: std::collections::BTreeMap<JobId, u64> = Default::default();
    for (from, to, states) in pieces(jobs) {
        for (job, priority, state) in &states {
            if !priority.is_background() || *state != JobState::Queued {
                starving.remove(job);
                continue;
            }
            let outranked = states.iter().any(|(other, other_priority, other_state)| {
                other != job
                    && other_priority.is_background()
                    && *other_priority < *priority
                    && (*other_state == JobState::Queued || other_state.is_active())
            });
            if outranked {
                continue;
            }
            let peers = states
                .iter()
                .filter(|(other, other_priority, other_state)| {
                    other != job && other_priority == priority && !other_state.is_final()
                })
                .count() as u32;
            let bound = (slice * peers.max(1) + TURN_SLACK).as_micros() as u64;
            let waited = starving.entry(*job).or_insert(0);
            *waited += to - from;
            if *waited > bound {
                out.push(Violation {
                    oracle: Oracle::NoStarvation,
                    t_us: Some(to),
                    detail: format!(
                        "{job} ({priority:?}) waited {:.1}s for its turn; {peers} equal job(s) with {slice:?} slices allow {:.1}s",
                        *waited as f64 / 1e6,
                        bound as f64 / 1e6
                    ),
                });
                return;
            }
        }
    }
}
