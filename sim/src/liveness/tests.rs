//! The bound, part by part, on scenarios small enough to work out by hand.

use std::time::Duration;

use bitsim_engine::core::resume::RestartReason;
use bitsim_engine::core::state::Trigger;
use bitsim_engine::{Event, JobId, JobState};

use super::*;
use crate::trace::{TraceEntry, TraceEvent};

/// One foreground job of 1 MB over a 1 Mbit/s link with 50 ms each way and a 100 ms queue:
/// a round trip of 2 x (50 + 100) ms.
const BASE: &str = r#"
description = "bound fixture"
deadline = "10m"

[engine]
connect_timeout = "15s"
send_timeout = "20s"
receive_timeout = "10s"

[[links]]
between = ["engine", "*"]
down = "1Mbit"
up = "1Mbit"
latency = "50ms"
queue = "12500B"

[[servers]]
name = "origin"
files = [{ path = "/a.bin", size = "1MB" }]

[[jobs]]
name = "a"
priority = "foreground"
retry_delay = "5s"
files = [{ remote = "http://origin/a.bin", local = "/d/a.bin" }]
expect = { state = "ACKNOWLEDGED" }

[liveness]
after = "30s"
"#;

const AFTER: Duration = Duration::from_secs(30);
const SECOND: Duration = Duration::from_secs(1);

fn scenario(text: &str) -> Scenario {
    Scenario::parse(text, "bound.toml").unwrap_or_else(|error| panic!("{error}"))
}

