//! The upload oracles fire on broken traces: a run of a real upload-reply scenario is clean,
//! and each broken fact in its trace is named.

use bitsim_engine::Event;

use super::super::{Oracle, check};
use crate::scenario::Scenario;
use crate::trace::{SimEvent, TraceEvent};
use crate::world::{RunConfig, RunOutcome, run};

const SCENARIO: &str = r#"
description = "upload oracle fixture"
deadline = "2m"

[[servers]]
name = "server"
uploads = { path = "/up", reply = true, reply_size = "3KiB" }

[[jobs]]
name = "job"
type = "upload-reply"
retry_delay = "5s"
files = [{ remote = "http://server/up/f.bin", local = "/d/f.bin", size = "300KiB" }]
expect = { state = "ACKNOWLEDGED" }
"#;

const SEED: u64 = 2;

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

fn edit(outcome: &mut RunOutcome, mut change: impl FnMut(&mut TraceEvent) -> bool) {
    let found = outcome.trace.entries.iter_mut().any(|entry| change(&mut entry.event));
    assert!(found, "the fixture's trace has no such event");
}

#[test]
fn the_fixture_is_clean() {
    let (scenario, outcome) = fixture();
    assert_eq!(fired(&scenario, &outcome), vec![]);
    let committed = outcome.trace.entries.iter().any(|entry| {
        matches!(&entry.event, TraceEvent::Sim(SimEvent::UploadCommitted { len: 307_200, .. }))
    });
    assert!(committed);
}

#[test]
fn a_byte_written_twice_is_caught() {
    let (scenario, mut outcome) = fixture();
    edit(&mut outcome, |event| match event {
        TraceEvent::Sim(SimEvent::UploadCommitted { writes, .. }) => {
            *writes = vec![[0, 200_000], [150_000, 307_200]];
            true
        }
        _ => false,
    });
    assert_eq!(fired(&scenario, &outcome), vec![Oracle::UploadIntegrity]);
}

#[test]
fn a_gap_is_caught() {
    let (scenario, mut outcome) = fixture();
    edit(&mut outcome, |event| match event {
        TraceEvent::Sim(SimEvent::UploadCommitted { writes, .. }) => {
            *writes = vec![[0, 100], [200, 307_200]];
            true
        }
        _ => false,
    });
    assert_eq!(fired(&scenario, &outcome), vec![Oracle::UploadIntegrity]);
}

#[test]
fn a_server_file_unlike_the_source_is_caught() {
    let (scenario, mut outcome) = fixture();
    edit(&mut outcome, |event| match event {
        TraceEvent::Sim(SimEvent::UploadCommitted { hash, .. }) => {
            *hash = "0000000000000000".into();
            true
        }
        _ => false,
    });
    assert_eq!(fired(&scenario, &outcome), vec![Oracle::UploadIntegrity]);
}

#[test]
fn a_completed_upload_the_server_never_committed_is_caught() {
    let (scenario, mut outcome) = fixture();
    edit(&mut outcome, |event| match event {
        TraceEvent::Sim(SimEvent::UploadCommitted { path, .. }) => {
            *path = "/up/other.bin".into();
            true
        }
        _ => false,
    });
    assert_eq!(fired(&scenario, &outcome), vec![Oracle::UploadIntegrity]);
}

#[test]
fn a_wrong_reply_is_caught() {
    let (scenario, mut outcome) = fixture();
    edit(&mut outcome, |event| match event {
        TraceEvent::Sim(SimEvent::ReplyVerified { len, .. }) => {
            *len -= 1;
            true
        }
        _ => false,
    });
    assert_eq!(fired(&scenario, &outcome), vec![Oracle::ReplyIntegrity]);
}

#[test]
fn a_reply_never_read_back_is_caught() {
    let (scenario, mut outcome) = fixture();
    outcome
        .trace
        .entries
        .retain(|entry| !matches!(entry.event, TraceEvent::Sim(SimEvent::ReplyVerified { .. })));
    let fired = fired(&scenario, &outcome);
    assert!(fired.contains(&Oracle::ReplyIntegrity), "{fired:?}");
}

#[test]
fn the_trace_shows_the_protocol() {
    let (_, outcome) = fixture();
    let packets = outcome
        .trace
        .entries
        .iter()
        .filter(|entry| matches!(entry.event, TraceEvent::Engine(Event::UploadPacket { .. })))
        .count();
    // Create-Session, three fragments of at most 128 KiB, Close-Session.
    assert_eq!(packets, 5);
}
