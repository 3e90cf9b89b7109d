//! Two-phase runs: the heal undoes every fault still in force, the run goes on until the
//! liveness bound ends, and the `liveness` oracle catches a background transfer that a healed
//! fault leaves crawling.

use std::time::Duration;

use bitsim::oracle::Oracle;
use bitsim::report::{Report, run_and_judge};
use bitsim::scenario::Scenario;
use bitsim::trace::{SimEvent, TraceEvent};
use bitsim_engine::Event;
use bitsim_engine::core::defect::Defects;

fn judge(text: &str, seed: u64) -> Report {
    let scenario = Scenario::parse(text, "liveness.toml").unwrap_or_else(|error| panic!("{error}"));
    run_and_judge(&scenario, "liveness.toml", seed, Defects::default())
}

fn failed(report: &Report) -> Vec<Oracle> {
    let mut oracles: Vec<Oracle> = report.violations.iter().map(|v| v.oracle).collect();
    oracles.dedup();
    oracles
}

/// 3 MB in the foreground over a clean 1 Mbit/s line: about 24 s, past the 20 s deadline
/// but well within the liveness bound that starts at 10 s.
const SLOW_CLEAN: &str = r#"
description = "a download that outlasts its deadline but not its liveness bound"
deadline = "20s"

[[links]]
between = ["engine", "*"]
down = "1Mbit"
up = "1Mbit"
latency = "10ms"

[[servers]]
name = "origin"
files = [{ path = "/f.bin", size = "3MB" }]

[[jobs]]
name = "job"
priority = "foreground"
retry_delay = "5s"
files = [{ remote = "http://origin/f.bin", local = "/d/f.bin" }]
expect = { state = "ACKNOWLEDGED" }

[liveness]
after = "10s"
"#;

#[test]
fn a_run_goes_on_past_its_deadline_while_the_liveness_bound_lasts() {
    let report = judge(SLOW_CLEAN, 1);
    let outcome = &report.outcome;
    assert!(outcome.settled, "{:?}", report.violations);
    assert!(outcome.end > Duration::from_secs(20) && outcome.end < Duration::from_secs(40));
    assert_eq!(failed(&report), [Oracle::Deadline], "{:?}", report.violations);
    assert!(report.violations[0].detail.contains("settled only at"), "{:?}", report.violations);
}

#[test]
fn the_heal_powers_on_a_host_and_restores_a_plain_links_latency() {
    // No shaped link: the server paces, and a latency fault sets turmoil's latency.
    let links = SLOW_CLEAN.find("[[links]]").unwrap()..SLOW_CLEAN.find("[[servers]]").unwrap();
    let mut text = SLOW_CLEAN.to_owned();
    text.replace_range(links, "");
    let text = text.replace("deadline = \"20s\"", "deadline = \"2m\"");
    let text = text.replace("name = \"origin\"", "name = \"origin\"\nsend_rate = \"1Mbit\"")
        + "\n[[faults]]\nat = \"2s\"\nkind = \"power-loss\"\ndown = \"10m\"\n\n\
           [[faults]]\nat = \"3s\"\nkind = \"latency\"\nlatency = \"300ms\"\n";
    let report = judge(&text, 1);
    assert_eq!(report.violations, vec![]);
    let entries = &report.outcome.trace.entries;
    let heal = entries
        .iter()
        .find_map(|entry| match &entry.event {
            TraceEvent::Sim(SimEvent::Healed { restored, powered_on, .. }) => {
                Some((entry.t_us, restored.clone(), powered_on.clone()))
            }
            _ => None,
        })
        .expect("healed");
    assert_eq!(heal, (10_000_000, vec!["engine<->origin".to_owned()], vec!["engine".to_owned()]));
    let boots: Vec<u64> = entries
        .iter()
        .filter(|e| {
            e.host == "engine" && matches!(e.event, TraceEvent::Sim(SimEvent::Booted { .. }))
        })
        .map(|e| e.t_us)
        .collect();
    assert_eq!(boots, [0, 10_000_000], "the engine boots again at the heal, not after 10 min");
    // Requests after the heal are answered in a 10 ms round trip again, not in 600 ms.
    let after_heal = entries.iter().filter(|entry| entry.t_us >= 10_000_000);
    let exchange: Vec<u64> = after_heal
        .filter(|entry| {
            matches!(
                entry.event,
                TraceEvent::Engine(Event::Request { .. } | Event::Response { .. })
            )
        })
        .map(|entry| entry.t_us)
        .take(2)
        .collect();
    assert!(exchange[1] - exchange[0] < 100_000, "{exchange:?}");
}

/// A background download on a satellite line (300 ms each way). During the chaos phase a
/// latency fault gives the line a 20 ms shortcut; the heal takes it away again.
const SHORTCUT_TAKEN_AWAY: &str = r#"
description = "the background controller after a healed latency shortcut"
deadline = "30m"

[[links]]
between = ["engine", "*"]
profile = "satellite"

[[servers]]
name = "origin"
files = [{ path = "/update.bin", size = "3MB" }]

[[jobs]]
name = "update"
retry_delay = "5s"
files = [{ remote = "http://origin/update.bin", local = "/downloads/update.bin" }]
expect = { state = "ACKNOWLEDGED" }

[[faults]]
at = "2s"
kind = "latency"
latency = "20ms"

[liveness]
after = "10s"
"#;

/// A genuine liveness failure of the engine, which the oracle catches: the delay-based
/// controller keeps the least round trip of the last ten minutes as its base delay
/// (`core::ledbat::BASE_HISTORY`; in RFC 6817 a lower base is adopted at once, a higher one
/// only after BASE_HISTORY minutes: `../shared/design/peers.md` §C1). Once the shortcut is
/// gone it reads the 560 ms the route grew by as a standing queue of its own and holds the
/// transfer at its 2 kbit/s floor until the shortcut's minutes age out: a 3 MB download that
/// takes under a minute on this line takes over ten. Should the engine learn to tell a longer
/// route from a queue, this test fails: make the scenario a passing one.
#[test]
fn liveness_catches_the_controller_stuck_on_a_healed_shortcut() {
    let report = judge(SHORTCUT_TAKEN_AWAY, 1);
    assert_eq!(failed(&report), [Oracle::Liveness], "{:?}", report.violations);
    let detail = &report.violations[0].detail;
    assert!(detail.starts_with("`update` is TRANSFERRING, not ACKNOWLEDGED"), "{detail}");
    assert!(report.outcome.settled, "it does finish, after the base delay ages out");
    assert!(report.outcome.end > Duration::from_secs(600), "{:?}", report.outcome.end);
    // The same download without the shortcut passes.
    let straight = SHORTCUT_TAKEN_AWAY.replace("latency = \"20ms\"", "latency = \"300ms\"");
    let report = judge(&straight, 1);
    assert_eq!(report.violations, vec![]);
    assert!(report.outcome.end < Duration::from_secs(60), "{:?}", report.outcome.end);
}
