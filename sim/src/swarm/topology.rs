//! The world a seed draws: origin servers (and how they misbehave), maybe a forward proxy
//! that demands credentials, maybe a shaped access link from `profiles/links.toml`, the
//! engine's timeouts and checkpoints and the disk's crash behaviour; then the jobs in it
//! ([`super::jobs`]).
//!
//! Every choice keeps a healthy engine able to finish every job (each job expects
//! ACKNOWLEDGED): servers that ignore `Range` or send no Content-Length, and wrong
//! credentials, are shipped building blocks whose correct outcome is ERROR, so they stay out.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use toml::Spanned;

use super::jobs::{self, Logon, Route};
use super::{log_span, log_uniform, pick};
use crate::auth::Demand;
use crate::scenario::{
    AuthDemand, Behaviour, Between, Disk, EngineSettings, LinkDecl, Network, Proxy, Rate, Scenario,
    Server, Size, Span,
};

/// Origin servers a seed may have (1 or 2).
const SERVER_NAMES: [&str; 2] = ["origin", "mirror"];
const PROXY_NAME: &str = "proxy";
/// Share of seeds with a shaped access link (a profile); the others use turmoil's plain
/// links, whose latency the seed draws, behind servers that pace their bodies.
const LINK_SHARE: f64 = 0.5;
const PROXY_SHARE: f64 = 0.35;
/// Share of servers that demand Digest (with explicit job credentials to answer it).
const SERVER_DIGEST_SHARE: f64 = 0.15;
/// Bounds of a server's pacing (bit/s) where no shaped link sets the rate.
const SEND_RATE_BPS: (f64, f64) = (1e6, 2e7);
/// Bounds of a plain link's one-way latency.
const LATENCY: (Duration, Duration) = (Duration::from_millis(1), Duration::from_millis(50));
/// Drawn receive and connect timeouts, when the seed does not keep WinHTTP's defaults.
const TIMEOUT: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(30));
/// WinHTTP's defaults, used when a seed keeps them.
const RECEIVE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);
const CHECKPOINT_INTERVAL_DEFAULT: Duration = Duration::from_secs(2);

/// What the fault schedule and the deadline need to know about the drawn world.
#[derive(Clone, Debug)]
pub(super) struct Estimate {
    /// All transfers one after another, without faults.
    pub transfer: Duration,
    pub retry_delay_max: Duration,
    /// How long one fault can keep a transfer waiting for an error: a silent connection
    /// (receive timeout) and a connect attempt into a dead link (connect timeout).
    pub timeouts: Duration,
    /// Data lost to a power loss: at most this much transfer time since the last checkpoint.
    pub checkpoint_interval: Duration,
    pub start_max: Duration,
    /// The shaped link's (down, up) rates, if any.
    pub link: Option<(u64, u64)>,
    /// The one-way latency of the engine's links before any fault: the shaped link's, else
    /// the least of the plain links' range.
    pub base_latency: Duration,
    pub proxy: Option<String>,
    pub servers: Vec<String>,
}

/// Draws the world, then the jobs in it.
pub(super) fn draw(rng: &mut ChaCha8Rng, seed: u64) -> (Scenario, Estimate) {
    let link = rng.random_bool(LINK_SHARE).then(|| {
        let names: Vec<String> = crate::net::profile::all().into_keys().collect();
        names[rng.random_range(0..names.len())].clone()
    });
    let link_rates = link
        .as_deref()
        .and_then(crate::net::profile::get)
        .map(|profile| (profile.down.bits_per_sec, profile.up.bits_per_sec));
    let server_count = rng.random_range(1..=SERVER_NAMES.len());
    let servers: Vec<Server> =
        SERVER_NAMES[..server_count].iter().map(|name| server(rng, name, link.is_some())).collect();
    let proxy = rng.random_bool(PROXY_SHARE).then(|| proxy(rng));
    let route = pick(rng, &[Route::Override, Route::Preconfig, Route::Autodetect]);
    let logon = pick(
        rng,
        &[
            Logon::NullCredentials,
            Logon::UseLmCompat0,
            Logon::LmLevel(2),
            Logon::Bits15,
            Logon::Explicit,
        ],
    );
    let logon = match logon {
        Logon::LmLevel(_) => Logon::LmLevel(rng.random_range(2..=5)),
        other => other,
    };
    let (engine, timeouts, checkpoint_interval) = engine_settings(rng);
    let mut scenario = blank(seed);
    scenario.network = Network { latency: plain_latency(rng) };
    scenario.disk = disk(rng);
    scenario.engine = engine;
    scenario.servers = servers.into_iter().map(spanned).collect();
    scenario.proxies = proxy.into_iter().map(spanned).collect();
    scenario.links = link.map(|profile| spanned(link_decl(profile))).into_iter().collect();
    let (transfer, retry_delay_max, start_max) =
        jobs::draw(rng, &mut scenario, route, logon, link_rates);
    // A server no job drew stays out: faults aimed at it would test nothing.
    scenario.servers.retain(|server| !server.get_ref().files.is_empty());
    let base_latency = match scenario.links.first().map(|link| link.get_ref().settings()) {
        Some(Ok(settings)) => settings.down.latency,
        _ => scenario.network.latency.min.0,
    };
    let estimate = Estimate {
        transfer,
        retry_delay_max,
        timeouts,
        checkpoint_interval,
        start_max,
        link: link_rates,
        base_latency,
        proxy: scenario.proxies.first().map(|proxy| proxy.get_ref().name.clone()),
        servers: scenario.server_names().map(str::to_owned).collect(),
    };
    (scenario, estimate)
}

