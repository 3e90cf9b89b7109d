//! Scenario files: TOML descriptions of one behaviour each (servers, jobs, faults, the
//! expected outcome). Unknown fields are errors, and every error names the file, the line and
//! the field, so a typo never turns into a silently different test.
//!
//! The format is documented in the README ("Scenario format").

pub mod access;
pub mod actions;
pub mod liveness;
mod mirror;
pub mod network;
pub mod ranges;
pub mod units;
pub mod upload;
mod validate;

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use bitsim_engine::{Hresult, JobState, Priority};
use serde::{Deserialize, Serialize};
use toml::Spanned;

pub use self::access::{
    Account, AuthDemand, CredentialSettings, JobCredential, JobProxy, MachineProxy, Proxy, Redirect,
};
pub use self::actions::{Action, Call};
pub use self::liveness::Liveness;
pub use self::network::{
    CROSS_HOST, CrossDirection, CrossTraffic, Limit, LinkDecl, LinkSettings, Throttle, YieldBounds,
};
pub use self::ranges::FileRanges;
pub use self::units::{Between, Rate, Size, Span};

/// The simulation's wall clock starts on 2026-01-01T00:00:00Z (plus `clock`), whatever the
/// real date.
pub const EPOCH_UNIX_SECS: u64 = 1_767_225_600;

/// A time of day, in seconds after midnight.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct ClockTime(pub u64);

impl std::str::FromStr for ClockTime {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let numbers: Option<Vec<u64>> = parts.iter().map(|part| part.parse().ok()).collect();
        match numbers.as_deref() {
            Some([h, m]) if *h < 24 && *m < 60 => Ok(Self(h * 3600 + m * 60)),
            Some([h, m, s]) if *h < 24 && *m < 60 && *s < 60 => Ok(Self(h * 3600 + m * 60 + s)),
            _ => Err(format!("`{text}` is not a time of day like \"23:30\" or \"23:59:30\"")),
        }
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}:{:02}", self.0 / 3600, self.0 / 60 % 60, self.0 % 60)
    }
}

units::text_serde!(ClockTime);

/// The simulated host that runs the engine (and the program that uses it).
pub const ENGINE_HOST: &str = "engine";

/// A run may take at most this many steps (ticks it does not leap over): one simulated day
/// of activity at the default 1 ms tick, several minutes of wall time. A run that needs more
/// stops, failing `hosts-healthy`; it should choose a coarser tick.
pub const STEPS_MAX: u64 = 86_400_000;

/// The latest deadline: a year. Idle time is leapt over, so long timers (a 14-day
/// NoProgressTimeout) cost little; the links number their 10 ms statistics buckets with a
/// `u32`, which lasts 497 days.
pub const DEADLINE_MAX: Duration = Duration::from_secs(365 * 86_400);

