//! The engine's settings that are not per-job BITS properties, with their defaults.

use std::time::Duration;

use crate::core::defect::Defects;
use crate::core::resume::CheckpointPolicy;

/// WinHTTP's default connect timeout (`WinHttpSetTimeouts`: 60 s), which BITS inherits.
pub const CONNECT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);
/// WinHTTP's default receive timeout (30 s): the longest wait for a response head or for the
/// next bytes of a body. In the simulator a dropped link hangs a stream forever instead of
/// failing it, so this is what notices the drop.
pub const RECEIVE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);
/// WinHTTP's default send timeout (30 s): the longest wait to hand a request to the network.
pub const SEND_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);

/// The `User-Agent` we send: BITS 2.0's own (QMgr 6.6), so servers that single out BITS
/// clients treat us alike, plus our name so logs can tell us apart.
pub const USER_AGENT: &str = "Microsoft BITS/6.6 bitsim/0.1";

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Where the journal lives. Created (durably) at start-up if missing.
    pub state_dir: String,
    pub connect_timeout: Duration,
    pub send_timeout: Duration,
    pub receive_timeout: Duration,
    pub checkpoint: CheckpointPolicy,
    /// Deliberate bugs; always empty unless the crate is built with `defects`.
    pub defects: Defects,
}

impl EngineConfig {
    pub fn new(state_dir: impl Into<String>) -> Self {
        Self {
            state_dir: state_dir.into(),
            connect_timeout: CONNECT_TIMEOUT_DEFAULT,
            send_timeout: SEND_TIMEOUT_DEFAULT,
            receive_timeout: RECEIVE_TIMEOUT_DEFAULT,
            checkpoint: CheckpointPolicy::default(),
            defects: Defects::default(),
        }
    }
}
