use super::steps::{self, Step};
use super::*;

/// Two jobs, three link drops, two servers; `job2` wrongly expects a 404, so the run fails
/// `expected-outcome` whatever the faults do.
const WRONG_EXPECTATION: &str = r#"
description = "job2 expects an error it never gets"
deadline = "4m"

[[servers]]
name = "origin"
send_rate = "4Mbit"
files = [{ path = "/a.bin", size = "512KiB" }, { path = "/b.bin", size = "256KiB" }]

[[servers]]
name = "mirror"
send_rate = "4Mbit"
files = [{ path = "/c.bin", size = "300KB" }]

[[jobs]]
name = "job1"
retry_delay = "5s"
files = [{ remote = "http://origin/a.bin", local = "/d/a.bin" }, { remote = "http://mirror/c.bin", local = "/d/c.bin" }]
expect = { state = "ACKNOWLEDGED" }

[[jobs]]
name = "job2"
retry_delay = "5s"
start_at = "2s"
files = [{ remote = "http://origin/b.bin", local = "/d/b.bin" }]
expect = { state = "ERROR", error = "0x80190194" }

[[faults]]
at = "1s"
kind = "link-drop"
duration = "2s"

[[faults]]
at = "3s"
kind = "link-drop"
between = ["engine", "mirror"]
duration = "1s"

[[faults]]
at = "4s"
kind = "process-restart"
"#;

fn target(failed: &[&str]) -> Target {
    Target {
        seed: 3,
        defects: Defects::default(),
        failed: failed.iter().map(|name| (*name).to_owned()).collect(),
    }
}

#[test]
fn the_rule_keeps_a_non_empty_subset_of_the_original_failures() {
    let original = ["exact-offset".to_owned(), "integrity".to_owned()];
    assert!(keeps(&original, &["exact-offset"]));
    assert!(keeps(&original, &["integrity", "exact-offset"]));
    assert!(!keeps(&original, &[]), "a passing run lost the failure");
    assert!(!keeps(&original, &["exact-offset", "deadline"]), "a new failure is not a reduction");
}

#[test]
fn a_wrong_expectation_shrinks_to_one_job_one_file_and_no_faults() {
    let scenario = Scenario::parse(WRONG_EXPECTATION, "wrong.toml").unwrap();
    let before = Measure::of(&scenario);
    assert_eq!((before.faults, before.jobs, before.files), (3, 2, 3));
    let shrunk = shrink(&scenario, "wrong.toml", &target(&["expected-outcome"]), 200, |_, _| {})
        .unwrap_or_else(|error| panic!("{error}"));
    let after = shrunk.after;
    assert_eq!((after.faults, after.jobs, after.files), (0, 1, 1), "{:?}", shrunk.kept);
    assert!(after.bytes <= 2 * steps::SIZE_MIN, "{after:?}");
    assert!(after.deadline < before.deadline);
    assert_eq!(shrunk.report.failure_names(), ["expected-outcome"]);
    assert_eq!(shrunk.scenario.servers.len(), 1, "the server nobody uses is gone");
    assert!(!shrunk.exhausted);
    let text = render(&shrunk, "wrong.toml", &target(&["expected-outcome"]));
    let replayed = Scenario::parse(&text, "shrunk.toml").unwrap();
    let again = run_and_judge(&replayed, "shrunk.toml", 3, Defects::default());
    assert_eq!(again.outcome.trace.hash(), shrunk.report.outcome.trace.hash());
}

#[test]
fn a_scenario_that_does_not_fail_is_refused() {
    let passing = WRONG_EXPECTATION.replace(
        r#"expect = { state = "ERROR", error = "0x80190194" }"#,
        r#"expect = { state = "ACKNOWLEDGED" }"#,
    );
    let scenario = Scenario::parse(&passing, "passing.toml").unwrap();
    let error = shrink(&scenario, "p", &target(&["expected-outcome"]), 10, |_, _| {}).unwrap_err();
    assert!(error.contains("does not fail as recorded"), "{error}");
}

#[test]
fn the_budget_bounds_the_runs() {
    let scenario = Scenario::parse(WRONG_EXPECTATION, "wrong.toml").unwrap();
    let shrunk = shrink(&scenario, "w", &target(&["expected-outcome"]), 3, |_, _| {}).unwrap();
    assert_eq!(shrunk.runs, 3);
    assert!(shrunk.exhausted);
}

#[test]
fn dropping_unused_hosts_takes_their_faults_with_them() {
    let mut scenario = Scenario::parse(WRONG_EXPECTATION, "wrong.toml").unwrap();
    scenario.jobs[0].get_mut().files.pop();
    let dropped = Step::DropUnused.apply(&scenario, 0).unwrap();
    assert_eq!(dropped.server_names().collect::<Vec<_>>(), ["origin"]);
    assert_eq!(dropped.faults.len(), 2, "the drop between engine and mirror went with mirror");
    assert!(Scenario::parse(&to_toml(&dropped), "d").is_ok());
}

#[test]
fn halvings_stop_at_their_floors() {
    let mut scenario = Scenario::parse(WRONG_EXPECTATION, "wrong.toml").unwrap();
    scenario.servers[0].get_mut().files[0].size.0 = 1024;
    assert!(Step::HalveSize.apply(&scenario, 0).is_none());
    assert!(Step::HalveSize.apply(&scenario, 1).is_some());
    assert_eq!(Step::RemoveJob.count(&scenario), 2);
    scenario.jobs.pop();
    assert_eq!(Step::RemoveJob.count(&scenario), 0, "the last job stays");
}
