//! The regression gate: every scenario for every seed, judged; a table, and one replay line
//! per failure.
//!
//! Runs are independent simulations, so they are spread over worker threads. Each
//! simulation stays on one thread (turmoil's world is thread-local) and nothing is shared
//! between them but the list of work; results come back in a fixed order, so the output
//! does not depend on scheduling.

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bitsim_engine::core::defect::Defects;

use crate::report::{Report, run_and_judge, run_and_judge_with};
use crate::scenario::Scenario;
use crate::world::RunConfig;

mod files;

/// The longest rerun `--check-determinism` steps every tick for: an hour of simulated time
/// at 1 ms, about ten seconds of wall time. Longer runs are rerun leaping, which still checks
/// determinism.
const FIXED_STEP_RERUN_TICKS_MAX: u64 = 3_600_000;

/// One scenario file to run.
#[derive(Clone, Debug)]
pub struct GateScenario {
    /// As the user named it; the replay line repeats it.
    pub path: String,
    pub scenario: Scenario,
}

/// One run of the gate: a scenario (by index) and a seed.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub struct Pair {
    pub scenario: usize,
    pub seed: u64,
}

/// `K/N`: this machine runs the K-th of N parts of the gate (1-based).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parsed =
            text.split_once('/').and_then(|(k, n)| Some((k.parse().ok()?, n.parse().ok()?)));
        match parsed {
            Some((index, count)) if count > 0 && (1..=count).contains(&index) => {
                Ok(Self { index, count })
            }
            _ => Err(format!("`{text}`: a shard is K/N with 1 <= K <= N")),
        }
    }
}

/// Every (scenario, seed) pair in a fixed order, then this shard's part of them: pair i
/// belongs to shard `i mod N + 1`. Round robin spreads each scenario's seeds, and so its
/// cost, over every shard; the partition depends only on the list, so N machines given the
/// same scenarios and seeds together run every pair exactly once.
pub fn pairs(scenarios: usize, seeds: Range<u64>, shard: Option<Shard>) -> Vec<Pair> {
    let all =
        (0..scenarios).flat_map(|scenario| seeds.clone().map(move |seed| Pair { scenario, seed }));
    match shard {
        None => all.collect(),
        Some(Shard { index, count }) => all
            .enumerate()
            .filter(|(i, _)| (*i as u64) % u64::from(count) == u64::from(index - 1))
            .map(|(_, pair)| pair)
            .collect(),
    }
}

/// How the gate runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub defects: Defects,
    /// Worker threads (at least one).
    pub workers: usize,
    /// Run every pair twice, the second time stepping every tick, and fail on any difference
    /// between the traces.
    pub check_determinism: bool,
}

/// Every report, in (scenario, seed) order.
#[derive(Debug)]
pub struct GateResult {
    pub reports: Vec<Report>,
    pub wall: Duration,
}

/// Runs every scenario for every seed on `workers` threads; `on_report` sees each report as
/// it finishes (in completion order).
pub fn run(
    scenarios: &[GateScenario],
    seeds: Range<u64>,
    defects: Defects,
    workers: usize,
    on_report: impl Fn(&Report) + Sync,
) -> GateResult {
    let pairs = pairs(scenarios.len(), seeds, None);
    let options = Options { defects, workers, check_determinism: false };
    run_pairs(scenarios, &pairs, &options, on_report)
}

/// Runs the given pairs on `options.workers` threads; `on_report` sees each report as it
/// finishes (in completion order).
pub fn run_pairs(
    scenarios: &[GateScenario],
    pairs: &[Pair],
    options: &Options,
    on_report: impl Fn(&Report) + Sync,
) -> GateResult {
    let (defects, workers) = (options.defects, options.workers);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Report>>> = Mutex::new(vec![None; pairs.len()]);
    let started = crate::report::stopwatch();
    let work = || {
        loop {
            let slot = next.fetch_add(1, Ordering::Relaxed);
            let Some(&Pair { scenario: index, seed }) = pairs.get(slot) else { break };
            let GateScenario { path, scenario } = &scenarios[index];
            let mut report = run_and_judge(scenario, path, seed, defects);
            if options.check_determinism {
                // The second run steps every tick: the same trace shows the run is
                // deterministic and that leaping over idle time changed nothing. Where that
                // would take too long (days of simulated time), it leaps too.
                let ticks = report.outcome.end.as_nanos() / scenario.tick.0.as_nanos().max(1);
                let fixed_step = ticks <= u128::from(FIXED_STEP_RERUN_TICKS_MAX);
                let config = RunConfig { seed, defects, fixed_step };
                let again = run_and_judge_with(scenario, path, &config);
                report.rerun_hash = Some(again.outcome.trace.hash());
            }
            on_report(&report);
            results.lock().expect("no worker panics while holding the lock")[slot] = Some(report);
        }
    };
    #[allow(clippy::disallowed_methods)]
    // Independent simulations, one per thread; see the module doc.
    std::thread::scope(|scope| {
        for _ in 1..workers.max(1) {
            scope.spawn(work);
        }
        work();
    });
    let reports = results
        .into_inner()
        .expect("workers are done")
        .into_iter()
        .map(|report| report.expect("every slot ran"))
        .collect();
    GateResult { reports, wall: crate::report::stopwatch().saturating_sub(started) }
}

