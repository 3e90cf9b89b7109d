//! Property: whatever the file size and whenever links drop or power fails (with the disk
//! keeping random unsynced writes and tearing others), every oracle holds: in particular every
//! resume starts at the exact durable offset and the completed file is exactly the origin's.
//!
//! Each case is a whole simulation; `PROPTEST_CASES` raises the default of 16. A failure
//! prints the case (seed included) and proptest keeps it under `proptest-regressions/`.

use bitsim::oracle::{Oracle, Violation, check};
use bitsim::report::Summary;
use bitsim::scenario::Scenario;
use bitsim::world::{RunConfig, run};
use bitsim_engine::core::defect::{Defect, Defects};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// Cases per run unless `PROPTEST_CASES` says otherwise: a few seconds on two cores.
const CASES_DEFAULT: u32 = 16;

/// Cases sampled to show that the property can fail.
const BROKEN_ENGINE_SAMPLES: usize = 24;

/// An interruption at `at_permille` thousandths of the undisturbed transfer time, so that
/// it lands while bytes flow (or just before or after).
#[derive(Clone, Debug)]
enum Interruption {
    LinkDrop { at_permille: u64, duration_ms: u64 },
    PowerLoss { at_permille: u64, down_ms: u64 },
}

#[derive(Clone, Debug)]
struct Case {
    seed: u64,
    size: u64,
    rate_kbit: u64,
    checkpoint_kib: u64,
    random_sync: bool,
    torn_writes: bool,
    interruptions: Vec<Interruption>,
}

impl Case {
    fn scenario_text(&self) -> String {
        let mut text = format!(
            r#"
description = "property case"
deadline = "20m"
[network]
latency = "2ms..30ms"
[disk]
random_sync = {random_sync}
{torn}
[engine]
receive_timeout = "5s"
checkpoint_bytes = "{checkpoint}KiB"
[[servers]]
name = "origin"
send_rate = "{rate}kbit"
files = [{{ path = "/f.bin", size = {size} }}]
[[jobs]]
name = "job"
retry_delay = "5s"
files = [{{ remote = "http://origin/f.bin", local = "/d/f.bin" }}]
expect = {{ state = "ACKNOWLEDGED" }}
"#,
            random_sync = if self.random_sync { 0.05 } else { 0.0 },
            torn = if self.torn_writes { "torn_writes = 4096" } else { "" },
            checkpoint = self.checkpoint_kib,
            rate = self.rate_kbit,
            size = self.size,
        );
        // Undisturbed transfer time, plus the round trips before the first byte.
        let transfer_ms = self.size * 8 / self.rate_kbit + 50;
        for interruption in &self.interruptions {
            let at = |permille: &u64| transfer_ms * permille / 1000;
            text.push_str(&match interruption {
                Interruption::LinkDrop { at_permille, duration_ms } => {
                    let at_ms = at(at_permille);
                    format!("[[faults]]\nat = \"{at_ms}ms\"\nkind = \"link-drop\"\nduration = \"{duration_ms}ms\"\n")
                }
                Interruption::PowerLoss { at_permille, down_ms } => {
                    let at_ms = at(at_permille);
                    format!("[[faults]]\nat = \"{at_ms}ms\"\nkind = \"power-loss\"\ndown = \"{down_ms}ms\"\n")
                }
            });
        }
        text
    }
}

fn interruption() -> impl Strategy<Value = Interruption> {
    prop_oneof![
        (0u64..1100, 200u64..6_000).prop_map(|(at_permille, duration_ms)| {
            Interruption::LinkDrop { at_permille, duration_ms }
        }),
        (0u64..1100, 100u64..3_000)
            .prop_map(|(at_permille, down_ms)| Interruption::PowerLoss { at_permille, down_ms }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let size = prop_oneof![1 => Just(0u64), 2 => 1u64..5_000, 7 => 5_000u64..3_000_000];
    (
        any::<u64>(),
        size,
        1_000u64..20_000,
        16u64..512,
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(interruption(), 1..4),
    )
        .prop_map(
            |(seed, size, rate_kbit, checkpoint_kib, random_sync, torn_writes, interruptions)| {
                Case {
                    seed,
                    size,
                    rate_kbit,
                    checkpoint_kib,
                    random_sync,
                    torn_writes,
                    interruptions,
                }
            },
        )
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(CASES_DEFAULT)
}

/// Runs one case and judges it: the violations, and the figures of the run.
fn judge(case: &Case, defects: Defects) -> (Vec<Violation>, Summary) {
    let scenario = Scenario::parse(&case.scenario_text(), "property-case.toml")
        .expect("generated scenarios are valid");
    let outcome = run(&scenario, &RunConfig { seed: case.seed, defects, ..RunConfig::default() });
    (check(&scenario, case.seed, &outcome), Summary::of(&outcome))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn interruptions_never_cost_a_durable_byte_or_corrupt_one(case in case()) {
        let (violations, _) = judge(&case, Defects::default());
        prop_assert!(violations.is_empty(), "{:#?}\nscenario:\n{}", violations, case.scenario_text());
    }
}

/// The property can fail: on cases drawn by the same strategy, an engine that resumes one
/// byte late breaks exact-offset in every case where the healthy engine resumed, and enough
/// cases resume for that to mean something.
#[test]
fn the_property_fails_for_an_engine_that_resumes_one_byte_late() {
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let mut resumed = 0;
    for _ in 0..BROKEN_ENGINE_SAMPLES {
        let case = strategy.new_tree(&mut runner).expect("cases generate").current();
        let (healthy, summary) = judge(&case, Defects::default());
        assert_eq!(healthy, vec![], "the healthy engine fails:\n{}", case.scenario_text());
        if summary.resumes == 0 {
            continue;
        }
        resumed += 1;
        let (broken, _) = judge(&case, Defects::default().with(Defect::ResumeOneByteLate));
        assert!(
            broken.iter().any(|violation| violation.oracle == Oracle::ExactOffset),
            "resuming one byte late went unnoticed:\n{}",
            case.scenario_text()
        );
    }
    assert!(
        resumed >= BROKEN_ENGINE_SAMPLES / 4,
        "only {resumed} of {BROKEN_ENGINE_SAMPLES} cases resumed"
    );
}
