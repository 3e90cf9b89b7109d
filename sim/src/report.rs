//! One run, judged and summarised: the verdict (which oracles failed), the figures a reader
//! wants (bytes, resumes, bytes fetched twice, simulated and wall time) and the one line that
//! replays it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use bitsim_engine::core::defect::Defects;
use bitsim_engine::{Event, JobId};

use crate::oracle::{self, Oracle, Violation};
use crate::scenario::Scenario;
use crate::trace::{Trace, TraceEvent};
use crate::world::{self, RunConfig, RunOutcome};

/// Figures of one run.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Summary {
    /// Bytes the engine received and wrote (counted on the simulated disk, so bytes a power
    /// loss destroyed count too).
    pub bytes_received: u64,
    /// Bytes received again for a range of a file received before (since the file last
    /// started afresh): the cost of interruptions.
    pub bytes_fetched_twice: u64,
    /// GETs that continued a file (a `Range` starting after byte 0).
    pub resumes: u64,
    /// Bytes the engine requested again although they were already durable: zero for an
    /// exact-offset resume.
    pub bytes_refetched_durable: u64,
    /// Faults applied (drops, power losses, restarts, latency changes).
    pub faults: u64,
    pub events: usize,
}

impl Summary {
    pub fn of(outcome: &RunOutcome) -> Self {
        let trace = &outcome.trace;
        let mut summary = Self {
            events: trace.entries.len(),
            bytes_received: outcome.disk.bytes,
            bytes_fetched_twice: outcome.disk.bytes_twice,
            ..Self::default()
        };
        let mut durable: BTreeMap<(JobId, usize), u64> = BTreeMap::new();
        let mut durable_at_request: BTreeMap<(JobId, usize), u64> = BTreeMap::new();
        let mut range_starts: BTreeMap<(JobId, usize), BTreeSet<u64>> = BTreeMap::new();
        for entry in &trace.entries {
            match &entry.event {
                TraceEvent::Engine(Event::FileAdded { job, file, ranges, .. }) => {
                    let starts = ranges.iter().map(|range| range.initial_offset).collect();
                    range_starts.insert((*job, *file), starts);
                }
                TraceEvent::Engine(Event::Request { job, file, method: "GET", range, .. }) => {
                    let start = range.as_deref().and_then(range_start).unwrap_or(0);
                    // The first GET of each range of a ranged file is no resume.
                    let new_range = range_starts
                        .get(&(*job, *file))
                        .is_some_and(|starts| starts.contains(&start));
                    if start > 0 && !new_range {
                        summary.resumes += 1;
                    }
                    durable_at_request
                        .insert((*job, *file), durable.get(&(*job, *file)).copied().unwrap_or(0));
                }
                TraceEvent::Engine(Event::BodyEnded { job, file, start, received }) => {
                    let limit = durable_at_request.get(&(*job, *file)).copied().unwrap_or(0);
                    summary.bytes_refetched_durable +=
                        (*received).min(limit.saturating_sub(*start));
                }
                TraceEvent::Engine(Event::Checkpoint { job, file, offset }) => {
                    durable.insert((*job, *file), *offset);
                }
                TraceEvent::Engine(Event::FileRestarted { job, file, .. }) => {
                    durable.insert((*job, *file), 0);
                }
                TraceEvent::Sim(event) if is_fault(event) => summary.faults += 1,
                _ => {}
            }
        }
        summary
    }
}

fn is_fault(event: &crate::trace::SimEvent) -> bool {
    use crate::trace::SimEvent::*;
    matches!(
        event,
        LinkDropped { .. } | PowerLost | ProcessRestarted | LatencySet { .. } | NetworkLost
    )
}

/// `bytes=123-456` -> 123.
fn range_start(range: &str) -> Option<u64> {
    range.strip_prefix("bytes=")?.split_once('-')?.0.parse().ok()
}

