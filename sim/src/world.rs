//! One run: a scenario and a seed become a turmoil `Sim` (origin servers, the engine's host
//! with its client program), driven by a hand-written step loop that applies the fault
//! timeline at exact simulated times, leaps over idle stretches (`clock`), and stops when
//! every job has settled or the deadline has passed (for a `[liveness]` scenario: or the
//! liveness bound, if that ends later; `heal`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use bitsim_engine::core::auth::seal::MachineKey;
use bitsim_engine::core::defect::Defects;
use bitsim_engine::core::journal::fnv64;
use bitsim_engine::core::resume::CheckpointPolicy;
use bitsim_engine::core::throttle::BandwidthPolicy;
use bitsim_engine::{Engine, EngineConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::Notify;

use crate::app::{self, SimSink};
use crate::auth::Gatekeeper;
use crate::clock::{self, Clock};
use crate::cross;
use crate::env::{DiskLedger, NetworkSwitch, TurmoilEnv};
use crate::liveness;
use crate::net::link::Link;
use crate::net::{Net, NetReport, Route};
use crate::origin::Origin;
use crate::proxy::ForwardProxy;
use crate::scenario::{Account, AuthDemand, CROSS_HOST, ENGINE_HOST, Scenario};
use crate::timeline;
use crate::trace::{Recorder, SimEvent, Trace};

/// Where the engine keeps its journal on the simulated disk.
pub const STATE_DIR: &str = "/var/lib/bitsim";

pub use crate::scenario::EPOCH_UNIX_SECS;

/// turmoil's flow-control window in segments. Its default (64) caps throughput at
/// 64 segments per round trip; 1024 lets the link model, not turmoil, set the rate
/// (turmoil.md §4).
const TCP_CAPACITY: usize = 1024;

/// What varies between runs of one scenario.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunConfig {
    pub seed: u64,
    /// Deliberate engine bugs (empty unless built with the `defects` feature).
    pub defects: Defects,
    /// Step every tick, never leaping over idle time: only to show that leaps change
    /// nothing.
    pub fixed_step: bool,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub trace: Trace,
    /// Simulated time when the run stopped.
    pub end: Duration,
    pub steps: u64,
    /// Every job reached its end before the run stopped: by the deadline or, for a
    /// `[liveness]` scenario, by the end of the liveness bound if that is later.
    pub settled: bool,
    /// A host's software failed (its error), which stops the run.
    pub host_error: Option<String>,
    /// What the engine wrote to its temporary files: every byte it received.
    pub disk: DiskLedger,
    /// What the shaped links carried.
    pub net: NetReport,
}

/// Runs `scenario` once. Deterministic: the same scenario and config give the same trace.
pub fn run(scenario: &Scenario, config: &RunConfig) -> RunOutcome {
    let clock = Rc::new(Clock::default());
    #[cfg(test)]
    clock.blind_to_timers.set(tests::CARELESS_LEAPS.get());
    let _installed = clock::install(clock.clone());
    let mut builder = turmoil::Builder::new();
    let latency = scenario.network.latency;
    builder
        .rng_seed(config.seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(scenario.epoch_unix_secs()))
        .tick_duration(scenario.tick.0)
        .simulation_duration(liveness::run_length_max(scenario) + Duration::from_secs(1))
        .tcp_capacity(TCP_CAPACITY)
        .min_message_latency(latency.min.0)
        .max_message_latency(latency.max.0);
    builder.fs().sync_probability(scenario.disk.random_sync);
    if let Some(block) = scenario.disk.torn_writes {
        builder.fs().block_size(block.0);
    }
    let mut sim = builder.build();
    let recorder = Recorder::default();
    let ledger = Rc::new(RefCell::new(DiskLedger::default()));
    let net = build_net(scenario, config.seed);
    host_servers_and_proxies(&mut sim, scenario, config.seed, (&recorder, &net));
    if !scenario.cross_traffic.is_empty() {
        let net = net.clone();
        sim.host(CROSS_HOST, move || cross::serve(net.clone()));
    }
    let program: Rc<Scenario> = Rc::new(scenario.clone());
    let engine_config = engine_config(scenario, config.seed, config.defects);
    let (engine_recorder, boots, disk) = (recorder.clone(), Rc::new(Cell::new(0)), ledger.clone());
    let cross_flows: Vec<_> = scenario.cross_traffic.iter().map(|c| c.get_ref().clone()).collect();
    let engine_net = net.clone();
    let network = Rc::new(NetworkSwitch::default());
    let engine_network = network.clone();
    let seed = config.seed;
    sim.host(ENGINE_HOST, move || {
        let (program, recorder, config, boots) =
            (program.clone(), engine_recorder.clone(), engine_config.clone(), boots.clone());
        let disk = disk.clone();
        // Each boot draws fresh nonces from the seed, as a rebooted machine would.
        let rng_seed = seed ^ ENGINE_RNG_SALT ^ u64::from(boots.get()).rotate_left(32);
        let env = TurmoilEnv::with_ledger(disk.clone(), STATE_DIR, engine_net.clone())
            .with_rng_seed(rng_seed)
            .with_network(engine_network.clone());
        let cross = (!cross_flows.is_empty())
            .then(|| cross::run_flows(engine_net.clone(), cross_flows.clone(), recorder.clone()));
        async move {
            if let Some(cross) = cross {
                tokio::task::spawn_local(cross);
            }
            boots.set(boots.get() + 1);
            recorder.record(ENGINE_HOST, SimEvent::Booted { boot: boots.get() });
            let wake = Rc::new(Notify::new());
            let sink = Rc::new(SimSink {
                recorder: recorder.clone(),
                wake: wake.clone(),
                ledger: disk.clone(),
            });
            let engine = Engine::start(env, config, sink).await?;
            let first_boot = boots.get() == 1;
            let run_app = app::run(engine.clone(), program, recorder, wake, first_boot, seed);
            tokio::task::spawn_local(run_app);
            engine.run().await;
            Ok(())
        }
    });
    unshape_latency(&sim, scenario);
    let timeline = timeline::build(scenario, config.seed);
    let stepper =
        Stepper::new(sim, recorder, scenario, net.clone(), clock, !config.fixed_step, network);
    let mut outcome = stepper.drive(timeline);
    outcome.disk = ledger.take();
    outcome.net = net.report();
    outcome
}

