//! Failure artifacts: one self-contained TOML file per failing run, holding everything needed
//! to replay it anywhere: the scenario's full text, the seed, any deliberate defects, the
//! bitsim version and commit that failed, the violated oracles, the trace hash and the end of
//! the trace. `bitsim run ARTIFACT` replays it and says whether the same oracles failed with
//! the same trace hash.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::report::Report;

/// The key that marks a file as an artifact rather than a scenario.
const MARKER: &str = "bitsim_failure_artifact";
/// The trace's last this many compact lines go into the artifact: enough to see the failure
/// in context, short enough to read in a CI log.
const TRACE_TAIL_LINES: usize = 40;

/// The commit bitsim was built from (`build.rs`), or `unknown` outside a git checkout.
pub const COMMIT: &str = env!("BITSIM_COMMIT");

#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// Always 1: the format's version, and the mark of an artifact.
    pub bitsim_failure_artifact: u32,
    /// How to replay it.
    pub replay: String,
    pub seed: u64,
    /// Deliberate engine defects the run had (a `defects` build replays them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub defects: Vec<String>,
    pub version: String,
    pub commit: String,
    /// Where the scenario came from.
    pub scenario_path: String,
    pub failed: Vec<String>,
    pub violations: Vec<String>,
    pub trace_fnv64: String,
    pub trace_tail: String,
    /// The scenario's full text.
    pub scenario: String,
}

impl Artifact {
    pub fn new(report: &Report, scenario_text: &str, defects: &[String], path: &Path) -> Self {
        let compact = report.outcome.trace.compact();
        let lines: Vec<&str> = compact.lines().collect();
        let tail = lines[lines.len().saturating_sub(TRACE_TAIL_LINES)..].join("\n");
        Self {
            bitsim_failure_artifact: 1,
            replay: format!("bitsim run {}", path.display()),
            seed: report.seed,
            defects: defects.to_vec(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit: COMMIT.to_owned(),
            scenario_path: report.scenario_path.clone(),
            failed: report.failure_names().iter().map(|name| (*name).to_owned()).collect(),
            violations: report.violations.iter().map(ToString::to_string).collect(),
            trace_fnv64: format!("{:016x}", report.outcome.trace.hash()),
            trace_tail: tail,
            scenario: scenario_text.to_owned(),
        }
    }

    /// Where the artifact of a failing run goes: `DIR/<scenario stem>-seed<N>.toml`.
    pub fn path_for(dir: &Path, report: &Report) -> PathBuf {
        let stem = Path::new(&report.scenario_path)
            .file_stem()
            .map_or_else(|| "scenario".into(), |stem| stem.to_string_lossy());
        dir.join(format!("{stem}-seed{}.toml", report.seed))
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("an artifact always serializes");
        format!("# A failing bitsim run. Replay it with: {}\n{body}", self.replay)
    }

    /// Reads an artifact, or says the text is not one (then it is a scenario).
    pub fn parse(text: &str, label: &str) -> Result<Option<Self>, String> {
        let value: toml::Table = match toml::from_str(text) {
            Ok(value) => value,
            Err(_) => return Ok(None),
        };
        if !value.contains_key(MARKER) {
            return Ok(None);
        }
        toml::from_str(text)
            .map(Some)
            .map_err(|error| format!("{label}: not a valid artifact: {error}"))
    }

    /// Whether a replay reproduced this failure: the same failed oracles and trace hash.
    pub fn reproduced_by(&self, report: &Report) -> bool {
        let failed: Vec<&str> = report.failure_names();
        failed == self.failed.iter().map(String::as_str).collect::<Vec<_>>()
            && format!("{:016x}", report.outcome.trace.hash()) == self.trace_fnv64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::run_and_judge;
    use crate::scenario::Scenario;

    const FAILING: &str = r#"
description = "expects the wrong outcome"
deadline = "1m"

[[servers]]
name = "origin"
files = [{ path = "/f.bin", size = "64KiB" }]

[[jobs]]
name = "job"
files = [{ remote = "http://origin/f.bin", local = "/d/f.bin" }]
expect = { state = "ERROR", error = "0x80190194" }
"#;

    #[test]
    fn an_artifact_round_trips_and_its_replay_reproduces_the_failure() {
        let scenario = Scenario::parse(FAILING, "failing.toml").unwrap();
        let report = run_and_judge(&scenario, "failing.toml", 4, Default::default());
        assert!(!report.passed());
        let path = Artifact::path_for(Path::new("out"), &report);
        assert_eq!(path, Path::new("out/failing-seed4.toml"));
        let artifact = Artifact::new(&report, FAILING, &[], &path);
        let text = artifact.to_toml();
        let read = Artifact::parse(&text, "a.toml").unwrap().expect("an artifact");
        assert_eq!(read, artifact);
        let replayed = Scenario::parse(&read.scenario, "replay").unwrap();
        let again = run_and_judge(&replayed, &read.scenario_path, read.seed, Default::default());
        assert!(read.reproduced_by(&again));
        let mut other = read;
        other.trace_fnv64 = "0".repeat(16);
        assert!(!other.reproduced_by(&again), "another trace is not a reproduction");
        assert_eq!(Artifact::parse(FAILING, "s.toml"), Ok(None), "a scenario is not an artifact");
    }
}