fn open(durable: &[u64]) -> JobProgress {
    JobProgress::Open { durable: durable.to_vec() }
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[test]
fn each_part_of_a_foreground_download_is_as_worked_out_by_hand() {
    let bound = bound(&scenario(BASE), AFTER, &[open(&[])]);
    // 8 Mbit at 1 Mbit/s.
    assert_eq!((bound.bytes, bound.rate_bps, bound.transfer), (1_000_000, 1_000_000, 8 * SECOND));
    // The 20 s send timeout (the longest), again for a pooled connection, the 5 s retry delay.
    assert_eq!(bound.timers, 45 * SECOND);
    // One file's attempt and the job's retry, 10 round trips each, of 300 ms.
    assert_eq!((bound.round_trip_count, bound.round_trips), (20, 6 * SECOND));
    assert_eq!((bound.waits, bound.slack), (Duration::ZERO, SLACK));
    assert_eq!(bound.total(), 64 * SECOND);
    let text = bound.to_string();
    assert!(text.starts_with("64.000s = transfer 8.000s (1000000 bytes, slowest 1000000 bit/s)"));
}

#[test]
fn durable_bytes_are_not_moved_again_and_settled_jobs_cost_nothing() {
    let scenario = scenario(BASE);
    let bound = bound(&scenario, AFTER, &[open(&[400_000])]);
    assert_eq!((bound.bytes, bound.transfer), (600_000, ms(4800)));
    let transferred = bound_of(&scenario, open(&[u64::MAX]));
    assert_eq!((transferred.bytes, transferred.round_trip_count), (0, 10), "only the retry");
    let settled = bound_of(&scenario, JobProgress::Settled);
    assert_eq!(settled, Bound { slack: SLACK, ..Bound::default() });
}

fn bound_of(scenario: &Scenario, progress: JobProgress) -> Bound {
    bound(scenario, AFTER, &[progress])
}

#[test]
fn background_jobs_get_a_share_of_the_link_then_their_caps() {
    let background = BASE.replace("priority = \"foreground\"", "priority = \"normal\"");
    let rate = |text: &str| bound(&scenario(text), AFTER, &[open(&[])]).rate_bps;
    assert_eq!(rate(&background), 300_000, "30 % of the link");
    let paced =
        background.replace("name = \"origin\"", "name = \"origin\"\nsend_rate = \"800kbit\"");
    assert_eq!(rate(&paced), 240_000, "30 % of the server's pace");
    let capped =
        paced.replace("retry_delay = \"5s\"", "retry_delay = \"5s\"\nrate_limit = \"500kbit\"");
    assert_eq!(rate(&capped), 240_000, "a cap above the share changes nothing");
    let policy = "[engine.throttle]\nfrom_hour = 8\nto_hour = 17\nin_window = \"100kbit\"\n";
    let throttled = format!("{capped}\n{policy}");
    assert_eq!(rate(&throttled), 100_000, "the policy's limit, below the share");
    let tiny = capped.replace("rate_limit = \"500kbit\"", "rate_limit = \"1kbit\"");
    assert_eq!(rate(&tiny), 1_000, "the cap, below even the controller's floor");
    let slow = background.replace("down = \"1Mbit\"", "down = \"5kbit\"");
    assert_eq!(rate(&slow), 2_000, "the controller's floor");
    let full_speed = background.replace("[engine]", "[engine]\nbackground_full_speed = true");
    assert_eq!(rate(&full_speed), 1_000_000, "no controller: the whole link");
    let foreground = format!("{BASE}\n{policy}");
    assert_eq!(rate(&foreground), 1_000_000, "the policy does not hold foreground jobs");
}

#[test]
fn an_unshaped_path_counts_at_the_nominal_rate_and_the_scenario_latency() {
    let start = BASE.find("[[links]]").unwrap();
    let end = BASE.find("[[servers]]").unwrap();
    let unshaped =
        format!("{}[network]\nlatency = \"5ms..20ms\"\n\n{}", &BASE[..start], &BASE[end..]);
    let bound = bound(&scenario(&unshaped), AFTER, &[open(&[])]);
    assert_eq!(bound.rate_bps, UNSHAPED_RATE_BPS);
    assert_eq!(bound.round_trips, 20 * ms(40), "20 round trips of twice the longest latency");
}

#[test]
fn a_proxy_route_counts_both_legs_and_the_slowest_route() {
    let proxied = BASE.replace(
        "[[servers]]",
        "[[proxies]]\nname = \"proxy\"\n\n[[links]]\nbetween = [\"proxy\", \"origin\"]\ndown = \"200kbit\"\nup = \"1Mbit\"\nlatency = \"100ms\"\nqueue = \"2500B\"\n\n[[servers]]",
    );
    let bound = bound(&scenario(&proxied), AFTER, &[open(&[])]);
    // origin -> proxy is the second link's down direction: 200 kbit/s.
    assert_eq!(bound.rate_bps, 200_000);
    // (100 ms + 100 ms of queue) to the proxy, then (50 + 100) ms to the engine, twice.
    assert_eq!(bound.round_trips, 20 * ms(700));
}

#[test]
fn equal_priority_background_jobs_pay_for_every_switch_of_turns() {
    let two = BASE
        .replace("priority = \"foreground\"", "priority = \"normal\"")
        .replace("[engine]", "[engine]\ntime_slice = \"10s\"")
        .replace(
            "{ path = \"/a.bin\", size = \"1MB\" }",
            "{ path = \"/a.bin\", size = \"1MB\" }, { path = \"/b.bin\", size = \"1MB\" }",
        )
        .replace(
            "[liveness]",
            "[[jobs]]\nname = \"b\"\nfiles = [{ remote = \"http://origin/b.bin\", local = \"/d/b.bin\" }]\nexpect = { state = \"ACKNOWLEDGED\" }\n\n[liveness]",
        );
    let bound = bound(&scenario(&two), AFTER, &[open(&[]), open(&[])]);
    // Each 8 Mbit at 300 kbit/s: 53.3 s in all, so 6 slices, plus one switch per job.
    assert_eq!(bound.transfer.as_millis(), 53_333);
    assert_eq!(bound.round_trip_count, (2 + 2 + 6 + 2) * ROUND_TRIPS_PER_ATTEMPT);
    // Job b keeps BITS's default retry delay of 600 s.
    assert_eq!(bound.timers, 20 * SECOND + 20 * SECOND + RETRY_DELAY_DEFAULT);
}

#[test]
fn a_changing_file_counts_whole_for_the_version_at_the_heal_and_every_later_one() {
    let changing = BASE.replace(
        "size = \"1MB\" }",
        "size = \"1MB\", changes = [{ at = \"10s\", size = \"2MB\" }, { at = \"60s\", size = \"3MB\" }] }",
    );
    let bound = bound(&scenario(&changing), AFTER, &[open(&[500_000])]);
    assert_eq!(bound.bytes, 5_000_000);
}

#[test]
fn later_jobs_cross_traffic_and_a_blocking_policy_are_waited_for() {
    let waiting = BASE
        .replace("priority = \"foreground\"", "priority = \"low\"\nstart_at = \"50s\"")
        .replace(
            "[liveness]",
            "[[cross_traffic]]\nat = \"20s\"\nduration = \"30s\"\n\n[engine.throttle]\nfrom_hour = 8\nto_hour = 17\nin_window = \"0\"\n\n[liveness]",
        );
    let bound = bound(&scenario(&waiting), AFTER, &[open(&[])]);
    // 20 s until the job is created, 20 s of cross traffic after the heal, 9 blocked hours.
    assert_eq!(bound.waits, 40 * SECOND + Duration::from_secs(9 * 3600));
}

#[test]
fn redirects_lead_to_the_file_they_serve() {
    let redirected = BASE
        .replace("http://origin/a.bin", "http://origin/old.bin")
        .replace(
            "files = [{ path = \"/a.bin\"",
            "redirects = [{ path = \"/old.bin\", to = \"http://mirror/a.bin\" }]\nfiles = [{ path = \"/x.bin\"",
        )
        .replace(
            "[[jobs]]",
            "[[servers]]\nname = \"mirror\"\nsend_rate = \"500kbit\"\nfiles = [{ path = \"/a.bin\", size = \"2MB\" }]\n\n[[jobs]]",
        );
    let bound = bound(&scenario(&redirected), AFTER, &[open(&[])]);
    assert_eq!((bound.bytes, bound.rate_bps), (2_000_000, 500_000));
}

#[test]
fn the_longest_run_is_the_deadline_or_the_bound_with_nothing_done() {
    let scenario = scenario(BASE);
    assert_eq!(run_length_max(&scenario), scenario.deadline.0);
    let short = BASE.replace("deadline = \"10m\"", "deadline = \"40s\"");
    assert_eq!(run_length_max(&self::scenario(&short)), AFTER + 64 * SECOND);
}

fn entry(t_ms: u64, event: Event) -> TraceEntry {
    TraceEntry { t_us: t_ms * 1000, host: "engine".into(), event: TraceEvent::Engine(event) }
}

#[test]
fn progress_reads_durable_offsets_restarts_and_ends_from_the_trace() {
    let two_files = BASE
        .replace(
            "{ path = \"/a.bin\", size = \"1MB\" }",
            "{ path = \"/a.bin\", size = \"1MB\" }, { path = \"/b.bin\", size = \"1MB\" }, { path = \"/c.bin\", size = \"1MB\" }",
        )
        .replace(
            "files = [{ remote = \"http://origin/a.bin\", local = \"/d/a.bin\" }]",
            "files = [{ remote = \"http://origin/a.bin\", local = \"/d/a.bin\" }, { remote = \"http://origin/b.bin\", local = \"/d/b.bin\" }]",
        )
        .replace(
            "[liveness]",
            "[[jobs]]\nname = \"c\"\nfiles = [{ remote = \"http://origin/c.bin\", local = \"/d/c.bin\" }]\nexpect = { state = \"ERROR\" }\n\n[[jobs]]\nname = \"never\"\nfiles = [{ remote = \"http://origin/never.bin\", local = \"/d/n.bin\" }]\nexpect = { state = \"ERROR\" }\n\n[liveness]",
        );
    let scenario = scenario(&two_files);
    let (a, c) = (JobId(1), JobId(2));
    let created =
        |job, name: &str| Event::JobCreated { job, name: name.into(), owner: "user".into() };
    let entries = [
        entry(0, created(a, "a")),
        entry(0, created(c, "c")),
        entry(10, Event::Checkpoint { job: a, file: 0, offset: 1_000_000 }),
        entry(11, Event::FileTransferred { job: a, file: 0 }),
        entry(20, Event::Checkpoint { job: a, file: 1, offset: 700 }),
        entry(
            21,
            Event::FileRestarted {
                job: a,
                file: 1,
                reason: RestartReason::PartFileMissing { journal_offset: 700 },
            },
        ),
        entry(22, Event::Checkpoint { job: a, file: 1, offset: 300 }),
        entry(
            30,
            Event::StateChanged {
                job: c,
                from: JobState::Queued,
                to: JobState::Error,
                trigger: Trigger::FatalFailure,
                error: None,
            },
        ),
    ];
    let progress = progress(&scenario, &entries);
    assert_eq!(progress, [open(&[u64::MAX, 300]), JobProgress::Settled, open(&[0])]);
}
