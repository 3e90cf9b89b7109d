//! Same scenario and seed: the same trace, byte for byte, in one process and in two. Another
//! seed of a scenario with random faults: another trace.

use std::process::Command;

use bitsim::world::{RunConfig, run};

use crate::support::{root, scenario};

#[test]
fn the_same_seed_gives_the_same_trace_and_another_seed_another() {
    let (_, scenario) = scenario("random-link-drops");
    let trace = |seed| run(&scenario, &RunConfig { seed, ..RunConfig::default() }).trace;
    let first = trace(7);
    assert_eq!(first.jsonl(), trace(7).jsonl());
    assert_ne!(first.hash(), trace(8).hash());
}

#[test]
fn two_processes_write_byte_identical_trace_files() {
    let dir = std::env::temp_dir().join(format!("bitsim-determinism-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write_trace = |name: &str| {
        let file = dir.join(name);
        let status = Command::new(env!("CARGO_BIN_EXE_bitsim"))
            .current_dir(root())
            .args(["run", "scenarios/reboot-resume.toml", "--seed", "11", "--trace"])
            .arg(&file)
            .output()
            .expect("bitsim runs");
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stdout));
        std::fs::read(&file).unwrap()
    };
    let (first, second) = (write_trace("first.jsonl"), write_trace("second.jsonl"));
    std::fs::remove_dir_all(&dir).ok();
    assert!(!first.is_empty());
    assert!(first == second, "traces of two processes differ");
}

/// Shaped links draw jitter from the seed and carry cross traffic: the same seed gives the
/// same trace and the same account of the links; another seed other jitter, another trace.
#[test]
fn shaped_links_with_jitter_and_cross_traffic_replay_exactly() {
    let text = r#"
description = "determinism of the link model"
deadline = "2m"
[[links]]
between = ["engine", "*"]
profile = "dsl"
jitter = "5ms"
[[servers]]
name = "origin"
files = [{ path = "/f.bin", size = "2MB" }]
[[jobs]]
name = "job"
retry_delay = "5s"
files = [{ remote = "http://origin/f.bin", local = "/d/f.bin" }]
expect = { state = "ACKNOWLEDGED" }
[[cross_traffic]]
at = "2s"
duration = "3s"
"#;
    let scenario = bitsim::scenario::Scenario::parse(text, "jitter.toml").unwrap();
    let outcome = |seed| run(&scenario, &RunConfig { seed, ..RunConfig::default() });
    let (first, again) = (outcome(3), outcome(3));
    assert_eq!(first.trace.jsonl(), again.trace.jsonl());
    assert!(first.net == again.net, "the links' account differs between two runs");
    assert!(!first.net.links.is_empty());
    // Content differs between seeds anyway; the links' timing differs only through jitter.
    assert!(first.net != outcome(4).net, "another seed drew the same jitter");
    let still =
        bitsim::scenario::Scenario::parse(&text.replace("5ms", "0ms"), "still.toml").unwrap();
    let still_net = |seed| run(&still, &RunConfig { seed, ..RunConfig::default() }).net;
    assert!(still_net(3) == still_net(4), "without jitter the seed must not move the links");
}

#[test]
fn a_rerun_with_another_trace_fails_the_determinism_check() {
    let (path, scenario) = scenario("clean-download");
    let mut report = bitsim::report::run_and_judge(&scenario, &path, 2, Default::default());
    let hash = report.outcome.trace.hash();
    report.rerun_hash = Some(hash);
    assert!(report.passed());
    report.rerun_hash = Some(hash ^ 1);
    assert!(!report.passed());
    assert_eq!(report.failure_names(), vec!["determinism"]);
}
