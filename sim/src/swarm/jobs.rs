//! A seed's jobs: 1-3 of them, each of 1-2 files on the seed's servers, with a random
//! priority and owner, a retry delay, perhaps a late start, sizes that fit the rate the job
//! will get, its route (through the proxy or direct) and the `SetCredentials` calls that
//! route needs; plus the accounts and the machine's proxy and logon settings they rely on.

use std::time::Duration;

use bitsim_engine::core::auth::policy::BitsVersion;
use bitsim_engine::core::auth::{AuthScheme, AuthTarget};
use bitsim_engine::core::job::OWNER_DEFAULT;
use bitsim_engine::core::proxy::ProxyUsage;
use bitsim_engine::{JobState, Priority};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::topology::spanned;
use super::{log_span, log_uniform, pick};
use crate::auth::Demand;
use crate::scenario::{
    Account, CredentialSettings, Expect, Job, JobCredential, JobFile, JobProxy, MachineProxy,
    Scenario, ServerFile, Size, Span,
};

/// The domain's users and their passwords (long enough for the `secrets-hidden` oracle).
const USERS: [(&str, &str); 2] = [("alice", "alice-swarm-pw"), ("bob", "bob-swarm-pw")];
const JOBS_MAX: usize = 3;
const FILES_PER_JOB_MAX: usize = 2;
/// Share of a proxied seed's jobs that go through the proxy; the rest go direct.
const PROXIED_JOB_SHARE: f64 = 0.8;
/// The smallest file: a few segments. The largest: simulating a byte costs wall time
/// (about 40 ms per MiB), so files stay small; what matters is where faults cut them.
const FILE_BYTES_MIN: f64 = 4096.0;
const FILE_BYTES_MAX: f64 = 4.0 * 1024.0 * 1024.0;
/// Without faults, all of a seed's files transfer in at most about this much simulated time
/// (one after another, at the rate each is estimated to get), which keeps a run cheap.
const TRANSFER_TIME_MAX: Duration = Duration::from_secs(60);
/// What a background transfer is assumed to get of a shaped link: the background controller
/// uses 36-40 % of dial-up and ISDN lines (README, "Links and profiles"), more elsewhere.
const BACKGROUND_SHARE: f64 = 0.3;
/// BITS's MinimumRetryDelay floor (5 s) up to a minute...
const RETRY_DELAY: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(60));
/// ...or, for this share of jobs, BITS's default (600 s): what a program that never sets it
/// gets. The simulator leaps over the idle wait (README, "Simulated time"), so it costs
/// little wall time.
const DEFAULT_RETRY_DELAY_SHARE: f64 = 0.2;
/// BITS's default MinimumRetryDelay.
const RETRY_DELAY_DEFAULT: Duration = Duration::from_secs(600);

/// How jobs that use the proxy find it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Route {
    /// `SetProxySettings(OVERRIDE, "proxy:port")`.
    Override,
    /// The machine's PRECONFIG list.
    Preconfig,
    /// What WPAD finds (AUTODETECT).
    Autodetect,
}

/// How a job answers an NTLM or Negotiate proxy with its owner's logon (KB 842309).
#[derive(Clone, Copy, Debug)]
pub(super) enum Logon {
    /// `SetCredentials(PROXY, scheme, NULL, NULL)`.
    NullCredentials,
    /// The registry allows logon credentials: `UseLMCompat` 0.
    UseLmCompat0,
    /// The registry allows them: `LmCompatibilityLevel` 2 or more.
    LmLevel(u32),
    /// BITS 1.5's rule: logon credentials to every proxy.
    Bits15,
    /// Explicit `DOMAIN\user` and password.
    Explicit,
}

/// One job's shape before sizes: priority, owner, route, files (by server), timing.
struct JobShape {
    priority: Priority,
    owner: Option<&'static str>,
    proxied: bool,
    servers: Vec<usize>,
    /// `None`: BITS's default.
    retry_delay: Option<Duration>,
    start_at: Option<Duration>,
}

