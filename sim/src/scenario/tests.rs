//! Scenario files: a good one parses; every kind of mistake is an error naming the file, the
//! line and the field.

use super::*;

const GOOD: &str = r#"
description = "a download"
deadline = "2m"

[network]
latency = "5ms..20ms"

[[servers]]
name = "origin"
send_rate = "10Mbit"
files = [{ path = "/a.bin", size = "1MiB", changes = [{ at = "3s", size = 2000 }] }]

[[jobs]]
name = "update"
retry_delay = "5s"
files = [{ remote = "http://origin/a.bin", local = "/downloads/a.bin" }]
expect = { state = "ACKNOWLEDGED" }

[[faults]]
at = "1s"
kind = "link-drop"
duration = "5s"

[[random_faults]]
kind = "power-loss"
count = 2
window = "1s..30s"
down = "1s..2s"
"#;

fn rejected(text: &str) -> ScenarioError {
    Scenario::parse(text, "x.toml").expect_err("must be rejected")
}

#[test]
fn a_complete_scenario_parses() {
    let scenario = Scenario::parse(GOOD, "good.toml").unwrap();
    assert_eq!(scenario.deadline.0.as_secs(), 120);
    assert_eq!(scenario.network.latency.max.0.as_millis(), 20);
    let server = scenario.server("origin").unwrap();
    assert_eq!(server.files[0].size.0, 1 << 20);
    assert_eq!(server.send_rate.unwrap().bits_per_sec, 10_000_000);
    assert_eq!(scenario.jobs[0].get_ref().expect.state, JobState::Acknowledged);
    assert_eq!(scenario.faults[0].get_ref().kind, FaultKind::LinkDrop);
    assert_eq!(scenario.random_faults[0].get_ref().count, 2);
}

#[test]
fn unknown_fields_name_file_line_and_field() {
    let text = GOOD.replace("retry_delay = \"5s\"", "retry_dealy = \"5s\"");
    let error = rejected(&text);
    assert_eq!((error.path.as_str(), error.line), ("x.toml", 15));
    assert!(error.message.contains("retry_dealy"), "{}", error.message);
    assert!(error.to_string().starts_with("x.toml:15:"), "{error}");
}

#[test]
fn bad_units_are_located_at_the_value() {
    let error = rejected(&GOOD.replace("deadline = \"2m\"", "deadline = \"2 fortnights\""));
    assert_eq!(error.line, 3);
    assert!(error.message.contains("2 fortnights"), "{}", error.message);
}

#[test]
fn urls_must_point_at_declared_servers_and_files() {
    let error = rejected(&GOOD.replace("http://origin/a.bin", "http://orign/a.bin"));
    assert_eq!(error.line, 16);
    assert!(error.message.contains("`orign` is not a server"), "{}", error.message);
    let error = rejected(&GOOD.replace("http://origin/a.bin", "http://origin/b.bin"));
    assert!(error.message.contains("not a file of server"), "{}", error.message);
    let error = rejected(&GOOD.replace("http://origin/a.bin", "https://origin/a.bin"));
    assert!(error.message.contains("scheme"), "{}", error.message);
}

#[test]
fn faults_take_only_their_own_fields() {
    let error = rejected(&GOOD.replace("duration = \"5s\"", "down = \"5s\""));
    assert!(error.message.contains("link-drop fault needs `duration`"), "{}", error.message);
    assert_eq!(error.line, 19, "the fault's table");
    let error = rejected(&GOOD.replace("kind = \"link-drop\"", "kind = \"meteor\""));
    assert!(error.message.contains("meteor"), "{}", error.message);
    let error = rejected(&GOOD.replace("at = \"1s\"", "at = \"3m\""));
    assert!(error.message.contains("before the deadline"), "{}", error.message);
}

#[test]
fn expectations_must_be_outcomes() {
    let error = rejected(&GOOD.replace("state = \"ACKNOWLEDGED\"", "state = \"QUEUED\""));
    assert!(error.message.contains("not an outcome"), "{}", error.message);
    let error =
        rejected(&GOOD.replace("state = \"ACKNOWLEDGED\"", "state = \"ERROR\", error = \"0xZZ\""));
    assert!(error.message.contains("hexadecimal"), "{}", error.message);
}

#[test]
fn every_shipped_scenario_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            Scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
            count += 1;
        }
    }
    assert!(count >= 9, "only {count} scenarios shipped");
}
