//! The scripted API calls (`[[actions]]`): `api-results` checks each returned what the
//! scenario says it must; `owner-isolation` checks, from the calls alone and the owners the
//! trace shows, that no user but an administrator ever acted on or listed another user's job
//! (spec §2.10), whatever the scenario expected.

use std::collections::BTreeMap;

use bitsim_engine::{Event, Hresult, JobId};

use super::{Oracle, Violation, violation};
use crate::scenario::{ENGINE_HOST, Scenario};
use crate::trace::{SimEvent, TraceEntry, TraceEvent};

pub(super) fn api_results(scenario: &Scenario, entries: &[TraceEntry], out: &mut Vec<Violation>) {
    let names = job_names(entries);
    let mut made = vec![false; scenario.actions.len()];
    for entry in entries {
        let TraceEvent::Sim(SimEvent::ActionDone { action, call, result, listed, .. }) =
            &entry.event
        else {
            continue;
        };
        let Some(spec) = scenario.actions.get(*action).map(|action| action.get_ref()) else {
            out.push(violation(Oracle::ApiResults, entry, format!("unknown action {action}")));
            continue;
        };
        made[*action] = true;
        if *result != spec.expect {
            out.push(violation(
                Oracle::ApiResults,
                entry,
                format!("action {action} ({call}) returned {result}, not {}", spec.expect),
            ));
        }
        if let (Some(want), Some(listed)) = (&spec.expect_jobs, listed) {
            let mut got: Vec<&str> =
                listed.iter().map(|id| names.get(id).map_or("?", String::as_str)).collect();
            let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
            got.sort_unstable();
            want.sort_unstable();
            if got != want {
                out.push(violation(
                    Oracle::ApiResults,
                    entry,
                    format!("action {action} ({call}) listed {got:?}, not {want:?}"),
                ));
            }
        }
    }
    // After a reboot the program does not make calls whose time passed while it was down.
    let rebooted = entries
        .iter()
        .filter(|e| {
            e.host == ENGINE_HOST && matches!(e.event, TraceEvent::Sim(SimEvent::Booted { .. }))
        })
        .count()
        > 1;
    for (index, _) in made.iter().enumerate().filter(|(_, made)| !**made) {
        if !rebooted {
            out.push(Violation {
                oracle: Oracle::ApiResults,
                t_us: None,
                detail: format!("action {index} was never made (the run ended first)"),
            });
        }
    }
}

