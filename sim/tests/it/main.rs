//! The simulator's integration tests, in one binary (one link step instead of many):
//!
//! - `snapshots`: every shipped scenario passes at a fixed seed and its trace matches its
//!   golden snapshot in `snapshots/`; stale or unreviewed snapshots fail.
//! - `defects`: deliberately broken engines fail the gate with the matching oracle named.
//! - `determinism`: same seed, same trace (in one process and across two); other seed,
//!   other trace.
//! - `properties`: random file sizes x random interruption schedules keep exact-offset resume
//!   and integrity (proptest; `PROPTEST_CASES` raises the case count).
//! - `cli`: exit codes and messages of the `bitsim` binary.

mod cli;
mod defects;
mod determinism;
mod properties;
mod snapshots;
mod support;