/// Adds 1-3 jobs (and the accounts and machine settings their credentials need); returns
/// the transfer estimate, the longest retry delay and the latest start.
pub(super) fn draw(
    rng: &mut ChaCha8Rng,
    scenario: &mut Scenario,
    route: Route,
    logon: Logon,
    link: Option<(u64, u64)>,
) -> (Duration, Duration, Duration) {
    let authenticated = scenario.proxies.iter().any(|p| p.get_ref().auth.is_some())
        || scenario.servers.iter().any(|s| s.get_ref().auth.is_some());
    let shapes: Vec<JobShape> = (0..rng.random_range(1..=JOBS_MAX))
        .map(|_| JobShape {
            priority: pick(
                rng,
                &[Priority::Foreground, Priority::High, Priority::Normal, Priority::Low],
            ),
            owner: authenticated.then(|| pick(rng, &USERS).0),
            proxied: !scenario.proxies.is_empty() && rng.random_bool(PROXIED_JOB_SHARE),
            servers: (0..rng.random_range(1..=FILES_PER_JOB_MAX))
                .map(|_| rng.random_range(0..scenario.servers.len()))
                .collect(),
            retry_delay: (!rng.random_bool(DEFAULT_RETRY_DELAY_SHARE)).then(|| {
                Duration::from_secs(log_span(rng, RETRY_DELAY.0, RETRY_DELAY.1).as_secs())
            }),
            start_at: rng
                .random_bool(0.4)
                .then(|| log_span(rng, Duration::from_millis(100), Duration::from_secs(10))),
        })
        .collect();
    if authenticated {
        scenario.accounts = USERS
            .iter()
            .map(|(user, password)| {
                spanned(Account {
                    user: (*user).to_owned(),
                    password: (*password).to_owned(),
                    domain: crate::scenario::access::DOMAIN_DEFAULT.to_owned(),
                    logged_on: true,
                })
            })
            .collect();
    }
    machine_settings(scenario, route, logon);
    let files_total: usize = shapes.iter().map(|shape| shape.servers.len()).sum();
    let mut transfer = Duration::ZERO;
    for (index, shape) in shapes.iter().enumerate() {
        let (job, took) = job(rng, scenario, index, shape, (route, logon, link, files_total));
        transfer += took;
        scenario.jobs.push(spanned(job));
    }
    let retry_max = shapes
        .iter()
        .map(|shape| shape.retry_delay.unwrap_or(RETRY_DELAY_DEFAULT))
        .max()
        .unwrap_or_default();
    let start_max = shapes.iter().filter_map(|shape| shape.start_at).max().unwrap_or_default();
    (transfer, retry_max, start_max)
}

/// Where the proxy is configured (PRECONFIG, AUTODETECT) and, for a proxy that takes logon
/// credentials, the registry's logon rule.
fn machine_settings(scenario: &mut Scenario, route: Route, logon: Logon) {
    if let Some(proxy) = scenario.proxies.first().map(|p| p.get_ref()) {
        let list = Some(format!("{}:{}", proxy.name, proxy.port));
        scenario.engine.proxy = match route {
            Route::Override => None,
            Route::Preconfig => Some(MachineProxy { preconfig: list, ..MachineProxy::default() }),
            Route::Autodetect => Some(MachineProxy { autodetect: list, ..MachineProxy::default() }),
        };
    }
    let logon_matters = scenario
        .proxies
        .iter()
        .filter_map(|proxy| proxy.get_ref().auth.as_ref())
        .any(|auth| auth.demands.iter().any(|d| matches!(d, Demand::Ntlm | Demand::Negotiate)));
    if !logon_matters {
        return;
    }
    scenario.engine.credentials = match logon {
        Logon::UseLmCompat0 => {
            Some(CredentialSettings { use_lm_compat: Some(0), ..CredentialSettings::default() })
        }
        Logon::LmLevel(level) => Some(CredentialSettings {
            lm_compatibility_level: Some(level),
            ..CredentialSettings::default()
        }),
        Logon::Bits15 => {
            Some(CredentialSettings { bits: BitsVersion::V1_5, ..CredentialSettings::default() })
        }
        Logon::NullCredentials | Logon::Explicit => None,
    };
}

