//! Shrinking a failing scenario: greedy delta debugging to a fixpoint. Each step proposes a
//! smaller scenario (a fault, job or file removed, a size or a duration halved, the time line
//! moved earlier, a link, proxy or credential demand taken away); the candidate is kept when
//! it still validates and its run, with the failure's own seed and defects, still fails.
//!
//! **The rule**: a candidate is kept when the oracles its run fails are a non-empty subset of
//! those the original run failed. "Fails at least one of them" alone would let a removal that
//! breaks something else (a job that now misses its deadline) pass as a reduction, and the
//! smallest scenario would then show two problems instead of one.
//!
//! Passes repeat until one changes nothing (a fixpoint) or the run budget is spent. The
//! seed stays the same throughout: the trace of the shrunk scenario replays from it.

mod steps;

use std::fmt;
use std::time::Duration;

use bitsim_engine::core::defect::Defects;

use crate::report::{Report, run_and_judge};
use crate::scenario::{Scenario, Span};
use crate::swarm::to_toml;

use self::steps::Step;

/// Runs one shrink may spend unless told otherwise: each costs a simulation (0.1-1 s of wall
/// time for a generated scenario), so this bounds a shrink to a few minutes, and greedy
/// passes over a scenario of a dozen faults and three jobs reach their fixpoint well within it.
pub const RUNS_MAX: u32 = 250;

/// The failure to keep: the run's seed and defects, and the oracles it failed.
#[derive(Clone, Debug)]
pub struct Target {
    pub seed: u64,
    pub defects: Defects,
    /// Oracle names, as an artifact lists them.
    pub failed: Vec<String>,
}

impl Target {
    /// Whether a run still shows the failure: it fails some oracles, all of them among the
    /// target's (see the module doc for why not merely "at least one").
    pub fn kept_by(&self, report: &Report) -> bool {
        keeps(&self.failed, &report.failure_names())
    }
}

/// The rule: `failed` is a non-empty subset of `original`.
fn keeps(original: &[String], failed: &[&str]) -> bool {
    !failed.is_empty() && failed.iter().all(|name| original.iter().any(|o| o == name))
}

/// How big a scenario is, in the measures a shrink reduces.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Measure {
    pub faults: usize,
    pub jobs: usize,
    pub files: usize,
    /// The bytes the jobs download (sizes of the files their URLs name).
    pub bytes: u64,
    pub deadline: Span,
}

impl Measure {
    pub fn of(scenario: &Scenario) -> Self {
        let random: usize =
            scenario.random_faults.iter().map(|random| random.get_ref().count as usize).sum();
        let jobs = scenario.jobs.iter().map(|job| job.get_ref());
        let bytes = jobs
            .clone()
            .flat_map(|job| &job.files)
            .filter_map(|file| steps::served_file(scenario, file.remote.get_ref()))
            .map(|file| file.size.0)
            .sum();
        Self {
            faults: scenario.faults.len() + random,
            jobs: scenario.jobs.len(),
            files: jobs.map(|job| job.files.len()).sum(),
            bytes,
            deadline: scenario.deadline,
        }
    }
}

/// `before -> after` for every measure.
pub struct Change(pub Measure, pub Measure);

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = (&self.0, &self.1);
        write!(
            f,
            "faults {} -> {}, jobs {} -> {}, files {} -> {}, bytes {} -> {}, deadline {} -> {}",
            a.faults,
            b.faults,
            a.jobs,
            b.jobs,
            a.files,
            b.files,
            a.bytes,
            b.bytes,
            a.deadline,
            b.deadline
        )
    }
}

/// The smallest failing scenario found.
#[derive(Debug)]
pub struct Shrunk {
    pub scenario: Scenario,
    /// Its run, which fails as the target demands.
    pub report: Report,
    /// Runs spent, the first (which confirms the failure) included.
    pub runs: u32,
    /// The reductions kept, in order.
    pub kept: Vec<String>,
    pub before: Measure,
    pub after: Measure,
    /// True when the budget ran out before a fixpoint.
    pub exhausted: bool,
}

/// Shrinks `scenario` while `target`'s failure persists, within `budget` runs. `label`
/// names the runs (and so the shrunk artifact's scenario); `on_kept` sees each kept step.
/// Fails when the scenario does not fail as the target says to begin with.
pub fn shrink(
    scenario: &Scenario,
    label: &str,
    target: &Target,
    budget: u32,
    mut on_kept: impl FnMut(&str, &Measure),
) -> Result<Shrunk, String> {
    if target.failed.iter().any(|name| name == "determinism") {
        return Err(
            "a determinism failure needs two runs per candidate; shrink does not do that".into()
        );
    }
    let judge = |scenario: &Scenario| run_and_judge(scenario, label, target.seed, target.defects);
    let mut report = judge(scenario);
    if !target.kept_by(&report) {
        return Err(format!(
            "the scenario does not fail as recorded: the artifact lists [{}], this run failed [{}]",
            target.failed.join(", "),
            report.failure_names().join(", ")
        ));
    }
    let (mut current, mut runs, mut kept) = (scenario.clone(), 1, Vec::new());
    let before = Measure::of(scenario);
    let mut exhausted = false;
    'passes: loop {
        let mut changed = false;
        for step in Step::ALL {
            let mut index = 0;
            while index < step.count(&current) {
                let Some(candidate) = propose(&current, step, index) else {
                    index += 1;
                    continue;
                };
                if runs >= budget {
                    exhausted = true;
                    break 'passes;
                }
                runs += 1;
                let candidate_report = judge(&candidate);
                if target.kept_by(&candidate_report) {
                    // Stay at this index: a removal moved the next item here, and a halving
                    // may halve again.
                    let name = step.describe(&current, index);
                    current = candidate;
                    report = candidate_report;
                    on_kept(&name, &Measure::of(&current));
                    kept.push(name);
                    changed = true;
                } else {
                    index += 1;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let after = Measure::of(&current);
    Ok(Shrunk { scenario: current, report, runs, kept, before, after, exhausted })
}

/// The step's candidate, if it changes anything and still validates (through the TOML text,
/// as `bitsim run` will read it).
fn propose(current: &Scenario, step: Step, index: usize) -> Option<Scenario> {
    let candidate = step.apply(current, index)?;
    let text = to_toml(&candidate);
    if text == to_toml(current) {
        return None;
    }
    Scenario::parse(&text, "candidate").ok()
}

/// The shrunk scenario as a file: a header saying where it came from, then the scenario.
pub fn render(shrunk: &Shrunk, source: &str, target: &Target) -> String {
    format!(
        "# Shrunk by `bitsim shrink` from {source} (seed {}; {} runs{}).\n# Still fails: [{}]; {}.\n{}",
        target.seed,
        shrunk.runs,
        if shrunk.exhausted { ", budget spent before a fixpoint" } else { "" },
        shrunk.report.failure_names().join(", "),
        Change(shrunk.before, shrunk.after),
        to_toml(&shrunk.scenario)
    )
}

/// Half a span, to the millisecond.
fn half(span: Span) -> Span {
    Span(Duration::from_millis(span.0.as_millis() as u64 / 2))
}

#[cfg(test)]
mod tests;
