//! Property: whatever ranges a ranged file asks for (random offsets and lengths, some to EOF,
//! in random order) of whatever size of file, and whenever links drop or power fails, the
//! completed file is exactly the requested origin bytes concatenated in the given order, and
//! every other oracle holds (every GET starts at the remote byte the durable local offset
//! maps to).
//!
//! Each case is a whole simulation; `PROPTEST_CASES` raises the default of 12.

use bitsim::oracle::{Oracle, Violation, check};
use bitsim::scenario::Scenario;
use bitsim::world::{RunConfig, run};
use bitsim_engine::core::defect::{Defect, Defects};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// Cases per run unless `PROPTEST_CASES` says otherwise: a few seconds on two cores.
const CASES_DEFAULT: u32 = 12;

/// Cases sampled to show that the property can fail.
const BROKEN_ENGINE_SAMPLES: usize = 16;

/// At most this many ranges per case: enough for out-of-order layouts and resumes inside
/// several ranges, few enough that a case stays a few round trips long.
const RANGES_MAX: usize = 5;

#[derive(Clone, Debug)]
enum Interruption {
    LinkDrop { at_permille: u64, duration_ms: u64 },
    PowerLoss { at_permille: u64, down_ms: u64 },
}

#[derive(Clone, Debug)]
struct Case {
    seed: u64,
    size: u64,
    /// `(offset, length)` in the order given; `None` is a length to EOF.
    ranges: Vec<(u64, Option<u64>)>,
    rate_kbit: u64,
    checkpoint_kib: u64,
    interruptions: Vec<Interruption>,
}

impl Case {
    fn ranges_text(&self) -> String {
        let item = |(offset, length): &(u64, Option<u64>)| match length {
            Some(length) => format!("{offset}:{length}"),
            None => format!("{offset}:eof"),
        };
        self.ranges.iter().map(item).collect::<Vec<_>>().join(",")
    }

    fn bytes(&self) -> u64 {
        self.ranges.iter().map(|(offset, length)| length.unwrap_or(self.size - offset)).sum()
    }

    /// Whether the local order differs from the offset order (a sorting bug would show).
    fn out_of_order(&self) -> bool {
        self.ranges.windows(2).any(|pair| pair[0].0 > pair[1].0)
    }

    fn scenario_text(&self) -> String {
        let mut text = format!(
            r#"
description = "ranges property case"
deadline = "20m"
[network]
latency = "2ms..30ms"
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
files = [{{ remote = "http://origin/f.bin", local = "/d/f.part", ranges = "{ranges}" }}]
expect = {{ state = "ACKNOWLEDGED" }}
"#,
            checkpoint = self.checkpoint_kib,
            rate = self.rate_kbit,
            size = self.size,
            ranges = self.ranges_text(),
        );
        // Undisturbed transfer time, plus a few round trips per range.
        let transfer_ms = self.bytes() * 8 / self.rate_kbit + 50 * self.ranges.len() as u64;
        for interruption in &self.interruptions {
            let at = |permille: &u64| transfer_ms * permille / 1000;
            text.push_str(&match interruption {
                Interruption::LinkDrop { at_permille, duration_ms } => format!(
                    "[[faults]]\nat = \"{}ms\"\nkind = \"link-drop\"\nduration = \"{duration_ms}ms\"\n",
                    at(at_permille)
                ),
                Interruption::PowerLoss { at_permille, down_ms } => format!(
                    "[[faults]]\nat = \"{}ms\"\nkind = \"power-loss\"\ndown = \"{down_ms}ms\"\n",
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
    ]
}

/// Non-overlapping ranges of a `size`-byte file: cut points drawn in the file, sorted, taken
/// in pairs; the last range may run to EOF; then shuffled into a random given order.
fn ranges(size: u64) -> impl Strategy<Value = Vec<(u64, Option<u64>)>> {
    (
        prop::collection::vec(0..size, 2..=2 * RANGES_MAX),
        any::<bool>(),
        prop::collection::vec(any::<u64>(), RANGES_MAX),
    )
        .prop_map(move |(mut cuts, last_to_eof, order)| {
            cuts.sort_unstable();
            cuts.dedup();
            let mut ranges: Vec<(u64, Option<u64>)> =
                cuts.chunks_exact(2).map(|pair| (pair[0], Some(pair[1] - pair[0]))).collect();
            if ranges.is_empty() || last_to_eof {
                let start = ranges
                    .last()
                    .map_or(cuts[0], |(offset, length)| offset + length.unwrap_or_default());
                if start < size {
                    ranges.push((start, None));
                }
            }
            if ranges.is_empty() {
                ranges.push((0, None));
            }
            let mut keyed: Vec<(u64, (u64, Option<u64>))> = ranges
                .into_iter()
                .zip(order.iter().cycle())
                .map(|(range, key)| (*key, range))
                .collect();
            keyed.sort_by_key(|(key, _)| *key);
            keyed.into_iter().map(|(_, range)| range).collect()
        })
}

fn case() -> impl Strategy<Value = Case> {
    let size = prop_oneof![1 => 1u64..5_000, 4 => 5_000u64..3_000_000];
    (size, any::<u64>(), 1_000u64..20_000, 16u64..512, prop::collection::vec(interruption(), 1..4))
        .prop_flat_map(|(size, seed, rate_kbit, checkpoint_kib, interruptions)| {
            ranges(size).prop_map(move |ranges| Case {
                seed,
                size,
                ranges,
                rate_kbit,
                checkpoint_kib,
                interruptions: interruptions.clone(),
            })
        })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(CASES_DEFAULT)
}

fn judge(case: &Case, defects: Defects) -> Vec<Violation> {
    let scenario = Scenario::parse(&case.scenario_text(), "ranges-case.toml")
        .expect("generated scenarios are valid");
    let outcome = run(&scenario, &RunConfig { seed: case.seed, defects, ..RunConfig::default() });
    check(&scenario, case.seed, &outcome)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn a_ranged_file_is_its_ranges_in_the_given_order_whatever_the_interruptions(case in case()) {
        let violations = judge(&case, Defects::default());
        prop_assert!(violations.is_empty(), "{:#?}\nscenario:\n{}", violations, case.scenario_text());
    }
}

/// The property can fail: on cases drawn by the same strategy, an engine that writes the
/// ranges in offset order breaks integrity in every case whose given order is not sorted, and
/// enough cases are out of order for that to mean something.
#[test]
fn the_property_fails_for_an_engine_that_sorts_the_ranges() {
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let mut out_of_order = 0;
    for _ in 0..BROKEN_ENGINE_SAMPLES {
        let case = strategy.new_tree(&mut runner).expect("cases generate").current();
        if !case.out_of_order() {
            continue;
        }
        out_of_order += 1;
        let broken = judge(&case, Defects::default().with(Defect::RangesSorted));
        assert!(
            broken.iter().any(|violation| violation.oracle == Oracle::Integrity),
            "writing the ranges sorted went unnoticed:\n{}",
            case.scenario_text()
        );
    }
    assert!(
        out_of_order >= BROKEN_ENGINE_SAMPLES / 4,
        "only {out_of_order} of {BROKEN_ENGINE_SAMPLES} cases had ranges out of order"
    );
}