/// At most this many random faults per `[[random_faults]]` entry.
const RANDOM_FAULTS_MAX: u32 = 1000;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// One sentence: the behaviour this scenario shows.
    pub description: String,
    /// Every job must be settled by this simulated time.
    #[serde(default = "Scenario::deadline_default")]
    pub deadline: Span,
    /// turmoil's step: simulated time advances this much per step.
    #[serde(default = "Scenario::tick_default")]
    pub tick: Span,
    /// The wall-clock time of day (UTC) when the run starts, `"HH:MM"` or `"HH:MM:SS"`, on
    /// 2026-01-01. Bandwidth-policy windows follow it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockTime>,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub disk: Disk,
    #[serde(default)]
    pub engine: EngineSettings,
    pub servers: Vec<Spanned<Server>>,
    /// Forward proxies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxies: Vec<Spanned<Proxy>>,
    /// The simulated domain's users.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<Spanned<Account>>,
    pub jobs: Vec<Spanned<Job>>,
    /// API calls the client program makes at given times.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Spanned<Action>>,
    #[serde(default)]
    pub faults: Vec<Spanned<Fault>>,
    #[serde(default)]
    pub random_faults: Vec<Spanned<RandomFaults>>,
    /// Shaped links; pairs no link joins use turmoil's plain links (`network.latency`).
    #[serde(default)]
    pub links: Vec<Spanned<LinkDecl>>,
    #[serde(default)]
    pub cross_traffic: Vec<Spanned<CrossTraffic>>,
    /// Bounds for the `background-yield` oracle; absent: not judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yield_bounds: Option<YieldBounds>,
    /// Two phases: chaos until `after`, then healing and the `liveness` oracle's bound.
    /// Absent: one phase, judged by the deadline alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<Spanned<Liveness>>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// One-way latency of every link: fixed (`"10ms"`) or drawn per message from the seed
    /// (`"5ms..50ms"`, turmoil's exponential curve between the bounds).
    #[serde(default = "Network::latency_default")]
    pub latency: Between<Span>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// Probability that a write becomes durable on its own, without a sync (turmoil's
    /// `sync_probability`).
    #[serde(default)]
    pub random_sync: f64,
    /// Block size of torn writes: at a power loss each unsynced write survives as a random
    /// prefix of whole blocks. Absent: unsynced writes vanish whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torn_writes: Option<Size>,
}

/// Engine settings that are not per-job BITS properties. Absent values take the engine's
/// defaults (WinHTTP's timeouts, checkpoint every MiB or 2 s).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Span>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_timeout: Option<Span>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_timeout: Option<Span>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_bytes: Option<Size>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_interval: Option<Span>,
    /// How long a background job transfers before an equal-priority job takes its turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_slice: Option<Span>,
    /// The group policy's background bandwidth limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<Throttle>,
    /// `true` turns the background controller off: background jobs then take whatever the
    /// link gives, as BITS 2.0 did behind a slow link its NIC could not see (spec §5.1).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub background_full_speed: bool,
    /// The registry settings that decide on logon credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialSettings>,
    /// What PRECONFIG and AUTODETECT find.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<MachineProxy>,
    /// The JobInactivityTimeout policy (BITS's default: 90 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_inactivity_timeout: Option<Span>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Host name; job URLs use it (`http://NAME/path`).
    pub name: String,
    #[serde(default)]
    pub behaviour: Behaviour,
    /// Paces response bodies to this rate (per connection). Absent: as fast as turmoil goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_rate: Option<Rate>,
    /// `false`: close the connection after every response, as HTTP/1.0 servers do.
    #[serde(default = "Server::keep_alive_default")]
    pub keep_alive: bool,
    /// Demands credentials (401) for every path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthDemand>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<Redirect>,
    #[serde(default)]
    pub files: Vec<ServerFile>,
    /// A BITS upload directory (`BITS_POST`), with its misbehaviours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploads: Option<upload::UploadSettings>,
}