impl GateResult {
    pub fn failures(&self) -> impl Iterator<Item = &Report> {
        self.reports.iter().filter(|report| !report.passed())
    }

    pub fn passed(&self) -> bool {
        self.failures().next().is_none()
    }

    /// One row per scenario: runs, passes, failures, median simulated time, resumes, bytes
    /// requested again although already durable (0 for exact-offset resume), wall time.
    pub fn table(&self) -> String {
        let mut text = String::new();
        let file_name = |path: &str| {
            std::path::Path::new(path)
                .file_name()
                .map_or_else(|| path.to_owned(), |name| name.to_string_lossy().into_owned())
        };
        let width = self
            .reports
            .iter()
            .map(|report| file_name(&report.scenario_path).chars().count())
            .max()
            .unwrap_or(0)
            .max("scenario".len());
        let _ = writeln!(
            text,
            "{:<width$} {:>5} {:>5} {:>5} {:>11} {:>8} {:>12} {:>8}",
            "scenario", "runs", "pass", "fail", "sim p50", "resumes", "durable 2x", "wall"
        );
        let mut start = 0;
        while start < self.reports.len() {
            let path = &self.reports[start].scenario_path;
            let end = start
                + self.reports[start..]
                    .iter()
                    .take_while(|report| &report.scenario_path == path)
                    .count();
            let group = &self.reports[start..end];
            let failed = group.iter().filter(|report| !report.passed()).count();
            let mut sim: Vec<Duration> = group.iter().map(|report| report.outcome.end).collect();
            sim.sort();
            let resumes: u64 = group.iter().map(|report| report.summary.resumes).sum();
            let durable_twice: u64 =
                group.iter().map(|report| report.summary.bytes_refetched_durable).sum();
            let wall: Duration = group.iter().map(|report| report.wall).sum();
            let name = file_name(path);
            let _ = writeln!(
                text,
                "{name:<width$} {:>5} {:>5} {:>5} {:>10.3}s {resumes:>8} {durable_twice:>12} {:>7.2}s",
                group.len(),
                group.len() - failed,
                failed,
                sim[sim.len() / 2].as_secs_f64(),
                wall.as_secs_f64()
            );
            start = end;
        }
        let failed = self.failures().count();
        let _ = writeln!(
            text,
            "{} runs, {} passed, {failed} failed in {:.2}s wall",
            self.reports.len(),
            self.reports.len() - failed,
            self.wall.as_secs_f64()
        );
        for report in self.failures() {
            let names = report.failure_names();
            let _ = writeln!(text, "FAIL [{}] {}", names.join(", "), report.replay_command());
        }
        text
    }
}

/// Parses `A..B` (B exclusive, as in Rust) or a single seed `N`.
pub fn parse_seeds(text: &str) -> Result<Range<u64>, String> {
    let number = |part: &str| {
        part.trim().parse::<u64>().map_err(|_| format!("`{text}`: seeds are `A..B` or `N`"))
    };
    let range = match text.split_once("..") {
        Some((start, end)) => number(start)?..number(end)?,
        None => {
            let seed = number(text)?;
            seed..seed + 1
        }
    };
    if range.is_empty() {
        return Err(format!("`{text}` is an empty range of seeds"));
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_together_cover_every_pair_exactly_once() {
        let all = pairs(7, 3..40, None);
        for count in [1, 2, 4, 5] {
            let mut together: Vec<Pair> = (1..=count)
                .flat_map(|index| pairs(7, 3..40, Some(Shard { index, count })))
                .collect();
            together.sort();
            assert_eq!(together, all, "{count} shards");
        }
        let sizes: Vec<usize> =
            (1..=4).map(|index| pairs(7, 3..40, Some(Shard { index, count: 4 })).len()).collect();
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
    }

    #[test]
    fn shards_parse_as_k_of_n() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "2", "a/b"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn seeds_are_half_open_ranges_or_single_numbers() {
        assert_eq!(parse_seeds("0..50"), Ok(0..50));
        assert_eq!(parse_seeds("7"), Ok(7..8));
        assert!(parse_seeds("5..5").is_err());
        assert!(parse_seeds("a..b").is_err());
    }
}
