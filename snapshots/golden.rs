//! Golden traces: each shipped scenario at seed 1, in compact text, one `<scenario>.snap`
//! beside this file; and the text report of `bitsim profile` for every shipped link profile,
//! one `profile-<name>.snap`; and the credential decision matrix, `decision-matrix.snap`.
//!
//! A changed trace writes `snapshots/<name>.snap.new` for `cargo insta review` and fails; CI
//! runs with `INSTA_UPDATE=no` so nothing is written there. A snapshot without a scenario, or
//! an unreviewed `.snap.new` left lying around, fails too.
//!
//! This file is a test target of the `bitsim` package (see `sim/Cargo.toml`) although it
//! lives here: cargo-insta looks for pending snapshots only in the directories of packages
//! and of their targets.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use bitsim::report::run_and_judge;
use bitsim::scenario::Scenario;
use bitsim_engine::core::defect::Defects;

/// The repository root, where `scenarios/` and `snapshots/` live.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("sim/ has a parent").to_owned()
}

/// Every shipped scenario, sorted by file name: (file stem, relative path, scenario).
fn shipped_scenarios() -> Vec<(String, String, Scenario)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios"))
        .expect("scenarios/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let stem = path.file_stem().expect("a file name").to_string_lossy().into_owned();
            let scenario = Scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
            (stem.clone(), format!("scenarios/{stem}.toml"), scenario)
        })
        .collect()
}

/// The seed every golden trace is recorded with.
const SNAPSHOT_SEED: u64 = 1;

#[test]
fn every_scenario_passes_and_matches_its_golden_trace() {
    let mut failures = Vec::new();
    for (stem, path, scenario) in shipped_scenarios() {
        let report = run_and_judge(&scenario, &path, SNAPSHOT_SEED, Defects::default());
        if !report.passed() {
            failures.push(format!("{path}: {:?}", report.violations));
            continue;
        }
        let text = format!(
            "{}\nseed {SNAPSHOT_SEED}: settled at {:.3}s after {} steps; trace fnv64 {:016x}\n\n{}",
            scenario.description,
            report.outcome.end.as_secs_f64(),
            report.outcome.steps,
            report.outcome.trace.hash(),
            report.outcome.trace.compact()
        );
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(root().join("snapshots"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_input_file(root().join(&path));
        let checked = catch_unwind(AssertUnwindSafe(|| {
            settings.bind(|| insta::assert_snapshot!(stem.clone(), text))
        }));
        if checked.is_err() {
            failures.push(format!("{path}: the trace differs from snapshots/{stem}.snap"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The profile report names no wall time, so it is as deterministic as a trace.
#[test]
fn every_profile_report_matches_its_snapshot() {
    let mut failures = Vec::new();
    for name in bitsim::net::profile::all().into_keys() {
        let run = bitsim::profile::run(&name, None, SNAPSHOT_SEED).expect("a shipped profile");
        let text = format!(
            "bitsim profile {name} --seed {SNAPSHOT_SEED}; trace fnv64 {:016x}\n\n{}",
            run.outcome.trace.hash(),
            run.report(&name)
        );
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(root().join("snapshots"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        let checked = catch_unwind(AssertUnwindSafe(|| {
            settings.bind(|| insta::assert_snapshot!(format!("profile-{name}"), text))
        }));
        if checked.is_err() {
            failures.push(format!("profile {name}: the report differs from its snapshot"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The credential decision matrix, every row run in the simulator. Every row must also agree
/// with the spec's rule as `bitsim::matrix` writes it out on its own.
#[test]
fn the_credential_decision_matrix_matches_the_spec_and_its_snapshot() {
    use bitsim::matrix::{expected, observe, render, rows};
    let results: Vec<_> = rows().into_iter().map(|row| (row, observe(&row))).collect();
    let disagreeing: Vec<String> = results
        .iter()
        .filter(|(row, seen)| *seen != expected(row))
        .map(|(row, seen)| format!("{row:?}: observed {seen:?}, the spec says {:?}", expected(row)))
        .collect();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!("decision-matrix", render(&results)));
    assert!(disagreeing.is_empty(), "{}", disagreeing.join("\n"));
}

#[test]
fn every_snapshot_belongs_to_a_scenario_and_none_awaits_review() {
    let mut scenarios: Vec<String> =
        shipped_scenarios().into_iter().map(|(stem, _, _)| stem).collect();
    scenarios.extend(bitsim::net::profile::all().into_keys().map(|name| format!("profile-{name}")));
    scenarios.push("decision-matrix".to_owned());
    for entry in std::fs::read_dir(root().join("snapshots")).expect("snapshots/ exists") {
        let name = entry.expect("readable entry").file_name().to_string_lossy().into_owned();
        if name.ends_with(".snap.new") || name.ends_with(".pending-snap") {
            panic!("snapshots/{name} awaits review: run `cargo insta review`");
        }
        if let Some(stem) = name.strip_suffix(".snap") {
            assert!(
                scenarios.iter().any(|scenario| scenario == stem),
                "snapshots/{name} is stale: no scenarios/{stem}.toml and no such profile"
            );
        }
    }
}
