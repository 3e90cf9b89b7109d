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
fn network_loss_takes_a_duration_and_nothing_else() {
    let loss = GOOD.replace("kind = \"link-drop\"", "kind = \"network-loss\"");
    assert!(Scenario::parse(&loss, "x.toml").is_ok());
    let error = rejected(&loss.replace("duration = \"5s\"", "down = \"5s\""));
    assert!(error.message.contains("network-loss fault needs `duration`"), "{}", error.message);
    let error =
        rejected(&loss.replace("duration = \"5s\"", "duration = \"5s\"\nhost = \"origin\""));
    assert!(error.message.contains("network-loss fault has no `host`"), "{}", error.message);
}

#[test]
fn notify_flags_are_checked_and_cancelled_is_an_outcome_without_error() {
    let flags = GOOD.replace("retry_delay = \"5s\"", "retry_delay = \"5s\"\nnotify_flags = 0x10");
    let error = rejected(&flags);
    assert!(
        error.message.contains("jobs.notify_flags") && error.message.contains("0x10"),
        "{error}"
    );
    let cancelled = GOOD.replace("state = \"ACKNOWLEDGED\"", "state = \"CANCELLED\"");
    assert!(Scenario::parse(&cancelled, "x.toml").is_ok());
    let error =
        rejected(&cancelled.replace("\"CANCELLED\"", "\"CANCELLED\", error = \"0x80200002\""));
    assert!(error.message.contains("expects CANCELLED, which has no error"), "{error}");
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

#[test]
fn liveness_ends_the_chaos_phase_before_the_deadline_and_after_every_fault() {
    let two_phases = |after: &str| format!("{GOOD}\n[liveness]\nafter = \"{after}\"\n");
    let scenario = Scenario::parse(&two_phases("40s"), "x.toml").unwrap();
    assert_eq!(scenario.liveness_after(), Some(Duration::from_secs(40)));
    // The random power losses may come until 30 s.
    let error = rejected(&two_phases("20s"));
    assert_eq!(error.line, 24, "the [[random_faults]] table: {error}");
    assert!(
        error.message.starts_with("random_faults.window: 1s..30s ends after liveness.after 20s"),
        "{error}"
    );
    // The fixed link drop comes at 1 s: a fault at the end of the chaos phase has no place.
    let error =
        rejected(&two_phases("1s").replace("window = \"1s..30s\"", "window = \"500ms..1s\""));
    assert_eq!(error.line, 19, "the [[faults]] table: {error}");
    assert!(error.message.starts_with("faults.at: 1s is not before liveness.after 1s"), "{error}");
    assert!(error.to_string().starts_with("x.toml:19:"), "{error}");
    let error = rejected(&two_phases("2m"));
    assert_eq!(error.line, 30, "the [liveness] table: {error}");
    assert!(error.message.contains("liveness.after: 2m is not before the deadline 2m"), "{error}");
}

#[test]
fn faults_may_last_past_the_end_of_the_chaos_phase() {
    // The 5 s link drop from 1 s and the power losses of up to 2 s drawn until 2 s last past
    // 3 s: healing cuts them short.
    let text = format!("{GOOD}\n[liveness]\nafter = \"3s\"\n").replace("1s..30s", "1s..2s");
    let scenario = Scenario::parse(&text, "x.toml").unwrap();
    assert_eq!(scenario.liveness_after(), Some(Duration::from_secs(3)));
}

#[test]
fn the_longest_run_a_bound_allows_must_fit_the_simulator() {
    // A 1 GiB file at 1 bit/s: over 270 years of transfer.
    let text = format!("{GOOD}\n[liveness]\nafter = \"40s\"\n")
        .replace("size = \"1MiB\", changes = [{ at = \"3s\", size = 2000 }]", "size = \"1GiB\"")
        .replace("retry_delay = \"5s\"", "retry_delay = \"5s\"\nrate_limit = \"1bit\"");
    let error = rejected(&text);
    assert!(error.message.starts_with("liveness.after: the run may last until"), "{error}");
}