/// A judged run.
#[derive(Clone, Debug)]
pub struct Report {
    /// The scenario file as the user named it (used in the replay line).
    pub scenario_path: String,
    pub seed: u64,
    pub outcome: RunOutcome,
    pub violations: Vec<Violation>,
    pub summary: Summary,
    /// Wall-clock time of the run (not part of the trace).
    pub wall: Duration,
    /// The trace hash of a second run of the same scenario and seed, stepping every tick,
    /// when the gate checks determinism: it must equal this run's.
    pub rerun_hash: Option<u64>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.deterministic()
    }

    /// False when a second run with the same seed gave another trace.
    pub fn deterministic(&self) -> bool {
        self.rerun_hash.is_none_or(|hash| hash == self.outcome.trace.hash())
    }

    /// What failed: the oracles, and `determinism` when a rerun differed.
    pub fn failure_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> =
            self.failed_oracles().iter().map(|oracle| oracle.name()).collect();
        if !self.deterministic() {
            names.push("determinism");
        }
        names
    }

    /// The distinct oracles that failed, in a fixed order.
    pub fn failed_oracles(&self) -> Vec<Oracle> {
        let mut oracles: Vec<Oracle> =
            self.violations.iter().map(|violation| violation.oracle).collect();
        oracles.dedup();
        oracles
    }

    /// The command that replays this run bit for bit.
    pub fn replay_command(&self) -> String {
        format!("bitsim run {} --seed {}", self.scenario_path, self.seed)
    }

    /// Simulated seconds per wall-clock second.
    pub fn speed(&self) -> f64 {
        self.outcome.end.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }

    /// The text `bitsim run` prints.
    pub fn render(&self, scenario: &Scenario) -> String {
        let mut text = String::new();
        let verdict = if self.passed() {
            format!("PASS: all {} oracles hold", Oracle::ALL.len())
        } else {
            let names: Vec<&str> =
                self.failed_oracles().iter().map(|oracle| oracle.name()).collect();
            format!("FAIL: {}", names.join(", "))
        };
        let _ = writeln!(text, "scenario  {} (seed {})", self.scenario_path, self.seed);
        let _ = writeln!(text, "          {}", scenario.description);
        let _ = writeln!(text, "verdict   {verdict}");
        for violation in &self.violations {
            let _ = writeln!(text, "  - {violation}");
        }
        let book = crate::book::JobBook::from_entries(&self.outcome.trace.entries);
        for spec in scenario.jobs.iter().map(|job| job.get_ref()) {
            let state = book
                .job(&spec.name)
                .and_then(|(_, record)| record.state.map(|state| (state, record.error)));
            let ended = match state {
                Some((state, Some(error))) if state == bitsim_engine::JobState::Error => {
                    format!("{state} {error}")
                }
                Some((state, _)) => state.to_string(),
                None => "never created".to_owned(),
            };
            let _ =
                writeln!(text, "job       {}: {ended} (expected {})", spec.name, spec.expect.state);
        }
        let s = &self.summary;
        let _ = writeln!(
            text,
            "bytes     {} received; {} fetched twice, {} of them already durable",
            s.bytes_received, s.bytes_fetched_twice, s.bytes_refetched_durable
        );
        let _ = writeln!(text, "resumes   {} (faults applied: {})", s.resumes, s.faults);
        let _ = writeln!(
            text,
            "time      {:.3} s simulated in {:.3} s wall ({:.0} sim-s per wall-s, {} steps)",
            self.outcome.end.as_secs_f64(),
            self.wall.as_secs_f64(),
            self.speed(),
            self.outcome.steps
        );
        let _ = writeln!(
            text,
            "trace     {} events, fnv64 {:016x}",
            s.events,
            self.outcome.trace.hash()
        );
        let _ = writeln!(text, "replay    {}", self.replay_command());
        text
    }
}

/// Runs and judges a scenario. A panic inside the simulation (an engine assertion) is a
/// failed run, not a crashed harness.
pub fn run_and_judge(
    scenario: &Scenario,
    scenario_path: &str,
    seed: u64,
    defects: Defects,
) -> Report {
    run_and_judge_with(scenario, scenario_path, &RunConfig { seed, defects, fixed_step: false })
}

/// [`run_and_judge`] with every run setting, leaps over idle time included.
pub fn run_and_judge_with(scenario: &Scenario, scenario_path: &str, config: &RunConfig) -> Report {
    let (config, seed) = (*config, config.seed);
    let started = stopwatch();
    let result = catch_unwind(AssertUnwindSafe(|| world::run(scenario, &config)));
    let wall = stopwatch().saturating_sub(started);
    let (outcome, violations) = match result {
        Ok(outcome) => {
            let violations = oracle::check(scenario, seed, &outcome);
            (outcome, violations)
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                .unwrap_or_else(|| "unknown panic".to_owned());
            let outcome = RunOutcome {
                trace: Trace::default(),
                end: Duration::ZERO,
                steps: 0,
                settled: false,
                host_error: Some(message.clone()),
                disk: crate::env::DiskLedger::default(),
                net: crate::net::NetReport::default(),
            };
            let violation = Violation {
                oracle: Oracle::HostsHealthy,
                t_us: None,
                detail: format!("the simulation panicked: {message}"),
            };
            (outcome, vec![violation])
        }
    };
    let summary = Summary::of(&outcome);
    Report {
        scenario_path: scenario_path.to_owned(),
        seed,
        outcome,
        violations,
        summary,
        wall,
        rerun_hash: None,
    }
}

/// Wall-clock time for reports. The only reading of the real clock in the simulator: it
/// measures the harness and never reaches the trace.
#[allow(clippy::disallowed_methods)]
pub fn stopwatch() -> Duration {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}
