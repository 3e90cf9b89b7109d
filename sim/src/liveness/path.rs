//! The rate and round trip of a job's path, from the scenario alone: the links as declared
//! (healing restores them), the servers' pacing, the job's cap, the policy and the
//! background controller's share.

use std::time::Duration;

use bitsim_engine::core::ledbat::RATE_MIN_BPS;
use bitsim_engine::core::throttle::POLICY_RATE_MIN_BPS;

use super::{BACKGROUND_SHARE, UNSHAPED_RATE_BPS, follow};
use crate::scenario::{ENGINE_HOST, Job, Limit, Scenario};

/// What a job's bytes can expect after the heal.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Path {
    /// The least rate the job may get alone, in bits per second.
    pub rate_bps: u64,
    /// The longest round trip of any route the job may take, a full queue included.
    pub round_trip: Duration,
}

/// One hop of a route, in the direction the file's bytes flow.
struct Leg {
    rate_bps: u64,
    one_way: Duration,
}

impl Path {
    /// Every route the job's bytes may take: from each server its redirects lead through,
    /// straight to the engine or through any of the scenario's proxies (which one the job's
    /// proxy settings pick is the engine's business; the slowest counts).
    pub fn of(scenario: &Scenario, job: &Job) -> Self {
        let servers: Vec<_> = job
            .files
            .iter()
            .flat_map(|file| follow(scenario, file.remote.get_ref()).servers)
            .collect();
        let proxies = scenario.proxies.iter().map(|proxy| proxy.get_ref().name.as_str());
        let mut rate_bps = u64::MAX;
        let mut round_trip = Duration::ZERO;
        for server in &servers {
            let name = server.name.as_str();
            let mut routes = vec![vec![leg(scenario, name, ENGINE_HOST)]];
            routes.extend(
                proxies.clone().map(|proxy| {
                    vec![leg(scenario, name, proxy), leg(scenario, proxy, ENGINE_HOST)]
                }),
            );
            for route in routes {
                let route_rate = route.iter().map(|leg| leg.rate_bps).min().unwrap_or(u64::MAX);
                rate_bps = rate_bps.min(route_rate);
                round_trip =
                    round_trip.max(2 * route.iter().map(|leg| leg.one_way).sum::<Duration>());
            }
            if let Some(send_rate) = server.send_rate {
                rate_bps = rate_bps.min(send_rate.bits_per_sec);
            }
        }
        // The controller takes a share of what the network gives, never less than its floor
        // (nor more than the network); the job's cap and the policy limit it further.
        let background = job.priority.is_background();
        if background && !scenario.engine.background_full_speed {
            let share = (rate_bps as f64 * BACKGROUND_SHARE) as u64;
            rate_bps = share.max(RATE_MIN_BPS).min(rate_bps);
        }
        if let Some(cap) = job.rate_limit {
            rate_bps = rate_bps.min(cap.bits_per_sec);
        }
        if background && let Some(policy) = policy_rate_bps(scenario) {
            rate_bps = rate_bps.min(policy);
        }
        Self { rate_bps: rate_bps.max(1), round_trip }
    }
}

/// The least rate the policy allows when it allows any (a limit of 0 is a wait, counted in
/// `waits`); policy values below its floor act as the floor.
fn policy_rate_bps(scenario: &Scenario) -> Option<u64> {
    let throttle = scenario.engine.throttle.as_ref()?;
    [throttle.in_window, throttle.outside]
        .into_iter()
        .filter_map(|limit| match limit {
            Limit::Rate(rate) => Some(rate.bits_per_sec.max(POLICY_RATE_MIN_BPS)),
            Limit::Unlimited | Limit::Blocked => None,
        })
        .min()
}

/// The shaped link carrying `from` -> `to` as declared, or turmoil's plain link: no rate of
/// its own (counted at [`UNSHAPED_RATE_BPS`]) and the scenario's latency.
fn leg(scenario: &Scenario, from: &str, to: &str) -> Leg {
    for decl in scenario.links.iter().map(|decl| decl.get_ref()) {
        let Ok(settings) = decl.settings() else { continue };
        let [a, b] = &decl.between;
        let b_is = |host: &str| if b == "*" { host != a } else { b == host };
        let spec = if a == from && b_is(to) {
            settings.up
        } else if a == to && b_is(from) {
            settings.down
        } else {
            continue;
        };
        let queue_delay =
            Duration::from_secs_f64(spec.queue_bytes as f64 * 8.0 / spec.rate_bps.max(1) as f64);
        return Leg { rate_bps: spec.rate_bps, one_way: spec.latency + spec.jitter + queue_delay };
    }
    Leg { rate_bps: UNSHAPED_RATE_BPS, one_way: scenario.network.latency.max.0 }
}
