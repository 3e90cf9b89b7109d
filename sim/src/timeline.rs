//! The fault timeline of a run: the scenario's fixed faults plus the random ones drawn from
//! the seed, as actions at exact simulated times, and the heal that ends a `[liveness]`
//! scenario's chaos phase.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scenario::{Between, ENGINE_HOST, FaultKind, Rate, Scenario, Span};

/// Something the harness does to the simulated world.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Action {
    DropLink {
        a: String,
        b: String,
    },
    RepairLink {
        a: String,
        b: String,
    },
    PowerLoss {
        host: String,
        down: Duration,
    },
    ProcessRestart {
        host: String,
    },
    SetLatency {
        a: String,
        b: String,
        latency: Duration,
    },
    /// New rates for a shaped link: `up` is a -> b, `down` is b -> a.
    SetLinkRate {
        a: String,
        b: String,
        down_bps: Option<u64>,
        up_bps: Option<u64>,
    },
    /// The engine's machine loses its network: every link of its host drops and the engine
    /// is told.
    NetworkLoss,
    /// The network returns (each loss is undone by one return; overlapping losses keep it
    /// down until the last returns).
    NetworkReturn,
    /// The chaos phase ends (`[liveness] after`): undo every fault still in force.
    Heal,
    /// Not an action on the world (servers read the time themselves): marks the moment a
    /// served file gets a new version, for the trace.
    ContentChange {
        server: String,
        path: String,
        version: u32,
        size: u64,
    },
}

/// Salt for the random-fault generator, so its draws differ from every other use of the seed.
const RANDOM_FAULTS_SALT: u64 = 0x5eed_fa17_0000_0001;

/// Every action of the run, in time order (stable: equal times keep scenario order).
pub fn build(scenario: &Scenario, seed: u64) -> Vec<(Duration, Action)> {
    let mut actions = Vec::new();
    for server in scenario.servers.iter().map(|server| server.get_ref()) {
        for file in &server.files {
            let mut size = file.size.0;
            for (index, change) in file.changes.iter().enumerate() {
                size = change.size.map_or(size, |new| new.0);
                let version = index as u32 + 1;
                let (server, path) = (server.name.clone(), file.path.clone());
                actions.push((change.at.0, Action::ContentChange { server, path, version, size }));
            }
        }
    }
    for fault in scenario.faults.iter().map(|fault| fault.get_ref()) {
        let drawn = Drawn {
            duration: fault.duration,
            down: fault.down,
            latency: fault.latency,
            rates: (fault.down_rate, fault.up_rate),
        };
        push_fault(
            &mut actions,
            scenario,
            fault.kind,
            fault.at.0,
            &drawn,
            fault.host.as_deref(),
            fault.between.as_ref(),
        );
    }
    for (index, random) in scenario.random_faults.iter().map(|random| random.get_ref()).enumerate()
    {
        let mut rng = ChaCha8Rng::seed_from_u64(
            seed ^ RANDOM_FAULTS_SALT ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        for _ in 0..random.count {
            let at = draw(&mut rng, random.window);
            let drawn = Drawn {
                duration: random.duration.map(|range| Span(draw(&mut rng, range))),
                down: random.down.map(|range| Span(draw(&mut rng, range))),
                latency: None,
                rates: (None, None),
            };
            push_fault(
                &mut actions,
                scenario,
                random.kind,
                at,
                &drawn,
                random.host.as_deref(),
                random.between.as_ref(),
            );
        }
    }
    if let Some(after) = scenario.liveness_after() {
        // Healing repairs every link still down, so the repairs due later have nothing left
        // to do. Pushed last, the heal follows whatever else happens at the same time.
        actions.retain(|(at, action)| {
            *at <= after || !matches!(action, Action::RepairLink { .. } | Action::NetworkReturn)
        });
        actions.push((after, Action::Heal));
    }
    actions.sort_by_key(|(at, _)| *at);
    actions
}

/// The durations of one fault.
struct Drawn {
    duration: Option<Span>,
    down: Option<Span>,
    latency: Option<Span>,
    /// (down, up)
    rates: (Option<Rate>, Option<Rate>),
}

fn push_fault(
    actions: &mut Vec<(Duration, Action)>,
    scenario: &Scenario,
    kind: FaultKind,
    at: Duration,
    drawn: &Drawn,
    host: Option<&str>,
    between: Option<&[String; 2]>,
) {
    let links: Vec<(String, String)> = match between {
        Some([a, b]) => vec![(a.clone(), b.clone())],
        None => scenario
            .server_names()
            .map(|server| (ENGINE_HOST.to_owned(), server.to_owned()))
            .collect(),
    };
    let host = host.unwrap_or(ENGINE_HOST).to_owned();
    match kind {
        FaultKind::LinkDrop => {
            let duration = drawn.duration.map_or(Duration::ZERO, |span| span.0);
            for (a, b) in links {
                actions.push((at, Action::DropLink { a: a.clone(), b: b.clone() }));
                actions.push((at + duration, Action::RepairLink { a, b }));
            }
        }
        FaultKind::NetworkLoss => {
            let duration = drawn.duration.map_or(Duration::ZERO, |span| span.0);
            actions.push((at, Action::NetworkLoss));
            actions.push((at + duration, Action::NetworkReturn));
        }
        FaultKind::PowerLoss => {
            let down = drawn.down.map_or(Duration::ZERO, |span| span.0);
            actions.push((at, Action::PowerLoss { host, down }));
        }
        FaultKind::ProcessRestart => actions.push((at, Action::ProcessRestart { host })),
        FaultKind::Latency => {
            let latency = drawn.latency.map_or(Duration::ZERO, |span| span.0);
            for (a, b) in links {
                actions.push((at, Action::SetLatency { a, b, latency }));
            }
        }
        FaultKind::LinkRate => {
            let (down_bps, up_bps) = (
                drawn.rates.0.map(|rate| rate.bits_per_sec),
                drawn.rates.1.map(|rate| rate.bits_per_sec),
            );
            for (a, b) in links {
                actions.push((at, Action::SetLinkRate { a, b, down_bps, up_bps }));
            }
        }
    }
}

/// A time in `range`, to the millisecond.
fn draw(rng: &mut ChaCha8Rng, range: Between<Span>) -> Duration {
    let (min, max) = (range.min.0.as_millis() as u64, range.max.0.as_millis() as u64);
    Duration::from_millis(rng.random_range(min..=max))
}
