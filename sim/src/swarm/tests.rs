use super::*;
use crate::scenario::FaultKind;

/// Seeds the generator's properties are checked on.
const SEEDS: Range<u64> = 0..50;

/// The scenario body of a generated file: everything after the header comments.
fn body(text: &str) -> &str {
    let start = text.find("description").expect("a scenario has a description");
    &text[start..]
}

#[test]
fn the_same_seed_generates_the_same_text() {
    for seed in [0, 7, 123_456] {
        assert_eq!(generate(seed).unwrap().text, generate(seed).unwrap().text, "seed {seed}");
    }
}

#[test]
fn different_seeds_generate_different_scenarios() {
    let bodies: std::collections::BTreeSet<String> =
        SEEDS.map(|seed| body(&generate(seed).unwrap().text).to_owned()).collect();
    assert_eq!(bodies.len(), SEEDS.count(), "every seed draws its own scenario");
}

#[test]
fn every_generated_scenario_validates_and_round_trips_through_toml() {
    for seed in SEEDS {
        let generated = generate(seed).unwrap_or_else(|error| panic!("seed {seed}: {error}"));
        let again = to_toml(&generated.scenario);
        assert_eq!(again, body(&generated.text), "seed {seed}: parse then print changes nothing");
        Scenario::parse(&again, "again").unwrap_or_else(|error| panic!("seed {seed}: {error}"));
    }
}

#[test]
fn every_job_expects_success_and_every_fault_falls_in_the_chaos_window() {
    for seed in SEEDS {
        let generated = generate(seed).unwrap();
        let scenario = &generated.scenario;
        assert!((1..=3).contains(&scenario.jobs.len()), "seed {seed}");
        for job in &scenario.jobs {
            assert_eq!(job.get_ref().expect.state, bitsim_engine::JobState::Acknowledged);
            // A drawn delay, or BITS's default.
            if let Some(delay) = job.get_ref().retry_delay {
                assert!((5..=60).contains(&delay.0.as_secs()), "seed {seed}: {delay:?}");
            }
        }
        for fault in &scenario.faults {
            let at = fault.get_ref().at.0;
            assert!(at >= CHAOS_START && at <= generated.chaos_end, "seed {seed}");
        }
        assert!(generated.chaos_end < scenario.deadline.0, "seed {seed}");
        assert!(scenario.random_faults.is_empty(), "seed {seed}: faults are explicit");
        if generated.rates.is_calm() {
            assert!(scenario.faults.is_empty(), "seed {seed}: a calm seed has no faults");
        }
    }
}

#[test]
fn the_swarm_covers_its_building_blocks() {
    let all: Vec<Generated> = (0..200).map(|seed| generate(seed).unwrap()).collect();
    let any = |test: &dyn Fn(&Scenario) -> bool| all.iter().any(|g| test(&g.scenario));
    assert!(any(&|s| s.links.is_empty()), "plain links");
    assert!(any(&|s| !s.links.is_empty()), "shaped links");
    assert!(any(&|s| !s.proxies.is_empty()), "proxies");
    assert!(any(&|s| s.proxies.iter().any(|p| p.get_ref().auth.is_some())), "proxy auth");
    assert!(any(&|s| s.servers.iter().any(|p| p.get_ref().auth.is_some())), "server auth");
    assert!(any(&|s| s.servers.len() == 2), "two servers");
    assert!(any(&|s| s.faults.is_empty()), "calm seeds");
    for kind in [
        FaultKind::LinkDrop,
        FaultKind::PowerLoss,
        FaultKind::ProcessRestart,
        FaultKind::LinkRate,
        FaultKind::Latency,
    ] {
        assert!(any(&|s| s.faults.iter().any(|f| f.get_ref().kind == kind)), "{kind:?}");
    }
}

#[test]
fn percentiles_name_the_median_the_ninetieth_and_the_maximum() {
    let values: Vec<f64> = (1..=11).map(f64::from).collect();
    assert_eq!(percentiles(&values, 0), "p50 6  p90 10  max 11");
    assert_eq!(percentiles(&[], 0), "no runs");
}
