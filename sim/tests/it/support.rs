//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use bitsim::scenario::Scenario;

/// The repository root (the workspace), where `scenarios/` and `snapshots/` live.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("sim/ has a parent").to_owned()
}

/// A shipped scenario by file stem: (its path from the repository root, the scenario).
pub(crate) fn scenario(stem: &str) -> (String, Scenario) {
    let path = root().join("scenarios").join(format!("{stem}.toml"));
    let scenario = Scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
    (format!("scenarios/{stem}.toml"), scenario)
}
