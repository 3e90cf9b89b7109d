//! A seed's faults. Swarm testing draws the fault *rates* per seed (peers.md recommendation
//! 5): some seeds are calm, some have only power losses, some are storms of link drops. Each
//! enabled kind's faults arrive as a Poisson process inside the chaos window, and are written
//! as explicit `[[faults]]` (never `[[random_faults]]`), so the shrinker can drop them one at
//! a time.
//!
//! The deadline is generous: a healthy engine finishes every job however the faults fall, so
//! a missed deadline is a finding, not noise. It does not make healthy runs longer (a run
//! stops once every job has settled), only failing ones.

use std::fmt;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::topology::Estimate;
use super::{log_span, pick};
use crate::scenario::{ENGINE_HOST, Fault, FaultKind, Rate, Scenario, Span};

/// Faults start after the first transfers have begun.
pub const CHAOS_START: Duration = Duration::from_millis(500);
/// The chaos window ends between these: after at least a few seconds of traffic, and soon
/// enough that a run stays a couple of simulated minutes.
const CHAOS_END: (Duration, Duration) = (Duration::from_secs(3), Duration::from_secs(90));
/// Share of seeds with no faults at all: the baseline every stormy seed is compared with.
const CALM_SHARE: f64 = 0.15;
/// Each fault kind is switched on for a seed with this probability (swarm testing: leaving
/// kinds out finds bugs that a mix of everything hides).
const KIND_SHARE: f64 = 0.6;
/// How many faults of each kind the chaos window holds on average, drawn log-uniformly
/// between these when the kind is on. Counted per window rather than per minute, so that a
/// stormy seed is stormy however short its transfers (and so its window) are.
const RATES: [(FaultKind, f64, f64); 5] = [
    (FaultKind::LinkDrop, 1.0, 8.0),
    (FaultKind::PowerLoss, 0.5, 4.0),
    (FaultKind::ProcessRestart, 0.5, 4.0),
    (FaultKind::LinkRate, 0.5, 4.0),
    (FaultKind::Latency, 0.5, 4.0),
];
/// At most this many faults of one kind, and in all: each can cost a retry delay and a
/// timeout of idle simulated time, which a run pays for in wall time.
const KIND_MAX: usize = 8;
const FAULTS_MAX: usize = 16;
/// Link drops last from a blip to longer than most receive timeouts.
const DROP: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(15));
/// How long a host stays off after a power loss.
const DOWN: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(10));
/// A slow-down keeps this share of the link's rate at least, and lasts this long at most
/// (then the rate comes back, in a fault of its own).
const SLOWDOWN_SHARE: (f64, f64) = (0.25, 0.8);
const SLOWDOWN: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(15));
/// A latency spike raises the one-way latency from the link's base to at most this, for at
/// most [`SPIKE`]; then a fault of its own sets the base again.
///
/// Spikes only go up from the base and always come back: a lasting increase looks exactly like
/// queueing delay to the background controller, which (as LEDBAT's RFC 6817 describes for
/// route changes) then keeps background transfers near their floor until its ten one-minute
/// base-delay minima forget the old base. Swarm seed 181 of the first generator found that:
/// 972,669 bytes took 612 s instead of 3 s after the latency rose from 3 ms to 56 ms. That
/// is the controller's design, not a failure a generated deadline should demand otherwise.
const LATENCY_MAX: Duration = Duration::from_millis(300);
const SPIKE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(15));
/// The share of power losses and restarts that hit the engine's host rather than a server
/// or the proxy.
const ENGINE_HOST_SHARE: f64 = 0.7;
/// Per file, what the byte estimate leaves out: connecting, an NTLM or Digest exchange, HEAD
/// and GET, each a round trip plus kilobyte headers, and a background transfer's slow start.
/// On dial-up behind an NTLM proxy, with connections closed after every response, swarm seed
/// 3917 (generator v2) spent about 34 s per file on these: 5 files of 15 KB took 211 s.
const PER_FILE_ALLOWANCE: Duration = Duration::from_secs(40);
/// Added to the deadline beyond every estimated cost, and the deadline's rounding step.
const DEADLINE_SLACK: Duration = Duration::from_secs(60);
const DEADLINE_STEP: u64 = 10;

