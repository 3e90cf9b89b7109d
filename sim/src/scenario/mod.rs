//! Scenario files: TOML descriptions of one behaviour each (servers, jobs, faults, the
//! expected outcome). Unknown fields are errors, and every error names the file, the line and
//! the field, so a typo never turns into a silently different test.
//!
//! The format is documented in the README ("Scenario format").

pub mod units;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::Path;

use bitsim_engine::core::http::RemoteUrl;
use bitsim_engine::{Hresult, JobState, Priority};
use serde::{Deserialize, Serialize};
use toml::Spanned;

pub use self::units::{Between, Rate, Size, Span};

/// The simulated host that runs the engine (and the program that uses it).
pub const ENGINE_HOST: &str = "engine";

/// A run may take at most this many steps: one simulated day at the default 1 ms tick. A
/// scenario that needs more must choose a coarser tick.
pub const STEPS_MAX: u64 = 86_400_000;

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
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub disk: Disk,
    #[serde(default)]
    pub engine: EngineSettings,
    pub servers: Vec<Spanned<Server>>,
    pub jobs: Vec<Spanned<Job>>,
    #[serde(default)]
    pub faults: Vec<Spanned<Fault>>,
    #[serde(default)]
    pub random_faults: Vec<Spanned<RandomFaults>>,
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
    pub files: Vec<ServerFile>,
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
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    pub path: String,
    pub size: Size,
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
    pub files: Vec<JobFile>,
    pub expect: Expect,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    pub remote: Spanned<String>,
    pub local: String,
}

/// How the job must end.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// ACKNOWLEDGED (transferred, completed, bytes verified) or ERROR.
    pub state: JobState,
    /// For ERROR: the error code, as hex (`"0x80200013"`) or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Hresult>,
}

/// A fault at a fixed time.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub at: Span,
    pub kind: FaultKind,
    /// link-drop: how long the link stays down.
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
}

impl FaultKind {
    pub const fn name(self) -> &'static str {
        match self {
            Self::LinkDrop => "link-drop",
            Self::PowerLoss => "power-loss",
            Self::ProcessRestart => "process-restart",
            Self::Latency => "latency",
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
        Span(std::time::Duration::from_secs(600))
    }

