//! The `bitsim` binary: exit code 0 when every oracle holds, 1 when one fails (naming it and
//! printing the replay line), 2 for bad input (naming file, line and field).

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::support::root;

fn bitsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bitsim"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("bitsim runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A scenario file in a temporary directory, deleted on drop.
struct TempScenario(PathBuf);

impl TempScenario {
    fn new(name: &str, contents: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("bitsim-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempScenario {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

fn clean_download_expecting(expect: &str) -> String {
    let text = std::fs::read_to_string(root().join("scenarios/clean-download.toml")).unwrap();
    text.replace(r#"expect = { state = "ACKNOWLEDGED" }"#, expect)
}

#[test]
fn a_passing_run_exits_0_with_the_replay_line() {
    let output = bitsim(&["run", "scenarios/clean-download.toml", "--seed", "4"]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("PASS: all 23 oracles hold"), "{stdout}");
    assert!(
        stdout.contains("replay    bitsim run scenarios/clean-download.toml --seed 4"),
        "{stdout}"
    );
}

#[test]
fn a_failing_run_exits_1_naming_the_oracle() {
    let file = TempScenario::new(
        "wrong-expectation.toml",
        &clean_download_expecting(r#"expect = { state = "ERROR" }"#),
    );
    let output = bitsim(&["run", file.path(), "--seed", "2"]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL: expected-outcome"), "{stdout}");
    assert!(stdout.contains(&format!("bitsim run {} --seed 2", file.path())), "{stdout}");
}

#[test]
fn a_malformed_scenario_exits_2_naming_file_line_and_field() {
    let contents = clean_download_expecting(r#"expect = { state = "ACKNOWLEDGED", eror = "x" }"#);
    let line = contents.lines().position(|line| line.contains("eror")).unwrap() + 1;
    let file = TempScenario::new("typo.toml", &contents);
    let output = bitsim(&["run", file.path()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{}:{line}:", file.path())), "{stderr}");
    assert!(stderr.contains("unknown field `eror`"), "{stderr}");
}

#[test]
fn the_gate_exits_1_and_lists_one_replay_line_per_failure() {
    let file = TempScenario::new(
        "gate-failure.toml",
        &clean_download_expecting(r#"expect = { state = "ERROR" }"#),
    );
    let output = bitsim(&["gate", file.path(), "scenarios/clean-download.toml", "--seeds", "3..5"]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for seed in [3, 4] {
        assert!(
            stdout.contains(&format!(
                "FAIL [expected-outcome] bitsim run {} --seed {seed}",
                file.path()
            )),
            "{stdout}"
        );
    }
    assert!(
        !stdout.contains("FAIL [expected-outcome] bitsim run scenarios/clean-download.toml"),
        "{stdout}"
    );
    assert!(stdout.contains("4 runs, 2 passed, 2 failed"), "{stdout}");
}

#[test]
fn unknown_seeds_syntax_is_bad_input() {
    let output = bitsim(&["gate", "--seeds", "ten"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn gate_writes_junit_with_one_case_per_pair_and_json() {
    let failing = TempScenario::new(
        "junit-fails.toml",
        &clean_download_expecting(r#"expect = { state = "ERROR", error = "0x80190194" }"#),
    );
    let dir = std::env::temp_dir().join(format!("bitsim-junit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (junit, json) = (dir.join("gate.xml"), dir.join("gate.json"));
    let output = bitsim(&[
        "gate",
        "scenarios/clean-download.toml",
        failing.path(),
        "--seeds",
        "0..3",
        "--check-determinism",
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let xml = std::fs::read_to_string(&junit).unwrap();
    let document =
        roxmltree::Document::parse(&xml).unwrap_or_else(|error| panic!("{error}: {xml}"));
    let cases: Vec<_> =
        document.descendants().filter(|node| node.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), 6, "{xml}");
    let failures = document.descendants().filter(|node| node.has_tag_name("failure")).count();
    assert_eq!(failures, 3, "{xml}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!((report["runs"].as_u64(), report["failed"].as_u64()), (Some(6), Some(3)));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_failing_gate_run_leaves_an_artifact_that_replays_the_same_failure() {
    let failing = TempScenario::new(
        "artifact-fails.toml",
        &clean_download_expecting(r#"expect = { state = "ERROR", error = "0x80190194" }"#),
    );
    let dir = std::env::temp_dir().join(format!("bitsim-artifacts-{}", std::process::id()));
    let output =
        bitsim(&["gate", failing.path(), "--seeds", "3", "--artifacts", dir.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let artifact = dir.join("artifact-fails-seed3.toml");
    assert!(stdout.contains(&format!("ARTIFACT bitsim run {}", artifact.display())), "{stdout}");
    // The artifact is self-contained: the scenario file is gone, the replay still works.
    drop(failing);
    let replay = bitsim(&["run", artifact.to_str().unwrap()]);
    let replayed = text(&replay.stdout);
    assert_eq!(replay.status.code(), Some(1), "{replayed}");
    assert!(replayed.contains("artifact  reproduced: [expected-outcome]"), "{replayed}");
    std::fs::remove_dir_all(&dir).ok();
}