/// The mean number of faults of each kind in the chaos window; 0 when the kind is off for
/// the seed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FaultRates(pub [f64; 5]);

impl FaultRates {
    pub fn is_calm(&self) -> bool {
        self.0.iter().all(|rate| *rate == 0.0)
    }
}

impl fmt::Display for FaultRates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = RATES
            .iter()
            .zip(self.0)
            .map(|((kind, ..), rate)| match rate {
                0.0 => format!("{} off", kind.name()),
                rate => format!("{} {rate:.1}", kind.name()),
            })
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// What the fault draw decided besides the faults themselves.
#[derive(Clone, Debug)]
pub(super) struct Drawn {
    pub rates: FaultRates,
    pub chaos_end: Duration,
    pub transfer_estimate: Duration,
}

/// Draws the rates, the chaos window and the faults into `scenario`, and sets its deadline.
pub(super) fn draw(rng: &mut ChaCha8Rng, scenario: &mut Scenario, estimate: &Estimate) -> Drawn {
    let calm = rng.random_bool(CALM_SHARE);
    let mut rates = FaultRates::default();
    for (slot, (kind, min, max)) in RATES.iter().enumerate() {
        let possible = *kind != FaultKind::LinkRate || estimate.link.is_some();
        if !calm && possible && rng.random_bool(KIND_SHARE) {
            rates.0[slot] = (super::log_uniform(rng, *min, *max) * 10.0).round() / 10.0;
        }
    }
    let traffic = estimate.start_max + estimate.transfer.mul_f64(rng.random_range(0.5..1.5));
    let chaos_end =
        Duration::from_millis(traffic.clamp(CHAOS_END.0, CHAOS_END.1).as_millis() as u64);
    let mut faults = Vec::new();
    for ((kind, ..), rate) in RATES.iter().zip(rates.0) {
        if rate == 0.0 {
            continue;
        }
        let per_second = rate / (chaos_end - CHAOS_START).as_secs_f64();
        let (mut at, mut count) = (CHAOS_START, 0);
        loop {
            // Exponential gaps: a Poisson process at the kind's rate.
            let gap = -(1.0 - rng.random::<f64>()).ln() / per_second;
            at += Duration::from_millis((gap * 1000.0) as u64);
            if at >= chaos_end || count == KIND_MAX || faults.len() >= FAULTS_MAX {
                break;
            }
            faults.extend(fault(rng, *kind, at, chaos_end, estimate));
            count += 1;
        }
    }
    faults.sort_by_key(|fault: &Fault| fault.at);
    let files = scenario.jobs.iter().map(|job| job.get_ref().files.len()).sum();
    scenario.deadline = Span(deadline(&faults, chaos_end, estimate, files));
    scenario.faults = faults.into_iter().map(|fault| toml::Spanned::new(0..0, fault)).collect();
    Drawn { rates, chaos_end, transfer_estimate: estimate.transfer }
}

/// A fault with nothing set but its time and kind.
fn bare(at: Duration, kind: FaultKind) -> Fault {
    Fault {
        at: Span(at),
        kind,
        duration: None,
        down: None,
        host: None,
        between: None,
        latency: None,
        down_rate: None,
        up_rate: None,
    }
}