    fn tick_default() -> Span {
        Span(std::time::Duration::from_millis(1))
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

    /// Every server's name.
    pub fn server_names(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().map(|server| server.get_ref().name.as_str())
    }

    pub fn server(&self, name: &str) -> Option<&Server> {
        self.servers.iter().map(Spanned::get_ref).find(|server| server.name == name)
    }

    fn validate(&self) -> Result<(), Located> {
        let whole = 0..0;
        let tick = self.tick.0;
        if tick < std::time::Duration::from_millis(1) || tick > std::time::Duration::from_secs(1) {
            return Err(at(whole, "tick: must be between 1ms and 1s"));
        }
        if self.deadline.0.is_zero()
            || self.deadline.0.as_nanos() / tick.as_nanos() > u128::from(STEPS_MAX)
        {
            return Err(at(
                whole,
                format!("deadline: must be positive and at most {STEPS_MAX} ticks"),
            ));
        }
        if !(0.0..=1.0).contains(&self.disk.random_sync) {
            return Err(at(whole, "disk.random_sync: must be between 0 and 1"));
        }
        if self.disk.torn_writes.is_some_and(|block| block.0 == 0) {
            return Err(at(whole, "disk.torn_writes: the block size must be positive"));
        }
        if self.servers.is_empty() || self.jobs.is_empty() {
            return Err(at(whole, "a scenario needs at least one [[servers]] and one [[jobs]]"));
        }
        self.validate_servers()?;
        self.validate_jobs()?;
        let hosts: BTreeSet<&str> = self.server_names().chain([ENGINE_HOST]).collect();
        for fault in &self.faults {
            self.validate_fault(fault, &hosts)?;
        }
        for random in &self.random_faults {
            self.validate_random(random, &hosts)?;
        }
        Ok(())
    }

    fn validate_servers(&self) -> Result<(), Located> {
        let mut names = BTreeSet::new();
        for server in &self.servers {
            let (span, server) = (server.span(), server.get_ref());
            let valid = !server.name.is_empty()
                && server.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && server.name != ENGINE_HOST;
            if !valid {
                return Err(at(
                    span,
                    format!(
                        "servers.name: `{}` must be a host name (letters, digits, -) other than `{ENGINE_HOST}`",
                        server.name
                    ),
                ));
            }
            if !names.insert(&server.name) {
                return Err(at(span, format!("servers.name: `{}` is declared twice", server.name)));
            }
            let mut paths = BTreeSet::new();
            for file in &server.files {
                if !file.path.starts_with('/') || !paths.insert(&file.path) {
                    return Err(at(
                        span,
                        format!(
                            "servers.files.path: `{}` must start with / and be unique on `{}`",
                            file.path, server.name
                        ),
                    ));
                }
                if file.changes.windows(2).any(|pair| pair[1].at <= pair[0].at) {
                    return Err(at(
                        span,
                        format!(
                            "servers.files.changes: the changes of `{}` must be in time order",
                            file.path
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_jobs(&self) -> Result<(), Located> {
        let mut names = BTreeSet::new();
        let mut locals = BTreeSet::new();
        let mut remotes: BTreeMap<(String, String), &str> = BTreeMap::new();
        for job in &self.jobs {
            let (span, job) = (job.span(), job.get_ref());
            if !names.insert(&job.name) {
                return Err(at(span, format!("jobs.name: `{}` is declared twice", job.name)));
            }
            if job.files.is_empty() {
                return Err(at(span, format!("jobs.files: job `{}` has no files", job.name)));
            }
            match (job.expect.state, job.expect.error) {
                (JobState::Acknowledged, None) | (JobState::Error, _) => {}
                (JobState::Acknowledged, Some(_)) => {
                    return Err(at(
                        span,
                        format!(
                            "jobs.expect.error: job `{}` expects ACKNOWLEDGED, which has no error",
                            job.name
                        ),
                    ));
                }
                (other, _) => {
                    return Err(at(
                        span,
                        format!(
                            "jobs.expect.state: {other} is not an outcome; use ACKNOWLEDGED or ERROR"
                        ),
                    ));
                }
            }
            for file in &job.files {
                let remote = file.remote.get_ref();
                let url = RemoteUrl::parse(remote).map_err(|error| {
                    at(file.remote.span(), format!("jobs.files.remote: {}", error.message))
                })?;
                let Some(server) = self.server(&url.host) else {
                    return Err(at(
                        file.remote.span(),
                        format!(
                            "jobs.files.remote: host `{}` is not a server of this scenario",
                            url.host
                        ),
                    ));
                };
                let served = server.files.iter().any(|served| served.path == url.path_and_query);
                if !served && job.expect.state == JobState::Acknowledged {
                    return Err(at(
                        file.remote.span(),
                        format!(
                            "jobs.files.remote: `{}` is not a file of server `{}`, yet the job expects ACKNOWLEDGED",
                            url.path_and_query, server.name
                        ),
                    ));
                }
                // The oracles attribute the requests a server sees to a job's file by URL.
                if let Some(other) =
                    remotes.insert((url.host.clone(), url.path_and_query.clone()), &job.name)
                {
                    return Err(at(
                        file.remote.span(),
                        format!(
                            "jobs.files.remote: `{remote}` is also used by job `{other}`; each URL may appear once"
                        ),
                    ));
                }
                if !file.local.starts_with('/')
                    || file.local.ends_with('/')
                    || !locals.insert(&file.local)
                {
                    return Err(at(
                        span,
                        format!(
                            "jobs.files.local: `{}` must be a unique absolute file path",
                            file.local
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_fault(
        &self,
        fault: &Spanned<Fault>,
        hosts: &BTreeSet<&str>,
    ) -> Result<(), Located> {
        let (span, fault) = (fault.span(), fault.get_ref());
        let kind = fault.kind;
        let needs = |present: bool, field: &str| {
            if present {
                Ok(())
            } else {
                Err(at(span.clone(), format!("faults: a {} fault needs `{field}`", kind.name())))
            }
        };
        let forbids = |present: bool, field: &str| {
            if present {
                Err(at(
                    span.clone(),
                    format!("faults.{field}: a {} fault has no `{field}`", kind.name()),
                ))
            } else {
                Ok(())
            }
        };
        match kind {
            FaultKind::LinkDrop => {
                needs(fault.duration.is_some(), "duration")?;
                forbids(fault.down.is_some(), "down")?;
                forbids(fault.host.is_some(), "host")?;
                forbids(fault.latency.is_some(), "latency")?;
            }
            FaultKind::PowerLoss => {
                needs(fault.down.is_some(), "down")?;
                forbids(fault.duration.is_some(), "duration")?;
                forbids(fault.between.is_some(), "between")?;
                forbids(fault.latency.is_some(), "latency")?;
            }
            FaultKind::ProcessRestart => {
                for (present, field) in [
                    (fault.duration.is_some(), "duration"),
                    (fault.down.is_some(), "down"),
                    (fault.between.is_some(), "between"),
                    (fault.latency.is_some(), "latency"),
                ] {
                    forbids(present, field)?;
                }
            }
            FaultKind::Latency => {
                needs(fault.latency.is_some(), "latency")?;
                for (present, field) in [
                    (fault.duration.is_some(), "duration"),
                    (fault.down.is_some(), "down"),
                    (fault.host.is_some(), "host"),
                ] {
                    forbids(present, field)?;
                }
            }
        }
        check_hosts(&span, fault.host.as_deref(), fault.between.as_ref(), hosts)?;
        if fault.at >= self.deadline {
            return Err(at(
                span,
                format!("faults.at: {} is not before the deadline {}", fault.at, self.deadline),
            ));
        }
        Ok(())
    }

    fn validate_random(
        &self,
        random: &Spanned<RandomFaults>,
        hosts: &BTreeSet<&str>,
    ) -> Result<(), Located> {
        let (span, random) = (random.span(), random.get_ref());
        if random.count > RANDOM_FAULTS_MAX {
            return Err(at(span, format!("random_faults.count: at most {RANDOM_FAULTS_MAX}")));
        }
        let kind = random.kind;
        let required = match kind {
            FaultKind::LinkDrop => (random.duration.is_some(), random.down.is_none(), "duration"),
            FaultKind::PowerLoss => (random.down.is_some(), random.duration.is_none(), "down"),
            FaultKind::ProcessRestart => {
                (true, random.duration.is_none() && random.down.is_none(), "nothing else")
            }
            FaultKind::Latency => {
                return Err(at(span, "random_faults.kind: latency changes cannot be random (yet)"));
            }
        };
        if !(required.0 && required.1) {
            return Err(at(
                span,
                format!(
                    "random_faults: a random {} fault takes `{}` (and not the other duration)",
                    kind.name(),
                    required.2
                ),
            ));
        }
        check_hosts(&span, random.host.as_deref(), random.between.as_ref(), hosts)?;
        if random.window.max >= self.deadline {
            return Err(at(
                span,
                format!("random_faults.window: ends after the deadline {}", self.deadline),
            ));
        }
        Ok(())
    }
}

impl Server {
    fn keep_alive_default() -> bool {
        true
    }
}

impl Network {
    fn latency_default() -> Between<Span> {
        let ten = Span(std::time::Duration::from_millis(10));
        Between { min: ten, max: ten }
    }
}

impl Default for Network {
    fn default() -> Self {
        Self { latency: Self::latency_default() }
    }
}

fn check_hosts(
    span: &Range<usize>,
    host: Option<&str>,
    between: Option<&[String; 2]>,
    hosts: &BTreeSet<&str>,
) -> Result<(), Located> {
    let named = host
        .into_iter()
        .chain(between.into_iter().flat_map(|pair| pair.iter().map(String::as_str)));
    for name in named {
        if !hosts.contains(name) {
            return Err(at(
                span.clone(),
                format!("faults: host `{name}` is neither `{ENGINE_HOST}` nor a server"),
            ));
        }
    }
    if between.is_some_and(|[a, b]| a == b) {
        return Err(at(span.clone(), "faults.between: a link needs two different hosts"));
    }
    Ok(())
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