/// A scenario with nothing in it but its description, every other field at the format's
/// default. Read from text, so that a field added to the format later takes its default here
/// without a change to the generator.
fn blank(seed: u64) -> Scenario {
    let text = format!(
        "description = \"Swarm seed {seed}: a generated scenario; every job must finish.\"\nservers = []\njobs = []\n"
    );
    toml::from_str(&text).expect("a blank scenario deserializes")
}

pub(super) fn spanned<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

fn link_decl(profile: String) -> LinkDecl {
    LinkDecl {
        between: ["engine".to_owned(), "*".to_owned()],
        profile: Some(profile),
        down: None,
        up: None,
        latency: None,
        jitter: None,
        queue: None,
        mss: None,
        window: None,
    }
}

/// A fixed one-way latency, or a range drawn per message.
fn plain_latency(rng: &mut ChaCha8Rng) -> Between<Span> {
    let min = log_span(rng, LATENCY.0, LATENCY.1);
    let max = if rng.random_bool(0.5) { min } else { log_span(rng, min, LATENCY.1) };
    Between { min: Span(min), max: Span(max) }
}

/// A server: range handling, connection reuse, pacing and maybe a Digest demand. Without a
/// shaped link the server always paces, or turmoil would finish any file in an instant.
fn server(rng: &mut ChaCha8Rng, name: &str, shaped: bool) -> Server {
    let behaviour = match rng.random_range(0..10) {
        0 | 1 => Behaviour::StrictRange,
        2 => Behaviour::StrictRangeClose,
        _ => Behaviour::Normal,
    };
    let paced = !shaped || rng.random_bool(0.25);
    let send_rate = paced.then(|| {
        let bps = log_uniform(rng, SEND_RATE_BPS.0, SEND_RATE_BPS.1);
        Rate { bits_per_sec: (bps / 1000.0).round() as u64 * 1000 }
    });
    let auth = rng.random_bool(SERVER_DIGEST_SHARE).then(|| AuthDemand {
        demands: pick(
            rng,
            &[
                &[Demand::DigestSha256][..],
                &[Demand::DigestMd5],
                &[Demand::DigestSha256, Demand::DigestMd5],
            ],
        )
        .to_vec(),
        realm: format!("downloads@{name}"),
        users: None,
    });
    Server {
        name: name.to_owned(),
        behaviour,
        send_rate,
        keep_alive: !rng.random_bool(0.2),
        auth,
        redirects: Vec::new(),
        files: Vec::new(),
        uploads: None,
    }
}

/// A forward proxy, demanding nothing, NTLM, Negotiate or Digest.
fn proxy(rng: &mut ChaCha8Rng) -> Proxy {
    let demands: &[Demand] = pick(
        rng,
        &[
            &[][..],
            &[Demand::Ntlm],
            &[Demand::Negotiate],
            &[Demand::Negotiate, Demand::Ntlm],
            &[Demand::DigestMd5],
            &[Demand::DigestSha256, Demand::DigestMd5],
        ],
    );
    let auth = (!demands.is_empty()).then(|| AuthDemand {
        demands: demands.to_vec(),
        realm: "bitsim".to_owned(),
        users: None,
    });
    Proxy { name: PROXY_NAME.to_owned(), port: pick(rng, &[8080, 3128]), auth }
}

/// Timeouts, checkpoints; returns them with the longest wait one fault can cause and the
/// checkpoint interval.
fn engine_settings(rng: &mut ChaCha8Rng) -> (EngineSettings, Duration, Duration) {
    let timeout = |rng: &mut ChaCha8Rng| {
        rng.random_bool(0.7)
            .then(|| Span(Duration::from_secs(log_span(rng, TIMEOUT.0, TIMEOUT.1).as_secs())))
    };
    let receive_timeout = timeout(rng);
    let connect_timeout = timeout(rng);
    let checkpoint_bytes = pick(rng, &[None, Some(64u64 << 10), Some(256 << 10), Some(1 << 20)]);
    let checkpoint_interval =
        pick(rng, &[None, Some(Duration::from_millis(500)), Some(Duration::from_secs(5))]);
    let waits = receive_timeout.map_or(RECEIVE_TIMEOUT_DEFAULT, |span| span.0)
        + connect_timeout.map_or(CONNECT_TIMEOUT_DEFAULT, |span| span.0);
    let settings = EngineSettings {
        receive_timeout,
        connect_timeout,
        checkpoint_bytes: checkpoint_bytes.map(Size),
        checkpoint_interval: checkpoint_interval.map(Span),
        ..EngineSettings::default()
    };
    (settings, waits, checkpoint_interval.unwrap_or(CHECKPOINT_INTERVAL_DEFAULT))
}

/// What survives a power loss: unsynced writes vanish, or some survive, or survive torn.
fn disk(rng: &mut ChaCha8Rng) -> Disk {
    let random_sync =
        if rng.random_bool(0.3) { f64::from(rng.random_range(1..=20u32)) / 100.0 } else { 0.0 };
    let torn_writes = rng.random_bool(0.3).then(|| Size(pick(rng, &[512, 4096])));
    Disk { random_sync, torn_writes }
}