/// How a server treats requests. Each misbehaviour is one seen in the field.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// RFC 9110 ranges: 206 with Content-Range, 416 when unsatisfiable, `If-Range` honoured.
    #[default]
    Normal,
    /// Answers 500 to a `Range` that reaches past the end of the file, as SMS 2003's ISAPI
    /// extension did (KB 842309 known issue 1).
    StrictRange,
    /// Like `strict-range`, but closes the connection without an answer.
    StrictRangeClose,
    /// Always 200 with the whole file, whatever the `Range` (a proxy or server that strips it).
    IgnoresRange,
    /// HEAD and GET without Content-Length (chunked), as dynamic content is served.
    NoContentLength,
    /// Answers a ranged GET as servers that merge or coalesce ranges do: the range widened to
    /// whole 4 KiB blocks, or, when it is block-aligned already, a multipart/byteranges body
    /// (spec §3.3: BITS reports BG_E_INVALID_SERVER_RESPONSE).
    MergesRanges,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    pub path: String,
    pub size: Size,
    /// A mirror: the same bytes, Last-Modified and changes as this other server's file
    /// (`"http://origin/update.bin"`); size and changes must be stated the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_as: Option<String>,
    /// New versions of the file from the given times on (new content, Last-Modified, ETag).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub at: Span,
    /// The new size; absent keeps the size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Size>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// The job's display name; unique in the scenario.
    pub name: String,
    #[serde(default)]
    pub priority: Priority,
    /// MinimumRetryDelay; BITS's default (600 s) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<Span>,
    /// NoProgressTimeout; BITS's default (14 days) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_progress_timeout: Option<Span>,
    /// The job's own bandwidth cap, whatever its priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<Rate>,
    /// When the client program creates the job (default: at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<Span>,
    /// The user who creates the job (default: `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `SetCredentials` calls, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<JobCredential>,
    /// `SetProxySettings` (absent: PRECONFIG, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<JobProxy>,
    /// `download` (default), `upload` or `upload-reply` (`BG_JOB_TYPE`).
    #[serde(default, rename = "type", skip_serializing_if = "is_download")]
    pub job_type: bitsim_engine::JobType,
    /// Upload-reply: `SetReplyFileName` (default: the source's name plus `.reply`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// `SetNotifyFlags`, e.g. `0xB` (absent: the engine's default, 0x3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_flags: Option<u32>,
    /// The program's notification callback returns E_FAIL for the first this many
    /// JobTransferred and JobError calls about the job (default 0: it acknowledges each).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub callback_fails_first: u32,
    pub files: Vec<JobFile>,
    pub expect: Expect,
}

fn is_download(job_type: &bitsim_engine::JobType) -> bool {
    !job_type.is_upload()
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    pub remote: Spanned<String>,
    pub local: String,
    /// `AddFileWithRanges`: the ranges wanted, in bitsadmin syntax (absent: `AddFile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<FileRanges>,
    /// Upload jobs: the size of the source the client program writes (default 64 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Size>,
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

/// How the job must end.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// ACKNOWLEDGED (transferred, completed, bytes verified), ERROR, or CANCELLED (by the
    /// service, for inactivity).
    pub state: JobState,
    /// For ERROR: the error code, as hex (`"0x80200013"`) or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Hresult>,
    /// How many times the job's files start again from byte 0 (absent: not judged): 0 shows
    /// progress kept, for instance across a change of remote name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u32>,
}

/// A fault at a fixed time.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub at: Span,
    pub kind: FaultKind,
    /// link-drop: how long the link stays down; network-loss: how long the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Span>,
    /// power-loss: how long the host stays off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down: Option<Span>,
    /// power-loss, process-restart: which host (default: the engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// link-drop, latency: the two ends (default: the engine and every server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<[String; 2]>,
    /// latency: the new one-way latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Span>,
    /// link-rate: the new rate of the down (b -> a) and up (a -> b) directions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_rate: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_rate: Option<Rate>,
}

#[derive(Clone, Copy, Debug, Deserialize, Eq, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// The link is partitioned, then repaired. Established connections hang (turmoil has no
    /// retransmission), exactly like a pulled cable before TCP's timers fire.
    LinkDrop,
    /// The host loses power: unsynced writes are lost (or torn), then it boots again.
    PowerLoss,
    /// The host's software restarts; the OS page cache (unsynced writes) survives.
    ProcessRestart,
    /// The link's one-way latency changes.
    Latency,
    /// A shaped link's rate changes (a modem retrains, a mobile cell gets crowded).
    LinkRate,
    /// The engine's machine loses its network (every link of the engine's host is dropped
    /// and the engine is told, as an adapter's disconnect event tells BITS), then gets it
    /// back.
    NetworkLoss,
}

impl FaultKind {
    pub const fn name(self) -> &'static str {
        match self {
            Self::LinkDrop => "link-drop",
            Self::PowerLoss => "power-loss",
            Self::ProcessRestart => "process-restart",
            Self::Latency => "latency",
            Self::LinkRate => "link-rate",
            Self::NetworkLoss => "network-loss",
        }
    }
}

