use super::*;

#[test]
fn ranges_resolve_in_the_order_given() {
    let ranges = [FileRange::new(100, 100), FileRange::new(900, 100), FileRange::to_eof(400)];
    let remote = remote_ranges(&ranges, 1000).unwrap();
    assert_eq!(remote, vec![100..200, 900..1000, 400..1000]);
    assert_eq!(remote_offset(&remote, 0), Some(100));
    assert_eq!(remote_offset(&remote, 150), Some(950));
    assert_eq!(remote_offset(&remote, 200), Some(400));
    assert_eq!(remote_offset(&remote, 800), None);
    assert_eq!(remote_ranges(&ranges, 999), None, "900-999 is past the end of 999 bytes");
    assert_eq!(remote_ranges(&[FileRange::to_eof(10)], 10), None);
}

/// Firing tests: a real ranged run (ranges out of order, one to EOF, a link drop inside the
/// second range), checked clean, then one fact of its trace broken at a time.
mod fire {
    use bitsim_engine::Event;

    use crate::content::ContentKey;
    use crate::oracle::{Oracle, check};
    use crate::scenario::Scenario;
    use crate::trace::{SimEvent, TraceEvent};
    use crate::world::{RunConfig, RunOutcome, run};

    const SCENARIO: &str = r#"
description = "oracle fixture: ranges out of order, resumed inside a range"
deadline = "3m"

[engine]
receive_timeout = "5s"

[[servers]]
name = "origin"
send_rate = "8Mbit"
files = [{ path = "/f.bin", size = "2000000" }]

[[jobs]]
name = "job"
retry_delay = "5s"
files = [{ remote = "http://origin/f.bin", local = "/d/f.part", ranges = "1500000:300000,100000:1000000,1900000:eof" }]
expect = { state = "ACKNOWLEDGED" }

[[faults]]
at = "1s"
kind = "link-drop"
duration = "2s"
"#;

    const SEED: u64 = 5;
    const SIZE: u64 = 2_000_000;
    /// The remote bytes the local file holds, in local order.
    const REMOTE: [std::ops::Range<u64>; 3] =
        [1_500_000..1_800_000, 100_000..1_100_000, 1_900_000..SIZE];

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

    fn key() -> ContentKey {
        ContentKey::new(SEED, "origin", "/f.bin", 0, SIZE)
    }

    /// Makes the read-back file hold `remote` instead.
    fn read_back(outcome: &mut RunOutcome, remote: &[std::ops::Range<u64>]) {
        let hit = outcome.trace.entries.iter_mut().any(|entry| match &mut entry.event {
            TraceEvent::Sim(SimEvent::FileVerified { len, hash, .. }) => {
                *len = remote.iter().map(|range| range.end - range.start).sum();
                *hash = format!("{:016x}", key().hash_ranges(remote));
                true
            }
            _ => false,
        });
        assert!(hit, "the fixture verified no file");
    }

    /// The GET that resumed inside the second range (after the link drop).
    fn break_resumed_get(outcome: &mut RunOutcome, to: impl Fn(u64) -> u64) {
        let inside = |start: u64| start > REMOTE[1].start && start < REMOTE[1].end;
        let hit = outcome.trace.entries.iter_mut().any(|entry| match &mut entry.event {
            TraceEvent::Sim(SimEvent::Served { method, start: Some(start), .. })
                if method == "GET" && inside(*start) =>
            {
                *start = to(*start);
                true
            }
            _ => false,
        });
        assert!(hit, "the fixture did not resume inside the second range");
    }

    #[test]
    fn the_fixture_is_clean_and_resumes_inside_a_range() {
        let (scenario, mut outcome) = fixture();
        assert_eq!(check(&scenario, SEED, &outcome), vec![]);
        // Reading back exactly the requested ranges is what the fixture did.
        read_back(&mut outcome, &REMOTE);
        assert_eq!(check(&scenario, SEED, &outcome), vec![]);
        break_resumed_get(&mut outcome, |start| start);
        let checkpoints =
            outcome.trace.entries.iter().filter(|entry| {
                matches!(entry.event, TraceEvent::Engine(Event::Checkpoint { .. }))
            });
        assert!(checkpoints.count() > 1);
    }

    #[test]
    fn integrity_fires_on_ranges_written_in_offset_order() {
        let (scenario, mut outcome) = fixture();
        let mut sorted = REMOTE.to_vec();
        sorted.sort_by_key(|range| range.start);
        read_back(&mut outcome, &sorted);
        assert_eq!(fired(&scenario, &outcome), [Oracle::Integrity]);
    }

    #[test]
    fn integrity_fires_on_the_whole_file_instead_of_the_ranges() {
        let (scenario, mut outcome) = fixture();
        read_back(&mut outcome, std::slice::from_ref(&(0..SIZE)));
        assert_eq!(fired(&scenario, &outcome), [Oracle::Integrity]);
    }

    #[test]
    fn exact_offset_fires_on_a_resume_from_the_start_of_the_range() {
        let (scenario, mut outcome) = fixture();
        break_resumed_get(&mut outcome, |_| REMOTE[1].start);
        assert_eq!(fired(&scenario, &outcome), [Oracle::ExactOffset]);
    }

    #[test]
    fn exact_offset_fires_on_a_resume_at_the_local_offset() {
        // The durable offset of a ranged file is local; asking for it as a remote byte is the
        // mistake of forgetting the mapping.
        let (scenario, mut outcome) = fixture();
        let remote_done = |start: u64| start - REMOTE[1].start;
        let local = |start: u64| (REMOTE[0].end - REMOTE[0].start) + remote_done(start);
        break_resumed_get(&mut outcome, local);
        assert_eq!(fired(&scenario, &outcome), [Oracle::ExactOffset]);
    }
}
