//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use bitsim::scenario::Scenario;

/// The repository root (the workspace), where `scenarios/` and `snapshots/` live.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("sim/ has a parent").to_owned()
}

/// Every shipped scenario, sorted by file name: (file stem, relative path, scenario).
pub(crate) fn shipped_scenarios() -> Vec<(String, String, Scenario)> {
    let dir = root().join("scenarios");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
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

pub(crate) fn scenario(stem: &str) -> (String, Scenario) {
    let path = root().join("scenarios").join(format!("{stem}.toml"));
    let scenario = Scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
    (format!("scenarios/{stem}.toml"), scenario)
}
