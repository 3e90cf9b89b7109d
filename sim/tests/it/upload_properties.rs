//! Property: whatever the upload's size, the server's fragment limit and the uplink's rate,
//! and whenever links drop, power fails or the process restarts, the file the upload server
//! moves into place is exactly the source, every byte written once, in order (and every
//! other oracle holds).
//!
//! Each case is a whole simulation; `PROPTEST_CASES` raises the default of 8.

use bitsim::oracle::{Oracle, Violation, check};
use bitsim::scenario::Scenario;
use bitsim::world::{RunConfig, run};
use bitsim_engine::core::defect::{Defect, Defects};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// Cases per run unless `PROPTEST_CASES` says otherwise: a few seconds on two cores.
const CASES_DEFAULT: u32 = 8;

/// Cases sampled to show that the property can fail.
const BROKEN_ENGINE_SAMPLES: usize = 16;

#[derive(Clone, Copy, Debug)]
enum Interruption {
    LinkDrop { at_permille: u64, duration_ms: u64 },
    PowerLoss { at_permille: u64, down_ms: u64 },
    ProcessRestart { at_permille: u64 },
}

#[derive(Clone, Debug)]
struct Case {
    seed: u64,
    size: u64,
    rate_kbit: u64,
    max_fragment_kib: Option<u64>,
    interruptions: Vec<Interruption>,
}

impl Case {
    fn scenario_text(&self) -> String {
        let max_fragment = self
            .max_fragment_kib
            .map_or(String::new(), |kib| format!(", max_fragment = \"{kib}KiB\""));
        let mut text = format!(
            r#"
description = "upload property case"
deadline = "20m"
[engine]
receive_timeout = "5s"
[[links]]
between = ["engine", "*"]
up = "{rate}kbit"
down = "10Mbit"
latency = "15ms"
[[servers]]
name = "server"
uploads = {{ path = "/up"{max_fragment} }}
[[jobs]]
name = "job"
type = "upload"
retry_delay = "5s"
files = [{{ remote = "http://server/up/f.bin", local = "/d/f.bin", size = {size} }}]
expect = {{ state = "ACKNOWLEDGED" }}
"#,
            rate = self.rate_kbit,
            size = self.size,
        );
        // Undisturbed transfer time, plus the round trips before the first byte.
        let transfer_ms = self.size * 8 / self.rate_kbit + 100;
        for interruption in &self.interruptions {
            let at = |permille: u64| transfer_ms * permille / 1000;
            text.push_str(&match *interruption {
                Interruption::LinkDrop { at_permille, duration_ms } => format!(
                    "[[faults]]\nat = \"{}ms\"\nkind = \"link-drop\"\nduration = \"{duration_ms}ms\"\n",
                    at(at_permille)
                ),
                Interruption::PowerLoss { at_permille, down_ms } => format!(
                    "[[faults]]\nat = \"{}ms\"\nkind = \"power-loss\"\ndown = \"{down_ms}ms\"\n",
                    at(at_permille)
                ),
                Interruption::ProcessRestart { at_permille } => format!(
                    "[[faults]]\nat = \"{}ms\"\nkind = \"process-restart\"\n",
                    at(at_permille)
                ),
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
        (0u64..1100).prop_map(|at_permille| Interruption::ProcessRestart { at_permille }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let size = prop_oneof![1 => 1u64..5_000, 4 => 5_000u64..1_500_000];
    let max_fragment = prop_oneof![1 => Just(None), 1 => (5u64..200).prop_map(Some)];
    (any::<u64>(), size, 500u64..10_000, max_fragment, prop::collection::vec(interruption(), 1..4))
        .prop_map(|(seed, size, rate_kbit, max_fragment_kib, interruptions)| Case {
            seed,
            size,
            rate_kbit,
            max_fragment_kib,
            interruptions,
        })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(CASES_DEFAULT)
}

fn judge(case: &Case, defects: Defects) -> Vec<Violation> {
    let scenario = Scenario::parse(&case.scenario_text(), "upload-property-case.toml")
        .expect("generated scenarios are valid");
    let outcome = run(&scenario, &RunConfig { seed: case.seed, defects, ..RunConfig::default() });
    check(&scenario, case.seed, &outcome)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn interrupted_uploads_arrive_whole_with_every_byte_written_once(case in case()) {
        let violations = judge(&case, Defects::default());
        prop_assert!(violations.is_empty(), "{:#?}\nscenario:\n{}", violations, case.scenario_text());
    }
}

/// The property can fail: on cases drawn by the same strategy, an engine that ignores
/// BITS-Received-Content-Range leaves a gap after some interruption, and the upload oracle
/// names it.
#[test]
fn the_property_fails_for_an_engine_that_ignores_the_received_range() {
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let mut caught = 0;
    for _ in 0..BROKEN_ENGINE_SAMPLES {
        let case = strategy.new_tree(&mut runner).expect("cases generate").current();
        let healthy = judge(&case, Defects::default());
        assert_eq!(healthy, vec![], "the healthy engine fails:\n{}", case.scenario_text());
        let broken = judge(&case, Defects::default().with(Defect::UploadSkipReceivedRange));
        if broken.iter().any(|violation| violation.oracle == Oracle::UploadIntegrity) {
            caught += 1;
        }
    }
    assert!(caught >= 1, "no sampled case caught an engine that ignores the received range");
}
