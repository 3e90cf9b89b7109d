//! bitsim: a deterministic network simulator and conformance suite for `bitsim-engine`.
//!
//! A scenario file (servers, jobs, faults, expected outcome) and a seed become a turmoil
//! simulation; the engine runs unchanged on a simulated host; every run is judged by oracles
//! and replays bit for bit from its seed.
//!
//! # Map
//! - [`scenario`]: the TOML format, its units, and validation with file:line errors.
//! - [`world`]: scenario + seed -> turmoil `Sim`; the step loop that applies faults.
//! - [`clock`]: simulated time, which leaps over idle stretches; every timer goes through it.
//! - [`timeline`]: fixed and seed-drawn faults as timed actions, and the heal that ends the
//!   chaos phase.
//! - [`liveness`]: the bound within which every job must settle once faults are healed.
//! - [`net`]: shaped links (rate, queue, latency, jitter, MSS), profiles, what links saw.
//! - [`cross`]: the user's own bulk traffic over the same links.
//! - [`origin`]: HTTP servers with deterministic content and field-seen misbehaviours.
//! - [`proxy`]: forward proxies that may demand credentials (407).
//! - [`artifact`]: a failing run as one self-contained file that `bitsim run` replays.
//! - [`app`]: the client program beside the engine (creates, completes, reads back).
//! - [`auth`]: the servers' side of HTTP authentication: challenges, verification, what credentials arrived.
//! - [`env`]: `TurmoilEnv`, the engine's `Env` on simulated sockets and disk.
//! - [`content`]: the content of every served file, from the seed.
//! - [`trace`]: the event record (JSON Lines, compact text, hash).
//! - [`book`]: per-job facts read from the trace.
//! - [`traffic`]: who used the bottleneck when: link ground truth joined with the trace.
//! - [`oracle`]: the properties every run must have.
//! - [`matrix`]: the credential decision matrix, each row run in the simulator.
//! - [`report`]: a judged run: verdict, figures, replay line.
//! - [`gate`]: every scenario for every seed.
//! - [`swarm`]: every seed expands into a generated scenario (VOPR-style swarm testing).
//! - [`shrink`]: a failing scenario, reduced while the same oracle still fails.
//! - [`profile`]: the throttle-and-yield workload of `bitsim profile`; [`plot`] its chart.
//!
//! # Determinism
//! Everything random comes from the run's seed: turmoil's RNG (latency, fs faults), the
//! random faults (ChaCha8), the content. The epoch is fixed. No `HashMap` iteration, no
//! threads inside a simulation, every `select!` biased; `clippy.toml` enforces the bans.

pub mod app;
pub mod artifact;
pub mod auth;
pub mod book;
pub mod clock;
pub mod content;
pub mod cross;
pub mod env;
pub mod gate;
pub mod liveness;
pub mod matrix;
pub mod net;
pub mod oracle;
pub mod origin;
pub mod plot;
pub mod profile;
pub mod proxy;
pub mod report;
pub mod scenario;
pub mod shrink;
pub mod swarm;
pub mod timeline;
pub mod trace;
pub mod traffic;
pub mod world;
