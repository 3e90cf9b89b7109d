//! The `bitsim` command line: run one scenario, gate on all of them, or fetch a real URL with
//! the same engine.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use bitsim::artifact::Artifact;
use bitsim::gate::{self, GateScenario};
use bitsim::report::run_and_judge;
use bitsim::scenario::Scenario;
use bitsim_engine::core::defect::Defects;
use clap::{Parser, Subcommand};

/// Exit code when every oracle held.
const EXIT_PASS: u8 = 0;
/// Exit code when an oracle failed.
const EXIT_FAIL: u8 = 1;
/// Exit code for bad input: an unreadable or invalid scenario, bad arguments (as clap).
const EXIT_BAD_INPUT: u8 = 2;

/// The directory `bitsim gate` runs when given no scenarios.
const SCENARIO_DIR: &str = "scenarios";

#[derive(Parser)]
#[command(
    name = "bitsim",
    version,
    about = "Deterministic simulator and conformance suite for a BITS 2.0 transfer engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario with one seed; print the verdict, figures and the replay line.
    Run {
        /// A scenario, or a failure artifact (which brings its own seed and defects).
        scenario: PathBuf,
        /// The seed (default 0; an artifact's own seed unless given).
        #[arg(long)]
        seed: Option<u64>,
        /// Write the trace as JSON Lines (one event per line, simulated time first).
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Also print the trace in compact text form.
        #[arg(long)]
        verbose: bool,
        #[command(flatten)]
        defects: DefectArgs,
    },
    /// Run every scenario (default: all of scenarios/) for every seed; fail on any violation.
    Gate {
        scenarios: Vec<PathBuf>,
        /// Seeds as `A..B` (B exclusive) or `N`.
        #[arg(long, default_value = "0..20", value_parser = gate::parse_seeds)]
        seeds: std::ops::Range<u64>,
        /// Worker threads (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only part K of N of the (scenario, seed) pairs, so N machines share the gate.
        #[arg(long, value_name = "K/N")]
        shard: Option<gate::Shard>,
        /// Run every pair twice, the second time stepping every tick rather than leaping over
        /// idle time; any difference between the two traces fails it.
        #[arg(long)]
        check_determinism: bool,
        /// Write the results as JUnit XML (one test case per scenario and seed).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Write the results as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Where each failing run's artifact goes (`bitsim run` replays it).
        #[arg(long, value_name = "DIR", default_value = "target/bitsim-failures")]
        artifacts: PathBuf,
        #[command(flatten)]
        defects: DefectArgs,
    },
    /// Run the throttle-and-yield workload on a link profile (profiles/links.toml) and report
    /// achieved against configured rates, throughput and queueing-delay percentiles.
    Profile {
        /// dialup, isdn, dsl, cable, 3g, lte, satellite, lan, or any in profiles/links.toml.
        profile: String,
        /// Run this scenario instead of the built-in workload (its links should use the
        /// profile).
        #[arg(long)]
        scenario: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Draw throughput over time per job, with capacity and limit, as an SVG chart.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Print the workload scenario as TOML (for `bitsim run`) instead of running it.
        #[arg(long)]
        print: bool,
    },
    /// Generate a whole scenario from each seed (topology, link, files, jobs, credentials,
    /// fault rates), run it with that seed and judge it; one artifact per failing seed.
    Swarm {
        /// Seeds as `A..B` (B exclusive) or `N`.
        #[arg(long, default_value = "0..100", value_parser = gate::parse_seeds)]
        seeds: std::ops::Range<u64>,
        /// Worker threads (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Print each seed's generated scenario (for `bitsim run`) instead of running it.
        #[arg(long)]
        print: bool,
        /// Where each failing seed's artifact goes (`bitsim run` replays it).
        #[arg(long, value_name = "DIR", default_value = "target/bitsim-failures")]
        artifacts: PathBuf,
        #[command(flatten)]
        defects: DefectArgs,
    },
    /// Reduce a failure artifact's scenario (fewer faults, jobs and bytes, a shorter time
    /// line) while the same oracle still fails; write the smallest as a new artifact.
    Shrink {
        /// A failure artifact, as `bitsim gate` or `bitsim swarm` wrote it.
        artifact: PathBuf,
        /// At most this many runs (default: as many as the shrinker's own bound).
        #[arg(long)]
        budget: Option<u32>,
        /// Where the shrunk artifact goes (default: next to the input, `<name>-shrunk.toml`).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Download a real URL with the engine on real sockets and files.
    Fetch {
        url: String,
        /// Where the file appears once complete.
        destination: PathBuf,
        /// Where the engine keeps its journal.
        #[arg(long, default_value = ".bitsim-state")]
        state_dir: PathBuf,
        #[command(flatten)]
        access: fetch::AccessArgs,
    },
}

