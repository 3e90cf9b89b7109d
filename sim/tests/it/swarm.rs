//! Swarm testing end to end: the printed scenario of a seed is the one the swarm ran (same
//! trace hash); a deliberately broken engine is found by the swarm, its failure artifact
//! replays, the shrinker cuts it down to at most two faults, and the shrunk artifact replays
//! with the same trace hash.

use std::path::{Path, PathBuf};
use std::process::Command;

use bitsim::artifact::Artifact;
use bitsim::gate::Options;
use bitsim::report::run_and_judge;
use bitsim::scenario::Scenario;
use bitsim::shrink::{self, Target};
use bitsim::swarm;
use bitsim_engine::core::defect::{Defect, Defects};

use crate::support::root;

/// A directory of its own under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("bitsim-swarm-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn options(defects: Defects) -> Options {
    Options { defects, workers: 2, check_determinism: false }
}

#[test]
fn the_printed_scenario_is_the_one_the_swarm_ran() {
    let dir = TempDir::new("print");
    let run = swarm::run(0..4, &options(Defects::default()), |_| {}).unwrap();
    assert!(run.result.passed(), "{}", run.summary());
    for (generated, report) in run.generated.iter().zip(&run.result.reports) {
        let path = dir.0.join(swarm::label(generated.seed));
        std::fs::write(&path, &generated.text).unwrap();
        let loaded = Scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
        let again = run_and_judge(&loaded, "printed", generated.seed, Defects::default());
        assert_eq!(
            again.outcome.trace.hash(),
            report.outcome.trace.hash(),
            "seed {}",
            generated.seed
        );
    }
}

#[test]
fn the_command_prints_what_bitsim_run_replays() {
    let dir = TempDir::new("cli");
    let bitsim = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_bitsim"))
            .current_dir(root())
            .args(args)
            .output()
            .expect("bitsim runs");
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let (code, printed) = bitsim(&["swarm", "--seeds", "5", "--print"]);
    assert_eq!(code, Some(0));
    assert_eq!(printed, swarm::generate(5).unwrap().text);
    let file = dir.0.join("swarm-seed5.toml");
    std::fs::write(&file, &printed).unwrap();
    let (code, ran) = bitsim(&["run", file.to_str().unwrap(), "--seed", "5"]);
    assert_eq!(code, Some(0), "{ran}");
    let generated = swarm::generate(5).unwrap();
    let report = run_and_judge(&generated.scenario, "s", 5, Defects::default());
    assert!(ran.contains(&format!("fnv64 {:016x}", report.outcome.trace.hash())), "{ran}");
    let (code, summary) =
        bitsim(&["swarm", "--seeds", "5..7", "--artifacts", dir.0.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{summary}");
    assert!(summary.contains("2 runs, 2 passed, 0 failed"), "{summary}");
}

#[test]
fn shrink_refuses_a_scenario_that_is_not_an_artifact() {
    let output = Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .current_dir(root())
        .args(["shrink", "scenarios/clean-download.toml"])
        .output()
        .expect("bitsim runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("scenarios/clean-download.toml is a scenario, not a failure artifact"),
        "{stderr}"
    );
}

/// Seeds the swarm searches for the deliberate bug: the first seeds whose faults interrupt a
/// transfer, so that the engine resumes (and resumes one byte late).
const DEFECT_SEEDS: std::ops::Range<u64> = 0..16;
/// Runs the shrink may spend in this test.
const SHRINK_BUDGET: u32 = 120;

#[test]
fn a_deliberate_bug_is_found_shrunk_and_replayed_from_its_artifacts() {
    let dir = TempDir::new("defect");
    let defect = Defect::ResumeOneByteLate;
    let defects = Defects::default().with(defect);
    let names = [defect.name().to_owned()];
    let run = swarm::run(DEFECT_SEEDS, &options(defects), |_| {}).unwrap();
    let written = run.write_artifacts(&dir.0, &names).unwrap();
    // The stormiest failing seed, so that the shrink has faults to remove.
    let faults =
        |seed: u64| run.generated[(seed - DEFECT_SEEDS.start) as usize].scenario.faults.len();
    let (report, path) = run
        .result
        .failures()
        .zip(&written)
        .max_by_key(|(report, _)| faults(report.seed))
        .expect("the swarm finds the bug");
    assert!(report.failure_names().contains(&"exact-offset"), "{:?}", report.failure_names());
    let artifact = read_artifact(path);
    assert_eq!(artifact.defects, names);
    let scenario = Scenario::parse(&artifact.scenario, "artifact").unwrap();
    let replayed = run_and_judge(&scenario, &artifact.scenario_path, artifact.seed, defects);
    assert!(artifact.reproduced_by(&replayed), "the swarm's artifact replays its failure");

    let target = Target { seed: artifact.seed, defects, failed: artifact.failed };
    let shrunk = shrink::shrink(&scenario, "shrunk.toml", &target, SHRINK_BUDGET, |_, _| {})
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(shrunk.before.faults > 2, "{:?}", shrunk.before);
    assert!(shrunk.after.faults <= 2, "{:?}: {:?}", shrunk.after, shrunk.kept);
    let out = dir.0.join("shrunk.toml");
    let text = shrink::render(&shrunk, &path.display().to_string(), &target);
    std::fs::write(&out, Artifact::new(&shrunk.report, &text, &names, &out).to_toml()).unwrap();
    let written = read_artifact(&out);
    let scenario = Scenario::parse(&written.scenario, "shrunk artifact").unwrap();
    let replayed = run_and_judge(&scenario, &written.scenario_path, written.seed, defects);
    assert!(
        written.reproduced_by(&replayed),
        "the shrunk artifact replays with the same trace hash"
    );
    assert!(replayed.failure_names().contains(&"exact-offset"));
    let healthy = run_and_judge(&scenario, "healthy", written.seed, Defects::default());
    assert!(
        healthy.passed(),
        "the shrunk scenario fails because of the bug: {:?}",
        healthy.violations
    );
}

fn read_artifact(path: &Path) -> Artifact {
    let text = std::fs::read_to_string(path).unwrap();
    Artifact::parse(&text, "artifact").unwrap().expect("an artifact")
}
