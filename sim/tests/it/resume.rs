//! The resume scenarios really resume, at the exact durable byte: every seed shows at least one
//! ranged GET and not one byte requested again that was already durable.

use bitsim::report::run_and_judge;
use bitsim_engine::core::defect::Defects;

use crate::support::scenario;

#[test]
fn link_drops_and_reboots_resume_without_refetching_durable_bytes() {
    for stem in ["link-drop-resume", "reboot-resume"] {
        let (path, scenario) = scenario(stem);
        for seed in 0..4 {
            let report = run_and_judge(&scenario, &path, seed, Defects::default());
            assert!(report.passed(), "{}", report.render(&scenario));
            assert!(report.summary.resumes >= 1, "{stem} seed {seed} never resumed");
            assert_eq!(report.summary.bytes_refetched_durable, 0, "{stem} seed {seed}");
        }
    }
}