#[derive(clap::Args, Clone)]
struct DefectArgs {
    /// Switch on a deliberate engine bug (builds with the `defects` feature only).
    #[arg(long = "defect", value_name = "NAME")]
    names: Vec<String>,
}

impl DefectArgs {
    /// Every named defect switched on; an unknown name, or any name in a build without the
    /// `defects` feature, is bad input.
    fn defects(&self) -> anyhow::Result<Defects> {
        let mut defects = Defects::default();
        for name in &self.names {
            let known = bitsim_engine::core::defect::Defect::ALL
                .into_iter()
                .find(|defect| defect.name() == name);
            let Some(defect) = known else { anyhow::bail!("unknown defect `{name}`") };
            defects = switch_on(defects, defect)?;
        }
        Ok(defects)
    }
}

#[cfg(feature = "defects")]
fn switch_on(
    defects: Defects,
    defect: bitsim_engine::core::defect::Defect,
) -> anyhow::Result<Defects> {
    Ok(defects.with(defect))
}

#[cfg(not(feature = "defects"))]
fn switch_on(_: Defects, defect: bitsim_engine::core::defect::Defect) -> anyhow::Result<Defects> {
    anyhow::bail!("`--defect {}` needs a build with `--features defects`", defect.name())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { scenario, seed, trace, verbose, defects } => {
            run(&scenario, seed, trace.as_deref(), verbose, &defects)
        }
        Command::Gate {
            scenarios,
            seeds,
            jobs,
            shard,
            check_determinism,
            junit,
            json,
            artifacts,
            defects,
        } => {
            let files = GateFiles { junit, json, artifacts };
            gate(scenarios, seeds, (jobs, shard, check_determinism), &files, &defects)
        }
        Command::Profile { profile, scenario, seed, plot, print } => {
            profile_command(&profile, scenario.as_deref(), seed, plot.as_deref(), print)
        }
        Command::Swarm { seeds, jobs, print, artifacts, defects } => {
            swarm::swarm(seeds, jobs, print, &artifacts, &defects)
        }
        Command::Shrink { artifact, budget, out } => {
            swarm::shrink(&artifact, budget, out.as_deref())
        }
        Command::Fetch { url, destination, state_dir, access } => {
            fetch::fetch(&url, &destination, &state_dir, &access)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("bitsim: {error:#}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn run(
    path: &Path,
    seed: Option<u64>,
    trace: Option<&Path>,
    verbose: bool,
    defects: &DefectArgs,
) -> anyhow::Result<u8> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {label}"))?;
    let artifact = Artifact::parse(&text, &label).map_err(anyhow::Error::msg)?;
    let (scenario, seed, defects, shown) = match &artifact {
        Some(artifact) => {
            let scenario = Scenario::parse(&artifact.scenario, &format!("{label} (its scenario)"))?;
            let defects = DefectArgs { names: artifact.defects.clone() };
            (scenario, seed.unwrap_or(artifact.seed), defects, artifact.scenario_path.clone())
        }
        None => (Scenario::parse(&text, &label)?, seed.unwrap_or(0), defects.clone(), label),
    };
    let report = run_and_judge(&scenario, &shown, seed, defects.defects()?);
    if let Some(trace_path) = trace {
        std::fs::write(trace_path, report.outcome.trace.jsonl())
            .with_context(|| format!("cannot write {}", trace_path.display()))?;
    }
    if verbose {
        print!("{}", report.outcome.trace.compact());
    }
    print!("{}", report.render(&scenario));
    if let Some(artifact) = &artifact {
        if artifact.reproduced_by(&report) {
            println!(
                "artifact  reproduced: [{}] failed again with trace fnv64 {}",
                artifact.failed.join(", "),
                artifact.trace_fnv64
            );
        } else {
            println!(
                "artifact  NOT reproduced: it recorded [{}] with trace fnv64 {} (built from {}, this is {})",
                artifact.failed.join(", "),
                artifact.trace_fnv64,
                artifact.commit,
                bitsim::artifact::COMMIT
            );
        }
    }
    Ok(if report.passed() { EXIT_PASS } else { EXIT_FAIL })
}

/// Without a terminal, the gate reports progress this many times (plus the last run).
const PROGRESS_LINES: u64 = 10;

/// The gate's progress: a bar on a terminal; otherwise a plain line at every tenth of the
/// runs, so CI logs show progress without a line per run.
enum Progress {
    Bar {
        bar: indicatif::ProgressBar,
        failed: std::sync::atomic::AtomicU64,
    },
    Lines {
        /// The command, which starts every line.
        name: &'static str,
        total: u64,
        done: std::sync::atomic::AtomicU64,
        failed: std::sync::atomic::AtomicU64,
    },
}

impl Progress {
    fn new(name: &'static str, total: u64) -> Self {
        use std::io::IsTerminal as _;
        if !std::io::stderr().is_terminal() {
            return Self::Lines { name, total, done: 0.into(), failed: 0.into() };
        }
        let bar = indicatif::ProgressBar::new(total);
        let style = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} runs, {msg} [{elapsed} elapsed, {eta} left]",
        )
        .expect("a valid template");
        bar.set_style(style);
        bar.set_message("0 failed");
        Self::Bar { bar, failed: 0.into() }
    }

    fn on_report(&self, report: &bitsim::report::Report) {
        use std::sync::atomic::Ordering::Relaxed;
        match self {
            Self::Bar { bar, failed } => {
                if !report.passed() {
                    bar.set_message(format!("{} failed", failed.fetch_add(1, Relaxed) + 1));
                }
                bar.inc(1);
            }
            Self::Lines { name, total, done, failed } => {
                if !report.passed() {
                    failed.fetch_add(1, Relaxed);
                }
                let done = done.fetch_add(1, Relaxed) + 1;
                let step = (total / PROGRESS_LINES).max(1);
                if done % step == 0 || done == *total {
                    eprintln!("{name}: {done}/{total} runs, {} failed", failed.load(Relaxed));
                }
            }
        }
    }

    fn finish(&self) {
        if let Self::Bar { bar, .. } = self {
            bar.finish_and_clear();
        }
    }
}

