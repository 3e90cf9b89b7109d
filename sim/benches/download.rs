//! `cargo bench -p bitsim --bench download`: each workload below, run several times; prints
//! the median wall time and simulated seconds per wall second, and fails if a run breaks an
//! oracle. A benchmark, not a test: nothing here asserts a time.
//!
//! Each workload runs as `bitsim run` does, leaping over idle time, and (but the 14-day one,
//! which would take hours) stepping every tick, in the same process one after the other, so
//! the ratio between the two shows what the leaps buy on a noisy machine.
//!
//! - `download-100mb.toml`: 100 MB with three link drops and a power loss (resume path).
//! - `link-100mb-10mbit.toml`: 100 MB over a shaped 10 Mbit/s link (bulk on a fast link).
//! - `link-1mb-56kbit.toml`: 1 MB over a shaped 56 kbit/s link (a slow link).
//! - `idle-retry-600s.toml`: 25 minutes of an unreachable server, waited out on 600 s retry
//!   timers (idle simulated time).
//! - `scenarios/no-progress-timeout-14-days.toml`: BITS's default timers waited out in full,
//!   14 simulated days.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bitsim::report::{Report, run_and_judge_with};
use bitsim::scenario::Scenario;
use bitsim::world::RunConfig;

/// Runs per measurement: the median of five is stable to a few percent on a noisy 2-core box.
const RUNS: usize = 5;

/// Workloads, and whether stepping every tick is affordable for them.
const WORKLOADS: [(&str, bool); 5] = [
    ("benches/download-100mb.toml", true),
    ("benches/link-100mb-10mbit.toml", true),
    ("benches/link-1mb-56kbit.toml", true),
    ("benches/idle-retry-600s.toml", true),
    ("../scenarios/no-progress-timeout-14-days.toml", false),
];

fn main() {
    println!(
        "machine    {} cores, {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model()
    );
    for (workload, also_fixed_step) in WORKLOADS {
        println!();
        bench(workload, also_fixed_step);
    }
}

fn bench(workload: &str, also_fixed_step: bool) {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join(workload);
    let scenario = Scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
    println!("workload   {workload}: {}", scenario.description);
    let (leaping, report) = measure(&scenario, workload, false);
    let sim = report.outcome.end.as_secs_f64();
    print_line("leaping", leaping, sim, &report);
    if also_fixed_step {
        let (stepping, report) = measure(&scenario, workload, true);
        print_line("every tick", stepping, sim, &report);
        println!(
            "ratio      leaping is {:.1}x as fast",
            stepping.as_secs_f64() / leaping.as_secs_f64()
        );
    }
    let summary = report.summary;
    println!(
        "bytes      {} received, {} fetched twice ({} already durable), {} resumes",
        summary.bytes_received,
        summary.bytes_fetched_twice,
        summary.bytes_refetched_durable,
        summary.resumes
    );
}

/// The median wall time of [`RUNS`] runs (seeds `0..RUNS`), and the last run's report.
fn measure(scenario: &Scenario, workload: &str, fixed_step: bool) -> (Duration, Report) {
    let mut walls = Vec::with_capacity(RUNS);
    let mut last = None;
    for seed in 0..RUNS as u64 {
        let config = RunConfig { seed, fixed_step, ..RunConfig::default() };
        let report = run_and_judge_with(scenario, workload, &config);
        assert!(report.passed(), "the benchmark run failed:\n{}", report.render(scenario));
        walls.push(report.wall);
        last = Some(report);
    }
    walls.sort();
    (walls[RUNS / 2], last.expect("at least one run"))
}

fn print_line(mode: &str, median: Duration, sim: f64, report: &Report) {
    println!(
        "{mode:<10} median {:.3} s wall, {sim:.3} s simulated in {} steps: {:.0} sim-s per wall-s",
        median.as_secs_f64(),
        report.outcome.steps,
        sim / median.as_secs_f64()
    );
}

/// The CPU's model name, for the record.
fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split(':').nth(1));
    model.map_or_else(|| "unknown CPU".to_owned(), |model| model.trim().to_owned())
}
