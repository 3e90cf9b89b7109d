//! The engine's settings that are not per-job BITS properties, with their defaults.

use std::time::Duration;

use std::collections::BTreeMap;

use crate::core::auth::credentials::Logon;
use crate::core::auth::policy::LogonPolicy;
use crate::core::auth::seal::MachineKey;
use crate::core::defect::Defects;
use crate::core::job::JOB_INACTIVITY_TIMEOUT_DEFAULT;
use crate::core::proxy::ProxyEnvironment;
use crate::core::queue::TIME_SLICE_DEFAULT;
use crate::core::resume::CheckpointPolicy;
use crate::core::throttle::BandwidthPolicy;

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

/// The NTLM workstation name when none is configured.
pub const WORKSTATION_DEFAULT: &str = "BITSIM";

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Where the journal lives. Created (durably) at start-up if missing.
    pub state_dir: String,
    pub connect_timeout: Duration,
    pub send_timeout: Duration,
    pub receive_timeout: Duration,
    pub checkpoint: CheckpointPolicy,
    /// How long a background job keeps the slot while an equal-priority job waits.
    pub time_slice: Duration,
    /// The group policy's limit for background transfers; `None`: no policy.
    pub bandwidth_policy: Option<BandwidthPolicy>,
    /// Background jobs use only idle bandwidth (`core::ledbat`). Off, they transfer at full
    /// speed like BITS 1.x on a link it cannot see.
    pub background_controller: bool,
    /// The registry settings that decide on logon credentials (`UseLMCompat`,
    /// `LmCompatibilityLevel`) and which BITS release's rule applies.
    pub logon_policy: LogonPolicy,
    /// Each user's logon credentials, by user name: what NTLM and Negotiate send as implicit
    /// credentials for that user's jobs. A user without an entry has none.
    pub logons: BTreeMap<String, Logon>,
    /// What PRECONFIG (the owner's Internet Explorer settings) and AUTODETECT (WPAD) find.
    pub proxy_environment: ProxyEnvironment,
    /// The machine's name in NTLM messages.
    pub workstation: String,
    /// Lets Basic authentication send passwords over plain HTTP, readable by anyone on the
    /// path. Off by default; every connection of this engine is plain HTTP.
    pub danger_allow_basic_auth_over_http: bool,
    /// Seals credentials in the journal so they outlive a restart, as BITS keeps them for
    /// the job's life. `None`: credentials live in memory only.
    pub credential_key: Option<MachineKey>,
    /// The JobInactivityTimeout policy: a job without activity (progress, or a call by its
    /// owner that changes it) for this long is cancelled by the service (spec §2.4).
    pub job_inactivity_timeout: Duration,
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
            time_slice: TIME_SLICE_DEFAULT,
            bandwidth_policy: None,
            background_controller: true,
            logon_policy: LogonPolicy::default(),
            logons: BTreeMap::new(),
            proxy_environment: ProxyEnvironment::default(),
            workstation: WORKSTATION_DEFAULT.to_owned(),
            danger_allow_basic_auth_over_http: false,
            credential_key: None,
            job_inactivity_timeout: JOB_INACTIVITY_TIMEOUT_DEFAULT,
            defects: Defects::default(),
        }
    }
}
