//! Leaping over idle time (`bitsim::clock`) changes nothing a run shows: the same trace,
//! byte for byte, as stepping every tick; and it is what makes BITS's long timers affordable.
//! (`bitsim gate --check-determinism` compares the two ways on any scenario; a unit test in
//! `world.rs` shows the comparison failing for careless leaps.)

use bitsim::book::JobBook;
use bitsim::world::{RunConfig, run};
use bitsim_engine::JobState;

use crate::support::scenario;

/// Scenarios with idle stretches of each kind: retry delays, a power loss's down time,
/// authentication round trips, a receive timeout after a silent drop.
const IDLE_SCENARIOS: [&str; 4] =
    ["no-progress-timeout", "reboot-resume", "proxy-407-basic", "link-drop-resume"];

#[test]
fn leaps_give_the_trace_of_stepping_every_tick() {
    for stem in IDLE_SCENARIOS {
        let (_, scenario) = scenario(stem);
        let leaping = run(&scenario, &RunConfig { seed: 1, ..RunConfig::default() });
        let config = RunConfig { seed: 1, fixed_step: true, ..RunConfig::default() };
        let stepping = run(&scenario, &config);
        assert!(leaping.steps < stepping.steps, "{stem}: no leap was taken");
        assert_eq!(leaping.trace.jsonl(), stepping.trace.jsonl(), "{stem}");
    }
}

#[test]
fn fourteen_days_of_retries_take_few_steps() {
    let (_, scenario) = scenario("no-progress-timeout-14-days");
    let outcome = run(&scenario, &RunConfig { seed: 1, ..RunConfig::default() });
    assert!(outcome.settled && outcome.host_error.is_none());
    assert!(outcome.end > std::time::Duration::from_secs(14 * 86_400), "{:?}", outcome.end);
    // 1.2 billion ticks of simulated time; a few steps around each of the 2,016 retries.
    assert!(outcome.steps < 50_000, "{} steps", outcome.steps);
    let book = JobBook::from_entries(&outcome.trace.entries);
    let (_, job) = book.job("update").expect("the job was created");
    assert_eq!(job.state, Some(JobState::Error));
}
