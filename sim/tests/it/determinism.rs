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