/// One fault of `kind` at `at` (a slow-down comes with the fault that restores the rate).
fn fault(
    rng: &mut ChaCha8Rng,
    kind: FaultKind,
    at: Duration,
    chaos_end: Duration,
    estimate: &Estimate,
) -> Vec<Fault> {
    let mut fault = bare(at, kind);
    match kind {
        FaultKind::LinkDrop => {
            fault.duration = Some(Span(log_span(rng, DROP.0, DROP.1)));
            fault.between = path(rng, estimate, true);
        }
        // Not in `RATES` (yet): adding a kind there changes every seed's draws.
        FaultKind::NetworkLoss => fault.duration = Some(Span(log_span(rng, DROP.0, DROP.1))),
        FaultKind::PowerLoss | FaultKind::ProcessRestart => {
            if kind == FaultKind::PowerLoss {
                fault.down = Some(Span(log_span(rng, DOWN.0, DOWN.1)));
            }
            fault.host = host(rng, estimate);
        }
        FaultKind::Latency => {
            let base = estimate.base_latency;
            fault.latency =
                Some(Span(log_span(rng, base.max(Duration::from_millis(1)), LATENCY_MAX)));
            fault.between = path(rng, estimate, false);
            let mut restore = bare((at + log_span(rng, SPIKE.0, SPIKE.1)).min(chaos_end), kind);
            restore.latency = Some(Span(base));
            restore.between.clone_from(&fault.between);
            return vec![fault, restore];
        }
        FaultKind::LinkRate => {
            let (down, up) = estimate.link.expect("slow-downs are drawn for shaped links only");
            let share = |rng: &mut ChaCha8Rng| rng.random_range(SLOWDOWN_SHARE.0..SLOWDOWN_SHARE.1);
            let slowed = |bps: u64, share: f64| Rate {
                bits_per_sec: ((bps as f64 * share) as u64).max(1000),
            };
            fault.down_rate = Some(slowed(down, share(rng)));
            fault.up_rate = rng.random_bool(0.5).then(|| slowed(up, share(rng)));
            let back = (at + log_span(rng, SLOWDOWN.0, SLOWDOWN.1)).min(chaos_end);
            let mut restore = bare(back, kind);
            restore.down_rate = Some(Rate { bits_per_sec: down });
            restore.up_rate = fault.up_rate.map(|_| Rate { bits_per_sec: up });
            return vec![fault, restore];
        }
    }
    vec![fault]
}

/// Which link a drop or latency change hits. Without a proxy: the engine's links to every
/// server (the default). With one: mostly the engine's link to the proxy, sometimes the
/// proxy's to a server (drops only), sometimes the direct links of jobs that bypass it.
fn path(rng: &mut ChaCha8Rng, estimate: &Estimate, upstream: bool) -> Option<[String; 2]> {
    let proxy = estimate.proxy.as_ref()?;
    match rng.random_range(0..4) {
        0 | 1 => Some([ENGINE_HOST.to_owned(), proxy.clone()]),
        2 if upstream => {
            let server = estimate.servers[rng.random_range(0..estimate.servers.len())].clone();
            Some([proxy.clone(), server])
        }
        _ => None,
    }
}

/// Which host loses power or restarts: mostly the engine's, else a server or the proxy.
fn host(rng: &mut ChaCha8Rng, estimate: &Estimate) -> Option<String> {
    if rng.random_bool(ENGINE_HOST_SHARE) {
        return None;
    }
    let others: Vec<&String> = estimate.servers.iter().chain(&estimate.proxy).collect();
    Some(pick(rng, &others).clone())
}

/// Late enough for a healthy engine whatever the faults do: every transfer one after
/// another (four times as long if the link may slow down, twice over), the chaos window,
/// and per fault its own length, a timeout of each kind, two retry delays and the data lost
/// since the last checkpoint; per file its connection set-up; plus slack, rounded up to whole
/// tens of seconds. (The liveness bound is the tighter check, from the heal on.)
fn deadline(faults: &[Fault], chaos_end: Duration, estimate: &Estimate, files: usize) -> Duration {
    let slowed = faults.iter().any(|fault| fault.kind == FaultKind::LinkRate);
    let transfer = estimate.transfer * if slowed { 8 } else { 2 };
    let per_fault = estimate.timeouts + estimate.retry_delay_max * 2 + estimate.checkpoint_interval;
    let faults: Duration = faults
        .iter()
        .map(|fault| {
            let own = fault.duration.or(fault.down).map_or(Duration::ZERO, |span| span.0);
            own + per_fault
        })
        .sum();
    let set_up = PER_FILE_ALLOWANCE * u32::try_from(files).unwrap_or(u32::MAX);
    let total = estimate.start_max + chaos_end + transfer + faults + set_up + DEADLINE_SLACK;
    Duration::from_secs(total.as_secs().div_ceil(DEADLINE_STEP) * DEADLINE_STEP)
}
