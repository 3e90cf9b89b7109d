//! `bitsim swarm` (a generated scenario per seed) and `bitsim shrink` (a failure artifact,
//! reduced).

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use bitsim::artifact::Artifact;
use bitsim::gate;
use bitsim::scenario::Scenario;
use bitsim::shrink::{self, Change, Target};

use super::{DefectArgs, EXIT_FAIL, EXIT_PASS, Progress};

/// Runs (or prints) the scenario of every seed; one `FAIL` and one `ARTIFACT` line per
/// failing seed.
pub(super) fn swarm(
    seeds: Range<u64>,
    jobs: Option<usize>,
    print: bool,
    artifacts: &Path,
    defects: &DefectArgs,
) -> anyhow::Result<u8> {
    if print {
        for seed in seeds {
            print!("{}", generate(seed)?.text);
        }
        return Ok(EXIT_PASS);
    }
    let workers =
        jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!("bitsim swarm: seeds {}..{} on {workers} threads", seeds.start, seeds.end);
    let options = gate::Options { defects: defects.defects()?, workers, check_determinism: false };
    let progress = Progress::new("swarm", seeds.end - seeds.start);
    let run = bitsim::swarm::run(seeds, &options, |report| progress.on_report(report))
        .context("the swarm generator built an invalid scenario (a bug in the generator)")?;
    progress.finish();
    print!("{}", run.summary());
    let paths = run.write_artifacts(artifacts, &defects.names).map_err(anyhow::Error::msg)?;
    for (report, path) in run.result.failures().zip(&paths) {
        println!("FAIL [{}] swarm seed {}", report.failure_names().join(", "), report.seed);
        println!("ARTIFACT bitsim run {}", path.display());
    }
    Ok(if run.result.passed() { EXIT_PASS } else { EXIT_FAIL })
}

fn generate(seed: u64) -> anyhow::Result<bitsim::swarm::Generated> {
    bitsim::swarm::generate(seed).with_context(|| {
        format!(
            "the swarm generator built an invalid scenario for seed {seed} (a bug in the generator)"
        )
    })
}

/// Where a shrunk artifact goes by default: beside the input, `<name>-shrunk.toml`.
fn shrunk_path(artifact: &Path) -> PathBuf {
    let stem = artifact.file_stem().map_or_else(|| "artifact".into(), |s| s.to_string_lossy());
    artifact.with_file_name(format!("{stem}-shrunk.toml"))
}

/// Shrinks an artifact's scenario and writes the result as a new artifact. Exit 0 when it
/// wrote one, 1 when the artifact's failure does not happen again (nothing to shrink), 2
/// for bad input.
pub(super) fn shrink(path: &Path, budget: Option<u32>, out: Option<&Path>) -> anyhow::Result<u8> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {label}"))?;
    let artifact = Artifact::parse(&text, &label).map_err(anyhow::Error::msg)?.with_context(|| {
        format!("{label} is a scenario, not a failure artifact: shrink needs the artifact a failing `bitsim gate`, `swarm` or `run` wrote")
    })?;
    anyhow::ensure!(
        !artifact.failed.iter().any(|name| name == "determinism"),
        "{label}: a determinism failure needs two runs per candidate, which shrink does not do"
    );
    let scenario = Scenario::parse(&artifact.scenario, &format!("{label} (its scenario)"))?;
    let defects = DefectArgs { names: artifact.defects.clone() }.defects()?;
    let target = Target { seed: artifact.seed, defects, failed: artifact.failed.clone() };
    let out = out.map_or_else(|| shrunk_path(path), Path::to_path_buf);
    let name = out.file_name().map_or_else(|| label.clone(), |n| n.to_string_lossy().into_owned());
    let budget = budget.unwrap_or(shrink::RUNS_MAX);
    println!(
        "bitsim shrink: {label} (seed {}, failed [{}]), at most {budget} runs",
        artifact.seed,
        artifact.failed.join(", ")
    );
    let on_kept = |step: &str, now: &shrink::Measure| {
        println!("  kept: {step} (faults {}, jobs {}, bytes {})", now.faults, now.jobs, now.bytes);
    };
    let shrunk = match shrink::shrink(&scenario, &name, &target, budget, on_kept) {
        Ok(shrunk) => shrunk,
        Err(error) => {
            println!("bitsim shrink: {label}: {error}");
            return Ok(EXIT_FAIL);
        }
    };
    let text = shrink::render(&shrunk, &label, &target);
    let written = Artifact::new(&shrunk.report, &text, &artifact.defects, &out);
    std::fs::write(&out, written.to_toml())
        .with_context(|| format!("cannot write {}", out.display()))?;
    let spent = if shrunk.exhausted { " (budget spent before a fixpoint)" } else { "" };
    println!("{} runs{spent}; {}", shrunk.runs, Change(shrunk.before, shrunk.after));
    println!("still fails: [{}]", written.failed.join(", "));
    println!("ARTIFACT {}", written.replay);
    Ok(EXIT_PASS)
}
