//! Every decision of the engine, and no IO: no sockets, files, clocks or tasks.
//!
//! Functions take the monotonic time (`now: Duration` since the engine started) as an argument;
//! nothing here reads a clock. The async side (`crate::engine`, `crate::transfer`) asks these
//! modules what to do and carries it out.
//!
//! - [`auth`]: credentials: challenge parsing and the answers of each scheme.
//! - [`state`]: BITS job states, priorities and the legal transitions.
//! - [`job`]: one job, its files and progress; BITS defaults and limits.
//! - [`queue`]: the job queue, scheduler and timers, driven by `handle_*` / `poll_*`.
//! - [`http`]: URL, HEAD and GET rules; which `Range` to send; whether a response is usable.
//! - [`proxy`]: proxy usage, proxy and bypass lists: which proxy a request goes through.
//! - [`request`]: redirects, which party a 401/407 challenges, where server credentials
//!   may go, which idle connection a transfer may reuse.
//! - [`ranges`]: file ranges (`AddFileWithRanges`): their rules, and which remote byte each
//!   local byte comes from.
//! - [`resume`]: exact-offset resume, recovery of temporary files, checkpoint cadence.
//! - [`retry`]: transient versus fatal failures, retry and no-progress timers.
//! - [`throttle`]: the group policy's background limit, job caps, the pacing token bucket.
//! - [`ledbat`]: the delay-based controller that keeps background transfers to idle bandwidth.
//! - [`journal`]: the durable form of the queue and its checksummed encoding.
//! - [`hresult`], [`error`]: BITS error codes and errors grouped by who is at fault.
//! - [`event`]: the event stream.
//! - [`upload`]: the BITS Upload Protocol's client side: packets, fragments, Acks.
//! - [`notify`]: notify flags and the at-least-once delivery of notifications.
//! - [`defect`]: deliberate bugs for testing the simulator's oracles (feature `defects`).

pub mod auth;
pub mod defect;
pub mod error;
pub mod event;
pub mod hresult;
pub mod http;
pub mod job;
pub mod journal;
pub mod ledbat;
pub mod notify;
pub mod proxy;
pub mod queue;
pub mod ranges;
pub mod request;
pub mod resume;
pub mod retry;
pub mod state;
pub mod throttle;
pub mod upload;
