//! How and when jobs end: `expected-outcome` (the end the scenario expects), `deadline` (by
//! the scenario's deadline) and `liveness` (with `[liveness]`: by the bound that follows the
//! heal at the end of the chaos phase).

use std::time::Duration;

use bitsim_engine::{Hresult, JobState};

use super::{Oracle, Violation};
use crate::book::{JobBook, JobRecord};
use crate::liveness;
use crate::scenario::{Expect, Job, Scenario};
use crate::trace::{SimEvent, TraceEntry, TraceEvent};
use crate::world::RunOutcome;

pub(super) fn expected_outcome(scenario: &Scenario, book: &JobBook, out: &mut Vec<Violation>) {
    for spec in scenario.jobs.iter().map(|job| job.get_ref()) {
        let Some((id, record)) = book.job(&spec.name) else {
            out.push(Violation {
                oracle: Oracle::ExpectedOutcome,
                t_us: None,
                detail: format!("`{}` was never created", spec.name),
            });
            continue;
        };
        if let Some(problem) = missed(&spec.expect, record) {
            out.push(Violation {
                oracle: Oracle::ExpectedOutcome,
                t_us: None,
                detail: format!("`{}` ({id}) {problem}; expected {}", spec.name, wanted(spec)),
            });
        }
    }
}

/// How a job's record differs from the expected end, or `None` if it is that end.
fn missed(expect: &Expect, record: &JobRecord) -> Option<String> {
    let state = record.state;
    if state != Some(expect.state) {
        Some(format!("ended {}", state.map_or_else(|| "unknown".to_owned(), |s| s.to_string())))
    } else if expect.state == JobState::Acknowledged && record.completed != Some(Hresult::S_OK) {
        Some(format!(
            "Complete returned {}",
            record.completed.map_or_else(|| "nothing".to_owned(), |code| code.to_string())
        ))
    } else if let Some(error) = expect.error.filter(|error| record.error != Some(*error)) {
        let got = record.error.map_or_else(|| "no error".to_owned(), |code| code.to_string());
        Some(format!("ended ERROR with {got}, not {error}"))
    } else {
        let restarts = expect.restarts.filter(|n| *n != record.restarts);
        restarts.map(|n| format!("restarted a file {} time(s), not {n}", record.restarts))
    }
}

/// The expected end, as text: `ACKNOWLEDGED` or `ERROR 0x80190194`.
fn wanted(spec: &Job) -> String {
    match spec.expect.error {
        Some(error) => format!("{} {error}", spec.expect.state),
        None => spec.expect.state.to_string(),
    }
}

/// The trace up to and including simulated time `t`.
fn until(entries: &[TraceEntry], t: Duration) -> &[TraceEntry] {
    let t_us = u64::try_from(t.as_micros()).unwrap_or(u64::MAX);
    &entries[..entries.partition_point(|entry| entry.t_us <= t_us)]
}

/// Every job settles by the deadline. A `[liveness]` run may go on past it (until the
/// liveness bound ends), so settling later breaks this too.
pub(super) fn deadline(
    scenario: &Scenario,
    book: &JobBook,
    outcome: &RunOutcome,
    out: &mut Vec<Violation>,
) {
    let deadline = scenario.deadline.0;
    let late = outcome.settled && outcome.end > deadline;
    if (outcome.settled && !late) || outcome.host_error.is_some() {
        return;
    }
    let at_deadline = JobBook::from_entries(until(&outcome.trace.entries, deadline));
    let book = if late { &at_deadline } else { book };
    let pending: Vec<String> = scenario
        .jobs
        .iter()
        .map(|job| job.get_ref())
        .filter_map(|spec| {
            let state = book.job(&spec.name).and_then(|(_, record)| record.state);
            let state = state.map_or_else(|| "never created".to_owned(), |state| state.to_string());
            (!["ACKNOWLEDGED", "ERROR", "CANCELLED"].contains(&state.as_str()))
                .then(|| format!("`{}` is {state}", spec.name))
        })
        .collect();
    let when = if late {
        format!(
            "settled only at {:.3}s, after the deadline {}",
            outcome.end.as_secs_f64(),
            scenario.deadline
        )
    } else {
        format!("not settled by the deadline {}", scenario.deadline)
    };
    out.push(Violation {
        oracle: Oracle::Deadline,
        t_us: None,
        detail: format!("{when}: {}", pending.join(", ")),
    });
}

/// With `[liveness]`: every job is at its expected end no later than the heal plus the bound
/// computed from the trace before the heal (the same bound the step loop ran to).
pub(super) fn liveness(scenario: &Scenario, outcome: &RunOutcome, out: &mut Vec<Violation>) {
    if scenario.liveness.is_none() || outcome.host_error.is_some() {
        // A failed host stops the run early; `hosts-healthy` says so.
        return;
    }
    let entries = &outcome.trace.entries;
    let healed = entries
        .iter()
        .position(|entry| matches!(entry.event, TraceEvent::Sim(SimEvent::Healed { .. })));
    let Some(healed) = healed else {
        // A run stops before the heal only when every job has settled.
        if !JobBook::from_entries(entries).settled(scenario) {
            out.push(Violation {
                oracle: Oracle::Liveness,
                t_us: None,
                detail: format!(
                    "the run ended at {:.3}s, unsettled, without healing the chaos phase",
                    outcome.end.as_secs_f64()
                ),
            });
        }
        return;
    };
    let heal_at = Duration::from_micros(entries[healed].t_us);
    let bound =
        liveness::bound(scenario, heal_at, &liveness::progress(scenario, &entries[..healed]));
    let limit = heal_at.saturating_add(bound.total());
    let book = JobBook::from_entries(until(entries, limit));
    for spec in scenario.jobs.iter().map(|job| job.get_ref()) {
        let record = book.job(&spec.name);
        // The end state and error; how many restarts it took is not liveness's concern.
        let end = Expect { restarts: None, ..spec.expect.clone() };
        let reached = book.is_settled(spec)
            && record.is_some_and(|(_, record)| missed(&end, record).is_none());
        if reached {
            continue;
        }
        let state = record.and_then(|(_, record)| record.state);
        let state = state.map_or_else(|| "not yet created".to_owned(), |state| state.to_string());
        out.push(Violation {
            oracle: Oracle::Liveness,
            t_us: Some(u64::try_from(limit.as_micros()).unwrap_or(u64::MAX)),
            detail: format!(
                "`{}` is {state}, not {}, at the end of the liveness bound: healed at {:.3}s, bound {bound}",
                spec.name,
                wanted(spec),
                heal_at.as_secs_f64()
            ),
        });
    }
}

#[cfg(test)]
mod tests;