/// `count` faults at times drawn from the run's seed.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RandomFaults {
    pub kind: FaultKind,
    pub count: u32,
    /// When they may happen.
    pub window: Between<Span>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Between<Span>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down: Option<Between<Span>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<[String; 2]>,
}

/// A scenario file that does not parse or does not make sense, located in its source.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ScenarioError {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.path, self.line, self.column, self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// A validation failure at a byte span of the source.
struct Located {
    span: Range<usize>,
    message: String,
}

fn at(span: Range<usize>, message: impl Into<String>) -> Located {
    Located { span, message: message.into() }
}

impl Scenario {
    fn deadline_default() -> Span {
        Span(Duration::from_secs(600))
    }

    fn tick_default() -> Span {
        Span(Duration::from_millis(1))
    }

    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ScenarioError {
            path: label.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read the file: {error}"),
        })?;
        Self::parse(&text, &label)
    }

    /// Parses and validates scenario text; `label` names it in errors.
    pub fn parse(text: &str, label: &str) -> Result<Self, ScenarioError> {
        let locate = |span: Option<Range<usize>>, message: String| {
            let (line, column) = span.map_or((0, 0), |span| line_column(text, span.start));
            ScenarioError { path: label.to_owned(), line, column, message }
        };
        let scenario: Self = toml::from_str(text)
            .map_err(|error| locate(error.span(), error.message().trim().to_owned()))?;
        scenario.validate().map_err(|located| locate(Some(located.span), located.message))?;
        Ok(scenario)
    }

    /// The simulated wall clock at time zero, in seconds since the Unix epoch.
    pub fn epoch_unix_secs(&self) -> u64 {
        EPOCH_UNIX_SECS + self.clock.map_or(0, |clock| clock.0)
    }

    /// Every server's name.
    pub fn server_names(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().map(|server| server.get_ref().name.as_str())
    }

    /// Every simulated host: the engine's, the servers, the proxies, and the cross-traffic
    /// host if used.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        let cross = (!self.cross_traffic.is_empty()).then_some(CROSS_HOST);
        let proxies = self.proxies.iter().map(|proxy| proxy.get_ref().name.as_str());
        [ENGINE_HOST].into_iter().chain(self.server_names()).chain(proxies).chain(cross)
    }

    /// Every password in the scenario: none may ever appear in a trace.
    pub fn passwords(&self) -> impl Iterator<Item = &str> {
        let accounts = self.accounts.iter().map(|account| account.get_ref().password.as_str());
        let jobs = self.jobs.iter().flat_map(|job| {
            job.get_ref().credentials.iter().filter_map(|credential| credential.password.as_deref())
        });
        accounts.chain(jobs).filter(|password| !password.is_empty())
    }

    pub fn server(&self, name: &str) -> Option<&Server> {
        self.servers.iter().map(Spanned::get_ref).find(|server| server.name == name)
    }
}

impl Job {
    /// The user who creates the job.
    /// How many files the client program reads back after Complete: every file of a
    /// download, the reply of an upload-reply job, nothing of an upload.
    pub fn files_read_back(&self) -> usize {
        match self.job_type {
            bitsim_engine::JobType::Download => self.files.len(),
            bitsim_engine::JobType::Upload => 0,
            bitsim_engine::JobType::UploadReply => 1,
        }
    }

    pub fn owner(&self) -> &str {
        self.owner.as_deref().unwrap_or(bitsim_engine::core::job::OWNER_DEFAULT)
    }
}

impl Server {
    fn keep_alive_default() -> bool {
        true
    }
}

impl Network {
    fn latency_default() -> Between<Span> {
        let ten = Span(Duration::from_millis(10));
        Between { min: ten, max: ten }
    }
}

impl Default for Network {
    fn default() -> Self {
        Self { latency: Self::latency_default() }
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |newline| before.len() - newline - 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
