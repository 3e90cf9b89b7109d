//! `cargo bench -p bitsim --bench download`: each workload below, run several times; prints
//! the median wall time and simulated seconds per wall second, and fails if a run breaks an
//! oracle. A benchmark, not a test: nothing here asserts a time.
//!
//! - `download-100mb.toml`: 100 MB with three link drops and a power loss (resume path).
//! - `link-100mb-10mbit.toml`: 100 MB over a shaped 10 Mbit/s link (the link model at speed).
//! - `link-1mb-56kbit.toml`: 1 MB over a shaped 56 kbit/s link (slow-link step cost).
//! - `idle-retry-600s.toml`: 25 minutes of an unreachable server, waited out on 600 s retry
//!   timers (the cost of idle simulated time).

use std::path::Path;

use bitsim::report::run_and_judge;
use bitsim::scenario::Scenario;
use bitsim_engine::core::defect::Defects;

/// Runs per measurement: the median of five is stable to a few percent on a noisy 2-core box.
const RUNS: usize = 5;

const WORKLOADS: [&str; 4] = [
    "download-100mb.toml",
    "link-100mb-10mbit.toml",
    "link-1mb-56kbit.toml",
    "idle-retry-600s.toml",
];

fn main() {
    println!(
        "machine    {} cores, {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model()
    );
    for workload in WORKLOADS {
        println!();
        bench(workload);
    }
}

fn bench(workload: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches").join(workload);
    let scenario = Scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
    let mut walls = Vec::with_capacity(RUNS);
    let mut last = None;
    for run in 0..RUNS {
        let report = run_and_judge(
            &scenario,
            &format!("sim/benches/{workload}"),
            run as u64,
            Defects::default(),
        );
        assert!(report.passed(), "the benchmark run failed:\n{}", report.render(&scenario));
        walls.push(report.wall);
        last = Some(report);
    }
    walls.sort();
    let report = last.expect("at least one run");
    let median = walls[RUNS / 2];
    let sim = report.outcome.end.as_secs_f64();
    println!("workload   {workload}: {}", scenario.description);
    println!("runs       {RUNS} (seeds 0..{RUNS}), every oracle held in each");
    println!(
        "wall       median {:.3} s (min {:.3} s, max {:.3} s)",
        median.as_secs_f64(),
        walls[0].as_secs_f64(),
        walls[RUNS - 1].as_secs_f64()
    );
    println!(
        "simulated  {sim:.3} s in {} steps: {:.0} sim-s per wall-s at the median",
        report.outcome.steps,
        sim / median.as_secs_f64()
    );
    let summary = report.summary;
    println!(
        "bytes      {} received, {} fetched twice ({} already durable), {} resumes",
        summary.bytes_received,
        summary.bytes_fetched_twice,
        summary.bytes_refetched_durable,
        summary.resumes
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