/// One job: its files (sized to the rate each will get), route and credentials; returns it
/// with the time its files take without faults.
fn job(
    rng: &mut ChaCha8Rng,
    scenario: &mut Scenario,
    index: usize,
    shape: &JobShape,
    (route, logon, link, files_total): (Route, Logon, Option<(u64, u64)>, usize),
) -> (Job, Duration) {
    let name = format!("job{}", index + 1);
    let mut files = Vec::new();
    let mut took = Duration::ZERO;
    for (number, &server) in shape.servers.iter().enumerate() {
        let server = scenario.servers[server].get_mut();
        let link_bps = link.map(|(down, _)| {
            let share = if shape.priority.is_background() { BACKGROUND_SHARE } else { 1.0 };
            down as f64 * share
        });
        let rate = [link_bps, server.send_rate.map(|rate| rate.bits_per_sec as f64)]
            .into_iter()
            .flatten()
            .fold(f64::INFINITY, f64::min);
        let cap = (rate / 8.0 * TRANSFER_TIME_MAX.as_secs_f64() / files_total as f64)
            .clamp(FILE_BYTES_MIN, FILE_BYTES_MAX);
        let size = log_uniform(rng, FILE_BYTES_MIN, cap).round() as u64;
        took += Duration::from_secs_f64(size as f64 * 8.0 / rate);
        let path = format!("/{name}-{}.bin", number + 1);
        server.files.push(ServerFile {
            path: path.clone(),
            size: Size(size),
            same_as: None,
            changes: Vec::new(),
        });
        files.push(JobFile {
            remote: spanned(format!("http://{}{path}", server.name)),
            local: format!("/downloads/{name}-{}.bin", number + 1),
            ranges: None,
            size: None,
        });
    }
    let credentials = credentials(scenario, shape, logon);
    let job = Job {
        name,
        priority: shape.priority,
        retry_delay: shape.retry_delay.map(Span),
        no_progress_timeout: None,
        rate_limit: None,
        start_at: shape.start_at.map(Span),
        owner: shape.owner.map(str::to_owned),
        credentials,
        proxy: job_proxy(scenario, shape.proxied, route),
        job_type: bitsim_engine::JobType::Download,
        reply: None,
        notify_flags: None,
        callback_fails_first: 0,
        files,
        expect: Expect { state: JobState::Acknowledged, error: None, restarts: None },
    };
    (job, took)
}

/// The job's `SetProxySettings`: how it reaches the proxy, or that it goes direct.
fn job_proxy(scenario: &Scenario, proxied: bool, route: Route) -> Option<JobProxy> {
    let proxy = scenario.proxies.first()?.get_ref();
    let usage = |usage| Some(JobProxy { usage, proxy_list: None, bypass_list: None });
    match (proxied, route) {
        (true, Route::Override) => Some(JobProxy {
            usage: ProxyUsage::Override,
            proxy_list: Some(format!("{}:{}", proxy.name, proxy.port)),
            bypass_list: None,
        }),
        (true, Route::Preconfig) | (false, Route::Override | Route::Autodetect) => None,
        (true, Route::Autodetect) => usage(ProxyUsage::Autodetect),
        (false, Route::Preconfig) => usage(ProxyUsage::NoProxy),
    }
}

/// `SetCredentials` calls: Digest for every demanding server the job's files are on, and
/// what the proxy (if the job goes through it) demands, answered as the seed's logon rule
/// says.
fn credentials(scenario: &Scenario, shape: &JobShape, logon: Logon) -> Vec<JobCredential> {
    let owner = shape.owner.unwrap_or(OWNER_DEFAULT);
    let password = USERS.iter().find(|(user, _)| *user == owner).map(|(_, pw)| (*pw).to_owned());
    let explicit = |target, scheme, user: String| JobCredential {
        target,
        scheme,
        user: Some(user),
        password: password.clone(),
    };
    let mut credentials = Vec::new();
    let digest_server = shape.servers.iter().any(|&s| scenario.servers[s].get_ref().auth.is_some());
    if digest_server {
        credentials.push(explicit(AuthTarget::Server, AuthScheme::Digest, owner.to_owned()));
    }
    let demand = scenario.proxies.first().and_then(|p| p.get_ref().auth.as_ref());
    let Some(first) = demand.filter(|_| shape.proxied).map(|demand| demand.demands[0]) else {
        return credentials;
    };
    let scheme = match first {
        Demand::Negotiate => AuthScheme::Negotiate,
        Demand::Ntlm => AuthScheme::Ntlm,
        Demand::Basic => AuthScheme::Basic,
        Demand::DigestMd5 | Demand::DigestSha256 => AuthScheme::Digest,
    };
    let domain_user = format!("{}\\{owner}", crate::scenario::access::DOMAIN_DEFAULT);
    match (scheme, logon) {
        (AuthScheme::Digest | AuthScheme::Basic, _) => {
            credentials.push(explicit(AuthTarget::Proxy, scheme, owner.to_owned()));
        }
        (_, Logon::Explicit) => credentials.push(explicit(AuthTarget::Proxy, scheme, domain_user)),
        (_, Logon::NullCredentials) => credentials.push(JobCredential {
            target: AuthTarget::Proxy,
            scheme,
            user: None,
            password: None,
        }),
        (_, Logon::UseLmCompat0 | Logon::LmLevel(_) | Logon::Bits15) => {}
    }
    credentials
}