/// Puts every origin server and proxy of the scenario on its own host. Each host counts its
/// boots, so a restarted server says so in the trace.
fn host_servers_and_proxies(
    sim: &mut turmoil::Sim<'_>,
    scenario: &Scenario,
    seed: u64,
    (recorder, net): (&Recorder, &Net),
) {
    for server in scenario.servers.iter().map(|server| server.get_ref()) {
        let gate = gatekeeper(scenario, server.auth.as_ref(), &server.name, seed);
        let epoch = scenario.epoch_unix_secs();
        let origin = Rc::new(Origin::new(server, seed, epoch, recorder.clone(), gate));
        let (recorder, boots, net) = (recorder.clone(), Rc::new(Cell::new(0)), net.clone());
        sim.host(server.name.as_str(), move || {
            let (origin, recorder, boots) = (origin.clone(), recorder.clone(), boots.clone());
            let net = net.clone();
            async move {
                boots.set(boots.get() + 1);
                recorder.record(origin.name(), SimEvent::Booted { boot: boots.get() });
                origin.serve(net).await
            }
        });
    }
    for proxy in scenario.proxies.iter().map(|proxy| proxy.get_ref()) {
        let gate = gatekeeper(scenario, proxy.auth.as_ref(), &proxy.name, seed);
        let proxy = Rc::new(ForwardProxy::new(&proxy.name, proxy.port, gate, recorder.clone()));
        let (recorder, boots, net) = (recorder.clone(), Rc::new(Cell::new(0)), net.clone());
        let name = proxy.name().to_owned();
        sim.host(name.as_str(), move || {
            let (proxy, recorder, boots, net) =
                (proxy.clone(), recorder.clone(), boots.clone(), net.clone());
            async move {
                boots.set(boots.get() + 1);
                recorder.record(proxy.name(), SimEvent::Booted { boot: boots.get() });
                proxy.serve(net).await
            }
        });
    }
}

