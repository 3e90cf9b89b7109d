//! bitsim-engine: a background file-transfer engine with the semantics of Microsoft BITS 2.0.
//!
//! Jobs of files wait in a queue ordered by priority; each file is downloaded over HTTP/1.1
//! and resumes at the exact byte where it stopped, after a dropped link or a power loss.
//! The same code runs on real sockets and files ([`TokioEnv`]) and inside the `bitsim`
//! simulator, through the one [`Env`] seam.
//!
//! # Map
//! - [`core`]: every decision, no IO: states and transitions, the queue and scheduler, HTTP
//!   range rules, resume and recovery, retry timers, the journal encoding, BITS error codes.
//! - [`engine`]: the public API ([`Engine`]), start-up (which is recovery) and the driver loop.
//! - `client`: one transfer's HTTP: the route (direct or proxy), 401/407 answers, redirects.
//! - `transfer`: one file's download, as linear async code that asks `core` at every branch.
//! - `upload`: one upload with the BITS Upload Protocol, asking `core::upload` at every step.
//! - `pace`: paces a transfer's reads to its limits and runs the background controller's
//!   delay probes.
//! - `store`: the journal on disk, replaced atomically.
//! - [`env`]: the seam ([`Env`], [`FileIo`]) and the real implementation, [`TokioEnv`].
//! - [`config`]: timeouts and checkpoint cadence with their defaults.
//!
//! # Determinism
//! Nothing here reads the system clock, spawns threads or draws randomness, except
//! [`TokioEnv`], the real world. Monotonic time and every timer come from [`Env::now`] and
//! [`Env::sleep_until`] (the simulator leaps over idle time, so it must see every deadline);
//! wall-clock time comes from [`Env::unix_time`]. Maps are `BTreeMap`s; every `select!` is
//! `biased`. `clippy.toml` enforces the bans.
//!
//! # Threads
//! The engine is single-threaded: run it on a current-thread runtime inside a
//! `tokio::task::LocalSet`.

mod client;
pub mod config;
pub mod core;
pub mod engine;
pub mod env;
mod pace;
mod store;
mod transfer;
mod upload;

pub use config::EngineConfig;
pub use core::error::{ApiError, ErrorContext, JobError, TransferError};
pub use core::event::{Event, EventSink};
pub use core::hresult::Hresult;
pub use core::job::{JobId, JobProgress};
pub use core::notify::{Notification, NotifyFlags};
pub use core::ranges::{FileRange, LENGTH_TO_EOF};
pub use core::state::{JobState, JobType, Priority};
pub use engine::{Caller, Engine, FileInfo, JobInfo, NotifyCallback, Session};
pub use env::{Env, FileIo, OpenMode, TokioEnv};
pub use store::StartError;
