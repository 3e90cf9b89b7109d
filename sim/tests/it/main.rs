//! The simulator's integration tests, in one binary (one link step instead of many):
//!
//! - `auth`: the engine's answers against the simulator's servers, scheme by scheme.
//! - `defects`: deliberately broken engines fail the gate with the matching oracle named.
//! - `determinism`: same seed, same trace (in one process and across two); other seed,
//!   other trace.
//! - `leaps`: leaping over idle time gives the trace of stepping every tick; 14 days of
//!   retries take few steps.
//! - `liveness`: two-phase runs: the heal, the run past its deadline until the bound ends,
//!   and a background transfer a healed fault leaves crawling, caught.
//! - `properties`: random file sizes x random interruption schedules keep exact-offset resume
//!   and integrity (proptest; `PROPTEST_CASES` raises the case count), and the property is
//!   shown failing for an engine that resumes one byte late.
//! - `ranges`: random range sets (offsets, lengths, EOF ranges, order) of random file sizes
//!   x random interruptions: the completed file is the requested bytes in the given order
//!   (proptest), and the property is shown failing for an engine that sorts the ranges.
//! - `upload_properties`: random uploads x random interruptions arrive whole, every byte
//!   written once; shown failing for an engine that ignores BITS-Received-Content-Range.
//! - `resume`: the resume scenarios resume, without refetching a durable byte.
//! - `fetch`: `bitsim fetch` on real sockets through a real authenticating proxy.
//! - `cli`: exit codes and messages of the `bitsim` binary.
//! - `swarm`: a seed's printed scenario replays the swarm's run; a deliberately broken
//!   engine is found by the swarm, shrunk to at most two faults, and replayed from artifacts.
//!
//! The golden traces are a separate test target, `snapshots/golden.rs`, so that the
//! directory holding them is one `cargo insta review` searches.

mod auth;
mod bandwidth;
mod cli;
mod defects;
mod determinism;
mod fetch;
mod leaps;
mod links;
mod liveness;
mod properties;
mod ranges;
mod resume;
mod support;
mod swarm;
mod upload_properties;