/// Where `bitsim gate` writes results besides the terminal.
struct GateFiles {
    junit: Option<PathBuf>,
    json: Option<PathBuf>,
    artifacts: PathBuf,
}

fn gate(
    paths: Vec<PathBuf>,
    seeds: std::ops::Range<u64>,
    (jobs, shard, check_determinism): (Option<usize>, Option<gate::Shard>, bool),
    files: &GateFiles,
    defects: &DefectArgs,
) -> anyhow::Result<u8> {
    let paths = if paths.is_empty() { scenario_files(Path::new(SCENARIO_DIR))? } else { paths };
    let scenarios = paths
        .iter()
        .map(|path| {
            Ok(GateScenario { path: path.display().to_string(), scenario: Scenario::load(path)? })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let workers =
        jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pairs = gate::pairs(scenarios.len(), seeds.clone(), shard);
    let part = shard.map_or_else(String::new, |s| {
        format!(", shard {}/{}: {} runs", s.index, s.count, pairs.len())
    });
    let twice = if check_determinism { ", each twice" } else { "" };
    println!(
        "bitsim gate: {} scenarios x seeds {}..{}{part}{twice} on {workers} threads",
        scenarios.len(),
        seeds.start,
        seeds.end
    );
    let options = gate::Options { defects: defects.defects()?, workers, check_determinism };
    let progress = Progress::new("gate", pairs.len() as u64);
    let result = gate::run_pairs(&scenarios, &pairs, &options, |report| progress.on_report(report));
    progress.finish();
    print!("{}", result.table());
    let sources: Vec<String> = paths
        .iter()
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
        })
        .collect::<anyhow::Result<_>>()?;
    for (written, report) in result.failures().enumerate() {
        if written == 0 {
            std::fs::create_dir_all(&files.artifacts)
                .with_context(|| format!("cannot create {}", files.artifacts.display()))?;
        }
        let index =
            scenarios.iter().position(|s| s.path == report.scenario_path).expect("a gate scenario");
        let path = Artifact::path_for(&files.artifacts, report);
        let artifact = Artifact::new(report, &sources[index], &defects.names, &path);
        std::fs::write(&path, artifact.to_toml())
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("ARTIFACT {}", artifact.replay);
    }
    if let Some(path) = &files.junit {
        std::fs::write(path, result.junit())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &files.json {
        std::fs::write(path, result.json())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if result.passed() { EXIT_PASS } else { EXIT_FAIL })
}

fn profile_command(
    name: &str,
    scenario: Option<&Path>,
    seed: u64,
    plot: Option<&Path>,
    print: bool,
) -> anyhow::Result<u8> {
    if print {
        let profile = bitsim::net::profile::get(name)
            .with_context(|| format!("no profile `{name}` in profiles/links.toml"))?;
        print!("{}", bitsim::profile::workload(name, &profile));
        return Ok(EXIT_PASS);
    }
    let scenario = scenario.map(Scenario::load).transpose()?;
    let run = bitsim::profile::run(name, scenario, seed).map_err(anyhow::Error::msg)?;
    print!("{}", run.report(name));
    if let Some(path) = plot {
        std::fs::write(path, run.chart(name))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "
chart     {}",
            path.display()
        );
    }
    let passed = bitsim::oracle::check(&run.scenario, seed, &run.outcome).is_empty();
    Ok(if passed { EXIT_PASS } else { EXIT_FAIL })
}

/// Every `*.toml` in `dir`, sorted by name.
fn scenario_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!("cannot list {} (run from the repository root, or name scenarios)", dir.display())
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    anyhow::ensure!(!files.is_empty(), "no scenario files in {}", dir.display());
    Ok(files)
}

mod fetch;
mod swarm;
