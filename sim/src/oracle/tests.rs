//! Every oracle fires on a broken run. Method: run a real scenario with a link drop and a
//! power loss (so the trace has resumes, checkpoints, a recovery and a restart), check that
//! it is clean, then break one fact in its trace and watch the matching oracle name it.

use bitsim_engine::core::state::{Trigger, is_legal_transition};
use bitsim_engine::{Event, JobState};

use super::*;
use crate::trace::{SimEvent, TraceEntry, TraceEvent};
use crate::world::{RunConfig, RunOutcome, run};

const SCENARIO: &str = r#"
description = "oracle fixture: a drop, then a power loss"
deadline = "3m"

[engine]
receive_timeout = "5s"

[[servers]]
name = "origin"
send_rate = "8Mbit"
files = [{ path = "/f.bin", size = "3MiB" }]

[[jobs]]
name = "job"
retry_delay = "5s"
files = [{ remote = "http://origin/f.bin", local = "/d/f.bin" }]
expect = { state = "ACKNOWLEDGED" }

[[faults]]
at = "1s"
kind = "link-drop"
duration = "2s"

[[faults]]
at = "12s"
kind = "power-loss"
down = "1s"
"#;

const SEED: u64 = 5;

fn fixture() -> (Scenario, RunOutcome) {
    let scenario = Scenario::parse(SCENARIO, "fixture.toml").unwrap();
    let outcome = run(&scenario, &RunConfig { seed: SEED, ..RunConfig::default() });
    (scenario, outcome)
}

fn fired(scenario: &Scenario, outcome: &RunOutcome) -> Vec<Oracle> {
    let mut oracles: Vec<Oracle> =
        check(scenario, SEED, outcome).into_iter().map(|violation| violation.oracle).collect();
    oracles.dedup();
    oracles
}

/// Applies `edit` to the first entry it accepts; panics if none does (the fixture changed).
fn break_first(
    outcome: &mut RunOutcome,
    what: &str,
    mut edit: impl FnMut(&mut TraceEvent) -> bool,
) {
    let hit = outcome.trace.entries.iter_mut().any(|entry| edit(&mut entry.event));
    assert!(hit, "the fixture has no {what} to break");
}

#[test]
fn the_fixture_is_clean_and_exercises_every_path() {
    let (scenario, outcome) = fixture();
    assert_eq!(check(&scenario, SEED, &outcome), vec![]);
    let has = |pred: &dyn Fn(&TraceEvent) -> bool| {
        outcome.trace.entries.iter().any(|entry| pred(&entry.event))
    };
    assert!(
        has(
            &|event| matches!(event, TraceEvent::Sim(SimEvent::Served { start: Some(start), .. }) if *start > 0)
        ),
        "a resume"
    );
    assert!(
        has(
            &|event| matches!(event, TraceEvent::Engine(Event::PartFileChecked { journal_offset, .. }) if *journal_offset > 0)
        ),
        "a recovery"
    );
    assert!(has(&|event| matches!(event, TraceEvent::Engine(Event::Restored { .. }))), "a restart");
}

#[test]
fn integrity_fires_on_wrong_bytes() {
    let (scenario, mut outcome) = fixture();
    break_first(&mut outcome, "verified file", |event| match event {
        TraceEvent::Sim(SimEvent::FileVerified { hash, .. }) => {
            *hash = "0000000000000000".into();
            true
        }
        _ => false,
    });
    assert_eq!(fired(&scenario, &outcome), [Oracle::Integrity]);
}

#[test]
fn integrity_fires_when_a_completed_file_cannot_be_read_back() {
    let (scenario, mut outcome) = fixture();
    outcome
        .trace
        .entries
        .retain(|entry| !matches!(entry.event, TraceEvent::Sim(SimEvent::FileVerified { .. })));
    assert!(fired(&scenario, &outcome).contains(&Oracle::Integrity));
}

#[test]
fn exact_offset_fires_on_a_resume_one_byte_late() {
    let (scenario, mut outcome) = fixture();
    break_first(&mut outcome, "ranged GET", |event| match event {
        TraceEvent::Sim(SimEvent::Served { method, start: Some(start), .. })
            if method == "GET" && *start > 0 =>
        {
            *start += 1;
            true
        }
        _ => false,
    });
    assert_eq!(fired(&scenario, &outcome), [Oracle::ExactOffset]);
}

#[test]
fn range_within_eof_fires_on_a_range_past_the_end() {
    let (scenario, mut outcome) = fixture();
    break_first(&mut outcome, "ranged GET", |event| match event {
        TraceEvent::Sim(SimEvent::Served { range: Some(_), past_eof, .. }) => {
            *past_eof = true;
            true
        }
        _ => false,
    });
    assert_eq!(fired(&scenario, &outcome), [Oracle::RangeWithinEof]);
}

#[test]
fn legal_transitions_fires_on_a_skipped_state() {
    let (scenario, mut outcome) = fixture();
    break_first(&mut outcome, "QUEUED -> CONNECTING", |event| match event {
        TraceEvent::Engine(Event::StateChanged { from: JobState::Queued, to, .. })
            if *to == JobState::Connecting =>
        {
            *to = JobState::Transferred;
            true
        }
        _ => false,
    });
    assert_eq!(fired(&scenario, &outcome), [Oracle::LegalTransitions]);
}

