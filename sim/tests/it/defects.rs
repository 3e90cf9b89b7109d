//! A deliberately broken engine fails the gate, and the failure names the oracle that
//! matches the bug. Without these, a green gate would prove nothing.

use bitsim::gate::{self, GateScenario};
use bitsim::oracle::Oracle;
use bitsim_engine::core::defect::{Defect, Defects};

use crate::support::scenario;

/// Seeds per check: enough to show the bug is caught every time, not by luck.
const SEEDS: std::ops::Range<u64> = 0..4;

fn gate_with(defect: Defect, stem: &str) -> Vec<Vec<Oracle>> {
    let (path, scenario) = scenario(stem);
    let scenarios = [GateScenario { path, scenario }];
    let result = gate::run(&scenarios, SEEDS, Defects::default().with(defect), 1, |_| {});
    assert!(!result.passed(), "{defect:?} passed the gate on {stem}");
    result.reports.iter().map(|report| report.failed_oracles()).collect()
}

#[test]
fn resuming_one_byte_late_fails_exact_offset() {
    for oracles in gate_with(Defect::ResumeOneByteLate, "link-drop-resume") {
        assert!(oracles.contains(&Oracle::ExactOffset), "{oracles:?}");
    }
}

#[test]
fn skipping_the_data_sync_fails_durable_prefix() {
    for oracles in gate_with(Defect::SkipDataSync, "reboot-resume") {
        assert!(oracles.contains(&Oracle::DurablePrefix), "{oracles:?}");
    }
}

#[test]
fn asking_one_byte_past_eof_fails_range_within_eof() {
    for oracles in gate_with(Defect::RangeOnePastEof, "strict-range-server") {
        assert!(oracles.contains(&Oracle::RangeWithinEof), "{oracles:?}");
    }
}

#[test]
fn ignoring_bits_received_content_range_fails_upload_integrity() {
    // After the drop the engine's guessed fragment gets 416; trusting its own count instead
    // of the server's, it leaves a gap, closes a session the server never completed, and
    // the server discards the partial upload.
    for oracles in gate_with(Defect::UploadSkipReceivedRange, "upload-resume-after-drop") {
        assert!(oracles.contains(&Oracle::UploadIntegrity), "{oracles:?}");
    }
}

#[test]
fn the_healthy_engine_passes_the_same_gates() {
    for stem in [
        "link-drop-resume",
        "reboot-resume",
        "strict-range-server",
        "throttle-policy-limit",
        "no-credentials-across-redirect",
        "two-users-one-proxy-isolation",
        "owners-isolation",
        "replace-prefix-changed-content",
        "set-remote-name-same-content",
        "file-ranges",
        "upload-resume-after-drop",
        "network-loss-and-return",
    ] {
        let (path, scenario) = scenario(stem);
        let result =
            gate::run(&[GateScenario { path, scenario }], SEEDS, Defects::default(), 1, |_| {});
        assert!(result.passed(), "{}", result.table());
    }
}

#[test]
fn ignoring_the_bandwidth_policy_fails_throttle_bound() {
    for oracles in gate_with(Defect::IgnoreBandwidthPolicy, "throttle-policy-limit") {
        assert!(oracles.contains(&Oracle::ThrottleBound), "{oracles:?}");
    }
}

#[test]
fn a_greedy_background_transfer_fails_background_yield() {
    for oracles in gate_with(Defect::BackgroundGreedy, "background-yields-to-cross-traffic") {
        assert!(oracles.contains(&Oracle::BackgroundYield), "{oracles:?}");
    }
}

#[test]
fn never_preempting_fails_priority_order() {
    for oracles in gate_with(Defect::NoPreemption, "priority-preemption") {
        assert!(oracles.contains(&Oracle::PriorityOrder), "{oracles:?}");
    }
}

#[test]
fn never_ending_a_time_slice_fails_no_starvation() {
    for oracles in gate_with(Defect::NoTimeSlice, "equal-priority-turns") {
        assert!(oracles.contains(&Oracle::NoStarvation), "{oracles:?}");
    }
}

#[test]
fn carrying_credentials_across_a_redirect_fails_credential_scope() {
    for oracles in gate_with(Defect::CredentialsAcrossRedirect, "no-credentials-across-redirect") {
        assert!(oracles.contains(&Oracle::CredentialScope), "{oracles:?}");
    }
}

#[test]
fn sharing_connections_between_owners_fails_connection_isolation() {
    for oracles in gate_with(Defect::SharedConnections, "two-users-one-proxy-isolation") {
        assert!(oracles.contains(&Oracle::ConnectionIsolation), "{oracles:?}");
    }
}

#[test]
fn ignoring_job_owners_fails_owner_isolation() {
    for oracles in gate_with(Defect::NoOwnerCheck, "owners-isolation") {
        assert!(oracles.contains(&Oracle::OwnerIsolation), "{oracles:?}");
    }
}

#[test]
fn keeping_progress_on_a_changed_source_fails_integrity() {
    for oracles in gate_with(Defect::KeepProgressOnNewSource, "replace-prefix-changed-content") {
        assert!(oracles.contains(&Oracle::Integrity), "{oracles:?}");
    }
}

#[test]
fn writing_ranges_in_offset_order_fails_integrity_and_exact_offset() {
    for oracles in gate_with(Defect::RangesSorted, "file-ranges") {
        assert!(oracles.contains(&Oracle::Integrity), "{oracles:?}");
        assert!(oracles.contains(&Oracle::ExactOffset), "{oracles:?}");
    }
}

#[test]
fn resuming_a_range_from_its_start_fails_exact_offset_and_integrity() {
    for oracles in gate_with(Defect::RangeResumeFromStart, "file-ranges") {
        assert!(oracles.contains(&Oracle::ExactOffset), "{oracles:?}");
        assert!(oracles.contains(&Oracle::Integrity), "{oracles:?}");
    }
}

#[test]
fn job_error_for_a_transient_error_fails_notifications() {
    for oracles in gate_with(Defect::JobErrorOnTransient, "network-loss-and-return") {
        assert!(oracles.contains(&Oracle::Notifications), "{oracles:?}");
    }
}