/// The scenario's links, each direction with its own jitter generator drawn from the seed.
fn build_net(scenario: &Scenario, seed: u64) -> Net {
    let routes = scenario
        .links
        .iter()
        .enumerate()
        .map(|(index, decl)| {
            let decl = decl.get_ref();
            let settings = decl.settings().expect("validated when the scenario was loaded");
            let [a, b] = decl.between.clone();
            let salt = (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ LINK_SALT;
            let link = |name: String, spec, salt: u64| {
                Rc::new(RefCell::new(Link::new(name, spec, seed ^ salt)))
            };
            Route {
                up: link(format!("{a}->{b}"), settings.up, salt),
                down: link(format!("{b}->{a}"), settings.down, salt.rotate_left(17)),
                a,
                b: (b != "*").then_some(b),
                window_bytes: settings.window_bytes,
            }
        })
        .collect();
    Net::new(routes)
}

/// The authentication of a server or proxy that demands it: the scenario's accounts (or
/// those the demand names), with nonces drawn from the seed and the host's name.
fn gatekeeper(
    scenario: &Scenario,
    demand: Option<&AuthDemand>,
    host: &str,
    seed: u64,
) -> Option<Gatekeeper> {
    let demand = demand?;
    let admitted = |account: &&Account| {
        demand
            .users
            .as_ref()
            .is_none_or(|users| users.iter().any(|user| user.eq_ignore_ascii_case(&account.user)))
    };
    let accounts =
        scenario.accounts.iter().map(|a| a.get_ref()).filter(admitted).map(Account::to_gate);
    let salt = fnv64(host.as_bytes()) ^ GATE_RNG_SALT;
    let rng = ChaCha8Rng::seed_from_u64(seed ^ salt);
    Some(Gatekeeper::new(&demand.realm, demand.demands.clone(), accounts.collect(), rng))
}

mod stepper;

use self::stepper::Stepper;

/// Salt for the engine machine's credential key.
const MACHINE_KEY_SALT: u64 = 0x11ae_0000_0000_0009;

/// Salt for the servers' and proxies' authentication nonces.
const GATE_RNG_SALT: u64 = 0x11ae_0000_0000_0007;

/// Salt for the engine's own randomness (authentication nonces).
const ENGINE_RNG_SALT: u64 = 0x11ae_0000_0000_0005;

/// Salt for the links' jitter generators.
const LINK_SALT: u64 = 0x11ae_0000_0000_0003;

/// A shaped link applies its own delay; turmoil's must not add to it.
fn unshape_latency(sim: &turmoil::Sim<'_>, scenario: &Scenario) {
    for decl in scenario.links.iter().map(|decl| decl.get_ref()) {
        let [a, b] = &decl.between;
        for host in scenario.hosts().filter(|host| host != a && (b == "*" || host == b)) {
            sim.set_link_latency(a.as_str(), host, Duration::ZERO);
        }
    }
}

/// The engine settings a scenario asks for.
fn engine_config(scenario: &Scenario, seed: u64, defects: Defects) -> EngineConfig {
    let settings = &scenario.engine;
    let mut config = EngineConfig::new(STATE_DIR);
    if let Some(timeout) = settings.connect_timeout {
        config.connect_timeout = timeout.0;
    }
    if let Some(timeout) = settings.send_timeout {
        config.send_timeout = timeout.0;
    }
    if let Some(timeout) = settings.receive_timeout {
        config.receive_timeout = timeout.0;
    }
    config.checkpoint = CheckpointPolicy {
        bytes: settings.checkpoint_bytes.map_or(CheckpointPolicy::BYTES_DEFAULT, |size| size.0),
        interval: settings
            .checkpoint_interval
            .map_or(CheckpointPolicy::INTERVAL_DEFAULT, |span| span.0),
    };
    if let Some(slice) = settings.time_slice {
        config.time_slice = slice.0;
    }
    config.bandwidth_policy = settings.throttle.as_ref().map(|throttle| BandwidthPolicy {
        from_hour: throttle.from_hour,
        to_hour: throttle.to_hour,
        in_window: throttle.in_window.to_engine(),
        outside: throttle.outside.to_engine(),
    });
    config.background_controller = !settings.background_full_speed;
    if let Some(credentials) = &settings.credentials {
        config.logon_policy = credentials.to_policy();
        config.danger_allow_basic_auth_over_http = credentials.danger_allow_basic_auth_over_http;
    }
    config.logons = scenario
        .accounts
        .iter()
        .map(|account| account.get_ref())
        .filter(|account| account.logged_on)
        .map(|account| (account.user.clone(), account.to_logon()))
        .collect();
    if let Some(proxy) = &settings.proxy {
        config.proxy_environment = proxy.to_environment();
    }
    // The simulated machine's own key: the same across its reboots, as a machine's is.
    let mut key_source = ChaCha8Rng::seed_from_u64(seed ^ MACHINE_KEY_SALT);
    config.credential_key = Some(MachineKey(rand::Rng::random(&mut key_source)));
    if let Some(timeout) = settings.job_inactivity_timeout {
        config.job_inactivity_timeout = timeout.0;
    }
    config.defects = defects;
    config
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    thread_local! {
        /// Makes the next runs on this thread leap past timer deadlines.
        pub(super) static CARELESS_LEAPS: Cell<bool> = const { Cell::new(false) };
    }

    fn load(stem: &str) -> Scenario {
        let path = format!("{}/../scenarios/{stem}.toml", env!("CARGO_MANIFEST_DIR"));
        Scenario::load(std::path::Path::new(&path)).expect("a shipped scenario")
    }

    #[test]
    fn leaping_past_timer_deadlines_changes_the_trace() {
        // What `--check-determinism` and the leap tests compare would catch a leap that
        // skipped a deadline: here every retry of the job comes late.
        let scenario = load("no-progress-timeout");
        let stepping =
            run(&scenario, &RunConfig { seed: 1, fixed_step: true, ..RunConfig::default() });
        CARELESS_LEAPS.set(true);
        let careless = run(&scenario, &RunConfig { seed: 1, ..RunConfig::default() });
        CARELESS_LEAPS.set(false);
        let careful = run(&scenario, &RunConfig { seed: 1, ..RunConfig::default() });
        assert_ne!(careless.trace.hash(), stepping.trace.hash());
        assert_eq!(careful.trace.hash(), stepping.trace.hash());
    }
}
