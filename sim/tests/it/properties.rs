//! Property: whatever the file size and whenever links drop or power fails (with the disk
//! keeping random unsynced writes and tearing others), every oracle holds: in particular every
//! resume starts at the exact durable offset and the completed file is exactly the origin's.
//!
//! Each case is a whole simulation; `PROPTEST_CASES` raises the default of 16. A failure
//! prints the case (seed included) and proptest keeps it under `proptest-regressions/`.

use bitsim::oracle::check;
use bitsim::scenario::Scenario;
use bitsim::world::{RunConfig, run};
use proptest::prelude::*;

/// Cases per run unless `PROPTEST_CASES` says otherwise: about ten seconds on two cores.
const CASES_DEFAULT: u32 = 16;

#[derive(Clone, Debug)]
enum Interruption {
    LinkDrop { at_ms: u64, duration_ms: u64 },
    PowerLoss { at_ms: u64, down_ms: u64 },
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
        for interruption in &self.interruptions {
            text.push_str(&match interruption {
                Interruption::LinkDrop { at_ms, duration_ms } => {
                    format!("[[faults]]\nat = \"{at_ms}ms\"\nkind = \"link-drop\"\nduration = \"{duration_ms}ms\"\n")
                }
                Interruption::PowerLoss { at_ms, down_ms } => {
                    format!("[[faults]]\nat = \"{at_ms}ms\"\nkind = \"power-loss\"\ndown = \"{down_ms}ms\"\n")
                }
            });
        }
        text
    }
}

fn interruption() -> impl Strategy<Value = Interruption> {
    prop_oneof![
        (0u64..10_000, 200u64..6_000)
            .prop_map(|(at_ms, duration_ms)| Interruption::LinkDrop { at_ms, duration_ms }),
        (0u64..10_000, 100u64..3_000)
            .prop_map(|(at_ms, down_ms)| Interruption::PowerLoss { at_ms, down_ms }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let size = prop_oneof![Just(0u64), 1u64..5_000, 5_000u64..3_000_000];
    (
        any::<u64>(),
        size,
        1_000u64..20_000,
        64u64..2048,
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(interruption(), 0..4),
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn interruptions_never_cost_a_durable_byte_or_corrupt_one(case in case()) {
        let scenario = Scenario::parse(&case.scenario_text(), "property-case.toml").expect("generated scenarios are valid");
        let outcome = run(&scenario, &RunConfig { seed: case.seed, ..RunConfig::default() });
        let violations = check(&scenario, case.seed, &outcome);
        prop_assert!(violations.is_empty(), "{:#?}\nscenario:\n{}", violations, case.scenario_text());
    }
}