#[test]
fn legal_transitions_fires_when_a_change_starts_from_the_wrong_state() {
    let (scenario, mut outcome) = fixture();
    break_first(&mut outcome, "CONNECTING -> TRANSFERRING", |event| match event {
        TraceEvent::Engine(Event::StateChanged { from, to: JobState::Transferring, .. }) => {
            *from = JobState::Queued;
            true
        }
        _ => false,
    });
    assert_eq!(fired(&scenario, &outcome), [Oracle::LegalTransitions]);
}

#[test]
fn jobs_survive_restart_fires_on_a_lost_job() {
    let (scenario, mut outcome) = fixture();
    outcome
        .trace
        .entries
        .retain(|entry| !matches!(entry.event, TraceEvent::Engine(Event::Restored { .. })));
    let oracles = fired(&scenario, &outcome);
    assert!(oracles.contains(&Oracle::JobsSurviveRestart), "{oracles:?}");
}

#[test]
fn jobs_survive_restart_fires_on_a_job_restored_in_another_state() {
    let (scenario, mut outcome) = fixture();
    break_first(&mut outcome, "restored job", |event| match event {
        TraceEvent::Engine(Event::Restored { state, .. }) => {
            *state = JobState::Suspended;
            true
        }
        _ => false,
    });
    assert!(fired(&scenario, &outcome).contains(&Oracle::JobsSurviveRestart));
}

#[test]
fn durable_prefix_fires_when_the_journal_vouches_for_lost_bytes() {
    let (scenario, mut outcome) = fixture();
    break_first(&mut outcome, "recovery", |event| match event {
        TraceEvent::Engine(Event::PartFileChecked { journal_offset, file_len, .. })
            if *journal_offset > 0 =>
        {
            *file_len = Some(*journal_offset - 1);
            true
        }
        _ => false,
    });
    assert_eq!(fired(&scenario, &outcome), [Oracle::DurablePrefix]);
}

#[test]
fn expected_outcome_fires_on_the_wrong_end_state() {
    let (mut scenario, outcome) = fixture();
    let expect = &mut scenario.jobs[0].get_mut().expect;
    expect.state = JobState::Error;
    expect.error = Some(Hresult::BG_E_INSUFFICIENT_RANGE_SUPPORT);
    assert_eq!(fired(&scenario, &outcome), [Oracle::ExpectedOutcome]);
}

#[test]
fn deadline_fires_on_a_run_that_never_settled() {
    let (scenario, mut outcome) = fixture();
    outcome.settled = false;
    assert_eq!(fired(&scenario, &outcome), [Oracle::Deadline]);
}

#[test]
fn hosts_healthy_fires_on_a_refused_call_or_a_failed_host() {
    let (scenario, mut outcome) = fixture();
    let refused =
        SimEvent::AppCallFailed { call: "complete".into(), job: None, error: "0x80200002".into() };
    outcome.trace.entries.push(TraceEntry {
        t_us: 1,
        host: ENGINE_HOST.into(),
        event: refused.into(),
    });
    assert_eq!(fired(&scenario, &outcome), [Oracle::HostsHealthy]);
    let (scenario, mut outcome) = fixture();
    outcome.host_error = Some("journal unreadable".into());
    assert!(fired(&scenario, &outcome).contains(&Oracle::HostsHealthy));
}

#[test]
fn notifications_fires_on_job_error_for_a_transferred_job() {
    let (scenario, mut outcome) = fixture();
    break_first(&mut outcome, "JobTransferred notification", |event| match event {
        TraceEvent::Engine(Event::Notified { notification, .. })
            if *notification == bitsim_engine::Notification::JobTransferred =>
        {
            *notification = bitsim_engine::Notification::JobError;
            true
        }
        _ => false,
    });
    assert_eq!(fired(&scenario, &outcome), vec![Oracle::Notifications]);
}

#[test]
fn every_transition_the_engine_may_make_is_one_the_oracle_allows() {
    let triggers = [
        Trigger::Resume,
        Trigger::Suspend,
        Trigger::Cancel,
        Trigger::Complete,
        Trigger::Schedule,
        Trigger::Connect,
        Trigger::TransientFailure,
        Trigger::FatalFailure,
        Trigger::RetryTimer,
        Trigger::AllFilesTransferred,
        Trigger::TimeSlice,
        Trigger::Preempt,
        Trigger::PolicyBlocked,
        Trigger::PolicyUnblocked,
        Trigger::NetworkLost,
        Trigger::NetworkRestored,
        Trigger::InactivityTimeout,
    ];
    for from in JobState::ALL {
        for to in JobState::ALL {
            if triggers.iter().any(|trigger| is_legal_transition(from, to, *trigger)) {
                assert!(allowed(from, to), "the engine allows {from} -> {to}, the oracle does not");
            }
        }
    }
}
