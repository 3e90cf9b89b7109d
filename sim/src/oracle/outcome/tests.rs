//! `liveness` and `deadline` fire on broken runs. Method as in `oracle::tests`: run a real
//! two-phase scenario (a link drop the heal cuts short, so the job finishes in the liveness
//! phase), check it is clean, then break its trace.

use std::time::Duration;

use bitsim_engine::{Event, JobState};

use super::super::{Oracle, check};
use crate::liveness;
use crate::scenario::{Scenario, Span};
use crate::trace::{SimEvent, TraceEvent};
use crate::world::{RunConfig, RunOutcome, run};

const SCENARIO: &str = r#"
description = "liveness fixture: a drop that the heal cuts short"
deadline = "3m"

[engine]
connect_timeout = "5s"
send_timeout = "5s"
receive_timeout = "5s"

[[servers]]
name = "origin"
send_rate = "4Mbit"
files = [{ path = "/f.bin", size = "2MiB" }]

[[jobs]]
name = "job"
retry_delay = "5s"
files = [{ remote = "http://origin/f.bin", local = "/d/f.bin" }]
expect = { state = "ACKNOWLEDGED" }

[[faults]]
at = "1s"
kind = "link-drop"
duration = "1m"

[liveness]
after = "4s"
"#;

const SEED: u64 = 3;

fn fixture() -> (Scenario, RunOutcome) {
    let scenario = Scenario::parse(SCENARIO, "fixture.toml").unwrap();
    let outcome = run(&scenario, &RunConfig { seed: SEED, ..RunConfig::default() });
    (scenario, outcome)
}

fn fired(scenario: &Scenario, outcome: &RunOutcome) -> Vec<(Oracle, String)> {
    check(scenario, SEED, outcome).into_iter().map(|v| (v.oracle, v.detail)).collect()
}

fn oracles(violations: &[(Oracle, String)]) -> Vec<Oracle> {
    let mut oracles: Vec<Oracle> = violations.iter().map(|(oracle, _)| *oracle).collect();
    oracles.dedup();
    oracles
}

/// Where the heal is in the trace, its time and the bound the step loop recorded.
fn healed(outcome: &RunOutcome) -> (usize, u64, u64) {
    let entries = &outcome.trace.entries;
    let index = entries
        .iter()
        .position(|entry| matches!(entry.event, TraceEvent::Sim(SimEvent::Healed { .. })))
        .expect("the fixture heals");
    let TraceEvent::Sim(SimEvent::Healed { bound_us, .. }) = entries[index].event else {
        unreachable!()
    };
    (index, entries[index].t_us, bound_us)
}

fn is_transferred(event: &TraceEvent) -> bool {
    matches!(event, TraceEvent::Engine(Event::StateChanged { to: JobState::Transferred, .. }))
}

#[test]
fn the_fixture_is_clean_and_finishes_in_the_liveness_phase() {
    let (scenario, outcome) = fixture();
    assert_eq!(fired(&scenario, &outcome), vec![]);
    let (index, heal_us, bound_us) = healed(&outcome);
    assert_eq!(heal_us, 4_000_000);
    let entries = &outcome.trace.entries;
    // The oracle's bound, from the trace before the heal, is the one the step loop ran to.
    let progress = liveness::progress(&scenario, &entries[..index]);
    let bound = liveness::bound(&scenario, Duration::from_micros(heal_us), &progress);
    assert_eq!(u64::try_from(bound.total().as_micros()).unwrap(), bound_us);
    let done = entries.iter().position(|entry| is_transferred(&entry.event)).unwrap();
    assert!(done > index, "the job finished after the heal");
    // The heal repaired the link: no repair was left for the drop's own end.
    assert!(
        !entries.iter().any(|e| matches!(e.event, TraceEvent::Sim(SimEvent::LinkRepaired { .. })))
    );
    let TraceEvent::Sim(SimEvent::Healed { repaired, .. }) = &entries[index].event else {
        unreachable!()
    };
    assert_eq!(repaired, &["engine<->origin"]);
}

#[test]
fn liveness_fires_on_a_job_that_settles_after_the_bound() {
    let (scenario, mut outcome) = fixture();
    let (_, heal_us, bound_us) = healed(&outcome);
    let entries = &mut outcome.trace.entries;
    let done = entries.iter().position(|entry| is_transferred(&entry.event)).unwrap();
    // Everything from TRANSFERRED on happens a second after the bound instead.
    let delay = heal_us + bound_us + 1_000_000 - entries[done].t_us;
    entries[done..].iter_mut().for_each(|entry| entry.t_us += delay);
    let violations = fired(&scenario, &outcome);
    assert_eq!(oracles(&violations), [Oracle::Liveness], "{violations:?}");
    let detail = &violations[0].1;
    assert!(detail.starts_with("`job` is TRANSFERRING, not ACKNOWLEDGED, at the end of the liveness bound: healed at 4.000s, bound "), "{detail}");
    for part in ["transfer", "bytes, slowest", "bit/s", "timers", "round trips", "slack"] {
        assert!(detail.contains(part), "{part} missing from {detail}");
    }
}

#[test]
fn liveness_fires_on_a_job_that_never_settles() {
    let (scenario, mut outcome) = fixture();
    let (index, _, _) = healed(&outcome);
    let done = outcome.trace.entries.iter().position(|entry| is_transferred(&entry.event));
    outcome.trace.entries.truncate(done.unwrap());
    assert!(outcome.trace.entries.len() > index);
    let violations = fired(&scenario, &outcome);
    assert!(oracles(&violations).contains(&Oracle::Liveness), "{violations:?}");
}

#[test]
fn liveness_fires_on_a_run_that_ended_unsettled_without_healing() {
    let (scenario, mut outcome) = fixture();
    let (index, _, _) = healed(&outcome);
    outcome.trace.entries.truncate(index);
    let violations = fired(&scenario, &outcome);
    let liveness: Vec<_> = violations.iter().filter(|(o, _)| *o == Oracle::Liveness).collect();
    assert_eq!(liveness.len(), 1, "{violations:?}");
    assert!(liveness[0].1.contains("without healing the chaos phase"), "{}", liveness[0].1);
}

#[test]
fn deadline_fires_on_a_run_that_settled_after_its_deadline() {
    let (mut scenario, outcome) = fixture();
    // The run went on past the deadline (as it does until a liveness bound ends).
    scenario.deadline = Span(outcome.end - Duration::from_secs(1));
    let violations = fired(&scenario, &outcome);
    assert_eq!(oracles(&violations), [Oracle::Deadline], "{violations:?}");
    assert!(violations[0].1.contains("settled only at"), "{}", violations[0].1);
    assert!(violations[0].1.contains("`job` is TRANSFERRING"), "{}", violations[0].1);
}

#[test]
fn expected_outcome_fires_on_a_restart_count_other_than_expected() {
    let (mut scenario, outcome) = fixture();
    let job = scenario.jobs[0].get_mut();
    job.expect.restarts = Some(0);
    assert_eq!(fired(&scenario, &outcome), []);
    scenario.jobs[0].get_mut().expect.restarts = Some(1);
    let violations = fired(&scenario, &outcome);
    assert_eq!(oracles(&violations), [Oracle::ExpectedOutcome], "{violations:?}");
    assert!(violations[0].1.contains("restarted a file 0 time(s), not 1"), "{}", violations[0].1);
}