pub(super) fn owner_isolation(entries: &[TraceEntry], out: &mut Vec<Violation>) {
    let mut owners: BTreeMap<JobId, &str> = BTreeMap::new();
    for entry in entries {
        match &entry.event {
            TraceEvent::Engine(Event::JobCreated { job, owner, .. }) => {
                owners.insert(*job, owner);
            }
            TraceEvent::Sim(SimEvent::ActionDone {
                call,
                caller,
                admin: false,
                job,
                result,
                listed,
                ..
            }) => {
                let foreign = |id: &JobId| owners.get(id).is_some_and(|owner| owner != caller);
                let succeeded = matches!(*result, Hresult::S_OK | Hresult::S_FALSE)
                    || *result == Hresult::BG_S_PARTIAL_COMPLETE;
                if let Some(job) = job.filter(|job| foreign(job) && succeeded) {
                    out.push(violation(Oracle::OwnerIsolation, entry, format!(
                        "{caller}, not an administrator, made {call} on {job} of {} and it returned {result}",
                        owners[&job]
                    )));
                }
                for job in listed.iter().flatten().filter(|job| foreign(job)) {
                    out.push(violation(
                        Oracle::OwnerIsolation,
                        entry,
                        format!(
                            "{caller}, not an administrator, saw {job} of {} in {call}",
                            owners[job]
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
}

fn job_names(entries: &[TraceEntry]) -> BTreeMap<JobId, String> {
    entries
        .iter()
        .filter_map(|entry| match &entry.event {
            TraceEvent::Engine(Event::JobCreated { job, name, .. }) => Some((*job, name.clone())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::check;
    use crate::world::{RunConfig, RunOutcome, run};

    const SCENARIO: &str = r#"
description = "api fixture: bob is refused alice's job and sees only his own"
deadline = "1m"

[[servers]]
name = "origin"
send_rate = "1Mbit"
files = [{ path = "/a.bin", size = "64KiB" }, { path = "/b.bin", size = "64KiB" }]

[[jobs]]
name = "alice-job"
owner = "alice"
retry_delay = "5s"
files = [{ remote = "http://origin/a.bin", local = "/d/a.bin" }]
expect = { state = "ACKNOWLEDGED" }

[[jobs]]
name = "bob-job"
owner = "bob"
retry_delay = "5s"
files = [{ remote = "http://origin/b.bin", local = "/d/b.bin" }]
expect = { state = "ACKNOWLEDGED" }

[[actions]]
at = "100ms"
call = "cancel"
job = "alice-job"
as = "bob"
expect = "0x80070005"

[[actions]]
at = "100ms"
call = "enum-jobs"
as = "bob"
expect_jobs = ["bob-job"]
"#;

    fn fixture() -> (Scenario, RunOutcome) {
        let scenario = Scenario::parse(SCENARIO, "api.toml").unwrap();
        let outcome = run(&scenario, &RunConfig { seed: 1, ..RunConfig::default() });
        (scenario, outcome)
    }

    fn fired(scenario: &Scenario, outcome: &RunOutcome) -> Vec<Oracle> {
        let mut oracles: Vec<Oracle> =
            check(scenario, 1, outcome).into_iter().map(|violation| violation.oracle).collect();
        oracles.dedup();
        oracles
    }

    fn action_done(outcome: &mut RunOutcome, index: usize) -> &mut SimEvent {
        outcome
            .trace
            .entries
            .iter_mut()
            .find_map(|entry| match &mut entry.event {
                TraceEvent::Sim(event @ SimEvent::ActionDone { .. }) => match event {
                    SimEvent::ActionDone { action, .. } if *action == index => Some(event),
                    _ => None,
                },
                _ => None,
            })
            .expect("the fixture made the action")
    }

    #[test]
    fn the_fixture_is_clean() {
        let (scenario, outcome) = fixture();
        assert_eq!(check(&scenario, 1, &outcome), vec![]);
    }

    #[test]
    fn a_foreign_call_that_succeeded_fires_both_oracles() {
        let (scenario, mut outcome) = fixture();
        if let SimEvent::ActionDone { result, .. } = action_done(&mut outcome, 0) {
            *result = Hresult::S_OK;
        }
        assert_eq!(fired(&scenario, &outcome), vec![Oracle::ApiResults, Oracle::OwnerIsolation]);
    }

    #[test]
    fn a_listing_with_another_users_job_fires_both_oracles() {
        let (scenario, mut outcome) = fixture();
        let alice = outcome
            .trace
            .entries
            .iter()
            .find_map(|entry| match &entry.event {
                TraceEvent::Engine(Event::JobCreated { job, owner, .. }) if owner == "alice" => {
                    Some(*job)
                }
                _ => None,
            })
            .unwrap();
        if let SimEvent::ActionDone { listed: Some(listed), .. } = action_done(&mut outcome, 1) {
            listed.push(alice);
        }
        assert_eq!(fired(&scenario, &outcome), vec![Oracle::ApiResults, Oracle::OwnerIsolation]);
    }

    #[test]
    fn an_action_never_made_fires() {
        let (scenario, mut outcome) = fixture();
        outcome.trace.entries.retain(|entry| {
            !matches!(entry.event, TraceEvent::Sim(SimEvent::ActionDone { action: 1, .. }))
        });
        assert_eq!(fired(&scenario, &outcome), vec![Oracle::ApiResults]);
    }
}
